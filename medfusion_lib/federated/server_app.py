"""The coordinator's side of Flower: a ``ServerApp`` that runs FedAvg or FedProx over the hospitals.

It never sees a patient. It builds the initial model, hands it to Flower's strategy
(``flwr.serverapp.strategy.FedAvg`` or ``FedProx``, which aggregate the clients' ``ArrayRecord`` weighted by
their ``num-examples``), scores the global model after every round on a held-out test file (``test.npz``: in a
real federation a separate, consented evaluation set), and writes ``final.npz`` (the final weights) and
``history.json`` (per-round scores, per-site scores from the clients' own evaluation) to ``out-dir``.

Settings (``context.run_config`` in a deployment; :func:`make_server_app` for simulation): see ``DEFAULTS``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Mapping

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedProx

from medfusion_lib.federated.data import ClientData
from medfusion_lib.federated.local import evaluate as evaluate_net
from medfusion_lib.federated.local import make_net

DEFAULTS: dict[str, object] = {"kind": "hybrid", "strategy": "fedavg", "num-rounds": 3, "local-epochs": 2,
                               "lr": 0.003, "batch-size": 32, "proximal-mu": 0.1, "seed": 0,
                               "round-timeout": 120.0, "client-eval": True, "data-dir": "",
                               "out-dir": ""}


def read_meta(data_dir: str | Path) -> dict:
    """``meta.json`` of a federation folder: ``widths``, ``n_classes``, ``sites``, ``sizes``."""
    path = Path(data_dir) / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"no {path}; write the federation with medfusion_lib.federated.deploy."
                                "write_partitions first")
    return json.loads(path.read_text())


def per_site_metrics(n_sites: int):
    """An ``evaluate_metrics_aggr_fn`` that keeps each site's macro-F1 (``macro-f1-site<k>``) next to the
    size-weighted mean, so per-site scores survive aggregation."""

    def aggregate(replies: list[RecordDict], weight_key: str) -> MetricRecord:
        total = sum(float(r["metrics"][weight_key]) for r in replies)
        out = {"macro-f1": sum(float(r["metrics"]["macro-f1"]) * float(r["metrics"][weight_key])
                               for r in replies) / total}
        for r in replies:
            out[f"macro-f1-site{int(r['metrics']['site-index'])}"] = float(r["metrics"]["macro-f1"])
        return MetricRecord(out)

    return aggregate


def run_server(grid: Grid, settings: Mapping[str, object]) -> dict:
    """The whole server side; returns (and writes) the history."""
    settings = {**DEFAULTS, **dict(settings)}
    data_dir, out_dir = Path(str(settings["data-dir"])), Path(str(settings["out-dir"]) or str(settings["data-dir"]))
    meta = read_meta(data_dir)
    n_sites, n_classes = len(meta["sites"]), int(meta["n_classes"])
    net = make_net(str(settings["kind"]), meta["widths"], n_classes, int(settings["seed"]))
    test = ClientData.load(data_dir / "test.npz")
    # every hospital trains in every round; "client-eval" false skips the clients' own test scores
    client_eval = str(settings["client-eval"]).lower() in ("1", "true", "yes")
    common = dict(min_train_nodes=n_sites, min_evaluate_nodes=n_sites if client_eval else 0,
                  min_available_nodes=n_sites, fraction_evaluate=1.0 if client_eval else 0.0,
                  evaluate_metrics_aggr_fn=per_site_metrics(n_sites))
    if settings["strategy"] == "fedprox":
        strategy = FedProx(proximal_mu=float(settings["proximal-mu"]), **common)
    elif settings["strategy"] == "fedavg":
        strategy = FedAvg(**common)
    else:
        raise ValueError(f"strategy must be 'fedavg' or 'fedprox'; got {settings['strategy']!r}")

    def central_evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = make_net(str(settings["kind"]), meta["widths"], n_classes)
        model.load_state_dict(arrays.to_torch_state_dict())
        scores = evaluate_net(model, test)
        return MetricRecord({"macro-f1": scores["macro_f1"], "loss": scores["loss"]})

    config = ConfigRecord({"kind": str(settings["kind"]), "n-classes": n_classes,
                           "local-epochs": int(settings["local-epochs"]), "lr": float(settings["lr"]),
                           "batch-size": int(settings["batch-size"]), "seed": int(settings["seed"])})
    started = time.perf_counter()
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(net.state_dict()),
                            num_rounds=int(settings["num-rounds"]), timeout=float(settings["round-timeout"]),
                            train_config=config,
                            evaluate_config=ConfigRecord({"kind": str(settings["kind"]), "n-classes": n_classes}),
                            evaluate_fn=central_evaluate)
    seconds = time.perf_counter() - started
    state = result.arrays.to_torch_state_dict()
    history = {
        "settings": {k: v for k, v in settings.items()}, "sites": meta["sites"], "seconds": seconds,
        "central": {int(r): dict(m) for r, m in result.evaluate_metrics_serverapp.items()},
        "clients": {int(r): dict(m) for r, m in result.evaluate_metrics_clientapp.items()},
        "train": {int(r): dict(m) for r, m in result.train_metrics_clientapp.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "final.npz", **{k: v.numpy() for k, v in state.items()})
    (out_dir / "history.json").write_text(json.dumps(history, indent=1, default=float))
    return history


def make_server_app(settings: Mapping[str, object] | None = None) -> ServerApp:
    """A ``ServerApp`` whose ``main`` runs :func:`run_server` with ``settings`` over the run config."""
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        run_server(grid, {**dict(context.run_config), **dict(settings or {})})

    return server


#: What ``flwr run`` starts on the SuperLink (``[tool.flwr.app.components] serverapp``).
app = make_server_app()
