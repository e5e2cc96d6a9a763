"""The three modality feature sets of a cohort, built with the text and vision tracks' library code.

- ``text``:   the symptom table of :class:`medfusion_lib.text.features.SymptomFeaturizer` as two indicator
              columns per concept (stated present / stated absent; neither = not mentioned), or the
              :class:`medfusion_lib.text.encoder.TextEncoder` embedding (``text="embedding"``).
- ``image``:  penultimate-layer embeddings of a :class:`medfusion_lib.vision.models.CompactCNN` trained on
              the cohort's *train* split only (early stopping on val), for every patient.
- ``vitals``: ``VITALS`` plus age, as numbers.

Expensive pieces (the CNN, the symptom extraction) are cached under ``build/cache/fusion/`` in files
keyed by the cohort's build parameters, its patient list, the seed and the settings; deleting the folder
only costs the time to recompute.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medfusion_lib.atomic import atomic_write_bytes
from medfusion_lib.config import build_dir
from medfusion_lib.fusion.modalities import Modalities

TEXT_FEATURES = ("symptoms", "embedding")
VITALS_EXTRA = ("age",)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ImageSettings:
    """How the image CNN is trained. A narrow CNN on half-size (32 px) films keeps training to about a
    minute on a 2-core laptop (once: the embeddings are cached) and still tells bacterial from viral
    pneumonia; quick mode trains fewer epochs on the quick-mode subsample."""

    width: int = 16
    size: int | None = 32
    epochs: int = 8

    @classmethod
    def for_mode(cls, quick: bool) -> "ImageSettings":
        return cls(epochs=3) if quick else cls()


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


def _cached(name: str, key: dict, compute, use_cache: bool) -> tuple[dict[str, np.ndarray], bool]:
    """Arrays from ``cache_dir()/name-<hash of key>.npz`` or from ``compute()`` (then stored atomically)."""
    path = cache_dir() / f"{name}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.npz"
    if use_cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {k: stored[k] for k in stored.files}, True
        except (OSError, ValueError):  # a damaged cache file is recomputed, never trusted
            pass
    arrays = compute()
    if use_cache:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())
    return arrays, False


# ---------------------------------------------------------------------------- the three modalities
def text_features(cohort, kind: str = "symptoms", seed: int = 0, use_cache: bool = True,
                  progress: bool = True) -> tuple[np.ndarray, list[str], bool]:
    """(n_patients, n_features) text features for every patient of ``cohort``; names; whether cached.

    ``symptoms`` is rule-based (no fitting); ``embedding`` trains the text encoder on the train split only.
    """
    if kind not in TEXT_FEATURES:
        raise ValueError(f"unknown text features {kind!r}; choose one of {TEXT_FEATURES}")
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

        arrays, hit = _cached("symptoms", {"cohort": cohort_key(cohort), "v": 1}, compute, use_cache)
        return arrays["X"], [f"{s}: present" for s in labels] + [f"{s}: absent" for s in labels], hit

    from medfusion_lib.text.encoder import TextEncoder

    def compute():
        train = (cohort.patients["split"] == "train").to_numpy()
        encoder = TextEncoder(seed=seed).fit([t for t, m in zip(texts, train) if m], cohort.y[train])
        return {"X": encoder.embed(texts).astype(np.float32)}

    arrays, hit = _cached("text-embedding", {"cohort": cohort_key(cohort), "seed": seed, "v": 1}, compute,
                          use_cache)
    return arrays["X"], [f"emb{i}" for i in range(arrays["X"].shape[1])], hit


def image_features(cohort, settings: ImageSettings | None = None, seed: int = 0, use_cache: bool = True,
                   progress: bool = True) -> tuple[np.ndarray, list[str], bool]:
    """(n_patients, embedding_dim) CNN embeddings for every patient; names; whether cached.

    The CNN sees only the train split's labels (val for early stopping); test images are only embedded.
    """
    settings = settings or ImageSettings()

    def compute():
        from medfusion_lib.vision.datasets import cohort_splits, split_datasets
        from medfusion_lib.vision.models import CompactCNN
        from medfusion_lib.vision.train import fit
        from medfusion_lib.vision.features import extract_embeddings

        datasets = split_datasets({k: v for k, v in cohort_splits(cohort).items() if k != "test"},
                                  size=settings.size)
        model = CompactCNN(num_classes=len(cohort_classes(cohort)), width=settings.width)
        fit(model, datasets["train"], datasets["val"], epochs=settings.epochs, seed=seed, progress=progress)
        X = extract_embeddings(model, cohort.images, size=settings.size, device="cpu")
        return {"X": X.astype(np.float32)}

    key = {"cohort": cohort_key(cohort), "seed": seed, "settings": settings.__dict__, "v": 1}
    arrays, hit = _cached("image-cnn", key, compute, use_cache)
    return arrays["X"], [f"cnn{i}" for i in range(arrays["X"].shape[1])], hit


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
    from medfusion_lib.data import DIAGNOSES

    return tuple(DIAGNOSES)


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
                     use_cache: bool = True, progress: bool = True,
                     image_settings: ImageSettings | None = None) -> FusionFeatures:
    """Text, image and vitals features for the train/val/test splits of ``cohort`` (default: the default
    cohort). Quick mode keeps a stratified subsample (``QUICK_SIZES``) and trains the CNN for fewer epochs;
    ``image_settings`` overrides the CNN recipe of the mode."""
    if cohort is None:
        from medfusion_lib.data import load_cohort

        cohort = load_cohort()
    if quick:
        cohort = subsample_cohort(cohort, QUICK_SIZES, seed=seed)
    started = time.perf_counter()
    X_text, text_names, text_hit = text_features(cohort, text, seed, use_cache, progress)
    X_image, image_names, image_hit = image_features(cohort, image_settings or ImageSettings.for_mode(quick),
                                                     seed, use_cache, progress)
    X_vitals, vitals_names = vitals_features(cohort)
    everyone = Modalities({"text": X_text, "image": X_image, "vitals": X_vitals},
                          cohort.patients["patient_id"].to_numpy())
    split = cohort.patients["split"].to_numpy()
    parts = {name: np.flatnonzero(split == name) for name in SPLITS}
    empty = [name for name, idx in parts.items() if len(idx) == 0]
    if empty:
        raise ValueError(f"the cohort has no patients in split(s) {empty}; fusion needs train, val and test")
    info = {"cohort": repr(cohort), "cohort_key": cohort_key(cohort), "quick": quick, "text": text,
            "text_cached": text_hit, "image_cached": image_hit,
            "seconds": round(time.perf_counter() - started, 2)}
    return FusionFeatures(*(everyone.subset(parts[n]) for n in SPLITS), *(cohort.y[parts[n]] for n in SPLITS),
                          classes=cohort_classes(cohort),
                          feature_names={"text": text_names, "image": image_names, "vitals": vitals_names},
                          info=info)
