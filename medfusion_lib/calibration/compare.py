"""Calibrate a whole line-up of fitted strategies at once: calibrators fitted and chosen on validation, scored
once on test, with the noise floor that says how far down a test ECE *can* go on this many patients.

:func:`calibration_report` is what lesson 12 tabulates and ``medfusion bench trust`` writes. For every model:

- temperature scaling (the issue's method): T, test ECE before/after with bootstrap CIs, Brier, NLL;
- the calibrator chosen per model by cross-validation *inside the validation set*
  (:func:`~medfusion_lib.calibration.calibrators.select_calibrator`: none, temperature, vector scaling,
  isotonic, Platt), and its test ECE with a CI;
- for the raw, temperature-scaled and chosen probabilities: the noise floor band of a perfectly calibrated
  model with those confidences on as many test patients, the consistency p-value, and two less biased
  estimators (Kumar et al.'s debiased L2 ECE, Roelofs et al.'s monotonic-sweep ECE);
- ``meets_target`` (ECE at least halved or at most ``TARGET_ECE``) and a ``status`` that says why not when not;
- a diagnostic that *reads the test labels* and is never used to choose anything: the lowest test ECE that any
  single temperature reaches (:func:`best_temperature_ece`), which says whether the target was within reach of
  temperature scaling at all, and the number of validation patients whose true class got less than
  ``CONFIDENT_ERROR`` — the few confident mistakes that decide an NLL fit.

:func:`calibrate_strategies` is the temperature-only view, ``(table, temperature-scaled models)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from medfusion_lib.calibration.calibrators import CANDIDATES, CalibratedModel, select_calibrator
from medfusion_lib.calibration.estimators import calibration_test
from medfusion_lib.calibration.metrics import brier_score, classwise_ece, ece_ci, nll, top_label_ece
from medfusion_lib.calibration.temperature import TemperatureScaled, apply_temperature

#: An ECE at or below this counts as calibrated whatever it was before (the issue's "done when").
TARGET_ECE = 0.02
#: A consistency p-value at or above this: the ECE is what a perfectly calibrated model shows at this n.
CONSISTENT_P = 0.05
#: ``status`` values, in the order they are tested.
STATUSES = ("met (temperature)", "met (chosen calibrator)", "already calibrated", "at the noise floor",
            "out of reach of one temperature", "missed")
#: The temperatures :func:`best_temperature_ece` tries (besides T = 1 and the fitted T): 0.25 to 4, log-spaced.
TEMPERATURE_GRID = np.geomspace(0.25, 4.0, 113)
#: A true-class probability below this is a confident mistake (its log-loss is above ~6.9 nats).
CONFIDENT_ERROR = 1e-3


def meets_target(ece_before: float, ece_after: float, target: float = TARGET_ECE) -> bool:
    """True when calibration at least halved the ECE or brought it to ``target`` or below."""
    return bool(ece_after <= ece_before / 2 or ece_after <= target)


def best_temperature_ece(target: np.ndarray, proba: np.ndarray, n_bins: int = 15,
                         also: tuple[float, ...] = ()) -> tuple[float, float]:
    """``(T, ECE)``: the lowest top-label ECE any single temperature gives ``proba`` on these labels.

    A diagnostic, not a method: it looks at the labels it scores, so it is an *upper bound* on what temperature
    scaling could do on this set. Tried: ``TEMPERATURE_GRID``, T = 1 (no change) and the temperatures in ``also``
    (e.g. the one fitted on validation), so the answer is never worse than either."""
    temperatures = np.unique(np.concatenate([TEMPERATURE_GRID, [1.0], np.asarray(also, dtype=float)]))
    eces = [top_label_ece(target, apply_temperature(proba, t), n_bins) for t in temperatures]
    best = int(np.argmin(eces))
    return float(temperatures[best]), float(eces[best])


def status_of(row: Mapping) -> str:
    """Why a strategy meets the target or not (one of ``STATUSES``), from a :func:`calibration_report` row.

    "already calibrated": the raw model's ECE is consistent with perfect calibration at this test size
    (consistency p-value >= ``CONSISTENT_P``), so there is nothing to halve. "at the noise floor": after the
    calibrator chosen on validation (or temperature) the ECE is consistent with perfect calibration. "out of reach
    of one temperature": not even the temperature that is best *on test* (``best_temperature_ece``) would meet
    the target, so no fitting procedure for T could have.
    """
    if row["meets_target"]:
        return STATUSES[0]
    if row["meets_target_chosen"]:
        return STATUSES[1]
    if row["p_value_before"] >= CONSISTENT_P:
        return STATUSES[2]
    if max(row["p_value_after"], row["p_value_chosen"]) >= CONSISTENT_P:
        return STATUSES[3]
    if "ece_best_temperature" in row and not meets_target(row["ece_before"], row["ece_best_temperature"]):
        return STATUSES[4]
    return STATUSES[5]


@dataclass
class CalibrationReport:
    """``table`` (one row per model, columns in :func:`calibration_report`), the temperature-scaled models, the
    models with the calibrator chosen on validation, and each model's cross-validation table."""

    table: pd.DataFrame
    temperature: dict
    chosen: dict
    cv: dict


def _estimates(prefix: str, target: np.ndarray, proba: np.ndarray, n_draws: int, seed: int) -> dict:
    tests = calibration_test(target, proba, n_draws=n_draws, seed=seed)
    ece, debiased, sweep = tests["ece"], tests["l2_debiased"], tests["ece_sweep"]
    return {f"p_value_{prefix}": ece.p_value, f"floor_{prefix}": ece.floor, f"floor_{prefix}_low": ece.floor_low,
            f"floor_{prefix}_high": ece.floor_high, f"debiased_{prefix}": debiased.observed,
            f"debiased_floor_{prefix}_high": debiased.floor_high, f"debiased_p_{prefix}": debiased.p_value,
            f"l2_plugin_{prefix}": tests["l2_plugin"].observed, f"sweep_{prefix}": sweep.observed,
            f"sweep_floor_{prefix}_high": sweep.floor_high}


