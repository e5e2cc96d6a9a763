"""Scoring an extractor against gold spans: span precision / recall / F1 and negation accuracy.

A predicted mention *matches* a gold span when both name the same concept and their character ranges
overlap (``mode="overlap"``, the usual "lenient" match in clinical NLP challenges) or coincide exactly
once a leading determiner is ignored (``mode="exact"``: "a fever" equals "fever"). Matching is one-to-one.
Negation accuracy is measured over the matched pairs: did the extractor get ``negated`` right?
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd


MODES = ("overlap", "exact")
_DETERMINERS = ("a ", "an ", "the ", "my ", "his ", "her ", "some ")


@dataclass(frozen=True)
class ExtractionScores:
    n_gold: int
    n_predicted: int
    n_matched: int
    precision: float
    recall: float
    f1: float
    negation_accuracy: float
    mode: str

    def as_dict(self) -> dict:
        return asdict(self)


def _field(span, name):
    return span[name] if isinstance(span, dict) else getattr(span, name)


def _trimmed(span) -> tuple[int, int]:
    start, end, text = _field(span, "start"), _field(span, "end"), _field(span, "text").lower()
    for det in _DETERMINERS:
        if text.startswith(det):
            return start + len(det), end
    return start, end


def match_spans(gold: Sequence, predicted: Sequence, mode: str = "overlap") -> list[tuple[int, int]]:
    """One-to-one (gold index, predicted index) pairs of one document; spans are dicts or ``Mention``s."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    candidates = []
    for g, gs in enumerate(gold):
        for p, ps in enumerate(predicted):
            if _field(gs, "concept_id") != _field(ps, "concept_id"):
                continue
            (g0, g1), (p0, p1) = _trimmed(gs), _trimmed(ps)
            if mode == "exact":
                if (g0, g1) == (p0, p1):
                    candidates.append((0, g, p))
            elif g0 < p1 and p0 < g1:
                candidates.append((-(min(g1, p1) - max(g0, p0)), g, p))  # biggest overlap first
    pairs, used_g, used_p = [], set(), set()
    for _, g, p in sorted(candidates):
        if g not in used_g and p not in used_p:
            pairs.append((g, p))
            used_g.add(g)
            used_p.add(p)
    return sorted(pairs)


def score_extraction(gold_docs: Sequence[Sequence], predicted_docs: Sequence[Sequence],
                     mode: str = "overlap") -> ExtractionScores:
    """Micro-averaged scores over documents (``gold_docs[i]`` and ``predicted_docs[i]`` describe text i)."""
    if len(gold_docs) != len(predicted_docs):
        raise ValueError(f"{len(gold_docs)} gold documents but {len(predicted_docs)} predicted ones")
    n_gold = n_pred = n_match = n_neg_ok = 0
    for gold, predicted in zip(gold_docs, predicted_docs):
        pairs = match_spans(gold, predicted, mode)
        n_gold, n_pred, n_match = n_gold + len(gold), n_pred + len(predicted), n_match + len(pairs)
        n_neg_ok += sum(bool(_field(gold[g], "negated")) == bool(_field(predicted[p], "negated")) for g, p in pairs)
    precision = n_match / n_pred if n_pred else 0.0
    recall = n_match / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ExtractionScores(n_gold, n_pred, n_match, precision, recall, f1,
                            n_neg_ok / n_match if n_match else 0.0, mode)


def error_table(texts: Sequence[str], gold_docs: Sequence[Sequence], predicted_docs: Sequence[Sequence],
                ids: Sequence | None = None, mode: str = "overlap") -> pd.DataFrame:
    """Every miss (FN), false alarm (FP) and negation error (NEG) with its context, for error analysis."""
    rows = []
    ids = list(range(len(texts))) if ids is None else list(ids)
    for doc_id, text, gold, predicted in zip(ids, texts, gold_docs, predicted_docs):
        pairs = match_spans(gold, predicted, mode)
        matched_g, matched_p = {g for g, _ in pairs}, {p for _, p in pairs}

        def row(kind, span, expected_negated=None):
            start, end = _field(span, "start"), _field(span, "end")
            return {"id": doc_id, "error": kind, "text": _field(span, "text"), "label": _field(span, "label"),
                    "negated": bool(_field(span, "negated")), "gold_negated": expected_negated,
                    "context": text[max(0, start - 40):end + 40].replace("\n", " ")}
        rows += [row("FN", gold[g]) for g in range(len(gold)) if g not in matched_g]
        rows += [row("FP", predicted[p]) for p in range(len(predicted)) if p not in matched_p]
        rows += [row("NEG", predicted[p], bool(_field(gold[g], "negated"))) for g, p in pairs
                 if bool(_field(gold[g], "negated")) != bool(_field(predicted[p], "negated"))]
    return pd.DataFrame(rows, columns=["id", "error", "text", "label", "negated", "gold_negated", "context"])


# -- gold sets ------------------------------------------------------------------------------------------
def handwritten_path() -> Path:
    """The hand-written narratives with gold spans, shipped inside the package (``medfusion_lib/resources/``)."""
    from importlib.resources import files

    return Path(str(files("medfusion_lib") / "resources" / "handwritten_narratives.jsonl"))


def load_gold_jsonl(path: str | Path | None = None) -> list[dict]:
    """Records ``{"id", "voice", "text", "spans": [{"start", "end", "text", "concept_id", "label",
    "negated"}]}`` from a JSON-lines file (default: the hand-written set). Offsets are checked."""
    path = Path(path) if path is not None else handwritten_path()
    if not path.exists():
        raise FileNotFoundError(f"no gold file at {path}; give the path of a JSON-lines gold file (the course's "
                                "own hand-written set is load_gold_jsonl() with no argument)")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        for span in record["spans"]:
            if record["text"][span["start"]:span["end"]] != span["text"]:
                raise ValueError(f"{path}:{n}: span {span['text']!r} does not sit at {span['start']}:{span['end']}")
        records.append(record)
    return records


def cohort_gold(cohort) -> tuple[list[str], list[list[dict]]]:
    """(narratives, gold spans per narrative) from a cohort's generator-recorded ``spans`` table."""
    patients = cohort.patients
    by_patient = {pid: group.to_dict("records") for pid, group in cohort.spans.groupby("patient_id")}
    return list(patients["narrative"]), [by_patient.get(pid, []) for pid in patients["patient_id"]]


def evaluate_extractor(texts: Sequence[str], gold_docs: Sequence[Sequence],
                       extractor: Callable[[str], Iterable] | None = None, mode: str = "overlap"
                       ) -> ExtractionScores:
    """Run ``extractor`` (default :func:`~medfusion_lib.text.extract.extract_mentions`) and score it."""
    if extractor is None:
        from medfusion_lib.text.extract import extract_mentions as extractor
    return score_extraction(gold_docs, [list(extractor(t)) for t in texts], mode)
