"""A real Flower deployment: SuperLink + one SuperNode per site as processes on 127.0.0.1.

Selected with ``-m flower_deployment`` (it is also part of the default run). Every process must be gone
afterwards, also when the run fails: we look for any process that still carries this deployment's
``FLWR_HOME`` in its environment (every Flower process of the run inherits it).
"""
from __future__ import annotations

import numpy as np
import psutil
import pytest

from medfusion_lib.federated.deploy import deploy, write_partitions
from medfusion_lib.federated.local import evaluate, make_net

from test_federated import federation

pytestmark = pytest.mark.flower_deployment


def leftovers(flwr_home: str) -> list[str]:
    """Live processes whose environment names ``flwr_home``."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("FLWR_HOME") == flwr_home:
                found.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def small_federation():
    """Two sites: every site costs a SuperNode, and each round a fresh ClientApp process (Python, torch, this
    library: ~5 CPU-s) per site; aggregation and shutdown are the same for two sites as for ten."""
    return federation(sizes=(60, 120))


def test_deployment_trains_and_leaves_no_process(tmp_path):
    fed = small_federation()
    data_dir = write_partitions(fed, tmp_path / "data")
    started = []
    work = tmp_path / "run"
    try:
        history = deploy(data_dir, {"kind": "linear", "num-rounds": 2, "lr": 0.05, "local-epochs": 1,
                                    "client-eval": False}, timeout=240, workdir=work,
                         on_start=lambda d: started.extend(d.pids))
    finally:
        stray = leftovers(str(work / "flwr-home"))
        assert not stray, f"processes left running: {stray}"
    assert len(started) == 1 + len(fed.train)  # the SuperLink and one SuperNode per site
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in started)
    central = {int(r): m["macro-f1"] for r, m in history["central"].items()}
    assert sorted(central) == [0, 1, 2]
    assert central[2] > central[0] and central[2] > 0.6
    # the final model on disk is the one the server scored last
    net = make_net("linear", fed.train[0].widths, fed.n_classes)
    with np.load(f"{history['out_dir']}/final.npz") as final:
        net.load_state_dict({k: __import__("torch").from_numpy(final[k]) for k in final.files})
    assert evaluate(net, fed.pooled_test)["macro_f1"] == pytest.approx(central[2], abs=1e-6)


def test_a_failed_deployment_still_stops_everything(tmp_path):
    data_dir = write_partitions(small_federation(), tmp_path / "data")
    work = tmp_path / "run"
    with pytest.raises((TimeoutError, RuntimeError)):
        deploy(data_dir, {"kind": "linear", "num-rounds": 50}, timeout=4, workdir=work)
    assert not leftovers(str(work / "flwr-home"))
