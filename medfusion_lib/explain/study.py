"""What lesson 13 explains: the joint model from pixels trained on the cohort, with its films and masks.

:func:`load_study` builds the three modalities (:func:`medfusion_lib.fusion.build_modalities`), swaps the
image embeddings for the films themselves (:func:`medfusion_lib.fusion.joint.film_modalities`), and trains
:class:`~medfusion_lib.fusion.joint.PixelJointFusion` on the train split (best epoch on val). The trained
model is cached under ``build/cache/explain/`` keyed by the cohort, the settings, the seed and the source
of the code that trains it, so a lesson re-run (and ``medfusion bench trust``) does not retrain it.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from medfusion_lib.config import build_dir
from medfusion_lib.fusion.joint import PixelJointFusion, film_modalities, load_joint, lookup_rows, save_joint

SPLITS = ("train", "val", "test")
#: The modules whose code decides the trained model: a change to any of them, or to anything in
#: ``medfusion_lib`` they import (the CNN, the film resizing, the training loop), retrains it.
MODEL_MODULES = ("medfusion_lib.fusion.joint",)


@dataclass(frozen=True)
class StudySettings:
    """How the joint model is trained (the settings are part of the cache key). Films at 32 px keep training
    to seconds (quick mode) or about a minute (full) on one CPU thread, once: the model is cached. Quick mode
    trains the same recipe on the quick-mode subsample."""

    size: int = 32
    width: int = 16
    epochs: int = 8
    lr: float = 2e-3
    image_loss: float = 1.0
    modality_dropout: float = 0.5

    @classmethod
    def for_mode(cls, quick: bool) -> "StudySettings":
        return cls()


@dataclass
class ExplainStudy:
    """The cohort, its fusion features (embeddings, for the Shapley retraining), the same patients' films
    as :class:`Modalities`, and the trained joint model."""

    cohort: object
    features: object                      # FusionFeatures: text / CNN-embedding image / vitals
    films: dict                           # split -> Modalities with the image block = flattened films
    model: PixelJointFusion
    settings: StudySettings
    info: dict = field(default_factory=dict)

    def labels(self, split: str) -> np.ndarray:
        """(n,) class indices of ``split``."""
        return self.features.split(split)[1]

    def masks(self, split: str) -> np.ndarray:
        """(n, H, W) bool: where the generator drew any finding on each film of ``split`` (cohort size)."""
        rows = lookup_rows(self.cohort, self.films[split].patient_ids)
        return self.cohort.finding_masks()[rows]

    def patients(self, split: str):
        """The patients table rows of ``split``, in the same order as the features."""
        return self.cohort.patients.iloc[lookup_rows(self.cohort, self.films[split].patient_ids)].reset_index(drop=True)


def code_fingerprint() -> str:
    """16 hex digits naming the source of the code that trains the joint model: ``fusion.joint`` and every
    ``medfusion_lib`` module it imports (:func:`medfusion_lib.fusion.fingerprint.code_fingerprint`)."""
    from medfusion_lib.fusion.fingerprint import code_fingerprint as fingerprint

    return fingerprint(*MODEL_MODULES)


def cache_path(key: dict) -> Path:
    """``build/cache/explain/joint-<hash of key>.pt``; safe to delete at any time."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return build_dir() / "cache" / "explain" / f"joint-{digest}.pt"


def load_study(quick: bool = False, seed: int = 0, cohort=None, settings: StudySettings | None = None,
               use_cache: bool = True, progress: bool = False) -> ExplainStudy:
    """The trained joint model and its data (see the module docstring); cached after the first call."""
    from medfusion_lib.fusion import build_modalities

    if cohort is None:
        from medfusion_lib.data import load_cohort

        cohort = load_cohort()
    cohort.finding_masks()  # a real-image cohort stops here, with a clear message
    settings = settings or StudySettings.for_mode(quick)
    started = time.perf_counter()
    features = build_modalities(cohort, quick=quick, seed=seed, use_cache=use_cache, progress=progress)
    films = {s: film_modalities(cohort, features.split(s)[0], settings.size) for s in SPLITS}
    key = {"cohort": features.info["cohort_key"], "settings": asdict(settings), "seed": seed,
           "code": code_fingerprint(), "v": 2}
    path = cache_path(key)
    cached = use_cache and path.is_file()
    model = None
    if cached:
        try:
            model = load_joint(path)
        except Exception:  # a damaged or foreign file is retrained, never trusted
            model, cached = None, False
    if model is None:
        model = PixelJointFusion(size=settings.size, width=settings.width, num_epochs=settings.epochs,
                                 lr=settings.lr, image_loss=settings.image_loss,
                                 modality_dropout=settings.modality_dropout, seed=seed)
        model.fit(films["train"], features.y_train, films["val"], features.y_val)
        if use_cache:
            save_joint(model, path)
    info = {"quick": quick, "seed": seed, "model_cached": cached, "cache": str(path),
            "seconds": round(time.perf_counter() - started, 2), **{f"n_{s}": len(films[s]) for s in SPLITS}}
    return ExplainStudy(cohort, features, films, model, settings, info)


