"""The test suite's preloaded kernels (tools/kernel_zygote.py): an ordinary ipykernel, only started faster.

Each test talks to a real kernel through jupyter_client, as nbval does: code runs, figures reach the outputs,
interrupts interrupt, a killed launcher takes its kernel along, and anything the zygote cannot serve exactly
(another import-time environment, no zygote at all) gets a fresh kernel instead.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest
from jupyter_client import KernelManager

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("kernel_zygote", REPO / "tools" / "kernel_zygote.py")
zygote = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zygote)

PRELOAD = ("matplotlib.pyplot", "ipykernel.kernelapp", "ipykernel.ipkernel")  # enough to tell, and quick to import


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zygote")
    zygote.install_kernelspec(folder)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(zygote.LEDGER_ENV, str(folder / "ledger.jsonl"))
        for name, value in zygote.ONE_THREAD.items():
            env.setenv(name, value)
        process = zygote.start(folder / "z.sock", preload=PRELOAD)
    yield {"process": process, "folder": folder}
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture()
def use(server, monkeypatch):
    monkeypatch.setenv(zygote.ZYGOTE_ENV, str(server["folder"] / "z.sock"))
    monkeypatch.setenv("JUPYTER_PATH", str(server["folder"]))
    for name, value in zygote.ONE_THREAD.items():  # the zygote's own: a kernel asked for with others starts fresh
        monkeypatch.setenv(name, value)
    return server


def _run(kc, code: str, timeout: float = 60) -> list[dict]:
    outputs: list[dict] = []
    kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: outputs.append(m))
    return outputs


def _text(outputs: list[dict]) -> str:
    return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")


@pytest.fixture()
def kernel(use, tmp_path):
    km = KernelManager(kernel_name=zygote.KERNEL_NAME)
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "PROBE": "from-the-launcher"})
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    yield km, kc
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=True)


def _facts(kc) -> dict:
    out = _run(kc, "import json, os, sys\nprint(json.dumps({'ppid': os.getppid(), 'pid': os.getpid(), "
                   "'cwd': os.getcwd(), 'probe': os.environ.get('PROBE'), "
                   "'preloaded': 'matplotlib.pyplot' in sys.modules}))")
    return json.loads(_text(out).strip().splitlines()[-1])


def test_a_forked_kernel_runs_code_in_the_requested_cwd_and_environment(kernel, server, tmp_path):
    km, kc = kernel
    facts = _facts(kc)
    assert facts["ppid"] == server["process"].pid, "the kernel was not forked by the zygote"
    assert facts["preloaded"]
    assert facts["cwd"] == str(tmp_path) and facts["probe"] == "from-the-launcher"


def test_figures_reach_the_outputs(kernel):
    _km, kc = kernel
    out = _run(kc, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    assert any("image/png" in m["content"].get("data", {}) for m in out if m["msg_type"] == "display_data"), (
        "plt.show() displayed nothing: the inline backend was not hooked into the forked kernel")


def test_an_interrupt_reaches_the_running_cell(kernel):
    km, kc = kernel
    msg_id = kc.execute("import time\ntime.sleep(60)")
    time.sleep(1.0)
    started = time.monotonic()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=20)
    # wait_for_ready sends kernel_info requests once a second until one is answered: on a slow machine the answer
    # to a second request can still be queued on the shell channel, ahead of the reply to the execute
    while reply["parent_header"]["msg_id"] != msg_id and reply["msg_type"] == "kernel_info_reply":
        reply = kc.get_shell_msg(timeout=20)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 15


def test_a_killed_launcher_takes_its_kernel_along(kernel):
    km, kc = kernel
    pid = _facts(kc)["pid"]
    km.shutdown_kernel(now=True)  # SIGKILL to the launcher's process group, as Jupyter does
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    assert not _alive(pid), "the forked kernel outlived its launcher"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_each_ended_kernel_is_in_the_ledger_with_its_test_and_cpu(kernel, server):
    km, kc = kernel
    _run(kc, "sum(i * i for i in range(3_000_000))")
    km.shutdown_kernel()
    ledger = server["folder"] / "ledger.jsonl"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "ledger_with_its_test_and_cpu" not in (ledger.read_text() if ledger.exists() else ""):
        time.sleep(0.1)
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    mine = [e for e in entries if e["nodeid"].endswith("test_each_ended_kernel_is_in_the_ledger_with_its_test_and_cpu")]
    assert mine and mine[0]["cpu_s"] > 0.1, entries


@pytest.mark.parametrize("case", ["other import-time environment", "no zygote"])
def test_what_the_zygote_cannot_serve_gets_a_fresh_kernel(use, tmp_path, monkeypatch, case):
    if case == "no zygote":
        monkeypatch.setenv(zygote.ZYGOTE_ENV, str(tmp_path / "nobody-listens.sock"))
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setenv(zygote.LEDGER_ENV, str(tmp_path / "ledger.jsonl"))
    km = KernelManager(kernel_name=zygote.KERNEL_NAME)
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        facts = _facts(kc)
        assert facts["ppid"] == os.getpid(), "not started by this process's launcher"
        assert not facts["preloaded"]
        if case != "no zygote":
            assert _text(_run(kc, "import os; print(os.environ['OMP_NUM_THREADS'])")).strip() == "7"
        # `medfusion bench tests` learns of it from the ledger (a kernel's stderr is read by nobody)
        [entry] = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
        assert entry["nodeid"].endswith(f"[{case}]")
        assert ("OMP_NUM_THREADS" if case != "no zygote" else "no zygote answers") in entry["fresh"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_kernelspec_runs_this_python(tmp_path):
    spec = json.loads((zygote.install_kernelspec(tmp_path) / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["argv"][-2:] == ["-f", "{connection_file}"]


def test_a_test_that_changes_the_environment_leaves_it_changed_only_for_itself():
    """Part one: change os.environ as Dask's LocalCluster does (PYTHONHASHSEED), without monkeypatch."""
    os.environ["MEDFUSION_LEAK_PROBE"] = "left behind"


def test_the_next_test_finds_the_environment_as_it_was():
    """Part two (same file, so same worker, next in order): the root conftest put the environment back, so this
    worker's kernels still match the zygote's import-time environment."""
    assert "MEDFUSION_LEAK_PROBE" not in os.environ
