"""The end-to-end joint model from pixels: interface, learning from the film, gradients to the pixels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from medfusion_lib.fusion import Modalities
from medfusion_lib.fusion.joint import PixelJointFusion, film_modalities, lookup_rows, without_inplace

SIZE = 16


def _films(y: np.ndarray, rng) -> np.ndarray:
    """(n, SIZE*SIZE) films in [0, 1]: class 1 has a bright square on the left, class 0 on the right."""
    films = 0.2 + 0.05 * rng.random((len(y), SIZE, SIZE))
    for i, label in enumerate(y):
        c = 2 if label == 1 else 10
        films[i, 6:10, c:c + 4] = 0.9
    return films.reshape(len(y), -1).astype(np.float32)


def _data(n: int, seed: int) -> tuple[Modalities, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return Modalities({"text": rng.standard_normal((n, 3)), "image": _films(y, rng),
                       "vitals": rng.standard_normal((n, 2))}, np.arange(n)), y


@pytest.fixture(scope="module")
def fitted():
    train, y = _data(160, 0)
    model = PixelJointFusion(size=SIZE, width=4, hidden=8, num_epochs=6, lr=1e-2, modality_dropout=0.0, seed=0)
    return model.fit(train, y)


def test_learns_from_the_film(fitted):
    test, y = _data(80, 1)
    proba = fitted.predict_proba(test)
    assert proba.shape == (80, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert (fitted.predict(test) == y).mean() > 0.9  # text and vitals are noise: only the film can tell


def test_gradients_reach_the_pixels(fitted):
    test, y = _data(4, 2)
    films = fitted.films(test).requires_grad_(True)
    logits = fitted.film_forward(test)(films)
    logits[:, 1].sum().backward()
    grad = films.grad[:, 0]
    assert grad.abs().sum() > 0
    # the evidence sits on the squares: more gradient there than in the empty top rows
    assert grad[:, 6:10].abs().mean() > grad[:, :3].abs().mean()


def test_no_inplace_activations(fitted):
    assert not any(getattr(m, "inplace", False) for m in fitted.net_.modules())
    net = without_inplace(nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(1, 1, 1)))
    assert net[0].inplace is False


def test_same_seed_same_model():
    train, y = _data(60, 3)
    a = PixelJointFusion(size=SIZE, width=2, hidden=4, num_epochs=2, seed=5).fit(train, y)
    b = PixelJointFusion(size=SIZE, width=2, hidden=4, num_epochs=2, seed=5).fit(train, y)
    assert np.array_equal(a.predict_proba(train), b.predict_proba(train))


def test_runs_on_its_threads_and_restores_the_callers(monkeypatch):
    import torch

    from medfusion_lib.fusion import joint

    seen = []
    original = joint.FilmJointNet.forward_all
    monkeypatch.setattr(joint.FilmJointNet, "forward_all",
                        lambda self, xs, present: (seen.append(torch.get_num_threads()), original(self, xs, present))[1])
    train, y = _data(40, 4)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = PixelJointFusion(size=SIZE, width=2, hidden=4, num_epochs=1, seed=0, num_threads=1).fit(train, y)
        model.predict_proba(train)
        assert seen and set(seen) == {1}           # every forward pass, training and prediction
        assert torch.get_num_threads() == 2        # the caller's setting is back
        seen.clear()
        PixelJointFusion(size=SIZE, width=2, hidden=4, num_epochs=1, seed=0, num_threads=None).fit(train, y)
        assert set(seen) == {2}                    # None leaves the caller's setting alone
    finally:
        torch.set_num_threads(before)


def test_missing_modalities_and_validation(fitted):
    test, _ = _data(10, 4)
    proba = fitted.predict_proba(test.with_missing("image", 1.0))
    assert np.allclose(proba.sum(axis=1), 1.0)
    train, y = _data(60, 5)
    val, y_val = _data(30, 6)
    model = PixelJointFusion(size=SIZE, width=2, hidden=4, num_epochs=3).fit(train, y, val, y_val)
    assert len(model.history_) == 3


def test_clear_errors():
    train, y = _data(40, 7)
    with pytest.raises(ValueError, match="size=8 needs 64"):
        PixelJointFusion(size=8).fit(train, y)
    embeddings = Modalities({"text": train.features["text"], "image": np.full((40, 256), 3.0)}, np.arange(40))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PixelJointFusion(size=SIZE).fit(embeddings, y)
    with pytest.raises(ValueError, match="film_modalities"):
        PixelJointFusion(size=SIZE).fit(train.select(["text", "vitals"]), y)


def test_film_modalities_matches_patients_by_id():
    from medfusion_lib.data import generate_cohort

    cohort = generate_cohort(60, seed=1)
    ids = cohort.patients["patient_id"].to_numpy()[[7, 3]]
    data = Modalities({"text": np.zeros((2, 2)), "image": np.zeros((2, 5))}, ids)
    films = film_modalities(cohort, data, size=32)
    assert films.n_features == {"text": 2, "image": 32 * 32}
    assert films.names == ("text", "image")
    full = film_modalities(cohort, data, size=64).features["image"].reshape(2, 64, 64)
    assert np.allclose(full[0], cohort.images[7] / 255.0, atol=1e-6)
    assert lookup_rows(cohort, ids).tolist() == [7, 3]
    with pytest.raises(ValueError, match="not in this cohort"):
        lookup_rows(cohort, ["nobody"])
