"""Fusion of symptom text, chest images and vitals: early, late and hybrid strategies with one interface.

Every strategy is a scikit-learn style classifier whose ``X`` is a :class:`Modalities` (aligned
per-modality arrays with presence masks)::

    from medfusion_lib.fusion import LateFusion, build_modalities
    feats = build_modalities(cohort)                       # train / val / test Modalities + labels
    model = LateFusion("confidence").fit(feats.train, feats.y_train)
    proba = model.predict_proba(feats.test)               # (n_test, n_classes)
"""
from medfusion_lib.fusion.base import ESTIMATORS, FusionModel, make_estimator, out_of_fold_proba
from medfusion_lib.fusion.compare import (Comparison, compare_strategies, default_strategies,
                                          missing_modality_sweep)
from medfusion_lib.fusion.early import EarlyFusion
from medfusion_lib.fusion.features import FusionFeatures, ImageSettings, build_modalities
from medfusion_lib.fusion.hybrid import FUSION_LAYERS, HybridFusion
from medfusion_lib.fusion.late import (RULES, LateFusion, confidence_rule, fit_modality_weights, mean_rule,
                                       product_rule, weighted_mean_rule)
from medfusion_lib.fusion.modalities import MODALITY_NAMES, Modalities
from medfusion_lib.fusion.unimodal import UnimodalModel

__all__ = ["ESTIMATORS", "FUSION_LAYERS", "MODALITY_NAMES", "RULES", "Comparison", "EarlyFusion", "FusionFeatures",
           "FusionModel", "ImageSettings", "build_modalities",
           "HybridFusion", "LateFusion", "Modalities", "UnimodalModel", "compare_strategies",
           "confidence_rule", "default_strategies", "fit_modality_weights", "make_estimator", "mean_rule",
           "missing_modality_sweep", "out_of_fold_proba", "product_rule", "weighted_mean_rule"]
