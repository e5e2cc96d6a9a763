"""Points and a status per exercise, read from an executed notebook.

Points come from the judge alone: each test cell earns its points when the judge's visible and hidden checks
pass on the plain data its probes sent (partial credit across test cells). The executed notebook's cell
states (from the sandboxed kernel's replies and the grader's own timeout/kill events) only choose the status:
``tampered`` (an instructor cell was edited) > ``killed`` (kernel died, memory or CPU limit) > ``timeout`` >
``passed`` (every test cell passed) > ``not_attempted`` (no points and a stub still raises
NotImplementedError) > ``failed`` (checks failed, no cell raised) > ``error`` (a cell raised).
Messages quote the kernel only for cells that ran before the first hidden probe.
"""
from __future__ import annotations

from medfusion_lib.notebook_schema import cell_role, exercise_of, grading_meta
from medfusion_lib.grading.restore import RUN_KEY
from medfusion_lib.grading.results import ExerciseResult, TestOutcome

MEMORY_ERRORS = {"MemoryError", "_ArrayMemoryError"}
MESSAGE_CHARS = 300


def cell_state(cell, memory_mb: float | None = None) -> tuple[str, str, str]:
    """(state, ename, message) of one executed code cell; state in ok/error/timeout/killed/not_run."""
    meta = cell.metadata.get(RUN_KEY, {})
    event = meta.get("event")
    if event:
        return event["status"], "", event["detail"]
    reply = meta.get("reply")
    if reply is None:
        # Never executed (an empty cell is fine); fall back to outputs for notebooks run elsewhere.
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            return ("ok", "", "") if not cell.source.strip() or cell.get("execution_count") else ("not_run", "", "")
        reply = {"status": "error", "ename": errors[0].get("ename", ""), "evalue": errors[0].get("evalue", "")}
    if reply["status"] != "error":
        return "ok", "", ""
    ename, evalue = reply.get("ename", ""), reply.get("evalue", "")
    if ename in MEMORY_ERRORS:
        limit = f" ({memory_mb:g} MB)" if memory_mb else ""
        return "killed", ename, f"the memory limit{limit} was reached ({ename})"
    return "error", ename, f"{ename}: {evalue}" if evalue else ename


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _message_of(cell, state) -> str:
    """What the student may read about a cell: its own error before the hidden probes ran, else a generic line."""
    meta = cell.metadata.get(RUN_KEY, {})
    if meta.get("hidden") and state[0] == "error":
        return "hidden tests failed"
    return state[2]


def score_exercises(executed, assignment, tampered: dict[str, list[str]], outcomes: dict) -> list[ExerciseResult]:
    """One ExerciseResult per exercise of ``assignment``, in notebook order.

    Points come from ``outcomes`` only (the judge's verdict per test cell, on plain data); what the kernel
    replied decides the status label and the message, never the points.
    """
    memory_mb = executed.metadata.get(RUN_KEY, {}).get("limits", {}).get("memory_mb")
    cells_of: dict[str, list] = {}
    for cell in executed.cells:
        meta = cell.metadata.get(RUN_KEY, {})
        if cell.cell_type == "code" and meta.get("exercise"):
            cells_of.setdefault(meta["exercise"], []).append(cell)
    tests_of: dict[str, list] = {}
    for gid, cell in assignment.graded.items():
        if cell_role(cell) == "test":
            tests_of.setdefault(exercise_of(cell), []).append((gid, float(grading_meta(cell)["points"])))

    results = []
    for exercise, max_points in assignment.exercises.items():
        cells = cells_of.get(exercise, [])
        states = [(cell, cell_state(cell, memory_mb)) for cell in cells]
        tests = []
        for gid, worth in tests_of.get(exercise, []):
            outcome = outcomes.get(gid, {"visible": False, "hidden": None, "message": "not judged"})
            probe_errors = [(c, st) for c, st in states if c.metadata[RUN_KEY].get("grade_id") == gid
                            and c.metadata[RUN_KEY].get("role") == "probe" and st[0] != "ok"]
            has_hidden = bool(outcome.get("hidden") is not None)
            # A probe that raised (or was stopped) earns nothing, whatever values its names hold afterwards.
            passed = bool(outcome.get("visible")) and outcome.get("hidden") is not False and not probe_errors
            visible_error = next((_message_of(c, st) for c, st in probe_errors if not c.metadata[RUN_KEY].get("hidden")),
                                 None)
            if passed:
                message = ""
            elif visible_error:
                message = _short(f"your code raised an error in the test's probe: {visible_error}")
            elif not outcome.get("visible"):
                message = _short(outcome.get("message", ""))
            elif probe_errors:
                message = "hidden tests failed"
            else:
                message = "hidden tests failed"
            tests.append(TestOutcome(gid, worth if passed else 0.0, worth, passed, message,
                                     None if not has_hidden else bool(outcome.get("hidden"))))
        points = sum(t.points for t in tests)
        seconds = sum(float(c.metadata.get("papermill", {}).get("duration") or 0) for c in cells)
        problems = [(st[0], st[1], _message_of(c, st)) for c, st in states if st[0] != "ok"]
        kinds = {p[0] for p in problems}
        enames = {p[1] for p in problems}

        if exercise in tampered:
            status = "tampered"
            message = (f"instructor cell(s) {', '.join(tampered[exercise])} were edited; with the restored tests "
                       f"this exercise would score {points:g}/{max_points:g} — your instructor will review it")
            points = 0.0
            tests = [TestOutcome(t.grade_id, 0.0, t.max_points, t.passed, t.message, t.hidden) for t in tests]
        elif "killed" in kinds or "not_run" in kinds:
            status, message = "killed", next(p[2] for p in problems if p[0] in ("killed", "not_run"))
        elif "timeout" in kinds:
            status, message = "timeout", next(p[2] for p in problems if p[0] == "timeout")
        elif tests and all(t.passed for t in tests):
            status, message = "passed", ""
        elif points == 0 and "NotImplementedError" in enames:
            status, message = "not_attempted", "not attempted: the answer cell still raises NotImplementedError"
        elif not problems:
            status, message = "failed", next((t.message for t in tests if not t.passed), "")
        else:
            status = "error"
            message = next(p[2] for p in problems)
        results.append(ExerciseResult(exercise, float(points), float(max_points), status, _short(message),
                                      round(seconds, 3), tests))
    return results


def interrupted_notes(executed) -> list[str]:
    """A note per cell outside the exercises that the grader had to interrupt or that killed the kernel."""
    notes = []
    for index, cell in enumerate(executed.cells):
        meta = cell.metadata.get(RUN_KEY, {})
        event = meta.get("event")
        if cell.cell_type != "code" or meta.get("exercise") or not event or event["status"] == "not_run":
            continue
        notes.append(f"cell {cell.get('id') or index} (not part of an exercise): {event['detail']}; the run went on")
    return notes
