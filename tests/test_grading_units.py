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
    (b'{"nbformat": 3, "nbformat_minor": 0, "metadata": {}}', "nbformat 3 notebook without its worksheets"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": ' + b"[" * 5000 + b"]" * 5000 + b'}, "cells": []}',
     "nested"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": ' + b"[" * 100 + b"]" * 100 + b'}, "cells": []}',
     "nested more than 64 levels"),
])
def test_invalid_submissions_say_what_is_wrong(data, message):
    with pytest.raises(InvalidSubmission, match=message):
        parse_submission(data)


def test_nbformat_3_is_converted():
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": [], "metadata": {}}],
        "metadata": {}}]}
    nb = parse_submission(json.dumps(v3).encode())
    assert nb.nbformat == 4 and nb.cells[0].source == "x = 1"


def test_broken_widget_state_is_dropped_not_an_error():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m": {"model_name": "X"}}}}
    assert "widgets" not in parse_submission(nbformat.writes(nb).encode()).metadata


def test_missing_graded_cells_are_invalid(assignment):
    nb = hostile.make(assignment.student, assignment.solution, drop_tests=True)
    with pytest.raises(InvalidSubmission, match="graded cells missing: ex1_tests"):
        restore(nb, assignment)


def test_restore_runs_probes_only_hidden_ones_last_and_flags_edits(assignment):
    nb = hostile.make(assignment.student, assignment.solution, solve=["ex1"], edit_test="assert True")
    nb.cells[-1].metadata["nbgrader"]["points"] = 100          # a student "awards" more points
    restored = restore(nb, assignment)
    assert restored.tampered == {"ex1": ["ex1_tests"]}
    cells = restored.notebook.cells
    roles = [(c.metadata.get(RUN_KEY, {}).get("role"), c.metadata.get(RUN_KEY, {}).get("hidden")) for c in cells]
    first_hidden = roles.index(("probe", True))
    # every hidden probe comes after every cell the student wrote
    assert all(role not in (None, "solution") for role, _ in roles[first_hidden:])
    assert all(hidden for role, hidden in roles[first_hidden:] if role in ("probe", "capture"))
    text = "\n".join(c.source for c in cells)
    # the checks (visible and hidden) never enter the kernel; the probes do
    assert "add(2, 3 + VARIANT)" in text and "expected.two_three" not in text and "### CHECKS" not in text
    assert max(c.metadata.get("nbgrader", {}).get("points", 0) for c in cells) == 2


def test_solution_notebook_itself_is_not_tampering(assignment):
    assert restore(copy.deepcopy(assignment.solution), assignment).tampered == {}


def test_deleted_read_only_cell_is_put_back(assignment):
    nb = copy.deepcopy(assignment.student)
    nb.cells = [c for c in nb.cells if c.id != "imports"]
    restored = restore(nb, assignment)
    assert any(c.source.startswith("import math") for c in restored.notebook.cells)
    assert any("imports was deleted" in n for n in restored.notes)


def test_student_cells_cannot_claim_to_be_graded(assignment):
    nb = copy.deepcopy(assignment.student)
    fake = copy.deepcopy(nb.cells[4])                 # a copy of a test cell: same grade id
    fake.id = "copy"
    fake.source = "print('mine')"
    nb.cells.append(fake)
    restored = restore(nb, assignment)
    mine = [c for c in restored.notebook.cells if c.source == "print('mine')"]
    assert len(mine) == 1 and "nbgrader" not in mine[0].metadata


def _executed(assignment, replies: dict[str, dict]):
    """A restored notebook whose cells carry fake kernel replies: {cell source prefix: reply}."""
    nb = restore(copy.deepcopy(assignment.solution), assignment).notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            meta = cell.metadata.setdefault(RUN_KEY, {})
            meta["reply"] = {"status": "ok"}
            for prefix, reply in replies.items():
                if prefix in cell.source:
                    meta.update(reply)
    return nb


PASS = {"visible": True, "hidden": True, "message": ""}


