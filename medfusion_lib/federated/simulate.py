"""Federated training written out as a loop (no framework), and the two baselines it is judged against.

- :func:`run_federated`: ``rounds`` times — every client trains the global weights on its own data for
  ``local_epochs`` (with FedProx's term when ``mu > 0``), then :func:`~medfusion_lib.federated.fedavg.fedavg`
  averages them weighted by client size. The global model is scored after every round.
- :func:`train_centralised`: the same model trained on all clients' patients pooled (what the hospitals
  could do if they were allowed to share data), for the same number of passes over the data.
- :func:`train_local_only`: each hospital alone.

Flower's apps (:mod:`~medfusion_lib.federated.client_app`, :mod:`~medfusion_lib.federated.server_app`) run the
same :func:`~medfusion_lib.federated.local.local_train` inside real messages; this loop is the reference
they are checked against.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medfusion_lib.federated.data import ClientData, Federation, concat
from medfusion_lib.federated.fedavg import fedavg
from medfusion_lib.federated.local import evaluate, get_weights, local_train, make_net, set_weights


@dataclass
class TrainSettings:
    """How every client trains: ``kind`` of model, local epochs per round, Adam's ``lr``, batch size, the
    FedProx ``mu`` (0 = FedAvg), and the seed."""

    kind: str = "hybrid"
    rounds: int = 10
    local_epochs: int = 2
    lr: float = 0.01
    batch_size: int = 32
    mu: float = 0.0
    seed: int = 0


@dataclass
class FederatedResult:
    """``history``: one row per round (``round``, ``macro_f1`` on the pooled test set, ``macro_f1_<site>``
    on each site's test set); ``weights``: the final global weights; ``seconds``: wall time."""

    history: pd.DataFrame
    weights: list[np.ndarray]
    seconds: float
    final: dict = field(default_factory=dict)


def _scores(net, federation: Federation) -> dict[str, float]:
    row = {"macro_f1": evaluate(net, federation.pooled_test)["macro_f1"]}
    for part in federation.test:
        row[f"macro_f1_{part.name}"] = evaluate(net, part)["macro_f1"]
    return row


def run_federated(federation: Federation, settings: TrainSettings) -> FederatedResult:
    """FedAvg (``settings.mu == 0``) or FedProx training over ``federation.train``; see the module docstring."""
    started = time.perf_counter()
    widths = federation.train[0].widths
    net = make_net(settings.kind, widths, federation.n_classes, settings.seed)
    weights = get_weights(net)
    rows = []
    for r in range(1, settings.rounds + 1):
        updates = []
        for k, client in enumerate(federation.train):
            local = set_weights(make_net(settings.kind, widths, federation.n_classes), weights)
            local_train(local, client, settings.local_epochs, settings.lr, settings.batch_size, settings.mu,
                        seed=settings.seed * 1000 + r * 10 + k)
            updates.append(get_weights(local))
        weights = [w.astype(np.float32) for w in fedavg(updates, federation.sizes)]
        set_weights(net, weights)
        rows.append({"round": r, **_scores(net, federation)})
    history = pd.DataFrame(rows)
    return FederatedResult(history, weights, time.perf_counter() - started, history.iloc[-1].to_dict())


def train_on(data: ClientData, federation: Federation, settings: TrainSettings) -> dict[str, float]:
    """Train one model on ``data`` for ``rounds * local_epochs`` epochs; scores on the federation's tests."""
    net = make_net(settings.kind, data.widths, federation.n_classes, settings.seed)
    local_train(net, data, settings.rounds * settings.local_epochs, settings.lr, settings.batch_size, 0.0,
                seed=settings.seed)
    return _scores(net, federation)


def train_centralised(federation: Federation, settings: TrainSettings) -> dict[str, float]:
    """The pooled-data baseline: every client's patients in one training set."""
    return train_on(concat(federation.train), federation, settings)


def train_local_only(federation: Federation, settings: TrainSettings) -> pd.DataFrame:
    """Each hospital trains alone. One row per site: ``site, n_train, macro_f1`` (pooled test) and the
    per-site test scores."""
    rows = []
    for client in federation.train:
        rows.append({"site": client.name, "n_train": len(client), **train_on(client, federation, settings)})
    return pd.DataFrame(rows)
