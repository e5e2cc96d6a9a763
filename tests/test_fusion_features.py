"""build_modalities on a small built cohort: alignment with the cohort, the cache, determinism."""
import numpy as np
import pytest

from medfusion_lib.data import VITALS, build_cohort, read_cohort
from medfusion_lib.fusion import features
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
        assert data.features["image"].shape == (len(part), len(feats.classes))  # out-of-fold log-probabilities
        assert (data.features["image"] <= 0).all()
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


def test_old_recipe_still_gives_embeddings(cohort, build_tmp):
    settings = ImageSettings(width=4, size=16, epochs=1, folds=1, output="embedding")
    feats = build_modalities(cohort, seed=0, progress=False, image_settings=settings)
    assert feats.train.features["image"].shape[1] == 4 * settings.width
    assert "in-sample" in feats.info["image_features"]


def test_embeddings_of_several_cnns_are_refused():
    with pytest.raises(ValueError, match="different CNNs"):
        ImageSettings(folds=3, output="embedding")


class _Memoriser:
    """A stand-in CNN that remembers the films it trained on (their bytes)."""

    def __init__(self, images):
        self.seen = {image.tobytes() for image in images}


def _fake_cnn(monkeypatch, log):
    """Replace CNN training by a memoriser and scoring by 'class 0 for films I trained on, uniform otherwise'."""
    from medfusion_lib.vision import evaluate

    def train_cnn(images, labels, val_images, val_labels, n_classes, settings, seed, progress):
        model = _Memoriser(images)
        log.append(model)
        return model

    def predict_proba(model, images, size=None, device=None, batch_size=256):
        k = 6
        proba = np.full((len(images), k), 1.0 / k)
        seen = np.array([image.tobytes() in model.seen for image in images])
        proba[seen] = np.eye(k)[0]
        return proba

    monkeypatch.setattr(features, "_train_cnn", train_cnn)
    monkeypatch.setattr(evaluate, "predict_proba", predict_proba)


def test_training_patients_get_image_features_from_a_cnn_that_never_saw_them(cohort, build_tmp, monkeypatch):
    log = []
    _fake_cnn(monkeypatch, log)
    oof = build_modalities(cohort, seed=0, progress=False, use_cache=False,
                           image_settings=ImageSettings(width=4, size=16, epochs=1, folds=3))
    assert len(log) == 3
    uniform = np.log(1 / 6)
    # a memorising CNN would give log P(class 0) = 0 to a film it trained on: no training patient shows that
    assert np.allclose(oof.train.features["image"], uniform, atol=1e-5)
    # val/test: the average over the fold CNNs, none of which trained on them either
    assert np.allclose(oof.test.features["image"], uniform, atol=1e-5)
    log.clear()
    in_sample = build_modalities(cohort, seed=0, progress=False, use_cache=False,
                                 image_settings=ImageSettings(width=4, size=16, epochs=1, folds=1))
    assert len(log) == 1
    assert np.allclose(in_sample.train.features["image"][:, 0], 0.0, atol=1e-5)  # the leak, made visible


def test_cache_key_includes_the_fold_scheme(cohort, build_tmp):
    build_modalities(cohort, seed=0, progress=False, image_settings=ImageSettings(width=4, size=16, epochs=1,
                                                                                  folds=2))
    other = build_modalities(cohort, seed=0, progress=False, image_settings=ImageSettings(width=4, size=16,
                                                                                          epochs=1, folds=3))
    assert not other.info["image_cached"] and other.info["text_cached"]
    assert "3-fold" in other.info["image_features"]


def test_a_change_in_the_producing_code_misses_the_cache(cohort, build_tmp, monkeypatch, tmp_path):
    """Edit (a copy of) vision/train.py: the image cache must miss, the symptom cache must still hit."""
    import shutil

    from medfusion_lib.fusion import fingerprint

    first = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    again = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    assert again.info["image_cached"] and again.info["text_cached"]

    copy = tmp_path / "train.py"
    shutil.copy(fingerprint.module_path("medfusion_lib.vision.train"), copy)
    real_source = fingerprint._source
    monkeypatch.setattr(fingerprint, "_source",
                        lambda name: copy if name == "medfusion_lib.vision.train" else real_source(name))
    unchanged = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    assert unchanged.info["image_cached"], "the same code must find its cache"
    copy.write_text(copy.read_text() + "\n# the training recipe changed\n")
    changed = build_modalities(cohort, seed=0, progress=False, image_settings=TINY_CNN)
    assert not changed.info["image_cached"], "a cache made by other code must not be read"
    assert changed.info["text_cached"], "the text features' code did not change"
    assert np.allclose(first.train.features["text"], changed.train.features["text"])


def test_code_fingerprint_follows_imports_and_ignores_unrelated_modules(tmp_path, monkeypatch):
    from medfusion_lib.fusion import fingerprint

    package = tmp_path / "medfusion_lib"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from medfusion_lib.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .c import g\n    return g\n")
    (package / "sub" / "c.py").write_text("g = 1\n")
    (package / "unrelated.py").write_text("x = 1\n")
    monkeypatch.setattr(fingerprint, "PACKAGE_ROOT", package)
    assert set(fingerprint.module_closure("medfusion_lib.a")) == {
        "medfusion_lib.a", "medfusion_lib.sub", "medfusion_lib.sub.b", "medfusion_lib.sub.c"}
    before = fingerprint.code_fingerprint("medfusion_lib.a")
    (package / "unrelated.py").write_text("x = 2\n")
    assert fingerprint.code_fingerprint("medfusion_lib.a") == before
    (package / "sub" / "c.py").write_text("g = 2  # a lazily imported helper changed\n")
    assert fingerprint.code_fingerprint("medfusion_lib.a") != before
    with pytest.raises(ValueError, match="no source file"):
        fingerprint.code_fingerprint("medfusion_lib.missing")


def test_no_progress_bars_unless_someone_watches(cohort, build_tmp, capsys, monkeypatch):
    """Under a batch runner (here pytest: stderr is no terminal) the default draws no bar; asking for one does."""
    from medfusion_lib.config import show_progress

    monkeypatch.delenv("MEDFUSION_PROGRESS", raising=False)
    assert not show_progress()
    build_modalities(cohort, seed=0, use_cache=False, image_settings=TINY_CNN)
    assert "symptom extraction" not in capsys.readouterr().err
    build_modalities(cohort, seed=0, use_cache=False, progress=True, image_settings=TINY_CNN)
    assert "symptom extraction" in capsys.readouterr().err
    monkeypatch.setenv("MEDFUSION_PROGRESS", "0")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert not show_progress()


def test_two_processes_needing_one_cache_file_compute_it_once(tmp_path, monkeypatch):
    """The second builder waits on the lock (medfusion_lib.atomic.building) and reads what the first wrote."""
    import threading
    import time

    # a fixed file: the code fingerprint parses source with ast, which CPython 3.11 cannot do in two threads at once
    monkeypatch.setattr(features, "cache_path", lambda name, key: tmp_path / f"{name}-probe.npz")
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.5)  # long enough for the other builder to arrive while this one holds the lock
        return {"x": np.arange(3)}

    results = []
    threads = [threading.Thread(target=lambda: results.append(features._cached("symptoms", {"probe": 1}, compute,
                                                                                 True))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1, "both builders computed the same cache file"
    assert sorted(hit for _arrays, hit in results) == [False, True]
    assert all(np.array_equal(arrays["x"], np.arange(3)) for arrays, _hit in results)
