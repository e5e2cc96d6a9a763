"""What a student reads: an HTML report per submission, and the instructor's terminal table.

Hidden tests appear by name and result only; their source and error messages never do (nbgrader#1363).
Everything a submission controls (error messages, notes) is HTML-escaped.
"""
from __future__ import annotations

import html

from medfusion_lib.grading.results import SubmissionResult
from medfusion_lib.tables import format_table

STATUS_TEXT = {
    "passed": "all checks passed", "failed": "a check failed", "error": "your code raised an error",
    "timeout": "took too long", "killed": "stopped by a resource limit", "not_attempted": "not attempted yet",
    "tampered": "an instructor cell was edited", "invalid": "the notebook could not be graded",
}


def feedback_html(result: SubmissionResult) -> str:
    e = html.escape
    percent = 100.0 * result.points / result.max_points if result.max_points else 0.0
    rows = []
    for ex in result.exercises:
        checks = []
        for test in ex.tests:
            line = f"<code>{e(test.grade_id)}</code>: {'passed' if test.passed else 'failed'} " \
                   f"({test.points:g}/{test.max_points:g})"
            if test.message and not test.passed and test.message != "hidden tests failed":
                line += f" — {e(test.message)}"
            if test.hidden is not None:
                line += f"; hidden tests: {'passed' if test.hidden else 'failed'}"
            checks.append(f"<li>{line}</li>")
        rows.append(
            f"<tr class='{e(ex.status)}'><td>{e(ex.exercise)}</td><td>{ex.points:g} / {ex.max_points:g}</td>"
            f"<td>{e(ex.status)}<br><small>{e(STATUS_TEXT[ex.status])}</small></td>"
            f"<td>{e(ex.message)}<ul>{''.join(checks)}</ul></td></tr>")
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(result.assignment)} feedback: {e(result.student)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top}}.passed{{background:#eaf7ea}}
.failed,.error,.timeout,.killed,.tampered,.invalid{{background:#fbeaea}}.not_attempted{{background:#f4f4f4}}</style>
</head><body>
<h1>{e(result.assignment)}: feedback for {e(result.student)}</h1>
<p><strong>Total: {result.points:g} / {result.max_points:g} ({percent:.0f}%)</strong></p>
<table><tr><th>exercise</th><th>points</th><th>status</th><th>what happened</th></tr>
{''.join(rows)}
</table>
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
<p><small>Visible checks show their message. Hidden tests are listed by name with their result only.
Educational course material (MedFusion); semi-synthetic data, not for clinical use.</small></p>
</body></html>
"""


def terminal_table(results: list[SubmissionResult]) -> str:
    """Students as rows, exercises as columns (``points/max status``), plus the total."""
    rows = []
    for result in sorted(results, key=lambda r: r.student):
        row = {"student": result.student}
        for ex in result.exercises:
            row[ex.exercise] = f"{ex.points:g}/{ex.max_points:g} {ex.status}"
        row["total"] = f"{result.points:g}/{result.max_points:g}"
        row["percent"] = f"{100.0 * result.points / result.max_points:.0f}%" if result.max_points else "-"
        rows.append(row)
    return format_table(rows)


def exercise_table(result: SubmissionResult) -> str:
    """One submission, one row per exercise: for ``medfusion check``."""
    rows = []
    for ex in result.exercises:
        hidden = [t for t in ex.tests if t.hidden is not None]
        rows.append({"exercise": ex.exercise, "points": f"{ex.points:g}/{ex.max_points:g}", "status": ex.status,
                     "hidden tests": ", ".join(f"{t.grade_id} {'passed' if t.hidden else 'failed'}" for t in hidden),
                     "why": ex.message})
    return format_table(rows)
