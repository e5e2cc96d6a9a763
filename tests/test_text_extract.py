"""Unit tests for the extractor: matcher, typo tolerance, negation scope, measurements, extract_mentions."""
import pytest

from medfusion_lib.lexicon import SYMPTOMS
from medfusion_lib.text.extract import Mention, extract_many, extract_mentions
from medfusion_lib.text.lexicon_index import damerau_within_one, build_index, default_index, phrase_keys
from medfusion_lib.text.measurements import find_measurements
from medfusion_lib.text.negation import find_triggers
from medfusion_lib.text.preprocess import tokenize_with_spans


def found(text):
    """(span text, label, negated) triples."""
    return [(m.text, m.label, m.negated) for m in extract_mentions(text)]


# -- the index and matcher ------------------------------------------------------------------------------
def test_index_has_every_concept_and_no_conflicts():
    index = default_index()
    assert index.conflicts == []
    assert index.n_phrases > len(SYMPTOMS) * 5


def test_phrase_keys_stem_and_drop_determiners():
    assert phrase_keys("a bad cough") == ("bad", "cough")
    assert phrase_keys("pain in my chest") == ("pain", "in", "chest")
    # "a temperature" is a fever; "temperature" alone is not
    assert found("I had a temperature") == [("temperature", "Fever", False)]
    assert found("Temperature normal, my temperature was fine") == []


@pytest.mark.parametrize("a, b, expected", [("fever", "fevr", True), ("cough", "couhg", True),
                                            ("cough", "coughs", True), ("fever", "feverr", True),
                                            ("fever", "fevers", True), ("cough", "chough", True),
                                            ("fever", "fiver", True), ("fever", "faver", True),
                                            ("nausea", "nuasae", False), ("cough", "cgouh", False)])
def test_damerau_distance_one(a, b, expected):
    assert damerau_within_one(a, b) is expected


def test_longest_match_wins():
    assert found("productive cough") == [("productive cough", "Productive cough", False)]
    assert found("pleuritic chest pain") == [("pleuritic chest pain", "Pleuritic chest pain", False)]
    assert found("coughing up blood")[0][1] == "Hemoptysis"


def test_inflections_and_determiner_skips():
    assert found("she is coughing and wheezing")[0][1:] == ("Cough", False)
    assert found("pain in the chest") == [("pain in the chest", "Chest pain", False)]
    assert found("I have a fever") == [("fever", "Fever", False)]  # span excludes the article


@pytest.mark.parametrize("typo, label", [("coughign", "Cough"), ("diarhea", "Diarrhea"), ("nausia", "Nausea"),
                                         ("wheezng", "Wheezing"), ("headahce", "Headache"),
                                         ("fevvers", "Fever"), ("palpatations", "Palpitations")])
def test_misspellings_of_five_letters_or_more(typo, label):
    assert found(f"has {typo} today") == [(typo, label, False)]


def test_real_words_near_symptoms_are_not_corrected():
    assert found("fewer visits, never again, sweets and cheese") == []
    assert found("night sweets")[0][1] == "Night sweats"  # inside a phrase the correction is safe


def test_abbreviations_and_case():
    assert found("Denies CP/SOB. +DOE, PND.") == [("CP", "Chest pain", True), ("SOB", "Dyspnea", True),
                                                 ("DOE", "Exertional dyspnea", False),
                                                 ("PND", "Paroxysmal nocturnal dyspnea", False)]
    assert found("denies cp/sob")[1][1] == "Dyspnea"  # safe abbreviations also in lower case
    assert found("ha ha, very funny") == []           # "HA" (headache) only in capitals


def test_blockers_are_not_symptoms():
    assert found("CXR shows pulmonary edema; heart rate 80") == []
    assert found("bilateral leg edema")[0][1] == "Pedal edema"


# -- negation ------------------------------------------------------------------------------------------
def test_negation_list_with_commas_and_or():
    assert found("No fever, chills or night sweats.") == [
        ("fever", "Fever", True), ("chills", "Chills", True), ("night sweats", "Night sweats", True)]


def test_scope_ends_at_but_and_sentence_end():
    assert [n for *_, n in found("No fever but a cough.")] == [True, False]
    assert [n for *_, n in found("Denies fever. Cough for a week.")] == [True, False]
    assert [n for *_, n in found("no fever; cough")] == [True, False]
    assert [n for *_, n in found("No fever\nCough: yes")] == [True, False]


def test_scope_ends_at_a_new_clause():
    assert [n for *_, n in found("no fever, has a cough")] == [True, False]
    assert [n for *_, n in found("denies chest pain and reports wheezing")] == [True, False]


def test_post_negation():
    assert found("Fever: none.") == [("Fever", "Fever", True)]
    assert found("Chills - denied. Cough: yes")[0][2] is True
    assert [n for *_, n in found("Fever resolved, still coughing")] == [True, False]
    assert found("night sweats: no")[0][2] is True


