"""Exact modality Shapley values (efficiency, symmetry, a hand example) and per-patient ablation."""
from __future__ import annotations

import numpy as np
import pytest

from medfusion_lib.explain.shapley import ablation, all_subsets, shapley_values, subset_values
from medfusion_lib.fusion import EarlyFusion, Modalities

PLAYERS = ("text", "image", "vitals")


def test_subsets_and_a_hand_computed_game():
    assert len(all_subsets(PLAYERS)) == 8 and all_subsets(PLAYERS)[0] == frozenset()
    # additive game: each player's value is its own worth
    worth = {"text": 0.5, "image": 0.2, "vitals": 0.1}
    values = {s: sum(worth[p] for p in s) for s in all_subsets(PLAYERS)}
    assert shapley_values(values, PLAYERS) == pytest.approx(worth)
    # two-player game from the textbook: v(a)=1, v(b)=2, v(ab)=6 -> phi_a = 2.5, phi_b = 3.5
    v = {frozenset(): 0, frozenset("a"): 1, frozenset("b"): 2, frozenset("ab"): 6}
    assert shapley_values(v, ["a", "b"]) == pytest.approx({"a": 2.5, "b": 3.5})


def test_efficiency_and_symmetry_on_a_random_game():
    rng = np.random.default_rng(0)
    values = {s: float(rng.random()) for s in all_subsets(PLAYERS)}
    values[frozenset()] = 0.1
    phi = shapley_values(values, PLAYERS)
    assert sum(phi.values()) == pytest.approx(values[frozenset(PLAYERS)] - values[frozenset()])
    # vector values (one per class) work the same way, component by component
    vec = {s: np.array([v, 2 * v]) for s, v in values.items()}
    phi_vec = shapley_values(vec, PLAYERS)
    assert np.allclose(phi_vec["text"], [phi["text"], 2 * phi["text"]])


def test_missing_subset_is_an_error():
    with pytest.raises(ValueError, match="lack"):
        shapley_values({frozenset(): 0.0}, PLAYERS)


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    text = y[:, None] + 0.3 * rng.standard_normal((n, 3))   # informative
    image = rng.standard_normal((n, 4))                       # noise
    vitals = y[:, None] * 0.3 + rng.standard_normal((n, 2))   # weak
    return Modalities({"text": text, "image": image, "vitals": vitals}, np.arange(n)), y


def test_subset_values_with_retrained_models_sum_to_full_minus_empty():
    from medfusion_lib.evaluation import macro_f1

    train, y_train = _toy(300, 0)
    val, y_val = _toy(200, 1)
    values = subset_values(lambda names: EarlyFusion("logreg", modalities=list(names)), train, y_train, val, y_val,
                           macro_f1)
    phi = shapley_values(values, PLAYERS)
    assert sum(phi.values()) == pytest.approx(values[frozenset(PLAYERS)] - values[frozenset()])
    assert phi["text"] > phi["vitals"] > phi["image"] - 0.02
    assert phi["text"] > 0.3


def test_ablation_shows_which_modality_carried_the_prediction():
    train, y = _toy(300, 0)
    model = EarlyFusion("logreg").fit(train, y)
    drop_text = ablation(model, train, "text")
    drop_image = ablation(model, train, "image")
    assert drop_text.shape == (300,)
    assert drop_text.mean() < -0.2 and abs(drop_image.mean()) < 0.05
