"""Image–text retrieval with recall@k, in both directions.

Row ``i`` of the image and text embeddings is one patient: narrative ``i`` is the right answer for film ``i``
and the other way round. Recall@k is the share of queries whose right answer is among the ``k`` most similar
items (ties broken against the query: an item tied with the right answer counts as ranked above it). Chance is
``k / n``. Because many patients share a presentation, :func:`same_label_at_k` also asks the looser question a
clinician might: is the top retrieved patient's diagnosis the query's (labels are used only to score)?
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _check_pairs(image_emb: np.ndarray, text_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image_emb, text_emb = np.asarray(image_emb, dtype=float), np.asarray(text_emb, dtype=float)
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"image and text embeddings must both be (n, d), paired by row; got {image_emb.shape} "
                         f"and {text_emb.shape}")
    return image_emb, text_emb


def ranks_of_match(similarity: np.ndarray) -> np.ndarray:
    """``similarity`` (n, n) with the right answer of query ``i`` at column ``i`` -> (n,) 1-based rank of it
    (1 = the most similar item); ties count against the query."""
    similarity = np.asarray(similarity, dtype=float)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be square (n queries, n items); got {similarity.shape}")
    match = np.diag(similarity)[:, None]
    others = similarity >= match
    return others.sum(axis=1)  # the match itself counts once, so the best rank is 1


def recall_at_k(similarity: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """Share of queries (rows) whose matching item is in the top ``k``, for each ``k``."""
    ranks = ranks_of_match(similarity)
    return {int(k): float((ranks <= k).mean()) for k in ks}


def retrieval_report(image_emb: np.ndarray, text_emb: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Recall@k narrative -> film (``text_to_image``) and film -> narrative (``image_to_text``), with chance."""
    image_emb, text_emb = _check_pairs(image_emb, text_emb)
    similarity = image_emb @ text_emb.T                     # (films, narratives)
    n = len(similarity)
    return {"n": n,
            "image_to_text": recall_at_k(similarity, ks),
            "text_to_image": recall_at_k(similarity.T, ks),
            "chance": {int(k): min(1.0, k / n) for k in ks}}


def same_label_at_k(similarity: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of queries whose top-``k`` items include one with the query's label (the query's own match
    included, so it is never below recall@k)."""
    similarity, labels = np.asarray(similarity, dtype=float), np.asarray(labels)
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return float((labels[top] == labels[:, None]).any(axis=1).mean())
