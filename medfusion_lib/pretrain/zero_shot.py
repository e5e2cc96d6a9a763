"""Zero-shot classification of films from text prompts: no diagnosis label is used anywhere.

Each diagnosis gets a few prompts that describe its textbook presentation in the words narratives use
(CLIP's prompt ensembling, Radford et al. 2021: average several phrasings). The prompts never name a
diagnosis — pre-training saw no diagnosis words (:mod:`medfusion_lib.pretrain.leakage`), so a prompt that said
"tuberculosis" would be made of unknown words. The text encoder embeds every prompt, each class's prompt
embeddings are averaged and renormalised into one class embedding ``(K, dim)``, and a film is assigned the class
whose embedding is most similar to its own: ``softmax(scale · film · classesᵀ)``.

The prompts were written from textbook medicine (the same source the cohort's generator follows), which makes
this easier than on real reports: a real model must also cope with how each hospital words its reports.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from medfusion_lib.pretrain.leakage import find_diagnosis_words

#: Symptom descriptions per diagnosis, in the patient's and the clinician's words (no diagnosis words).
PROMPTS: dict[str, tuple[str, ...]] = {
    "upper_respiratory_infection": (
        "I've had a sore throat and a runny nose for two days, sneezing a lot.",
        "Stuffy nose, sore throat and a headache since yesterday.",
        "c/o sore throat, rhinorrhea and nasal congestion x2 days. Denies SOB.",
    ),
    "acute_bronchitis": (
        "I've had a cough for ten days, coughing up phlegm and wheezing.",
        "Productive cough and chest tightness for over a week, some wheezing.",
        "c/o productive cough, wheezing x10 days. No fever.",
    ),
    "bacterial_pneumonia": (
        "High fever with shaking chills, coughing up phlegm and sharp chest pain when I breathe in.",
        "Fever, chills, productive cough, pleuritic chest pain and SOB x3 days.",
        "c/o fever, rigors, productive cough and shortness of breath. Temp 39.2.",
    ),
    "viral_pneumonia": (
        "Fever, a dry cough, muscle aches and I get short of breath, very tired.",
        "Fever, nonproductive cough, myalgia, dyspnea and fatigue x5 days.",
        "c/o fever, dry cough, body aches, loss of smell and shortness of breath.",
    ),
    "heart_failure": (
        "I get out of breath walking up stairs, I can't lie flat and my ankles are swollen.",
        "DOE, orthopnea, PND and pedal edema x3 weeks, weight gain. Denies fever.",
        "Short of breath for weeks, legs swollen, waking up at night gasping for air.",
    ),
    "tuberculosis": (
        "Cough for two months, night sweats, I've lost weight and I'm coughing up blood.",
        "Chronic cough x8 weeks, hemoptysis, night sweats, weight loss, poor appetite.",
        "c/o cough for months, drenching night sweats and unintentional weight loss.",
    ),
}


def check_prompts(prompts: Mapping[str, Sequence[str]], classes: Sequence[str]) -> dict[str, list[str]]:
    """Prompts for exactly ``classes``, each a non-empty list of strings naming no diagnosis; returns them."""
    missing = [c for c in classes if not prompts.get(c)]
    if missing:
        raise ValueError(f"no prompts for {missing}; give each class at least one prompt")
    out = {}
    for c in classes:
        items = [prompts[c]] if isinstance(prompts[c], str) else list(prompts[c])
        for prompt in items:
            named = find_diagnosis_words(prompt)
            if named:
                raise ValueError(f"prompt {prompt!r} names a diagnosis ({named}); describe the presentation "
                                 "instead — pre-training never saw diagnosis words")
        out[c] = items
    return out


def class_embeddings(encoders, classes: Sequence[str], prompts: Mapping[str, Sequence[str]] = PROMPTS) -> np.ndarray:
    """``(K, dim)`` unit vectors: the mean of each class's prompt embeddings, renormalised."""
    prompts = check_prompts(prompts, classes)
    rows = []
    for c in classes:
        mean = encoders.text_embeddings(prompts[c]).mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows)


def zero_shot_proba(encoders, images: np.ndarray, classes: Sequence[str],
                    prompts: Mapping[str, Sequence[str]] = PROMPTS) -> np.ndarray:
    """``(n, K)`` class probabilities of films ``(n, H, W)``: softmax of the learned-scale cosine similarities
    to the class embeddings (columns in ``classes`` order)."""
    films = encoders.image_embeddings(images)                                 # (n, dim), unit length
    logits = float(encoders.model.temperature.scale().detach()) * films @ class_embeddings(encoders, classes, prompts).T
    logits -= logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def chance_macro_f1(y_true: np.ndarray, n_classes: int, draws: int = 50, seed: int = 0) -> float:
    """Mean macro-F1 of uniformly random guesses among ``n_classes`` (about ``1 / n_classes`` when the classes are
    roughly balanced): the floor zero-shot must clear."""
    from medfusion_lib.evaluation import macro_f1

    rng = np.random.default_rng(seed)
    y_true = np.asarray(y_true)
    return float(np.mean([macro_f1(y_true, rng.integers(0, n_classes, len(y_true))) for _ in range(draws)]))
