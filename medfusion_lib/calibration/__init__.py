"""Can the fused model's probabilities be believed? Calibration metrics, reliability diagrams, temperature
scaling (before and after fusion) and the missing-modality confidence check (lesson 12, ``bench trust``).

::

    from medfusion_lib.calibration import TemperatureScaled, ece_ci, reliability_table, plot_reliability
    scaled = TemperatureScaled(model).fit(feats.val, feats.y_val)      # T fitted on validation NLL
    ece_ci(feats.y_test, scaled.predict_proba(feats.test))              # CI(estimate, low, high)

When one temperature is not enough, :func:`select_calibrator` chooses among temperature, vector scaling,
isotonic and Platt calibrators by cross-validation inside the validation set, and :func:`calibration_test` says
whether a test ECE is distinguishable from the noise floor (with the debiased and monotonic-sweep estimators).

Selective prediction (risk-coverage, referral thresholds) lives in :mod:`medfusion_lib.selective`.
"""
from medfusion_lib.calibration.calibrators import (CALIBRATORS, CANDIDATES, CalibratedModel, Calibrator, CalibratorChoice,
                                                   apply_vector_scaling, fit_vector_scaling, select_calibrator)
from medfusion_lib.calibration.compare import (CONFIDENT_ERROR, CONSISTENT_P, STATUSES, TARGET_ECE, CalibrationReport,
                                               best_temperature_ece, calibrate_strategies, calibration_report,
                                               meets_target, status_of)
from medfusion_lib.calibration.estimators import (ESTIMATORS, CalibrationTest, calibration_test, consistency_draws,
                                                  debiased_ece, ece_sweep, plugin_l2_ece, sweep_bins)
from medfusion_lib.calibration.experts import RULES_FOR_EXPERT_CALIBRATION, ExpertTemperatureFusion
from medfusion_lib.calibration.metrics import (BIN_STRATEGIES, bin_edges, bin_index, binned_gap, brier_score,
                                               calibration_summary, classwise_ece, ece_ci, ece_noise_floor, nll,
                                               top_label_ece)
from medfusion_lib.calibration.missing import RISE_TOLERANCE, confidence_change, confidence_rises
from medfusion_lib.calibration.reliability import ece_from_table, plot_reliability, reliability_table
from medfusion_lib.calibration.temperature import (ProbabilityPassthrough, TemperatureScaled, apply_temperature,
                                                   fit_temperature, nll_at_temperature, sklearn_temperature)

__all__ = ["BIN_STRATEGIES", "CALIBRATORS", "CANDIDATES", "CONFIDENT_ERROR", "CONSISTENT_P", "ESTIMATORS", "RISE_TOLERANCE",
           "RULES_FOR_EXPERT_CALIBRATION", "STATUSES", "TARGET_ECE", "CalibratedModel", "CalibrationReport",
           "CalibrationTest", "Calibrator", "CalibratorChoice", "ExpertTemperatureFusion", "ProbabilityPassthrough",
           "TemperatureScaled", "apply_temperature", "apply_vector_scaling", "best_temperature_ece", "bin_edges",
           "bin_index", "binned_gap",
           "brier_score", "calibrate_strategies", "calibration_report", "calibration_summary", "calibration_test",
           "classwise_ece", "confidence_change", "confidence_rises", "consistency_draws", "debiased_ece",
           "ece_ci", "ece_from_table", "ece_noise_floor", "ece_sweep", "fit_temperature", "fit_vector_scaling",
           "meets_target", "nll", "nll_at_temperature", "plot_reliability", "plugin_l2_ece", "reliability_table",
           "select_calibrator", "sklearn_temperature", "status_of", "sweep_bins", "top_label_ece"]
