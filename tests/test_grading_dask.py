"""`--dask SCHEDULER_ADDRESS`: the same grading fanned out on a Dask cluster (a LocalCluster of processes)."""
from __future__ import annotations

import pytest

from grading_helpers import hostile, needs_sandbox, statuses
from medfusion_lib.cli import main as cli_main
from medfusion_lib.grading.assignment import load_assignment

pytestmark = needs_sandbox


def test_grade_on_a_local_dask_cluster(tmp_path, capsys):
    # imported here, not at collection: every pytest worker collects this file, one runs it (distributed: ~1.5 s)
    distributed = pytest.importorskip("distributed")
    hostile.fixture_assignment(tmp_path / "solutions")
    assignment = load_assignment("99_fixture", tmp_path / "solutions")
    expected = hostile.write_class(assignment, tmp_path / "class", hostile.FIXTURE_WRONG,
                                   only=["solution", "untouched", "partial"])
    # one worker process: the submissions still travel to another process and back (pickled with the assignment);
    # a second worker would only cost another interpreter importing distributed and the grader (~8 CPU-s)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        rc = cli_main(["grade", "99_fixture", str(tmp_path / "class"), "--solutions", str(tmp_path / "solutions"),
                       "--out", str(tmp_path / "out"), "--dask", cluster.scheduler_address, "--no-progress"])
    assert rc == 0
    assert statuses(tmp_path / "out") == expected
    assert len(list((tmp_path / "out" / "feedback").glob("*.html"))) == len(expected)


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("distributed")
    hostile.fixture_assignment(tmp_path / "solutions")
    assignment = load_assignment("99_fixture", tmp_path / "solutions")
    hostile.write_class(assignment, tmp_path / "class", only=["untouched"])
    rc = cli_main(["grade", "99_fixture", str(tmp_path / "class"), "--solutions", str(tmp_path / "solutions"),
                   "--out", str(tmp_path / "out"), "--dask", "tcp://127.0.0.1:9", "--no-progress"])
    assert rc == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    # checked before anything ran: no reference run, no tables
    assert not (tmp_path / "out" / "grades.csv").exists() and not (tmp_path / "out" / ".kernel-caches").exists()
