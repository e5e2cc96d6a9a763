"""Training a classifier on images: one epoch, the full loop with early stopping, checkpoints.

The loop is plain PyTorch so a learner can read it top to bottom: seed, build the loss (optionally
class-weighted, optionally label-smoothed), AdamW with a one-cycle learning-rate schedule, then per epoch
:func:`train_one_epoch` and :func:`evaluate_loss` on the validation set; stop when validation loss has not
improved for ``patience`` epochs and put back the weights of the best epoch.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from medfusion_lib.atomic import atomic_path
from medfusion_lib.config import TRAIN_THREADS, pick_device, progress_bar, seed_everything, torch_threads


@dataclass
class TrainConfig:
    """Every choice the training loop makes. The defaults are the course's tuned recipe for small
    grayscale chest images (see ``medfusion bench image`` for how it was measured)."""

    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3                      # peak of the one-cycle schedule (or the constant rate)
    schedule: str = "one_cycle"           # "one_cycle" (anneals to a tiny rate) or "constant"
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1          # soft targets: less over-confident on shifted test data
    class_weights: str | Sequence[float] | None = "balanced"  # "balanced", explicit weights, or None
    patience: int | None = 4              # early stopping on validation loss; None trains all epochs
    restore_best: bool = True             # end with the weights of the lowest-validation-loss epoch
    max_seconds: float | None = None      # stop after the epoch that crosses this wall-clock budget
    seed: int = 0
    device: str | None = None             # None: cuda when present, else cpu
    num_threads: int | None = TRAIN_THREADS  # CPU threads for torch (fixed: same seed, same numbers); None: torch's
    progress: bool = True                 # tqdm bar per epoch

    def replace(self, **changes) -> "TrainConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)


@dataclass
class History:
    """What happened during :func:`fit`: one row per epoch, and which epoch's weights were kept."""

    rows: list[dict] = field(default_factory=list)  # epoch, train_loss, val_loss, val_acc, seconds
    best_epoch: int | None = None
    stopped_early: bool = False
    train_seconds: float = 0.0

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def plot(self, ax=None, title: str = "Learning curves"):
        """Training and validation loss per epoch, the kept epoch marked; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _fig, ax = plt.subplots(figsize=(5, 3.2))
        frame = self.to_frame()
        ax.plot(frame["epoch"], frame["train_loss"], marker="o", label="train loss")
        if frame["val_loss"].notna().any():
            ax.plot(frame["epoch"], frame["val_loss"], marker="o", label="validation loss")
        if self.best_epoch is not None:
            ax.axvline(self.best_epoch, color="grey", linestyle="--", label=f"kept (epoch {self.best_epoch})")
        ax.set(xlabel="epoch", ylabel="cross-entropy", title=title)
        ax.legend()
        return ax


def class_weights_for(labels: np.ndarray | torch.Tensor, num_classes: int) -> torch.Tensor:
    """'Balanced' weights ``n / (k * count_c)`` per class ``(num_classes,)``: each class counts equally."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"class(es) {np.flatnonzero(counts == 0).tolist()} have no training images; "
                         "balanced weights need every class")
    return torch.tensor(counts.sum() / (num_classes * counts), dtype=torch.float32)


def make_loss(config: TrainConfig, train_labels: np.ndarray | torch.Tensor, num_classes: int) -> nn.Module:
    """Cross-entropy with the config's class weighting and label smoothing."""
    weights = config.class_weights
    if isinstance(weights, str):
        if weights != "balanced":
            raise ValueError(f"class_weights must be 'balanced', a sequence of floats or None; got {weights!r}")
        weights = class_weights_for(train_labels, num_classes)
    elif weights is not None:
        weights = torch.as_tensor(weights, dtype=torch.float32)
        if weights.shape != (num_classes,):
            raise ValueError(f"class_weights needs {num_classes} values; got {tuple(weights.shape)}")
    return nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)


def train_one_epoch(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                    device: str = "cpu", scheduler=None, progress=None) -> float:
    """One pass over ``loader`` updating ``model``; returns the mean training loss per image.

    ``loader`` yields ``(images (B, C, H, W) float, labels (B,) int64)``. ``scheduler`` (if any) steps after
    every batch; ``progress`` is an optional tqdm bar updated per batch.
    """
    model.train()
    total, count = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(labels)
        count += len(labels)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{total / count:.3f}")
    return total / max(count, 1)


