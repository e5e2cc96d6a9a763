"""solutions/ -> exercises/: stubs, hidden tests, metadata checks, staleness and leak detection."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from medfusion_lib import authoring as au
from medfusion_lib import exercise_regions as marks
from medfusion_lib import notebook_schema as schema
from medfusion_lib.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
DEMO_TEST = ("one = double(1)\n### BEGIN HIDDEN PROBE\nbig = double(21)\n### END HIDDEN PROBE\n### CHECKS\n"
             "assert isinstance(one, int), 'double returns an int'\n### BEGIN HIDDEN TESTS\n"
             "assert big == expected.big == 42\n### END HIDDEN TESTS")


def make_source(tmp_path: Path, cells=None, name: str = "01_demo") -> Path:
    """A small solution notebook in tmp_path/solutions."""
    if cells is None:
        cells = [
            schema.locked_cell("# Demo", "title", markdown=True),
            schema.locked_cell("N = 3", "params", tags=["parameters"]),
            schema.solution_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                             "ex1_answer", "ex1"),
            schema.test_cell(DEMO_TEST, "ex1_tests", "ex1", points=2),
        ]
    folder = tmp_path / "solutions"
    folder.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=cells)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_stub_keeps_indentation_and_code_around_it():
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n# after"
    stub = marks.stub_source(source, "ex7")
    assert stub == ('def f(x):\n    y = 1\n    # YOUR CODE HERE\n'
                    '    raise NotImplementedError("ex7: write your answer here")\n# after')
    compile(stub, "<stub>", "exec")  # still valid Python


def test_cell_without_markers_is_replaced_whole():
    assert "NotImplementedError" in marks.stub_source("x = secret()", "ex1")
    assert marks.stub_source("The answer is 42.", "ex1", markdown=True) == marks.MARKDOWN_ANSWER


def test_test_cell_splits_into_probe_and_checks():
    from medfusion_lib.grading.testcell import evidence_names, parse_test_cell

    parts = parse_test_cell(DEMO_TEST)
    assert parts.problems == []
    assert parts.probe == "one = double(1)" and parts.hidden_probe == "big = double(21)"
    assert parts.checks.startswith("assert isinstance(one") and parts.hidden_checks.startswith("assert big")
    names = evidence_names(parts)
    assert names.visible == ("one",) and names.hidden == ("big",)
    # The student copy: visible probe, the CHECKS line, visible checks; nothing hidden.
    assert marks.strip_hidden(DEMO_TEST) == ("one = double(1)\n### CHECKS\n"
                                          "assert isinstance(one, int), 'double returns an int'")


@pytest.mark.parametrize("source, problem", [
    ("x = f()\nassert x", "no '### CHECKS' line"),
    ("x = f()\n### CHECKS\nassert x == DIAGNOSES", "reads `DIAGNOSES`, which the visible probe does not assign"),
    ("x = f()\n### CHECKS\nassert x == expected.x", "a visible check reads `expected`"),
    ("x = f()\n### BEGIN HIDDEN PROBE\ny = f(x)\n### END HIDDEN PROBE\n### CHECKS\nassert x\n"
     "### BEGIN HIDDEN TESTS\nassert y\n### END HIDDEN TESTS", "the hidden probe reads `x` from a visible probe"),
    ("x = f()\n### CHECKS\nassert x\n### BEGIN HIDDEN TESTS\nassert expected.z\n### END HIDDEN TESTS",
     "reads `expected.z`, which no probe"),
    ("### CHECKS\nx = f()\n### BEGIN HIDDEN PROBE\ny = 1\n### END HIDDEN PROBE", "out of place"),
])
def test_test_cell_lint(source, problem):
    from medfusion_lib.grading.testcell import assigned_names, lint_test_cell, parse_test_cell

    found = lint_test_cell(source, assigned_names(parse_test_cell(source).probe))
    assert any(problem in p for p in found), found


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
])
def test_unbalanced_markers_raise(source):
    with pytest.raises(ValueError):
        marks.regions(source, marks.SOLUTION_BEGIN, marks.SOLUTION_END)


def test_build_writes_student_copy(tmp_path):
    make_source(tmp_path)
    written = au.build_exercises(tmp_path / "solutions", tmp_path / "exercises")
    assert [p.name for p in written] == ["01_demo.ipynb"]
    nb = nbformat.read(str(written[0]), as_version=4)
    text = written[0].read_text()
    assert "return 2 * x" not in text and "double(21)" not in text and "BEGIN" not in text
    assert nb.metadata.kernelspec["name"] == "python3"
    assert [c.id for c in nb.cells] == ["title", "params", "ex1_answer", "ex1_tests"]  # ids stable
    tests = nb.cells[3]
    assert tests.metadata.nbgrader["points"] == 2 and tests.metadata.editable is False
    assert au.check_exercises(tmp_path / "solutions", tmp_path / "exercises") == []
    # A second build changes nothing.
    assert au.build_exercises(tmp_path / "solutions", tmp_path / "exercises") == []


def test_outputs_and_execution_counts_stripped(tmp_path):
    path = make_source(tmp_path)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="42\n")]
    nb.cells[3].execution_count = 5
    nb.cells[3].metadata["papermill"] = {"duration": 1.0}
    nbformat.write(nb, str(path))
    out = au.build_exercises(tmp_path / "solutions", tmp_path / "exercises")[0]
    cell = nbformat.read(str(out), as_version=4).cells[3]
    assert cell.outputs == [] and cell.execution_count is None and "papermill" not in cell.metadata


def problems_for(tmp_path, cells) -> list[str]:
    make_source(tmp_path, cells)
    return [str(p) for p in au.check_exercises(tmp_path / "solutions", tmp_path / "exercises")]


def test_missing_grade_id_and_points(tmp_path):
    bad_test = schema.test_cell("assert True", "t1", "ex1", points=1)
    bad_test.metadata.nbgrader.pop("points")
    answer = schema.solution_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "a1", "ex1")
    answer.metadata.nbgrader.pop("grade_id")
    found = problems_for(tmp_path, [answer, bad_test])
    assert any("lacks nbgrader.grade_id" in p for p in found)
    assert any("needs nbgrader.points > 0" in p for p in found)


def test_repeated_grade_id(tmp_path):
    cells = [schema.solution_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "same", "ex1"),
             schema.test_cell("assert x", "t1", "ex1", points=1)]
    cells[1].metadata.nbgrader["grade_id"] = "same"
    found = problems_for(tmp_path, cells)
    assert any("grade_id 'same' repeats" in p for p in found)


def test_markers_in_an_unmarked_cell_would_leak(tmp_path):
    cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 42\n### END SOLUTION", id="plain"),
             schema.solution_cell("### BEGIN SOLUTION\ny = 1\n### END SOLUTION", "a1", "ex1"),
             schema.test_cell("assert y\n### BEGIN HIDDEN TESTS\nassert y == 1\n### END HIDDEN TESTS", "t1", "ex1", 1)]
    found = problems_for(tmp_path, cells)
    assert any("cell plain" in p and "would leak" in p for p in found)
    with pytest.raises(au.AuthoringError):
        au.build_exercises(tmp_path / "solutions", tmp_path / "exercises")
    assert not (tmp_path / "exercises" / "01_demo.ipynb").exists()  # nothing half-written


def test_unbalanced_and_indented_hidden_markers_reported(tmp_path):
    cells = [schema.solution_cell("### BEGIN SOLUTION\nx = 1", "a1", "ex1"),
             schema.test_cell("if True:\n    ### BEGIN HIDDEN TESTS\n    assert x\n    ### END HIDDEN TESTS",
                          "t1", "ex1", 1)]
    found = problems_for(tmp_path, cells)
    assert any("unbalanced solution markers" in p for p in found)
    assert any("column 0" in p for p in found)


def test_stale_missing_orphan_and_leak_detected(tmp_path):
    path = make_source(tmp_path)
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    assert any("is missing" in str(p) for p in au.check_exercises(sol, ex))
    au.build_exercises(sol, ex)
    # The author changes the source but forgets to rebuild: stale.
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[0].source = "# Demo, revised"
    nbformat.write(nb, str(path))
    assert any("is stale" in str(p) for p in au.check_exercises(sol, ex))
    au.build_exercises(sol, ex)
    # Someone pastes a hidden test into the student copy by hand: a leak (and stale).
    target = ex / "01_demo.ipynb"
    copy = json.loads(target.read_text())
    copy["cells"][3]["source"] = ["one = double(1)\n", "big = double(21)\n", "### CHECKS\n", "assert one"]
    target.write_text(json.dumps(copy))
    found = [str(p) for p in au.check_exercises(sol, ex)]
    assert any("leaks answer or hidden-test text: 'big = double(21)'" in p for p in found)
    # A generated copy whose source is gone is an orphan; build removes it.
    au.build_exercises(sol, ex)
    (ex / "99_old.ipynb").write_text(target.read_text())
    assert any("99_old.ipynb" in str(p) and "no source" in str(p) for p in au.check_exercises(sol, ex))
    au.build_exercises(sol, ex)
    assert not (ex / "99_old.ipynb").exists()


def test_cli_build_and_check_exit_codes(tmp_path, capsys):
    make_source(tmp_path)
    args = ["--solutions", str(tmp_path / "solutions"), "--exercises", str(tmp_path / "exercises")]
    assert cli_main(["exercises", "check", *args]) == 1
    assert "is missing" in capsys.readouterr().err
    assert cli_main(["exercises", "build", *args]) == 0
    assert cli_main(["exercises", "check", *args]) == 0
    assert cli_main(["exercises", "check", "--source", str(tmp_path / "nowhere")]) == 2
    assert "no solutions folder" in capsys.readouterr().err


def test_course_exercises_are_in_sync():
    problems = au.check_exercises(REPO / "solutions", REPO / "exercises")
    assert problems == [], "\n".join(map(str, problems))


def test_helpers_stamp_metadata():
    cell = schema.test_cell("assert True", "ex2_tests", "ex2", points=3)
    assert cell.id == "ex2_tests" and schema.cell_role(cell) == "test" and schema.exercise_of(cell) == "ex2"
    with pytest.raises(ValueError, match="positive number of points"):
        schema.test_cell("assert True", "t", "ex2", points=0)
