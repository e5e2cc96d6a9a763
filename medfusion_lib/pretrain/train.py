"""Contrastive pre-training of the dual encoder on paired films and narratives — no diagnosis labels.

Each step draws a batch of patients, encodes their films (augmented as in the CNN recipe) and their narratives
(diagnosis words masked, :mod:`medfusion_lib.pretrain.leakage`), and minimises the symmetric InfoNCE loss: every
film must pick out its own narrative among the batch's, and every narrative its own film. AdamW with a
one-cycle schedule; after every step the temperature is put back into its clamp range. The validation
split's pairs give a validation InfoNCE per epoch; the weights of the epoch with the lowest one are kept.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from medfusion_lib.config import pick_device, progress_bar, seed_everything, torch_threads
from medfusion_lib.pretrain.augment import augment_films, drop_terms
from medfusion_lib.pretrain.leakage import mask_narratives
from medfusion_lib.pretrain.loss import LearnedTemperature, info_nce
from medfusion_lib.pretrain.model import DualEncoder, TextTower, build_image_encoder
from medfusion_lib.text.encoder import build_vocabulary, narrative_terms
from medfusion_lib.vision.datasets import ImageArrayDataset


@dataclass(frozen=True)
class PretrainSettings:
    """Every choice pre-training makes (all part of the cache key)."""

    image_encoder: str = "compact"   # "compact" (CompactCNN) or "vit"
    size: int = 32                   # films are resized to size x size
    width: int = 8                   # CompactCNN width (embedding 4 * width)
    text_dim: int = 64               # the text encoder's bag-embedding size
    dim: int = 64                    # the shared space
    epochs: int = 20
    batch_size: int = 128            # InfoNCE's negatives are the batch: bigger is harder and better
    lr: float = 3e-3
    weight_decay: float = 1e-4
    init_temperature: float = 0.07
    temperature_lr: float = 0.03     # its own learning rate: log 1/T must travel far in a few hundred steps
    augment: bool = True             # per-film geometry and exposure (augment.augment_films)
    word_dropout: float = 0.3        # share of each narrative's terms dropped per step (augment.drop_terms)
    mask_diagnoses: bool = True      # remove diagnosis words from narratives (the leakage trap)
    min_count: int = 2

    @classmethod
    def for_mode(cls, quick: bool, **changes) -> "PretrainSettings":
        """Full mode, or quick mode's shorter schedule (the quick cohort is also smaller)."""
        return dataclasses.replace(cls(epochs=8) if quick else cls(), **changes)


@dataclass
class PretrainHistory:
    rows: list[dict] = field(default_factory=list)   # epoch, train_loss, val_loss, temperature, seconds
    best_epoch: int | None = None
    train_seconds: float = 0.0

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


class PretrainedEncoders:
    """A trained :class:`DualEncoder` with what it needs to embed new films and narratives."""

    def __init__(self, model: DualEncoder, settings: PretrainSettings, history: PretrainHistory | None = None):
        self.model, self.settings = model.eval(), settings
        self.history = history or PretrainHistory()

    def _texts(self, texts: Sequence[str]) -> list[str]:
        return mask_narratives(texts) if self.settings.mask_diagnoses else list(texts)

    @torch.no_grad()
    def image_embeddings(self, images: np.ndarray, projected: bool = True, batch_size: int = 512) -> np.ndarray:
        """Films uint8 ``(n, H, W)`` -> ``(n, dim)`` unit vectors in the shared space (``projected``), or the
        image encoder's own features ``(n, d_image)`` (for linear probes)."""
        from medfusion_lib.vision.transforms import images_to_tensor

        self.model.eval()
        device = next(self.model.parameters()).device
        films = images_to_tensor(images, size=self.settings.size)
        encode = self.model.encode_images if projected else self.model.image_encoder.embed
        return torch.cat([encode(films[i:i + batch_size].to(device)).cpu()
                          for i in range(0, len(films), batch_size)]).numpy()

    @torch.no_grad()
    def text_embeddings(self, texts: Sequence[str], projected: bool = True) -> np.ndarray:
        """Narratives or prompts -> ``(n, dim)`` unit vectors (``projected``) or bag features ``(n, text_dim)``.
        Diagnosis words are masked exactly as in pre-training."""
        self.model.eval()
        rows = self.model.text_tower.term_ids(self._texts(texts))
        encode = self.model.encode_texts if projected else self.model.text_tower.features
        return encode(rows).cpu().numpy()


