"""The instructor's side of an assignment: the solution notebook and what it grades."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from medfusion_lib.authoring import lint_solution
from medfusion_lib.exercise_regions import student_version
from medfusion_lib.notebook_schema import cell_role, exercise_of, grading_meta, read_notebook


@dataclass
class Assignment:
    """A solution notebook, its student version, and its graded cells by grade id."""

    name: str
    solution: object            # nbformat NotebookNode, with answers and hidden tests
    student: object             # what students were given (authoring.student_version)
    sha256: str                 # of the solution file: a changed source re-grades everything
    path: Path | None = None
    #: grade_id -> other accepted sources of instructor cells (from earlier released copies; see accept_released)
    accepted: dict = field(default_factory=dict)

    def source_changed(self) -> bool:
        """True when the solution file on disk no longer matches what was loaded (someone wrote to it)."""
        if self.path is None:
            return False
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest() != self.sha256
        except OSError:
            return True

    @property
    def graded(self) -> dict[str, object]:
        """grade_id -> solution cell, for every answer, test and locked cell."""
        return {grading_meta(c)["grade_id"]: c for c in self.solution.cells if cell_role(c)}

    @property
    def student_cells(self) -> dict[str, object]:
        return {grading_meta(c)["grade_id"]: c for c in self.student.cells if cell_role(c)}

    @property
    def exercises(self) -> dict[str, float]:
        """exercise -> max points, in notebook order."""
        totals: dict[str, float] = {}
        for cell in self.solution.cells:
            if cell_role(cell) == "test":
                totals[exercise_of(cell)] = totals.get(exercise_of(cell), 0) + float(grading_meta(cell)["points"])
        return totals


def load_assignment(name_or_path: str | Path, solutions_dir: str | Path | None = None) -> Assignment:
    """``00_warmup`` (looked up in solutions/) or a path to a solution notebook.

    ValueError with what to do when the notebook is missing or not gradable.
    """
    from medfusion_lib.config import repo_root

    path = Path(name_or_path)
    if path.suffix != ".ipynb":
        folder = Path(solutions_dir) if solutions_dir else repo_root() / "solutions"
        path = folder / f"{name_or_path}.ipynb"
        if not path.is_file():
            known = sorted(p.stem for p in folder.glob("*.ipynb")) if folder.is_dir() else []
            raise ValueError(f"unknown assignment {str(name_or_path)!r}: no {path}; "
                             f"known assignments: {', '.join(known) or 'none'}")
    elif not path.is_file():
        raise ValueError(f"no solution notebook at {path}")
    data = path.read_bytes()
    solution = read_notebook(path)
    problems = lint_solution(solution, path.name)
    if problems:
        raise ValueError(f"{path} cannot be graded: " + "; ".join(str(p) for p in problems))
    if not any(cell_role(c) == "test" for c in solution.cells):
        raise ValueError(f"{path} has no graded test cells")
    return Assignment(path.stem, solution, student_version(solution, path.stem), hashlib.sha256(data).hexdigest(),
                      path.resolve())


def accept_released(assignment: Assignment, released: str | Path) -> None:
    """Accept the instructor cells of an earlier released student copy as unedited.

    After fixing a visible test and rebuilding exercises/, submissions made from the old copy would all
    look tampered; pass the copy they started from (e.g. ``git show v1:exercises/00_warmup.ipynb``).
    """
    from medfusion_lib.grading.restore import normalise

    nb = read_notebook(released)
    graded, given = assignment.graded, assignment.student_cells
    matched = 0
    for cell in nb.cells:
        gid = grading_meta(cell).get("grade_id")
        if gid in graded and cell_role(graded[gid]) in ("test", "locked"):
            matched += 1
            source = normalise(cell.source)
            # Only differences matter (they change grading, hence the cache key); same text adds nothing.
            if source not in (normalise(given[gid].source), normalise(graded[gid].source)):
                assignment.accepted.setdefault(gid, set()).add(source)
    if not matched:
        raise ValueError(f"{released} has none of {assignment.name}'s test or read-only cells; is it a released "
                         "copy of this assignment?")
