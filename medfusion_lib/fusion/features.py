"""The three modality feature sets of a cohort, built with the text and vision tracks' library code.

- ``text``:   the symptom table of :class:`medfusion_lib.text.features.SymptomFeaturizer` as two indicator
              columns per concept (stated present / stated absent; neither = not mentioned), or the
              :class:`medfusion_lib.text.encoder.TextEncoder` embedding (``text="embedding"``).
- ``image``:  what a :class:`medfusion_lib.vision.models.CompactCNN` trained on the cohort's *train* split
              (early stopping on val) says about each film. By default these are **out-of-fold** class
              log-probabilities: the train split is cut into ``ImageSettings.folds`` stratified folds, one CNN
              is trained per fold on the other folds, and each training patient is described by the CNN that
              never saw it — the rule lesson 09 teaches for anything trained on model outputs. Val and test
              patients get the log of the *average* probabilities of the same fold CNNs (not of one more CNN
              trained on every train patient): then every patient, train or not, is described by CNNs that did
              not train on them and that saw the same amount of data, so the features mean the same thing in
              every split. Class probabilities are used rather than penultimate embeddings because only the
              output layer means the same thing in independently trained CNNs (embedding unit 7 of one fold's
              CNN has nothing to do with unit 7 of another's). ``ImageSettings(folds=1, output="embedding")``
              is the old recipe: embeddings of one CNN trained on all train patients (in-sample for them).
- ``vitals``: ``VITALS`` plus age, as numbers.

Labels are class indices into ``cohort.classes`` (the diagnoses the cohort actually has), so the four-class
real-image cohort (``--source pneumoniamnist``) works as well as the six-class synthetic one.

Expensive pieces (the CNNs, the symptom extraction) are cached under ``build/cache/fusion/`` in files keyed by
the cohort's build parameters, its patient list, the seed, the settings (the fold scheme included) and a
fingerprint of the source code that makes them (:func:`medfusion_lib.fusion.fingerprint.code_fingerprint`), so
updated code never reads a stale cache; deleting the folder only costs the time to recompute.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medfusion_lib.atomic import atomic_write_bytes, building
from medfusion_lib.config import build_dir
from medfusion_lib.fusion.base import resolve_progress as _progress
from medfusion_lib.fusion.modalities import Modalities

TEXT_FEATURES = ("symptoms", "embedding")
VITALS_EXTRA = ("age",)
SPLITS = ("train", "val", "test")


IMAGE_OUTPUTS = ("log_proba", "embedding")


@dataclass(frozen=True)
class ImageSettings:
    """How the image CNNs are trained and what they hand to fusion.

    A narrow CNN on half-size (32 px) films trains in well under a minute on a 2-core laptop (once: the
    features are cached) and still tells bacterial from viral pneumonia.

    folds : number of stratified folds of the train split; one CNN per fold gives the out-of-fold features.
        ``1`` trains a single CNN on every train patient (their features are then in-sample).
    output : ``"log_proba"`` (log of the CNN's class probabilities, ``n_classes`` columns) or
        ``"embedding"`` (penultimate layer, ``4 * width`` columns; only with ``folds=1``, see the module docstring).
    Quick mode: 2 folds (the least that stays out-of-fold) and 6 epochs on the quick-mode subsample.
    """

    width: int = 16
    size: int | None = 32
    epochs: int = 8
    folds: int = 3
    output: str = "log_proba"

    def __post_init__(self) -> None:
        if self.output not in IMAGE_OUTPUTS:
            raise ValueError(f"unknown image output {self.output!r}; choose one of {IMAGE_OUTPUTS}")
        if not isinstance(self.folds, int) or self.folds < 1:
            raise ValueError(f"folds must be a whole number >= 1 (1 = one CNN, in-sample); got {self.folds!r}")
        if self.output == "embedding" and self.folds > 1:
            raise ValueError("out-of-fold embeddings would come from different CNNs whose embedding units mean "
                             "different things; use output='log_proba' with folds > 1, or folds=1 for embeddings")

    @classmethod
    def for_mode(cls, quick: bool) -> "ImageSettings":
        # 2 folds of the quick subsample leave each CNN ~450 films, i.e. ~7 optimiser steps per epoch: it needs
        # 6 epochs (the step count of the old single-CNN recipe) to learn what the films say about pneumonia
        return cls(epochs=6, folds=2) if quick else cls()

    @property
    def scheme(self) -> str:
        """The fold scheme in words, e.g. ``"3-fold out-of-fold log-probabilities"``."""
        if self.folds == 1:
            return f"in-sample {self.output.replace('_', '-')} (one CNN on every train patient)"
        return f"{self.folds}-fold out-of-fold {self.output.replace('_', '-')}"


@dataclass
class FusionFeatures:
    """Train/val/test :class:`Modalities` of one cohort and their labels (class indices into ``classes``)."""

    train: Modalities
    val: Modalities
    test: Modalities
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    feature_names: dict[str, list[str]]
    info: dict = field(default_factory=dict)
    narratives: dict[str, list[str]] = field(default_factory=dict)  # split -> raw narratives, row-aligned

    def split(self, name: str) -> tuple[Modalities, np.ndarray]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        return getattr(self, name), getattr(self, f"y_{name}")


# ---------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """``build/cache/fusion``: safe to delete at any time."""
    return build_dir() / "cache" / "fusion"


def cohort_key(cohort) -> str:
    """A short hash of what determines the cohort's content: its build parameters and patient/split list."""
    digest = hashlib.sha256(json.dumps(cohort.params, sort_keys=True, default=str).encode())
    digest.update("|".join(cohort.patients["patient_id"] + ":" + cohort.patients["split"]).encode())
    return digest.hexdigest()[:16]


#: The modules whose code makes each cache (the modules they import are followed automatically); this
#: module's own file is part of every fingerprint.
CACHE_SOURCES: dict[str, tuple[str, ...]] = {
    "symptoms": ("medfusion_lib.text.features",),
    "text-embedding": ("medfusion_lib.text.encoder",),
    "image-cnn": ("medfusion_lib.vision.datasets", "medfusion_lib.vision.models", "medfusion_lib.vision.train",
                  "medfusion_lib.vision.features", "medfusion_lib.vision.evaluate"),
}


def cache_fingerprint(name: str) -> str:
    """The fingerprint of the code that makes cache ``name`` (see ``CACHE_SOURCES``)."""
    from medfusion_lib.fusion.fingerprint import code_fingerprint

    if name not in CACHE_SOURCES:
        raise ValueError(f"unknown cache {name!r}; known: {sorted(CACHE_SOURCES)}")
    return code_fingerprint(*CACHE_SOURCES[name], shallow=(__name__,))


def cache_path(name: str, key: dict) -> Path:
    """``cache_dir()/name-<hash of key and of the producing code>.npz``."""
    key = {**key, "code": cache_fingerprint(name)}
    return cache_dir() / f"{name}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.npz"


def _load(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    except (OSError, ValueError):  # a damaged cache file is recomputed, never trusted
        return None


def _cached(name: str, key: dict, compute, use_cache: bool) -> tuple[dict[str, np.ndarray], bool]:
    """Arrays from ``cache_path(name, key)`` or from ``compute()`` (then stored atomically)."""
    if not use_cache:
        return compute(), False
    path = cache_path(name, key)
    arrays = _load(path)
    if arrays is not None:
        return arrays, True
    with building(path):  # another process building the same file: wait, then read it
        arrays = _load(path)  # built by another process while this one waited
        if arrays is not None:
            return arrays, True
        arrays = compute()
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())
    return arrays, False


# ---------------------------------------------------------------------------- the three modalities
def text_features(cohort, kind: str = "symptoms", seed: int = 0, use_cache: bool = True,
                  progress: bool | None = None) -> tuple[np.ndarray, list[str], bool]:
    """(n_patients, n_features) text features for every patient of ``cohort``; names; whether cached.

    ``symptoms`` is rule-based (no fitting); ``embedding`` trains the text encoder on the train split only.
    """
    if kind not in TEXT_FEATURES:
        raise ValueError(f"unknown text features {kind!r}; choose one of {TEXT_FEATURES}")
    progress = _progress(progress)
    texts = cohort.patients["narrative"].tolist()
    if kind == "symptoms":
        from medfusion_lib.text.features import SymptomFeaturizer

        featurizer = SymptomFeaturizer().fit(texts)
        labels = list(featurizer.get_feature_names_out())

        def compute():
            from tqdm.auto import tqdm

            chunks = [texts[i:i + 200] for i in range(0, len(texts), 200)]
            table = np.concatenate([featurizer.transform(chunk) for chunk in
                                    tqdm(chunks, desc="symptom extraction", disable=not progress)])
            return {"X": np.concatenate([table == 1, table == -1], axis=1).astype(np.float32)}

        arrays, hit = _cached("symptoms", {"cohort": cohort_key(cohort)}, compute, use_cache)
        return arrays["X"], [f"{s}: present" for s in labels] + [f"{s}: absent" for s in labels], hit

    from medfusion_lib.text.encoder import TextEncoder

    def compute():
        train = (cohort.patients["split"] == "train").to_numpy()
        encoder = TextEncoder(seed=seed).fit([t for t, m in zip(texts, train) if m], cohort_labels(cohort)[0][train])
        return {"X": encoder.embed(texts).astype(np.float32)}

    arrays, hit = _cached("text-embedding", {"cohort": cohort_key(cohort), "seed": seed}, compute, use_cache)
    return arrays["X"], [f"emb{i}" for i in range(arrays["X"].shape[1])], hit


def _train_cnn(images: np.ndarray, labels: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray,
               n_classes: int, settings: ImageSettings, seed: int, progress: bool):
    """One CompactCNN trained on ``images`` (n, H, W) with early stopping on the val films."""
    from medfusion_lib.config import seed_everything
    from medfusion_lib.vision.datasets import ImageArrayDataset
    from medfusion_lib.vision.models import CompactCNN
    from medfusion_lib.vision.train import fit

    seed_everything(seed)  # the initial weights are part of the run (torch's start-up seed differs per process)
    model = CompactCNN(num_classes=n_classes, width=settings.width)
    fit(model, ImageArrayDataset(images, labels, size=settings.size),
        ImageArrayDataset(val_images, val_labels, size=settings.size),
        epochs=settings.epochs, seed=seed, progress=progress, device="cpu")
    return model


def _image_arrays(cohort, settings: ImageSettings, seed: int, progress: bool) -> dict[str, np.ndarray]:
    """``{"X": (n_patients, d) float32}`` image features of every patient, made as ``settings`` says."""
    from sklearn.model_selection import StratifiedKFold

    from medfusion_lib.vision.evaluate import predict_proba
    from medfusion_lib.vision.features import extract_embeddings

    y, classes = cohort_labels(cohort)
    split = cohort.patients["split"].to_numpy()
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    images = np.asarray(cohort.images)

    if settings.folds == 1:
        model = _train_cnn(images[train], y[train], images[val], y[val], len(classes), settings, seed, progress)
        if settings.output == "embedding":
            return {"X": extract_embeddings(model, images, size=settings.size, device="cpu").astype(np.float32)}
        proba = predict_proba(model, images, size=settings.size, device="cpu")
        return {"X": np.log(np.clip(proba, 1e-6, 1.0)).astype(np.float32)}

    smallest = int(np.bincount(y[train], minlength=len(classes)).min())
    if smallest < settings.folds:
        raise ValueError(f"out-of-fold image features need at least {settings.folds} training patients per class "
                         f"(the rarest class has {smallest}); use fewer folds or a larger cohort")
    proba = np.zeros((len(y), len(classes)))
    others = np.setdiff1d(np.arange(len(y)), train)       # val + test: averaged over the fold CNNs
    folds = StratifiedKFold(settings.folds, shuffle=True, random_state=seed)
    for k, (fit_part, held_part) in enumerate(folds.split(train, y[train])):
        fit_idx, held_idx = train[fit_part], train[held_part]
        model = _train_cnn(images[fit_idx], y[fit_idx], images[val], y[val], len(classes), settings, seed + k,
                           progress)
        proba[held_idx] = predict_proba(model, images[held_idx], size=settings.size, device="cpu")
        proba[others] += predict_proba(model, images[others], size=settings.size, device="cpu") / settings.folds
    return {"X": np.log(np.clip(proba, 1e-6, 1.0)).astype(np.float32)}


def image_features(cohort, settings: ImageSettings | None = None, seed: int = 0, use_cache: bool = True,
                   progress: bool | None = None) -> tuple[np.ndarray, list[str], bool]:
    """(n_patients, d) image features for every patient; names; whether cached.

    The CNNs see only the train split's labels (val for early stopping); test images are only scored.
    ``d`` is ``len(cohort.classes)`` for ``output="log_proba"`` and ``4 * width`` for embeddings.
    """
    settings = settings or ImageSettings()
    progress = _progress(progress)
    key = {"cohort": cohort_key(cohort), "seed": seed, "settings": settings.__dict__}

    def compute() -> dict[str, np.ndarray]:
        from medfusion_lib.config import torch_threads

        # one thread: a 16-channel CNN on 32 px films gains nothing from a second one, and on a busy 2-core
        # laptop two threads spin for ~7x the CPU time (measured: 39 s vs 5.6 s for quick mode's two CNNs)
        with torch_threads(1):
            return _image_arrays(cohort, settings, seed, progress)

    arrays, hit = _cached("image-cnn", key, compute, use_cache)
    if settings.output == "log_proba":
        names = [f"cnn log P({c})" for c in cohort_labels(cohort)[1]]
    else:
        names = [f"cnn{i}" for i in range(arrays["X"].shape[1])]
    return arrays["X"], names, hit


def vitals_features(cohort) -> tuple[np.ndarray, list[str]]:
    """(n_patients, len(VITALS) + 1): the vital signs and age."""
    from medfusion_lib.data import VITALS

    columns = [*VITALS, *VITALS_EXTRA]
    missing = [c for c in columns if c not in cohort.patients]
    if missing:
        raise ValueError(f"the cohort's patients table lacks columns {missing}; rebuild it with "
                         "medfusion_lib.data.build_cohort")
    return cohort.patients[columns].to_numpy(np.float32), columns


def cohort_classes(cohort) -> tuple[str, ...]:
    """The diagnoses this cohort has, in ``DIAGNOSES`` order (six synthetic, four with real films)."""
    from medfusion_lib.data import DIAGNOSES

    present = set(cohort.patients["diagnosis"])
    return tuple(d for d in DIAGNOSES if d in present)


def cohort_labels(cohort) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(y, classes)``: each patient's class index (n_patients,) int64 into ``classes = cohort_classes(cohort)``."""
    classes = cohort_classes(cohort)
    index = {d: i for i, d in enumerate(classes)}
    return cohort.patients["diagnosis"].map(index).to_numpy(np.int64), classes




def subsample_cohort(cohort, per_split: dict[str, int], seed: int = 0):
    """A smaller cohort keeping at most ``per_split[name]`` patients of each split (stratified by
    diagnosis, so every class stays), for quick mode."""
    import pandas as pd

    from medfusion_lib.data import Cohort

    rng = np.random.default_rng(seed)
    keep = np.zeros(len(cohort), dtype=bool)
    for name, limit in per_split.items():
        idx = np.flatnonzero((cohort.patients["split"] == name).to_numpy())
        if len(idx) <= limit:
            keep[idx] = True
            continue
        y = cohort.y[idx]
        for k in np.unique(y):
            members = idx[y == k]
            take = max(2, int(round(limit * len(members) / len(idx))))
            keep[rng.permutation(members)[:take]] = True
    patients = cohort.patients[keep].reset_index(drop=True)
    spans = cohort.spans[cohort.spans["patient_id"].isin(set(patients["patient_id"]))].reset_index(drop=True)
    params = {**cohort.params, "subsample": {k: int(v) for k, v in per_split.items()}, "subsample_seed": seed}
    return Cohort(patients, cohort.images[keep], spans, params, cohort.path)


QUICK_SIZES = {"train": 900, "val": 300, "test": 400}


def build_modalities(cohort=None, text: str = "symptoms", quick: bool = False, seed: int = 0,
                     use_cache: bool = True, progress: bool | None = None,
                     image_settings: ImageSettings | None = None) -> FusionFeatures:
    """Text, image and vitals features for the train/val/test splits of ``cohort`` (default: the default
    cohort). Quick mode keeps a stratified subsample (``QUICK_SIZES``) and trains fewer, shorter CNNs;
    ``image_settings`` overrides the CNN recipe of the mode. ``progress=None`` shows bars only on a screen.

    ``classes`` are the diagnoses the cohort has; ``y_*`` index into them. ``narratives`` holds each split's
    raw narratives (for the lesson-03 text baseline, :mod:`medfusion_lib.fusion.baselines`)."""
    if cohort is None:
        from medfusion_lib.data import load_cohort

        cohort = load_cohort()
    if quick:
        cohort = subsample_cohort(cohort, QUICK_SIZES, seed=seed)
    started = time.perf_counter()
    X_text, text_names, text_hit = text_features(cohort, text, seed, use_cache, progress)
    settings = image_settings or ImageSettings.for_mode(quick)
    X_image, image_names, image_hit = image_features(cohort, settings, seed, use_cache, progress)
    X_vitals, vitals_names = vitals_features(cohort)
    everyone = Modalities({"text": X_text, "image": X_image, "vitals": X_vitals},
                          cohort.patients["patient_id"].to_numpy())
    split = cohort.patients["split"].to_numpy()
    parts = {name: np.flatnonzero(split == name) for name in SPLITS}
    empty = [name for name, idx in parts.items() if len(idx) == 0]
    if empty:
        raise ValueError(f"the cohort has no patients in split(s) {empty}; fusion needs train, val and test")
    y, classes = cohort_labels(cohort)
    info = {"cohort": repr(cohort), "cohort_key": cohort_key(cohort), "quick": quick, "text": text,
            "text_cached": text_hit, "image_cached": image_hit, "image_features": settings.scheme,
            "image_settings": dict(settings.__dict__), "seconds": round(time.perf_counter() - started, 2)}
    narratives = cohort.patients["narrative"].to_numpy(dtype=object)
    return FusionFeatures(*(everyone.subset(parts[n]) for n in SPLITS), *(y[parts[n]] for n in SPLITS),
                          classes=classes,
                          feature_names={"text": text_names, "image": image_names, "vitals": vitals_names},
                          info=info, narratives={n: narratives[parts[n]].tolist() for n in SPLITS})
