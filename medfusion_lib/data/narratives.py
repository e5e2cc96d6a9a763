"""Write a patient's symptom narrative and record every symptom span it writes.

Two voices: the patient's own words (lay phrasings, first person) and a clinician's note (clinical terms,
shorthand such as "c/o", "x3 days", "SOB", "Denies CP"). Both carry negations ("no fever or chills",
"denies chest pain", "hemoptysis: none"), durations, severity, distractors and occasional typos.

Span convention (the symptom extractor is scored against it): a span covers the symptom phrase only —
not the negation trigger, severity or duration words — with character offsets into the narrative;
an abbreviation ("SOB") is a span; a temperature reading of 38.0 °C or more written in a note
("temp 38.6") is a span of Fever.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from medfusion_lib.data.diagnoses import (DISTRACTOR_SYMPTOMS, NEUTRAL_CONTEXT, PRESENTATIONS,
                                          RISK_FACTOR_RATE)
from medfusion_lib.lexicon import CONCEPT_BY_LABEL, SYMPTOMS, Mention as Span

TYPO_RATE = 0.03          # chance a symptom phrase is written with one typo
FEVER_THRESHOLD_C = 38.0  # a written temperature at or above this expresses fever


#: How negated lists are framed: (text before, conjunction, text after).
PATIENT_NEGATIONS = ((" No ", "or", "."), (" I don't have any ", "or", "."), (" Haven't had ", "or", " though."))
NOTE_NEGATIONS = ((" Denies ", "or", "."), (" No ", "or", "."), (" Negative for ", "and", "."))


@dataclass
class _Writer:
    """Appends text and remembers where each symptom phrase landed."""

    parts: list[str] = field(default_factory=list)
    length: int = 0
    spans: list[Span] = field(default_factory=list)

    def text(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def mention(self, phrase: str, label: str, negated: bool) -> None:
        concept_id = CONCEPT_BY_LABEL[label]
        self.spans.append(Span(self.length, self.length + len(phrase), phrase, concept_id, label, negated))
        self.text(phrase)

    def mentions(self, items: list[tuple[str, str]], negated: bool, conjunction: str = "and") -> None:
        """Write "a, b and c", each item (phrase, label) a span."""
        for i, (phrase, label) in enumerate(items):
            if i:
                self.text(f" {conjunction} " if i == len(items) - 1 else ", ")
            self.mention(phrase, label, negated)

    def negated_list(self, items: list[tuple[str, str]], frame: tuple[str, str, str]) -> None:
        """Write a negated list in a frame (before, conjunction, after): " No " a, b "or" c "."."""
        before, conjunction, after = frame
        self.text(before)
        self.mentions(items, True, conjunction)
        self.text(after)

    def narrative(self) -> str:
        return "".join(self.parts)


def _typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard-style slip in a word of five letters or more: drop, double or swap a letter."""
    if len(word) < 5 or not word.isalpha():
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = rng.integers(0, 3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def _maybe_typo(phrase: str, rng: np.random.Generator) -> str:
    if rng.random() >= TYPO_RATE:
        return phrase
    words = phrase.split(" ")
    j = int(np.argmax([len(w) for w in words]))
    words[j] = _typo(words[j], rng)
    return " ".join(words)


def _strip_article(phrase: str) -> str:
    return phrase[2:] if phrase.startswith("a ") else phrase


def _is_gerund(phrase: str) -> bool:
    return phrase.split(" ")[0].endswith("ing")


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(0, len(options)))]


def _phrase(label: str, voice: str, rng: np.random.Generator, negated: bool) -> str:
    """A surface form for a symptom in the given voice (abbreviations only in notes)."""
    s = SYMPTOMS[CONCEPT_BY_LABEL[label]]
    if voice == "patient":
        options = s.lay
    else:
        options = s.clinical + s.abbreviations * 2 if s.abbreviations else s.clinical
    phrase = _pick(rng, options)
    if negated:
        phrase = _strip_article(phrase)
    return phrase if phrase.isupper() else _maybe_typo(phrase, rng)


