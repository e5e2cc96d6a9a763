"""End to end on the graded capstone: `medfusion grade 06_capstone` with the default limits on a small class.

The capstone trains real (small) models on the cohort inside the sandbox, so this checks that it fits the
grader's default time and memory limits, that the solution earns every point, that an untouched copy earns
none, and that partial credit works: one task solved and one answered wrongly (an uncalibrated "calibration").
"""
from __future__ import annotations

from grading_helpers import hashes, hostile, needs_sandbox, read_grades, statuses
from medfusion_lib.cli import main as cli_main
from medfusion_lib.grading.assignment import load_assignment

#: ex2 answered by returning the model unchanged: its probabilities stay miscalibrated, so the hidden ECE bound fails.
CAPSTONE_WRONG = {"ex2": "def calibrate(model, val, y_val):\n    return model"}

pytestmark = needs_sandbox


def test_grade_06_capstone_end_to_end(tmp_path, capsys):
    expected = hostile.write_class(load_assignment("06_capstone"), tmp_path / "class", CAPSTONE_WRONG,
                                   only=["solution", "untouched", "partial"])
    before = hashes(tmp_path / "class")
    rc = cli_main(["grade", "06_capstone", str(tmp_path / "class"), "--out", str(tmp_path / "out"),
                   "--workers", "2", "--no-progress"])  # default limits: 60 s a cell, 600 s a notebook
    assert rc == 0
    assert statuses(tmp_path / "out") == expected
    rows = read_grades(tmp_path / "out")
    assert sum(float(r["points"]) for r in rows["solution"].values()) == 10
    assert sum(float(r["points"]) for r in rows["untouched"].values()) == 0
    assert float(rows["partial"]["ex1"]["points"]) == 3 and float(rows["partial"]["ex2"]["points"]) == 0
    assert hashes(tmp_path / "class") == before
    table = capsys.readouterr().out
    assert "10/10" in table and "100%" in table
    # the solution run's cached features were kept for the students' kernels (they need not retrain the CNNs)
    kept = list((tmp_path / "out" / ".kernel-caches").glob("*/fusion/*.npz"))
    assert any(p.name.startswith("image-cnn-") for p in kept), kept
    for page in (tmp_path / "out" / "feedback").glob("*.html"):
        assert "expected." not in page.read_text(), "hidden checks must not reach the feedback"
