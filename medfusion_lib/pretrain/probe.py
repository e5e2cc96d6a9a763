"""Linear probes on frozen features at a fraction of the labels, and the supervised CNN they are compared with.

The question pre-training answers: with few labelled films, how good a classifier do its features give? A
*linear probe* (standardise, then logistic regression — :func:`medfusion_lib.vision.features.embedding_classifier`)
is fitted on the pre-trained image encoder's features of a stratified ``fraction`` of the labelled training
films and scored on the test films. The supervised baseline is the course's CNN recipe
(:func:`medfusion_lib.vision.recipe.train_image_model`) trained end to end on the same labelled films.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from medfusion_lib.evaluation import macro_f1

FRACTIONS = (0.01, 0.1, 1.0)
#: The fewest optimiser steps a supervised model gets, however few labelled films it has.
MIN_STEPS = 60


def labelled_subset(y: np.ndarray, fraction: float, seed: int = 0, min_per_class: int = 2) -> np.ndarray:
    """Sorted indices of a stratified ``fraction`` of ``y`` (n,), at least ``min_per_class`` of every class."""
    y = np.asarray(y)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
    if fraction == 1:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep = []
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        take = min(len(members), max(min_per_class, int(round(fraction * len(members)))))
        keep.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(keep))


def linear_probe(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 fraction: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Fit the probe on a stratified ``fraction`` of ``(X_train (n, d), y_train (n,))``; test macro-F1."""
    from medfusion_lib.vision.features import fit_embedding_classifier

    idx = labelled_subset(y_train, fraction, seed)
    probe = fit_embedding_classifier(np.asarray(X_train)[idx], np.asarray(y_train)[idx], kind="logreg", seed=seed)
    return {"fraction": fraction, "n_labelled": int(len(idx)),
            "macro_f1": macro_f1(y_test, probe.predict(X_test))}


def probe_curve(X_train, y_train, X_test, y_test, fractions: Sequence[float] = FRACTIONS, repeats: int = 3,
                seed: int = 0):
    """Probe macro-F1 per fraction: a DataFrame (fraction, n_labelled, macro_f1, macro_f1_sd). Fractions
    below 1 are drawn ``repeats`` times (different labelled films) and averaged — a 1 % draw is noisy."""
    import pandas as pd

    rows = []
    for fraction in fractions:
        runs = [linear_probe(X_train, y_train, X_test, y_test, fraction, seed + r)
                for r in range(1 if fraction == 1 else repeats)]
        rows.append({"fraction": fraction, "n_labelled": runs[0]["n_labelled"],
                     "macro_f1": float(np.mean([r["macro_f1"] for r in runs])),
                     "macro_f1_sd": float(np.std([r["macro_f1"] for r in runs]))})
    return pd.DataFrame(rows)


def supervised_cnn(splits: dict, fraction: float = 1.0, epochs: int = 8, size: int = 32, width: int = 8,
                   seed: int = 0, architecture: str = "compact", min_steps: int = MIN_STEPS, **model_kwargs):
    """The course's image recipe (:func:`medfusion_lib.vision.recipe.default_config`, the X-ray augmentation,
    :func:`medfusion_lib.vision.train.fit`) trained on a stratified ``fraction`` of ``splits["train"]`` for
    ``epochs`` or at least ``min_steps`` optimiser steps (batches of 64), whichever is more. Returns a
    :class:`~medfusion_lib.vision.recipe.TrainedImageModel` (``.history.train_seconds`` is the wall time).

    No validation pass runs per epoch (the recipe keeps the last epoch anyway), so a 1 % model trained for many
    short epochs does not spend its time scoring validation films. ``architecture="vit"`` trains the vision
    transformer with the same entry point.
    """
    from medfusion_lib.config import seed_everything
    from medfusion_lib.vision.datasets import ImageArrayDataset
    from medfusion_lib.vision.models import build_model
    from medfusion_lib.vision.recipe import TrainedImageModel, default_config
    from medfusion_lib.vision.train import fit
    from medfusion_lib.vision.transforms import train_transform

    x, y = splits["train"]
    idx = labelled_subset(y, fraction, seed)
    # a handful of labelled films makes one batch per epoch: train for at least min_steps optimiser steps
    config = default_config(seed=seed, progress=False, num_threads=1)
    steps_per_epoch = max(1, len(idx) // config.batch_size)
    config = config.replace(epochs=max(epochs, math.ceil(min_steps / steps_per_epoch)))
    num_classes = int(np.max(y)) + 1
    if architecture == "compact":
        model_kwargs.setdefault("width", width)
    elif architecture == "vit":
        model_kwargs.setdefault("image_size", size)
    seed_everything(seed)  # the initial weights are part of the run
    model = build_model(architecture, num_classes=num_classes, **model_kwargs)
    history = fit(model, ImageArrayDataset(x[idx], y[idx], transform=train_transform(), size=size), None, config)
    return TrainedImageModel(model, history, num_classes, None, size)


def seconds_per_epoch(architecture: str, n_films: int, size: int = 32, batch_size: int = 64, steps: int = 3,
                      **model_kwargs) -> float:
    """Measured wall time of one training epoch of ``n_films`` (the recipe's per-film augmentation, forward,
    backward and AdamW step on ``steps`` random batches, one CPU thread, as :func:`supervised_cnn` trains), to
    give two models the same time."""
    import time

    import torch

    from medfusion_lib.config import torch_threads
    from medfusion_lib.vision.models import build_model
    from medfusion_lib.vision.transforms import train_transform

    if architecture == "vit":
        model_kwargs.setdefault("image_size", size)
    model = build_model(architecture, num_classes=2, **model_kwargs)
    optimizer = torch.optim.AdamW(model.parameters())
    raw, labels = torch.rand(batch_size, 1, size, size), torch.zeros(batch_size, dtype=torch.long)
    augment = train_transform()
    with torch_threads(1):
        for step in range(steps + 1):
            if step == 1:  # the first step warms up allocators; time the rest
                started = time.perf_counter()
            films = torch.stack([augment(film) for film in raw])
            loss = torch.nn.functional.cross_entropy(model(films), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return (time.perf_counter() - started) / steps * (n_films / batch_size)


def supervised_at_equal_time(splits: dict, seconds: float, architecture: str = "vit", fraction: float = 1.0,
                             size: int = 32, seed: int = 0, max_epochs: int = 60, **model_kwargs):
    """Train ``architecture`` with :func:`supervised_cnn` on ``fraction`` of the labels for as many epochs as fit
    in ``seconds`` (at least one), estimated with :func:`seconds_per_epoch`; the one-cycle schedule then runs to
    its end as for the CNN."""
    n = len(labelled_subset(splits["train"][1], fraction, seed))
    per_epoch = seconds_per_epoch(architecture, n, size, **model_kwargs)
    epochs = int(min(max_epochs, max(1, round(seconds / per_epoch))))
    return supervised_cnn(splits, fraction, epochs=epochs, size=size, seed=seed, architecture=architecture,
                          min_steps=0, **model_kwargs)
