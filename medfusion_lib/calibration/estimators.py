"""ECE estimators with less bias, and a test of "is this model calibrated?" at this sample size.

The binned ECE of :mod:`.metrics` is biased upwards: in a bin of m patients the observed accuracy wanders by
about sqrt(acc (1 - acc) / m) around the true one, and |.| turns that wandering into a positive gap even when
the model is perfectly calibrated. Two remedies from the literature:

- :func:`debiased_ece` (Kumar, Liang & Ma, NeurIPS 2019, *Verified uncertainty calibration*): the squared
  (L2) calibration error per bin, minus the binomial variance of the bin's accuracy, acc (1 - acc) / (m - 1),
  which is exactly the part noise adds in expectation; then the square root. :func:`plugin_l2_ece` is the
  same without the correction, to show what it removes. L2 is not L1: compare each with its own kind.
- :func:`ece_sweep` (Roelofs, Cain, Shlens & Mozer, AISTATS 2022): equal-mass bins, as many as possible while
  the bins' accuracies still rise monotonically with confidence — fewer, fuller bins when noise would
  otherwise make the curve jagged.

:func:`calibration_test` answers the question these estimators circle around: draw labels from the model's
own probabilities (consistency resampling, Bröcker & Smith 2007), so a perfectly calibrated model with these
very confidences is simulated; the p-value is the share of draws whose estimate is at least the observed
one. A large p-value means the measured ECE is what noise alone gives on this many patients.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from medfusion_lib.calibration.checks import check_proba
from medfusion_lib.calibration.metrics import bin_edges, bin_index, binned_gap

Estimator = Callable[[np.ndarray, np.ndarray], float]


def _bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int, strategy: str):
    ids = bin_index(confidence, bin_edges(confidence, n_bins, strategy))
    count = np.bincount(ids, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(ids, correct, n_bins) / count
        conf = np.bincount(ids, confidence, n_bins) / count
    return count, acc, conf


def _top_label(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    y, proba = check_proba(y_true, proba)
    return proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float)


def plugin_l2_ece(y_true, proba, n_bins: int = 15, strategy: str = "quantile") -> float:
    """sqrt(sum_b |B_b|/n * (acc_b - conf_b)^2): the L2 top-label calibration error, plug-in (biased) estimate."""
    count, acc, conf = _bins(*_top_label(y_true, proba), n_bins, strategy)
    filled = count > 0
    return float(np.sqrt(np.sum(count[filled] * (acc[filled] - conf[filled]) ** 2) / count.sum()))


def debiased_ece(y_true, proba, n_bins: int = 15, strategy: str = "quantile") -> float:
    """Kumar et al.'s debiased L2 top-label calibration error (equal-mass bins by default, as they use).

    sqrt(max(0, sum_b |B_b|/n * [(acc_b - conf_b)^2 - acc_b (1 - acc_b) / (|B_b| - 1)])); bins with fewer than two
    patients add their plug-in term (no variance estimate exists). Clipped at 0: noise can make the corrected
    sum negative, which reads "no detectable miscalibration".
    """
    count, acc, conf = _bins(*_top_label(y_true, proba), n_bins, strategy)
    filled = count > 0
    terms = (acc[filled] - conf[filled]) ** 2
    several = count[filled] > 1
    terms[several] -= acc[filled][several] * (1 - acc[filled][several]) / (count[filled][several] - 1)
    return float(np.sqrt(max(0.0, np.sum(count[filled] * terms) / count.sum())))


def _equal_mass_starts(n: int, b: int) -> np.ndarray:
    """Start index of each of ``b`` equal-mass bins of ``n`` sorted patients (``np.array_split``'s split)."""
    sizes = np.full(b, n // b)
    sizes[: n % b] += 1
    return np.concatenate([[0], np.cumsum(sizes)[:-1]])


def sweep_bins(confidence: np.ndarray, correct: np.ndarray) -> int:
    """The largest number of equal-mass bins (from 1 up) whose accuracies are monotonically non-decreasing.

    As in Roelofs et al.: start at one bin, add bins while the bin accuracies of the confidence-sorted patients
    still rise (ties allowed), stop at the first violation.
    """
    correct_sorted = np.asarray(correct, dtype=float)[np.argsort(confidence, kind="stable")]
    n, best = len(correct_sorted), 1
    for b in range(2, n + 1):
        starts = _equal_mass_starts(n, b)
        acc = np.add.reduceat(correct_sorted, starts) / np.diff(np.append(starts, n))
        if np.any(np.diff(acc) < 0):
            break
        best = b
    return best


def ece_sweep(y_true, proba) -> float:
    """Roelofs et al.'s monotonic-sweep ECE (L1, equal mass): the binned gap at :func:`sweep_bins` bins."""
    confidence, correct = _top_label(y_true, proba)
    b = sweep_bins(confidence, correct)
    order = np.argsort(confidence, kind="stable")
    starts = _equal_mass_starts(len(confidence), b)
    gap = np.add.reduceat(correct[order], starts) - np.add.reduceat(confidence[order], starts)  # summed per bin
    return float(np.abs(gap).sum() / len(confidence))


def _uniform_ece(y_true, proba, n_bins: int = 15) -> float:
    confidence, correct = _top_label(y_true, proba)
    return binned_gap(confidence, correct, n_bins, "uniform")


#: name -> estimator(y, proba); "ece" is the usual 15 equal-width bins, L1.
ESTIMATORS: dict[str, Estimator] = {
    "ece": _uniform_ece,
    "ece_sweep": ece_sweep,
    "l2_plugin": plugin_l2_ece,
    "l2_debiased": debiased_ece,
}


class CalibrationTest(NamedTuple):
    """One estimator on one model: the observed value, the noise floor band of a perfectly calibrated model with
    the same confidences and n (``floor`` median, ``floor_low``/``floor_high`` the 2.5/97.5 % points) and the
    p-value (share of calibrated draws at least as large as ``observed``)."""

    observed: float
    floor: float
    floor_low: float
    floor_high: float
    p_value: float


def consistency_draws(proba, n_draws: int = 200, seed: int = 0) -> np.ndarray:
    """(n_draws, n) labels drawn from each patient's own predicted distribution (calibrated by construction)."""
    proba = np.asarray(proba, dtype=float)
    check_proba(np.zeros(len(proba), dtype=int), proba)
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1; got {n_draws}")
    cumulative = np.cumsum(proba, axis=1)
    cumulative[:, -1] = 1.0
    rng = np.random.default_rng(seed)
    u = rng.random((n_draws, len(proba), 1))
    return (u > cumulative[None]).sum(axis=2)


def calibration_test(y_true, proba, estimators: dict[str, Estimator] | None = None, n_draws: int = 200,
                     seed: int = 0, alpha: float = 0.05) -> dict[str, CalibrationTest]:
    """Every estimator's observed value, noise floor and consistency p-value on one (y, proba).

    The same ``n_draws`` label draws serve every estimator, so their floors are comparable.
    """
    y, proba = check_proba(y_true, proba)
    estimators = ESTIMATORS if estimators is None else estimators
    draws = consistency_draws(proba, n_draws, seed)
    out = {}
    for name, estimate in estimators.items():
        observed = estimate(y, proba)
        values = np.array([estimate(d, proba) for d in draws])
        low, median, high = np.quantile(values, [alpha / 2, 0.5, 1 - alpha / 2])
        # +1 in both counts: the observed sample is one more draw under the null (a valid Monte-Carlo p-value)
        p_value = (1 + np.sum(values >= observed - 1e-12)) / (1 + len(values))
        out[name] = CalibrationTest(float(observed), float(median), float(low), float(high), float(p_value))
    return out
