"""What every fusion strategy shares: the fit/predict interface, input checks, scaling, estimator choice.

All strategies are scikit-learn estimators (``get_params``/``clone`` work) whose ``X`` is a
:class:`~medfusion_lib.fusion.modalities.Modalities` rather than a matrix.
"""
from __future__ import annotations

import functools
from typing import Mapping

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold

from medfusion_lib.estimators import make_estimator as registry_estimator
from medfusion_lib.estimators import probabilistic_names
from medfusion_lib.fusion.modalities import Modalities

#: Registry names a fusion strategy accepts: those with ``predict_proba`` over real-valued features.
ESTIMATORS = probabilistic_names()


def make_estimator(estimator="logreg", seed: int = 0):
    """A fresh classifier from a registry name in ``ESTIMATORS`` (defaults in :mod:`medfusion_lib.estimators`)
    or a clone of a given scikit-learn classifier, which must have ``predict_proba``."""
    if not isinstance(estimator, str) and not hasattr(estimator, "predict_proba"):
        raise TypeError(f"estimator must be one of {ESTIMATORS} or a scikit-learn classifier with "
                        f"predict_proba; got {type(estimator).__name__}")
    return registry_estimator(estimator, seed, allowed=ESTIMATORS)


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, built once (building it scans the process: ~10 ms, too
    slow to repeat on every fit; limiting through it then costs microseconds). Built on first use, after
    scikit-learn has loaded SciPy's and NumPy's BLAS."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread():
    """A context in which NumPy's and SciPy's BLAS run on one thread (the caller's setting comes back after).

    The fusion track's classifiers fit small tables (hundreds of patients, tens of columns) with many short
    BLAS calls (each L-BFGS step of a logistic regression); starting BLAS threads for each costs more than the
    arithmetic, and on a busy 2-core laptop the threads spin: ``LateFusion("mean").fit`` on the quick-mode
    features took 0.64 s CPU with OpenBLAS's two threads and 0.07 s with one (same reason as
    :func:`medfusion_lib.config.torch_threads`). A fixed count also makes a seed give the same bits everywhere.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


def resolve_progress(progress: bool | None) -> bool:
    """An explicit choice wins; ``None`` shows progress bars only where a person watches them
    (``medfusion_lib.config.show_progress``), so executed lessons never store a bar."""
    if progress is not None:
        return bool(progress)
    from medfusion_lib.config import show_progress

    return show_progress()


def check_modalities(data, what: str = "X") -> Modalities:
    if not isinstance(data, Modalities):
        raise TypeError(f"{what} must be a medfusion_lib.fusion.Modalities (aligned per-modality arrays); "
                        f"got {type(data).__name__} — wrap arrays with Modalities({{'text': X_text, ...}}, ids)")
    return data


def check_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must be 1-D with one label per patient ({n}); got shape {y.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("y has a single class; a classifier needs at least two")
    return y


def resolve_modalities(wanted, data: Modalities) -> tuple[str, ...]:
    names = tuple(data.names) if wanted is None else tuple([wanted] if isinstance(wanted, str) else wanted)
    data.check_has(names)
    for name in names:
        if not data.present[name].any():
            raise ValueError(f"modality {name!r} is absent for every training patient, so nothing can be "
                             f"learned from it; leave it out (modalities=[...]) or supply it for some patients")
    return names


def class_prior(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(n_classes,) training class frequencies: the honest guess when a patient brings no information."""
    return np.array([(y == c).mean() for c in classes], dtype=float)


class ModalityScaler:
    """Standardise each modality with the mean/std of its *present* training rows; absent rows map to 0
    (the training mean), so "missing" is never mistaken for an extreme value."""

    def fit(self, data: Modalities, names) -> "ModalityScaler":
        self.stats_ = {}
        for name in names:
            X = data.features[name][data.present[name]]
            mean = X.mean(axis=0)
            std = X.std(axis=0)
            self.stats_[name] = (mean, np.where(std > 1e-8, std, 1.0))
        return self

    def transform(self, data: Modalities) -> dict[str, np.ndarray]:
        """name -> (n_patients, n_features) standardised float32, zeros where absent."""
        out = {}
        for name, (mean, std) in self.stats_.items():
            Z = (data.features[name] - mean) / std
            Z[~data.present[name]] = 0.0
            out[name] = Z.astype(np.float32)
        return out


class FusionModel(ClassifierMixin, BaseEstimator):
    """Base class: subclasses implement ``fit`` and ``predict_proba``; ``predict`` is arg-max.

    ``missing_policy`` (class attribute) says in one sentence what the strategy does with absent modalities.
    """

    missing_policy: str = ""

    def _start_fit(self, data, y) -> tuple[Modalities, np.ndarray]:
        data = check_modalities(data)
        y = check_labels(y, len(data))
        self.classes_ = np.unique(y)
        self.prior_ = class_prior(y, self.classes_)
        return data, y

    def _start_predict(self, data) -> Modalities:
        if not hasattr(self, "classes_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(train, y_train) first")
        data = check_modalities(data)
        data.check_layout(self.layout_)
        return data

    def predict(self, data: Modalities) -> np.ndarray:
        """(n_patients,) predicted class labels."""
        return self.classes_[self.predict_proba(data).argmax(axis=1)]

    def predict_proba(self, data: Modalities) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def out_of_fold_proba(model: FusionModel, data: Modalities, y: np.ndarray, n_folds: int = 5,
                      seed: int = 0) -> np.ndarray:
    """(n_patients, n_classes) predictions for each training patient from a clone of ``model`` that never
    saw that patient (stratified k-fold). This is what a stacking meta-learner may be trained on."""
    classes = np.unique(y)
    n_folds = min(n_folds, int(min(np.bincount(np.searchsorted(classes, y)))))
    if n_folds < 2:
        raise ValueError("out-of-fold predictions need at least 2 patients of every class")
    proba = np.zeros((len(y), len(classes)))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fit_idx, held_idx in folds.split(np.zeros(len(y)), y):
        fold_model = clone(model).fit(data.subset(fit_idx), y[fit_idx])  # each model limits its BLAS threads
        # a fold may lack a rare class: place its columns by class label
        cols = np.searchsorted(classes, fold_model.classes_)
        proba[np.ix_(held_idx, cols)] = fold_model.predict_proba(data.subset(held_idx))
    return proba
