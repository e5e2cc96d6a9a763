"""The single-modality baseline every fusion must beat (also the per-modality expert inside late fusion)."""
from __future__ import annotations

import numpy as np

from medfusion_lib.fusion.base import FusionModel, make_estimator, one_blas_thread, resolve_modalities
from medfusion_lib.fusion.modalities import Modalities


class UnimodalModel(FusionModel):
    """A classifier on one modality's features.

    Parameters
    ----------
    modality : which modality to use ("text", "image", "vitals").
    estimator : a registry name in ``fusion.ESTIMATORS`` or a scikit-learn classifier; it is wrapped in
        standardisation.
    missing : "prior" — a patient without this modality gets the training class frequencies (the model has
        nothing to say); "error" — raise instead.
    """

    def __init__(self, modality: str = "text", estimator="logreg", missing: str = "prior", seed: int = 0):
        self.modality = modality
        self.estimator = estimator
        self.missing = missing
        self.seed = seed

    @property
    def missing_policy(self) -> str:  # type: ignore[override]
        return ("raises on a patient without the modality" if self.missing == "error" else
                "predicts the training class frequencies for a patient without the modality")

    def fit(self, data: Modalities, y) -> "UnimodalModel":
        if self.missing not in ("prior", "error"):
            raise ValueError(f"missing must be 'prior' or 'error'; got {self.missing!r}")
        data, y = self._start_fit(data, y)
        (name,) = resolve_modalities([self.modality], data)
        present = data.present[name]
        self._check_missing(present, "training")
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(StandardScaler(), make_estimator(self.estimator, self.seed))
        with one_blas_thread():
            self.model_.fit(data.features[name][present], y[present])
        self._cols = np.searchsorted(self.classes_, self.model_.classes_)
        self.layout_ = {name: data.n_features[name]}
        return self

    def _check_missing(self, present: np.ndarray, when: str) -> None:
        if self.missing == "error" and not present.all():
            raise ValueError(f"{int((~present).sum())} {when} patients lack the {self.modality!r} modality and "
                             "missing='error'; use missing='prior' or a fusion strategy that copes")

    def predict_proba(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_classes) class probabilities; rows without the modality get the prior."""
        data = self._start_predict(data)
        present = data.present[self.modality]
        self._check_missing(present, "")
        proba = np.tile(self.prior_, (len(data), 1))
        if present.any():
            proba[present] = 0.0
            with one_blas_thread():
                proba[np.ix_(present, self._cols)] = self.model_.predict_proba(data.features[self.modality][present])
        return proba
