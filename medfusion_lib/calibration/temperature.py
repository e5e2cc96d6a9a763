"""Temperature scaling (Guo et al. 2017): divide a model's logits by one number T > 0 fitted on validation.

T > 1 softens over-confident probabilities, T < 1 sharpens timid ones; the arg-max (the diagnosis) never
changes, so accuracy and macro-F1 stay exactly the same — only the confidence moves. T is chosen by
minimising the validation negative log-likelihood over log T (a one-dimensional bounded search).

Every model here gives probabilities, not logits, so the logits are ``log p`` (clipped at ``EPS``): the
softmax of ``log p / T`` equals the softmax of ``z / T`` for the model's true logits z, because log p and z
differ by a per-patient constant. That is also what scikit-learn's
``CalibratedClassifierCV(FrozenEstimator(model), method="temperature")`` does with ``predict_proba``;
:func:`sklearn_temperature` runs it for comparison.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin

from medfusion_lib.calibration.checks import check_proba

EPS = 1e-12              # floor before the log, as scikit-learn's temperature scaling uses
LOG_T_BOUNDS = (-5.0, 5.0)  # T between e^-5 and e^5: far wider than any model needs


def proba_logits(proba: np.ndarray) -> np.ndarray:
    """(n, K) log-probabilities, clipped away from log 0: the logits every calibrator here rescales."""
    return np.log(np.clip(proba, EPS, None))


def apply_temperature(proba, temperature: float) -> np.ndarray:
    """(n, K) probabilities softmax(log p / T). ``temperature`` must be a positive number."""
    if not np.isscalar(temperature) or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive finite number; got {temperature!r}")
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2:
        raise ValueError(f"proba must be (n_patients, n_classes); got shape {proba.shape}")
    return np.exp(log_softmax(proba_logits(proba) / float(temperature), axis=1))


def nll_at_temperature(y_true, proba, temperature: float) -> float:
    """Mean negative log-likelihood of ``apply_temperature(proba, T)`` (computed in log space)."""
    y, proba = check_proba(y_true, proba)
    logp = log_softmax(proba_logits(proba) / float(temperature), axis=1)
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(y_true, proba) -> float:
    """The T > 0 that minimises the NLL of softmax(log p / T) on these (validation) patients.

    Never worse than T = 1 on the data it is fitted on: if the search ends worse, T = 1 is returned.
    """
    y, proba = check_proba(y_true, proba)
    if len(np.unique(y)) < 2:
        raise ValueError("fit_temperature needs patients of at least two classes (a temperature fitted on one "
                         "class only learns to be as sure as possible)")
    logits = proba_logits(proba)
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, y].mean())

    found = minimize_scalar(loss, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x)) if found.fun <= loss(0.0) else 1.0


def sklearn_temperature(y_true, proba) -> float:
    """The temperature scikit-learn's ``CalibratedClassifierCV(method="temperature")`` fits on the same
    probabilities, via a frozen pass-through classifier (``X`` *is* the probability table).

    scikit-learn stores the inverse temperature ``beta_``; this returns ``1 / beta_``.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    y, proba = check_proba(y_true, proba)
    passthrough = ProbabilityPassthrough().fit(proba, y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(passthrough), method="temperature").fit(proba, y)
    return float(1.0 / calibrated.calibrated_classifiers_[0].calibrators[0].beta_)


class ProbabilityPassthrough(ClassifierMixin, BaseEstimator):
    """A "classifier" whose input is already a probability table: ``predict_proba(P) == P``.

    It lets scikit-learn's calibrators work on the output of any model — a fusion rule, a network, a
    table from a paper — without refitting that model.
    """

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        self.classes_ = np.arange(X.shape[1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        return np.asarray(X, dtype=float)

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


class TemperatureScaled(ClassifierMixin, BaseEstimator):
    """A fitted model whose probabilities are temperature-scaled: calibration *after* fusion.

    ``TemperatureScaled(model).fit(val, y_val)`` fits T on ``model.predict_proba(val)`` (the model itself is
    left untouched, like scikit-learn's ``FrozenEstimator``); ``predict_proba(data)`` returns the scaled
    probabilities. ``y_val`` holds class labels of ``model.classes_``.
    """

    def __init__(self, model):
        self.model = model

    def fit(self, val, y_val) -> "TemperatureScaled":
        if not hasattr(self.model, "classes_"):
            raise RuntimeError("TemperatureScaled wraps a *fitted* model; call model.fit(train, y_train) first")
        self.classes_ = self.model.classes_
        target = np.searchsorted(self.classes_, np.asarray(y_val))
        self.temperature_ = fit_temperature(target, self.model.predict_proba(val))
        return self

    def predict_proba(self, data) -> np.ndarray:
        """(n_patients, n_classes) temperature-scaled probabilities."""
        if not hasattr(self, "temperature_"):
            raise RuntimeError("TemperatureScaled is not fitted yet; call fit(val, y_val) first")
        return apply_temperature(self.model.predict_proba(data), self.temperature_)

    def predict(self, data) -> np.ndarray:
        return self.classes_[self.predict_proba(data).argmax(axis=1)]
