"""Calibration *before* late fusion: one temperature per expert, then the fusion rule unchanged.

The MEDFUSION confidence-weighted rule weights each modality by its own top-class probability, so it
trusts whichever expert *sounds* surest. If one expert is over-confident, the rule hands it the decision.
:class:`ExpertTemperatureFusion` fits a temperature for every expert of a fitted
:class:`~medfusion_lib.fusion.LateFusion` on validation (on the patients who have that modality), rescales
the experts' probabilities, and applies the model's own rule to them — so a lesson can measure how many
fused diagnoses change when the experts are made honest first.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from medfusion_lib.calibration.temperature import apply_temperature, fit_temperature

#: Rules whose behaviour is defined for any expert probabilities (stacking's meta-learner was trained on
#: the uncalibrated experts' outputs, so rescaling its inputs would change it arbitrarily).
RULES_FOR_EXPERT_CALIBRATION = ("mean", "weighted", "product", "confidence")


class ExpertTemperatureFusion(ClassifierMixin, BaseEstimator):
    """A fitted ``LateFusion`` whose experts are temperature-scaled before its rule combines them.

    ``fit(val, y_val)`` fits ``temperatures_`` (modality -> T) on each expert's validation probabilities;
    the late-fusion model itself is not refitted. ``y_val`` holds class labels of ``model.classes_``.
    """

    def __init__(self, model):
        self.model = model

    def fit(self, val, y_val) -> "ExpertTemperatureFusion":
        from medfusion_lib.fusion.late import LateFusion

        if not isinstance(self.model, LateFusion) or not hasattr(self.model, "experts_"):
            raise TypeError("ExpertTemperatureFusion wraps a fitted medfusion_lib.fusion.LateFusion; for other "
                            "strategies calibrate after fusion with TemperatureScaled")
        if self.model.rule not in RULES_FOR_EXPERT_CALIBRATION:
            raise ValueError(f"rule {self.model.rule!r} cannot take recalibrated experts (its meta-learner was "
                             f"trained on the raw ones); use one of {RULES_FOR_EXPERT_CALIBRATION} or calibrate "
                             "after fusion with TemperatureScaled")
        self.classes_ = self.model.classes_
        target = np.searchsorted(self.classes_, np.asarray(y_val))
        P, present = self.model.expert_proba(val), self.model.presence(val)
        self.temperatures_ = {}
        for m, name in enumerate(self.model.names_):
            have = present[:, m]
            if len(np.unique(target[have])) < 2:
                raise ValueError(f"too few validation patients with the {name!r} modality to fit its temperature "
                                 "(need at least two classes among them)")
            self.temperatures_[name] = fit_temperature(target[have], P[have, m])
        return self

    def expert_proba(self, data) -> np.ndarray:
        """(n, M, K) the experts' temperature-scaled probabilities (the prior, unscaled, where absent)."""
        if not hasattr(self, "temperatures_"):
            raise RuntimeError("ExpertTemperatureFusion is not fitted yet; call fit(val, y_val) first")
        P, present = self.model.expert_proba(data), self.model.presence(data)
        for m, name in enumerate(self.model.names_):
            have = present[:, m]
            if have.any():
                P[have, m] = apply_temperature(P[have, m], self.temperatures_[name])
        return P

    def predict_proba(self, data) -> np.ndarray:
        """(n_patients, n_classes): the model's rule on the recalibrated experts."""
        return self.model.combine(self.expert_proba(data), self.model.presence(data))

    def predict(self, data) -> np.ndarray:
        return self.classes_[self.predict_proba(data).argmax(axis=1)]
