"""Calibration metrics checked against independent implementations (torchmetrics, scikit-learn, plain loops)
on random cases, plus the properties that make them metrics."""
import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss

from medfusion_lib.calibration import (bin_edges, bin_index, brier_score, calibration_summary, classwise_ece,
                                       ece_ci, ece_noise_floor, nll, top_label_ece)


def random_case(seed: int, n: int = 400, k: int = 5, concentration: float = 0.5):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(k, concentration), size=n)
    # labels from a *sharpened* copy, so the model is miscalibrated by a seed-dependent amount
    sharp = proba ** rng.uniform(0.5, 2.0)
    sharp /= sharp.sum(axis=1, keepdims=True)
    y = (rng.random((n, 1)) > np.cumsum(sharp, axis=1)).sum(axis=1).clip(max=k - 1)
    return y, proba


def loop_ece(confidence, correct, edges):
    """A second formula: visit each bin, keep its members, weight |accuracy - confidence| by its share."""
    total = 0.0
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        members = (confidence >= lo) & ((confidence <= hi) if last else (confidence < hi))
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return total


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_bins", [5, 15])
def test_top_label_ece_matches_torchmetrics(seed, n_bins):
    torch = pytest.importorskip("torch")
    from torchmetrics.classification import MulticlassCalibrationError

    y, proba = random_case(seed, k=3 + seed % 4)
    metric = MulticlassCalibrationError(num_classes=proba.shape[1], n_bins=n_bins, norm="l1")
    expected = float(metric(torch.tensor(proba, dtype=torch.float64), torch.tensor(y)))
    assert top_label_ece(y, proba, n_bins) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_equal_width_and_equal_mass_match_a_loop(seed):
    y, proba = random_case(seed)
    confidence, correct = proba.max(1), (proba.argmax(1) == y).astype(float)
    for strategy in ("uniform", "quantile"):
        edges = bin_edges(confidence, 10, strategy)
        assert top_label_ece(y, proba, 10, strategy) == pytest.approx(loop_ece(confidence, correct, edges), abs=1e-12)


def test_equal_mass_bins_hold_equal_numbers():
    y, proba = random_case(3, n=1000)
    confidence = proba.max(1)
    counts = np.bincount(bin_index(confidence, bin_edges(confidence, 10, "quantile")), minlength=10)
    assert counts.min() >= 99 and counts.max() <= 101


@pytest.mark.parametrize("seed", range(4))
def test_classwise_ece_matches_sklearn_calibration_curve(seed):
    y, proba = random_case(seed, k=4)
    per_class = []
    for k in range(proba.shape[1]):
        prob_true, prob_pred = calibration_curve(y == k, proba[:, k], n_bins=10, strategy="uniform")
        # weight each non-empty bin by its size (calibration_curve drops empty bins, as the sums do)
        counts = np.histogram(proba[:, k], bins=np.linspace(0, 1, 11))[0]
        per_class.append((counts[counts > 0] / len(y) * np.abs(prob_true - prob_pred)).sum())
    assert classwise_ece(y, proba, 10) == pytest.approx(np.mean(per_class), abs=1e-9)


def test_a_confident_wrong_model_has_large_ece_and_a_perfect_one_zero():
    y = np.array([0, 1, 2, 0, 1, 2])
    right = np.eye(3)[y]
    wrong = np.eye(3)[(y + 1) % 3]
    assert top_label_ece(y, right) == 0.0 and brier_score(y, right) == 0.0
    assert top_label_ece(y, wrong) == pytest.approx(1.0)
    assert brier_score(y, wrong) == pytest.approx(2.0)


def test_brier_and_nll_by_hand():
    y = np.array([0, 2, 1])
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]])
    onehot = np.eye(3)[y]
    assert brier_score(y, proba) == pytest.approx(((proba - onehot) ** 2).sum(1).mean())
    assert nll(y, proba) == pytest.approx(-np.log(proba[np.arange(3), y]).mean())
    assert nll(y, proba) == pytest.approx(log_loss(y, proba))


def test_ece_ci_narrows_with_more_patients_and_covers_a_large_gap():
    y, proba = random_case(0, n=200)
    small = ece_ci(y, proba, n_boot=200)
    y2, proba2 = random_case(0, n=2000)
    large = ece_ci(y2, proba2, n_boot=200)
    assert small.low <= small.high and large.high - large.low < small.high - small.low
    over = np.eye(4)[np.arange(300) % 4] * 0.9 + 0.025   # 92.5 % sure, right only half the time
    y3 = np.where(np.arange(300) % 2 == 0, np.arange(300) % 4, (np.arange(300) + 1) % 4)
    ci = ece_ci(y3, over, n_boot=200)
    assert ci.low <= ci.estimate <= ci.high and ci.estimate == pytest.approx(0.425)


def test_ece_is_biased_upwards_on_resamples_as_the_docstring_warns():
    y, proba = random_case(0, n=200)
    ci = ece_ci(y, proba, n_boot=200)
    assert (ci.low + ci.high) / 2 > ci.estimate


def test_noise_floor_shrinks_with_patients_and_covers_calibrated_labels():
    rng = np.random.default_rng(5)
    proba = rng.dirichlet(np.ones(4), size=3000)
    floor_small, floor_large = ece_noise_floor(proba[:300]), ece_noise_floor(proba)
    assert floor_large.estimate < floor_small.estimate
    y = (rng.random((3000, 1)) > np.cumsum(proba, 1)).sum(1).clip(max=3)  # calibrated by construction
    assert floor_large.low <= top_label_ece(y, proba) <= floor_large.high


def test_summary_has_every_number():
    y, proba = random_case(1)
    summary = calibration_summary(y, proba)
    assert set(summary) == {"ece", "ece_quantile", "classwise_ece", "brier", "nll", "accuracy", "mean_confidence"}
    assert summary["ece"] == top_label_ece(y, proba)


@pytest.mark.parametrize("bad, message", [
    (lambda y, p: (y, p[:, :1]), "at least two classes"),
    (lambda y, p: (y[:-1], p), "one label per row"),
    (lambda y, p: (y + 10, p), "class indices"),
    (lambda y, p: (y, p * 2), "sum to 1"),
    (lambda y, p: (y, np.log(p)), "NaN, inf or negative"),
    (lambda y, p: (y.astype(float), p), "class indices"),
])
def test_bad_input_is_explained(bad, message):
    y, proba = random_case(0, n=20)
    with pytest.raises(ValueError, match=message):
        top_label_ece(*bad(y, proba))


def test_unknown_bin_strategy():
    y, proba = random_case(0, n=20)
    with pytest.raises(ValueError, match="uniform"):
        top_label_ece(y, proba, strategy="kmeans")
    with pytest.raises(ValueError, match="positive integer"):
        top_label_ece(y, proba, n_bins=0)