def pretrain(train_images: np.ndarray, train_texts: Sequence[str], val_images: np.ndarray | None = None,
             val_texts: Sequence[str] | None = None, settings: PretrainSettings | None = None, seed: int = 0,
             device: str | None = None, num_threads: int | None = 1, progress: bool = False) -> PretrainedEncoders:
    """Pre-train a dual encoder on paired films ``(n, H, W)`` uint8 and narratives (``n`` strings).

    No labels go in. ``val_*`` (optional) choose the kept epoch by validation InfoNCE. ``num_threads``: CPU
    threads for torch inside the call (1 is fastest for these small models on a busy laptop).
    """
    settings = settings or PretrainSettings()
    train_texts, n = list(train_texts), len(train_images)
    if len(train_texts) != n:
        raise ValueError(f"need one narrative per film; got {n} films and {len(train_texts)} narratives")
    if n < 2 * 8:
        raise ValueError(f"pre-training needs at least 16 pairs; got {n}")
    if (val_images is None) != (val_texts is None):
        raise ValueError("pass both val_images and val_texts, or neither")
    with torch_threads(num_threads) if num_threads else contextlib.nullcontext():
        return _pretrain(train_images, train_texts, val_images, val_texts, settings, seed, device, progress)


def _pretrain(train_images, train_texts, val_images, val_texts, settings, seed, device, progress):
    seed_everything(seed)
    device = pick_device(device)
    if settings.mask_diagnoses:
        train_texts = mask_narratives(train_texts)
        val_texts = mask_narratives(val_texts) if val_texts is not None else None
    vocabulary = build_vocabulary(narrative_terms(train_texts), settings.min_count)   # train split only
    tower = TextTower(vocabulary, settings.text_dim, settings.dim)
    image_encoder = build_image_encoder(settings.image_encoder, settings.size, settings.width)
    model = DualEncoder(image_encoder, tower, settings.dim, LearnedTemperature(settings.init_temperature)).to(device)
    train_rows = tower.term_ids(train_texts)
    # the dataset's "labels" are row numbers: they find each film's narrative, never a diagnosis
    train_data = ImageArrayDataset(train_images, np.arange(len(train_images)), size=settings.size)
    val_films = ImageArrayDataset(val_images, size=settings.size).images if val_images is not None else None
    val_rows = tower.term_ids(val_texts) if val_texts is not None else None
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_data, batch_size=settings.batch_size, shuffle=True, drop_last=True,
                        generator=generator)
    others = [p for name, p in model.named_parameters() if not name.startswith("temperature.")]
    groups = [{"params": others, "lr": settings.lr},
              {"params": list(model.temperature.parameters()), "lr": settings.temperature_lr, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    total = settings.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[settings.lr, settings.temperature_lr],
                                                    total_steps=total, pct_start=0.15) if total >= 4 else None
    history, best, best_state = PretrainHistory(), float("inf"), None
    started = time.perf_counter()
    for epoch in progress_bar(range(1, settings.epochs + 1), desc="pre-training", disable=not progress):
        model.train()
        losses = []
        for films, index in loader:
            rows = [train_rows[i] for i in index.tolist()]
            if settings.augment:
                films = augment_films(films, generator)
                rows = drop_terms(rows, settings.word_dropout, generator)
            loss = info_nce(model.encode_images(films.to(device)), model.encode_texts(rows),
                            model.temperature.scale())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model.temperature.clamp_()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": float("nan"),
               "temperature": model.temperature.temperature}
        if val_films is not None:
            row["val_loss"] = evaluate_info_nce(model, val_films, val_rows, settings.batch_size, device)
            if row["val_loss"] < best:
                best, history.best_epoch = row["val_loss"], epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        row["seconds"] = time.perf_counter() - started
        history.rows.append(row)
    history.train_seconds = time.perf_counter() - started
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = settings.epochs
    return PretrainedEncoders(model.eval(), settings, history)


@torch.no_grad()
def evaluate_info_nce(model: DualEncoder, films: torch.Tensor, rows: Sequence[Sequence[int]], batch_size: int,
                      device: str = "cpu") -> float:
    """Mean InfoNCE over consecutive batches of ``batch_size`` pairs (the same task size as training)."""
    model.eval()
    losses, weights = [], []
    for start in range(0, len(films) - 1, batch_size):
        part = slice(start, start + batch_size)
        chunk = films[part]
        if len(chunk) < 2:
            break
        losses.append(info_nce(model.encode_images(chunk.to(device)), model.encode_texts(rows[part]),
                               model.temperature.scale()).item())
        weights.append(len(chunk))
    return float(np.average(losses, weights=weights))
