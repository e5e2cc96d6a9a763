"""Calibrators that map a probability table to a better-calibrated one, and a choice between them on validation.

One temperature fixes a model that is *uniformly* too sure or too timid. When the reliability curve bends
(too sure in some bins, too timid in others) or one class is off more than the others, a richer map can do
better — if the validation set is large enough to fit it without overfitting. The candidates, simplest first:

- ``none``: the identity (the model may already be calibrated);
- ``temperature``: softmax(log p / T), T on validation NLL (:func:`fit_temperature`, built by hand in lesson 12);
- ``temperature_sklearn``: scikit-learn's ``CalibratedClassifierCV(method="temperature")`` on the same table;
- ``vector``: vector scaling (Guo et al. 2017): softmax(w * log p + b) with a weight and a bias per class,
  fitted by L-BFGS on the NLL (a small ridge pulls it towards the identity, w = 1, b = 0);
- ``isotonic``: scikit-learn's one-vs-rest isotonic regression, rows renormalised;
- ``sigmoid``: scikit-learn's one-vs-rest Platt scaling, rows renormalised.

:func:`select_calibrator` picks one per model **on validation only**: stratified K-fold cross-validation inside
the validation patients (fit on K-1 folds, predict the held-out fold), the pooled out-of-fold NLL (or ECE) decides,
and the winner is refitted on all of validation. The test set is never looked at.

Every calibrator takes and returns ``(n, K)`` probability tables; labels are class indices ``(n,)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import log_softmax

from medfusion_lib.calibration.checks import check_proba
from medfusion_lib.calibration.metrics import nll, top_label_ece
from medfusion_lib.calibration.temperature import (ProbabilityPassthrough, proba_logits, apply_temperature,
                                                   fit_temperature)

#: Every calibrator, simplest first (ties go to the earlier one).
CALIBRATORS = ("none", "temperature", "temperature_sklearn", "vector", "isotonic", "sigmoid")
#: What :func:`select_calibrator` chooses among by default (``temperature_sklearn`` fits the same T as
#: ``temperature``: it is there to check ours, not as another candidate).
CANDIDATES = ("none", "temperature", "vector", "isotonic", "sigmoid")
#: What the cross-validated choice minimises.
CRITERIA = ("nll", "ece")
#: Ridge on vector scaling's (w - 1, b): small, it only keeps a class seen rarely in validation from running away.
VECTOR_RIDGE = 1e-3


def fit_vector_scaling(y_true, proba, ridge: float = VECTOR_RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """(w (K,), b (K,)) minimising the mean NLL of softmax(w * log p + b) + ridge * (|w - 1|^2 + |b|^2).

    Starts at the identity (w = 1, b = 0); the returned map is never worse than the identity on the fitting
    data's penalised loss, so it is never worse than "no calibration" there.
    """
    y, proba = check_proba(y_true, proba)
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0; got {ridge}")
    logits, rows, k = proba_logits(proba), np.arange(len(y)), proba.shape[1]
    onehot = np.eye(k)[y]

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:k], theta[k:]
        logp = log_softmax(logits * w + b, axis=1)
        residual = (np.exp(logp) - onehot) / len(y)             # d mean NLL / d z, (n, K)
        loss = -logp[rows, y].mean() + ridge * (np.sum((w - 1) ** 2) + np.sum(b ** 2))
        grad = np.concatenate([(residual * logits).sum(0) + 2 * ridge * (w - 1), residual.sum(0) + 2 * ridge * b])
        return float(loss), grad

    start = np.concatenate([np.ones(k), np.zeros(k)])
    found = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B")
    theta = found.x if found.fun <= loss_and_grad(start)[0] else start
    return theta[:k].copy(), theta[k:].copy()


def apply_vector_scaling(proba, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, K) softmax(w * log p + b)."""
    proba = np.asarray(proba, dtype=float)
    return np.exp(log_softmax(proba_logits(proba) * np.asarray(w) + np.asarray(b), axis=1))


