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
from medfusion_lib.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "calibrators": ["CALIBRATORS", "CANDIDATES", "CalibratedModel", "Calibrator", "CalibratorChoice",
                    "apply_vector_scaling", "fit_vector_scaling", "select_calibrator"],
    "compare": ["CONFIDENT_ERROR", "CONSISTENT_P", "STATUSES", "TARGET_ECE", "CalibrationReport",
                "best_temperature_ece", "calibrate_strategies", "calibration_report", "meets_target", "status_of"],
    "estimators": ["ESTIMATORS", "CalibrationTest", "calibration_test", "consistency_draws", "debiased_ece",
                   "ece_sweep", "plugin_l2_ece", "sweep_bins"],
    "experts": ["RULES_FOR_EXPERT_CALIBRATION", "ExpertTemperatureFusion"],
    "metrics": ["BIN_STRATEGIES", "bin_edges", "bin_index", "binned_gap", "brier_score", "calibration_summary",
                "classwise_ece", "ece_ci", "ece_noise_floor", "nll", "top_label_ece"],
    "missing": ["RISE_TOLERANCE", "confidence_change", "confidence_rises"],
    "reliability": ["ece_from_table", "plot_reliability", "reliability_table"],
    "temperature": ["ProbabilityPassthrough", "TemperatureScaled", "apply_temperature", "fit_temperature",
                    "nll_at_temperature", "sklearn_temperature"],
})
