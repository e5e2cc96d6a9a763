"""`medfusion bench tests` (a profile of the test suite) and `bench course`'s options."""
from __future__ import annotations

import json
import time

import psutil
import pytest

from medfusion_lib.bench import run_bench
from medfusion_lib.bench.course import cpu_burner, select
from medfusion_lib.bench.tests import profile
from medfusion_lib.errors import UserError


def test_profile_sums_phases_per_item_and_per_file():
    records = [
        {"nodeid": "tests/a.py::one", "when": "setup", "seconds": 3.0, "outcome": "passed"},
        {"nodeid": "tests/a.py::one", "when": "call", "seconds": 1.0, "outcome": "passed"},
        {"nodeid": "tests/a.py::one", "when": "teardown", "seconds": 0.5, "outcome": "passed"},
        {"nodeid": "tests/a.py::two", "when": "call", "seconds": 0.25, "outcome": "failed"},
        {"nodeid": "nb/x.ipynb::Cell 3", "when": "call", "seconds": 9.0, "outcome": "passed"},
    ]
    items, files = profile(records)
    assert [i["item"] for i in items] == ["nb/x.ipynb::Cell 3", "tests/a.py::one", "tests/a.py::two"]
    one = items[1]
    assert (one["seconds"], one["setup"], one["call"], one["teardown"]) == (4.5, 3.0, 1.0, 0.5)
    assert items[2]["outcome"] == "failed"
    assert files == [{"file": "nb/x.ipynb", "seconds": 9.0, "items": 1},
                     {"file": "tests/a.py", "seconds": 4.75, "items": 2}]


def test_bench_tests_profiles_a_real_pytest_run(tmp_path, monkeypatch):
    (tmp_path / "test_demo.py").write_text(
        "import time\n\ndef test_slow():\n    time.sleep(0.6)\n\ndef test_fast():\n    pass\n")
    monkeypatch.setenv("MEDFUSION_BENCH_TESTS", f"{tmp_path / 'test_demo.py'} -p no:cacheprovider")
    payload = json.loads(run_bench("tests", quick=True, out_dir=tmp_path / "bench").read_text())
    assert payload["returncode"] == 0, payload["output_tail"]
    names = [i["item"].split("::")[-1] for i in payload["items"]]
    assert names == ["test_slow", "test_fast"]
    assert payload["items"][0]["call"] >= 0.5
    assert payload["pytest_seconds"] <= payload["command_seconds"]


def test_course_lesson_selection():
    from pathlib import Path

    notebooks = [Path("06_cnn.ipynb"), Path("07_resnet.ipynb"), Path("14_fair.ipynb")]
    assert select(notebooks, "6, 14") == [notebooks[0], notebooks[2]]
    assert select(notebooks, None) == notebooks
    with pytest.raises(UserError, match="no lesson numbered 99"):
        select(notebooks, "99")


def test_busy_burner_burns_cpu_and_is_stopped():
    with cpu_burner(True) as burner:
        process = psutil.Process(burner.pid)
        before = process.cpu_times().user
        time.sleep(1.0)
        assert process.cpu_times().user > before + 0.1  # it really computes (even on a loaded machine)
    assert burner.poll() is not None  # stopped and reaped when the block ends
    with cpu_burner(False) as nothing:
        assert nothing is None


def test_an_option_a_benchmark_does_not_take_is_refused(tmp_path):
    with pytest.raises(UserError, match="takes no option --busy"):
        run_bench("data", quick=True, out_dir=tmp_path, busy=True)