@dataclass
class Calibrator:
    """One fitted calibrator of a probability table: ``Calibrator(method).fit(proba, y).transform(proba)``."""

    method: str = "temperature"
    params_: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.method not in CALIBRATORS:
            raise ValueError(f"unknown calibrator {self.method!r}; choose one of {CALIBRATORS}")

    def fit(self, proba, y_true) -> "Calibrator":
        """Fit on (n, K) validation probabilities and their (n,) class indices.

        The fits run with one BLAS thread: their matrices are a few hundred by K, and on a busy 2-core
        machine OpenBLAS's threads cost 10-20x more than the work (measured with scipy's L-BFGS-B).
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(proba, y_true)

    def _fit(self, proba, y_true) -> "Calibrator":
        y, proba = check_proba(y_true, proba)
        if self.method != "none" and len(np.unique(y)) < 2:
            raise ValueError("a calibrator needs patients of at least two classes to be fitted")
        if self.method == "temperature":
            self.params_ = {"temperature": fit_temperature(y, proba)}
        elif self.method == "vector":
            w, b = fit_vector_scaling(y, proba)
            self.params_ = {"w": w, "b": b}
        elif self.method != "none":  # scikit-learn on a pass-through of the table
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.frozen import FrozenEstimator

            sk_method = "temperature" if self.method == "temperature_sklearn" else self.method
            passthrough = ProbabilityPassthrough().fit(proba, np.arange(proba.shape[1]))
            self.params_ = {"sklearn": CalibratedClassifierCV(FrozenEstimator(passthrough), method=sk_method)
                            .fit(proba, y)}
        self.fitted_ = True
        return self

    def transform(self, proba) -> np.ndarray:
        """(n, K) calibrated probabilities (rows sum to 1)."""
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"the {self.method!r} calibrator is not fitted yet; call fit(proba_val, y_val) first")
        proba = np.asarray(proba, dtype=float)
        if self.method == "none":
            return proba
        if self.method == "temperature":
            return apply_temperature(proba, self.params_["temperature"])
        if self.method == "vector":
            return apply_vector_scaling(proba, self.params_["w"], self.params_["b"])
        out = self.params_["sklearn"].predict_proba(proba)
        return out / out.sum(axis=1, keepdims=True)


@dataclass
class CalibratorChoice:
    """What :func:`select_calibrator` returns: the chosen, refitted calibrator and the cross-validation table
    (one row per candidate: ``method, cv_nll, cv_ece, chosen``)."""

    calibrator: Calibrator
    table: pd.DataFrame
    criterion: str

    @property
    def method(self) -> str:
        return self.calibrator.method


def select_calibrator(proba_val, y_val, candidates=CANDIDATES, criterion: str = "nll", n_splits: int = 5,
                      n_bins: int = 15, seed: int = 0) -> CalibratorChoice:
    """Choose a calibrator for one model by stratified K-fold CV *inside* the validation patients.

    For each candidate: fit on K-1 folds, predict the held-out fold, pool the out-of-fold predictions and score
    them (``criterion``: ``"nll"``, proper and smooth, or ``"ece"``, 15 equal-width bins). The lowest pooled
    score wins (ties to the simpler, earlier candidate); it is then refitted on all validation patients.
    """
    from sklearn.model_selection import StratifiedKFold

    y, proba = check_proba(y_val, proba_val)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}")
    unknown = [c for c in candidates if c not in CALIBRATORS]
    if unknown or not len(candidates):
        raise ValueError(f"candidates must be a non-empty subset of {CALIBRATORS}; got {list(candidates)}")
    smallest = np.bincount(y).min() if len(np.unique(y)) == proba.shape[1] else 0
    folds = int(min(n_splits, max(smallest, 2)))
    if smallest < 2:
        raise ValueError("every class needs at least two validation patients to cross-validate a calibrator; "
                         f"class counts are {np.bincount(y, minlength=proba.shape[1]).tolist()}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = []
    for method in candidates:
        out_of_fold = np.empty_like(proba)
        for fit_idx, held_idx in splitter.split(proba, y):
            out_of_fold[held_idx] = Calibrator(method).fit(proba[fit_idx], y[fit_idx]).transform(proba[held_idx])
        rows.append({"method": method, "cv_nll": nll(y, out_of_fold),
                     "cv_ece": top_label_ece(y, out_of_fold, n_bins)})
    table = pd.DataFrame(rows)
    best = int(np.argmin(table[f"cv_{criterion}"].to_numpy()))  # argmin takes the first of equal scores
    table["chosen"] = np.arange(len(table)) == best
    return CalibratorChoice(Calibrator(table["method"].iloc[best]).fit(proba, y), table, criterion)


class CalibratedModel:
    """A fitted model followed by a fitted :class:`Calibrator` (same ``predict_proba``/``predict`` interface)."""

    def __init__(self, model, calibrator: Calibrator):
        self.model, self.calibrator = model, calibrator
        self.classes_ = model.classes_

    def predict_proba(self, data) -> np.ndarray:
        return self.calibrator.transform(self.model.predict_proba(data))

    def predict(self, data) -> np.ndarray:
        return self.classes_[self.predict_proba(data).argmax(axis=1)]
