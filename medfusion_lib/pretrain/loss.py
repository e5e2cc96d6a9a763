"""The symmetric InfoNCE loss of CLIP (Radford et al. 2021; ConVIRT, Zhang et al. 2020) and its learned
temperature.

For a batch of ``n`` matched pairs with L2-normalised embeddings ``u`` (images) and ``v`` (texts), the
similarity logits are ``s · u vᵀ`` (n, n); row ``i`` is a classification of which text belongs to image ``i``,
column ``j`` of which image belongs to text ``j``; the right answer is the diagonal. The loss is the mean of the
two cross-entropies. The scale ``s = 1 / temperature`` is learned as ``log s`` (so it stays positive and
its gradient steps are relative) and clamped to ``[1/max_temperature, 1/min_temperature]`` — CLIP starts at
``temperature = 0.07`` and clamps ``s`` at 100 so training cannot become unstable.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class LearnedTemperature(nn.Module):
    """``scale() = exp(log_scale)`` clamped to ``[1/max_temperature, 1/min_temperature]``.

    The clamp acts twice: :meth:`scale` clamps on the way out, and :meth:`clamp_` (call it after each optimiser
    step, as CLIP does) puts the parameter itself back in range so it cannot drift where no gradient reaches.
    """

    def __init__(self, init: float = 0.07, min_temperature: float = 0.01, max_temperature: float = 1.0):
        super().__init__()
        if not 0 < min_temperature <= init <= max_temperature:
            raise ValueError(f"need 0 < min_temperature <= init <= max_temperature; got {min_temperature}, "
                             f"{init}, {max_temperature}")
        self.log_min, self.log_max = math.log(1 / max_temperature), math.log(1 / min_temperature)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / init)))

    def scale(self) -> torch.Tensor:
        """The logit scale ``1 / temperature``, a 0-d tensor with gradient inside the clamp range."""
        return self.log_scale.clamp(self.log_min, self.log_max).exp()

    @property
    def temperature(self) -> float:
        return float(1 / self.scale().detach())

    @torch.no_grad()
    def clamp_(self) -> None:
        self.log_scale.clamp_(self.log_min, self.log_max)


def similarity_logits(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """``scale · normalise(image_emb) · normalise(text_emb)ᵀ``: (n, d), (m, d) -> (n, m) cosine logits."""
    if image_emb.ndim != 2 or text_emb.ndim != 2 or image_emb.shape[1] != text_emb.shape[1]:
        raise ValueError(f"embeddings must be (n, d) and (m, d) with the same d; got {tuple(image_emb.shape)} "
                         f"and {tuple(text_emb.shape)}")
    return scale * F.normalize(image_emb, dim=1) @ F.normalize(text_emb, dim=1).T


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE of ``n`` matched pairs (row ``i`` of each is one patient): a 0-d tensor.

    ``(CE(logits, arange(n)) + CE(logitsᵀ, arange(n))) / 2`` with ``logits = similarity_logits(...)``.
    """
    if image_emb.shape[0] != text_emb.shape[0] or image_emb.shape[0] < 2:
        raise ValueError(f"need the same number (>= 2) of images and texts, paired by row; got "
                         f"{image_emb.shape[0]} and {text_emb.shape[0]}")
    logits = similarity_logits(image_emb, text_emb, scale)
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
