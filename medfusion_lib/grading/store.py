"""Where grading results live in ``--out DIR``, written atomically, and how a re-run resumes.

    DIR/results/<student>.json    the result and the cache key it was graded under (resume)
    DIR/executed/<student>.ipynb  the executed notebook, hidden tests included: for the instructor only
    DIR/feedback/<student>.html   what goes back to the student (hidden tests by name and result only)
    DIR/grades.csv                student x exercise: points, max_points, status, seconds, message
    DIR/summary.csv               one row per student: total, max, percent
    DIR/histograms.png            the distribution of points per exercise
    DIR/.kernel-caches/<key>/     the solution run's course caches (features), copied into every student's kernel

A submission is skipped on a re-run when its cache key is unchanged: the hash of the submission's bytes,
of the solution notebook, of the limits, the class variant, the sandbox mode and the grader version. A fixed
test in the solution therefore re-grades everyone; an unchanged class is not graded twice.

Every result file carries an HMAC-SHA256 tag made with a key only the grader holds (``DIR/.grader-key``,
mode 0600, or ``$MEDFUSION_GRADER_KEY``; kernels never see ``--out`` nor the grader's environment). A result
whose tag does not verify is treated as absent — graded again — and the batch says so. Cells of the CSV
files that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) get a leading ``'``.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import secrets
from pathlib import Path

import nbformat

from medfusion_lib.atomic import atomic_path, atomic_write_text
from medfusion_lib.grading.results import SubmissionResult

#: Bump when grading logic changes in a way that should re-grade cached results.
GRADER_VERSION = "2"
KEY_FILE = ".grader-key"
#: The solution run's course caches, one folder per reference key (see ``execute_submission``'s ``warm_cache``).
KERNEL_CACHES = ".kernel-caches"
KEY_ENV = "MEDFUSION_GRADER_KEY"
GRADE_COLUMNS = ["student", "assignment", "exercise", "points", "max_points", "status", "seconds", "message"]
SUMMARY_COLUMNS = ["student", "assignment", "total", "max", "percent", "seconds", "notes"]


def cache_key(submission_sha: str, assignment, limits, trusted: bool = False, variant: int = 0) -> str:
    accepted = sorted((gid, sorted(sources)) for gid, sources in assignment.accepted.items())
    text = json.dumps([GRADER_VERSION, submission_sha, assignment.sha256, limits.as_dict(), accepted,
                       bool(trusted), int(variant)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def load_key(out: Path) -> bytes:
    """The key result tags are made with: ``$MEDFUSION_GRADER_KEY``, else ``out/.grader-key`` (made once)."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    path = Path(out) / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    Path(out).mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _tag(key: bytes, cache: str, result: dict) -> str:
    body = json.dumps([cache, result], sort_keys=True, default=float).encode()
    return hmac.new(key, body, "sha256").hexdigest()


def result_path(out: Path, student: str) -> Path:
    return out / "results" / f"{student}.json"


def load_cached(out: Path, student: str, key: str, secret: bytes) -> tuple[SubmissionResult | None, str | None]:
    """(stored result, None) when ``student`` was graded under ``key`` and its tag verifies; else
    (None, a warning when a file was there but failed its tag)."""
    path = result_path(out, student)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None, None
    if not isinstance(data, dict) or data.get("key") != key:
        return None, None
    if not hmac.compare_digest(str(data.get("tag", "")), _tag(secret, key, data.get("result"))):
        return None, (f"{path} failed its authentication tag (edited outside the grader?); treated as absent "
                      "and graded again")
    try:
        return SubmissionResult.from_json(data["result"]), None
    except (KeyError, TypeError, ValueError):
        return None, None


def save_result(out: Path, result: SubmissionResult, key: str, feedback_html: str, secret: bytes) -> None:
    """Write one student's files; the result JSON goes last, so a crash never marks a half-saved student done."""
    if result.executed is not None:
        with atomic_path(out / "executed" / f"{result.student}.ipynb") as tmp:
            nbformat.write(nbformat.from_dict(result.executed), str(tmp))
    atomic_write_text(out / "feedback" / f"{result.student}.html", feedback_html)
    body = json.loads(json.dumps(result.to_json(), default=float))
    payload = {"key": key, "result": body, "tag": _tag(secret, key, body)}
    atomic_write_text(result_path(out, result.student), json.dumps(payload, indent=1) + "\n")


def load_reference(out: Path, key: str, secret: bytes) -> dict | None:
    """The solution's evidence stored by an earlier run under ``key`` (tag verified), else None."""
    try:
        data = json.loads((Path(out) / "reference.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    if not hmac.compare_digest(str(data.get("tag", "")), _tag(secret, key, data.get("evidence"))):
        return None
    return data.get("evidence")


def save_reference(out: Path, key: str, evidence: dict, secret: bytes) -> None:
    body = json.loads(json.dumps(evidence))
    atomic_write_text(Path(out) / "reference.json",
                      json.dumps({"key": key, "evidence": body, "tag": _tag(secret, key, body)}) + "\n")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """A CSV cell a spreadsheet will not run as a formula (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(rows: list[dict], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def grade_rows(results: list[SubmissionResult]) -> list[dict]:
    return [{"student": r.student, "assignment": r.assignment, "exercise": e.exercise, "points": e.points,
             "max_points": e.max_points, "status": e.status, "seconds": e.seconds, "message": e.message}
            for r in results for e in r.exercises]


def summary_rows(results: list[SubmissionResult]) -> list[dict]:
    return [{"student": r.student, "assignment": r.assignment, "total": r.points, "max": r.max_points,
             "percent": round(100.0 * r.points / r.max_points, 1) if r.max_points else 0.0,
             "seconds": r.seconds, "notes": " | ".join(r.notes)} for r in results]


def write_tables(out: Path, results: list[SubmissionResult]) -> tuple[Path, Path]:
    """grades.csv and summary.csv, each replaced in one rename."""
    results = sorted(results, key=lambda r: r.student)
    grades = atomic_write_text(out / "grades.csv", _csv(grade_rows(results), GRADE_COLUMNS))
    summary = atomic_write_text(out / "summary.csv", _csv(summary_rows(results), SUMMARY_COLUMNS))
    return grades, summary


def write_histograms(out: Path, results: list[SubmissionResult]) -> Path | None:
    """One histogram of points per exercise, side by side, in DIR/histograms.png."""
    if not results:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exercises = [e.exercise for e in results[0].exercises]
    fig, axes = plt.subplots(1, len(exercises), figsize=(3.2 * len(exercises), 2.8), squeeze=False)
    for ax, exercise in zip(axes[0], exercises):
        rows = [e for r in results for e in r.exercises if e.exercise == exercise]
        top = max(e.max_points for e in rows)
        ax.hist([e.points for e in rows], bins=[x - 0.25 for x in range(int(top) + 2)], rwidth=0.8)
        ax.set_title(f"{exercise} (max {top:g})")
        ax.set_xlabel("points")
        ax.set_ylabel("students")
    fig.suptitle(f"{results[0].assignment}: points per exercise ({len(results)} students)")
    fig.tight_layout()
    with atomic_path(out / "histograms.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out / "histograms.png"
