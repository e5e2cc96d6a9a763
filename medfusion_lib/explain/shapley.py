"""Which modality drove the diagnosis? Exact Shapley values over modalities, and per-patient ablation.

As in HAIM (Soenksen et al., npj Digit Med 2022): the *value* of a subset S of modalities is the score
(validation macro-F1, AUC, ...) of a model **retrained** on S alone; the empty set is a model that knows
nothing (it predicts the training class frequencies). With three modalities there are 2^3 = 8 subsets, so
the Shapley value is computed exactly:

    phi_m = sum over S not containing m of |S|! (M - |S| - 1)! / M! * (v(S + m) - v(S)),

and the values add up to v(all) - v(empty) (efficiency). Values may be arrays (one score per class).
"""
from __future__ import annotations

from itertools import combinations
from math import factorial
from typing import Callable, Mapping, Sequence

import numpy as np

from medfusion_lib.fusion.base import class_prior
from medfusion_lib.fusion.modalities import Modalities


def all_subsets(players: Sequence[str]) -> list[frozenset]:
    """Every subset of ``players`` (2^M of them), the empty set first."""
    players = list(players)
    return [frozenset(c) for k in range(len(players) + 1) for c in combinations(players, k)]


def shapley_values(values: Mapping[frozenset, float | np.ndarray], players: Sequence[str]) -> dict[str, float | np.ndarray]:
    """Exact Shapley value of each player from the value of every subset (a dict keyed by frozensets)."""
    players = list(players)
    if len(set(players)) != len(players) or not players:
        raise ValueError(f"players must be distinct names; got {players}")
    missing = [set(s) for s in all_subsets(players) if s not in values]
    if missing:
        raise ValueError(f"values lack {len(missing)} subsets, e.g. {missing[0] or '{}'}; give all 2^{len(players)}")
    m = len(players)
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for k in range(m):
            weight = factorial(k) * factorial(m - k - 1) / factorial(m)
            for coalition in combinations(others, k):
                s = frozenset(coalition)
                total = total + weight * (np.asarray(values[s | {p}]) - np.asarray(values[s]))
        out[p] = float(total) if np.ndim(total) == 0 else total
    return out


def subset_values(make_model: Callable[[tuple[str, ...]], object], train: Modalities, y_train: np.ndarray,
                  val: Modalities, y_val: np.ndarray, metric: Callable[[np.ndarray, np.ndarray], float | np.ndarray],
                  players: Sequence[str] | None = None) -> dict[frozenset, float | np.ndarray]:
    """v(S) for every subset S: ``make_model(S)`` is fitted on the training patients' modalities S and scored
    with ``metric(y_val, proba_val)`` on validation. The empty set predicts the training class frequencies."""
    players = list(players or train.names)
    classes = np.unique(y_train)
    values = {}
    for subset in all_subsets(players):
        if not subset:
            proba = np.tile(class_prior(y_train, classes), (len(y_val), 1))
        else:
            names = tuple(p for p in players if p in subset)
            model = make_model(names).fit(train.select(names), y_train)
            proba = model.predict_proba(val.select(names))
        values[subset] = metric(y_val, proba)
    return values


def ablation(model, data: Modalities, modality: str, target: np.ndarray | None = None) -> np.ndarray:
    """(n,) change in each patient's probability of ``target`` (default: the class predicted with every
    modality) when ``modality`` is removed: p(without) - p(with). Negative = the modality supported it."""
    full = model.predict_proba(data)
    target = full.argmax(axis=1) if target is None else np.asarray(target)
    without = model.predict_proba(data.with_missing(modality, 1.0))
    rows = np.arange(len(data))
    return without[rows, target] - full[rows, target]
