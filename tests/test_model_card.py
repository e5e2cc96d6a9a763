"""The model card: every required section, no placeholder, and every number equal to the model's own metrics."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from medfusion_lib.calibration import TemperatureScaled, top_label_ece
from medfusion_lib.evaluation import macro_auc, macro_f1
from medfusion_lib.fusion import LateFusion
from medfusion_lib.fusion.features import FusionFeatures
from medfusion_lib.fusion.toy import make_toy_modalities
from medfusion_lib.hospitals.subgroups import SENT_HOME
from medfusion_lib.modelcard import (REQUIRED_SECTIONS, find_placeholders, measure_model_card, missing_sections,
                                     read_card_tables, render_model_card, write_model_card)
from medfusion_lib.modelcard.render import fmt

N = 900


@pytest.fixture(scope="module")
def toy():
    """Toy modalities as FusionFeatures (4 of the cohort's diagnoses), a patients table, and a fitted model."""
    data, y = make_toy_modalities(n=N, seed=3, noise=0.9)
    parts = [np.arange(0, 500), np.arange(500, 650), np.arange(650, N)]
    rng = np.random.default_rng(0)
    classes = ("upper_respiratory_infection", "acute_bronchitis", "bacterial_pneumonia", "viral_pneumonia")
    n_classes = len(np.unique(y))
    classes = classes[:n_classes]
    feats = FusionFeatures(*(data.subset(p) for p in parts), *(y[p] for p in parts), classes=classes,
                           feature_names={n: [] for n in data.names}, info={"text": "toy", "quick": False})
    patients = pd.DataFrame({"patient_id": data.patient_ids, "sex": rng.choice(["F", "M"], N),
                             "age": rng.integers(18, 90, N), "site": rng.choice(["Northgate", "Riverside"], N)})
    model = LateFusion("mean", n_folds=3).fit(feats.train, feats.y_train)
    facts = measure_model_card(model, feats, patients, name="late_mean", n_boot=200, n_boot_groups=50)
    return feats, patients, model, facts


def test_card_has_every_section_and_no_placeholder(toy, tmp_path):
    *_, facts = toy
    path = write_model_card(facts, tmp_path / "model_card.md")
    text = path.read_text()
    assert missing_sections(text) == []
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == list(REQUIRED_SECTIONS)
    assert find_placeholders(text) == []
    assert "semi-synthetic" in text.lower() and "not for clinical use" in text
    assert not list(tmp_path.glob(".*.tmp")), "the atomic write leaves no temporary file behind"


def test_the_checks_catch_a_broken_card(toy):
    *_, facts = toy
    text = render_model_card(facts)
    broken = re.sub(r"\| \d\.\d{3} \|", "| nan |", text.replace("## Calibration", "## Calibrashun"), count=1)
    assert missing_sections(broken) == ["Calibration"]
    assert "nan" in find_placeholders(broken)
    assert find_placeholders("TODO: fill in") == ["TODO"]


def test_numbers_on_the_card_are_the_models_metrics(toy):
    feats, patients, model, facts = toy
    tables = read_card_tables(render_model_card(facts))
    proba = model.predict_proba(feats.test)
    overall = tables["Overall"].set_index("metric")
    assert overall.loc["macro_f1", "estimate"] == pytest.approx(macro_f1(feats.y_test, proba), abs=5e-4)
    assert overall.loc["macro_auc", "estimate"] == pytest.approx(macro_auc(feats.y_test, proba), abs=5e-4)
    assert (overall["low"] <= overall["estimate"] + 5e-4).all() and (overall["estimate"] <= overall["high"] + 5e-4).all()

    # calibration: recomputed independently, temperature fitted again on validation
    scaled = TemperatureScaled(model).fit(feats.val, feats.y_val)
    cal = tables["Calibration"].set_index("probabilities")
    assert cal.loc["before", "ece"] == pytest.approx(top_label_ece(feats.y_test, proba, 15), abs=5e-4)
    assert cal.loc["after", "ece"] == pytest.approx(top_label_ece(feats.y_test, scaled.predict_proba(feats.test), 15),
                                                    abs=5e-4)

    # per group: macro-F1 and under-diagnosis of each group, recomputed from the predictions
    by_group = tables["By group"]
    pred = model.predict(feats.test)
    test_patients = patients.set_index("patient_id").loc[feats.test.patient_ids]
    sick = ~np.isin(np.array(feats.classes)[feats.y_test], SENT_HOME)
    for row in by_group[by_group.attribute == "sex"].itertuples():
        members = (test_patients["sex"] == row.group).to_numpy()
        assert row.n == members.sum()
        if row.metric == "macro_f1":
            assert row.estimate == pytest.approx(macro_f1(feats.y_test[members], pred[members]), abs=5e-4)
        if row.metric == "under_diagnosis":
            home = np.isin(np.array(feats.classes)[pred], SENT_HOME)
            assert row.estimate == pytest.approx(home[members & sick].mean(), abs=5e-4)
    assert set(by_group.attribute) == {"sex", "age_band", "site"}

    shift = tables["Site shift"]
    assert set(shift.site) == {"Northgate", "Riverside"}
    assert np.allclose(shift["drop"], shift.macro_f1_seen - shift.macro_f1_unseen, atol=2e-3)


def test_undefined_numbers_are_written_as_undefined():
    assert fmt(float("nan")) == "undefined" and fmt(0.12345) == "0.123" and fmt(7) == "7"
    with pytest.raises(TypeError):
        fmt(None)


def test_an_unfitted_model_is_refused_clearly(toy):
    feats, patients, *_ = toy
    with pytest.raises(ValueError, match="not fitted: call model.fit"):
        measure_model_card(LateFusion("mean"), feats, patients)
    with pytest.raises(TypeError, match="predict_proba"):
        measure_model_card(object(), feats, patients)


def test_a_missing_group_column_is_named(toy):
    feats, patients, model, _ = toy
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['sex'\]"):
        measure_model_card(model, feats, patients.drop(columns="sex"), site_shift=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['voice'\]"):
        measure_model_card(model, feats, patients, attributes=("sex", "voice"), site_shift=False)
    with pytest.raises(ValueError, match="not in the patients table"):
        measure_model_card(model, feats, patients.iloc[:100], site_shift=False)


def test_feats_must_be_fusion_features(toy):
    _, patients, model, _ = toy
    with pytest.raises(TypeError, match="FusionFeatures"):
        measure_model_card(model, {"train": None}, patients)


def test_the_card_path_must_be_markdown(toy, tmp_path):
    *_, facts = toy
    with pytest.raises(ValueError, match=r"ending in \.md"):
        write_model_card(facts, tmp_path / "card.txt")


def test_the_command_refuses_a_path_that_is_not_markdown(tmp_path, capsys):
    from medfusion_lib.cli import main

    assert main(["model-card", "--out", str(tmp_path / "card.txt")]) == 2
    assert "ending in .md" in capsys.readouterr().err


def test_the_command_writes_a_complete_card(tmp_path, capsys):
    from medfusion_lib.cli import main

    out = tmp_path / "model_card.md"
    assert main(["model-card", "--quick", "--strategy", "late_mean", "--no-site-shift", "--out", str(out)]) == 0
    text = out.read_text()
    assert missing_sections(text) == [] and find_placeholders(text) == []
    assert "late_mean" in capsys.readouterr().out
    assert "leave-one-site-out was skipped" in text