def finding_films(study: ExplainStudy, split: str = "test", limit: int | None = None) -> np.ndarray:
    """(n,) positions in ``split`` of the films with a drawn finding (the first ``limit`` of them)."""
    masks = study.masks(split)
    index = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
    return index if limit is None else index[:limit]


def gradcam_maps(study: ExplainStudy, index: np.ndarray, split: str = "test", target=None,
                 model: PixelJointFusion | None = None, method: str = "captum") -> np.ndarray:
    """(n, H, W) Grad-CAM maps (ReLU'd, upsampled to the cohort's film size) of the *fused* prediction
    for films ``index`` of ``split``; ``target`` defaults to each patient's recorded diagnosis.
    ``method``: "captum" (LayerGradCam) or "hooks" (the hand-built version)."""
    from medfusion_lib.explain.gradcam import gradcam_captum, gradcam_hooks, upsample

    model = model or study.model
    data = study.films[split].subset(index)
    target = study.labels(split)[index] if target is None else target
    forward, films = model.film_forward(data), model.films(data)
    size = study.cohort.images.shape[1:]
    if method == "captum":
        return gradcam_captum(forward, model.target_layer, films, target, size=size).double().numpy()
    if method == "hooks":
        return upsample(gradcam_hooks(forward, model.target_layer, films, target), size)
    raise ValueError(f"method must be 'captum' or 'hooks'; got {method!r}")


def randomisation_layers(model: PixelJointFusion) -> list[tuple[str, str]]:
    """The layers on the path from the fused logits down to the pixels, logits first, as (label, path
    inside :meth:`PixelJointFusion.film_forward`'s module) — the order of Adebayo et al.'s cascade."""
    cnn = model.net_.branches["image"].cnn
    conv_blocks = [i for i, block in enumerate(cnn.backbone) if isinstance(block, nn.Sequential)]
    layers = [("fused head (logits)", "net.head.3"), ("fused head (hidden)", "net.head.0")]
    if any(True for _ in model.net_.fusion.parameters()):
        layers.append(("fusion layer", "net.fusion"))
    layers.append(("image branch output", "net.branches.image.cnn.fc"))
    layers += [(f"conv block {k + 1}", f"net.branches.image.cnn.backbone.{i}")
               for k, i in reversed(list(enumerate(conv_blocks)))]
    return layers


def sanity_check(study: ExplainStudy, index: np.ndarray, split: str = "test", seed: int = 0):
    """Cascading randomisation of the joint model (see :mod:`.sanity`) on films ``index``: a DataFrame with
    one row per step and the Spearman correlation of each film's Grad-CAM with the trained model's."""
    from medfusion_lib.explain.gradcam import gradcam_captum
    from medfusion_lib.explain.sanity import cascading_randomisation

    model = study.model
    data = study.films[split].subset(index)
    target = study.labels(split)[index]
    films = model.films(data)
    size = study.cohort.images.shape[1:]

    def explain(forward):
        layer = forward.net.branches["image"].target_layer
        return gradcam_captum(forward, layer, films, target, size=size).numpy()

    return cascading_randomisation(model.film_forward(data), randomisation_layers(model), explain, seed=seed)


def modality_values(study: ExplainStudy, metric=None, estimator: str = "logreg") -> dict:
    """v(S) for every subset of {text, image, vitals}: validation ``metric`` (default macro-F1) of early
    fusion retrained on S (image = the cached CNN embeddings), as HAIM did. See :mod:`.shapley`."""
    from medfusion_lib.evaluation import macro_f1
    from medfusion_lib.explain.shapley import subset_values
    from medfusion_lib.fusion import EarlyFusion

    f = study.features
    return subset_values(lambda names: EarlyFusion(estimator, modalities=list(names), seed=study.info["seed"]),
                         f.train, f.y_train, f.val, f.y_val, metric or macro_f1)
