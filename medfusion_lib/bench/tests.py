"""``medfusion bench tests``: a profile of ``make test`` — per test, per notebook cell and per file.

Full mode runs ``make test`` itself (the same command CI runs, quick-mode notebooks, ``-n $WORKERS``) with this
module loaded as a pytest plugin (``-p medfusion_lib.bench.tests``: the ``pytest_*`` hooks below) that records every
test phase's duration and CPU seconds (the worker's own and its descendants', kernels included; a preloaded kernel,
forked by the run's kernel zygote, is charged from the zygote's ledger to the test that started it — a notebook's
first cell, so per-cell CPU of notebooks is not split) in the file ``MEDFUSION_TEST_TIMES`` names (under xdist the
workers' reports reach the main process, so one file holds the whole run); the table lists the slowest items (setup +
call + teardown, so a session fixture's cost shows on the first test that needs it), the slowest files and the files
that used the most CPU. On two cores CPU is the budget: an item's wall time also counts the time it waited for a core
while the other workers ran. Processes whose parent is gone before they end (Flower's SuperExec and ServerApp) or that
die with a sandbox (the grader's kernels) reach no test's count: the TOTAL line sets the tests' CPU beside the whole
machine's (736 of 1,136 CPU-s in one profile; process accounting, ``accton``, charged the Flower deployment 86 CPU-s
where its test showed 23). ``--quick`` profiles a few fast test files instead (a smoke test of the benchmark itself).
``MEDFUSION_BENCH_TESTS="pytest args"`` profiles any other selection with pytest directly.

``--save-costs`` (after a passing full run) writes each file's seconds to ``tests/file_costs.json``: the repository's
conftest orders the next runs by it, slowest file first, so the workers finish together.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from medfusion_lib.config import repo_root

PLUGIN = "medfusion_lib.bench.tests"
TIMES_ENV = "MEDFUSION_TEST_TIMES"
#: Where the test run's kernel zygote (tools/kernel_zygote.py) notes each preloaded kernel's CPU seconds and the test
#: that started it: those kernels are the zygote's children, not the worker's, so the worker cannot count them.
KERNEL_LEDGER_ENV = "MEDFUSION_KERNEL_LEDGER"
#: xdist's variables: a profile started from inside a test (the benchmark's own test) must not look like a worker
XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")
_records: list[dict] = []
_started = time.time()
_cpu_seen = [0.0]


def _cpu_so_far() -> float:
    """CPU seconds of this process and all its descendants so far: those reaped (``RUSAGE_CHILDREN``) plus those
    still running or exited but not yet reaped (read live with psutil). Without the second part a notebook's kernel
    would be charged to whichever later test happened to reap it."""
    import resource

    import psutil

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    for process in psutil.Process().children(recursive=True):
        try:  # a descendant's reaped children are in its children_*; live ones are listed themselves
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:  # gone between listing and reading: its time moves to its parent's children_*
            pass
    return total


def pytest_runtest_logstart(nodeid, location) -> None:
    """Plugin hook: an item starts; what ran before it (collection, start-up) is nobody's test."""
    _cpu_seen[0] = _cpu_so_far()


@pytest.hookimpl(tryfirst=True)  # before pytest's own makereport copies user_properties into the report
def pytest_runtest_makereport(item, call):
    """Plugin hook (every process, workers included): note the CPU this process and its reaped children used since
    the item started or since its previous phase. It travels to the main process in ``user_properties``, which
    xdist serialises."""
    now = _cpu_so_far()
    item.user_properties.append(("cpu_s", round(now - _cpu_seen[0], 3)))
    _cpu_seen[0] = now


def pytest_runtest_logreport(report) -> None:
    """Plugin hook: keep each phase's duration (in the main process only; xdist forwards the workers' reports)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "main")  # xdist: gw0, gw1
    cpu = [value for name, value in getattr(report, "user_properties", ()) if name == "cpu_s"]
    _records.append({"nodeid": report.nodeid, "when": report.when, "seconds": round(report.duration, 4),
                     "cpu_s": cpu[-1] if cpu else 0.0,
                     "outcome": report.outcome, "worker": worker,
                     "start": getattr(report, "start", None), "stop": getattr(report, "stop", None)})


def pytest_sessionfinish(session, exitstatus) -> None:
    """Plugin hook: write the durations to ``$MEDFUSION_TEST_TIMES``."""
    path = os.environ.get(TIMES_ENV)
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"exitstatus": int(exitstatus), "wall_seconds": round(time.time() - _started, 3),
                   "records": _records}, handle)
QUICK_SELECTION = ("tests/test_claims.py", "tests/test_evaluation.py")
TOP = 15
#: Per-file seconds of the last saved profile; conftest.py orders test files by it.
COSTS_FILE = "tests/file_costs.json"


def _command(quick: bool) -> list[str]:
    selection = os.environ.get("MEDFUSION_BENCH_TESTS")
    if selection:
        return [sys.executable, "-m", "pytest", "-q", *shlex.split(selection)]
    if quick:
        return [sys.executable, "-m", "pytest", "-q", *QUICK_SELECTION]
    return ["make", "--no-print-directory", "test"]


def kernel_cpu(ledger: Path) -> dict[str, float]:
    """``{test id: CPU seconds}`` of the preloaded kernels each test started, from the zygote's ledger."""
    cpu: dict[str, float] = defaultdict(float)
    if ledger.is_file():
        for line in ledger.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if "cpu_s" in entry:
                cpu[entry["nodeid"]] += entry["cpu_s"]
    return dict(cpu)


