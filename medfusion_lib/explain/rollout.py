"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

One block's attention says how much each token reads from every other token *in that block*; after several
blocks, information has mixed along many paths. Rollout follows all of them: per block, average the heads,
add the identity for the residual connection and renormalise the rows,
``Â_l = normalise(0.5 · A_l + 0.5 · I)``, then multiply the blocks, ``R = Â_L · … · Â_1``. Row 0 of ``R`` (the
class token) over the patch tokens is how much each patch flowed into the film's embedding: a ``grid x grid``
map, upsampled to the film for display and scored against the finding masks like Grad-CAM
(:mod:`medfusion_lib.explain.localisation`).

Rollout is class-agnostic (it explains the embedding, not one class score) — unlike Grad-CAM.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

HEAD_FUSIONS = ("mean", "max", "min")


def attention_rollout(attentions: Sequence[torch.Tensor], head_fusion: str = "mean",
                      residual: bool = True) -> torch.Tensor:
    """Roll attention out through the blocks: a list of ``(N, heads, T, T)`` -> ``(N, T, T)``.

    ``head_fusion`` combines the heads (the paper averages them); ``residual`` adds the identity for the
    skip connections (``0.5 A + 0.5 I``) before renormalising each row to sum to 1.
    """
    if not attentions:
        raise ValueError("need the attention of at least one block, e.g. VisionTransformer.attentions(films)")
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}; got {head_fusion!r}")
    rollout = None
    for a in attentions:
        if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
            raise ValueError(f"each attention must be (N, heads, T, T); got {tuple(a.shape)}")
        fused = {"mean": a.mean(1), "max": a.amax(1), "min": a.amin(1)}[head_fusion]     # (N, T, T)
        if residual:
            fused = 0.5 * fused + 0.5 * torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
        fused = fused / fused.sum(dim=-1, keepdim=True)
        rollout = fused if rollout is None else fused @ rollout  # later blocks act on earlier blocks' mixing
    return rollout


def rollout_maps(model, films: torch.Tensor, head_fusion: str = "mean") -> np.ndarray:
    """Class-token rollout over the patches of ``films`` ``(N, 1, H, W)``: ``(N, grid, grid)`` float64.

    ``model``: a :class:`~medfusion_lib.vision.vit.VisionTransformer` (anything with ``attentions(films)`` and
    ``grid``). Each map sums to at most 1 (the rest of the class token's flow stays on itself).
    """
    if not hasattr(model, "attentions") or not hasattr(model, "grid"):
        raise TypeError("rollout needs a vision transformer with attentions() and grid, e.g. VisionTransformer; "
                        "for a CNN use Grad-CAM (medfusion_lib.explain.gradcam)")
    rollout = attention_rollout(model.attentions(films), head_fusion)   # (N, T, T)
    grid = model.grid
    return rollout[:, 0, 1:].reshape(len(films), grid, grid).double().cpu().numpy()
