"""Behavioural tests (Made-With-ML style) for the text classifiers, and the extractor's quality floor.

* invariance: a typo does not change the diagnosis;
* directional: adding "coughing up blood" and "night sweats" raises the tuberculosis probability;
* minimum functionality: adding "no fever" never raises the pneumonia probability.

The classifier is the structured path (extracted symptoms -> logistic regression) trained on the default
cohort's training split. The TF-IDF path gets the directional test; it is *not* typo-invariant (an unseen
misspelling is simply a new word), which lesson 03 shows.
"""
import numpy as np
import pytest

from medfusion_lib.data import DIAGNOSES, load_cohort
from medfusion_lib.text.evaluate import evaluate_extractor, load_gold_jsonl
from medfusion_lib.text.models import text_pipeline

TB = DIAGNOSES.index("tuberculosis")
PNEUMONIA = [DIAGNOSES.index("bacterial_pneumonia"), DIAGNOSES.index("viral_pneumonia")]

BASES = [
    "I have had a cough for three weeks and feel tired.",
    "Patient reports cough and fatigue.",
    "58 yo male presents with productive cough and chest pain for 5 days.",
    "I feel awful, my whole body aches and I have a headache.",
    "Runny nose and sore throat since Tuesday.",
    "Short of breath climbing stairs, ankles swollen.",
    "Cough and fever for 4 days.",
    "Presents with rigors and pleuritic chest pain.",
    "Wheezing and chest tightness, worse at night.",
    "",
]
TYPOS = [  # (clean, misspelt) pairs: one or two everyday slips each
    ("I have a fever and a bad cough with green phlegm.", "I have a feverr and a bad cuogh with green phlegm."),
    ("Coughing up blood, night sweats and weight loss.", "Coughign up blood, night sweats and wieght loss."),
    ("Runny nose, sneezing and a sore throat.", "Runny nose, sneezng and a sore thraot."),
    ("Orthopnea and swollen ankles, short of breath.", "Orthopnoea and swollen ankels, short of breath."),
    ("Diarrhea, nausea and muscle aches with a fever.", "Diarhea, nausia and muscle aches with a fever."),
    ("Wheezing and chest tightness.", "Wheezng and chest tigthness."),
]


@pytest.fixture(scope="module")
def train():
    return load_cohort().split("train")


@pytest.fixture(scope="module")
def symptom_model(train):
    return text_pipeline("logreg", "symptoms").fit(list(train.patients["narrative"]), train.y)


@pytest.fixture(scope="module")
def tfidf_model(train):
    return text_pipeline("logreg", "tfidf").fit(list(train.patients["narrative"]), train.y)


def test_typo_invariance(symptom_model):
    clean, typo = zip(*TYPOS)
    assert list(symptom_model.predict(list(typo))) == list(symptom_model.predict(list(clean)))


@pytest.mark.parametrize("which", ["symptom_model", "tfidf_model"])
def test_directional_tuberculosis(which, request):
    model = request.getfixturevalue(which)
    before = model.predict_proba(BASES)[:, TB]
    after = model.predict_proba([f"{b} I've been coughing up blood and have night sweats." for b in BASES])[:, TB]
    assert (after > before).all(), np.round(np.c_[before, after], 3)


def test_no_fever_never_raises_pneumonia(symptom_model, train):
    bases = BASES + list(train.patients["narrative"][:40])
    before = symptom_model.predict_proba(bases)[:, PNEUMONIA].sum(axis=1)
    after = symptom_model.predict_proba([f"{b} No fever." for b in bases])[:, PNEUMONIA].sum(axis=1)
    assert (after <= before + 1e-9).all(), np.round((after - before).max(), 4)


def test_no_fever_is_negated_minimum_functionality(symptom_model):
    fever = symptom_model.predict_proba(["Cough. Fever."])[0, PNEUMONIA].sum()
    no_fever = symptom_model.predict_proba(["Cough. No fever."])[0, PNEUMONIA].sum()
    assert no_fever < fever


def test_extractor_meets_its_targets_on_the_hand_written_set():
    """A regression floor, not a benchmark: the issue's targets (recall, precision >= 0.85; negation >= 0.90)."""
    records = load_gold_jsonl()
    scores = evaluate_extractor([r["text"] for r in records], [r["spans"] for r in records])
    assert scores.recall >= 0.85 and scores.precision >= 0.85 and scores.negation_accuracy >= 0.90, scores
