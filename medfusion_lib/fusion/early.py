"""Early (feature-level) fusion: scale each modality, concatenate, fit one classifier on the fused table."""
from __future__ import annotations

import numpy as np

from medfusion_lib.fusion.base import FusionModel, ModalityScaler, make_estimator, one_blas_thread, resolve_modalities
from medfusion_lib.fusion.modalities import Modalities


class EarlyFusion(FusionModel):
    """Concatenate standardised modality features (plus one presence indicator per modality) and fit one
    classifier.

    Parameters
    ----------
    estimator : a registry name in ``fusion.ESTIMATORS`` ("logreg", "rbf_svm", "random_forest",
        "gradient_boosting", "mlp"; see medfusion_lib.estimators) or a scikit-learn classifier.
    modalities : which modalities to fuse (default: all in the training data).
    balance : divide each standardised block by sqrt(its width) so every modality carries the same total
        variance; without it a 100-column text block drowns a 4-column vitals block in any distance- or
        penalty-based model.
    missing : "impute" — an absent modality becomes its training mean (zeros after scaling) and its
        indicator column says so; "error" — raise when any patient lacks a modality.
    """

    def __init__(self, estimator="logreg", modalities=None, balance: bool = True, missing: str = "impute",
                 seed: int = 0):
        self.estimator = estimator
        self.modalities = modalities
        self.balance = balance
        self.missing = missing
        self.seed = seed

    @property
    def missing_policy(self) -> str:  # type: ignore[override]
        return ("raises when a modality is absent" if self.missing == "error" else
                "imputes an absent modality with its training mean and adds a presence indicator")

    def fuse(self, data: Modalities) -> np.ndarray:
        """(n_patients, sum of widths + n_modalities) the fused feature table the classifier sees."""
        blocks = self.scaler_.transform(data)
        columns = []
        for name in self.names_:
            block = blocks[name]
            if self.balance:
                block = block / np.sqrt(block.shape[1])
            columns.append(block)
        columns.append(np.stack([data.present[n] for n in self.names_], axis=1).astype(np.float32))
        return np.concatenate(columns, axis=1)

    def _check_missing(self, data: Modalities) -> None:
        if self.missing not in ("impute", "error"):
            raise ValueError(f"missing must be 'impute' or 'error'; got {self.missing!r}")
        if self.missing == "error":
            for name in self.names_:
                if not data.present[name].all():
                    raise ValueError(f"{int((~data.present[name]).sum())} patients lack {name!r} and "
                                     "missing='error'; use missing='impute' or late/hybrid fusion")

    def fit(self, data: Modalities, y) -> "EarlyFusion":
        data, y = self._start_fit(data, y)
        self.names_ = resolve_modalities(self.modalities, data)
        self._check_missing(data)
        self.layout_ = {n: data.n_features[n] for n in self.names_}
        self.scaler_ = ModalityScaler().fit(data, self.names_)
        with one_blas_thread():
            self.model_ = make_estimator(self.estimator, self.seed).fit(self.fuse(data), y)
        return self

    def predict_proba(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_classes) class probabilities."""
        data = self._start_predict(data)
        self._check_missing(data)
        with one_blas_thread():
            return self.model_.predict_proba(self.fuse(data))
