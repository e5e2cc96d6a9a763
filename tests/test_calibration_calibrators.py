"""Calibrators of probability tables and their choice by cross-validation inside validation."""
import numpy as np
import pytest

from medfusion_lib.calibration import (CALIBRATORS, CANDIDATES, CalibratedModel, Calibrator, apply_temperature,
                                       apply_vector_scaling, calibration_report, consistency_draws,
                                       fit_temperature, fit_vector_scaling, nll, select_calibrator, status_of)


def skewed_case(seed: int, n: int = 800, k: int = 4):
    """True probabilities q; the model reports a class-biased, over-confident version of them."""
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.full(k, 0.6), size=n)
    y = consistency_draws(q, 1, seed)[0]
    logits = 1.8 * np.log(q) + np.array([0.8, 0.0, -0.6, 0.3])[:k]
    reported = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, reported


@pytest.mark.parametrize("method", CALIBRATORS)
def test_every_calibrator_returns_probabilities(method):
    y, proba = skewed_case(0)
    out = Calibrator(method).fit(proba[:500], y[:500]).transform(proba[500:])
    assert out.shape == proba[500:].shape
    assert np.allclose(out.sum(1), 1) and (out >= 0).all()


def test_vector_scaling_is_never_worse_than_identity_or_temperature_where_fitted():
    y, proba = skewed_case(1)
    w, b = fit_vector_scaling(y, proba)
    vector = nll(y, apply_vector_scaling(proba, w, b))
    temperature = nll(y, apply_temperature(proba, fit_temperature(y, proba)))
    assert vector <= nll(y, proba) and vector <= temperature + 2e-3   # it contains T (w = 1/T, b = 0)
    assert w.shape == b.shape == (4,)
    # vector scaling of a vector-scaled table is vector scaling again: refitting finds (about) the identity
    w0, b0 = fit_vector_scaling(y, apply_vector_scaling(proba, w, b))
    assert np.abs(w0 - 1).max() < 0.1 and np.abs(b0).max() < 0.1


def test_sklearn_temperature_agrees_with_ours():
    y, proba = skewed_case(2)
    ours = Calibrator("temperature").fit(proba, y).transform(proba)
    theirs = Calibrator("temperature_sklearn").fit(proba, y).transform(proba)
    assert np.abs(ours - theirs).max() < 1e-3


def test_selection_prefers_a_class_aware_calibrator_and_reports_cv():
    y, proba = skewed_case(3)
    choice = select_calibrator(proba, y, seed=0)
    table = choice.table
    assert list(table["method"]) == list(CANDIDATES) and table["chosen"].sum() == 1
    assert table.loc[table["chosen"], "cv_nll"].iloc[0] == table["cv_nll"].min()
    assert choice.method != "none"                     # the skewed model is miscalibrated
    assert table.set_index("method").loc["vector", "cv_nll"] < table.set_index("method").loc["temperature", "cv_nll"]
    by_ece = select_calibrator(proba, y, criterion="ece", seed=0)
    assert by_ece.table.loc[by_ece.table["chosen"], "cv_ece"].iloc[0] == by_ece.table["cv_ece"].min()


def test_selection_errors_are_clear():
    y, proba = skewed_case(4, n=60)
    with pytest.raises(ValueError, match="criterion"):
        select_calibrator(proba, y, criterion="accuracy")
    with pytest.raises(ValueError, match="candidates"):
        select_calibrator(proba, y, candidates=["platt"])
    y_rare = np.zeros(60, dtype=int); y_rare[0] = 1
    with pytest.raises(ValueError, match="at least two validation patients"):
        select_calibrator(proba, y_rare)
    with pytest.raises(ValueError, match="unknown calibrator"):
        Calibrator("beta")
    with pytest.raises(RuntimeError, match="not fitted"):
        Calibrator("vector").transform(proba)


class TableModel:
    """A fitted 'model' whose data is an index into a fixed probability table."""

    def __init__(self, proba):
        self.proba, self.classes_ = proba, np.arange(proba.shape[1])

    def predict_proba(self, index):
        return self.proba[np.asarray(index)]


def test_report_columns_status_and_never_reading_test_for_the_choice():
    y, proba = skewed_case(5, n=1200)
    model = TableModel(proba)
    val, test = np.arange(600), np.arange(600, 1200)
    report = calibration_report({"skewed": model}, val, y[val], test, y[test], n_boot=50, n_draws=50, seed=0)
    row = report.table.iloc[0]
    for column in ("ece_before", "ece_after", "ece_chosen", "ece_chosen_low", "ece_chosen_high", "calibrator",
                   "p_value_before", "p_value_after", "p_value_chosen", "debiased_before", "debiased_chosen",
                   "sweep_before", "floor_before_high", "floor_after_high", "status", "ece_best_temperature",
                   "t_best_ece", "confident_errors_val"):
        assert column in row.index, column
    assert row["status"] == status_of(row)
    assert row["p_value_before"] < 0.05                       # the skewed model is visibly miscalibrated
    assert isinstance(report.chosen["skewed"], CalibratedModel)
    # the choice depends on validation only: scrambling the test labels changes nothing about it
    scrambled = calibration_report({"skewed": model}, val, y[val], test, np.roll(y[test], 7), n_boot=50,
                                   n_draws=50, seed=0)
    assert scrambled.table.iloc[0]["calibrator"] == row["calibrator"]
    assert report.cv["skewed"].equals(scrambled.cv["skewed"])


def test_status_order():
    base = {"meets_target": False, "meets_target_chosen": False, "p_value_before": 0.01, "p_value_after": 0.01,
            "p_value_chosen": 0.01}
    assert status_of({**base, "meets_target": True}) == "met (temperature)"
    assert status_of({**base, "meets_target_chosen": True}) == "met (chosen calibrator)"
    assert status_of({**base, "p_value_before": 0.3}) == "already calibrated"
    assert status_of({**base, "p_value_chosen": 0.3}) == "at the noise floor"
    assert status_of(base) == "missed"
    reachable = {**base, "ece_before": 0.03, "ece_best_temperature": 0.014}
    assert status_of(reachable) == "missed"
    assert status_of({**reachable, "ece_best_temperature": 0.024}) == "out of reach of one temperature"


def test_best_temperature_ece_is_a_lower_bound_over_temperatures():
    from medfusion_lib.calibration import apply_temperature, best_temperature_ece, top_label_ece

    y, proba = skewed_case(5, n=800)
    t, ece = best_temperature_ece(y, proba, 15, also=(1.7,))
    for other in (0.5, 1.0, 1.7, 3.0):
        assert ece <= top_label_ece(y, apply_temperature(proba, other), 15) + 1e-12
    # the skewed case is over-confident, so the best temperature softens it
    assert t > 1 and ece < top_label_ece(y, proba, 15) / 2
