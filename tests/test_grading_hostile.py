"""One hostile class on a tiny fixture assignment, graded once (2 workers, sandboxed) and shared by every test.

The attacks of issue 11: answers that subvert comparisons, hooks and transformers that hide failures, forged
kernel replies, rebinding names with sys.settrace, smuggling hidden tests into the feedback, reaching other
kernels, other submissions and the grader, detached processes, signals, and output bombs. Every cheat must
score no more than the same submission without it; nothing outside the sandbox may change.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from grading_helpers import hashes, hostile, needs_sandbox, read_grades, statuses
from medfusion_lib.cli import main as cli_main

SECRET = "s3cr3t-value-the-kernel-must-not-see"
CLASS_SECRET = "class-secret-for-the-hostile-suite"
HIDDEN_SOURCE = ["two_three", "add(2, 3 + VARIANT)", "hidden_mean", "area(2.0 + VARIANT)", "expected.two",
                 "HIDDEN", "### CHECKS", "SMUGGLED"]

pytestmark = needs_sandbox


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    solution = hostile.fixture_assignment(root / "solutions")
    from medfusion_lib.grading.assignment import load_assignment

    assignment = load_assignment(solution)
    expected = hostile.write_class(assignment, root / "class", hostile.FIXTURE_WRONG)
    most = hostile.write_cheats(assignment, root / "class")
    before = hashes(root / "class")
    solution_sha = hashes(root / "solutions")
    os.environ[hostile.SECRET_ENV] = SECRET
    os.environ["MEDFUSION_CLASS_SECRET"] = CLASS_SECRET
    try:
        rc = cli_main(["grade", "99_fixture", str(root / "class"), "--source", str(root / "solutions"),
                       "--out", str(root / "out"), "--workers", "2", "--cell-timeout", "5", "--timeout", "90",
                       "--no-progress"])
    finally:
        os.environ.pop(hostile.SECRET_ENV, None)
        os.environ.pop("MEDFUSION_CLASS_SECRET", None)
    return {"root": root, "out": root / "out", "expected": expected, "most": most, "before": before,
            "solution_sha": solution_sha, "rc": rc}


def _printed(path: Path) -> str:
    """Everything the executed notebook's cells printed (not their source)."""
    nb = nbformat.read(str(path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def _points(out: Path) -> dict[str, float]:
    return {s: sum(float(r["points"]) for r in rows.values()) for s, rows in read_grades(out).items()}


def test_batch_completes_with_every_student_graded(graded):
    assert graded["rc"] == 0
    assert set(read_grades(graded["out"])) == set(graded["expected"]) | set(graded["most"])


def test_every_student_gets_the_right_status(graded):
    got = statuses(graded["out"])
    assert {s: got[s] for s in graded["expected"]} == graded["expected"]


@pytest.mark.parametrize("cheat", [
    "cheat_transformer", "cheat_ast", "cheat_clear_errors", "cheat_reply_ok", "cheat_settrace", "cheat_liars",
    "cheat_smuggle", "cheat_hijack", "cheat_rote"])
def test_no_cheat_scores_more_than_without_it(graded, cheat):
    assert _points(graded["out"])[cheat] <= graded["most"][cheat]


def test_partial_credit_within_and_across_exercises(graded):
    rows = read_grades(graded["out"])["partial"]
    assert float(rows["ex1"]["points"]) == 2 and float(rows["ex3"]["points"]) == 1  # type check passed, values not
    assert float(rows["ex3"]["max_points"]) == 3


def test_solution_full_marks_untouched_zero(graded):
    rows = read_grades(graded["out"])
    assert all(r["points"] == r["max_points"] for r in rows["solution"].values())
    assert all(float(r["points"]) == 0 for r in rows["untouched"].values())


def test_no_submission_or_source_file_changed(graded):
    assert hashes(graded["root"] / "class") == graded["before"]
    assert hashes(graded["root"] / "solutions") == graded["solution_sha"]
    assert not list(graded["root"].rglob("pwned.txt")) and not Path("/tmp/pwned.txt").exists()


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


def test_output_caps_hold_for_every_output_type(graded):
    for student in ("flood", "output_bomb"):
        path = graded["out"] / "executed" / f"{student}.ipynb"
        assert path.stat().st_size < 2_500_000, f"{student}: {path.stat().st_size} bytes"
        assert "output truncated" in path.read_text()
    nb = nbformat.read(str(graded["out"] / "executed" / "output_bomb.ipynb"), as_version=4)
    assert "widgets" not in nb.metadata


def test_sandbox_hides_secrets_solutions_other_kernels_and_the_terminal(graded):
    snoop = _printed(graded["out"] / "executed" / "snoop.ipynb")
    assert SECRET not in snoop and "secret: not visible" in snoop and "solution notebooks found: 0" in snoop
    hijack = _printed(graded["out"] / "executed" / "cheat_hijack.ipynb")
    assert "other kernels found: 0" in hijack and "tty: unavailable" in hijack and "overwrote" not in hijack
    assert str(graded["out"]) not in hijack and SECRET not in hijack
    # the snoop tried to write "student,points / snoop,999" over grades.csv (a bare "999" also matches a time: 1.999 s)
    header = (graded["out"] / "grades.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["student", "assignment", "exercise"]
    assert all(float(row["points"]) != 999 for rows in read_grades(graded["out"]).values() for row in rows.values())


def test_an_interrupted_cell_outside_the_exercises_is_a_note(graded):
    page = (graded["out"] / "feedback" / "loop_cell.html").read_text()
    assert "not part of an exercise" in page and "was interrupted; the run went on" in page
    assert statuses(graded["out"])["loop_cell"] == {e: "passed" for e in ("ex1", "ex2", "ex3")}


def test_signals_and_detached_processes_do_not_reach_the_grader(graded):
    assert statuses(graded["out"])["signals"] == {e: "passed" for e in ("ex1", "ex2", "ex3")}
    summary = (graded["out"] / "summary.csv").read_text()
    assert "not part of an exercise" in summary           # the stopped cell is a note on that student
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            if hostile.DETACHED_MARKER.encode() in (proc / "cmdline").read_bytes():
                alive.append(proc.name)
        except OSError:
            continue
    assert alive == [], "a process started by a submission outlived the batch"
    assert "forged" not in (graded["out"] / "grades.csv").read_text()


def test_a_forged_result_is_regraded_and_said_so(graded, capsys):
    result = graded["out"] / "results" / "untouched.json"
    result.write_text(result.read_text().replace('"points": 0.0', '"points": 2.0', 1))
    out = graded["root"] / "out"
    os.environ["MEDFUSION_CLASS_SECRET"] = CLASS_SECRET            # the same class, the same limits
    try:
        rc = cli_main(["grade", "99_fixture", str(graded["root"] / "class" / "untouched.ipynb"), "--source",
                       str(graded["root"] / "solutions"), "--out", str(out), "--no-progress", "--cell-timeout", "5",
                       "--timeout", "90"])
    finally:
        os.environ.pop("MEDFUSION_CLASS_SECRET", None)
    assert rc == 0
    err = capsys.readouterr().err
    assert "failed its authentication tag" in err
    assert _points(out)["untouched"] == 0


def test_executed_notebooks_are_valid_and_keep_hidden_probes_for_the_instructor(graded):
    nb = nbformat.read(str(graded["out"] / "executed" / "solution.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert any("add(2, 3 + VARIANT)" in c.source for c in nb.cells)


def test_summary_and_histogram(graded):
    summary = (graded["out"] / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("student,assignment,total,max,percent")
    assert (graded["out"] / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