@torch.no_grad()
def evaluate_loss(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, device: str = "cpu") -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``loader`` (no gradient, eval mode)."""
    model.eval()
    total, correct, count = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        total += loss_fn(logits, labels).item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        count += len(labels)
    return total / max(count, 1), correct / max(count, 1)


def _labels_of(dataset: Dataset) -> torch.Tensor:
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = torch.as_tensor([int(dataset[i][1]) for i in range(len(dataset))])
    return torch.as_tensor(labels)


def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None,
        config: TrainConfig | None = None, **overrides) -> History:
    """Train ``model`` in place on ``train_data``; early-stop on ``val_data`` loss; return the :class:`History`.

    Args:
        model: maps ``(B, C, H, W)`` float images to ``(B, k)`` logits (any model in
            :mod:`medfusion_lib.vision.models`).
        train_data, val_data: datasets of ``(image (C, H, W), label)`` (e.g. :class:`~medfusion_lib.vision.
            datasets.ImageArrayDataset`). Without ``val_data`` all epochs run and the last weights stay.
        config: a :class:`TrainConfig`; keyword ``overrides`` change single fields (``fit(..., epochs=3)``).

    The same seed, data and config give the same weights (on CPU), whatever thread count the caller set:
    ``config.num_threads`` (default ``config.TRAIN_THREADS``) applies inside ``fit`` only, and the caller's torch
    thread count is restored afterwards.
    """
    config = (config or TrainConfig()).replace(**overrides)
    with torch_threads(config.num_threads) if config.num_threads else contextlib.nullcontext():
        return _fit(model, train_data, val_data, config)


def _fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None, config: TrainConfig) -> History:
    seed_everything(config.seed)
    device = pick_device(config.device)
    model.to(device)
    labels = _labels_of(train_data)
    num_classes = _num_outputs(model)
    if int(labels.max()) >= num_classes:
        raise ValueError(f"labels go up to {int(labels.max())} but the model has {num_classes} outputs")
    loss_fn = make_loss(config, labels.numpy(), num_classes).to(device)
    eval_loss_fn = nn.CrossEntropyLoss()  # model selection on the plain loss, not the training objective
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(train_data, batch_size=config.batch_size, shuffle=True, generator=generator,
                              drop_last=len(train_data) > config.batch_size)
    val_loader = DataLoader(val_data, batch_size=256) if val_data is not None else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * len(train_loader)
    if config.schedule not in ("one_cycle", "constant"):
        raise ValueError(f"unknown schedule {config.schedule!r}; use 'one_cycle' or 'constant'")
    scheduler = None  # constant rate; also for a handful of steps
    if config.schedule == "one_cycle" and total_steps >= 4:  # one-cycle needs a step in its warm-up phase
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps,
                                                        pct_start=max(0.25, 1.5 / total_steps))
    history, best_loss, best_state, waited = History(), float("inf"), None, 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        with progress_bar(total=len(train_loader), desc=f"epoch {epoch}/{config.epochs}", leave=False,
                          disable=not config.progress) as bar:
            train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, device, scheduler, bar)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": float("nan"), "val_acc": float("nan")}
        if val_loader is not None:
            row["val_loss"], row["val_acc"] = evaluate_loss(model, val_loader, eval_loss_fn, device)
        row["seconds"] = time.perf_counter() - started
        history.rows.append(row)
        if val_loader is not None and row["val_loss"] < best_loss:
            best_loss, waited, history.best_epoch = row["val_loss"], 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        if config.patience is not None and val_loader is not None and waited >= config.patience:
            history.stopped_early = True
            break
        if config.max_seconds is not None and row["seconds"] >= config.max_seconds:
            history.stopped_early = epoch < config.epochs
            break
    history.train_seconds = time.perf_counter() - started
    if best_state is not None and config.restore_best:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = history.rows[-1]["epoch"]
    model.eval()
    return history


def _num_outputs(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise TypeError("model must end in an nn.Linear layer (every model in medfusion_lib.vision.models does)")
    return last[-1].out_features


# --------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: TrainConfig | None = None,
                    history: History | None = None, **extra) -> Path:
    """Write the model's weights, how to rebuild it (``model.spec`` from the factories), the config, the
    history and any ``extra`` JSON-able values to ``path`` — atomically (never a half-written file)."""
    payload = {
        "state_dict": model.state_dict(),
        "spec": getattr(model, "spec", None),
        "config": dataclasses.asdict(config) if config is not None else None,
        "history": dataclasses.asdict(history) if history is not None else None,
        "extra": extra,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """Read a checkpoint from :func:`save_checkpoint`; returns ``(model, payload)``.

    With ``model=None`` the model is rebuilt from the stored spec (:func:`~medfusion_lib.vision.models.
    build_model`). The model is returned in eval mode on the CPU.
    """
    from medfusion_lib.vision.models import build_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say so instead of a pickle traceback
        raise ValueError(f"{path} is not a readable MedFusion checkpoint ({type(exc).__name__}: {exc})") from None
    if model is None:
        if not payload.get("spec"):
            raise ValueError(f"{path} does not record how to rebuild its model; pass model= explicitly")
        model = build_model(**payload["spec"])
    model.load_state_dict(payload["state_dict"])
    if payload.get("history"):
        payload["history"] = History(**payload["history"])
    return model.eval(), payload
