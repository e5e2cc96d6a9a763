"""The pre-trained dual encoder of a cohort, cached under ``build/cache/pretrain/`` on the code that trains it.

The key holds the cohort (:func:`medfusion_lib.fusion.features.cohort_key`: build parameters and patient list),
the settings, the seed and :func:`medfusion_lib.fusion.fingerprint.code_fingerprint` of
:mod:`medfusion_lib.pretrain.train` (which follows its imports: the model, the loss, the leakage masking, the
text encoder, the CNN and the ViT), so changed code never reads a stale encoder. Pre-training sees the train
split's films and narratives and the validation split's (to keep the best epoch) — never a diagnosis.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from medfusion_lib.atomic import atomic_path
from medfusion_lib.config import build_dir
from medfusion_lib.pretrain.train import PretrainedEncoders, PretrainHistory, PretrainSettings, pretrain

PRODUCERS = ("medfusion_lib.pretrain.train",)


def cache_dir() -> Path:
    """``build/cache/pretrain``: safe to delete at any time."""
    return build_dir() / "cache" / "pretrain"


def cache_path(cohort, settings: PretrainSettings, seed: int) -> Path:
    """Where the encoder for this cohort, settings, seed and code lives."""
    from medfusion_lib.fusion.features import cohort_key
    from medfusion_lib.fusion.fingerprint import code_fingerprint

    key = {"cohort": cohort_key(cohort), "settings": dataclasses.asdict(settings), "seed": seed,
           "code": code_fingerprint(*PRODUCERS, shallow=(__name__,))}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"dual-{settings.image_encoder}-{digest}.pt"


def save_encoders(encoders: PretrainedEncoders, path: Path) -> Path:
    """Weights, vocabulary, settings and history in one file, written atomically."""
    payload = {"state_dict": {k: v.cpu() for k, v in encoders.model.state_dict().items()},
               "vocabulary": encoders.model.text_tower.vocabulary,
               "settings": dataclasses.asdict(encoders.settings),
               "history": dataclasses.asdict(encoders.history)}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_encoders(path: Path, device: str | None = None) -> PretrainedEncoders:
    """Rebuild the dual encoder saved by :func:`save_encoders` (eval mode)."""
    from medfusion_lib.config import pick_device
    from medfusion_lib.pretrain.loss import LearnedTemperature
    from medfusion_lib.pretrain.model import DualEncoder, TextTower, build_image_encoder

    payload = torch.load(path, map_location="cpu", weights_only=True)
    settings = PretrainSettings(**payload["settings"])
    tower = TextTower(payload["vocabulary"], settings.text_dim, settings.dim)
    model = DualEncoder(build_image_encoder(settings.image_encoder, settings.size, settings.width), tower,
                        settings.dim, LearnedTemperature(settings.init_temperature))
    model.load_state_dict(payload["state_dict"])
    return PretrainedEncoders(model.to(pick_device(device)).eval(), settings, PretrainHistory(**payload["history"]))


def pretrained_encoders(cohort, settings: PretrainSettings | None = None, seed: int = 0, use_cache: bool = True,
                        device: str | None = None, progress: bool = False) -> tuple[PretrainedEncoders, dict]:
    """The dual encoder pre-trained on ``cohort``'s train split (validation pairs choose the epoch); from the
    cache when the same cohort, settings, seed and code made one. Returns ``(encoders, info)``."""
    settings = settings or PretrainSettings()
    path = cache_path(cohort, settings, seed)
    started = time.perf_counter()
    if use_cache and path.is_file():
        try:
            encoders = load_encoders(path, device)
            return encoders, {"cached": True, "cache": str(path), "seconds": time.perf_counter() - started}
        except Exception:  # a damaged or foreign file is retrained, never trusted
            pass
    split = cohort.patients["split"].to_numpy()
    train, val = split == "train", split == "val"
    narratives = cohort.patients["narrative"].to_numpy(dtype=object)
    images = np.asarray(cohort.images)
    encoders = pretrain(images[train], narratives[train].tolist(), images[val], narratives[val].tolist(), settings,
                        seed=seed, device=device, progress=progress)
    if use_cache:
        save_encoders(encoders, path)
    return encoders, {"cached": False, "cache": str(path), "seconds": time.perf_counter() - started}
