"""Symptom mentions in free text: dictionary matching + measurements + NegEx-style negation.

>>> [(m.text, m.label, m.negated) for m in extract_mentions("Denies fever but has a dry cough.")]
[('fever', 'Fever', True), ('dry cough', 'Nonproductive cough', False)]
"""
from __future__ import annotations

import bisect
from functools import lru_cache
from typing import Iterable

from medfusion_lib.lexicon import SYMPTOMS, Mention
from medfusion_lib.text.lexicon_index import BLOCKER, NEGATED_FORM, SKIPPABLE, LexiconIndex, default_index
from medfusion_lib.text.matcher import find_matches
from medfusion_lib.text.measurements import FEVER_ID, find_measurements
from medfusion_lib.text.negation import negation_flags
from medfusion_lib.text.preprocess import check_text, tokenize_with_spans


def extract_mentions(text: str, index: LexiconIndex | None = None, measurements: bool = True) -> list[Mention]:
    """Every symptom mention in ``text``, in reading order, with its negation flag.

    ``index``: a lexicon index (default: ``SYMPTOMS`` plus the extra synonyms); ``measurements``: also
    report symptoms stated as numbers ("temp 38.9", "lost 6 kg"). Empty or blank text gives ``[]``;
    a non-string raises ``TypeError``.
    """
    check_text(text)
    if index is None:  # the default lexicon: cache, since CV and grid searches extract the same texts again
        return list(_extract_default(text, measurements))
    return _extract(text, index, measurements)


def clear_cache() -> None:
    """Forget cached extractions (benchmarks call it so timings include the extraction work)."""
    _extract_default.cache_clear()


@lru_cache(maxsize=50_000)
def _extract_default(text: str, measurements: bool) -> tuple[Mention, ...]:
    return tuple(_extract(text, default_index(), measurements))


def _extract(text: str, index: LexiconIndex, measurements: bool) -> list[Mention]:
    tokens = tokenize_with_spans(text)
    if not tokens:
        return []
    found = []  # (first token, last token, concept_id, is_negated_form)
    for match in find_matches(tokens, index):
        if match.kind == BLOCKER or match.concept_id is None:
            continue
        first = match.first
        while first < match.last and tokens[first].lower in SKIPPABLE:  # "a temperature" -> "temperature"
            first += 1
        found.append((first, match.last, match.concept_id, match.kind == NEGATED_FORM))
    if measurements:
        starts = [t.start for t in tokens]
        for m in find_measurements(text):
            overlapping = [f for f in found if tokens[f[0]].start < m.end and m.start < tokens[f[1]].end]
            if m.kind == "temperature":
                # "temperature 36.8" is a reading, not a fever: the number decides, not the word
                found = [f for f in found if f not in overlapping or f[2] != FEVER_ID]
                overlapping = [f for f in overlapping if f[2] != FEVER_ID]
            if m.concept_id is None or overlapping:
                continue
            first = bisect.bisect_left(starts, m.start)
            last = max(first, bisect.bisect_left(starts, m.end) - 1)
            found.append((first, last, m.concept_id, False))
    found.sort()
    flags = negation_flags(tokens, [(f, l) for f, l, _, _ in found], text)
    mentions = []
    for (first, last, concept_id, negated_form), negated in zip(found, flags):
        start, end = tokens[first].start, tokens[last].end
        mentions.append(Mention(start, end, text[start:end], concept_id, SYMPTOMS[concept_id].label
                                if concept_id in SYMPTOMS else concept_id,
                                # "afebrile" is a negated fever; "not afebrile" is a fever
                                negated != negated_form))
    return mentions


def extract_many(texts: Iterable[str], index: LexiconIndex | None = None) -> list[list[Mention]]:
    """:func:`extract_mentions` for each text (a list of lists, same order)."""
    if isinstance(texts, str):
        raise TypeError("extract_many expects a list of texts; for one text call extract_mentions(text)")
    return [extract_mentions(t, index) for t in texts]
