"""build_modalities on a small built cohort: alignment with the cohort, the cache, determinism."""
import numpy as np
import pytest

from medfusion_lib.data import VITALS, build_cohort, read_cohort
from medfusion_lib.fusion.features import ImageSettings, build_modalities, cache_dir, subsample_cohort

TINY_CNN = ImageSettings(width=4, size=16, epochs=1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return read_cohort(build_cohort(tmp_path_factory.mktemp("cohort"), n_patients=240, seed=3))


@pytest.fixture()
def build_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDFUSION_BUILD_DIR", str(tmp_path / "build"))
    return tmp_path / "build"


def test_features_align_with_the_cohort(cohort, build_tmp):
    feats = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    for name in ("train", "val", "test"):
        data, y = feats.split(name)
        part = cohort.split(name)
        assert list(data.patient_ids) == list(part.patients["patient_id"])
        assert np.array_equal(y, part.y)
        assert np.allclose(data.features["vitals"][:, :len(VITALS)], part.patients[list(VITALS)].to_numpy())
        assert data.features["image"].shape == (len(part), 4 * TINY_CNN.width)
        text = data.features["text"]
        half = text.shape[1] // 2
        assert set(np.unique(text)) <= {0.0, 1.0}
        assert not (text[:, :half] * text[:, half:]).any(), "a symptom cannot be stated present and absent"
    assert len(feats.feature_names["text"]) == feats.train.n_features["text"]


def test_cache_is_used_and_safe_to_delete(cohort, build_tmp):
    first = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    assert not first.info["image_cached"]
    second = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    assert second.info["image_cached"] and second.info["text_cached"]
    assert np.array_equal(first.test.features["image"], second.test.features["image"])
    assert cache_dir() == build_tmp / "cache" / "fusion"
    # a damaged cache file is recomputed, not trusted
    for path in cache_dir().glob("image-cnn-*.npz"):
        path.write_bytes(b"not a npz file")
    third = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    assert not third.info["image_cached"]
    assert np.allclose(first.test.features["image"], third.test.features["image"], atol=1e-5)
    # deleting the whole cache only costs recomputation
    import shutil

    shutil.rmtree(cache_dir())
    fourth = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    assert np.allclose(first.train.features["text"], fourth.train.features["text"])


def test_other_seed_other_cache_entry(cohort, build_tmp):
    build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    other = build_modalities(cohort, seed=1, progress=False, image_settings=TINY_CNN)
    assert not other.info["image_cached"]


def test_subsample_keeps_every_class_and_split(cohort):
    small = subsample_cohort(cohort, {"train": 60, "val": 30, "test": 30}, seed=0)
    for name in ("train", "val", "test"):
        part = small.split(name)
        assert len(part) <= {"train": 60, "val": 30, "test": 30}[name] + 6
        assert set(part.y) == set(cohort.split(name).y)
    assert len(small.images) == len(small.patients)


def test_unknown_text_features_is_a_clear_error(cohort, build_tmp):
    with pytest.raises(ValueError, match="unknown text features"):
        build_modalities(cohort, text="bert", progress=False, image_settings=TINY_CNN)