def fresh_kernels(ledger: Path) -> list[dict]:
    """``[{"nodeid", "fresh": why}]``: kernels of a preloaded run that started fresh instead (each costs seconds of
    imports; e.g. a test had changed an import-time variable such as PYTHONHASHSEED)."""
    if not ledger.is_file():
        return []
    entries = [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines()]
    return [e for e in entries if "fresh" in e]


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy since boot (Linux ``/proc/stat``), or None elsewhere. Unlike the
    children's CPU it also counts processes nobody waits for: sandboxed kernels killed with their sandbox, and
    daemons (Ray, Flower) that outlive their parent."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user


def profile(records: list[dict], kernels: dict[str, float] | None = None) -> tuple[list[dict], list[dict]]:
    """Items (one per test id, phases summed, plus the CPU of the preloaded kernels they started: ``kernels``)
    and files (items summed per file), slowest first."""
    items: dict[str, dict] = {}
    for record in records:
        item = items.setdefault(record["nodeid"], {"item": record["nodeid"], "seconds": 0.0, "setup": 0.0,
                                                   "call": 0.0, "teardown": 0.0, "cpu_s": 0.0, "outcome": "passed"})
        item["seconds"] += record["seconds"]
        item["cpu_s"] += record.get("cpu_s", 0.0)
        item[record["when"]] += record["seconds"]
        if record["outcome"] != "passed" and (record["when"] == "call" or record["outcome"] == "failed"):
            item["outcome"] = record["outcome"]
    for nodeid, cpu_s in (kernels or {}).items():
        if nodeid in items:
            items[nodeid]["cpu_s"] += cpu_s
    files: dict[str, dict] = defaultdict(lambda: {"seconds": 0.0, "cpu_s": 0.0, "items": 0})
    for item in items.values():
        entry = files[item["item"].split("::")[0]]
        entry["seconds"] += item["seconds"]
        entry["cpu_s"] += item["cpu_s"]
        entry["items"] += 1
    by_time = lambda row: -row["seconds"]  # noqa: E731
    item_rows = sorted(({**v, **{k: round(v[k], 2) for k in ("seconds", "setup", "call", "teardown", "cpu_s")}}
                        for v in items.values()), key=by_time)
    file_rows = sorted(({"file": name, "seconds": round(v["seconds"], 2), "cpu_s": round(v["cpu_s"], 2),
                         "items": v["items"]}
                        for name, v in files.items()), key=by_time)
    return item_rows, file_rows


def worker_profile(records: list[dict]) -> dict:
    """Per xdist worker: seconds busy in tests, when it started and stopped (seconds after the first test began),
    and ``idle_tail_s``: how long the first worker to run out of work waited for the last one — the part of the
    wall time that a better order of the test files could win back."""
    timed = [r for r in records if r.get("start") is not None and r.get("stop") is not None]
    if not timed:
        return {"workers": {}, "idle_tail_s": 0.0}
    origin = min(r["start"] for r in timed)
    workers: dict[str, dict] = {}
    for record in timed:
        entry = workers.setdefault(record.get("worker", "main"), {"busy_s": 0.0, "first_s": float("inf"),
                                                                  "last_s": 0.0})
        entry["busy_s"] += record["stop"] - record["start"]
        entry["first_s"] = min(entry["first_s"], record["start"] - origin)
        entry["last_s"] = max(entry["last_s"], record["stop"] - origin)
    ends = [w["last_s"] for w in workers.values()]
    return {"workers": {k: {key: round(v, 2) for key, v in w.items()} for k, w in sorted(workers.items())},
            "idle_tail_s": round(max(ends) - min(ends), 2)}


def write_costs(files: list[dict], path: Path) -> None:
    """Write ``{file: seconds}``, slowest first, to ``path`` (atomically)."""
    from medfusion_lib.atomic import atomic_write_text

    costs = {f["file"]: f["seconds"] for f in sorted(files, key=lambda f: -f["seconds"])}
    atomic_write_text(path, json.dumps(costs, indent=1) + "\n")


