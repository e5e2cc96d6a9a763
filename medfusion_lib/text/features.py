"""From narratives to model inputs, as scikit-learn transformers that fit in a ``Pipeline``.

* :class:`SymptomFeaturizer` — the structured path: one column per lexicon concept holding
  ``1`` (mentioned and affirmed), ``-1`` (mentioned, only negated) or ``0`` (not mentioned).
* :class:`NegationTagger` + :func:`make_tfidf` — the bag-of-words path: TF-IDF over words and bigrams,
  where a negated mention's words get a ``neg_`` prefix so "no fever" and "fever" are different features.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_pipeline

from medfusion_lib.lexicon import SYMPTOMS
from medfusion_lib.text.extract import Mention, extract_mentions
from medfusion_lib.text.preprocess import check_text, normalize, tokenize

PRESENT, ABSENT, NOT_MENTIONED = 1, -1, 0


def as_text_list(X, name: str = "X") -> list[str]:
    """Accept a list/tuple/array/Series of strings (or a one-column DataFrame); reject a bare string."""
    if X is None:
        raise TypeError(f"{name} is None; pass a list of narratives (strings)")
    if isinstance(X, str):
        raise TypeError(f"{name} is a single string; wrap it in a list: [{name}]")
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"{name} is a DataFrame with {X.shape[1]} columns; pass the narrative column, "
                             "e.g. df['narrative']")
        X = X.iloc[:, 0]
    texts = list(X)
    for i, text in enumerate(texts):
        check_text(text, f"{name}[{i}]")
    return texts


def mention_states(mentions: Sequence[Mention], concepts: Sequence[str]) -> np.ndarray:
    """One row of the structured table: (n_concepts,) int8 of 1 / -1 / 0.

    A concept both affirmed and negated in one text ("no fever last week, fever today") counts as present.
    """
    position = {c: i for i, c in enumerate(concepts)}
    row = np.zeros(len(concepts), dtype=np.int8)
    for m in mentions:
        i = position.get(m.concept_id)
        if i is None:
            continue
        if not m.negated:
            row[i] = PRESENT
        elif row[i] == NOT_MENTIONED:
            row[i] = ABSENT
    return row


class SymptomFeaturizer(BaseEstimator, TransformerMixin):
    """Narratives -> structured symptom table, (n_samples, n_concepts) float32 of 1 / -1 / 0.

    Parameters
    ----------
    concepts : list of HPO ids for the columns, or None for every concept in ``SYMPTOMS`` (lexicon order).
    measurements : also count symptoms stated as numbers ("temp 38.9" -> Fever present).

    Stateless apart from the column list, so ``fit`` only checks its input. Use
    :meth:`get_feature_names_out` (labels such as ``"Fever"``) to name the columns.
    """

    def __init__(self, concepts: Sequence[str] | None = None, measurements: bool = True):
        self.concepts = concepts
        self.measurements = measurements

    def fit(self, X, y=None):
        as_text_list(X)
        concepts = list(SYMPTOMS) if self.concepts is None else list(self.concepts)
        unknown = [c for c in concepts if c not in SYMPTOMS]
        if unknown:
            raise ValueError(f"unknown concept ids {unknown}; use ids from medfusion_lib.lexicon.SYMPTOMS")
        self.concepts_ = concepts
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> np.ndarray:
        if not hasattr(self, "concepts_"):
            raise ValueError("SymptomFeaturizer is not fitted yet; call fit(X) or fit_transform(X) first")
        texts = as_text_list(X)
        table = np.zeros((len(texts), len(self.concepts_)), dtype=np.float32)
        for i, text in enumerate(texts):
            table[i] = mention_states(extract_mentions(text, measurements=self.measurements), self.concepts_)
        return table

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([SYMPTOMS[c].label for c in self.concepts_], dtype=object)

    def to_frame(self, X, index=None) -> pd.DataFrame:
        """The table as a DataFrame with symptom labels as columns (for reading, not for models)."""
        return pd.DataFrame(self.transform(X).astype(int), columns=self.get_feature_names_out(), index=index)


def mentions_frame(texts: Iterable[str], ids: Sequence | None = None) -> pd.DataFrame:
    """Every mention of every text, long form: id, start, end, text, concept_id, label, negated."""
    texts = as_text_list(texts, "texts")
    ids = list(range(len(texts))) if ids is None else list(ids)
    if len(ids) != len(texts):
        raise ValueError(f"got {len(ids)} ids for {len(texts)} texts; pass one id per text")
    rows = [{"id": i, **m.to_dict()} for i, t in zip(ids, texts) for m in extract_mentions(t)]
    return pd.DataFrame(rows, columns=["id", "start", "end", "text", "concept_id", "label", "negated"])


def tag_negations(text: str) -> str:
    """The text with each negated mention's words prefixed by ``neg_`` ("no fever" -> "no neg_fever")."""
    check_text(text)
    pieces, cursor = [], 0
    for m in extract_mentions(text):
        if m.negated:
            pieces += [text[cursor:m.start], " ".join("neg_" + w for w in tokenize(m.text) if w.isalnum())]
            cursor = m.end
    pieces.append(text[cursor:])
    return "".join(pieces)


class NegationTagger(BaseEstimator, TransformerMixin):
    """Texts -> texts with negated mentions tagged (see :func:`tag_negations`); stateless."""

    def fit(self, X, y=None):
        as_text_list(X)
        return self

    def transform(self, X) -> list[str]:
        return [tag_negations(t) for t in as_text_list(X)]


_WORD = re.compile(r"neg_[^\W\d_]+|[^\W\d_]+(?:'[^\W\d_]+)*|\d+(?:\.\d+)?")


def analyzer_tokens(text: str) -> list[str]:
    """Words and numbers of the normalised text, keeping ``neg_`` tags whole; punctuation dropped."""
    return _WORD.findall(normalize(text))


def make_tfidf(ngram_range: tuple[int, int] = (1, 2), min_df: int = 2, max_features: int | None = 20000,
               **kwargs) -> TfidfVectorizer:
    """A TF-IDF vectorizer over our tokenizer (keeps negators, drops punctuation): sparse (n, vocabulary)."""
    return TfidfVectorizer(tokenizer=analyzer_tokens, lowercase=False, token_pattern=None,
                           ngram_range=ngram_range, min_df=min_df, max_features=max_features,
                           sublinear_tf=True, **kwargs)


def tfidf_pipeline(negation: bool = True, **tfidf_kwargs) -> Pipeline:
    """The TF-IDF path as a transformer: [NegationTagger ->] TF-IDF. Output: sparse (n, vocabulary)."""
    steps = ([NegationTagger()] if negation else []) + [make_tfidf(**tfidf_kwargs)]
    return make_pipeline(*steps)
