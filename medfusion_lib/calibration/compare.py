"""Calibrate a whole line-up of fitted strategies at once: temperature on validation, scored once on test.

:func:`calibrate_strategies` is what lesson 12 tabulates and ``medfusion bench trust`` writes: for every
model the fitted temperature, the test ECE before and after with bootstrap CIs, the noise floor a perfectly
calibrated model would show on as many patients, Brier and NLL before and after, and whether the issue's
target is met (ECE at least halved, or at most ``TARGET_ECE``).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from medfusion_lib.calibration.metrics import brier_score, classwise_ece, ece_ci, ece_noise_floor, nll, top_label_ece
from medfusion_lib.calibration.temperature import TemperatureScaled

#: An ECE at or below this counts as calibrated whatever it was before (the issue's "done when").
TARGET_ECE = 0.02


def meets_target(ece_before: float, ece_after: float, target: float = TARGET_ECE) -> bool:
    """True when temperature scaling at least halved the ECE or brought it to ``target`` or below."""
    return bool(ece_after <= ece_before / 2 or ece_after <= target)


def calibrate_strategies(models: Mapping[str, object], val, y_val, test, y_test, n_bins: int = 15,
                         n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, dict[str, TemperatureScaled]]:
    """Fit a temperature per fitted model on (val, y_val) and score before/after on (test, y_test).

    ``y_val``/``y_test`` are class labels of the models' ``classes_`` (the fusion track's class indices).
    Returns (table, scaled models). Table columns: ``strategy, temperature, accuracy, ece_before,
    ece_before_low, ece_before_high, ece_after, ece_after_low, ece_after_high, floor, floor_low, floor_high,
    ece_quantile_before, ece_quantile_after, classwise_before, classwise_after, brier_before, brier_after,
    nll_before, nll_after, val_nll_before, val_nll_after, meets_target``. ``floor*`` is the ECE band of a
    perfectly calibrated model with the scaled confidences on this many test patients.
    """
    rows, scaled_models = [], {}
    for name, model in models.items():
        scaled = TemperatureScaled(model).fit(val, y_val)
        scaled_models[name] = scaled
        target_val = np.searchsorted(model.classes_, np.asarray(y_val))
        target = np.searchsorted(model.classes_, np.asarray(y_test))
        before, after = model.predict_proba(test), scaled.predict_proba(test)
        val_before = model.predict_proba(val)
        ci_before = ece_ci(target, before, n_bins, n_boot=n_boot, seed=seed)
        ci_after = ece_ci(target, after, n_bins, n_boot=n_boot, seed=seed)
        floor = ece_noise_floor(after, n_bins, n_draws=max(50, n_boot // 5), seed=seed)
        rows.append({
            "strategy": name, "temperature": scaled.temperature_,
            "accuracy": float((before.argmax(1) == target).mean()),
            "ece_before": ci_before.estimate, "ece_before_low": ci_before.low, "ece_before_high": ci_before.high,
            "ece_after": ci_after.estimate, "ece_after_low": ci_after.low, "ece_after_high": ci_after.high,
            "floor": floor.estimate, "floor_low": floor.low, "floor_high": floor.high,
            "ece_quantile_before": top_label_ece(target, before, n_bins, "quantile"),
            "ece_quantile_after": top_label_ece(target, after, n_bins, "quantile"),
            "classwise_before": classwise_ece(target, before, n_bins),
            "classwise_after": classwise_ece(target, after, n_bins),
            "brier_before": brier_score(target, before), "brier_after": brier_score(target, after),
            "nll_before": nll(target, before), "nll_after": nll(target, after),
            "val_nll_before": nll(target_val, val_before),
            "val_nll_after": nll(target_val, scaled.predict_proba(val)),
            "meets_target": meets_target(ci_before.estimate, ci_after.estimate),
        })
    return pd.DataFrame(rows), scaled_models
