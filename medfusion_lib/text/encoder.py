"""A small PyTorch text encoder: mean of word (and bigram) embeddings, trained to predict the diagnosis.

The model is fastText-style: ``nn.EmbeddingBag(mode="mean")`` over the narrative's word and bigram ids
(negated mentions tagged ``neg_``, so "no fever" is not "fever"), then a linear layer to the classes.
After training, :meth:`TextEncoder.embed` returns the bag vector — a dense (n, dim) summary of a narrative
that the fusion lessons concatenate with image features. It trains in seconds on a laptop CPU and is
deterministic for a given ``seed``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from medfusion_lib.config import torch_threads
from medfusion_lib.text.features import analyzer_tokens, as_text_list, tag_negations

PAD, UNK = 0, 1


def _terms(text: str, bigrams: bool) -> list[str]:
    words = analyzer_tokens(tag_negations(text))
    return words + ([f"{a} {b}" for a, b in zip(words, words[1:])] if bigrams else [])


def narrative_terms(texts: Sequence[str], bigrams: bool = True) -> list[list[str]]:
    """The encoder's terms of each narrative: words (negated mentions tagged ``neg_``) and, with ``bigrams``,
    adjacent word pairs. Other models that embed narratives the same way (image–text pre-training) use it."""
    return [_terms(text, bigrams) for text in as_text_list(texts)]


def build_vocabulary(term_lists: Sequence[Sequence[str]], min_count: int = 2) -> dict[str, int]:
    """Term -> id for terms in at least ``min_count`` texts; ids start at 2 (0 = ``PAD``, 1 = ``UNK``)."""
    counts = Counter(t for terms in term_lists for t in set(terms))
    return {t: i + 2 for i, t in enumerate(sorted(t for t, c in counts.items() if c >= min_count))}


def bag_inputs(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Term-id lists (one per text) -> ``(ids (total,), offsets (batch,))`` for ``nn.EmbeddingBag``."""
    lengths = [len(row) for row in rows]
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(lengths)[:-1]]), dtype=torch.long)
    return torch.tensor([t for row in rows for t in row], dtype=torch.long), offsets


