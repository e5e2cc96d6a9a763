"""Extra surface forms the extractor knows beyond ``medfusion_lib.lexicon.SYMPTOMS``.

The shared lexicon holds the phrasings the cohort generator writes. Real notes use more, so the
extractor adds these — each a general clinical or lay phrasing, not a sentence from a test set:

* HPO's own synonyms for the concept (e.g. "Hyperthermia", "Husky voice", "Watery stool");
* common lay variants ("feverish", "worn out", "can't catch my breath");
* clinical shorthand found in notes ("SOBOE", "N/V" is *not* here: it names two concepts);
* inflections the stemmer does not join ("breathless" vs "breathlessness", "nauseous").

``NEGATED_FORMS`` are words that *mean* the symptom is absent ("afebrile"): they produce a negated mention.
``BLOCKERS`` are phrases that contain a symptom word but are not that symptom ("pulmonary edema" is an
imaging finding, not pedal edema; "heart rate" is not palpitations): longest match consumes them, then
they are dropped.
"""
from __future__ import annotations

#: concept_id -> extra phrases (matched case-insensitively, with stemming and typo tolerance).
EXTRA_PHRASES: dict[str, tuple[str, ...]] = {
    "HP:0001945": ("temperature", "temperatures", "fevers", "febrile", "feverish", "hyperthermia", "pyrexial", "high temp",
                   "running a temperature", "running a fever", "running a temp", "burning up", "temperature spikes", "spiking temperatures",
                   "hot and sweaty"),
    "HP:0025143": ("rigor", "shaking chills", "shivery", "shakes", "chilly"),
    "HP:0012735": ("coughs", "coughed", "hacking", "tussive episodes"),
    "HP:0031245": ("phlegm", "sputum", "mucus", "wet cough", "cough with mucus production",
                   "green sputum", "yellow sputum", "coughing up sputum", "bringing up phlegm",
                   "purulent cough"),
    "HP:0031246": ("dry coughing", "dry hacking cough", "hacking dry cough"),
    "HP:0002105": ("coughing blood", "cough up blood", "coughed up blood", "coughs up blood",
                   "bloody sputum", "blood in sputum", "blood in phlegm", "blood-tinged sputum",
                   "blood stained sputum", "blood-stained sputum", "spitting blood", "blood streaked sputum"),
    "HP:0002094": ("breathless", "breathing difficulty", "difficult to breathe", "hard to breathe",
                   "struggling to breathe", "can't breathe", "cannot breathe", "can't catch my breath",
                   "catch my breath", "winded", "air hunger", "dyspneic", "dyspnoeic", "breathing problems",
                   "short of air", "shortness of air", "trouble catching my breath", "labored breathing",
                   "laboured breathing"),
    "HP:0002875": ("short of breath on exertion", "shortness of breath on exertion", "breathless on exertion",
                   "sob on exertion", "exertional sob", "breathless walking", "winded on stairs",
                   "out of breath on stairs", "dyspnoea on exertion", "shortness of breathing upon physical "
                   "activity", "out of breath climbing stairs", "breathless climbing stairs"),
    "HP:0012764": ("orthopneic", "unable to lie flat", "cannot lie flat", "can't lie down flat",
                   "sleeping propped up", "sleeps propped up", "sleep sitting up",
                   "sleeping sitting up"),
    "HP:0034807": ("waking up short of breath", "wakes up short of breath", "woke up short of breath",
                   "wakes up gasping", "waking up gasping", "woke up gasping", "nocturnal dyspnea",
                   "nocturnal dyspnoea"),
    "HP:0030828": ("wheeze", "wheezes", "wheezy", "whistling breath", "wheezed"),
    "HP:0031352": ("chest feels tight", "chest is tight", "tightness in chest", "tightness of chest",
                   "chest distress", "chest pressure", "chest feels heavy", "heaviness in chest", "pressure in chest", "tight feeling in chest"),
    "HP:0100749": ("chest pains", "pain in chest", "chest ache", "sore chest", "chest discomfort",
                   "chest hurting", "chest hurts", "pain in the chest"),
    "HP:0033771": ("pleuritic", "pleurisy", "hurts to breathe", "hurts when I breathe", "pain on breathing",
                   "pain on inspiration", "pain on deep inspiration", "sharp chest pain on inspiration",
                   "pain when breathing in", "pain when I breathe",
                   "stabbing pain when breathing"),
    "HP:0030166": ("night sweat", "sweats at night", "sweating at night", "sweaty at night",
                   "soaking sweats", "drenching night sweats", "waking up drenched", "waking up soaked",
                   "nocturnal sweating", "soaked sheets", "sheets soaked", "drenching sweats"),
    "HP:0001824": ("loss of weight", "weight down", "dropped weight", "losing pounds", "weight has dropped",
                   "lost pounds", "losing weight without trying", "clothes are loose", "clothes loose"),
    "HP:0004396": ("off food", "off my food", "not eating", "reduced appetite", "appetite poor",
                   "lost my appetite", "lost appetite", "appetite is poor", "appetite down",
                   "don't feel like eating", "no interest in food", "not feeling hungry",
                   "not hungry"),
    "HP:0012378": ("tired", "fatigued", "exhausted", "worn out", "run down", "lethargic", "drained",
                   "low energy", "wiped out", "knackered", "weary", "listless", "tired all the time"),
    "HP:0003326": ("muscle pain", "muscle pains", "muscle ache", "aches", "achy", "body ache",
                   "aches and pains", "aching muscles", "sore all over", "achy muscles", "myalgic"),
    "HP:0002315": ("headaches", "head pain", "head ache", "head aches", "head is pounding", "head hurts", "pounding head",
                   "h/a"),
    "HP:0033050": ("throat is sore", "throat hurts", "painful throat", "pharyngodynia", "throat discomfort",
                   "sore throats", "scratchy throat", "painful swallowing", "pain on swallowing"),
    "HP:0031417": ("running nose", "streaming nose", "nose running", "nose is running", "snotty",
                   "nasal drainage", "sniffles", "sniffly"),
    "HP:0001742": ("congestion", "congested", "stuffy", "stuffed up", "blocked up", "nasal stuffiness",
                   "sinus congestion", "bunged up", "nose blocked", "nose is blocked", "blocked nose", "nasal blockage",
                   "stuffiness"),
    "HP:0025095": ("sneeze", "sneezy", "sneezed"),
    "HP:0001609": ("hoarse", "husky voice", "lost my voice", "raspy voice", "voice is hoarse", "hoarseness"),
    "HP:0000458": ("lost smell", "no sense of smell", "can't smell", "cannot smell", "smell is gone",
                   "lost sense of smell"),
    "HP:0010741": ("leg swelling", "swollen feet", "ankle edema", "ankle oedema", "leg edema", "leg oedema",
                   "edema", "oedema", "puffy ankles", "feet swelling", "swelling of the ankles",
                   "swelling in ankles", "ankles swollen", "ankles are swollen", "legs are swollen",
                   "swollen ankle", "lower leg swelling", "dependent edema", "BLE edema", "pedal swelling",
                   "swelling of legs", "swelling in feet", "feet are swollen", "ankles swelling",
                   "swelling in legs", "ankles puffy", "ankles are puffy", "feet are puffy", "legs swollen"),
    "HP:0004324": ("gaining weight", "put on weight", "weight up", "increased body weight"),
    "HP:0001962": ("heart pounding", "racing heart", "heart is racing", "fluttering", "skipped beats",
                   "palps", "heart palpitations", "skipped heart beat", "heart fluttering",
                   "missed heart beat", "heart flutters"),
    "HP:0001289": ("confused", "disoriented", "muddled", "being muddled", "disorientation", "mentally foggy", "acute confusion",
                   "not making sense"),
    "HP:0002018": ("nauseous", "nauseated", "queasy", "sick to my stomach", "feeling nauseous",
                   "urge to vomit"),
    "HP:0002014": ("watery stool", "watery stools", "runny stools", "loose bowel movements", "diarrhoeal",
                   "loose stool"),
}