def run(quick: bool = False, save_costs: bool = False):
    root = repo_root()
    with tempfile.TemporaryDirectory(prefix="medfusion-bench-tests-") as tmp:
        times, ledger = Path(tmp) / "times.json", Path(tmp) / "kernels.jsonl"
        addopts = os.environ.get("PYTEST_ADDOPTS", "")
        env = {**{k: v for k, v in os.environ.items() if k not in XDIST_ENV}, TIMES_ENV: str(times),
               KERNEL_LEDGER_ENV: str(ledger),
               "MEDFUSION_QUICK": "1", "MEDFUSION_PROGRESS": "0",
               "PYTEST_ADDOPTS": addopts if f"-p {PLUGIN}" in addopts else f"{addopts} -p {PLUGIN}".strip()}
        command = _command(quick)
        load_before = os.getloadavg()
        started, cpu_before, busy_before = time.perf_counter(), os.times(), machine_busy_seconds()
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        cpu_after, busy_after = os.times(), machine_busy_seconds()
        if not times.is_file():
            raise RuntimeError(f"{' '.join(command)} wrote no timings (exit {done.returncode}):\n"
                               f"{(done.stdout + done.stderr)[-2000:]}")
        result = json.loads(times.read_text())
        kernels, fresh = kernel_cpu(ledger), fresh_kernels(ledger)
    items, files = profile(result["records"], kernels)
    failed = [i["item"] for i in items if i["outcome"] == "failed"]
    rows = [{"rank": n + 1, "kind": "item", "name": i["item"], "seconds": i["seconds"], "setup": i["setup"],
             "cpu_s": i["cpu_s"]} for n, i in enumerate(items[:TOP])]
    rows += [{"rank": n + 1, "kind": "file", "name": f["file"], "seconds": f["seconds"], "setup": None,
              "cpu_s": f["cpu_s"]} for n, f in enumerate(files[:TOP])]
    # CPU is what two cores run out of: the files that cost the most of it, whatever their wall time
    rows += [{"rank": n + 1, "kind": "file cpu", "name": f["file"], "seconds": f["seconds"], "setup": None,
              "cpu_s": f["cpu_s"]} for n, f in enumerate(sorted(files, key=lambda f: -f["cpu_s"])[:TOP])]
    costs_saved = bool(save_costs and not quick and done.returncode == 0)
    if costs_saved:
        write_costs(files, root / COSTS_FILE)
    elif save_costs:  # the profile is still worth printing; only the ordering file waits for a full, passing run
        print(f"--save-costs: {COSTS_FILE} left as it was (it needs a full run that passes; this one "
              f"{'was quick' if quick else f'exited {done.returncode}'})", file=sys.stderr)
    rows += [{"kind": "FAILED", "name": name} for name in failed]
    rows += [{"kind": "fresh kernel", "name": f"{k['nodeid']}: {k['fresh']}"} for k in fresh]
    busy = worker_profile(result["records"])
    tests_cpu = round(sum(i["cpu_s"] for i in items), 1)
    machine_cpu = (round(busy_after - busy_before, 1)
                   if busy_before is not None and busy_after is not None else None)
    rows += [{"kind": "worker", "name": f"{name}: busy {w['busy_s']:.0f} s, last test ended at {w['last_s']:.0f} s",
              "seconds": w["busy_s"]} for name, w in busy["workers"].items()]
    rows.append({"kind": "TOTAL", "name": f"{len(items)} items; command {wall:.0f} s, pytest "
                                          f"{result['wall_seconds']:.0f} s; idle tail {busy['idle_tail_s']:.0f} s; "
                                          + f"tests {tests_cpu:.0f} CPU-s"
                                          + (f" of the machine's {machine_cpu:.0f}; " if machine_cpu is not None
                                             else "; ")
                                          + f"exit {done.returncode}",
                 "seconds": round(wall, 1)})
    payload = {
        "command": command,
        "returncode": done.returncode,
        "command_seconds": round(wall, 2),
        "pytest_seconds": result["wall_seconds"],
        "preloaded_kernels_cpu_seconds": round(sum(kernels.values()), 1),
        "children_cpu_seconds": round((cpu_after.children_user - cpu_before.children_user)
                                      + (cpu_after.children_system - cpu_before.children_system), 1),
        # everything the machine ran meanwhile (other users' work too): what two cores really spent
        "machine_busy_cpu_seconds": machine_cpu,
        # the items' CPU summed; the machine's CPU minus this is what no test is charged with: start-up and
        # collection, and processes nobody reaps (Flower's detached SuperExec and ServerApp, sandboxed kernels)
        "tests_cpu_seconds": tests_cpu,
        "fresh_kernels": fresh,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "items": items,
        "files": files,
        **worker_profile(result["records"]),
        "failed": failed,
        "costs_saved": costs_saved,
        "output_tail": (done.stdout + done.stderr)[-3000:],
    }
    return rows, payload
