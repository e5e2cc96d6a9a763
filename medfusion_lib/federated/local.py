"""What one hospital does in a round: load the global weights, train a few epochs on its own patients
(optionally with FedProx's proximal term), send the weights back. Also the two model kinds.

Models (both map a :class:`~medfusion_lib.federated.data.ClientData` batch to class logits):

- ``"linear"``: multinomial logistic regression on the symptom (text) features — (n, d_text) -> (n, K);
- ``"hybrid"``: the hybrid fusion network of :mod:`medfusion_lib.fusion.hybrid` (a branch per modality,
  learned missing embeddings, concatenation, a head).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np
import torch
from torch import nn

from medfusion_lib.config import torch_threads
from medfusion_lib.federated.data import ClientData

MODEL_KINDS = ("linear", "hybrid")


class LinearModel(nn.Module):
    """Logistic regression on one modality: logits = W x + b, (n, d) -> (n, K)."""

    def __init__(self, width: int, n_classes: int, modality: str = "text"):
        super().__init__()
        self.names = [modality]
        self.fc = nn.Linear(width, n_classes)

    def forward(self, xs: list[torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.fc(xs[0]), None


def make_net(kind: str, widths: Mapping[str, int], n_classes: int, seed: int = 0) -> nn.Module:
    """A freshly initialised model of ``kind`` ("linear" or "hybrid"); the same seed gives the same weights."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "linear":
            if "text" not in widths:
                raise ValueError("the linear model reads the text (symptom) features; the data has none")
            return LinearModel(widths["text"], n_classes)
        from medfusion_lib.fusion.hybrid import JointNet  # imported here: it pulls in scikit-learn

        return JointNet(dict(widths), n_classes, hidden=32, fusion="concat", dropout=0.2)


def inputs(net: nn.Module, data: ClientData) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The tensors ``net`` reads from ``data``: one (n, d_m) float tensor per modality it uses, (n, M) mask."""
    names = list(data.xs)
    use = list(net.names)
    missing = [m for m in use if m not in data.xs]
    if missing:
        raise ValueError(f"the model reads modalities {use} but this client's data lacks {missing}")
    xs = [torch.from_numpy(data.xs[m]) for m in use]
    present = torch.from_numpy(data.present[:, [names.index(m) for m in use]])
    return xs, present


def get_weights(net: nn.Module) -> list[np.ndarray]:
    """The model's parameters and buffers as numpy arrays, in ``state_dict`` order."""
    return [v.detach().cpu().numpy().copy() for v in net.state_dict().values()]


def set_weights(net: nn.Module, weights: list[np.ndarray]) -> nn.Module:
    """Load arrays (in ``state_dict`` order) into ``net``."""
    keys = list(net.state_dict())
    if len(keys) != len(weights):
        raise ValueError(f"the model has {len(keys)} tensors but {len(weights)} arrays were given")
    net.load_state_dict(OrderedDict((k, torch.as_tensor(np.asarray(w))) for k, w in zip(keys, weights)))
    return net


def local_train(net: nn.Module, data: ClientData, epochs: int = 1, lr: float = 0.01, batch_size: int = 32,
                mu: float = 0.0, seed: int = 0) -> float:
    """Train ``net`` in place on ``data`` for ``epochs``; return the mean training loss of the last epoch.

    With ``mu > 0`` the loss gets FedProx's proximal term ``mu / 2 * ||w - w^t||^2`` (squared L2 distance,
    summed over all parameters) to the weights ``w^t`` the round started from.
    """
    if epochs < 1 or lr <= 0 or batch_size < 1 or mu < 0:
        raise ValueError(f"need epochs >= 1, lr > 0, batch_size >= 1, mu >= 0; got {epochs}, {lr}, "
                         f"{batch_size}, {mu}")
    xs, present = inputs(net, data)
    target = torch.from_numpy(np.asarray(data.y, dtype=np.int64))
    start = [p.detach().clone() for p in net.parameters()]
    loss_fn = nn.CrossEntropyLoss()
    with torch.random.fork_rng(devices=[]), torch_threads(1):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        n = len(target)
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for begin in range(0, n, batch_size):
                idx = order[begin:begin + batch_size]
                logits, _ = net([x[idx] for x in xs], present[idx])
                loss = loss_fn(logits, target[idx])
                if mu > 0:
                    loss = loss + mu / 2 * sum(((p - p0) ** 2).sum() for p, p0 in zip(net.parameters(), start))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(idx)
    net.eval()
    return total / n


def predict_proba(net: nn.Module, data: ClientData) -> np.ndarray:
    """(n, K) class probabilities."""
    xs, present = inputs(net, data)
    net.eval()
    with torch.no_grad(), torch_threads(1):
        logits, _ = net(xs, present)
    return torch.softmax(logits, dim=1).numpy().astype(float)


def evaluate(net: nn.Module, data: ClientData) -> dict[str, float]:
    """``{"macro_f1", "loss", "n"}`` of ``net`` on ``data``."""
    from medfusion_lib.evaluation import macro_f1

    proba = predict_proba(net, data)
    y = np.asarray(data.y)
    loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1)).mean())
    return {"macro_f1": macro_f1(y, proba.argmax(axis=1)), "loss": loss, "n": int(len(y))}