def test_status_rules(assignment):
    nb = _executed(assignment, {
        "def add": {"reply": {"status": "error", "ename": "MemoryError", "evalue": ""}},
        "one_two = mean(": {"reply": {"status": "error", "ename": "TypeError", "evalue": "boom"}},
        "two = area(2.0)": {"reply": {"status": "error", "ename": "ValueError", "evalue": "secret 12.5"}},
    })
    outcomes = {"ex1_tests": PASS, "ex2_tests": {"visible": False, "hidden": False, "message": "x"},
                "ex3_tests_type": PASS, "ex3_tests_values": {"visible": True, "hidden": False, "message": ""}}
    results = {r.exercise: r for r in score_exercises(nb, assignment, {}, outcomes)}
    assert results["ex1"].status == "killed"
    assert results["ex2"].status == "error" and "TypeError: boom" in results["ex2"].message
    assert results["ex3"].points == 1 and results["ex3"].tests[1].hidden is False
    assert "secret" not in results["ex3"].message                  # errors after the hidden probes: not quoted


def test_points_come_from_the_judge_not_the_kernel(assignment):
    nb = _executed(assignment, {})                                  # every cell replied "ok"
    failing = {"visible": False, "hidden": False, "message": "add returns an int"}
    results = {r.exercise: r for r in score_exercises(nb, assignment, {}, {"ex1_tests": failing})}
    assert all(r.points == 0 for r in results.values())
    assert results["ex1"].status == "failed" and results["ex1"].message == "add returns an int"


def test_tampered_scores_zero(assignment):
    nb = _executed(assignment, {})
    outcomes = {gid: PASS for gid in ("ex1_tests", "ex2_tests", "ex3_tests_type", "ex3_tests_values")}
    results = {r.exercise: r for r in score_exercises(nb, assignment, {"ex2": ["ex2_tests"]}, outcomes)}
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
    (tmp_path / "flat" / "..ipynb").write_text(text)
    (tmp_path / "flat" / "x.ipynb").mkdir()
    (tmp_path / "flat" / "notes.txt").write_text("hi")
    skipped = []
    found = discover([tmp_path / "flat", tmp_path / "nested", tmp_path / "carol.ipynb"], "00_warmup", skipped)
    assert [s for s, _ in found] == ["alice", "bob", "carol"]
    reasons = {p.name: why for p, why in skipped}
    assert reasons[".ipynb_checkpoints"] == "Jupyter's checkpoint folder"
    assert "dot" in reasons["..ipynb"] and "folder named like a notebook" in reasons["x.ipynb"]
    assert reasons["notes.txt"] == "not a .ipynb file" and "is graded for this student" in reasons["scratch.ipynb"]
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


# --------------------------------------------------------------------------- plain data, judge, store

def test_plain_data_round_trip_flattens_subclasses():
    import numpy as np
    import pandas as pd
    import torch

    from medfusion_lib.grading.plaindata import Opaque, decode, encode

    class Liar(float):
        def __eq__(self, other):
            return True

    class Sneaky(np.ndarray):
        def __array_function__(self, *args, **kwargs):
            return True

    class SneakyFrame(pd.DataFrame):
        @property
        def _constructor(self):
            return SneakyFrame

        def to_numpy(self, *args, **kwargs):
            return np.zeros((2, 2))

    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]}, index=pd.Index(["r1", "r2"], name="site"))
    sneaky = SneakyFrame({"a": [1.0, 2.0]})
    values = {"liar": Liar(2.0), "arr": np.arange(6.0).reshape(2, 3).view(Sneaky), "frame": frame,
              "series": frame["a"], "tensor": torch.ones(2, 2), "nested": [(1, "a"), {"k": {1, 2}}],
              "inf": float("inf"), "f": lambda: 1, "np_int": np.int64(3), "sneaky": sneaky}
    back = {k: decode(json.loads(json.dumps(encode(v)))) for k, v in values.items()}
    assert type(back["liar"]) is float and back["liar"] != 3.0
    assert type(back["arr"]) is np.ndarray and not np.allclose(back["arr"], 0)
    assert type(back["frame"]) is pd.DataFrame and back["frame"].equals(frame)
    assert type(back["series"]) is pd.Series and back["series"].index.name == "site"
    assert type(back["tensor"]) is torch.Tensor and back["tensor"].sum() == 4
    assert back["nested"] == [(1, "a"), {"k": {1, 2}}] and back["inf"] == float("inf")
    assert isinstance(back["f"], Opaque) and back["f"] != back["f"] and type(back["np_int"]) is int
    assert type(back["sneaky"]) is pd.DataFrame and back["sneaky"].to_numpy().tolist() == [[1.0], [2.0]]


