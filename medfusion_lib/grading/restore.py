"""Put the instructor's cells back before running a submission (nbgrader's overwrite-cells step).

Read-only (locked) cells are replaced by the solution notebook's versions; their metadata (points!) always
comes from the source. An edit a student made to a test cell, or to a read-only code cell of an exercise, is
*tampering*: that exercise is reported, never silently graded.

Only the *probes* of test cells enter the student's kernel: each visible probe runs where its test cell was,
followed by a capture cell that sends the probed names out as plain data; every hidden probe runs at the
very end, after all the student's cells, so nothing the student's code prints after seeing one reaches the
feedback. The checks themselves (visible and hidden) never enter the kernel: ``judge`` runs them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat

from medfusion_lib.notebook_schema import cell_role, exercise_of
from medfusion_lib.grading.testcell import evidence_names, parse_test_cell
from medfusion_lib.grading.review import review_notes
from medfusion_lib.grading.validate import check_graded_cells

#: Cell metadata key the grader uses on the notebook it runs.
RUN_KEY = "medfusion_grading"


@dataclass
class Restored:
    notebook: object                                   # the notebook to execute
    tampered: dict[str, list[str]] = field(default_factory=dict)   # exercise -> grade ids edited
    notes: list[str] = field(default_factory=list)


def normalise(source: str) -> str:
    """A cell's source with trailing spaces and outer blank lines ignored (what counts as an edit)."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


_CHECKS_MODULE = '__import__("medfusion_lib.grading.checks", fromlist=["capture"])'


def evidence_key(grade_id: str, hidden: bool) -> str:
    return f"{grade_id}#hidden" if hidden else grade_id


def _grader_cell(source_cell, source: str, *, grade_id: str, role: str, hidden: bool):
    cell = nbformat.v4.new_code_cell(source, id=f"{grade_id}-{role}{'-hidden' if hidden else ''}")
    cell.metadata = copy.deepcopy({k: v for k, v in source_cell.metadata.items() if k in ("nbgrader", "medfusion")})
    cell.metadata[RUN_KEY] = {"grade_id": grade_id, "exercise": exercise_of(source_cell), "role": role,
                              "hidden": hidden, "key": evidence_key(grade_id, hidden)}
    return cell


def probe_cells(source_cell, grade_id: str, hidden: bool) -> list:
    """The probe cell and its capture cell for one test cell (visible or hidden part); [] when empty."""
    parts = parse_test_cell(source_cell.source)
    code = parts.hidden_probe if hidden else parts.probe
    names = list(evidence_names(parts).hidden if hidden else evidence_names(parts).visible)
    if not code.strip():
        return []
    forget = f"{_CHECKS_MODULE}.forget({names!r})\n" if names else ""
    cells = [_grader_cell(source_cell, forget + code, grade_id=grade_id, role="probe", hidden=hidden)]
    key = evidence_key(grade_id, hidden)
    cells.append(_grader_cell(source_cell, f"{_CHECKS_MODULE}.capture({key!r}, {names!r})", grade_id=grade_id,
                              role="capture", hidden=hidden))
    return cells


def restore(submission, assignment) -> Restored:
    """The notebook to run: the student's answers and extra cells, the instructor's tests and locked cells."""
    positions = check_graded_cells(submission, assignment)
    by_index = {index: gid for gid, index in positions.items()}
    given = assignment.student_cells
    result = Restored(nbformat.v4.new_notebook(metadata=copy.deepcopy(assignment.solution.metadata)))
    cells = result.notebook.cells

    # Read-only cells a student deleted are put back after the cell that preceded them in the source.
    order = list(assignment.graded)
    missing_locked = {gid for gid in order if gid not in positions}
    for gid in sorted(missing_locked, key=order.index):
        result.notes.append(f"read-only cell {gid} was deleted; the grader put it back")

    def emit_missing_after(gid: str | None) -> None:
        start = 0 if gid is None else order.index(gid) + 1
        for later in order[start:]:
            if later not in missing_locked:
                break
            cells.append(_locked_copy(assignment.graded[later], later))
            missing_locked.discard(later)

    emit_missing_after(None)
    hidden_probes: list = []
    for index, cell in enumerate(submission.cells):
        gid = by_index.get(index)
        if gid is None:                          # the student's own cell: run as written, no grading metadata
            own = copy.deepcopy(cell)
            own.metadata.pop("nbgrader", None)
            own.metadata.pop(RUN_KEY, None)
            cells.append(own)
            continue
        source_cell = assignment.graded[gid]
        role = cell_role(source_cell)
        exercise = exercise_of(source_cell)
        # Edited = neither what students were given nor the instructor's own version (the solution itself).
        accepted = {normalise(given[gid].source), normalise(source_cell.source),
                    *assignment.accepted.get(gid, ())}
        edited = cell.cell_type != given[gid].cell_type or normalise(cell.source) not in accepted
        if role == "solution":
            answer = copy.deepcopy(cell)
            answer.metadata = copy.deepcopy({k: v for k, v in source_cell.metadata.items()
                                             if k in ("nbgrader", "medfusion")})
            answer.metadata[RUN_KEY] = {"grade_id": gid, "exercise": exercise, "role": "solution"}
            answer.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "parameters"]
            cells.append(answer)
        elif role == "test":
            if edited:
                result.tampered.setdefault(exercise, []).append(gid)
            cells.extend(probe_cells(source_cell, gid, hidden=False))
            hidden_probes.extend(probe_cells(source_cell, gid, hidden=True))
        else:                                    # locked: instructions, setup, parameters
            if edited:
                if exercise and source_cell.cell_type == "code":
                    result.tampered.setdefault(exercise, []).append(gid)
                else:
                    result.notes.append(f"read-only cell {gid} was edited; the grader restored it")
            cells.append(_locked_copy(source_cell, gid))
        emit_missing_after(gid)
    cells.extend(hidden_probes)   # last: after every cell the student wrote
    student_cells = [c for c in cells if c.metadata.get(RUN_KEY, {}).get("role") in (None, "solution")]
    result.notes += review_notes(student_cells)
    return result


def _locked_copy(source_cell, gid: str):
    cell = copy.deepcopy(source_cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    cell.metadata[RUN_KEY] = {"grade_id": gid, "exercise": exercise_of(source_cell), "role": "locked"}
    return cell
