"""`medfusion bench tests` (a profile of the test suite) and `bench course`'s options."""
from __future__ import annotations

import json
import time

import psutil
import pytest

from medfusion_lib.bench import run_bench
from medfusion_lib.bench.course import cpu_burner, select
from medfusion_lib.bench.tests import fresh_kernels, kernel_cpu, profile, worker_profile
from medfusion_lib.errors import UserError


def test_profile_sums_phases_per_item_and_per_file():
    records = [
        {"nodeid": "tests/a.py::one", "when": "setup", "seconds": 3.0, "outcome": "passed"},
        {"nodeid": "tests/a.py::one", "when": "call", "seconds": 1.0, "outcome": "passed", "cpu_s": 2.0},
        {"nodeid": "tests/a.py::one", "when": "teardown", "seconds": 0.5, "outcome": "passed"},
        {"nodeid": "tests/a.py::two", "when": "call", "seconds": 0.25, "outcome": "failed"},
        {"nodeid": "nb/x.ipynb::Cell 3", "when": "call", "seconds": 9.0, "outcome": "passed", "cpu_s": 0.5},
    ]
    items, files = profile(records)
    assert [i["item"] for i in items] == ["nb/x.ipynb::Cell 3", "tests/a.py::one", "tests/a.py::two"]
    one = items[1]
    assert (one["seconds"], one["setup"], one["call"], one["teardown"]) == (4.5, 3.0, 1.0, 0.5)
    assert one["cpu_s"] == 2.0  # a record without CPU (an older profile) counts as none
    assert items[2]["outcome"] == "failed"
    assert files == [{"file": "nb/x.ipynb", "seconds": 9.0, "cpu_s": 0.5, "items": 1},
                     {"file": "tests/a.py", "seconds": 4.75, "cpu_s": 2.0, "items": 2}]


def test_worker_profile_finds_the_idle_tail():
    records = [
        {"nodeid": "a::1", "when": "call", "seconds": 4, "outcome": "passed", "worker": "gw0", "start": 100, "stop": 104},
        {"nodeid": "a::2", "when": "call", "seconds": 2, "outcome": "passed", "worker": "gw0", "start": 104, "stop": 106},
        {"nodeid": "b::1", "when": "call", "seconds": 15, "outcome": "passed", "worker": "gw1", "start": 101,
         "stop": 116},
    ]
    out = worker_profile(records)
    assert out["workers"]["gw0"] == {"busy_s": 6.0, "first_s": 0.0, "last_s": 6.0}
    assert out["workers"]["gw1"] == {"busy_s": 15.0, "first_s": 1.0, "last_s": 16.0}
    assert out["idle_tail_s"] == 10.0  # gw0 ran out of work at 6 s and waited for gw1 until 16 s
    assert worker_profile([{"nodeid": "x", "when": "call", "seconds": 1, "outcome": "passed"}]) == \
        {"workers": {}, "idle_tail_s": 0.0}


def test_bench_tests_profiles_a_real_pytest_run(tmp_path, monkeypatch):
    (tmp_path / "test_demo.py").write_text(
        "import time\n\ndef test_slow():\n    time.sleep(0.6)\n\ndef test_fast():\n    pass\n\n"
        "def test_busy():\n    end = time.process_time() + 0.4\n    while time.process_time() < end:\n        pass\n\n"
        "def test_spawns():  # a child that burns CPU and exits, left unreaped (as a finished kernel can be)\n"
        "    import subprocess, sys, psutil\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time\\nend = time.process_time() + 0.4\\n"
        "while time.process_time() < end: pass'])\n"
        "    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:\n"
        "        time.sleep(0.02)\n"
        "    test_spawns.child = child  # keeps subprocess from reaping it\n\n"
        "def test_zz_after():\n    import subprocess, sys\n    subprocess.run([sys.executable, '-c', 'pass'])\n")
    monkeypatch.setenv("MEDFUSION_BENCH_TESTS", f"{tmp_path / 'test_demo.py'} -p no:cacheprovider")
    payload = json.loads(run_bench("tests", quick=True, out_dir=tmp_path / "bench").read_text())
    assert payload["returncode"] == 0, payload["output_tail"]
    names = [i["item"].split("::")[-1] for i in payload["items"]]
    assert sorted(names) == ["test_busy", "test_fast", "test_slow", "test_spawns", "test_zz_after"]
    calls = {i["item"].split("::")[-1]: i["call"] for i in payload["items"]}
    assert calls["test_slow"] >= 0.5 and calls["test_slow"] > calls["test_fast"]
    cpu = {i["item"].split("::")[-1]: i["cpu_s"] for i in payload["items"]}
    assert cpu["test_busy"] >= 0.35 and cpu["test_slow"] < 0.3  # sleeping is wall time, not CPU
    assert cpu["test_spawns"] >= 0.35  # the child's CPU counts for the test that ran it ...
    assert cpu["test_zz_after"] < cpu["test_spawns"] - 0.2  # ... not for the later one that reaps it
    assert payload["pytest_seconds"] <= payload["command_seconds"]
    assert payload["workers"]["main"]["busy_s"] >= 0.5 and payload["idle_tail_s"] == 0.0
    # the whole machine's CPU, which also counts what nobody reaps: at least the busy loops above
    assert payload["machine_busy_cpu_seconds"] >= 0.7
    assert payload["tests_cpu_seconds"] == pytest.approx(sum(cpu.values()), abs=0.1)
    assert payload["fresh_kernels"] == []


def test_kernels_that_started_fresh_are_listed_apart_from_the_preloaded_ones_cpu(tmp_path):
    ledger = tmp_path / "kernels.jsonl"
    ledger.write_text('{"nodeid": "nb/a.ipynb::Cell 0", "cpu_s": 1.5}\n'
                      '{"nodeid": "tests/t.py::x", "fresh": "import-time environment differs: PYTHONHASHSEED"}\n'
                      '{"nodeid": "nb/a.ipynb::Cell 0", "cpu_s": 0.5}\n')
    assert kernel_cpu(ledger) == {"nb/a.ipynb::Cell 0": 2.0}
    assert fresh_kernels(ledger) == [{"nodeid": "tests/t.py::x",
                                      "fresh": "import-time environment differs: PYTHONHASHSEED"}]
    assert fresh_kernels(tmp_path / "none.jsonl") == []


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


def test_conftest_runs_the_costliest_files_first_and_keeps_cell_order(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parents[1] / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    costs = tmp_path / "file_costs.json"
    costs.write_text(json.dumps({"nb/slow.ipynb": 50.0, "tests/a.py": 1.0, "tests/b.py": 3.0}))
    monkeypatch.setattr(root_conftest, "COSTS", costs)
    ids = ["tests/a.py::x", "tests/new.py::y", "nb/slow.ipynb::Cell 0", "nb/slow.ipynb::Cell 1", "tests/b.py::z"]
    items = [SimpleNamespace(nodeid=i) for i in ids]
    root_conftest.pytest_collection_modifyitems(None, items)
    # unknown files get the median cost (3.0); the sort is stable, so a notebook's cells stay in order
    assert [i.nodeid for i in items] == ["nb/slow.ipynb::Cell 0", "nb/slow.ipynb::Cell 1", "tests/new.py::y",
                                         "tests/b.py::z", "tests/a.py::x"]
