"""Reliability tables, per-expert calibration before late fusion, and the missing-modality confidence check, on
the fusion track's toy modalities (seconds)."""
import matplotlib

matplotlib.use("Agg")  # tests draw off screen; notebooks never set a backend
import numpy as np
import pytest

from medfusion_lib.calibration import (ExpertTemperatureFusion, TemperatureScaled, confidence_change,
                                       confidence_rises, ece_from_table, plot_reliability, reliability_table,
                                       top_label_ece)
from medfusion_lib.fusion import EarlyFusion, HybridFusion, LateFusion, UnimodalModel, confidence_rule
from medfusion_lib.fusion.toy import make_toy_modalities


@pytest.fixture(scope="module")
def toy():
    data, y = make_toy_modalities(600, seed=3, noise=0.8)
    parts = [np.arange(0, 240), np.arange(240, 420), np.arange(420, 600)]
    return [data.subset(p) for p in parts], [y[p] for p in parts]


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_table_implies_the_ece(strategy):
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3) * 0.4, size=500)
    y = rng.integers(0, 3, 500)
    table = reliability_table(y, proba, 12, strategy)
    assert list(table.columns) == ["bin", "lower", "upper", "count", "confidence", "accuracy", "gap"]
    assert table["count"].sum() == 500 and len(table) == 12
    assert ece_from_table(table) == pytest.approx(top_label_ece(y, proba, 12, strategy))
    filled = table[table["count"] > 0]
    assert ((filled["confidence"] >= filled["lower"] - 1e-12) & (filled["confidence"] <= filled["upper"])).all()


def test_plot_reliability_draws_bars_and_the_diagonal():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3), size=200)
    table = reliability_table(rng.integers(0, 3, 200), proba, 10)
    ax = plot_reliability(table)
    n_filled = int((table["count"] > 0).sum())
    assert len(ax.patches) == 3 * n_filled  # accuracy, gap and share bars per filled bin
    assert ax.get_title().startswith("ECE = ")
    assert plot_reliability(table, ax=ax, title="x", show_counts=False).get_title() == "x"


def test_expert_calibration_keeps_the_rule_and_fits_one_temperature_per_expert(toy):
    (train, val, test), (y_train, y_val, y_test) = toy
    model = LateFusion("confidence", n_folds=3).fit(train, y_train)
    calibrated = ExpertTemperatureFusion(model).fit(val, y_val)
    assert set(calibrated.temperatures_) == {"text", "image", "vitals"}
    assert all(t > 0 for t in calibrated.temperatures_.values())
    # the rule applied by hand to the rescaled experts
    P = calibrated.expert_proba(test)
    assert np.allclose(calibrated.predict_proba(test), confidence_rule(P, model.presence(test), model.prior_))
    assert np.allclose(model.combine(model.expert_proba(test), model.presence(test)), model.predict_proba(test))
    # experts whose temperature is 1 would leave the fused output as it was
    calibrated.temperatures_ = {k: 1.0 for k in calibrated.temperatures_}
    assert np.allclose(calibrated.predict_proba(test), model.predict_proba(test))


def test_expert_calibration_copes_with_absent_modalities(toy):
    (train, val, test), (y_train, y_val, _) = toy
    model = LateFusion("mean", n_folds=3).fit(train, y_train)
    calibrated = ExpertTemperatureFusion(model).fit(val.with_missing("image", 0.5, seed=1), y_val)
    damaged = test.with_missing("image", 1.0)
    P = calibrated.expert_proba(damaged)
    assert np.allclose(P[:, 1], model.prior_)  # an absent expert keeps the prior; the rule ignores it
    assert np.allclose(calibrated.predict_proba(damaged).sum(1), 1)


