"""``medfusion grade`` misuse, resume by content hash, --force, and ``medfusion check``."""
from __future__ import annotations

import nbformat
import pytest

from grading_helpers import hashes, hostile, needs_sandbox, statuses
from medfusion_lib.cli import main as cli_main
from medfusion_lib.grading.assignment import load_assignment

pytestmark = needs_sandbox


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    hostile.fixture_assignment(root / "solutions")
    assignment = load_assignment("99_fixture", root / "solutions")
    hostile.write_class(assignment, root / "class", only=["solution", "untouched"])
    return root, assignment


def grade(root, *extra):
    return cli_main(["grade", "99_fixture", str(root / "class"), "--solutions", str(root / "solutions"),
                     "--out", str(root / "out"), "--workers", "2", "--no-progress", "--cell-timeout", "20", *extra])


@pytest.mark.parametrize("args, message", [
    (["grade", "nope", "x.ipynb", "--out", "o"], "unknown assignment 'nope'"),
    (["grade", "99_fixture", "{root}/nowhere", "--out", "{root}/o"], "no such submission"),
    (["grade", "99_fixture", "{root}/solutions/../empty", "--out", "{root}/o"], "no submissions"),
    (["grade", "99_fixture", "{root}/class", "--out", "{root}/solutions/99_fixture.ipynb/out"], "cannot write to --out"),
    (["grade", "99_fixture", "{root}/class", "--out", "{root}/o", "--workers", "0"], "--workers must be at least 1"),
    (["grade", "99_fixture", "{root}/class", "--out", "{root}/o", "--cell-timeout", "-1"], "cell_timeout must be"),
    (["check", "{root}/missing.ipynb"], "no notebook at"),
    (["grade", "99_fixture", "{root}/class", "--out", "{root}/class/graded"], "is inside the submissions folder"),
    (["grade", "99_fixture", "{root}/class", "--out", "{root}/o", "--timeout", "nan"], "timeout must be a finite"),
    (["grade", "99_fixture", "{root}/class", "--out", "{root}/o", "--timeout", "inf"], "timeout must be a finite"),
])
def test_misuse_is_one_line_exit_2(course, capsys, args, message):
    root, _ = course
    (root / "empty").mkdir(exist_ok=True)
    args = [a.replace("{root}", str(root)) for a in args]
    if args[0] == "grade":
        args += ["--solutions", str(root / "solutions")]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_resume_force_and_regrade_changed(course, capsys):
    root, assignment = course
    before = hashes(root / "class")
    assert grade(root) == 0
    assert "graded 2, skipped 0" in capsys.readouterr().out
    assert statuses(root / "out")["solution"] == {e: "passed" for e in assignment.exercises}
    assert grade(root) == 0
    assert "graded 0, skipped 2" in capsys.readouterr().out
    # The student fixes their notebook: only that one is graded again.
    nb = hostile.make(assignment.student, assignment.solution, solve=["ex2"])
    nbformat.write(nb, str(root / "class" / "untouched.ipynb"))
    assert grade(root) == 0
    assert "graded 1, skipped 1" in capsys.readouterr().out
    assert statuses(root / "out")["untouched"]["ex2"] == "passed"
    assert grade(root, "--force") == 0
    assert "graded 2, skipped 0" in capsys.readouterr().out
    assert hashes(root / "class")["solution.ipynb"] == before["solution.ipynb"]


def test_check_prints_the_exercise_table(course, capsys):
    root, assignment = course
    path = root / "mine.ipynb"
    nbformat.write(hostile.make(assignment.student, assignment.solution, solve=["ex1"]), str(path))
    assert cli_main(["check", str(path), "--assignment", "99_fixture", "--solutions", str(root / "solutions")]) == 0
    out = capsys.readouterr().out
    assert "ex1       2/2     passed" in out and "not_attempted" in out and "total: 2/7" in out
    assert "add(2, 3)" not in out


def test_a_kernel_cannot_reach_the_solution_file(tmp_path, capsys):
    solution = hostile.fixture_assignment(tmp_path / "solutions")
    before = solution.read_bytes()
    assignment = load_assignment(solution)
    (tmp_path / "class").mkdir()
    vandal = hostile.make(assignment.student, assignment.solution, solve=["ex1"],
                          extra=f"open(r'{solution}', 'a').write('\\n')")
    nbformat.write(vandal, str(tmp_path / "class" / "vandal.ipynb"))
    assert cli_main(["grade", "99_fixture", str(tmp_path / "class"), "--solutions", str(tmp_path / "solutions"),
                     "--out", str(tmp_path / "out"), "--workers", "1", "--no-progress"]) == 0
    assert solution.read_bytes() == before and "changed while grading" not in capsys.readouterr().err
    assert statuses(tmp_path / "out")["vandal"]["ex1"] == "passed"


def test_no_sandbox_engine_refuses_in_one_line_unless_trusted(course, capsys, monkeypatch, tmp_path):
    root, _ = course
    monkeypatch.setattr("medfusion_lib.grading.bwrap.bwrap_path", lambda: None)
    assert grade(root, "--out", str(tmp_path / "refused")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "install bubblewrap" in err and "apt-get install bubblewrap" in err
    assert not (tmp_path / "refused" / "grades.csv").exists()
    assert grade(root, "--out", str(tmp_path / "trusted"), "--trusted-class") == 0
    assert "WITHOUT a sandbox" in capsys.readouterr().err
    assert "graded WITHOUT a sandbox" in (tmp_path / "trusted" / "summary.csv").read_text()
