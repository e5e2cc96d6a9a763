"""The lesson-03 text baseline and the text + vitals baseline inside the fusion comparison."""
import numpy as np
import pytest

from medfusion_lib.data import build_cohort, read_cohort
from medfusion_lib.fusion import compare_strategies
from medfusion_lib.fusion.baselines import (TEXT_BASELINE, TEXT_VITALS_BASELINE, NarrativeModel,
                                            baseline_strategies, narrative_lookup)
from medfusion_lib.fusion.compare import kind_of, modalities_of
from medfusion_lib.fusion.features import ImageSettings, build_modalities

TINY_CNN = ImageSettings(width=4, size=16, epochs=1, folds=2)


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    import os

    build = tmp_path_factory.mktemp("build")
    old = os.environ.get("MEDFUSION_BUILD_DIR")
    os.environ["MEDFUSION_BUILD_DIR"] = str(build)
    try:
        cohort = read_cohort(build_cohort(tmp_path_factory.mktemp("cohort"), n_patients=300, seed=5))
        return build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    finally:
        if old is None:
            os.environ.pop("MEDFUSION_BUILD_DIR")
        else:
            os.environ["MEDFUSION_BUILD_DIR"] = old


def test_text_baseline_is_lesson_03s_pipeline(feats):
    """Same probabilities as text_pipeline('logreg', 'tfidf') fitted on the raw narratives with the chosen C."""
    from medfusion_lib.text.models import text_pipeline

    model = NarrativeModel(narrative_lookup(feats), seed=0).fit(feats.train, feats.y_train)
    assert model.C_ in (0.3, 1.0, 3.0, 10.0)  # chosen by lesson 03's grid
    with_vitals = NarrativeModel(narrative_lookup(feats), extra=("vitals",), seed=0).fit(feats.train, feats.y_train)
    assert with_vitals.C_ == model.C_  # the two baselines differ only by the vitals columns
    reference = text_pipeline("logreg", "tfidf", seed=0).set_params(model__C=model.C_)
    reference.fit(feats.narratives["train"], feats.y_train)
    assert np.allclose(model.predict_proba(feats.test), reference.predict_proba(feats.narratives["test"]),
                       atol=1e-6)
    assert kind_of(model) == "unimodal" and modalities_of(model, feats.train.names) == ("text",)


def test_text_vitals_baseline_never_reads_the_image(feats):
    lookup = narrative_lookup(feats)
    model = NarrativeModel(lookup, extra=("vitals",), C=1.0).fit(feats.train, feats.y_train)
    assert kind_of(model) == "baseline" and "image" not in modalities_of(model, feats.train.names)
    scrambled = feats.test.select(["text", "image", "vitals"])
    from medfusion_lib.fusion import Modalities

    noisy = Modalities({**scrambled.features, "image": np.random.default_rng(0).normal(
        size=scrambled.features["image"].shape)}, scrambled.patient_ids)
    assert np.allclose(model.predict_proba(feats.test), model.predict_proba(noisy))
    # vitals matter to it: removing them changes the answer
    assert not np.allclose(model.predict_proba(feats.test), model.predict_proba(feats.test.with_missing("vitals")))


def test_missing_text_falls_back_to_the_prior(feats):
    model = NarrativeModel(narrative_lookup(feats), C=1.0).fit(feats.train, feats.y_train)
    proba = model.predict_proba(feats.test.with_missing("text", 1.0))
    assert np.allclose(proba, model.prior_)


def test_unknown_patients_and_missing_lookup_are_clear_errors(feats):
    with pytest.raises(ValueError, match="narrative_lookup"):
        NarrativeModel(None, C=1.0).fit(feats.train, feats.y_train)
    partial = dict(list(narrative_lookup(feats).items())[:10])
    with pytest.raises(ValueError, match="no narrative"):
        NarrativeModel(partial, C=1.0).fit(feats.train, feats.y_train)
    with pytest.raises(ValueError, match="numeric modalities"):
        NarrativeModel(narrative_lookup(feats), extra=("image",), C=1.0).fit(feats.train, feats.y_train)


def test_baselines_enter_the_comparison(feats):
    from medfusion_lib.fusion import EarlyFusion, UnimodalModel

    lineup = {"text_only": UnimodalModel("text"), "image_only": UnimodalModel("image"),
              "early_logreg": EarlyFusion("logreg"), **baseline_strategies(feats, C=1.0)}
    result = compare_strategies(feats.train, feats.y_train, feats.test, feats.y_test, feats.val, feats.y_val,
                                strategies=lineup, n_boot=50, progress=False)
    table = result.table.set_index("strategy")
    assert table.loc[TEXT_BASELINE, "kind"] == "unimodal"
    assert table.loc[TEXT_VITALS_BASELINE, "kind"] == "baseline"
    assert result.best_fusion == "early_logreg"  # a baseline is never "the best fusion"
    assert result.best_non_image in {"text_only", TEXT_BASELINE, TEXT_VITALS_BASELINE}
    assert set(result.gain["vs_non_image"]) == {"macro_f1", "ci_low", "ci_high", "p_value"}


def test_the_two_baselines_share_one_grid_search(feats, monkeypatch):
    """The text + vitals model reuses the C that the text model's (identical) grid search chose: one search."""
    from sklearn.model_selection import GridSearchCV

    from medfusion_lib.fusion import baselines

    baselines._grid_search_C.cache_clear()
    searches = []
    original_fit = GridSearchCV.fit
    monkeypatch.setattr(GridSearchCV, "fit", lambda self, *a, **k: searches.append(1) or original_fit(self, *a, **k))
    models = {name: model.fit(feats.train, feats.y_train) for name, model in baseline_strategies(feats).items()}
    assert len(searches) == 1
    assert models[TEXT_BASELINE].C_ == models[TEXT_VITALS_BASELINE].C_
    NarrativeModel(narrative_lookup(feats), seed=1).fit(feats.train, feats.y_train)  # another seed: its own folds
    assert len(searches) == 2
