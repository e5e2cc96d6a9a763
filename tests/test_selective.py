"""Selective prediction: the risk-coverage curve by hand, the referral threshold chosen for a target accuracy,
and the operating point it gives."""
import numpy as np
import pytest

from medfusion_lib.selective import (area_under_risk_coverage, choose_referral_threshold, referral_operating_point,
                                     risk_coverage_curve)


def case():
    # confidences 0.9, 0.8, 0.8, 0.6, 0.5 (two tied); correct: yes, yes, no, yes, no
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.6, 0.4], [0.5, 0.5]])
    y = np.array([0, 1, 1, 0, 1])
    return y, proba


def test_curve_by_hand():
    y, proba = case()
    curve = risk_coverage_curve(y, proba)
    assert curve["threshold"].tolist() == [0.9, 0.8, 0.6, 0.5]
    assert curve["n_accepted"].tolist() == [1, 3, 4, 5]
    assert np.allclose(curve["accuracy"], [1, 2 / 3, 3 / 4, 3 / 5])
    assert np.allclose(curve["coverage"] + 0, [0.2, 0.6, 0.8, 1.0])
    assert np.allclose(curve["risk"], 1 - curve["accuracy"])


def test_threshold_for_a_target_accuracy():
    y, proba = case()
    assert choose_referral_threshold(y, proba, 0.75) == 0.6      # the most coverage reaching 75 %
    assert choose_referral_threshold(y, proba, 0.7) == 0.6
    assert choose_referral_threshold(y, proba, 0.6) == 0.5       # everyone
    assert choose_referral_threshold(y, proba, 1.0) == 0.9
    with pytest.raises(ValueError, match="target_accuracy"):
        choose_referral_threshold(y, proba, 1.5)
    with pytest.raises(ValueError, match="no confidence threshold"):
        choose_referral_threshold(np.array([1, 1]), np.array([[0.9, 0.1], [0.6, 0.4]]), 0.9)


def test_operating_point():
    y, proba = case()
    point = referral_operating_point(y, proba, 0.6)
    assert point == {"threshold": 0.6, "coverage": 0.8, "n_answered": 4, "n_referred": 1, "accuracy_answered": 0.75,
                     "accuracy_referred": 0.0, "accuracy_all": 0.6}
    nobody = referral_operating_point(y, proba, 2.0)
    assert nobody["coverage"] == 0 and np.isnan(nobody["accuracy_answered"])
    with pytest.raises(ValueError, match="threshold"):
        referral_operating_point(y, proba, float("nan"))


def test_aurc_rewards_confidence_that_ranks_errors_last():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    good = np.full((400, 3), 0.1)
    wrong = rng.random(400) < 0.3
    pred = np.where(wrong, (y + 1) % 3, y)
    conf = np.where(wrong, 0.45, 0.9)           # errors are the least confident
    good[np.arange(400), pred] = conf
    good /= good.sum(1, keepdims=True)
    bad = good.copy()
    bad[np.arange(400), pred] = np.where(wrong, 0.9, 0.45)  # errors the most confident
    bad /= bad.sum(1, keepdims=True)
    assert area_under_risk_coverage(y, good) < area_under_risk_coverage(y, bad)
    # AURC of a constant confidence is the plain error rate
    flat = np.full((400, 3), 1 / 3)
    flat_curve = risk_coverage_curve(y, flat)
    assert len(flat_curve) == 1 and area_under_risk_coverage(y, flat) == pytest.approx(flat_curve["risk"].iloc[0])


def test_chosen_threshold_reaches_the_target_on_the_patients_it_was_chosen_on():
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(4), size=500)
    y = (rng.random((500, 1)) > np.cumsum(proba, 1)).sum(1).clip(max=3)
    for target in (0.6, 0.7, 0.8):
        t = choose_referral_threshold(y, proba, target)
        point = referral_operating_point(y, proba, t)
        assert point["accuracy_answered"] >= target
        # one step lower (more coverage) misses the target
        lower = proba.max(1)[proba.max(1) < t]
        if len(lower):
            assert referral_operating_point(y, proba, lower.max())["accuracy_answered"] < target