class _BagModel(nn.Module):
    def __init__(self, n_terms: int, dim: int, n_classes: int):
        super().__init__()
        self.bag = nn.EmbeddingBag(n_terms, dim, mode="mean", padding_idx=PAD)
        self.head = nn.Linear(dim, n_classes)

    def embed(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.bag(ids, offsets)  # (batch, dim)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.embed(ids, offsets)))  # (batch, n_classes) logits


class TextEncoder(BaseEstimator, ClassifierMixin):
    """Embedding-bag narrative encoder with a scikit-learn interface.

    Parameters
    ----------
    dim : embedding size ``d`` of :meth:`embed`.
    num_epochs, lr, batch_size, weight_decay : training settings (Adam).
    min_count : a term must occur this often in the training texts to get its own embedding.
    bigrams : also embed adjacent word pairs ("night sweats").
    seed : seeds initialisation and batch order; the same seed gives the same embeddings.

    ``fit(texts, y)`` with ``y`` (n,) integer class ids; ``embed(texts)`` -> (n, dim) float32;
    ``predict_proba(texts)`` -> (n, n_classes).
    """

    def __init__(self, dim: int = 32, num_epochs: int = 20, lr: float = 0.02, batch_size: int = 64,
                 weight_decay: float = 1e-5, min_count: int = 2, bigrams: bool = True, seed: int = 0):
        self.dim = dim
        self.num_epochs = num_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.min_count = min_count
        self.bigrams = bigrams
        self.seed = seed

    # -- vocabulary ---------------------------------------------------------------------------------
    def _term_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Term ids per text (extraction runs once per text, not once per epoch); empty texts get PAD."""
        return [[self.vocabulary_.get(t, UNK) for t in _terms(text, self.bigrams)] or [PAD] for text in texts]

    def _batches(self, rows: list[list[int]], idx: np.ndarray):
        """(chunk, flat ids (total,), offsets (batch,)) for ``nn.EmbeddingBag``, in the order of ``idx``."""
        for start in range(0, len(idx), self.batch_size):
            chunk = idx[start:start + self.batch_size]
            yield chunk, bag_inputs([rows[i] for i in chunk])

    # -- training -----------------------------------------------------------------------------------
    def fit(self, X, y, progress: bool = False):
        """Build the vocabulary from ``X`` (list of n narratives) and train on labels ``y`` (n,)."""
        with torch_threads(1):
            return self._fit(X, y, progress)

    def _fit(self, X, y, progress: bool):
        texts = as_text_list(X)
        y = np.asarray(y)
        if len(texts) != len(y):
            raise ValueError(f"X has {len(texts)} texts but y has {len(y)} labels; pass one label per text")
        if len(texts) == 0:
            raise ValueError("cannot fit on zero texts")
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(f"y must hold integer class ids (e.g. cohort.y); got dtype {y.dtype}")
        self.classes_ = np.unique(y)
        y_index = np.searchsorted(self.classes_, y)
        term_lists = [_terms(text, self.bigrams) for text in texts]
        self.vocabulary_ = build_vocabulary(term_lists, self.min_count)
        terms = list(self.vocabulary_)
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.model_ = _BagModel(len(terms) + 2, self.dim, len(self.classes_))
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        targets = torch.tensor(y_index, dtype=torch.long)
        rows = [[self.vocabulary_.get(t, UNK) for t in terms] or [PAD] for terms in term_lists]
        epochs = range(self.num_epochs)
        if progress:
            from medfusion_lib.config import progress_bar

            epochs = progress_bar(epochs, desc="encoder epochs")
        self.loss_history_ = []
        self.model_.train()
        for _ in epochs:
            order = torch.randperm(len(texts), generator=generator).numpy()
            total = 0.0
            for chunk, (ids, offsets) in self._batches(rows, order):
                optimizer.zero_grad()
                loss = loss_fn(self.model_(ids, offsets), targets[chunk])
                loss.backward()
                optimizer.step()
                total += loss.item() * len(chunk)
            self.loss_history_.append(total / len(texts))
        self.model_.eval()
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise ValueError("TextEncoder is not fitted yet; call fit(texts, y) first")

    @torch.no_grad()
    def embed(self, X) -> np.ndarray:
        """Narrative embeddings, (n, dim) float32 (the mean term vector; no classifier head)."""
        self._check_fitted()
        texts = as_text_list(X)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows = self._term_ids(texts)
        with torch_threads(1):
            for chunk, (ids, offsets) in self._batches(rows, np.arange(len(texts))):
                out[chunk] = self.model_.embed(ids, offsets).numpy()
        return out

    @torch.no_grad()
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, (n, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        texts = as_text_list(X)
        out = np.zeros((len(texts), len(self.classes_)), dtype=np.float64)
        for chunk, (ids, offsets) in self._batches(self._term_ids(texts), np.arange(len(texts))):
            out[chunk] = torch.softmax(self.model_(ids, offsets), dim=1).double().numpy()
        return out

    def predict(self, X) -> np.ndarray:
        """Most probable class id per text, (n,)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # -- persistence --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted encoder to ``path`` (one file, written atomically)."""
        from medfusion_lib.atomic import atomic_path

        self._check_fitted()
        with atomic_path(path) as tmp:
            torch.save({"params": self.get_params(), "vocabulary": self.vocabulary_,
                        "classes": self.classes_.tolist(), "state": self.model_.state_dict()}, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "TextEncoder":
        """Read an encoder written by :meth:`save`."""
        if not Path(path).exists():
            raise FileNotFoundError(f"no saved encoder at {path}; fit one and call .save(path) first")
        blob = torch.load(path, weights_only=True)
        encoder = cls(**blob["params"])
        encoder.vocabulary_ = blob["vocabulary"]
        encoder.classes_ = np.asarray(blob["classes"])
        encoder.model_ = _BagModel(len(encoder.vocabulary_) + 2, encoder.dim, len(encoder.classes_))
        encoder.model_.load_state_dict(blob["state"])
        encoder.model_.eval()
        return encoder
