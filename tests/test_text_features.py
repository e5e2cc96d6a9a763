"""Unit tests for the featurizers, model pipelines and evaluation helpers of the text track."""
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from medfusion_lib.lexicon import SYMPTOMS
from medfusion_lib.text.evaluate import (error_table, load_gold_jsonl, match_spans, score_extraction)
from medfusion_lib.text.features import (NegationTagger, SymptomFeaturizer, as_text_list, mentions_frame,
                                         tag_negations, tfidf_pipeline)
from medfusion_lib.text.models import MODELS, grid_search, stratified_cv, text_pipeline

TEXTS = ["No fever, chills or night sweats. Coughing up blood.", "fever and a cough", "Denies CP. DOE.", ""]


def test_symptom_table_values_and_names():
    featurizer = SymptomFeaturizer()
    table = featurizer.fit_transform(TEXTS)
    assert table.shape == (4, len(SYMPTOMS)) and table.dtype == np.float32
    names = list(featurizer.get_feature_names_out())
    row = dict(zip(names, table[0]))
    assert row["Fever"] == -1 and row["Chills"] == -1 and row["Hemoptysis"] == 1 and row["Cough"] == 0
    assert dict(zip(names, table[2]))["Chest pain"] == -1
    assert not table[3].any()  # empty narrative: nothing mentioned
    frame = featurizer.to_frame(TEXTS)
    assert list(frame.columns) == names and frame.loc[1, "Fever"] == 1


def test_affirmed_beats_negated_in_one_text():
    table = SymptomFeaturizer(concepts=["HP:0001945"]).fit_transform(["no fever last week, fever today"])
    assert table.tolist() == [[1.0]]


def test_featurizer_input_checks():
    with pytest.raises(TypeError, match="wrap it in a list"):
        SymptomFeaturizer().fit("fever")
    with pytest.raises(TypeError, match="None"):
        SymptomFeaturizer().fit(None)
    with pytest.raises(TypeError, match=r"X\[1\]"):
        SymptomFeaturizer().fit(["fever", None])
    with pytest.raises(ValueError, match="not fitted"):
        SymptomFeaturizer().transform(["fever"])
    with pytest.raises(ValueError, match="unknown concept"):
        SymptomFeaturizer(concepts=["HP:9999999"]).fit(["fever"])
    assert as_text_list(pd.Series(["a", "b"])) == ["a", "b"]
    assert as_text_list(np.array(["a"])) == ["a"]
    with pytest.raises(ValueError, match="narrative column"):
        as_text_list(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_mentions_frame_long_form():
    frame = mentions_frame(TEXTS[:2], ids=["P1", "P2"])
    assert list(frame.columns) == ["id", "start", "end", "text", "concept_id", "label", "negated"]
    assert frame.groupby("id").size().to_dict() == {"P1": 4, "P2": 2}
    with pytest.raises(ValueError, match="one id per text"):
        mentions_frame(TEXTS[:2], ids=["P1"])


def test_negation_tagging_for_bag_of_words():
    assert tag_negations("No fever, but a cough") == "No neg_fever, but a cough"
    assert tag_negations("denies night sweats") == "denies neg_night neg_sweats"
    assert NegationTagger().fit_transform(["no fever", ""]) == ["no neg_fever", ""]
    tfidf = tfidf_pipeline(min_df=1)
    matrix = tfidf.fit_transform(["no fever", "fever and cough"])
    vocabulary = set(tfidf[-1].get_feature_names_out())
    assert {"neg_fever", "fever", "no"} <= vocabulary and matrix.shape[0] == 2


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(0)
    flu = ["fever, body aches and a dry cough", "high temperature, chills and headache", "fever and myalgia"]
    tb = ["coughing up blood and night sweats", "weight loss, night sweats, haemoptysis", "night sweats, lost weight"]
    texts, y = [], []
    for _ in range(12):
        texts += [rng.choice(flu), rng.choice(tb)]
        y += [0, 1]
    return texts, np.array(y)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("features", ["tfidf", "symptoms", "both"])
def test_every_pipeline_fits_and_predicts(model, features, small_data):
    texts, y = small_data
    pipeline = text_pipeline(model, features)
    assert isinstance(pipeline, Pipeline)
    pipeline.fit(texts, y)
    assert (pipeline.predict(["night sweats and coughing up blood", "fever with chills"]) == [1, 0]).all()


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="logreg"):
        text_pipeline("xgboost")
    with pytest.raises(ValueError, match="tfidf"):
        text_pipeline("logreg", "bert")


