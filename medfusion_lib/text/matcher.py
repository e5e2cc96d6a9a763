"""Longest-match dictionary lookup over tokens: the classic clinical-NLP span finder.

Scan left to right; at each token walk the lexicon trie as far as the text allows (skipping determiners
inside a phrase, accepting a one-edit typo of a lexicon word, or a known abbreviation) and keep the longest
phrase that ends on a complete entry. Then jump past it, so "productive cough" never also yields "cough".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from medfusion_lib.text.lexicon_index import (ABBREVIATION, FILLERS, LexiconIndex, TrieNode,
                                              default_index, token_key)
from medfusion_lib.text.preprocess import Token

#: At most this many fillers in a row are skipped inside a phrase ("pain in the chest", "yellow-green").
MAX_SKIPS = 3


@dataclass(frozen=True)
class Match:
    """A lexicon hit over ``tokens[first:last + 1]``; ``concept_id`` is None for a blocker phrase."""

    first: int
    last: int
    concept_id: str | None
    kind: str
    phrase: str
    n_typos: int = 0


def _token_options(token: Token, node: TrieNode, index: LexiconIndex) -> list[tuple[TrieNode, int]]:
    """Children of ``node`` this token can step to, with the number of typos that step costs."""
    key = token_key(token.text)
    child = node.children.get(key)
    if child is not None:
        return [(child, 0)]
    options = []
    for corrected in index.corrections(token.lower, in_phrase=node is not index.root):
        child = node.children.get(corrected)
        if child is not None:
            options.append((child, 1))
    return options


def _longest_from(tokens: Sequence[Token], i: int, index: LexiconIndex) -> Match | None:
    """The longest lexicon phrase starting at token ``i`` (fewest typos on ties)."""
    best: Match | None = None
    # depth-first over (node, next token, last matched token, typos so far, skips in a row)
    stack = [(index.root, i, -1, 0, 0)]
    while stack:
        node, j, last, typos, skips = stack.pop()
        if node.entry is not None and last >= 0:
            concept_id, kind, phrase = node.entry
            candidate = Match(i, last, concept_id, kind, phrase, typos)
            if (best is None or candidate.last > best.last
                    or (candidate.last == best.last and candidate.n_typos < best.n_typos)):
                best = candidate
        if j >= len(tokens):
            continue
        token = tokens[j]
        for child, cost in _token_options(token, node, index):
            if typos + cost <= 2:
                stack.append((child, j + 1, j, typos + cost, 0))
        if last >= 0 and token.lower in FILLERS and skips < MAX_SKIPS:
            stack.append((node, j + 1, last, typos, skips + 1))
    return best


def find_matches(tokens: Sequence[Token], index: LexiconIndex | None = None) -> list[Match]:
    """Non-overlapping longest matches, left to right, including blockers (``concept_id is None``).

    ``tokens``: from :func:`medfusion_lib.text.preprocess.tokenize_with_spans`.
    """
    index = index or default_index()
    matches: list[Match] = []
    i = 0
    while i < len(tokens):
        match = _longest_from(tokens, i, index)
        abbreviation = index.abbreviation(tokens[i].text)
        if abbreviation is not None and (match is None or match.last == i):
            match = Match(i, i, abbreviation, ABBREVIATION, tokens[i].text)
        if match is None:
            i += 1
            continue
        matches.append(match)
        i = match.last + 1
    return matches