#: Extra abbreviations (whole tokens, case-sensitive unless listed in ``CASE_INSENSITIVE_ABBREVIATIONS``).
EXTRA_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "HP:0002875": ("SOBOE", "DOE"),
    "HP:0034807": ("PND",),
    "HP:0002094": ("SOB", "SOA"),
    "HP:0100749": ("CP",),
    "HP:0001962": ("palps",),
    "HP:0002315": ("HA",),
}

#: Abbreviations safe to match in lower case too ("denies cp/sob"): none is a common English word.
CASE_INSENSITIVE_ABBREVIATIONS = frozenset({"SOB", "SOBOE", "DOE", "PND", "CP", "SOA"})

#: Words that mean "this symptom is absent": concept_id -> words.
NEGATED_FORMS: dict[str, tuple[str, ...]] = {
    "HP:0001945": ("afebrile", "apyrexial"),
}

#: Phrases that look like a symptom but are something else; matched and then dropped.
BLOCKERS: tuple[str, ...] = (
    "normal temperature", "temperature normal", "temperature was normal", "temperature is normal",
    "temperature was fine", "temperature is fine", "temperature fine", "body temperature", "room temperature",
    "temperature check", "temperature checks", "temperature chart", "temperature probe",
    "pulmonary edema", "pulmonary oedema", "pulmonary congestion", "vascular congestion", "heart rate",
    "respiratory rate", "chest x-ray", "chest xray", "chest film", "chest radiograph", "chest exam",
    "chest wall", "cough syrup", "cough medicine", "cough drops", "fever reducer", "sweat test",
    "weight bearing", "pain relief", "pain killers", "painkillers", "flu shot", "sore throat lozenges",
)
