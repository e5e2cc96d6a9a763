"""Grading steps without kernels: validation, restoring instructor cells, discovery, scoring rules."""
from __future__ import annotations

import copy
import json

import nbformat
import pytest

from grading_helpers import hostile
from medfusion_lib.errors import UserError
from medfusion_lib.grading.assignment import load_assignment
from medfusion_lib.grading.batch import discover, student_id
from medfusion_lib.grading.restore import RUN_KEY, restore
from medfusion_lib.grading.score import score_exercises
from medfusion_lib.grading.validate import InvalidSubmission, parse_submission


@pytest.fixture(scope="module")
def assignment(tmp_path_factory):
    return load_assignment(hostile.fixture_assignment(tmp_path_factory.mktemp("units") / "solutions"))


@pytest.mark.parametrize("data, message", [
    (b"\xff\xfe", "not a text file"),
    (b'{"cells": [', "not valid JSON"),
    (b'["a list"]', "not a Jupyter notebook"),
    (b'{"cells": [], "nbformat": 9, "nbformat_minor": 0, "metadata": {}}', "nbformat 9"),
    (b'{"cells": [{"cell_type": "bogus"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
     "not a valid nbformat 4"),
])
def test_invalid_submissions_say_what_is_wrong(data, message):
    with pytest.raises(InvalidSubmission, match=message):
        parse_submission(data)


def test_missing_graded_cells_are_invalid(assignment):
    nb = hostile.make(assignment.student, assignment.solution, drop_tests=True)
    with pytest.raises(InvalidSubmission, match="graded cells missing: ex1_tests"):
        restore(nb, assignment)


def test_restore_puts_back_tests_with_hidden_parts_and_flags_edits(assignment):
    nb = hostile.make(assignment.student, assignment.solution, solve=["ex1"], edit_test="assert True")
    nb.cells[-1].metadata["nbgrader"]["points"] = 100          # a student "awards" more points
    restored = restore(nb, assignment)
    assert restored.tampered == {"ex1": ["ex1_tests"]}
    parts = [c for c in restored.notebook.cells if c.metadata.get(RUN_KEY, {}).get("grade_id") == "ex1_tests"]
    assert [p.metadata[RUN_KEY]["hidden"] for p in parts] == [False, True]
    assert "add(2, 3) == 5" in parts[1].source
    assert max(c.metadata.get("nbgrader", {}).get("points", 0) for c in restored.notebook.cells) == 2


def test_solution_notebook_itself_is_not_tampering(assignment):
    assert restore(copy.deepcopy(assignment.solution), assignment).tampered == {}


def test_deleted_read_only_cell_is_put_back(assignment):
    nb = copy.deepcopy(assignment.student)
    nb.cells = [c for c in nb.cells if c.id != "imports"]
    restored = restore(nb, assignment)
    assert any(c.source == "import math" for c in restored.notebook.cells)
    assert any("imports was deleted" in n for n in restored.notes)


def test_student_cells_cannot_claim_to_be_graded(assignment):
    nb = copy.deepcopy(assignment.student)
    fake = copy.deepcopy(nb.cells[4])                 # a copy of a test cell: same grade id
    fake.id = "copy"
    fake.source = "print('mine')"
    nb.cells.append(fake)
    restored = restore(nb, assignment)
    last = restored.notebook.cells[-1]
    assert last.source == "print('mine')" and "nbgrader" not in last.metadata


def _executed(assignment, replies: dict[str, dict]):
    """A restored notebook whose cells carry fake kernel replies: {cell source prefix: reply}."""
    nb = restore(copy.deepcopy(assignment.solution), assignment).notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            meta = cell.metadata.setdefault(RUN_KEY, {})
            meta["reply"] = {"status": "ok"}
            for prefix, reply in replies.items():
                if cell.source.startswith(prefix):
                    meta.update(reply)
    return nb


