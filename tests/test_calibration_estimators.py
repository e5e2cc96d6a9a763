"""Less biased ECE estimators and the consistency test: checked against torchmetrics and plain loops, and on
simulated models whose true calibration error is known (0 for a calibrated one, 0.2 for a fixed gap)."""
import numpy as np
import pytest

from medfusion_lib.calibration import (ESTIMATORS, calibration_test, consistency_draws, debiased_ece, ece_noise_floor,
                                       ece_sweep, plugin_l2_ece, sweep_bins, top_label_ece)
from medfusion_lib.calibration.metrics import bin_edges, bin_index


def calibrated_case(seed: int, n: int = 600, k: int = 4, concentration: float = 0.3):
    """A model that is calibrated by construction: each label is drawn from the model's own probabilities."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(k, concentration), size=n)
    return consistency_draws(proba, 1, seed + 100)[0], proba


def fixed_gap_case(seed: int, n: int = 2000, confidence: float = 0.9, accuracy: float = 0.7):
    """Every patient gets top probability 0.9 but is right 70 % of the time: the true L1 and L2 gap are 0.2."""
    rng = np.random.default_rng(seed)
    proba = np.column_stack([np.full(n, confidence), np.full(n, 1 - confidence)])
    y = (rng.random(n) > accuracy).astype(int)
    return y, proba


@pytest.mark.parametrize("seed", range(5))
def test_plugin_l2_matches_torchmetrics(seed):
    torch = pytest.importorskip("torch")
    from torchmetrics.classification import MulticlassCalibrationError

    y, proba = calibrated_case(seed)
    proba = proba ** 1.5 / (proba ** 1.5).sum(1, keepdims=True)   # some miscalibration
    metric = MulticlassCalibrationError(num_classes=proba.shape[1], n_bins=15, norm="l2")
    expected = float(metric(torch.tensor(proba, dtype=torch.float64), torch.tensor(y)))
    assert plugin_l2_ece(y, proba, 15, "uniform") == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_debiased_matches_a_loop(seed):
    y, proba = calibrated_case(seed, n=300)
    proba = proba ** 0.7 / (proba ** 0.7).sum(1, keepdims=True)
    conf, correct = proba.max(1), (proba.argmax(1) == y).astype(float)
    ids = bin_index(conf, bin_edges(conf, 10, "quantile"))
    total = 0.0
    for b in np.unique(ids):
        m = ids == b
        acc, c, size = correct[m].mean(), conf[m].mean(), m.sum()
        total += size / len(y) * ((acc - c) ** 2 - (acc * (1 - acc) / (size - 1) if size > 1 else 0.0))
    assert debiased_ece(y, proba, 10) == pytest.approx(np.sqrt(max(total, 0.0)), abs=1e-12)


def test_debiasing_removes_most_of_the_noise_on_a_calibrated_model():
    plugin, debiased, l1 = [], [], []
    for seed in range(30):
        y, proba = calibrated_case(seed)
        plugin.append(plugin_l2_ece(y, proba))
        debiased.append(debiased_ece(y, proba))
        l1.append(top_label_ece(y, proba))
    # the true error is 0; the plug-in estimates are all clearly above it, the debiased ones far closer
    assert min(plugin) > 0.02 and np.mean(l1) > 0.02
    assert np.mean(debiased) < 0.5 * np.mean(plugin)


def test_debiased_recovers_a_known_gap():
    values = [debiased_ece(*fixed_gap_case(seed)) for seed in range(10)]
    assert np.mean(values) == pytest.approx(0.2, abs=0.01)


def test_sweep_bins_and_value():
    confidence = np.linspace(0.55, 0.99, 100)
    # right, wrong, right, wrong, ... in blocks of 20: two equal-mass bins rise (0.4 -> 0.6), three do not
    correct = np.tile(np.repeat([1.0, 0.0], 10), 5)
    correct[60:] = 1.0
    b = sweep_bins(confidence, correct)
    accuracies = [c.mean() for c in np.array_split(correct, b)]
    assert np.all(np.diff(accuracies) >= 0)
    assert np.any(np.diff([c.mean() for c in np.array_split(correct, b + 1)]) < 0)
    y = np.where(correct == 1, 0, 1)
    proba = np.column_stack([confidence, 1 - confidence])
    expected = sum(abs(c.sum() - p.sum()) for c, p in zip(np.array_split(correct, b), np.array_split(confidence, b)))
    assert ece_sweep(y, proba) == pytest.approx(expected / 100, abs=1e-12)
    # a fixed-gap model has one confidence: every bin has the same expected accuracy; the estimate is ~0.2
    assert ece_sweep(*fixed_gap_case(0)) == pytest.approx(0.2, abs=0.03)


def test_sweep_is_less_biased_than_15_bins_on_calibrated_models():
    sweep = [ece_sweep(*calibrated_case(seed)) for seed in range(20)]
    binned = [top_label_ece(*calibrated_case(seed)) for seed in range(20)]
    assert np.mean(sweep) < np.mean(binned)


def test_consistency_draws_follow_the_probabilities():
    proba = np.tile([0.2, 0.5, 0.3], (5000, 1))
    draws = consistency_draws(proba, 2, seed=1)
    assert draws.shape == (2, 5000)
    assert np.bincount(draws[0], minlength=3) / 5000 == pytest.approx([0.2, 0.5, 0.3], abs=0.02)
    with pytest.raises(ValueError, match="n_draws"):
        consistency_draws(proba, 0)


def test_noise_floor_uses_the_same_draws():
    _, proba = calibrated_case(3)
    draws = consistency_draws(proba, 40, seed=7)
    values = [top_label_ece(d, proba) for d in draws]
    floor = ece_noise_floor(proba, 15, n_draws=40, seed=7)
    assert floor.estimate == pytest.approx(np.median(values))


def test_calibration_test_separates_calibrated_from_miscalibrated():
    p_calibrated = [calibration_test(*calibrated_case(seed), n_draws=99, seed=seed)["ece"].p_value
                    for seed in range(10)]
    y, proba = calibrated_case(11)
    sharp = proba ** 2 / (proba ** 2).sum(1, keepdims=True)   # over-confident copy of a calibrated model
    tests = calibration_test(y, sharp, n_draws=99, seed=0)
    assert set(tests) == set(ESTIMATORS)
    assert all(t.p_value <= 0.02 for t in tests.values())
    assert all(t.floor_low <= t.floor <= t.floor_high for t in tests.values())
    assert np.mean(np.array(p_calibrated) >= 0.05) >= 0.7   # a valid test rejects a calibrated model rarely
