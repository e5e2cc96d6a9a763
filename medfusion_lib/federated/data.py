"""The federation's data: one partition per hospital (the cohort's sites), or an IID split of the same sizes.

A :class:`ClientData` holds what one hospital has: its patients' modality features (already standardised),
a presence mask and labels. It saves to / loads from one ``.npz`` file, which is all a hospital's
SuperNode reads in a real deployment.

Standardisation uses **federated statistics**: every site shares only per-feature counts, sums and sums of
squares (:func:`site_moments`), never a patient row; the server combines them into one mean and standard
deviation (:func:`pooled_scaler`) that every site then applies.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # a hospital's ClientApp process imports this module: keep it light (no scikit-learn)
    from medfusion_lib.fusion import Modalities


@dataclass
class ClientData:
    """One hospital's data. ``xs``: modality -> (n, d) float32 standardised features (zeros where absent);
    ``present``: (n, M) bool, columns in ``xs`` order; ``y``: (n,) int64 class indices."""

    name: str
    xs: dict[str, np.ndarray]
    present: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.y)
        for key, X in self.xs.items():
            if X.ndim != 2 or len(X) != n:
                raise ValueError(f"{self.name}: modality {key!r} must be (n={n}, d); got {X.shape}")
        if self.present.shape != (n, len(self.xs)):
            raise ValueError(f"{self.name}: present must be ({n}, {len(self.xs)}); got {self.present.shape}")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def widths(self) -> dict[str, int]:
        return {k: X.shape[1] for k, X in self.xs.items()}

    def subset(self, index) -> "ClientData":
        index = np.asarray(index)
        return ClientData(self.name, {k: X[index] for k, X in self.xs.items()}, self.present[index], self.y[index])

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez(path, y=self.y, present=self.present, names=np.array(list(self.xs)),
                 meta=np.array(json.dumps({"name": self.name})), **{f"x_{k}": X for k, X in self.xs.items()})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ClientData":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no client data at {path}; write it with ClientData.save or "
                                    "medfusion_lib.federated.deploy.write_partitions")
        with np.load(path, allow_pickle=False) as f:
            names = [str(n) for n in f["names"]]
            return cls(json.loads(str(f["meta"]))["name"], {n: f[f"x_{n}"] for n in names}, f["present"], f["y"])


def concat(parts: Sequence[ClientData], name: str = "pooled") -> ClientData:
    """All patients of ``parts`` in one ClientData (what centralised training would see)."""
    keys = list(parts[0].xs)
    return ClientData(name, {k: np.concatenate([p.xs[k] for p in parts]) for k in keys},
                      np.concatenate([p.present for p in parts]), np.concatenate([p.y for p in parts]))


def site_moments(data: Modalities) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What one site shares for standardisation: modality -> (count, sum, sum of squares) over its present
    rows, each (d,) — aggregates, not patients."""
    out = {}
    for name in data.names:
        X = data.features[name][data.present[name]].astype(float)
        out[name] = (np.full(X.shape[1], len(X), dtype=float), X.sum(axis=0), (X ** 2).sum(axis=0))
    return out


def pooled_scaler(moments: Sequence[Mapping[str, tuple]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Combine sites' :func:`site_moments` into modality -> (mean, std), both (d,); std floors at 1e-8."""
    out = {}
    for name in moments[0]:
        n = sum(m[name][0] for m in moments)
        s = sum(m[name][1] for m in moments)
        ss = sum(m[name][2] for m in moments)
        mean = s / np.maximum(n, 1)
        std = np.sqrt(np.maximum(ss / np.maximum(n, 1) - mean ** 2, 0))
        out[name] = (mean, np.where(std > 1e-8, std, 1.0))
    return out


def to_client(data: Modalities, y, scaler: Mapping[str, tuple], name: str,
              modalities: Sequence[str] | None = None) -> ClientData:
    """Standardise ``data`` with ``scaler`` into a :class:`ClientData` (absent rows stay zero)."""
    names = list(modalities or data.names)
    xs = {}
    for key in names:
        mean, std = scaler[key]
        Z = ((data.features[key] - mean) / std).astype(np.float32)
        Z[~data.present[key]] = 0.0
        xs[key] = Z
    present = np.stack([data.present[k] for k in names], axis=1)
    return ClientData(name, xs, present, np.asarray(y, dtype=np.int64))


@dataclass
class Federation:
    """The clients' training data, each site's test data, and the pooled test set."""

    train: list[ClientData]
    test: list[ClientData]
    pooled_test: ClientData
    n_classes: int

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.train]

    @property
    def sizes(self) -> list[int]:
        return [len(c) for c in self.train]


def site_federation(train: Modalities, y_train, sites_train, test: Modalities, y_test, sites_test,
                    n_classes: int, modalities: Sequence[str] | None = None, iid: bool = False,
                    seed: int = 0) -> Federation:
    """One client per site (the natural, non-IID split), or with ``iid=True`` the same number of training
    patients per client drawn at random from the pool (the textbook IID split). Test sets stay per site."""
    sites_train, sites_test = np.asarray(sites_train), np.asarray(sites_test)
    names = sorted(set(sites_train.tolist()))
    if len(names) < 2:
        raise ValueError(f"a federation needs at least two sites; got {names}")
    groups = [np.flatnonzero(sites_train == s) for s in names]
    if iid:
        order = np.random.default_rng(seed).permutation(len(sites_train))
        bounds = np.cumsum([0, *[len(g) for g in groups]])
        groups = [np.sort(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    moments = [site_moments(train.subset(g)) for g in groups]
    scaler = pooled_scaler(moments)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    clients = [to_client(train.subset(g), y_train[g], scaler, s, modalities) for s, g in zip(names, groups)]
    tests = [to_client(test.subset(sites_test == s), y_test[sites_test == s], scaler, s, modalities) for s in names]
    return Federation(clients, tests, concat(tests, "all sites"), n_classes)
