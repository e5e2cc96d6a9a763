"""Preprocessing for messy clinical text with NLTK pieces that need no downloaded data.

Everything here works offline: the regular-expression and Treebank tokenizers, the Snowball and Porter
stemmers and ``nltk.ngrams`` ship inside the ``nltk`` package itself. WordNet lemmatization needs the
``wordnet`` corpus; when it is missing, :func:`lemmatize` says so once and falls back to the stemmer.
"""
from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from nltk import ngrams as _nltk_ngrams
from nltk.stem import PorterStemmer, SnowballStemmer
from nltk.tokenize import RegexpTokenizer, TreebankWordTokenizer

#: One token: a word (letters, inner apostrophes/digits allowed: "don't", "covid19"), a number with an
#: optional decimal part ("38.5"), or any single other non-space character (punctuation, "/", "%").
TOKEN_PATTERN = r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+(?:[.,]\d+)?|[^\w\s]"

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


@dataclass(frozen=True)
class Token:
    """A token and where it sits in the original text: ``text[start:end] == token.text``."""

    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower().translate(_APOSTROPHES)


def check_text(text: object, name: str = "text") -> str:
    """Return ``text`` when it is a ``str``; otherwise raise a ``TypeError`` that says what to pass.

    Empty and whitespace-only strings are valid (they simply hold no tokens).
    """
    if text is None:
        raise TypeError(f"{name} is None; pass a string (use '' for an empty narrative)")
    if isinstance(text, bytes):
        raise TypeError(f"{name} is bytes; decode it first, e.g. {name}.decode('utf-8')")
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str; got {type(text).__name__}")
    return text


def normalize(text: str) -> str:
    """Unicode-normalise (NFKC), unify apostrophes, lower-case and collapse whitespace.

    Use it for bag-of-words models; the extractor keeps the original text so that offsets stay valid.
    """
    text = unicodedata.normalize("NFKC", check_text(text)).translate(_APOSTROPHES)
    return re.sub(r"\s+", " ", text).strip().lower()


_REGEXP_TOKENIZER = RegexpTokenizer(TOKEN_PATTERN)


def tokenize_with_spans(text: str) -> list[Token]:
    """Tokens with character offsets into ``text`` (the original, not a normalised copy).

    Works on the raw string so that every ``Token`` points back at what the patient wrote;
    ``text[t.start:t.end] == t.text`` for every token.
    """
    check_text(text)
    # Curly apostrophes are single characters, so translating them keeps every offset in place.
    view = text.translate(_APOSTROPHES)
    return [Token(text[s:e], s, e) for s, e in _REGEXP_TOKENIZER.span_tokenize(view)]


def tokenize(text: str, lower: bool = True) -> list[str]:
    """Regular-expression tokens (words, numbers, single punctuation marks); no NLTK data needed."""
    tokens = [t.lower if lower else t.text for t in tokenize_with_spans(text)]
    return tokens


def treebank_tokenize(text: str) -> list[str]:
    """NLTK's Penn Treebank tokenizer (splits "don't" into "do" + "n't"); no data download needed."""
    return TreebankWordTokenizer().tokenize(check_text(text))


@lru_cache(maxsize=None)
def _stemmer(algorithm: str):
    if algorithm == "snowball":
        return SnowballStemmer("english")
    if algorithm == "porter":
        return PorterStemmer()
    raise ValueError(f"unknown stemmer {algorithm!r}; use 'snowball' or 'porter'")


@lru_cache(maxsize=65536)
def stem_word(word: str, algorithm: str = "snowball") -> str:
    """The stem of one lower-case word ("coughing" -> "cough")."""
    return _stemmer(algorithm).stem(word)


def stem(tokens: Sequence[str], algorithm: str = "snowball") -> list[str]:
    """Stem each token with NLTK's Snowball (default) or Porter stemmer."""
    if isinstance(tokens, str):
        raise TypeError("stem expects a list of tokens; call tokenize(text) first")
    return [stem_word(t.lower(), algorithm) for t in tokens]


def wordnet_available() -> bool:
    """True when NLTK's WordNet corpus is installed (it is not bundled with the package)."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return True
    except LookupError:
        return False


_WARNED_NO_WORDNET = False


def lemmatize(tokens: Sequence[str]) -> list[str]:
    """Lemmatize with WordNet when its data is present; otherwise warn once and use the Snowball stemmer.

    Install the data (needs a network, once) with ``python -m nltk.downloader wordnet``.
    """
    global _WARNED_NO_WORDNET
    if isinstance(tokens, str):
        raise TypeError("lemmatize expects a list of tokens; call tokenize(text) first")
    if wordnet_available():
        from nltk.stem import WordNetLemmatizer

        lemmatizer = WordNetLemmatizer()
        return [lemmatizer.lemmatize(t.lower()) for t in tokens]
    if not _WARNED_NO_WORDNET:
        warnings.warn("NLTK's WordNet data is not installed, so lemmatize() falls back to the Snowball "
                      "stemmer. To lemmatize, run once with a network: python -m nltk.downloader wordnet",
                      UserWarning, stacklevel=2)
        _WARNED_NO_WORDNET = True
    return stem(tokens)


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous ``n``-token tuples (``nltk.ngrams``); ``n`` must be a positive integer."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    return list(_nltk_ngrams(list(tokens), n))


#: Words that change a symptom's meaning: a generic stopword list deletes them ("no fever" -> "fever").
NEGATORS = frozenset({
    "no", "not", "nor", "neither", "never", "none", "without", "denies", "denied", "deny", "negative",
    "absent", "nil", "don't", "doesn't", "didn't", "haven't", "hasn't", "hadn't", "isn't", "wasn't",
    "aren't", "weren't", "won't", "can't", "cannot", "couldn't", "n't",
})

#: Clinically meaningful words that generic English stopword lists drop.
CLINICAL_KEEP = frozenset({
    "up", "down", "off", "over", "under", "more", "most", "less", "few", "very", "again", "before", "after",
    "during", "above", "below", "worse", "better", "only", "same", "against", "out", "on",
})

#: A generic English stopword list (the usual function words), written out so no NLTK download is needed.
GENERIC_STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further had hadn't has hasn't have haven't having he her here hers herself him himself his how
i if in into is isn't it it's its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was wasn't we were weren't
what when where which while who whom why will with without won't would you your yours yourself yourselves
""".split())

#: Generic stopwords minus negators and clinically meaningful words.
CLINICAL_STOPWORDS = frozenset(GENERIC_STOPWORDS - NEGATORS - CLINICAL_KEEP)


def remove_stopwords(tokens: Iterable[str], stopwords: Iterable[str] = CLINICAL_STOPWORDS) -> list[str]:
    """Drop stopwords (case-insensitive). The default list keeps negators such as "no" and "denies"."""
    if isinstance(tokens, str):
        raise TypeError("remove_stopwords expects a list of tokens; call tokenize(text) first")
    stop = {w.lower() for w in stopwords}
    return [t for t in tokens if t.lower() not in stop]
