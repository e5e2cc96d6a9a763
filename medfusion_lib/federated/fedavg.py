"""Federated averaging by hand: one aggregation step, weighted by how many patients each client trained on.

FedAvg (McMahan et al., 2017): after each client has trained the global weights ``w^t`` on its own data,
the server replaces them with the average of the clients' weights, each weighted by its number of
training examples ``n_k``::

    w^{t+1} = sum_k (n_k / n) * w_k        with n = sum_k n_k

FedProx (Li et al., 2020) changes only the *client's* objective: it adds the proximal term
``mu / 2 * ||w - w^t||^2`` (the **squared** Euclidean norm over every parameter) so that a client whose data
differ from the others' cannot drift far from the global model during its local epochs. The server still
aggregates with FedAvg.

Weights are lists of numpy arrays in a fixed order (what a PyTorch ``state_dict`` or Flower's
``ArrayRecord`` hold); these functions are what Flower's ``FedAvg``/``FedProx`` strategies do, written out.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

Weights = list[np.ndarray]


def check_weights(client_weights: Sequence[Sequence[np.ndarray]], sizes: Sequence[float]) -> None:
    """Raise ``ValueError`` unless every client sends arrays of the same shapes and a positive size."""
    if len(client_weights) == 0:
        raise ValueError("no client weights to aggregate; at least one client must report back")
    if len(sizes) != len(client_weights):
        raise ValueError(f"got {len(client_weights)} clients' weights but {len(sizes)} sizes; "
                         "give one training-set size per client")
    sizes = np.asarray(sizes, dtype=float)
    if (sizes <= 0).any() or not np.isfinite(sizes).all():
        raise ValueError(f"client sizes must be positive numbers of training examples; got {sizes.tolist()}")
    shapes = [np.shape(a) for a in client_weights[0]]
    for k, weights in enumerate(client_weights[1:], start=1):
        other = [np.shape(a) for a in weights]
        if other != shapes:
            raise ValueError(f"client {k} sent arrays of shapes {other} but client 0 sent {shapes}; "
                             "every client must train the same model architecture")


def aggregation_weights(sizes: Sequence[float]) -> np.ndarray:
    """(n_clients,) fractions ``n_k / sum(n)`` that FedAvg multiplies each client's weights by."""
    sizes = np.asarray(sizes, dtype=float)
    return sizes / sizes.sum()


def fedavg(client_weights: Sequence[Sequence[np.ndarray]], sizes: Sequence[float]) -> Weights:
    """One FedAvg aggregation: the size-weighted mean of each parameter array across clients.

    client_weights : one list of arrays per client (same shapes, same order).
    sizes : (n_clients,) training examples per client.
    Returns one list of arrays (float64 for float inputs), the new global weights.
    """
    check_weights(client_weights, sizes)
    fractions = aggregation_weights(sizes)
    return [sum(f * np.asarray(w[i], dtype=float) for f, w in zip(fractions, client_weights))
            for i in range(len(client_weights[0]))]


def proximal_term(weights: Sequence[np.ndarray], global_weights: Sequence[np.ndarray], mu: float) -> float:
    """FedProx's penalty ``mu / 2 * ||w - w^t||^2``, the squared norm summed over every parameter array."""
    if mu < 0:
        raise ValueError(f"mu must be >= 0 (0 turns FedProx into FedAvg); got {mu}")
    if len(weights) != len(global_weights):
        raise ValueError(f"{len(weights)} local arrays but {len(global_weights)} global ones; "
                         "compare the same model's parameters")
    return float(mu / 2 * sum(np.sum((np.asarray(w, float) - np.asarray(g, float)) ** 2)
                              for w, g in zip(weights, global_weights)))