def test_status_rules(assignment):
    nb = _executed(assignment, {
        "def add": {"reply": {"status": "error", "ename": "MemoryError", "evalue": ""}},
        "assert isinstance(mean": {"reply": {"status": "error", "ename": "TypeError", "evalue": "boom"}},
        "assert abs(area": {"reply": {"status": "error", "ename": "AssertionError", "evalue": "secret 12.5"}},
    })
    results = {r.exercise: r for r in score_exercises(nb, assignment, {})}
    assert results["ex1"].status == "killed"
    assert results["ex2"].status == "error" and "TypeError: boom" in results["ex2"].message
    assert results["ex3"].status == "failed" and results["ex3"].points == 1
    assert "secret" not in results["ex3"].message                  # hidden failures are named, not shown
    assert results["ex3"].tests[1].hidden is False


def test_tampered_scores_zero(assignment):
    nb = _executed(assignment, {})
    results = {r.exercise: r for r in score_exercises(nb, assignment, {"ex2": ["ex2_tests"]})}
    assert results["ex2"].status == "tampered" and results["ex2"].points == 0
    assert "would score 2/2" in results["ex2"].message


def test_discover_layouts(tmp_path):
    text = json.dumps(nbformat.v4.new_notebook())
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "alice.ipynb").write_text(text)
    (tmp_path / "flat" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "flat" / ".ipynb_checkpoints" / "alice-checkpoint.ipynb").write_text(text)
    (tmp_path / "nested" / "bob").mkdir(parents=True)
    (tmp_path / "nested" / "bob" / "00_warmup.ipynb").write_text(text)
    (tmp_path / "nested" / "bob" / "scratch.ipynb").write_text(text)
    (tmp_path / "carol.ipynb").write_text(text)
    found = discover([tmp_path / "flat", tmp_path / "nested", tmp_path / "carol.ipynb"], "00_warmup")
    assert [s for s, _ in found] == ["alice", "bob", "carol"]
    assert found[1][1].name == "00_warmup.ipynb"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "alice.ipynb").write_text(text)
    with pytest.raises(UserError, match="two submissions for student 'alice'"):
        discover([tmp_path / "flat", tmp_path / "other"], "00_warmup")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no submissions"):
        discover([tmp_path / "empty"], "00_warmup")
    with pytest.raises(UserError, match="no such submission"):
        discover([tmp_path / "missing.ipynb"], "00_warmup")


def test_student_ids_are_safe_file_names():
    assert student_id("Ann Lee (late)") == "Ann_Lee_late"
    assert student_id("../../etc") == "etc"


def test_review_notes_point_at_suspicious_student_cells(assignment):
    nb = hostile.make(assignment.student, assignment.solution, solve=["ex1"], extra=hostile.SNOOP)
    notes = restore(nb, assignment).notes
    assert any(n.startswith("review: cell") and "mentions the solutions" in n and "reads the environment" in n
               for n in notes)
    assert restore(hostile.make(assignment.student, assignment.solution, solve=["ex1"]), assignment).notes == []


def test_released_copy_accepted_after_a_visible_test_fix(tmp_path, assignment):
    from medfusion_lib.grading.assignment import accept_released

    old_copy = tmp_path / "released.ipynb"
    nbformat.write(assignment.student, str(old_copy))
    fixed = copy.deepcopy(assignment)
    fixed.accepted = {}
    for cell in (fixed.solution.cells, fixed.student.cells):
        for c in cell:
            if c.get("id") == "ex2_tests":
                c.source = c.source.replace("'mean returns a float'", "'mean must return a float'")
    submission = copy.deepcopy(assignment.student)                      # made from the old copy
    assert restore(submission, fixed).tampered == {"ex2": ["ex2_tests"]}
    accept_released(fixed, old_copy)
    assert restore(submission, fixed).tampered == {}
    with pytest.raises(ValueError, match="is it a released copy"):
        other = tmp_path / "other.ipynb"
        nbformat.write(nbformat.v4.new_notebook(), str(other))
        accept_released(fixed, other)
