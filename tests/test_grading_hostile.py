"""A class of hostile and ordinary submissions on a tiny fixture assignment, graded with 2 workers."""
from __future__ import annotations

import os

import nbformat
import pytest

from grading_helpers import hashes, hostile, read_grades, statuses
from medfusion_lib.cli import main as cli_main

SECRET = "s3cr3t-value-the-kernel-must-not-see"
HIDDEN_SOURCE = ["add(2, 3) == 5", "hidden: add(2, 3) should be 5", "mean([1, 2, 6])", "12.566370614359172",
                 "BEGIN HIDDEN"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    solution = hostile.fixture_assignment(root / "solutions")
    from medfusion_lib.grading.assignment import load_assignment

    expected = hostile.write_class(load_assignment(solution), root / "class", hostile.FIXTURE_WRONG)
    before = hashes(root / "class")
    os.environ[hostile.SECRET_ENV] = SECRET
    try:
        rc = cli_main(["grade", "99_fixture", str(root / "class"), "--solutions", str(root / "solutions"),
                       "--out", str(root / "out"), "--workers", "2", "--cell-timeout", "5", "--timeout", "90",
                       "--no-progress"])
    finally:
        os.environ.pop(hostile.SECRET_ENV, None)
    return {"root": root, "out": root / "out", "expected": expected, "before": before, "rc": rc}


def test_batch_completes_with_exit_0(graded):
    assert graded["rc"] == 0


def test_every_student_gets_the_right_status(graded):
    assert statuses(graded["out"]) == graded["expected"]


def test_partial_credit_within_and_across_exercises(graded):
    rows = read_grades(graded["out"])["partial"]
    assert float(rows["ex1"]["points"]) == 2 and float(rows["ex3"]["points"]) == 1  # type check passed, values not
    assert float(rows["ex3"]["max_points"]) == 3


def test_solution_full_marks_untouched_zero(graded):
    rows = read_grades(graded["out"])
    assert all(r["points"] == r["max_points"] for r in rows["solution"].values())
    assert all(float(r["points"]) == 0 for r in rows["untouched"].values())


def test_no_submission_file_changed(graded):
    assert hashes(graded["root"] / "class") == graded["before"]


def test_feedback_never_contains_hidden_tests(graded):
    for page in (graded["out"] / "feedback").glob("*.html"):
        text = page.read_text()
        for snippet in HIDDEN_SOURCE:
            assert snippet not in text, f"{page.name} leaks hidden test text {snippet!r}"
    partial = (graded["out"] / "feedback" / "partial.html").read_text()
    assert "ex3_tests_values" in partial and "hidden tests: failed" in partial


def test_feedback_shows_visible_messages(graded):
    page = (graded["out"] / "feedback" / "infinite_loop.html").read_text()
    assert "timeout" in page and "was interrupted" in page
    assert "tampered" in (graded["out"] / "feedback" / "edited_test.html").read_text()
    assert "graded cells missing" in (graded["out"] / "feedback" / "deleted_cells.html").read_text()
    assert "not valid JSON" in (graded["out"] / "feedback" / "malformed.html").read_text()


def test_flood_is_truncated(graded):
    path = graded["out"] / "executed" / "flood.ipynb"
    assert path.stat().st_size < 200_000
    assert "output truncated" in path.read_text()


def test_kernel_sees_no_secrets_and_forgery_has_no_effect(graded):
    text = (graded["out"] / "executed" / "snoop.ipynb").read_text()
    assert SECRET not in text and "secret: not visible" in text
    assert "999" not in (graded["out"] / "grades.csv").read_text()


def test_executed_notebooks_are_valid_and_keep_hidden_tests_for_the_instructor(graded):
    nb = nbformat.read(str(graded["out"] / "executed" / "solution.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert any("add(2, 3) == 5" in c.source for c in nb.cells)


def test_summary_and_histogram(graded):
    summary = (graded["out"] / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("student,assignment,total,max,percent")
    assert len(summary) == 1 + len(graded["expected"])
    assert (graded["out"] / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
