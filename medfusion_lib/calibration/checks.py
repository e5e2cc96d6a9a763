"""Input checks shared by the calibration modules and selective prediction: labels are class indices into
the probability columns."""
from __future__ import annotations

import numpy as np


def check_proba(y_true, proba, what: str = "proba") -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(y (n,) int64, proba (n, K) float64)``.

    ``y_true`` holds each patient's class as a column index into ``proba`` (0 .. K-1), as the fusion
    track's ``feats.y_test`` does; ``proba`` rows are probability vectors.
    """
    proba = np.asarray(proba, dtype=float)
    y = np.asarray(y_true)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(f"{what} must be (n_patients, n_classes) with at least two classes; got shape "
                         f"{proba.shape} — for a binary model pass both columns of predict_proba")
    if y.ndim != 1 or len(y) != len(proba):
        raise ValueError(f"y_true must be 1-D with one label per row of {what} ({len(proba)}); got shape {y.shape}")
    if len(y) == 0:
        raise ValueError("no patients: y_true and proba are empty")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= proba.shape[1]:
        raise ValueError(f"y_true must hold class indices 0..{proba.shape[1] - 1} (the columns of {what}); got "
                         f"values {np.unique(y)[:8].tolist()} — map labels with np.searchsorted(model.classes_, y)")
    if not np.isfinite(proba).all() or (proba < -1e-9).any():
        raise ValueError(f"{what} has NaN, inf or negative entries; pass predict_proba output, not logits")
    sums = proba.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        worst = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"{what} rows must sum to 1 (row {worst} sums to {sums[worst]:.4f}); pass "
                         "probabilities (predict_proba), or apply a softmax to logits first")
    return y.astype(np.int64), proba
