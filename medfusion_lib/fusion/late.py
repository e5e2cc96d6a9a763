"""Late (decision-level) fusion: one model per modality, then a rule that combines their probabilities.

Rules (all computed only over the modalities a patient *has*, then renormalised; a patient with none
gets the training class frequencies):

- ``mean``        average of the experts' probability vectors;
- ``weighted``    weighted average, one weight per modality chosen to maximise macro-F1 on validation
                  predictions (or out-of-fold training predictions when no validation set is given);
- ``product``     product of experts: multiply the probabilities and renormalise (agreement is rewarded,
                  one confident veto is enough to rule a class out);
- ``confidence``  the MEDFUSION paper's confidence-weighted rule: each modality is weighted, per patient,
                  by its own confidence (its top-class probability);
- ``stacking``    a multinomial logistic regression (the meta-learner) on the experts' log-probabilities,
                  trained on *out-of-fold* predictions so it never learns to trust an overfitted expert.
"""
from __future__ import annotations

import itertools

import numpy as np
from sklearn.linear_model import LogisticRegression

from medfusion_lib.fusion.base import FusionModel, one_blas_thread, out_of_fold_proba, resolve_modalities
from medfusion_lib.fusion.modalities import Modalities
from medfusion_lib.fusion.unimodal import UnimodalModel

RULES = ("mean", "weighted", "product", "confidence", "stacking")
_EPS = 1e-4  # floor on probabilities before logs/products, so one zero cannot veto a class outright


