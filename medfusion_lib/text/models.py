"""Classic text classifiers as scikit-learn pipelines, with stratified cross-validation and a small grid.

``text_pipeline(model, features)`` builds ``features -> model`` where

* ``model``: a name from :mod:`medfusion_lib.estimators` among ``MODELS`` — ``"logreg"``, ``"linear_svm"``,
  ``"naive_bayes"`` or ``"random_forest"``, with the text track's settings in ``TEXT_SETTINGS``;
* ``features``: ``"tfidf"`` (negation-tagged TF-IDF), ``"symptoms"`` (the extracted present/absent/not
  mentioned table) or ``"both"`` (side by side).

Every pipeline takes a list of narratives as ``X`` and class ids as ``y``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder

from medfusion_lib.estimators import make_estimator
from medfusion_lib.lexicon import SYMPTOMS
from medfusion_lib.text.features import SymptomFeaturizer, as_text_list, tfidf_pipeline

MODELS = ("logreg", "linear_svm", "naive_bayes", "random_forest")
FEATURES = ("tfidf", "symptoms", "both")

#: Small grids: a handful of fits each, enough to show what tuning does without a long wait.
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "logreg": {"model__C": [0.3, 1.0, 3.0, 10.0]},
    "linear_svm": {"model__C": [0.03, 0.1, 0.3, 1.0]},
    "naive_bayes": {"model__alpha": [0.03, 0.1, 0.3, 1.0]},
    "random_forest": {"model__n_estimators": [100, 300], "model__min_samples_leaf": [1, 3]},
}


#: Where the text track departs from the registry's defaults, and why (sparse TF-IDF, ~10k columns).
TEXT_SETTINGS: dict[str, dict] = {
    # saga: lbfgs needs many BLAS-heavy iterations here and crawls on a busy 2-core laptop
    "logreg": {"C": 3.0, "solver": "saga", "max_iter": 3000},
    "linear_svm": {"C": 0.3},
    "naive_bayes": {"alpha": 0.1},
    "random_forest": {"min_samples_leaf": 1},  # scikit-learn's default, which lesson 03 was written with
}


def make_model(model: str, seed: int = 0):
    """An unfitted classifier by registry name (see ``MODELS``), with the text settings above."""
    return make_estimator(model, seed, allowed=MODELS, **TEXT_SETTINGS.get(model, {}))


def make_features(features: str, for_naive_bayes: bool = False):
    """The feature step by name (see ``FEATURES``). Naive Bayes needs counts, so the -1/0/1 symptom table
    is one-hot encoded for it (three indicator columns per symptom)."""
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; choose one of {', '.join(FEATURES)}")
    symptoms = SymptomFeaturizer()
    if for_naive_bayes:
        symptoms = Pipeline([("table", symptoms),
                             ("onehot", OneHotEncoder(categories=[[-1.0, 0.0, 1.0]] * len(SYMPTOMS),
                                                      handle_unknown="ignore"))])
    if features == "tfidf":
        return tfidf_pipeline()
    if features == "symptoms":
        return symptoms
    return FeatureUnion([("tfidf", tfidf_pipeline()), ("symptoms", symptoms)])


def text_pipeline(model: str = "logreg", features: str = "tfidf", seed: int = 0) -> Pipeline:
    """``Pipeline([("features", ...), ("model", ...)])`` over raw narratives."""
    return Pipeline([("features", make_features(features, for_naive_bayes=model == "naive_bayes")),
                     ("model", make_model(model, seed))])


def stratified_cv(pipeline: Pipeline, X, y, n_splits: int = 5, seed: int = 0,
                  scoring: tuple[str, ...] = ("f1_macro", "balanced_accuracy")) -> pd.DataFrame:
    """Stratified k-fold cross-validation; one row per fold with each score and the fit time (s)."""
    texts = as_text_list(X)
    y = np.asarray(y)
    if len(texts) != len(y):
        raise ValueError(f"X has {len(texts)} texts but y has {len(y)} labels")
    smallest = np.bincount(np.unique(y, return_inverse=True)[1]).min()
    if smallest < n_splits:
        raise ValueError(f"the rarest class has {smallest} examples, fewer than n_splits={n_splits}; "
                         "use fewer splits or more data")
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    result = cross_validate(pipeline, texts, y, cv=cv, scoring=list(scoring))
    frame = pd.DataFrame({name: result[f"test_{name}"] for name in scoring})
    frame["fit_seconds"] = result["fit_time"]
    frame.index.name = "fold"
    return frame


def grid_search(model: str, X, y, features: str = "tfidf", grid: dict | None = None, n_splits: int = 3,
                seed: int = 0) -> GridSearchCV:
    """A small stratified grid search (``DEFAULT_GRIDS[model]`` unless ``grid`` is given), refit on all data."""
    texts = as_text_list(X)
    search = GridSearchCV(text_pipeline(model, features, seed), grid or DEFAULT_GRIDS[model],
                          scoring="f1_macro", cv=StratifiedKFold(n_splits, shuffle=True, random_state=seed))
    return search.fit(texts, np.asarray(y))