def test_expert_calibration_refuses_what_it_cannot_do(toy):
    (train, val, _), (y_train, y_val, _) = toy
    with pytest.raises(ValueError, match="meta-learner"):
        ExpertTemperatureFusion(LateFusion("stacking", n_folds=3).fit(train, y_train)).fit(val, y_val)
    with pytest.raises(TypeError, match="LateFusion"):
        ExpertTemperatureFusion(EarlyFusion().fit(train, y_train)).fit(val, y_val)
    with pytest.raises(RuntimeError, match="not fitted"):
        ExpertTemperatureFusion(LateFusion()).predict_proba(val)
    with pytest.raises(ValueError, match="combine|P must be"):
        LateFusion("mean", n_folds=3).fit(train, y_train).combine(np.ones((3, 2, 4)) / 4, np.ones((3, 2), bool))


def test_missing_modality_check(toy):
    (train, _, test), (y_train, _, _) = toy
    models = {"text_only": UnimodalModel("text").fit(train, y_train),
              "late_mean": LateFusion("mean", n_folds=3).fit(train, y_train),
              "late_product": LateFusion("product", n_folds=3).fit(train, y_train),
              "early_logreg": EarlyFusion().fit(train, y_train)}
    table = confidence_rises(models, test, ("image", "text"))
    assert list(table.columns) == ["strategy", "modality", "n_patients", "frac_rises", "mean_change",
                                   "median_change", "max_rise"]
    assert len(table) == 8 and table["frac_rises"].between(0, 1).all()
    rows = table.set_index(["strategy", "modality"])
    # a text-only model ignores the image: removing it changes nothing
    assert rows.loc[("text_only", "image"), "frac_rises"] == 0 and rows.loc[("text_only", "image"), "max_rise"] == 0
    # the product of experts only gains evidence from each expert, so losing one mostly lowers confidence
    assert rows.loc[("late_product", "image"), "mean_change"] < 0
    # by hand for the mean rule
    full = models["late_mean"].predict_proba(test).max(1)
    without = models["late_mean"].predict_proba(test.with_missing("image")).max(1)
    assert rows.loc[("late_mean", "image"), "frac_rises"] == pytest.approx(((without - full) > 1e-6).mean())


def test_confidence_change_only_counts_patients_who_had_the_modality(toy):
    (train, _, test), (y_train, _, _) = toy
    model = HybridFusion("concat", num_epochs=3).fit(train, y_train)
    partial = test.with_missing("image", 0.5, seed=0)
    change = confidence_change(model, partial, "image")
    assert change.shape == (int(partial.present["image"].sum()),)
    with pytest.raises(ValueError, match="no patient has"):
        confidence_change(model, test.with_missing("image", 1.0), "image")


def test_temperature_after_fusion_lowers_late_mean_ece(toy):
    (train, val, test), (y_train, y_val, y_test) = toy
    model = LateFusion("mean", n_folds=3).fit(train, y_train)
    scaled = TemperatureScaled(model).fit(val, y_val)
    assert top_label_ece(y_test, scaled.predict_proba(test)) < top_label_ece(y_test, model.predict_proba(test))


def test_meets_target():
    from medfusion_lib.calibration import meets_target

    assert meets_target(0.30, 0.15) and meets_target(0.03, 0.02) and not meets_target(0.08, 0.05)


def test_calibrate_strategies_table(toy):
    from medfusion_lib.calibration import calibrate_strategies

    (train, val, test), (y_train, y_val, y_test) = toy
    models = {"late_mean": LateFusion("mean", n_folds=3).fit(train, y_train),
              "early_logreg": EarlyFusion().fit(train, y_train)}
    table, scaled = calibrate_strategies(models, val, y_val, test, y_test, n_boot=50, seed=0)
    assert list(table["strategy"]) == ["late_mean", "early_logreg"] and set(scaled) == set(models)
    assert (table["val_nll_after"] <= table["val_nll_before"] + 1e-12).all()
    row = table.set_index("strategy").loc["late_mean"]
    assert row["temperature"] == pytest.approx(scaled["late_mean"].temperature_)
    assert row["ece_after"] == pytest.approx(top_label_ece(y_test, scaled["late_mean"].predict_proba(test)))
    assert row["floor_low"] <= row["floor"] <= row["floor_high"]
    assert row["meets_target"] == (row["ece_after"] <= row["ece_before"] / 2 or row["ece_after"] <= 0.02)
