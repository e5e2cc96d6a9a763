"""Negation with scope, in the spirit of NegEx (Chapman et al., 2001), over tokens.

* **Pre-negation triggers** ("no", "denies", "without", "negative for") negate the mentions that follow,
  **post-negation triggers** ("none", "resolved", "ruled out") the mentions before them; "denied",
  "negative" and "no" work both ways, decided by which side holds a mention ("fever: no").
* **Pseudo-negations** look like triggers but negate nothing: "not only", "no change", "no improvement",
  "not ruled out", "didn't help". They are matched first and skipped.
* **Scope** runs to the end of the clause: a sentence end, a semicolon, a line break, or a contrast word
  ("but", "however", "except", "apart from", "just"). Inside the clause the scope walks a *list*: after the
  first item, each comma/"or"/"and"-separated item stays negated unless it starts a new clause (a verb or
  subject such as "has", "is", "reports", "I"), so "no fever, chills or night sweats" negates all three
  while "no fever, has a cough" does not negate the cough.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from medfusion_lib.text.lexicon_index import damerau_within_one
from medfusion_lib.text.preprocess import Token, tokenize


def _phrases(*items: str) -> tuple[tuple[str, ...], ...]:
    """Trigger phrases as token tuples (lower case, apostrophes dropped), longest first."""
    out = {tuple(t.replace("'", "") for t in tokenize(item)) for item in items}
    return tuple(sorted(out, key=len, reverse=True))


PRE_TRIGGERS = _phrases(
    "no", "not", "denies", "denied", "deny", "denying", "without", "w/o", "never", "nor", "neither", "negative for",
    "neg for", "free of", "absence of", "no evidence of", "no signs of", "no sign of", "no complaints of",
    "no c/o", "no history of", "no h/o", "don't", "doesn't", "didn't", "haven't", "hasn't", "hadn't",
    "isn't", "wasn't", "aren't", "weren't", "do not", "does not", "did not", "have not", "has not",
    "had not", "is not", "was not", "are not", "no longer", "not had", "not have", "resolution of",
    "rules out", "ruled out", "rule out", "r/o", "nil",
)
POST_TRIGGERS = _phrases(
    "none", "absent", "resolved", "gone", "went away", "has gone", "have gone", "is gone", "are gone",
    "not present", "not reported", "ruled out", "was ruled out", "-ve", "( - )", "(-)", "settled",
    "cleared", "nil", "negative", "neg", "denied", "free", "no", "not",
)
#: Pre triggers that can also follow their target ("fever: no", "chills denied").
TWO_WAY = frozenset(_phrases("no", "not", "denied", "negative", "neg", "nil", "ruled out"))
PSEUDO_NEGATIONS = _phrases(
    "not only", "not just", "no change", "no changes", "no significant change", "no improvement",
    "not improved", "not improving", "no better", "not better", "not getting better", "not resolved",
    "not ruled out", "not been ruled out", "cannot be ruled out", "can't be ruled out", "cannot rule out",
    "can't rule out", "not rule out", "no increase", "not certain", "not sure", "without improvement",
    "without relief", "no relief", "not gone", "not going away", "isn't going away", "won't go away",
    "hasn't gone away", "not stopping", "won't stop", "doesn't stop", "didn't help", "did not help",
    "hasn't helped", "not helped", "not helping", "no sign of improvement", "gram negative",
    "not necessarily", "no doubt", "not to mention", "nothing helps", "no matter",
)
#: Words that end a negation's scope (with sentence punctuation, ";" and line breaks).
TERMINATORS = frozenset({
    "but", "however", "although", "though", "yet", "except", "apart", "aside", "besides", "whereas",
    "just", "only", "other", "instead", "still", "otherwise", "though", "despite", "nevertheless",
})
HARD_STOPS = frozenset({".", "!", "?", ";"})
#: Separators of a negated list ("no fever, chills or night sweats").
CONNECTORS = frozenset({",", "or", "and", "nor", "/", "&", "plus", "either", "neither", "+"})
#: Words that open a new clause: a list item holding one is outside the scope.
CLAUSE_CUES = frozenset({
    "has", "have", "had", "having", "is", "are", "was", "were", "am", "be", "been", "reports", "reported",
    "reporting", "report", "complains", "complained", "complaining", "endorses", "endorsed", "endorsing",
    "admits", "admitted", "notes", "noted", "noticed", "states", "stated", "says", "said", "presents",
    "presented", "feels", "feel", "felt", "feeling", "started", "starts", "began", "begun", "developed",
    "got", "gets", "getting", "positive", "which", "who", "i", "he", "she", "they", "we", "it", "pt",
    "patient", "c", "does", "do", "did", "now", "there", "this", "that", "today", "keep", "keeps",
    "worse", "worsening", "increasing", "persistent", "ongoing", "continues", "remains", "describes",
    "mentions", "also", "associated", "with",
})
#: Words a list item may hold besides its mention and still be "just a mention" (for post-negation).
SKIP_IN_LISTS = frozenset({"a", "an", "the", "any", "some", "his", "her", "my", ":", "-", "=", "(", ")"})
#: How many tokens may separate a pre-trigger from the first mention it negates (NegEx uses five words).
MAX_GAP = 7


@dataclass(frozen=True)
class Trigger:
    """A trigger occurrence over ``tokens[first:last + 1]``; ``kind`` is "pre", "post" or "pseudo"."""

    first: int
    last: int
    kind: str
    phrase: str


#: Trigger words long enough to recognise with one typo ("Deines", "Negaitve"), as symptom words are.
TYPO_TOLERANT_TRIGGERS = ("denies", "denied", "denying", "negative", "without", "resolved", "absent")


@lru_cache(maxsize=20_000)
def _trigger_key(word: str) -> str:
    """The word, or the trigger word it misspells by one edit (same first letter)."""
    word = word.replace("'", "")
    if len(word) >= 5 and word.isalpha() and word not in TYPO_TOLERANT_TRIGGERS:
        for trigger in TYPO_TOLERANT_TRIGGERS:
            if trigger[0] == word[0] and damerau_within_one(word, trigger):
                return trigger
    return word


def _keys(tokens: Sequence[Token]) -> list[str]:
    return [_trigger_key(t.lower) for t in tokens]


def _by_first_word(phrases) -> dict[str, tuple[tuple[str, ...], ...]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:  # keeps longest-first order within each first word
        out.setdefault(phrase[0], []).append(phrase)
    return {k: tuple(v) for k, v in out.items()}


_LOOKUP = {"pseudo": _by_first_word(PSEUDO_NEGATIONS), "pre": _by_first_word(PRE_TRIGGERS),
           "post": _by_first_word(POST_TRIGGERS)}


def _match_at(keys: list[str], i: int, kind: str) -> tuple[str, ...] | None:
    for phrase in _LOOKUP[kind].get(keys[i], ()):  # longest first
        if tuple(keys[i:i + len(phrase)]) == phrase:
            return phrase
    return None


def find_triggers(tokens: Sequence[Token], inside_mention: Sequence[bool] | None = None) -> list[Trigger]:
    """Trigger occurrences left to right; words inside a mention ("no appetite") are never triggers.

    A two-way trigger is reported as "pre" here; :func:`negation_flags` decides its direction.
    """
    keys = _keys(tokens)
    inside = inside_mention or [False] * len(tokens)
    found: list[Trigger] = []
    i = 0
    while i < len(tokens):
        if inside[i]:
            i += 1
            continue
        for kind in ("pseudo", "pre", "post"):
            phrase = _match_at(keys, i, kind)
            if phrase is not None and not any(inside[i:i + len(phrase)]):
                found.append(Trigger(i, i + len(phrase) - 1, kind, " ".join(phrase)))
                i += len(phrase)
                break
        else:
            i += 1
    return found


def _clause_bounds(tokens: Sequence[Token], text: str, keys: list[str]) -> list[int]:
    """clause id per token: a new clause starts after . ! ? ; line breaks and contrast words."""
    clause, ids = 0, []
    for j, token in enumerate(tokens):
        if j > 0 and "\n" in text[tokens[j - 1].end:token.start]:
            clause += 1
        if keys[j] in TERMINATORS:
            clause += 1
        ids.append(clause)
        if keys[j] in HARD_STOPS:
            clause += 1
    return ids


def _items(positions: list[int], keys: list[str]) -> list[list[int]]:
    """Split token positions into list items at connectors."""
    items: list[list[int]] = [[]]
    for j in positions:
        if keys[j] in CONNECTORS:
            if items[-1]:
                items.append([])
        else:
            items[-1].append(j)
    return [item for item in items if item]


def negation_flags(tokens: Sequence[Token], mentions: Sequence[tuple[int, int]], text: str = "") -> list[bool]:
    """For each mention (first, last token index) whether a negation trigger's scope covers it.

    ``tokens`` from :func:`~medfusion_lib.text.preprocess.tokenize_with_spans`; ``text`` is the string they
    came from (to see line breaks, which end a scope).
    """
    keys = _keys(tokens)
    owner = [-1] * len(tokens)  # mention index covering each token
    for m, (first, last) in enumerate(mentions):
        for j in range(first, last + 1):
            owner[j] = m
    clause = _clause_bounds(tokens, text, keys)
    negated = [False] * len(mentions)

    def mentions_in(item: list[int]) -> set[int]:
        return {owner[j] for j in item if owner[j] >= 0}

    def is_new_clause(item: list[int]) -> bool:
        return any(keys[j] in CLAUSE_CUES and owner[j] < 0 for j in item)

    if not mentions:
        return []
    for trigger in find_triggers(tokens, [o >= 0 for o in owner]):
        if trigger.kind == "pseudo":
            continue
        c = clause[trigger.first]
        after, j = [], trigger.last + 1
        while j < len(tokens) and clause[j] == c:
            if keys[j] not in HARD_STOPS:
                after.append(j)
            j += 1
        before, j = [], trigger.first - 1
        while j >= 0 and clause[j] == c:
            if keys[j] not in HARD_STOPS:
                before.append(j)
            j -= 1
        before.reverse()
        forward = _forward_scope(after, keys, owner, mentions_in, is_new_clause, trigger.last)
        two_way = tuple(trigger.phrase.split()) in TWO_WAY
        if trigger.kind == "pre" or two_way:
            if forward or not two_way:
                for m in forward:
                    negated[m] = True
                continue
            # a two-way trigger negating nothing ahead looks back only when it follows a mention or ":"/"-";
            # "no"/"not" also need the clause to end there ("fever: no", but not "appetite poor, no N/V")
            if not before or (owner[before[-1]] < 0 and keys[before[-1]] not in {":", "-", "=", ","}):
                continue
            if trigger.phrase in {"no", "not"} and any(keys[j].isalnum() for j in after):
                continue
        for m in _backward_scope(before, keys, owner, mentions_in):
            negated[m] = True
    return negated


def _forward_scope(after, keys, owner, mentions_in, is_new_clause, trigger_end) -> set[int]:
    items = _items(after, keys)
    if not items:
        return set()
    scope: set[int] = set()
    first = items[0]
    hits = [j for j in first if owner[j] >= 0]
    if hits and hits[0] - trigger_end <= MAX_GAP:
        scope |= mentions_in(first)
    elif hits:
        return set()
    for item in items[1:]:
        if is_new_clause(item):
            break
        found = mentions_in(item)
        if not found and len(item) > 3:
            break
        scope |= found
    return scope


def _backward_scope(before, keys, owner, mentions_in) -> set[int]:
    """Mentions a post-trigger negates: the nearest list item, plus earlier items that hold nothing but a
    mention ("fever and chills: denied"), so "Cough - yes, fever - no" negates only the fever."""
    items = _items(before, keys)
    scope: set[int] = set()
    for n, item in enumerate(reversed(items)):
        found = mentions_in(item)
        if not found:
            break
        if n > 0 and any(owner[j] < 0 and keys[j] not in SKIP_IN_LISTS for j in item):
            break
        scope |= found
    return scope
