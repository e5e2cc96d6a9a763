"""The six diagnoses and how each presents: symptom probabilities, vitals, durations, case mix by site.

Numbers follow textbook presentations (e.g. lobar pneumonia: abrupt fever, rigors, productive cough and
pleuritic pain; heart failure: exertional dyspnoea, orthopnoea, PND and ankle swelling; pulmonary TB:
weeks of cough, night sweats, weight loss, haemoptysis). They are chosen by hand for teaching, so the two
modalities are *complementary*: the text separates URI from bronchitis (their chest films are both
normal), the image separates bacterial from viral pneumonia (their symptoms overlap).
"""
from __future__ import annotations

from dataclasses import dataclass

DIAGNOSES: tuple[str, ...] = (
    "upper_respiratory_infection",
    "acute_bronchitis",
    "bacterial_pneumonia",
    "viral_pneumonia",
    "heart_failure",
    "tuberculosis",
)

#: The vitals columns of patients.csv, in this order everywhere.
VITALS: tuple[str, ...] = ("temperature_c", "heart_rate", "resp_rate", "spo2")

#: Readable names for plots and prose.
DISPLAY_NAMES = {
    "upper_respiratory_infection": "Upper respiratory infection",
    "acute_bronchitis": "Acute bronchitis",
    "bacterial_pneumonia": "Bacterial pneumonia",
    "viral_pneumonia": "Viral pneumonia",
    "heart_failure": "Heart failure",
    "tuberculosis": "Tuberculosis",
}


@dataclass(frozen=True)
class Presentation:
    """How one diagnosis presents. Symptom keys are lexicon labels (medfusion_lib.lexicon)."""

    symptoms: dict[str, float]          # label -> probability the patient has it
    pertinent_negatives: tuple[str, ...]  # symptoms a clinician typically asks about and records as absent
    duration_days: tuple[int, int]      # typical range of days since onset
    age: tuple[float, float]            # mean, sd (years)
    vitals: dict[str, tuple[float, float]]  # column -> mean, sd
    risk_factors: tuple[str, ...]       # context sentences a history may mention


#: Bacterial and viral pneumonia share their histories: the text alone should not tell them apart.
PNEUMONIA_RISK_FACTORS = ("Smoker for twenty years.", "Type 2 diabetes.", "Recently got over the flu.",
                          "Household contacts have been ill.", "Not vaccinated this season.")

PRESENTATIONS: dict[str, Presentation] = {
    "upper_respiratory_infection": Presentation(
        symptoms={"Sore throat": 0.55, "Rhinorrhea": 0.55, "Nasal congestion": 0.45, "Sneeze": 0.3,
                  "Cough": 0.55, "Nonproductive cough": 0.2, "Headache": 0.35, "Fever": 0.35,
                  "Fatigue": 0.35, "Hoarse voice": 0.15, "Myalgia": 0.25, "Productive cough": 0.1},
        pertinent_negatives=("Dyspnea", "Chest pain", "Fever", "Productive cough", "Wheezing"),
        duration_days=(1, 6), age=(34, 14),
        vitals={"temperature_c": (37.4, 0.5), "heart_rate": (82, 10), "resp_rate": (16, 2), "spo2": (97.8, 1.0)},
        risk_factors=("Kids at home have had colds.", "Several coworkers are sick with the same thing."),
    ),
    "acute_bronchitis": Presentation(
        symptoms={"Cough": 0.9, "Productive cough": 0.5, "Wheezing": 0.35, "Chest tightness": 0.3,
                  "Dyspnea": 0.25, "Fever": 0.3, "Fatigue": 0.35, "Sore throat": 0.3, "Rhinorrhea": 0.25,
                  "Chest pain": 0.15, "Nasal congestion": 0.2, "Headache": 0.2},
        pertinent_negatives=("Fever", "Hemoptysis", "Dyspnea", "Chest pain"),
        duration_days=(4, 18), age=(42, 16),
        vitals={"temperature_c": (37.4, 0.5), "heart_rate": (86, 10), "resp_rate": (18, 2.5), "spo2": (96.8, 1.3)},
        risk_factors=("Smokes about half a pack a day.", "Had a cold the week before this started."),
    ),
    "bacterial_pneumonia": Presentation(
        symptoms={"Fever": 0.8, "Chills": 0.45, "Cough": 0.75, "Productive cough": 0.42,
                  "Pleuritic chest pain": 0.25, "Dyspnea": 0.6, "Fatigue": 0.5, "Poor appetite": 0.25,
                  "Confusion": 0.06, "Myalgia": 0.3, "Headache": 0.25, "Nonproductive cough": 0.25,
                  "Nausea": 0.1, "Sore throat": 0.15},
        pertinent_negatives=("Hemoptysis", "Pedal edema", "Night sweats", "Chest pain"),
        duration_days=(1, 7), age=(55, 19),
        vitals={"temperature_c": (38.5, 0.7), "heart_rate": (104, 13), "resp_rate": (23, 4), "spo2": (92.5, 2.8)},
        risk_factors=PNEUMONIA_RISK_FACTORS,
    ),
    "viral_pneumonia": Presentation(
        symptoms={"Fever": 0.78, "Cough": 0.75, "Nonproductive cough": 0.32, "Dyspnea": 0.58,
                  "Myalgia": 0.38, "Headache": 0.3, "Fatigue": 0.55, "Chills": 0.4, "Sore throat": 0.2,
                  "Productive cough": 0.33, "Anosmia": 0.06, "Diarrhea": 0.08, "Poor appetite": 0.25,
                  "Pleuritic chest pain": 0.18, "Nausea": 0.1},
        pertinent_negatives=("Hemoptysis", "Pedal edema", "Night sweats", "Chest pain"),
        duration_days=(2, 9), age=(50, 19),
        vitals={"temperature_c": (38.3, 0.7), "heart_rate": (100, 13), "resp_rate": (22, 4), "spo2": (92.8, 2.8)},
        risk_factors=PNEUMONIA_RISK_FACTORS,
    ),
    "heart_failure": Presentation(
        symptoms={"Dyspnea": 0.75, "Exertional dyspnea": 0.5, "Orthopnea": 0.35,
                  "Paroxysmal nocturnal dyspnea": 0.25, "Pedal edema": 0.45, "Weight gain": 0.3,
                  "Fatigue": 0.55, "Cough": 0.3, "Palpitations": 0.2, "Chest tightness": 0.15,
                  "Poor appetite": 0.15, "Wheezing": 0.12},
        pertinent_negatives=("Fever", "Chest pain", "Productive cough", "Hemoptysis"),
        duration_days=(7, 60), age=(71, 10),
        vitals={"temperature_c": (36.8, 0.35), "heart_rate": (94, 14), "resp_rate": (21, 3.5), "spo2": (93.5, 2.5)},
        risk_factors=("History of hypertension.", "Had a heart attack five years ago.", "Stopped taking water pills."),
    ),
    "tuberculosis": Presentation(
        symptoms={"Cough": 0.8, "Productive cough": 0.35, "Hemoptysis": 0.25, "Night sweats": 0.4,
                  "Weight loss": 0.4, "Fever": 0.5, "Poor appetite": 0.4, "Fatigue": 0.55,
                  "Chest pain": 0.15, "Dyspnea": 0.25, "Chills": 0.15},
        pertinent_negatives=("Pedal edema", "Sore throat", "Rhinorrhea", "Chest pain"),
        duration_days=(21, 120), age=(40, 15),
        vitals={"temperature_c": (37.6, 0.5), "heart_rate": (90, 11), "resp_rate": (18, 3), "spo2": (96.0, 1.8)},
        risk_factors=("Recently moved from a country with high TB incidence.", "A relative was treated for TB last year.",
                      "Lives in a crowded shelter."),
    ),
}

