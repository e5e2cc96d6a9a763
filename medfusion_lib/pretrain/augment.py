"""Augmentation for pre-training, applied to a whole batch at once (one random draw per film).

Contrastive pre-training on a few thousand pairs memorises them unless the inputs change from epoch to epoch:
each film gets the CNN recipe's chest-X-ray augmentation (:func:`medfusion_lib.vision.transforms.train_transform`:
small rotation, shift and zoom, exposure jitter and gamma — never flips) but vectorised with ``affine_grid`` so a
batch costs one call instead of one call per film; each narrative loses a random share of its terms (word
dropout), so the text encoder cannot identify a narrative by one rare word.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch.nn import functional as F


def augment_films(films: torch.Tensor, generator: torch.Generator, rotation: float = 10.0, translate: float = 0.06,
                  scale: tuple[float, float] = (0.9, 1.1), brightness: float = 0.1, contrast: float = 0.3,
                  max_gamma: float = 1.4) -> torch.Tensor:
    """``(N, 1, H, W)`` in ``[0, 1]`` -> the same shape, each film with its own random affine and exposure."""
    n = films.shape[0]

    def uniform(low, high):
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-rotation, rotation) * math.pi / 180
    zoom = uniform(*scale)
    shift = torch.stack([uniform(-translate, translate), uniform(-translate, translate)], dim=1) * 2  # [-1, 1] units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(films), list(films.shape), align_corners=False)
    out = F.grid_sample(films, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * uniform(1 - contrast, 1 + contrast).view(n, 1, 1, 1).to(films) + mean
    out = out * uniform(1 - brightness, 1 + brightness).view(n, 1, 1, 1).to(films)
    gamma = torch.exp(uniform(-math.log(max_gamma), math.log(max_gamma))).view(n, 1, 1, 1).to(films)
    return out.clamp(0.0, 1.0).pow(gamma)


def drop_terms(rows: Sequence[Sequence[int]], rate: float, generator: torch.Generator) -> list[list[int]]:
    """Each term-id row with every term dropped with probability ``rate`` (at least one term always stays)."""
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1); got {rate}")
    out = []
    for row in rows:
        keep = torch.rand(len(row), generator=generator) >= rate
        kept = [t for t, k in zip(row, keep.tolist()) if k]
        out.append(kept or [row[int(torch.randint(len(row), (1,), generator=generator))]])
    return out
