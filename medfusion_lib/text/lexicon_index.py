"""The extractor's view of the lexicon: every surface form as a sequence of token keys in a trie.

A *token key* is the lower-cased, apostrophe-free Snowball stem of a word ("Coughing" -> "cough",
"can't" -> "cant"), so inflections match without listing them. Determiners and possessives ("a", "my",
"the") are dropped from phrases and skipped in text, so "pain in the chest" matches "pain in my chest".
Single-token abbreviations ("SOB", "PND") are matched on the raw token, case-sensitively unless the
abbreviation cannot be an English word.

Typo tolerance: a word of five or more letters (four inside a phrase that has already started matching)
that is not in the lexicon vocabulary may stand for a vocabulary word at Damerau-Levenshtein distance 1
("coughign", "diarhea", "wheezng", "a bad cogh"). Candidates are found
with a delete-one index (the SymSpell idea) and checked exactly; common English words that happen to sit
one edit from a symptom word ("fewer" ~ "fever") are protected.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from medfusion_lib.lexicon import SYMPTOMS
from medfusion_lib.text.preprocess import GENERIC_STOPWORDS, NEGATORS, stem_word, tokenize
from medfusion_lib.text.synonyms import (BLOCKERS, CASE_INSENSITIVE_ABBREVIATIONS, EXTRA_ABBREVIATIONS,
                                         EXTRA_PHRASES, NEGATED_FORMS)

#: Words skipped inside a phrase (and never the first word of a mention's span).
SKIPPABLE = frozenset({"a", "an", "the", "my", "his", "her", "their", "your", "our", "some", "both", "any",
                       "much", "little", "bit"})

#: Words also skipped inside a phrase (never dropped from lexicon phrases): descriptions of sputum and the
#: like that patients insert ("coughing up yellow-green mucus").
FILLERS = SKIPPABLE | frozenset({"green", "yellow", "white", "brown", "thick", "clear", "yellowish", "greenish",
                                 "rusty", "coloured", "colored", "-", "really", "very", "so", "all", "lot", "lots",
                                 "loads", "of"})

#: Marker kinds of a lexicon entry.
PHRASE, ABBREVIATION, NEGATED_FORM, BLOCKER = "phrase", "abbreviation", "negated_form", "blocker"

#: Real English words one edit away from a lexicon word; never "corrected" into a symptom.
PROTECTED_WORDS = frozenset({
    "fewer", "fevered", "lever", "never", "sever", "seven", "cough", "caught", "tough", "rough", "dough",
    "bough", "chest", "chess", "cheat", "chess", "sweet", "sweets", "sweat", "sweats", "wheel", "wheels",
    "night", "nigh", "might", "light", "right", "sight", "tight", "fight", "eight", "weigh", "weight",
    "height", "breathe", "breath", "bread", "breast", "breads", "break", "blood", "flood", "bloody",
    "pains", "paint", "pain", "plain", "rains", "gains", "losing", "closing", "loosing", "lost", "last",
    "list", "lose", "loose", "noise", "nose", "nosy", "those", "chose", "throat", "threat", "thread",
    "short", "sport", "shore", "sorts", "store", "sore", "shirt", "chills", "chill", "child", "chili",
    "shivers", "rivers", "shaves", "shakes", "snakes", "stakes", "flakes", "drakes", "ankles", "angles",
    "ankle", "angle", "swollen", "swallow", "swallen", "hoarse", "horse", "house", "horses", "hoarder",
    "voice", "voices", "choice", "smell", "spell", "small", "smelt", "taste", "waste", "paste", "heart",
    "heard", "hearty", "hearth", "racing", "facing", "pacing", "lacing", "muscle", "mussel", "muzzle",
    "aches", "acres", "acted", "bodies", "body", "head", "heads", "heady", "tired", "tried", "tires",
    "tiled", "timed", "fired", "hired", "wired", "wiped", "wider", "drained", "trained", "brained",
    "legs", "pegs", "kegs", "feet", "fees", "feel", "fleet", "sheets", "sheep", "shoots", "soaking",
    "soaring", "stuffy", "stuffs", "stuff", "stiff", "runny", "funny", "sunny", "bunny", "running",
    "cunning", "winded", "winder", "minded", "wonder", "wander", "lying", "dying", "tying", "flat",
    "flap", "float", "stairs", "stars", "stair", "chairs", "mucus", "music", "phlegm", "sputum", "appetite",
    "energy", "anergy", "nausea", "fatigue", "fatigued", "confused", "confuse", "refused", "infused",
    "congested", "congestion", "digestion", "suggestion", "edema", "enema", "sneeze", "sneezes", "squeeze",
    "breeze", "freeze", "wheeze", "tightness", "rightness", "pressure", "pleasure", "gained", "gainer",
    "rained", "pained", "stained", "strained", "streaked", "streamed", "tinged", "hinged", "singed",
    "fluttering", "flattering", "fettering", "pounding", "pounding", "sounding", "founding", "rounding",
    "mounting", "shaking", "shaping", "baking", "making", "taking", "waking", "walking", "talking",
    "whistling", "wrestling", "bristling", "muddled", "puddled", "middled", "meddled", "nagging",
    "loss", "toss", "less", "boss", "moss", "lots", "lost", "swelling", "smelling", "spelling", "dwelling",
    "selling", "telling", "yelling", "wells", "weeks", "weeds", "cold", "colds", "coughs", "rigid",
})


def token_key(word: str) -> str:
    """The key a word is matched on: lower-case, no apostrophes, Snowball stem ("Can't" -> "cant")."""
    word = word.lower().replace("'", "")
    return stem_word(word) if word.isalpha() else word


def damerau_within_one(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion, substitution or swap."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    if la > lb:
        a, b = b, a  # a is the shorter one
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))} | {word}


@dataclass
class TrieNode:
    children: dict[str, "TrieNode"] = field(default_factory=dict)
    #: (concept_id or None for a blocker, kind, source phrase) when a phrase ends here.
    entry: tuple[str | None, str, str] | None = None


@dataclass
class LexiconIndex:
    """Token-key trie over every surface form, plus abbreviation and typo look-ups.

    Build it with :func:`build_index` (cached as :func:`default_index`).
    """

    root: TrieNode
    abbreviations: dict[str, str]          # raw token -> concept_id (exact case)
    abbreviations_folded: dict[str, str]   # upper-cased token -> concept_id (case-insensitive ones)
    vocabulary: dict[str, str]             # lexicon word (lower, alphabetic) -> its token key
    delete_index: dict[str, set[str]]      # one-deletion variant -> lexicon words
    conflicts: list[tuple[str, str, str]]  # (phrase, kept concept, dropped concept) — should stay empty
    n_phrases: int
    correction_cache: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict, repr=False)

    def abbreviation(self, raw: str) -> str | None:
        """The concept a raw token abbreviates, if any ("SOB" -> Dyspnea; "sob" too; "ha" not)."""
        if raw in self.abbreviations:
            return self.abbreviations[raw]
        return self.abbreviations_folded.get(raw.upper())

    def corrections(self, word: str, in_phrase: bool = False) -> tuple[str, ...]:
        """Token keys of lexicon words one edit from ``word`` (empty for short words).

        Protected real words ("fewer", "sweets") are only corrected inside a phrase that already matched
        ("night sweets"), never at the start of a mention.
        """
        word = word.lower()
        if not in_phrase and word in PROTECTED_WORDS:
            return ()
        # inside a phrase the context is already there, so four-letter slips ("a bad cogh") are safe too
        return _corrections(self, word, 4 if in_phrase else 5)


def _corrections(index: "LexiconIndex", word: str, min_length: int) -> tuple[str, ...]:
    cached = index.correction_cache.get((word, min_length))
    if cached is not None:
        return cached
    keys: tuple[str, ...] = ()
    if not (len(word) < min_length or not word.isalpha() or word in index.vocabulary
            or word in GENERIC_STOPWORDS or word in NEGATORS):
        candidates: set[str] = set()
        for variant in _deletes(word):
            candidates |= index.delete_index.get(variant, set())
        keys = tuple(sorted({index.vocabulary[c] for c in candidates
                             if _plausible_slip(word, c) and damerau_within_one(word, c)}))
    index.correction_cache[(word, min_length)] = keys
    return keys


def _plausible_slip(word: str, target: str) -> bool:
    """Typos rarely hit the first letter, except by swapping the first two ("efver"); long words may."""
    return word[0] == target[0] or word[:2] == target[1::-1] or len(word) >= 7


def _variants(phrase: str) -> set[str]:
    """A phrase plus its hyphen variants ("non-productive" -> "non productive", "nonproductive")."""
    out = {phrase}
    if "-" in phrase:
        out |= {phrase.replace("-", " "), phrase.replace("-", "")}
    return out


def phrase_keys(phrase: str) -> tuple[str, ...]:
    """The token keys of a phrase with determiners removed ("a bad cough" -> ("bad", "cough"))."""
    tokens = tokenize(phrase)
    kept = [t for t in tokens if t not in SKIPPABLE]
    return tuple(token_key(t) for t in (kept or tokens))


def build_index(symptoms=None) -> LexiconIndex:
    """Index every phrase, clause, extra synonym, negated form and blocker of ``symptoms``.

    ``symptoms``: mapping concept_id -> :class:`medfusion_lib.lexicon.Symptom` (default ``SYMPTOMS``).
    """
    symptoms = SYMPTOMS if symptoms is None else symptoms
    root = TrieNode()
    conflicts: list[tuple[str, str, str]] = []
    words: set[str] = set()
    n_phrases = 0

    single_words = {(cid, w.lower()) for cid, sym in symptoms.items()
                    for w in (*sym.phrases, *EXTRA_PHRASES.get(cid, ())) if len(tokenize(w)) == 1}

    def add(phrase: str, concept_id: str | None, kind: str) -> None:
        nonlocal n_phrases
        for variant in _variants(phrase):
            keys = phrase_keys(variant)
            if not keys:
                continue
            tokens = tokenize(variant)
            if len(tokens) == 2 and tokens[0] in SKIPPABLE and (concept_id, tokens[1]) not in single_words:
                # "a temperature" is a fever, "temperature" alone is not: keep the article in the key
                keys = (tokens[0], *keys)
            node = root
            for key in keys:
                node = node.children.setdefault(key, TrieNode())
            if node.entry is not None and node.entry[0] != concept_id:
                if node.entry[1] == BLOCKER or kind == BLOCKER:
                    pass  # a blocker never fights a real phrase: keep the first one
                conflicts.append((variant, str(node.entry[0]), str(concept_id)))
                continue
            if node.entry is None:
                node.entry = (concept_id, kind, variant)
                n_phrases += 1
            words.update(t for t in tokenize(variant) if t.isalpha() and t not in SKIPPABLE)

    abbreviations: dict[str, str] = {}
    for concept_id, symptom in symptoms.items():
        for phrase in (*symptom.phrases, *symptom.clauses, *EXTRA_PHRASES.get(concept_id, ())):
            add(phrase, concept_id, PHRASE)
        for abbreviation in (*symptom.abbreviations, *EXTRA_ABBREVIATIONS.get(concept_id, ())):
            if len(tokenize(abbreviation)) == 1:
                abbreviations.setdefault(abbreviation, concept_id)
            else:  # multi-word shorthand ("wt loss") is matched like a phrase
                add(abbreviation, concept_id, ABBREVIATION)
        for word in NEGATED_FORMS.get(concept_id, ()):
            add(word, concept_id, NEGATED_FORM)
    for phrase in BLOCKERS:
        add(phrase, None, BLOCKER)

    folded = {a.upper(): c for a, c in abbreviations.items() if a.upper() in CASE_INSENSITIVE_ABBREVIATIONS}
    vocabulary = {w: token_key(w) for w in words if len(w) >= 5}
    delete_index: dict[str, set[str]] = {}
    for word in vocabulary:
        for variant in _deletes(word):
            delete_index.setdefault(variant, set()).add(word)
    return LexiconIndex(root, abbreviations, folded, vocabulary, delete_index, conflicts, n_phrases)


@lru_cache(maxsize=1)
def default_index() -> LexiconIndex:
    """The index over ``SYMPTOMS`` and the extra synonyms, built once per process (~0.1 s)."""
    return build_index()
