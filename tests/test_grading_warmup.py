"""End to end on the real assignment: `medfusion grade 00_warmup` on a small class, no file modified.

The full hostile class runs on a tiny fixture assignment in test_grading_hostile.py (fast kernels); here
the cases that need the cohort-backed notebook (full marks, zero, partial credit) and two invalid ones.
The whole hostile class on 00_warmup is the demo in docs/instructors.md (section 2).
"""
from __future__ import annotations

from grading_helpers import hashes, hostile, needs_sandbox, read_grades, statuses
from medfusion_lib.cli import main as cli_main
from medfusion_lib.grading.assignment import load_assignment

CASES = ["solution", "untouched", "partial", "malformed", "deleted_cells"]

pytestmark = needs_sandbox


def test_grade_00_warmup_end_to_end(tmp_path, capsys):
    expected = hostile.write_class(load_assignment("00_warmup"), tmp_path / "class", hostile.WARMUP_WRONG,
                                   only=CASES)
    before = hashes(tmp_path / "class")
    rc = cli_main(["grade", "00_warmup", str(tmp_path / "class"), "--out", str(tmp_path / "out"),
                   "--workers", "2", "--cell-timeout", "120", "--no-progress"])
    assert rc == 0
    assert statuses(tmp_path / "out") == expected
    rows = read_grades(tmp_path / "out")
    assert sum(float(r["points"]) for r in rows["solution"].values()) == 8
    assert float(rows["partial"]["ex3"]["points"]) == 1
    assert hashes(tmp_path / "class") == before
    table = capsys.readouterr().out
    assert "solution" in table and "8/8" in table and "100%" in table
    for page in (tmp_path / "out" / "feedback").glob("*.html"):
        assert "_expected" not in page.read_text() and "_toy" not in page.read_text()