def test_stratified_cv_and_grid_search(small_data):
    texts, y = small_data
    folds = stratified_cv(text_pipeline("naive_bayes", "symptoms"), texts, y, n_splits=3)
    assert list(folds.columns) == ["f1_macro", "balanced_accuracy", "fit_seconds"] and len(folds) == 3
    assert folds["f1_macro"].between(0, 1).all()
    with pytest.raises(ValueError, match="fewer than n_splits"):
        stratified_cv(text_pipeline(), texts[:4], y[:4], n_splits=3)
    search = grid_search("logreg", texts, y, features="symptoms", grid={"model__C": [0.1, 1.0]}, n_splits=2)
    assert search.best_params_["model__C"] in (0.1, 1.0) and hasattr(search, "best_estimator_")


# -- evaluation ----------------------------------------------------------------------------------------
def _span(start, end, text, concept="HP:0001945", negated=False):
    return {"start": start, "end": end, "text": text, "concept_id": concept, "label": "x", "negated": negated}


def test_matching_modes():
    gold = [_span(7, 14, "a fever"), _span(19, 24, "cough", "HP:0012735")]
    predicted = [_span(9, 14, "fever"), _span(19, 24, "cough", "HP:0001945")]
    assert match_spans(gold, predicted, "overlap") == [(0, 0)]
    assert match_spans(gold, predicted, "exact") == [(0, 0)]  # the article is ignored
    assert match_spans([_span(0, 10, "fever xxxx")], [_span(0, 5, "fever")], "exact") == []
    with pytest.raises(ValueError, match="overlap"):
        match_spans(gold, predicted, "fuzzy")


def test_scores_and_error_table():
    gold = [[_span(0, 5, "fever", negated=True)], [_span(0, 5, "cough", "HP:0012735")]]
    predicted = [[_span(0, 5, "fever", negated=False)], [_span(0, 5, "cough", "HP:0012735"),
                                                         _span(10, 15, "chill", "HP:0025143")]]
    scores = score_extraction(gold, predicted)
    assert (scores.n_gold, scores.n_predicted, scores.n_matched) == (2, 3, 2)
    assert scores.recall == 1.0 and scores.precision == pytest.approx(2 / 3)
    assert scores.negation_accuracy == 0.5
    errors = error_table(["fever", "cough .... chill"], gold, predicted)
    assert sorted(errors["error"]) == ["FP", "NEG"]
    assert score_extraction([[]], [[]]).f1 == 0.0
    with pytest.raises(ValueError, match="gold documents"):
        score_extraction(gold, predicted[:1])


def test_handwritten_set_is_well_formed():
    records = load_gold_jsonl()
    assert len(records) >= 40
    assert {r["voice"] for r in records} == {"patient", "clinician"}
    spans = [s for r in records for s in r["spans"]]
    assert all(s["concept_id"] in SYMPTOMS and SYMPTOMS[s["concept_id"]].label == s["label"] for s in spans)
    assert sum(s["negated"] for s in spans) >= 30 and len({r["id"] for r in records}) == len(records)
    for r in records:  # offsets verified again here, independently of the loader
        assert all(r["text"][s["start"]:s["end"]] == s["text"] for s in r["spans"])


def test_gold_loader_refuses_bad_offsets(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "no fever", "spans": [{"start": 0, "end": 2, "text": "fever", '
                   '"concept_id": "HP:0001945", "label": "Fever", "negated": true}]}\n')
    with pytest.raises(ValueError, match="does not sit"):
        load_gold_jsonl(bad)
    with pytest.raises(FileNotFoundError, match="no gold file"):
        load_gold_jsonl(tmp_path / "missing.jsonl")


def test_the_gold_set_ships_inside_the_package():
    """The library must not read the test tree: an installed course has no tests/ folder."""
    from pathlib import Path

    import medfusion_lib
    from medfusion_lib.text.evaluate import handwritten_path

    package = Path(medfusion_lib.__file__).parent
    assert handwritten_path().is_file() and package in handwritten_path().parents
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if '/ "tests"' in p.read_text(encoding="utf-8") or "tests/data" in p.read_text(encoding="utf-8")]
    assert not offenders, f"library modules that reach into tests/: {offenders}"
