"""Grade one submission: validate, restore, execute, score. Never raises for a bad submission."""
from __future__ import annotations

import hashlib
import time

import nbformat

from medfusion_lib.grading.assignment import Assignment
from medfusion_lib.grading.execute import execute_notebook
from medfusion_lib.grading.limits import Limits
from medfusion_lib.grading.restore import restore
from medfusion_lib.grading.results import ExerciseResult, SubmissionResult
from medfusion_lib.grading.score import score_exercises
from medfusion_lib.grading.validate import InvalidSubmission, parse_submission


def _all(assignment: Assignment, status: str, message: str) -> list[ExerciseResult]:
    return [ExerciseResult(ex, 0.0, float(mx), status, message) for ex, mx in assignment.exercises.items()]


def grade_submission(student: str, data: bytes, assignment: Assignment, limits: Limits) -> SubmissionResult:
    """The result of grading one submission's bytes (the file itself is never touched)."""
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
            executed = execute_notebook(restored.notebook, limits)
        except Exception as exc:  # the grader itself could not run it (kernel failed to start, ...)
            reason = f"the grader could not run this notebook: {type(exc).__name__}: {exc}"
            result.exercises = _all(assignment, "error", reason[:300])
            result.notes.append(reason)
        else:
            result.exercises = score_exercises(executed, assignment, restored.tampered)
            result.executed = nbformat.from_dict(executed)
    result.seconds = round(time.monotonic() - started, 3)
    return result