# ---------------------------------------------------------------------------- the rules, as plain functions
def _finish(fused: np.ndarray, any_present: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    fused = fused / fused.sum(axis=1, keepdims=True).clip(min=1e-12)
    if prior is not None and (~any_present).any():
        fused[~any_present] = prior
    return fused


def weighted_mean_rule(P: np.ndarray, present: np.ndarray, weights: np.ndarray,
                       prior: np.ndarray | None = None) -> np.ndarray:
    """Fused (n, K) probabilities from experts' P (n, M, K), presence (n, M) and weights (M,) or (n, M).

    Absent modalities get weight 0; the remaining weights are renormalised per patient.
    """
    w = np.broadcast_to(np.asarray(weights, dtype=float), present.shape) * present
    total = w.sum(axis=1, keepdims=True)
    fused = (w[:, :, None] * P).sum(axis=1) / np.where(total > 0, total, 1.0)
    return _finish(fused, total[:, 0] > 0, prior)


def mean_rule(P: np.ndarray, present: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Average of the present experts' probabilities, (n, K)."""
    return weighted_mean_rule(P, present, np.ones(P.shape[1]), prior)


def confidence_rule(P: np.ndarray, present: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """MEDFUSION's rule: weight each present expert by its own top-class probability, (n, K)."""
    return weighted_mean_rule(P, present, P.max(axis=2), prior)


def product_rule(P: np.ndarray, present: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Product of the present experts' probabilities, renormalised, (n, K). Computed in log space."""
    logp = np.log(np.clip(P, _EPS, 1.0)) * present[:, :, None]
    logp = logp.sum(axis=1)
    fused = np.exp(logp - logp.max(axis=1, keepdims=True))
    return _finish(fused, present.any(axis=1), prior)


def fit_modality_weights(P: np.ndarray, present: np.ndarray, y_index: np.ndarray, step: float = 0.05
                         ) -> np.ndarray:
    """(M,) non-negative weights summing to one that maximise the macro-F1 of the weighted mean
    (ties broken by log-likelihood, then by the order of the grid).

    A grid search over the simplex: transparent, deterministic, and fast for three modalities.
    ``y_index`` holds each patient's class as a column index into P.
    """
    from medfusion_lib.evaluation import macro_f1

    n_mod = P.shape[1]
    ticks = int(round(1 / step))
    best, best_score = np.full(n_mod, 1 / n_mod), (-np.inf, -np.inf)
    rows = np.arange(len(y_index))
    for combo in itertools.product(range(ticks + 1), repeat=n_mod - 1):
        if sum(combo) > ticks:
            continue
        w = np.array([*combo, ticks - sum(combo)], dtype=float) / ticks
        fused = weighted_mean_rule(P, present, w)
        score = (round(macro_f1(y_index, fused.argmax(axis=1)), 6),
                 float(np.log(np.clip(fused[rows, y_index], 1e-12, None)).mean()))
        if score > best_score:
            best, best_score = w, score
    return best


# ---------------------------------------------------------------------------- the estimator
class LateFusion(FusionModel):
    """One :class:`UnimodalModel` per modality, combined by ``rule`` (see the module docstring).

    Parameters
    ----------
    rule : one of ``RULES``.
    modalities : which modalities to fuse (default: all).
    estimator : the experts' classifier (a registry name in ``fusion.ESTIMATORS``, a scikit-learn
        classifier, or a dict modality -> one of those).
    n_folds : folds for out-of-fold predictions (stacking, and weights when no validation set is given).
    meta_C : inverse regularisation of the stacking meta-learner.
    """

    missing_policy = ("combines only the modalities a patient has (weights renormalised); "
                      "a patient with none gets the training class frequencies")

    def __init__(self, rule: str = "mean", modalities=None, estimator="logreg", n_folds: int = 5,
                 meta_C: float = 1.0, seed: int = 0):
        self.rule = rule
        self.modalities = modalities
        self.estimator = estimator
        self.n_folds = n_folds
        self.meta_C = meta_C
        self.seed = seed

    def _expert(self, name: str) -> UnimodalModel:
        est = self.estimator[name] if isinstance(self.estimator, dict) else self.estimator
        return UnimodalModel(name, estimator=est, missing="prior", seed=self.seed)

    def fit(self, data: Modalities, y, val: Modalities | None = None, y_val=None) -> "LateFusion":
        """Fit the experts on ``data``; ``val``/``y_val`` (optional) are used only to fit the weights of
        ``rule="weighted"``."""
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; choose one of {RULES}")
        data, y = self._start_fit(data, y)
        self.names_ = resolve_modalities(self.modalities, data)
        self.layout_ = {n: data.n_features[n] for n in self.names_}
        self.experts_ = {n: self._expert(n).fit(data, y) for n in self.names_}
        if self.rule == "weighted":
            if val is not None:
                if y_val is None:
                    raise ValueError("val was given without y_val; pass both or neither")
                val.check_layout(self.layout_)
                P, present, target = self.expert_proba(val), self._presence(val), np.asarray(y_val)
            else:
                P, present, target = self._oof(data, y), self._presence(data), y
            self.weights_ = fit_modality_weights(P, present, np.searchsorted(self.classes_, target))
        elif self.rule == "stacking":
            self.oof_proba_ = self._oof(data, y)  # (n, M, K): kept so a lesson can inspect what the meta-learner saw
            meta_X = self.meta_features(self.oof_proba_, self._presence(data))
            with one_blas_thread():
                self.meta_ = LogisticRegression(C=self.meta_C, max_iter=2000).fit(meta_X, y)
        return self

    def _presence(self, data: Modalities) -> np.ndarray:
        return np.stack([data.present[n] for n in self.names_], axis=1)

    def _oof(self, data: Modalities, y: np.ndarray) -> np.ndarray:
        """(n, M, K) out-of-fold expert probabilities on the training patients."""
        return np.stack([out_of_fold_proba(self._expert(n), data, y, self.n_folds, self.seed)
                         for n in self.names_], axis=1)

    @staticmethod
    def meta_features(P: np.ndarray, present: np.ndarray) -> np.ndarray:
        """(n, M*K + M) the stacking meta-learner's input from expert probabilities ``P`` (n, M, K) and
        presence ``present`` (n, M): log-probabilities (zeros for an absent expert) then presence indicators.
        Public so a lesson can train its own meta-learner on the same table (lesson 09's leakage demo)."""
        P, present = np.asarray(P, dtype=float), np.asarray(present, dtype=bool)
        if P.ndim != 3 or present.shape != P.shape[:2]:
            raise ValueError(f"P must be (n, M, K) and present (n, M); got {P.shape} and {present.shape}")
        logp = np.log(np.clip(P, _EPS, 1.0)) * present[:, :, None]  # absent expert: zeros + indicator
        return np.concatenate([logp.reshape(len(P), -1), present.astype(float)], axis=1)

    def expert_proba(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_modalities, n_classes): each expert's probabilities (prior where absent)."""
        return np.stack([self.experts_[n].predict_proba(data) for n in self.names_], axis=1)

    def presence(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_modalities) bool: which of the fused modalities each patient has (``names_`` order)."""
        return self._presence(data)

    def predict_proba(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_classes) fused class probabilities."""
        data = self._start_predict(data)
        return self.combine(self.expert_proba(data), self._presence(data))

    def combine(self, P: np.ndarray, present: np.ndarray) -> np.ndarray:
        """(n_patients, n_classes): this model's rule applied to given expert probabilities P (n, M, K) and
        presence (n, M), in ``names_`` order — e.g. experts recalibrated before fusion (lesson 12)."""
        if not hasattr(self, "experts_"):
            raise RuntimeError("LateFusion is not fitted yet; call fit(train, y_train) first")
        P, present = np.asarray(P, dtype=float), np.asarray(present, dtype=bool)
        if P.shape[1:] != (len(self.names_), len(self.classes_)) or present.shape != P.shape[:2]:
            raise ValueError(f"P must be (n, {len(self.names_)}, {len(self.classes_)}) and present (n, "
                             f"{len(self.names_)}) for modalities {list(self.names_)}; got {P.shape} and "
                             f"{present.shape}")
        if self.rule == "mean":
            return mean_rule(P, present, self.prior_)
        if self.rule == "weighted":
            return weighted_mean_rule(P, present, self.weights_, self.prior_)
        if self.rule == "product":
            return product_rule(P, present, self.prior_)
        if self.rule == "confidence":
            return confidence_rule(P, present, self.prior_)
        with one_blas_thread():
            return self.meta_.predict_proba(self.meta_features(P, present))
