"""Selective prediction: answer when confident, refer to a clinician otherwise.

A model that may abstain is judged by two numbers at every confidence threshold t: its **coverage** (the
share of patients it answers, confidence >= t) and its **risk** (the error rate on those patients). The
risk-coverage curve traces every t (Geifman & El-Yaniv 2017); a well-ranked confidence makes the curve fall
as coverage shrinks. The operating point "refer when confidence < t" is chosen on validation for a target
accuracy, then reported once on test.

Labels are class indices into the probability columns: ``y (n,)`` int, ``proba (n, K)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medfusion_lib.calibration.checks import check_proba


def risk_coverage_curve(y_true, proba) -> pd.DataFrame:
    """One row per distinct confidence t (highest first): ``threshold, n_accepted, coverage, accuracy, risk``
    for the rule "answer when confidence >= t". The last row (lowest t) answers everyone."""
    y, proba = check_proba(y_true, proba)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    order = np.argsort(-confidence, kind="stable")
    conf_sorted, hits = confidence[order], np.cumsum(correct[order])
    # the last index of each run of equal confidences: ties are accepted or referred together
    ends = np.flatnonzero(np.r_[conf_sorted[1:] != conf_sorted[:-1], True])
    n_accepted = ends + 1
    accuracy = hits[ends] / n_accepted
    return pd.DataFrame({"threshold": conf_sorted[ends], "n_accepted": n_accepted,
                         "coverage": n_accepted / len(y), "accuracy": accuracy, "risk": 1.0 - accuracy})


def area_under_risk_coverage(y_true, proba) -> float:
    """AURC: the mean risk over coverages 1/n, 2/n, ..., 1 when patients are accepted by decreasing
    confidence (ties shared). Lower is better; a model whose confidence ranks its errors last scores the
    least for its accuracy."""
    curve = risk_coverage_curve(y_true, proba)
    # each tie group spans its patients with the group's risk
    counts = np.diff(np.r_[0, curve["n_accepted"].to_numpy()])
    return float((curve["risk"].to_numpy() * counts).sum() / counts.sum())


def choose_referral_threshold(y_true, proba, target_accuracy: float) -> float:
    """The lowest confidence threshold t whose accepted patients (confidence >= t) reach ``target_accuracy``:
    the most coverage the target allows. Fit on validation; apply unchanged to test.

    Raises ``ValueError`` when no threshold reaches the target on these patients.
    """
    if not 0.0 < float(target_accuracy) <= 1.0:
        raise ValueError(f"target_accuracy must be in (0, 1]; got {target_accuracy!r}")
    curve = risk_coverage_curve(y_true, proba)
    ok = curve[curve["accuracy"] >= target_accuracy - 1e-12]
    if ok.empty:
        raise ValueError(f"no confidence threshold reaches accuracy {target_accuracy:.3f} on these patients (the "
                         f"most confident one alone is {'right' if curve['accuracy'].iloc[0] == 1 else 'wrong'}); "
                         "lower the target or improve the model")
    return float(ok["threshold"].iloc[-1])


def referral_operating_point(y_true, proba, threshold: float) -> dict[str, float]:
    """What the rule "refer to a clinician when confidence < threshold" does on these patients:
    ``threshold, coverage, n_answered, n_referred, accuracy_answered, accuracy_referred, accuracy_all``
    (NaN where a group is empty)."""
    y, proba = check_proba(y_true, proba)
    if not np.isscalar(threshold) or np.isnan(threshold):
        raise ValueError(f"threshold must be a number; got {threshold!r}")
    answered = proba.max(axis=1) >= threshold
    correct = proba.argmax(axis=1) == y
    return {"threshold": float(threshold), "coverage": float(answered.mean()), "n_answered": int(answered.sum()),
            "n_referred": int((~answered).sum()),
            "accuracy_answered": float(correct[answered].mean()) if answered.any() else float("nan"),
            "accuracy_referred": float(correct[~answered].mean()) if (~answered).any() else float("nan"),
            "accuracy_all": float(correct.mean())}
