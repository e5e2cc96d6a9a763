"""The honest baselines a fusion gain is measured against, in the fusion strategies' interface.

- :class:`NarrativeModel` with no extras is **lesson 03's best text model**: negation-tagged TF-IDF of the
  raw narrative + logistic regression, ``C`` chosen by the same 3-fold grid search on the training patients
  (:func:`medfusion_lib.text.models.grid_search`). It is a stronger text baseline than a classifier on the
  extracted symptom table (the ``text`` modality of :func:`~medfusion_lib.fusion.features.build_modalities`).
- ``NarrativeModel(extra=("vitals",))`` adds the vitals as standardised columns beside the TF-IDF: the best
  model here that never sees an image. The gain of an image-using fusion over it is what the image adds.

Both read each patient's narrative from a ``patient_id -> text`` mapping (:func:`narrative_lookup`), because
:class:`~medfusion_lib.fusion.modalities.Modalities` holds numbers only; a patient whose ``text`` modality is
marked absent gets an empty narrative (the text-only model then predicts the training class frequencies).
"""
from __future__ import annotations

import functools
from typing import Mapping, Sequence

import numpy as np

from medfusion_lib.fusion.base import FusionModel, one_blas_thread, resolve_modalities
from medfusion_lib.fusion.modalities import Modalities

#: The names under which :func:`baseline_strategies` lists the two baselines.
TEXT_BASELINE, TEXT_VITALS_BASELINE = "text_tfidf_lr", "text_vitals_lr"


def narrative_lookup(feats) -> dict[str, str]:
    """``patient_id -> narrative`` for every patient of a :class:`~medfusion_lib.fusion.FusionFeatures`."""
    if not getattr(feats, "narratives", None):
        raise ValueError("these FusionFeatures carry no narratives; build them with build_modalities(...)")
    lookup: dict[str, str] = {}
    for split in ("train", "val", "test"):
        data = getattr(feats, split)
        lookup.update(zip(data.patient_ids.tolist(), feats.narratives[split]))
    return lookup


