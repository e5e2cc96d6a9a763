"""evaluation.py's fast metrics equal scikit-learn's, and its bootstrap intervals cover a known answer."""
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from medfusion_lib.evaluation import (accuracy, balanced_accuracy, bootstrap_ci, macro_auc, macro_f1,
                                      paired_bootstrap_diff)


def _case(rng, n=60, k=5):
    """Labels over k classes where some classes are missing from y_true or y_pred (as in a resample)."""
    present_true = rng.choice(k, size=rng.integers(2, k + 1), replace=False)
    y_true = rng.choice(present_true, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
    proba = np.round(rng.dirichlet(np.ones(k), size=n), 1)  # rounding makes ties, which AUC must handle
    return y_true, y_pred, proba


@pytest.mark.parametrize("seed", range(25))
def test_label_metrics_equal_scikit_learn(seed):
    y_true, y_pred, _ = _case(np.random.default_rng(seed))
    assert macro_f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about predicted classes absent from y_true
        expected = skm.balanced_accuracy_score(y_true, y_pred)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(expected)
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("seed", range(25))
def test_macro_auc_equals_scikit_learn_over_present_classes(seed):
    y_true, _, proba = _case(np.random.default_rng(100 + seed))
    present = [k for k in range(proba.shape[1]) if 0 < (y_true == k).sum() < len(y_true)]
    expected = np.mean([skm.roc_auc_score(y_true == k, proba[:, k]) for k in present])
    assert macro_auc(y_true, proba) == pytest.approx(expected)


def test_probabilities_are_turned_into_labels_by_argmax():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert macro_f1([0, 1, 1], proba) == pytest.approx(skm.f1_score([0, 1, 1], [0, 1, 0], average="macro"))


def test_bootstrap_ci_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hit_rate, covered = 0.7, 0
    metric = lambda y, s: float(np.mean(y == s))  # noqa: E731 - a fast accuracy for 200 x 300 resamples
    for trial in range(200):
        y = np.zeros(150, dtype=int)
        correct = rng.random(150) < hit_rate
        ci = bootstrap_ci(metric, y, np.where(correct, 0, 1), n_boot=300, seed=trial)
        covered += ci.low <= hit_rate <= ci.high
    assert 0.88 <= covered / 200 <= 0.99, covered


def test_paired_difference_covers_a_known_gap_and_is_zero_for_identical_models():
    rng = np.random.default_rng(1)
    metric = lambda y, s: float(np.mean(y == s))  # noqa: E731
    covered = 0
    for trial in range(150):
        y = np.zeros(200, dtype=int)
        a = np.where(rng.random(200) < 0.8, 0, 1)
        b = np.where(rng.random(200) < 0.7, 0, 1)
        diff = paired_bootstrap_diff(metric, y, a, b, n_boot=300, seed=trial)
        covered += diff.low <= 0.1 <= diff.high
    assert 0.87 <= covered / 150 <= 0.99, covered
    same = paired_bootstrap_diff(metric, y, a, a, n_boot=100)
    assert same.diff == same.low == same.high == 0.0 and same.p_value == 1.0


def test_misaligned_predictions_are_refused():
    with pytest.raises(ValueError, match="aligned"):
        bootstrap_ci(macro_f1, [0, 1, 1], [0, 1])
