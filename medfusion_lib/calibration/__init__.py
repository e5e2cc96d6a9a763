"""Can the fused model's probabilities be believed? Calibration metrics, reliability diagrams, temperature
scaling (before and after fusion) and the missing-modality confidence check (lesson 12, ``bench trust``).

::

    from medfusion_lib.calibration import TemperatureScaled, ece_ci, reliability_table, plot_reliability
    scaled = TemperatureScaled(model).fit(feats.val, feats.y_val)      # T fitted on validation NLL
    ece_ci(feats.y_test, scaled.predict_proba(feats.test))              # CI(estimate, low, high)

Selective prediction (risk-coverage, referral thresholds) lives in :mod:`medfusion_lib.selective`.
"""
from medfusion_lib.calibration.compare import TARGET_ECE, calibrate_strategies, meets_target
from medfusion_lib.calibration.experts import RULES_FOR_EXPERT_CALIBRATION, ExpertTemperatureFusion
from medfusion_lib.calibration.metrics import (BIN_STRATEGIES, bin_edges, bin_index, binned_gap, brier_score,
                                               calibration_summary, classwise_ece, ece_ci, ece_noise_floor, nll,
                                               top_label_ece)
from medfusion_lib.calibration.missing import RISE_TOLERANCE, confidence_change, confidence_rises
from medfusion_lib.calibration.reliability import ece_from_table, plot_reliability, reliability_table
from medfusion_lib.calibration.temperature import (ProbabilityPassthrough, TemperatureScaled, apply_temperature,
                                                   fit_temperature, nll_at_temperature, sklearn_temperature)

__all__ = ["BIN_STRATEGIES", "RISE_TOLERANCE", "RULES_FOR_EXPERT_CALIBRATION", "ExpertTemperatureFusion",
           "ProbabilityPassthrough", "TARGET_ECE", "calibrate_strategies", "meets_target", "TemperatureScaled", "apply_temperature", "bin_edges", "bin_index",
           "binned_gap", "brier_score", "calibration_summary", "classwise_ece", "confidence_change",
           "confidence_rises", "ece_ci", "ece_noise_floor", "ece_from_table", "fit_temperature", "nll", "nll_at_temperature",
           "plot_reliability", "reliability_table", "sklearn_temperature", "top_label_ece"]