@pytest.mark.parametrize("payload", [
    {"$": "ndarray", "dtype": "object", "shape": [1], "v": [{"$": "pickle", "b64": "gASV"}]},
    {"$": "ndarray", "dtype": "|O", "shape": [1], "b64": "AAAAAAAAAAA="},
    {"$": "ndarray", "dtype": "<f8", "shape": [10**9], "b64": ""},
    {"$": "ndarray", "dtype": "<f8", "shape": [2], "b64": "AAAAAAAAAAA="},
])
def test_plain_data_refuses_what_is_not_plain(payload):
    from medfusion_lib.grading.plaindata import PlainDataError, decode

    with pytest.raises(PlainDataError):
        decode(payload)


def test_judge_runs_checks_on_plain_data_with_the_reference():
    from medfusion_lib.grading.judge import judge_submission
    from medfusion_lib.grading.plaindata import encode

    tests = [{"grade_id": "t", "checks": "assert isinstance(x, float), 'a float'",
              "hidden_checks": "assert x == expected.x", "visible": ["x"], "hidden": []}]
    capture = lambda value: {"t": {"values": {"x": encode(value)}, "missing": [], "failed": {}}}  # noqa: E731
    reference = capture(2.5)
    assert judge_submission(tests, capture(2.5), reference)["t"] == {"visible": True, "hidden": True, "message": ""}
    assert judge_submission(tests, capture(9.0), reference)["t"]["hidden"] is False
    assert judge_submission(tests, capture("2.5"), reference)["t"]["message"] == "a float"
    missing = judge_submission(tests, {}, reference)["t"]
    assert missing["visible"] is False and "`x` was not produced" in missing["message"]


def test_judge_checks_use_pandas_although_it_is_imported_only_when_needed():
    import pandas as pd

    from medfusion_lib.grading.judge import judge_submission
    from medfusion_lib.grading.plaindata import encode

    tests = [{"grade_id": "t", "checks": "assert isinstance(df, pd.DataFrame), 'a DataFrame'\n"
                                         "pd.testing.assert_frame_equal(df, expected.df)",
              "hidden_checks": "", "visible": ["df"], "hidden": []}]
    capture = lambda value: {"t": {"values": {"df": encode(value)}, "missing": [], "failed": {}}}  # noqa: E731
    frame = pd.DataFrame({"age": [61, 47], "site": ["A", "B"]})
    reference = capture(frame)
    assert judge_submission(tests, capture(frame), reference)["t"] == {"visible": True, "hidden": None, "message": ""}
    assert judge_submission(tests, capture(frame.assign(age=[61, 48])), reference)["t"]["visible"] is False
    assert judge_submission(tests, capture([61, 47]), reference)["t"]["message"] == "a DataFrame"


def test_forged_result_file_is_treated_as_absent(tmp_path, assignment):
    from medfusion_lib.grading.limits import Limits
    from medfusion_lib.grading.results import ExerciseResult, SubmissionResult
    from medfusion_lib.grading.store import cache_key, load_cached, load_key, result_path, save_result

    key = load_key(tmp_path)
    assert (tmp_path / ".grader-key").stat().st_mode & 0o077 == 0
    cache = cache_key("sha", assignment, Limits())
    result = SubmissionResult("amy", "99_fixture", "sha", [ExerciseResult("ex1", 0.0, 2.0, "failed")])
    save_result(tmp_path, result, cache, "<html>", key)
    assert load_cached(tmp_path, "amy", cache, key)[0].points == 0
    path = result_path(tmp_path, "amy")
    path.write_text(path.read_text().replace('"points": 0.0', '"points": 2.0'))
    cached, problem = load_cached(tmp_path, "amy", cache, key)
    assert cached is None and "failed its authentication tag" in problem


