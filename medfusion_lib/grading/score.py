"""Points and a status per exercise, read from an executed notebook.

Status precedence: ``tampered`` (an instructor cell was edited) > ``killed`` (kernel died, memory or CPU
limit) > ``timeout`` > ``passed`` (every test cell passed) > ``not_attempted`` (no points and a stub still
raises NotImplementedError) > ``failed`` (tests ran and an assertion failed) > ``error`` (anything else).
Each test cell earns its points when all its parts pass (partial credit across test cells).
"""
from __future__ import annotations

from collections import OrderedDict

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


def score_exercises(executed, assignment, tampered: dict[str, list[str]]) -> list[ExerciseResult]:
    """One ExerciseResult per exercise of ``assignment``, in notebook order."""
    memory_mb = executed.metadata.get(RUN_KEY, {}).get("limits", {}).get("memory_mb")
    cells_of: dict[str, list] = {}
    for cell in executed.cells:
        meta = cell.metadata.get(RUN_KEY, {})
        if cell.cell_type == "code" and meta.get("exercise"):
            cells_of.setdefault(meta["exercise"], []).append(cell)
    points_of = {gid: float(c.metadata["nbgrader"]["points"]) for gid, c in assignment.graded.items()
                 if c.metadata["nbgrader"].get("grade")}

    results = []
    for exercise, max_points in assignment.exercises.items():
        cells = cells_of.get(exercise, [])
        parts: OrderedDict[str, list] = OrderedDict()
        for cell in cells:
            meta = cell.metadata[RUN_KEY]
            if meta.get("role") == "test":
                parts.setdefault(meta["grade_id"], []).append(cell)
        tests = []
        for gid, chunk in parts.items():
            visible = [cell_state(c, memory_mb) for c in chunk if not c.metadata[RUN_KEY].get("hidden")]
            hidden = [cell_state(c, memory_mb) for c in chunk if c.metadata[RUN_KEY].get("hidden")]
            passed = all(s[0] == "ok" for s in visible + hidden)
            failing = next((s for s in visible if s[0] != "ok"), None)
            message = _short(failing[2] or failing[0]) if failing else ("" if passed else "hidden tests failed")
            tests.append(TestOutcome(gid, points_of[gid] if passed else 0.0, points_of[gid], passed, message,
                                     None if not hidden else all(s[0] == "ok" for s in hidden)))
        points = sum(t.points for t in tests)
        seconds = sum(float(c.metadata.get("papermill", {}).get("duration") or 0) for c in cells)
        states = []
        for cell in cells:
            state = cell_state(cell, memory_mb)
            hidden = cell.metadata[RUN_KEY].get("hidden")
            # A hidden check's message may show hidden inputs or values: the student gets its name only.
            states.append((state[0], state[1], "hidden tests failed" if hidden and state[0] == "error" else state[2]))
        problems = [s for s in states if s[0] != "ok"]
        kinds = {s[0] for s in problems}
        enames = {s[1] for s in problems}

        if exercise in tampered:
            status = "tampered"
            message = (f"instructor cell(s) {', '.join(tampered[exercise])} were edited; with the restored tests "
                       f"this exercise would score {points:g}/{max_points:g} — your instructor will review it")
            points = 0.0
        elif "killed" in kinds or "not_run" in kinds:
            status, message = "killed", next(s[2] for s in problems if s[0] in ("killed", "not_run"))
        elif "timeout" in kinds:
            status, message = "timeout", next(s[2] for s in problems if s[0] == "timeout")
        elif tests and all(t.passed for t in tests):
            status, message = "passed", ""
        elif points == 0 and "NotImplementedError" in enames:
            status, message = "not_attempted", "not attempted: the answer cell still raises NotImplementedError"
        elif enames <= {"AssertionError"}:
            status, message = "failed", next((t.message for t in tests if not t.passed), "")
        else:
            status = "error"
            message = next(s[2] for s in problems if s[1] not in ("AssertionError",)) if problems else ""
        results.append(ExerciseResult(exercise, float(points), float(max_points), status, _short(message),
                                      round(seconds, 3), tests))
    return results