def _duration(days: int, voice: str, rng: np.random.Generator) -> str:
    if days >= 28 and rng.random() < 0.6:
        months = max(1, round(days / 30))
        return f"{months} month{'s' if months > 1 else ''}" if voice == "patient" else f"x{months} mo"
    if days >= 10 and rng.random() < 0.7:
        weeks = max(1, round(days / 7))
        return f"{weeks} week{'s' if weeks > 1 else ''}" if voice == "patient" else f"x{weeks} wk"
    if voice == "patient":
        return _pick(rng, (f"{days} day{'s' if days > 1 else ''}", "a few days" if days <= 4 else "about a week"))
    return f"x{days} day{'s' if days > 1 else ''}"


def sample_symptoms(diagnosis: str, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """(present, pertinently absent) symptom labels for one patient, in the order they will be written."""
    p = PRESENTATIONS[diagnosis]
    present = [label for label, prob in p.symptoms.items() if rng.random() < prob]
    present += [label for label, prob in DISTRACTOR_SYMPTOMS.items()
                if label not in present and rng.random() < prob]
    if not present:  # everyone comes in with something: take the most typical complaint
        present = [max(p.symptoms, key=p.symptoms.get)]
    # "Cough" and its productive / dry kinds: keep the specific kind, drop the plain duplicate
    if "Cough" in present and ({"Productive cough", "Nonproductive cough"} & set(present)):
        present.remove("Cough")
    if {"Productive cough", "Nonproductive cough"} <= set(present):
        present.remove(_pick(rng, ("Productive cough", "Nonproductive cough")))
    present = [present[i] for i in rng.permutation(len(present))]
    candidates = [label for label in p.pertinent_negatives if label not in present]
    n_neg = int(rng.integers(0, min(3, len(candidates)) + 1))
    absent = [candidates[i] for i in rng.permutation(len(candidates))[:n_neg]]
    return present, absent


def write_narrative(diagnosis: str, voice: str, age: int, sex: str, temperature_c: float,
                    rng: np.random.Generator) -> tuple[str, list[Span]]:
    """One narrative and its spans. ``voice`` is "patient" or "note"."""
    if voice not in ("patient", "note"):
        raise ValueError(f"voice must be 'patient' or 'note'; got {voice!r}")
    present, absent = sample_symptoms(diagnosis, rng)
    p = PRESENTATIONS[diagnosis]
    days = int(rng.integers(p.duration_days[0], p.duration_days[1] + 1))
    w = _Writer()
    writer = _write_patient if voice == "patient" else _write_note
    writer(w, present, absent, days, age, sex, temperature_c, rng)
    if rng.random() < RISK_FACTOR_RATE:
        w.text(" " + _pick(rng, p.risk_factors))
    if rng.random() < 0.25:
        w.text(" " + _pick(rng, NEUTRAL_CONTEXT))
    return w.narrative(), w.spans


def _split_clauses(labels: list[str], voice: str) -> tuple[list[str], list[str]]:
    """Symptoms a patient tends to describe as a whole clause ("I can't lie flat") vs as a noun phrase."""
    if voice != "patient":
        return labels, []
    clause = [label for label in labels if SYMPTOMS[CONCEPT_BY_LABEL[label]].clauses]
    return [label for label in labels if label not in clause], clause


def _write_patient(w: _Writer, present, absent, days, age, sex, temperature_c, rng) -> None:
    nouns, clauses = _split_clauses(present, "patient")
    phrases = [(_phrase(label, "patient", rng, False), label) for label in nouns]
    # verb-like phrases ("coughing up blood") read badly after "I've had": write them later, as "I've been ..."
    phrases.sort(key=lambda item: _is_gerund(item[0]))
    first = [item for item in phrases[:2] if not _is_gerund(item[0])]
    rest = phrases[len(first):]
    dur = _duration(days, "patient", rng)
    if first:
        opening = int(rng.integers(0, 4))
        if opening == 0:
            w.text("I've had ")
            w.mentions(first, False)
            w.text(f" for {dur}.")
        elif opening == 1:
            w.text(f"For the past {dur} I've had ")
            w.mentions(first, False)
            w.text(".")
        elif opening == 2:
            w.text(f"It started {dur} ago with ")
            w.mentions(first, False)
            w.text(".")
        else:
            w.text("Hi, I've got ")
            w.mentions(first, False)
            w.text(f", going on {dur} now.")
    for phrase, label in rest:
        template = int(rng.integers(0, 4))
        if _is_gerund(phrase):
            w.text(_pick(rng, (" I've been ", " I've also been ", " Lately I've been ")))
            w.mention(phrase, label, False)
            w.text(".")
        elif template == 0:
            w.text(" I also have ")
            w.mention(phrase, label, False)
            w.text(".")
        elif template == 1:
            w.text(" And now ")
            w.mention(phrase, label, False)
            w.text(" too.")
        elif template == 2:
            noun = _strip_article(phrase)
            verb = "are" if noun.endswith("s") and not noun.endswith("ss") else "is"
            w.text(" The ")
            w.mention(noun, label, False)
            w.text(f" {verb} {_pick(rng, ('really bad', 'getting worse', 'pretty mild', 'worse at night'))}.")
        else:
            w.text(" Plus ")
            w.mention(phrase, label, False)
            w.text(".")
    for label in clauses:
        clause = _pick(rng, SYMPTOMS[CONCEPT_BY_LABEL[label]].clauses)
        w.text(" I ")
        w.mention(clause, label, False)
        w.text(_pick(rng, (".", " lately.", " most nights.")))
    if absent:
        items = [(_phrase(label, "patient", rng, True), label) for label in absent]
        w.negated_list(items, PATIENT_NEGATIONS[int(rng.integers(0, len(PATIENT_NEGATIONS)))])
    text = w.narrative()
    if text.startswith(" "):  # only clauses or negations were written
        w.parts[0] = w.parts[0][1:]
        w.length -= 1
        w.spans = [replace(span, start=span.start - 1, end=span.end - 1) for span in w.spans]


def _write_note(w: _Writer, present, absent, days, age, sex, temperature_c, rng) -> None:
    items = [(_phrase(label, "note", rng, False), label) for label in present]
    first, rest = items[:3], items[3:]
    dur = _duration(days, "note", rng)
    who = f"{age}{sex}" if rng.random() < 0.5 else f"{age} yo {'male' if sex == 'M' else 'female'}"
    if rng.random() < 0.5:
        w.text(f"{who} c/o ")
        w.mentions(first, False)
        w.text(f" {dur}.")
    else:
        w.text(f"{who} presents with ")
        w.mentions(first, False)
        w.text(f" for {dur[1:] if dur.startswith('x') else dur}.")
    if rest:
        w.text(_pick(rng, (" Also reports ", " Endorses ", " + ")))
        w.mentions(rest, False)
        w.text(".")
    if rng.random() < 0.35:
        reading = f"{temperature_c:.1f}"
        prefix = _pick(rng, ("Temp ", "T ", "temp "))
        w.text(" ")
        if temperature_c >= FEVER_THRESHOLD_C:
            w.mention(prefix + reading, "Fever", False)
        else:
            w.text(prefix + reading)
        w.text(".")
    if absent:
        negs = [(_phrase(label, "note", rng, True), label) for label in absent]
        template = int(rng.integers(0, len(NOTE_NEGATIONS) + 1))
        if template < len(NOTE_NEGATIONS):
            w.negated_list(negs, NOTE_NEGATIONS[template])
        else:  # post-negation: "hemoptysis: none"
            for phrase, label in negs:
                w.text(" ")
                w.mention(phrase, label, True)
                w.text(": none.")


def highlight_spans(text: str, spans) -> str:
    """The narrative with each recorded symptom span bracketed: [fever] present, [~chills] negated.

    ``spans``: rows with start, end and negated (a DataFrame of one patient's spans, or Span objects).
    """
    rows = spans.itertuples() if hasattr(spans, "itertuples") else spans
    out, last = [], 0
    for span in sorted(rows, key=lambda s: s.start):
        out += [text[last:span.start], "[~" if span.negated else "[", text[span.start:span.end], "]"]
        last = span.end
    out.append(text[last:])
    return "".join(out)