def test_pseudo_negations_negate_nothing():
    assert [n for *_, n in found("Not only a cough but also a fever")] == [False, False]
    assert found("No change in her cough.")[0][2] is False
    assert found("Pneumonia not ruled out; night sweats noted")[0][2] is False
    assert found("The syrup didn't help my cough")[0][2] is False


def test_contractions_and_missing_apostrophes():
    assert found("I don't have a fever")[0][2] is True
    assert found("i dont have a fever")[0][2] is True
    assert found("I haven't been coughing")[0][2] is True


def test_negated_forms():
    assert found("Afebrile, alert.") == [("Afebrile", "Fever", True)]


def test_triggers_inside_a_mention_are_not_triggers():
    tokens = tokenize_with_spans("no appetite")
    assert find_triggers(tokens, [True, True]) == []
    assert found("I have no appetite and no energy") == [("no appetite", "Poor appetite", False),
                                                        ("no energy", "Fatigue", False)]


# -- measurements --------------------------------------------------------------------------------------
def test_measurements():
    kinds = {m.kind: m for m in find_measurements("T 101.3F, HR 112, RR 24, SpO2 88% RA, lost 6 kg")}
    assert kinds["temperature"].value == pytest.approx(38.5, abs=0.01) and kinds["temperature"].abnormal
    assert kinds["weight_change"].value == -6 and kinds["weight_change"].concept_id == "HP:0001824"
    assert kinds["spo2"].value == 88 and kinds["spo2"].abnormal and kinds["spo2"].concept_id is None
    assert kinds["heart_rate"].abnormal and kinds["resp_rate"].abnormal


def test_measurements_become_mentions_only_when_they_express_a_symptom():
    assert found("temp 38.9, lost 10 lbs") == [("temp 38.9", "Fever", False), ("lost 10 lbs", "Weight loss", False)]
    assert found("temp 36.8, SpO2 97%") == []
    assert found("Stage T 2 tumour") == []


# -- extract_mentions ----------------------------------------------------------------------------------
def test_mentions_have_the_documented_fields_and_offsets():
    text = "Pt denies CP. Coughing up blood x2 weeks."
    mentions = extract_mentions(text)
    assert all(isinstance(m, Mention) and text[m.start:m.end] == m.text for m in mentions)
    assert set(mentions[0].to_dict()) == {"start", "end", "text", "concept_id", "label", "negated"}
    assert mentions[1].concept_id == "HP:0002105" and SYMPTOMS[mentions[1].concept_id].icd10 == "R04.2"


@pytest.mark.parametrize("text", ["", " ", "\n\n", "¿¡ 🙂 !?", "The weather is nice."])
def test_texts_without_symptoms(text):
    assert extract_mentions(text) == []


def test_non_ascii_text():
    assert found("Fièvre depuis hier — I have a féver and a cough… 🤒") == [("féver", "Fever", False),
                                                                          ("cough", "Cough", False)]


@pytest.mark.parametrize("bad", [None, 3.5, b"cough", ["cough"]])
def test_extract_rejects_non_strings(bad):
    with pytest.raises(TypeError):
        extract_mentions(bad)


def test_very_long_text():
    text = "No fever. Productive cough. " * 5000
    mentions = extract_mentions(text)
    assert len(mentions) == 10000 and mentions[-1].end <= len(text)


def test_extract_many_and_custom_index():
    assert [len(x) for x in extract_many(["fever", "", "cough and fever"])] == [1, 0, 2]
    with pytest.raises(TypeError, match="list of texts"):
        extract_many("fever")
    only_fever = build_index({k: v for k, v in SYMPTOMS.items() if v.label == "Fever"})
    assert [m.label for m in extract_mentions("fever and cough", index=only_fever)] == ["Fever"]


def test_post_negation_does_not_reach_across_affirmed_items():
    assert [n for *_, n in found("Cough - yes, fever - no")] == [False, True]
    assert [n for *_, n in found("fever and chills: denied")] == [True, True]
    assert [n for *_, n in found("Decreased appetite, no N/V/D")] == [False]


def test_temperature_word_and_readings():
    assert found("no fever or temperature") == [("fever", "Fever", True), ("temperature", "Fever", True)]
    assert found("Temperature 36.8, my temperature was normal") == []
    assert found("Temp max 38.9C yesterday") == [("Temp max 38.9C", "Fever", False)]


def test_fillers_inside_phrases_and_slips_in_context():
    assert found("Coughing up yellow-green mucus")[0][1] == "Productive cough"
    assert found("a bad cogh, efver and hcills") == [("bad cogh", "Cough", False), ("efver", "Fever", False),
                                                     ("hcills", "Chills", False)]
    assert found("I was tied up") == []


def test_misspelt_long_triggers_still_negate():
    assert found("Deines fever. Negaitve for cough.") == [("fever", "Fever", True), ("cough", "Cough", True)]