#: Symptoms any patient may mention regardless of diagnosis (noise), with small probabilities.
DISTRACTOR_SYMPTOMS: dict[str, float] = {
    "Headache": 0.05, "Fatigue": 0.05, "Nausea": 0.03, "Diarrhea": 0.02, "Palpitations": 0.02,
    "Sneeze": 0.03, "Sore throat": 0.03, "Chest pain": 0.03,
}

#: Context sentences with no diagnostic value.
NEUTRAL_CONTEXT: tuple[str, ...] = (
    "Allergic to penicillin.", "Works night shifts.", "Had knee surgery last year.", "Takes vitamin D.",
    "Drinks coffee every morning.", "Lives with partner.", "No recent travel.", "Has a dog at home.",
)

#: Probability a patient's risk-factor sentence is written (given the diagnosis).
RISK_FACTOR_RATE = 0.3


@dataclass(frozen=True)
class Site:
    """A hospital: its case mix and how its X-ray machine renders films."""

    name: str
    share: float                       # fraction of patients
    case_mix: dict[str, float]         # multiplier on the global prevalence
    note_voice_rate: float             # fraction of narratives written as clinician notes
    exposure: float                    # gamma applied to the film (>1 darker)
    noise: float                       # sd of detector noise (0-1 scale)
    blur: float                        # Gaussian blur sigma in pixels at 64 px
    rotation_deg: float                # sd of patient rotation
    marker: str                        # corner of the burned-in marker: tl, tr, bl, br


#: Global prevalence of each diagnosis before the site's case mix.
PREVALENCE = {
    "upper_respiratory_infection": 0.21, "acute_bronchitis": 0.19, "bacterial_pneumonia": 0.17,
    "viral_pneumonia": 0.15, "heart_failure": 0.14, "tuberculosis": 0.14,
}

SITES: tuple[Site, ...] = (
    Site("Northgate", 0.40, {"heart_failure": 1.4, "tuberculosis": 0.6}, 0.55,
         exposure=1.0, noise=0.02, blur=0.5, rotation_deg=2.0, marker="tr"),
    Site("Riverside", 0.35, {"tuberculosis": 1.8, "heart_failure": 0.7}, 0.35,
         exposure=1.25, noise=0.045, blur=0.9, rotation_deg=4.0, marker="tl"),
    Site("Lakeview", 0.25, {"upper_respiratory_infection": 1.3, "viral_pneumonia": 1.3}, 0.45,
         exposure=0.8, noise=0.03, blur=0.3, rotation_deg=3.0, marker="br"),
)
