"""Fusion of symptom text, chest images and vitals: early, late and hybrid strategies with one interface.

Every strategy is a scikit-learn style classifier whose ``X`` is a :class:`Modalities` (aligned
per-modality arrays with presence masks)::

    from medfusion_lib.fusion import LateFusion, build_modalities
    feats = build_modalities(cohort)                       # train / val / test Modalities + labels
    model = LateFusion("confidence").fit(feats.train, feats.y_train)
    proba = model.predict_proba(feats.test)               # (n_test, n_classes)
"""
from medfusion_lib.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "base": ["ESTIMATORS", "FusionModel", "make_estimator", "out_of_fold_proba"],
    "compare": ["Comparison", "compare_strategies", "default_strategies", "missing_modality_sweep"],
    "early": ["EarlyFusion"],
    "features": ["FusionFeatures", "ImageSettings", "build_modalities"],
    "hybrid": ["FUSION_LAYERS", "HybridFusion"],
    "late": ["RULES", "LateFusion", "confidence_rule", "fit_modality_weights", "mean_rule", "product_rule",
             "weighted_mean_rule"],
    "modalities": ["MODALITY_NAMES", "Modalities"],
    "unimodal": ["UnimodalModel"],
})
