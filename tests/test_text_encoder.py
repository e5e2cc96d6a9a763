"""Unit tests for the embedding-bag text encoder (medfusion_lib.text.encoder)."""
import numpy as np
import pytest

from medfusion_lib.text.encoder import TextEncoder

TEXTS = ["fever, chills and a dry cough", "coughing up blood and night sweats", "runny nose and sneezing",
         "fever and myalgia", "night sweats, weight loss", "sore throat, stuffy nose"] * 6
Y = np.array([0, 1, 2, 0, 1, 2] * 6)


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder(dim=8, num_epochs=30, seed=0).fit(TEXTS, Y)


def test_embed_shape_and_learning(encoder):
    emb = encoder.embed(["no fever", "", "night sweats"])
    assert emb.shape == (3, 8) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert (encoder.predict(["coughing up blood", "sneezing and a runny nose"]) == [1, 2]).all()
    proba = encoder.predict_proba(TEXTS[:3])
    assert proba.shape == (3, 3) and np.allclose(proba.sum(axis=1), 1)
    assert encoder.loss_history_[-1] < encoder.loss_history_[0]


def test_same_seed_same_embeddings():
    a = TextEncoder(dim=4, num_epochs=3, seed=1).fit(TEXTS, Y).embed(TEXTS[:5])
    b = TextEncoder(dim=4, num_epochs=3, seed=1).fit(TEXTS, Y).embed(TEXTS[:5])
    c = TextEncoder(dim=4, num_epochs=3, seed=2).fit(TEXTS, Y).embed(TEXTS[:5])
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_save_and_load_round_trip(encoder, tmp_path):
    path = encoder.save(tmp_path / "enc.pt")
    again = TextEncoder.load(path)
    assert np.array_equal(again.embed(TEXTS[:4]), encoder.embed(TEXTS[:4]))
    with pytest.raises(FileNotFoundError, match="fit one"):
        TextEncoder.load(tmp_path / "missing.pt")


def test_bad_input():
    with pytest.raises(ValueError, match="not fitted"):
        TextEncoder().embed(["x"])
    with pytest.raises(ValueError, match="one label per text"):
        TextEncoder().fit(["a", "b"], [0])
    with pytest.raises(TypeError, match="integer class ids"):
        TextEncoder().fit(["a", "b"], ["x", "y"])
    with pytest.raises(TypeError, match="wrap it in a list"):
        TextEncoder().fit("fever", [0])
    with pytest.raises(ValueError, match="zero texts"):
        TextEncoder().fit([], np.array([], dtype=int))


def test_unicode_and_long_text(encoder):
    emb = encoder.embed(["fièvre 🤒 " * 10, "cough " * 50000])
    assert emb.shape == (2, 8) and np.isfinite(emb).all()
