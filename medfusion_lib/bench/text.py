"""``medfusion bench text``: symptom extraction quality and text-only classifiers.

Extraction: span precision / recall / F1 (lenient "overlap" match and "exact" match) and negation accuracy,
on the hand-written narratives (medfusion_lib/resources/handwritten_narratives.jsonl) and on generated narratives
(the cohort's test split, gold = the spans the generator recorded). Targets on the hand-written set:
recall >= 0.85, precision >= 0.85, negation accuracy >= 0.90.

Classifiers: macro-F1 on the default cohort's test split with a 95 % bootstrap CI (1,000 resamples over
patients), fit time on the training split and prediction time per narrative.
"""
from __future__ import annotations

import statistics
import time

from medfusion_lib.data import DIAGNOSES, load_cohort
from medfusion_lib.evaluation import bootstrap_ci, macro_f1
from medfusion_lib.text.evaluate import MODES, cohort_gold, load_gold_jsonl, score_extraction
from medfusion_lib.text.extract import clear_cache, extract_mentions
from medfusion_lib.text.models import text_pipeline

TARGETS = {"recall": 0.85, "precision": 0.85, "negation_accuracy": 0.90}
#: Quick mode: the (model, features) pairs compared, and how many generated test narratives are scored.
QUICK_CLASSIFIERS = (("logreg", "tfidf"), ("logreg", "symptoms"), ("naive_bayes", "tfidf"))
QUICK_GENERATED = 200


def _extraction_rows(name: str, texts: list[str], gold: list[list]) -> tuple[list[dict], dict]:
    clear_cache()
    started = time.perf_counter()
    predicted = [extract_mentions(t) for t in texts]
    ms_per_text = (time.perf_counter() - started) / max(1, len(texts)) * 1000
    rows, payload = [], {}
    for mode in MODES:
        s = score_extraction(gold, predicted, mode)
        payload[mode] = s.as_dict()
        rows.append({"task": f"extraction ({mode})", "data": name, "n": s.n_gold, "precision": s.precision,
                     "recall": s.recall, "neg. acc.": s.negation_accuracy, "ms/text": ms_per_text})
    payload["ms_per_text"] = ms_per_text
    payload["n_texts"] = len(texts)
    return rows, payload


def _classifier_configs(quick: bool) -> list[tuple[str, str]]:
    if quick:
        return list(QUICK_CLASSIFIERS)
    return [(m, f) for f in ("tfidf", "symptoms", "both")
            for m in ("logreg", "linear_svm", "naive_bayes", "random_forest")] + [("encoder", "embedding-bag")]


def run(quick: bool = False):
    rows, payload = [], {"targets_handwritten": TARGETS}

    records = load_gold_jsonl()
    r, p = _extraction_rows("hand-written", [x["text"] for x in records], [x["spans"] for x in records])
    rows += r
    payload["extraction_handwritten"] = p
    overlap = p["overlap"]
    payload["handwritten_meets_targets"] = all(overlap[k] >= v for k, v in TARGETS.items())

    cohort = load_cohort()
    test = cohort.split("test")
    texts, gold = cohort_gold(test)
    if quick:
        texts, gold = texts[:QUICK_GENERATED], gold[:QUICK_GENERATED]
    r, p = _extraction_rows("generated (test split)", texts, gold)
    rows += r
    payload["extraction_generated"] = p

    train = cohort.split("train")
    X_train, X_test = list(train.patients["narrative"]), list(test.patients["narrative"])
    n_boot = 200 if quick else 1000
    payload["classifiers"] = {}
    for model, features in _classifier_configs(quick):
        if model == "encoder":
            from medfusion_lib.text.encoder import TextEncoder

            estimator = TextEncoder(seed=0)
        else:
            estimator = text_pipeline(model, features, seed=0)
        clear_cache()  # every model pays for its own extraction, in fit and in predict
        started = time.perf_counter()
        estimator.fit(X_train, train.y)
        fit_seconds = time.perf_counter() - started
        timings = []
        for _ in range(1 if quick else 3):
            clear_cache()
            started = time.perf_counter()
            y_pred = estimator.predict(X_test)
            timings.append(time.perf_counter() - started)
        ms_per_text = statistics.median(timings) / len(X_test) * 1000
        ci = bootstrap_ci(macro_f1, test.y, y_pred, n_boot=n_boot, seed=0)
        name = f"{model} + {features}"
        payload["classifiers"][name] = {"macro_f1": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
                                        "fit_seconds": fit_seconds, "predict_ms_per_text": ms_per_text}
        rows.append({"task": name, "data": "cohort test split", "n": len(X_test), "macro-F1": ci.estimate,
                     "95% CI": f"[{ci.low:.3f}, {ci.high:.3f}]", "fit s": fit_seconds, "ms/text": ms_per_text})
    payload["n_train"], payload["n_test"], payload["classes"] = len(X_train), len(X_test), list(DIAGNOSES)
    payload["n_boot"] = n_boot
    return rows, payload
