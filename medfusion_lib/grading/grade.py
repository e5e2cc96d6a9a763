"""Grade one submission: validate, restore, execute in a sandbox, judge, score. Never raises for a bad one.

The reference (the evidence the *solution* produces for every probe) is computed once per assignment by
``reference_evidence`` and reused for every student; it never enters a student's sandbox.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import nbformat

from medfusion_lib.grading.assignment import Assignment
from medfusion_lib.grading.execute import execute_submission
from medfusion_lib.grading.judge import judge_submission
from medfusion_lib.grading.limits import Limits
from medfusion_lib.grading.restore import RUN_KEY, restore
from medfusion_lib.grading.results import ExerciseResult, SubmissionResult
from medfusion_lib.grading.score import interrupted_notes, score_exercises
from medfusion_lib.grading.testcell import evidence_names, parse_test_cell
from medfusion_lib.grading.validate import InvalidSubmission, parse_submission


def _all(assignment: Assignment, status: str, message: str) -> list[ExerciseResult]:
    return [ExerciseResult(ex, 0.0, float(mx), status, message) for ex, mx in assignment.exercises.items()]


def judge_tests(assignment: Assignment) -> list[dict]:
    """What the judge needs of each test cell: its checks and the names each capture sends."""
    tests = []
    for gid, cell in assignment.graded.items():
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        parts = parse_test_cell(cell.source)
        names = evidence_names(parts)
        tests.append({"grade_id": gid, "checks": parts.checks, "hidden_checks": parts.hidden_checks,
                      "visible": list(names.visible), "hidden": list(names.hidden)})
    return tests


def reference_evidence(assignment: Assignment, limits: Limits, sandboxed: bool = True, variant: int = 0,
                       keep_cache: Path | None = None) -> dict:
    """Run the solution notebook once (probes included) and return its evidence, key -> payload.

    ``keep_cache``: where to keep the solution kernel's course caches for the students' kernels (see
    :func:`~medfusion_lib.grading.execute.execute_submission`).

    ValueError naming the probe when the solution itself fails to produce a value the checks need.
    """
    restored = restore(assignment.solution, assignment)
    executed = execute_submission(restored.notebook, limits, sandboxed=sandboxed, variant=variant,
                                  keep_cache=keep_cache)
    evidence = executed.metadata.get(RUN_KEY, {}).get("evidence", {})
    for test in judge_tests(assignment):
        for key, names in ((test["grade_id"], test["visible"]), (f"{test['grade_id']}#hidden", test["hidden"])):
            if not names:
                continue
            payload = evidence.get(key) or {}
            absent = [n for n in names if n not in (payload.get("values") or {})]
            if absent:
                raise ValueError(f"{assignment.name}: the solution's probe {key} did not produce "
                                 f"{', '.join(absent)}; run the solution notebook and fix it")
    return evidence


def grade_submission(student: str, data: bytes, assignment: Assignment, limits: Limits, reference: dict | None = None,
                     sandboxed: bool = True, variant: int = 0, warm_cache: Path | None = None) -> SubmissionResult:
    """The result of grading one submission's bytes (the file itself is never touched). ``warm_cache``: the
    solution run's course caches, copied into this submission's job folder (see ``execute_submission``)."""
    started = time.monotonic()
    sha = hashlib.sha256(data).hexdigest()
    result = SubmissionResult(student, assignment.name, sha, [])
    try:
        restored = restore(parse_submission(data), assignment)
    except InvalidSubmission as exc:
        result.exercises = _all(assignment, "invalid", str(exc))
        result.notes.append(f"invalid submission: {exc}")
    else:
        result.notes += restored.notes
        try:
            if reference is None:
                reference = reference_evidence(assignment, limits, sandboxed, variant)
            executed = execute_submission(restored.notebook, limits, sandboxed=sandboxed, variant=variant,
                                          warm_cache=warm_cache)
            evidence = executed.metadata[RUN_KEY].pop("evidence", {})
            outcomes = judge_submission(judge_tests(assignment), evidence, reference,
                                        memory_mb=int(limits.memory_mb), timeout=max(60.0, limits.timeout))
        except Exception as exc:  # the grader itself could not run it (kernel failed to start, ...)
            reason = f"the grader could not run this notebook: {type(exc).__name__}: {exc}"
            result.exercises = _all(assignment, "error", reason[:300])
            result.notes.append(reason[:300])
        else:
            result.exercises = score_exercises(executed, assignment, restored.tampered, outcomes)
            result.notes += interrupted_notes(executed)
            result.executed = nbformat.from_dict(executed)
    result.seconds = round(time.monotonic() - started, 3)
    return result
