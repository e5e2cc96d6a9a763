"""Temperature scaling: never worse on the data it is fitted on, agrees with scikit-learn, keeps the diagnosis,
and recovers a known temperature."""
import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from medfusion_lib.calibration import (TemperatureScaled, apply_temperature, fit_temperature, nll,
                                       nll_at_temperature, sklearn_temperature, top_label_ece)
from medfusion_lib.fusion import EarlyFusion, LateFusion
from medfusion_lib.fusion.toy import make_toy_modalities


def calibrated_case(seed: int, n: int = 2000, k: int = 4):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(k) * 0.7, size=n)
    y = (rng.random((n, 1)) > np.cumsum(proba, 1)).sum(1).clip(max=k - 1)
    return y, proba


@pytest.mark.parametrize("true_t", [0.4, 1.0, 2.5])
def test_recovers_a_known_temperature(true_t):
    y, proba = calibrated_case(0)
    distorted = apply_temperature(proba, 1 / true_t)  # sharpen (or soften) the honest probabilities
    assert fit_temperature(y, distorted) == pytest.approx(true_t, rel=0.15)


@pytest.mark.parametrize("seed", range(12))
def test_never_worsens_validation_nll(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(20, 400)), int(rng.integers(2, 7))
    proba = rng.dirichlet(np.full(k, rng.uniform(0.1, 3)), size=n)
    y = rng.integers(0, k, size=n)
    y[:2] = [0, 1]
    t = fit_temperature(y, proba)
    assert nll_at_temperature(y, proba, t) <= nll_at_temperature(y, proba, 1.0) + 1e-12
    assert nll(y, apply_temperature(proba, t)) <= nll(y, proba) + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_sklearn_temperature(seed):
    y, proba = calibrated_case(seed, n=600)
    distorted = apply_temperature(proba, [0.5, 0.8, 1.5, 3.0][seed])
    assert fit_temperature(y, distorted) == pytest.approx(sklearn_temperature(y, distorted), rel=1e-3)


def test_agrees_with_sklearn_on_a_real_frozen_classifier():
    """Where scikit-learn applies directly (an array model with decision_function), its T on the logits equals
    ours on the probabilities: log p and the logits differ by a per-row constant."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 6))
    y = (X[:, :3] @ rng.normal(size=(3, 3)) + rng.normal(scale=2, size=(900, 3))).argmax(1)
    model = LogisticRegression(C=100).fit(X[:300], y[:300])
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature").fit(X[300:], y[300:])
    theirs = 1 / float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_)
    ours = fit_temperature(y[300:], model.predict_proba(X[300:]))
    assert ours == pytest.approx(theirs, rel=1e-3)
    assert np.allclose(apply_temperature(model.predict_proba(X[300:]), ours), calibrated.predict_proba(X[300:]),
                       atol=1e-4)


def test_scaling_keeps_the_diagnosis_and_sums_to_one():
    y, proba = calibrated_case(1, n=300)
    for t in (0.2, 1.0, 7.0):
        scaled = apply_temperature(proba, t)
        assert (scaled.argmax(1) == proba.argmax(1)).all()
        assert np.allclose(scaled.sum(1), 1)
    assert np.allclose(apply_temperature(proba, 1.0), proba)


def test_temperature_scaled_wraps_a_fusion_model():
    data, y = make_toy_modalities(600, seed=2, noise=0.6)
    train, val, test = data.subset(np.arange(200)), data.subset(np.arange(200, 400)), data.subset(np.arange(400, 600))
    model = LateFusion("mean", n_folds=3).fit(train, y[:200])
    scaled = TemperatureScaled(model).fit(val, y[200:400])
    assert scaled.temperature_ < 1  # averaging agreeing-but-partial experts is under-confident
    assert (scaled.predict(test) == model.predict(test)).all()
    assert top_label_ece(y[400:], scaled.predict_proba(test)) < top_label_ece(y[400:], model.predict_proba(test))
    with pytest.raises(RuntimeError, match="fitted"):
        TemperatureScaled(EarlyFusion()).fit(val, y[200:400])
    with pytest.raises(RuntimeError, match="not fitted"):
        TemperatureScaled(model).predict_proba(test)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_temperature(bad):
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(np.full((2, 2), 0.5), bad)


def test_one_class_cannot_fit_a_temperature():
    with pytest.raises(ValueError, match="two classes"):
        fit_temperature(np.zeros(5, dtype=int), np.full((5, 3), 1 / 3))
