"""The dual encoder: films and narratives mapped into one shared space where matching pairs are close.

- image side: a course image model (:class:`~medfusion_lib.vision.models.CompactCNN` or
  :class:`~medfusion_lib.vision.vit.VisionTransformer`); its ``embed`` output ``(N, d_image)`` goes through a
  small projection head (linear -> ReLU -> linear, as in ConVIRT and SimCLR) to ``(N, dim)``;
- text side: the course's text encoder (:mod:`medfusion_lib.text.encoder`): the mean of word and bigram
  embeddings (negations tagged) over a vocabulary built from the training narratives, then a projection head;
- a :class:`~medfusion_lib.pretrain.loss.LearnedTemperature`.

Both outputs are L2-normalised, so a dot product is a cosine similarity.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from medfusion_lib.pretrain.loss import LearnedTemperature
from medfusion_lib.text.encoder import PAD, UNK, bag_inputs, narrative_terms
from medfusion_lib.vision.models import ImageClassifier

IMAGE_ENCODERS = ("compact", "vit")


def projection_head(in_dim: int, dim: int) -> nn.Sequential:
    """``(N, in_dim) -> (N, dim)``: linear -> ReLU -> linear (the head is dropped after pre-training in SimCLR;
    here both the encoder features and the projections can be used)."""
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(), nn.Linear(in_dim, dim))


def build_image_encoder(name: str = "compact", size: int = 32, width: int = 16, **kwargs) -> ImageClassifier:
    """The image encoder by name: ``"compact"`` (CompactCNN of ``width``) or ``"vit"`` (VisionTransformer on
    ``size`` px films). Its classifier head is never trained here; only ``embed`` is used."""
    if name == "compact":
        from medfusion_lib.vision.models import CompactCNN

        return CompactCNN(num_classes=2, width=width, dropout=0.0)
    if name == "vit":
        from medfusion_lib.vision.vit import VisionTransformer

        return VisionTransformer(num_classes=2, image_size=size, **kwargs)
    raise ValueError(f"unknown image encoder {name!r}; choose one of {IMAGE_ENCODERS}")


class TextTower(nn.Module):
    """The course's embedding-bag narrative encoder with a projection: term ids -> ``(N, dim)``.

    ``vocabulary`` maps terms (from :func:`medfusion_lib.text.encoder.narrative_terms`) to ids >= 2.
    """

    def __init__(self, vocabulary: dict[str, int], embed_dim: int, dim: int, bigrams: bool = True):
        super().__init__()
        self.vocabulary, self.bigrams = dict(vocabulary), bigrams
        self.bag = nn.EmbeddingBag(len(vocabulary) + 2, embed_dim, mode="mean", padding_idx=PAD)
        self.head = projection_head(embed_dim, dim)

    def term_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each narrative's term ids (unknown terms -> ``UNK``; an empty narrative -> ``[PAD]``)."""
        return [[self.vocabulary.get(t, UNK) for t in terms] or [PAD]
                for terms in narrative_terms(texts, self.bigrams)]

    def features(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        """The bag vector before projection, ``(N, embed_dim)`` (the text encoder's embedding)."""
        ids, offsets = bag_inputs(rows)
        device = self.bag.weight.device
        return self.bag(ids.to(device), offsets.to(device))

    def forward(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        return self.head(self.features(rows))


class DualEncoder(nn.Module):
    """Image encoder + text tower + temperature. :meth:`encode_images` ``(N, 1, H, W) -> (N, dim)`` and
    :meth:`encode_texts` (term-id rows) ``-> (N, dim)``, both L2-normalised."""

    def __init__(self, image_encoder: ImageClassifier, text_tower: TextTower, dim: int,
                 temperature: LearnedTemperature | None = None):
        super().__init__()
        self.image_encoder = image_encoder
        self.image_head = projection_head(image_encoder.embedding_dim, dim)
        self.text_tower = text_tower
        self.temperature = temperature or LearnedTemperature()
        self.dim = dim

    def encode_images(self, films: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_head(self.image_encoder.embed(films)), dim=1)

    def encode_texts(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        return F.normalize(self.text_tower(rows), dim=1)
