"""MedMNIST loader: the real file loads, and every kind of broken file gets a clear UserError."""
from __future__ import annotations

import numpy as np
import pytest

from medfusion_lib.config import repo_root
from medfusion_lib.data import medmnist
from medfusion_lib.data.medmnist import fetch_medmnist, file_md5, find_medmnist, load_medmnist_npz
from medfusion_lib.errors import UserError

REAL = repo_root().parent / "shared" / "data" / "pneumoniamnist.npz"
needs_real = pytest.mark.skipif(not REAL.is_file(), reason=f"real PneumoniaMNIST not at {REAL}")


def _fake_arrays(sizes=(40, 8, 10), side=28, n_classes=2, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(medmnist.SPLITS, sizes):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % n_classes).astype(np.uint8)[:, None]
    return arrays


def _save(tmp_path, arrays, name="fake.npz"):
    path = tmp_path / name
    np.savez_compressed(path, **arrays)
    return path


@needs_real
def test_real_file_loads_with_official_structure():
    splits = load_medmnist_npz(REAL, flag="pneumoniamnist", size=28)
    assert list(splits) == ["train", "val", "test"]
    counts = {s: np.bincount(y, minlength=2).tolist() for s, (_x, y) in splits.items()}
    assert counts == {"train": [1214, 3494], "val": [135, 389], "test": [234, 390]}
    for images, labels in splits.values():
        assert images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (28, 28)
        assert labels.dtype == np.int64 and labels.ndim == 1


@needs_real
def test_truncated_real_file_is_named_as_truncated(tmp_path):
    cut = tmp_path / "pneumoniamnist.npz"
    cut.write_bytes(REAL.read_bytes()[: REAL.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated"):
        load_medmnist_npz(cut)


def test_generic_layout_loads_without_a_flag(tmp_path):
    path = _save(tmp_path, _fake_arrays())
    splits = load_medmnist_npz(path, flag=None)
    assert [len(y) for _x, y in splits.values()] == [40, 8, 10]


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.pop("val_labels"), "lacks the MedMNIST keys val_labels"),
    (lambda a: a.update(train_images=a["train_images"].astype(np.float32)), "dtype float32"),
    (lambda a: a.update(test_images=np.zeros((10, 28, 28, 3), np.uint8)), "grayscale"),
    (lambda a: a.update(test_images=np.zeros((10, 28, 30), np.uint8)), "28x30"),
    (lambda a: a.update(val_labels=np.zeros((7, 1), np.uint8)), "7 labels for 8 images"),
    (lambda a: a.update(val_labels=np.zeros((8, 3), np.uint8)), "multi-label"),
    (lambda a: a.update(val_labels=np.full((8, 1), 0.5)), "integer class indices"),
    (lambda a: a.update(val_labels=np.full((8, 1), -1, np.int64)), "negative"),
    (lambda a: a.update(test_images=np.zeros((10, 32, 32), np.uint8)), "different image sizes"),
])
def test_broken_layouts_say_what_is_wrong(tmp_path, mutate, message):
    arrays = _fake_arrays()
    mutate(arrays)
    with pytest.raises(UserError, match=message):
        load_medmnist_npz(_save(tmp_path, arrays), flag=None)


def test_official_split_sizes_and_label_range_are_checked(tmp_path):
    with pytest.raises(UserError, match="official pneumoniamnist train split has 4708"):
        load_medmnist_npz(_save(tmp_path, _fake_arrays()), flag="pneumoniamnist")
    arrays = _fake_arrays(sizes=(4708, 524, 624), n_classes=3)
    with pytest.raises(UserError, match=r"classes 0\.\.1"):
        load_medmnist_npz(_save(tmp_path, arrays), flag="pneumoniamnist")
    with pytest.raises(UserError, match="expected 64x64"):
        load_medmnist_npz(_save(tmp_path, _fake_arrays(sizes=(4708, 524, 624))), size=64)


def test_missing_garbage_and_unknown_inputs(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_medmnist_npz(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(UserError, match="not a complete MedMNIST"):
        load_medmnist_npz(junk)
    with pytest.raises(UserError, match="unknown MedMNIST flag"):
        load_medmnist_npz(junk, flag="chestmnist")


def test_find_medmnist_env_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDFUSION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(medmnist.NPZ_ENV, raising=False)
    assert find_medmnist("pneumoniamnist") is None
    cached = tmp_path / "data" / "medmnist" / "pneumoniamnist_64.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert find_medmnist("pneumoniamnist", size=64) == cached.resolve()
    monkeypatch.setenv(medmnist.NPZ_ENV, str(tmp_path / "typo.npz"))
    with pytest.raises(UserError, match="not a file"):
        find_medmnist()


def test_fetch_verifies_md5_and_writes_atomically(tmp_path):
    """Download path exercised offline through a file:// URL."""
    source = _save(tmp_path, _fake_arrays(sizes=(4708, 524, 624)), name="source.npz")
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="MD5"):
        fetch_medmnist(cache_dir=cache, url=source.as_uri(), md5="0" * 32, progress=False)
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written
    got = fetch_medmnist(cache_dir=cache, url=source.as_uri(), md5=file_md5(source), progress=False)
    assert got == cache / "pneumoniamnist.npz" and file_md5(got) == file_md5(source)
    with pytest.raises(UserError, match="could not download"):
        fetch_medmnist(cache_dir=tmp_path / "c2", url=(tmp_path / "absent.npz").as_uri(), progress=False)