def test_csv_cells_cannot_be_formulas(tmp_path):
    from medfusion_lib.grading.results import ExerciseResult, SubmissionResult
    from medfusion_lib.grading.store import write_tables

    bad = SubmissionResult("-bob", "a", "s", [ExerciseResult("ex1", 0.0, 1.0, "error", '=HYPERLINK("http://x")')],
                           notes=["@SUM(A1)"])
    grades, summary = write_tables(tmp_path, [bad])
    assert "'=HYPERLINK" in grades.read_text() and "'-bob" in grades.read_text()
    assert "'@SUM" in summary.read_text()


@pytest.mark.parametrize("field, value", [("timeout", float("nan")), ("timeout", float("inf")),
                                          ("cell_timeout", 0), ("memory_mb", -1), ("cpu_seconds", float("nan"))])
def test_limits_refuse_nan_inf_and_non_positive(field, value):
    from medfusion_lib.grading.limits import Limits

    with pytest.raises(ValueError, match="finite positive number"):
        Limits(**{field: value})


def test_interrupted_batch_keeps_what_was_graded_and_resumes(tmp_path, assignment, monkeypatch):
    from medfusion_lib.grading import batch
    from medfusion_lib.grading.limits import Limits
    from medfusion_lib.grading.results import ExerciseResult, SubmissionResult

    monkeypatch.setattr("medfusion_lib.grading.bwrap.require_bwrap", lambda: "bwrap")
    monkeypatch.setattr("medfusion_lib.grading.bwrap.sandbox_available", lambda: True)
    monkeypatch.setattr("medfusion_lib.grading.grade.reference_evidence", lambda *a, **k: {})
    calls = []

    def fake_grade(student, data, assignment, limits, **options):
        calls.append(student)
        if student == "bob" and len(calls) == 2:
            raise KeyboardInterrupt
        return SubmissionResult(student, assignment.name, "sha", [ExerciseResult("ex1", 1.0, 2.0, "failed")])

    monkeypatch.setattr(batch, "grade_submission", fake_grade)
    for name in ("amy", "bob", "cat"):
        (tmp_path / f"{name}.ipynb").write_text(name)
    subs = batch.discover([tmp_path], "99_fixture")
    report = batch.grade_batch(assignment, subs, tmp_path / "out", Limits(), progress=False)
    assert report.interrupted and report.graded == ["amy"]
    assert "amy" in (tmp_path / "out" / "grades.csv").read_text()
    report = batch.grade_batch(assignment, subs, tmp_path / "out", Limits(), progress=False)
    assert not report.interrupted and report.skipped == ["amy"] and sorted(report.graded) == ["bob", "cat"]


def test_kernels_use_ipc_and_the_sandbox_binds_no_solutions(tmp_path):
    from medfusion_lib.config import repo_root
    from medfusion_lib.grading.bwrap import read_only_paths
    from medfusion_lib.grading.kernel import limited_kernel_manager
    from medfusion_lib.grading.limits import Limits

    manager = limited_kernel_manager(Limits(), tmp_path)()
    assert manager.transport == "ipc" and manager.ip.startswith(str(tmp_path))   # no TCP, no warning about it
    assert manager.env["MPLBACKEND"] == "Agg" and "MEDFUSION_GRADER_KEY" not in manager.env
    bound = read_only_paths()
    root = repo_root().resolve()
    assert root not in bound and not any(p == root / "solutions" or root / "solutions" in p.parents for p in bound)
    assert (root / "medfusion_lib") in bound
