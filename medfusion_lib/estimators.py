"""One vocabulary of classic scikit-learn classifiers for every track (text, vision embeddings, fusion).

``make_estimator(name, seed, **params)`` returns an unfitted classifier; ``params`` override the documented
defaults below (unknown parameter names are refused, so a typo never silently keeps a default).

=====================  =====================================================================================
name                   estimator and defaults
=====================  =====================================================================================
``logreg``             ``LogisticRegression(C=1.0, solver="lbfgs", max_iter=2000, class_weight=None)``
``linear_svm``         ``LinearSVC(C=1.0, class_weight=None)`` — margins only, no ``predict_proba``
``rbf_svm``            ``SVC(C=1.0, kernel="rbf", gamma="scale", class_weight=None)`` wrapped in
                       ``CalibratedClassifierCV(method="sigmoid", cv=calibration_cv=5, ensemble=False)``
                       (Platt scaling on held-out folds; ``SVC(probability=True)`` is deprecated)
``naive_bayes``        ``MultinomialNB(alpha=1.0)`` — needs non-negative counts (TF-IDF, one-hot tables)
``random_forest``      ``RandomForestClassifier(n_estimators=200, min_samples_leaf=2, class_weight=None,
                       n_jobs=1)`` — one job: the course machine is a shared 2-core laptop
``gradient_boosting``  ``HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, class_weight=None)``
``mlp``                ``MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=400,
                       early_stopping=True)``
=====================  =====================================================================================

``seed`` becomes ``random_state`` wherever the estimator has one. A track that needs other settings passes
them by name at its call site (``make_estimator("logreg", seed, C=3.0, solver="saga")``), so the difference is
visible where it is made. The short names of earlier versions (``"rf"``, ``"svm"``, ``"gb"``) are refused
with the new name: one spelling per idea, and ``"svm"`` meant a linear SVM in one track and an RBF SVM in
another.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sklearn.base import clone


@dataclass(frozen=True)
class EstimatorSpec:
    """One registry entry: what ``name`` builds, its default parameters and what it can do."""

    name: str
    summary: str
    build: Callable[[dict[str, Any], int], Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    probabilities: bool = True      # has predict_proba
    nonnegative_only: bool = False  # refuses negative feature values (counts)


def _logreg(p: dict, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed, **p)


def _linear_svm(p: dict, seed: int):
    from sklearn.svm import LinearSVC

    return LinearSVC(random_state=seed, **p)


def _rbf_svm(p: dict, seed: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    p = dict(p)
    cv = p.pop("calibration_cv")
    return CalibratedClassifierCV(SVC(random_state=seed, **p), method="sigmoid", cv=cv, ensemble=False)


def _naive_bayes(p: dict, seed: int):
    from sklearn.naive_bayes import MultinomialNB

    return MultinomialNB(**p)  # deterministic: no seed


def _random_forest(p: dict, seed: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=seed, **p)


def _gradient_boosting(p: dict, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, **p)


def _mlp(p: dict, seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(random_state=seed, **p)


REGISTRY: dict[str, EstimatorSpec] = {spec.name: spec for spec in (
    EstimatorSpec("logreg", "multinomial logistic regression", _logreg,
                  {"C": 1.0, "solver": "lbfgs", "max_iter": 2000, "class_weight": None}),
    EstimatorSpec("linear_svm", "linear support vector machine (margins, no probabilities)", _linear_svm,
                  {"C": 1.0, "class_weight": None}, probabilities=False),
    EstimatorSpec("rbf_svm", "RBF support vector machine, Platt-scaled probabilities", _rbf_svm,
                  {"C": 1.0, "kernel": "rbf", "gamma": "scale", "class_weight": None, "calibration_cv": 5}),
    EstimatorSpec("naive_bayes", "multinomial naive Bayes over counts", _naive_bayes,
                  {"alpha": 1.0}, nonnegative_only=True),
    EstimatorSpec("random_forest", "random forest", _random_forest,
                  {"n_estimators": 200, "min_samples_leaf": 2, "class_weight": None, "n_jobs": 1}),
    EstimatorSpec("gradient_boosting", "histogram gradient boosting", _gradient_boosting,
                  {"max_iter": 150, "learning_rate": 0.1, "class_weight": None}),
    EstimatorSpec("mlp", "one-hidden-layer perceptron with early stopping", _mlp,
                  {"hidden_layer_sizes": (64,), "alpha": 1e-3, "max_iter": 400, "early_stopping": True}),
)}

#: Every name the registry knows, in the order of the table above.
ESTIMATOR_NAMES: tuple[str, ...] = tuple(REGISTRY)

#: Names used before the registry, refused with the name to use instead.
RENAMED: dict[str, str] = {"rf": "random_forest", "svm": "rbf_svm", "gb": "gradient_boosting"}


def estimator_spec(name: str, allowed: tuple[str, ...] | None = None) -> EstimatorSpec:
    """The registry entry for ``name``; ``allowed`` narrows the names a caller accepts."""
    choices = allowed or ESTIMATOR_NAMES
    if not isinstance(name, str):
        raise TypeError(f"estimator name must be a string, one of {', '.join(choices)}; got {type(name).__name__}")
    if name in RENAMED:
        hint = " (or 'linear_svm' for a linear SVM without probabilities)" if name == "svm" else ""
        raise ValueError(f"estimator {name!r} was renamed: use {RENAMED[name]!r}{hint} "
                         f"(see medfusion_lib.estimators; names here: {', '.join(choices)})")
    if name not in REGISTRY or name not in choices:
        raise ValueError(f"unknown estimator {name!r}; choose one of {', '.join(choices)}")
    return REGISTRY[name]


def make_estimator(name, seed: int = 0, allowed: tuple[str, ...] | None = None, **params):
    """A fresh unfitted classifier: ``name`` from :data:`ESTIMATOR_NAMES` with its defaults, overridden by
    ``params``; or a clone of a given scikit-learn classifier (``params`` are then set on the clone).

    ``allowed`` restricts the names (a track that needs probabilities passes its subset).
    """
    if not isinstance(name, str):
        if not hasattr(name, "fit"):
            raise TypeError(f"estimator must be one of {', '.join(allowed or ESTIMATOR_NAMES)} or a "
                            f"scikit-learn classifier; got {type(name).__name__}")
        return clone(name).set_params(**params) if params else clone(name)
    spec = estimator_spec(name, allowed)
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise ValueError(f"{name!r} has no parameter {', '.join(map(repr, unknown))}; it takes "
                         f"{', '.join(spec.defaults)}")
    return spec.build({**spec.defaults, **params}, seed)


def probabilistic_names(exclude_nonnegative: bool = True) -> tuple[str, ...]:
    """Names whose estimator has ``predict_proba`` (and, by default, accepts any real-valued features):
    what a fusion strategy or an embedding classifier can use."""
    return tuple(n for n, s in REGISTRY.items()
                 if s.probabilities and not (exclude_nonnegative and s.nonnegative_only))