def calibration_report(models: Mapping[str, object], val, y_val, test, y_test, n_bins: int = 15,
                       n_boot: int = 1000, seed: int = 0, candidates=CANDIDATES, criterion: str = "nll",
                       n_splits: int = 5, n_draws: int | None = None) -> CalibrationReport:
    """Calibrate every fitted model on (val, y_val), choose a calibrator per model on validation, score on test.

    ``y_val``/``y_test`` are class labels of the models' ``classes_``. ``candidates``, ``criterion`` and
    ``n_splits`` go to :func:`~medfusion_lib.calibration.calibrators.select_calibrator`. ``n_draws`` (default
    ``max(50, n_boot // 5)``) label draws give the noise floors and p-values (the smallest p-value possible is
    ``1 / (n_draws + 1)``). Table columns: ``strategy, temperature, accuracy,
    ece_before(_low/_high), ece_after(_low/_high)`` (temperature), ``floor, floor_low, floor_high`` (floor of the
    temperature-scaled confidences), ``ece_quantile_*, classwise_*, brier_*, nll_*, val_nll_*``,
    ``meets_target`` (temperature); ``calibrator, cv_score, accuracy_chosen, ece_chosen(_low/_high),
    nll_chosen, meets_target_chosen``; for X in before/after/chosen: ``p_value_X, floor_X(_low/_high),
    debiased_X, debiased_floor_X_high, debiased_p_X, l2_plugin_X, sweep_X, sweep_floor_X_high``; ``status``.
    """
    n_draws = max(50, n_boot // 5) if n_draws is None else n_draws
    rows, scaled_models, chosen_models, cv_tables = [], {}, {}, {}
    for name, model in models.items():
        scaled = TemperatureScaled(model).fit(val, y_val)
        scaled_models[name] = scaled
        target_val = np.searchsorted(model.classes_, np.asarray(y_val))
        target = np.searchsorted(model.classes_, np.asarray(y_test))
        before, after = model.predict_proba(test), scaled.predict_proba(test)
        val_before = model.predict_proba(val)
        choice = select_calibrator(val_before, target_val, candidates, criterion, n_splits, n_bins, seed)
        chosen_models[name], cv_tables[name] = CalibratedModel(model, choice.calibrator), choice.table
        chosen = choice.calibrator.transform(before)
        ci_before = ece_ci(target, before, n_bins, n_boot=n_boot, seed=seed)
        ci_after = ece_ci(target, after, n_bins, n_boot=n_boot, seed=seed)
        ci_chosen = ece_ci(target, chosen, n_bins, n_boot=n_boot, seed=seed)
        row = {
            "strategy": name, "temperature": scaled.temperature_,
            "accuracy": float((before.argmax(1) == target).mean()),
            "ece_before": ci_before.estimate, "ece_before_low": ci_before.low, "ece_before_high": ci_before.high,
            "ece_after": ci_after.estimate, "ece_after_low": ci_after.low, "ece_after_high": ci_after.high,
            "ece_quantile_before": top_label_ece(target, before, n_bins, "quantile"),
            "ece_quantile_after": top_label_ece(target, after, n_bins, "quantile"),
            "classwise_before": classwise_ece(target, before, n_bins),
            "classwise_after": classwise_ece(target, after, n_bins),
            "brier_before": brier_score(target, before), "brier_after": brier_score(target, after),
            "nll_before": nll(target, before), "nll_after": nll(target, after),
            "val_nll_before": nll(target_val, val_before),
            "val_nll_after": nll(target_val, scaled.predict_proba(val)),
            "meets_target": meets_target(ci_before.estimate, ci_after.estimate),
            "calibrator": choice.method,
            "cv_score": float(choice.table.loc[choice.table["chosen"], f"cv_{criterion}"].iloc[0]),
            "accuracy_chosen": float((chosen.argmax(1) == target).mean()),
            "ece_chosen": ci_chosen.estimate, "ece_chosen_low": ci_chosen.low, "ece_chosen_high": ci_chosen.high,
            "nll_chosen": nll(target, chosen),
            "meets_target_chosen": meets_target(ci_before.estimate, ci_chosen.estimate),
            "confident_errors_val": int((val_before[np.arange(len(target_val)), target_val] < CONFIDENT_ERROR).sum()),
        }
        row["t_best_ece"], row["ece_best_temperature"] = best_temperature_ece(target, before, n_bins,
                                                                              also=(scaled.temperature_,))
        for prefix, proba in (("before", before), ("after", after), ("chosen", chosen)):
            row.update(_estimates(prefix, target, proba, n_draws, seed))
        row["floor"], row["floor_low"], row["floor_high"] = row["floor_after"], row["floor_after_low"], \
            row["floor_after_high"]
        row["status"] = status_of(row)
        rows.append(row)
    return CalibrationReport(pd.DataFrame(rows), scaled_models, chosen_models, cv_tables)


def calibrate_strategies(models: Mapping[str, object], val, y_val, test, y_test, n_bins: int = 15,
                         n_boot: int = 1000, seed: int = 0, **options) -> tuple[pd.DataFrame, dict[str, TemperatureScaled]]:
    """``(table, temperature-scaled models)`` of :func:`calibration_report` (same arguments)."""
    report = calibration_report(models, val, y_val, test, y_test, n_bins, n_boot, seed, **options)
    return report.table, report.temperature