class NarrativeModel(FusionModel):
    """TF-IDF + logistic regression on the narrative (lesson 03), optionally with numeric modalities beside it.

    Parameters
    ----------
    narratives : mapping patient_id -> narrative text, covering every patient it will see.
    extra : numeric modalities appended as standardised columns (e.g. ``("vitals",)``); an absent one is
        imputed with its training mean.
    C : inverse regularisation; ``None`` chooses it like lesson 03 (3-fold grid search of TF-IDF + LR on the
        training narratives over ``medfusion_lib.text.models.DEFAULT_GRIDS["logreg"]``; with ``extra`` too, so
        the text + vitals model differs from the text model only by its extra columns).
    """

    def __init__(self, narratives: Mapping[str, str] | None = None, extra: Sequence[str] = (),
                 C: float | None = None, seed: int = 0):
        self.narratives = narratives
        self.extra = extra
        self.C = C
        self.seed = seed

    @property
    def fusion_kind(self) -> str:
        """``"unimodal"`` for the text-only model, ``"baseline"`` (a non-image multimodal model) otherwise."""
        return "baseline" if tuple(self.extra) else "unimodal"

    @property
    def modalities_used(self) -> tuple[str, ...]:
        return ("text", *tuple(self.extra))

    @property
    def missing_policy(self) -> str:  # type: ignore[override]
        return ("reads an empty narrative for a patient without text and imputes a missing extra modality "
                "with its training mean" if tuple(self.extra) else
                "predicts the training class frequencies for a patient without text")

    # ------------------------------------------------------------------ inputs
    def _texts(self, data: Modalities) -> list[str]:
        if self.narratives is None:
            raise ValueError("NarrativeModel needs narratives={patient_id: text}; use narrative_lookup(feats)")
        ids = data.patient_ids.tolist()
        unknown = [pid for pid in ids if pid not in self.narratives]
        if unknown:
            raise ValueError(f"{len(unknown)} patients have no narrative in the lookup (e.g. {unknown[0]!r}); "
                             "build it from the same FusionFeatures with narrative_lookup(feats)")
        present = data.present["text"]
        return [self.narratives[pid] if ok else "" for pid, ok in zip(ids, present)]

    def _table(self, data: Modalities):
        import pandas as pd

        frame = pd.DataFrame({"narrative": self._texts(data)})
        for name in self.extra_:
            X = data.features[name].astype(float).copy()
            X[~data.present[name]] = self.means_[name]
            for j in range(X.shape[1]):
                frame[f"{name}{j}"] = X[:, j]
        return frame

    def _pipeline(self):
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        from medfusion_lib.text.features import tfidf_pipeline
        from medfusion_lib.text.models import make_model

        numeric = [f"{n}{j}" for n in self.extra_ for j in range(self.layout_[n])]
        features = ColumnTransformer([("tfidf", tfidf_pipeline(), "narrative"),
                                      *([("numeric", StandardScaler(), numeric)] if numeric else [])])
        return Pipeline([("features", features), ("model", make_model("logreg", self.seed))])

    # ------------------------------------------------------------------ fit / predict
    def fit(self, data: Modalities, y) -> "NarrativeModel":
        data, y = self._start_fit(data, y)
        self.extra_ = resolve_modalities(tuple(self.extra), data) if tuple(self.extra) else ()
        if "text" in self.extra_ or "image" in self.extra_:
            raise ValueError("extra lists numeric modalities to add to the narrative (e.g. ('vitals',)); "
                             "text is already in, and an image baseline is not a text baseline")
        data.check_has(["text"])
        self.layout_ = {n: data.n_features[n] for n in ("text", *self.extra_)}
        self.means_ = {n: data.features[n][data.present[n]].mean(axis=0) for n in self.extra_}
        rows = data.present["text"] if not self.extra_ else np.ones(len(data), dtype=bool)
        X, target = self._table(data)[rows], y[rows]
        with one_blas_thread():
            self.C_ = float(self.C) if self.C is not None else self._grid_C(data, y)
            self.model_ = self._pipeline().set_params(model__C=self.C_).fit(X, target)
        self._cols = np.searchsorted(self.classes_, self.model_.classes_)
        return self

    def _grid_C(self, data: Modalities, y: np.ndarray) -> float:
        """Lesson 03's choice of C: 3-fold grid search of TF-IDF + LR on the training narratives (text only, also
        for the text + vitals model, so the two baselines differ only in the vitals columns)."""
        rows = data.present["text"]
        texts = tuple(t for t, ok in zip(self._texts(data), rows) if ok)
        return _grid_search_C(texts, tuple(y[rows].tolist()), self.seed)

    def predict_proba(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_classes) class probabilities."""
        data = self._start_predict(data)
        proba = np.tile(self.prior_, (len(data), 1))
        rows = data.present["text"] if not self.extra_ else np.ones(len(data), dtype=bool)
        if rows.any():
            proba[rows] = 0.0
            with one_blas_thread():
                proba[np.ix_(rows, self._cols)] = self.model_.predict_proba(self._table(data)[rows])
        return proba


@functools.lru_cache(maxsize=8)
def _grid_search_C(texts: tuple[str, ...], y: tuple, seed: int) -> float:
    """The C of lesson 03's grid search on these narratives and labels. Remembered for the process: the text
    and the text + vitals baselines run the very same search (on the text alone), and a lesson fits both."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from medfusion_lib.text.models import DEFAULT_GRIDS, text_pipeline

    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    search = GridSearchCV(text_pipeline("logreg", "tfidf", seed), DEFAULT_GRIDS["logreg"],
                          scoring="f1_macro", cv=folds).fit(list(texts), np.asarray(y))
    return float(search.best_params_["model__C"])


def baseline_strategies(feats, seed: int = 0, C: float | None = None) -> dict[str, NarrativeModel]:
    """``{"text_tfidf_lr": lesson 03's text model, "text_vitals_lr": the same plus vitals}`` for ``feats``."""
    lookup = narrative_lookup(feats)
    return {TEXT_BASELINE: NarrativeModel(lookup, seed=seed, C=C),
            TEXT_VITALS_BASELINE: NarrativeModel(lookup, extra=("vitals",), seed=seed, C=C)}
