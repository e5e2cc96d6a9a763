"""The cohort generator: determinism, splits, spans, files, real-image mode and CLI errors."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medfusion_lib.data import DIAGNOSES, VITALS, build_cohort, generate_cohort, load_cohort, read_cohort
from medfusion_lib.errors import UserError

SHARED_NPZ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pneumoniamnist.npz"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return read_cohort(build_cohort(tmp_path_factory.mktemp("c") / "small", n_patients=400, seed=3))


def test_same_seed_gives_identical_bytes(tmp_path):
    a = build_cohort(tmp_path / "a", n_patients=120, seed=7)
    b = build_cohort(tmp_path / "b", n_patients=120, seed=7)
    assert _digest(a) == _digest(b)
    c = build_cohort(tmp_path / "c", n_patients=120, seed=8)
    assert _digest(a)["patients.csv"] != _digest(c)["patients.csv"]


def test_columns_labels_and_images(small):
    p = small.patients
    assert set(p["diagnosis"]) == set(DIAGNOSES)
    for column in ("patient_id", "site", "age", "sex", *VITALS, "narrative", "split", "diagnosis"):
        assert column in p.columns
    assert p["site"].nunique() >= 3
    assert p["patient_id"].is_unique
    assert small.images.shape == (400, 64, 64) and small.images.dtype == np.uint8
    assert small.y.dtype == np.int64 and small.y.max() < len(DIAGNOSES)
    assert (p["narrative"].str.len() > 10).all()
    assert p["spo2"].between(75, 100).all() and p["temperature_c"].between(35.5, 41).all()


def test_splits_are_disjoint_and_stratified(small):
    p = small.patients
    assert set(p["split"]) == {"train", "val", "test"}
    for name in ("train", "val", "test"):
        part = small.split(name)
        assert set(part.patients["diagnosis"]) == set(DIAGNOSES), f"a class is missing from {name}"
        assert len(part.images) == len(part.patients)
    ids = [set(small.split(n).patients["patient_id"]) for n in ("train", "val", "test")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert abs((p["split"] == "train").mean() - 0.70) < 0.05


def test_spans_point_at_the_text_they_record(small):
    texts = dict(zip(small.patients["patient_id"], small.patients["narrative"]))
    assert len(small.spans) > len(small.patients)
    for row in small.spans.itertuples():
        assert texts[row.patient_id][row.start:row.end] == row.text
    assert small.spans["negated"].any() and not small.spans["negated"].all()
    assert small.spans["concept_id"].str.match(r"HP:\d{7}$").all()


def test_label_noise_is_small_and_recorded(small):
    p = small.patients
    flipped = p["diagnosis"] != p["true_diagnosis"]
    assert (flipped == p["label_noise"]).all()
    assert 0 < flipped.mean() < 0.08


def test_image_size_is_configurable():
    cohort = generate_cohort(n_patients=60, seed=0, image_size=32)
    assert cohort.images.shape == (60, 32, 32)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_patients": -5}, "n_patients"),
    ({"n_patients": 10}, "at least 60"),
    ({"seed": -1}, "seed"),
    ({"source": "mri"}, "unknown source"),
    ({"image_size": 3}, "image_size"),
])
def test_bad_parameters_are_refused_before_writing(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        build_cohort(tmp_path / "out", **{"n_patients": 100, **kwargs})
    assert not (tmp_path / "out").exists()


def test_load_cohort_builds_once_and_rebuilds_on_new_params(tmp_path):
    folder = tmp_path / "lc"
    first = load_cohort(folder, n_patients=80, seed=1)
    stamp = (folder / "images.npz").stat().st_mtime_ns
    assert len(load_cohort(folder)) == 80
    assert (folder / "images.npz").stat().st_mtime_ns == stamp
    assert len(load_cohort(folder, n_patients=90, seed=1)) == 90
    assert len(first) == 80


def test_read_cohort_explains_a_missing_folder(tmp_path):
    with pytest.raises(UserError, match="medfusion data build"):
        read_cohort(tmp_path / "nothing")


@pytest.mark.skipif(not SHARED_NPZ.is_file(), reason="../shared/data/pneumoniamnist.npz not present")
def test_real_image_mode_pairs_real_films(tmp_path):
    folder = build_cohort(tmp_path / "real", n_patients=600, seed=0, source="pneumoniamnist",
                          medmnist_npz=SHARED_NPZ)
    cohort = read_cohort(folder)
    assert cohort.images.shape[1:] == (28, 28)
    assert set(cohort.patients["diagnosis"]) <= {"upper_respiratory_infection", "acute_bronchitis",
                                                 "bacterial_pneumonia", "viral_pneumonia"}
    assert set(cohort.patients["split"]) == {"train", "val", "test"}
    assert "PneumoniaMNIST" in (folder / "datasheet.md").read_text()
    # each patient's film is a real film of its kind, taken from the official split of the same name
    with np.load(SHARED_NPZ) as real:
        for i in range(0, 600, 97):
            row = cohort.patients.iloc[i]
            films = real[f"{row['split']}_images"][real[f"{row['split']}_labels"].ravel() ==
                                                  int("pneumonia" in row["true_diagnosis"])]
            assert any(np.array_equal(cohort.images[i], f) for f in films)


@pytest.mark.skipif(not SHARED_NPZ.is_file(), reason="../shared/data/pneumoniamnist.npz not present")
def test_truncated_real_file_is_refused_and_nothing_written(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(SHARED_NPZ.read_bytes()[:100_000])
    out = tmp_path / "out"
    result = _cli("data", "build", "--source", "pneumoniamnist", "--medmnist-npz", str(broken), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "medfusion_lib.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, needle", [
    (["--n-patients", "-3"], "at least 60"),
    (["--source", "ct"], "invalid choice"),
    (["--medmnist-npz", "/no/such.npz", "--source", "pneumoniamnist"], "no such file"),
    (["--seed", "x"], "whole number"),
])
def test_cli_misuse_is_one_line_exit_2(tmp_path, args, needle):
    out = tmp_path / "out"
    result = _cli("data", "build", "--out", str(out), *args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()


def test_cli_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _cli("data", "build", "--out", str(blocker / "sub"), "--n-patients", "60")
    assert result.returncode == 2 and "cannot write" in result.stderr


def test_cli_build_then_info(tmp_path):
    out = tmp_path / "c"
    assert _cli("data", "build", "--out", str(out), "--n-patients", "120").returncode == 0
    again = _cli("data", "build", "--out", str(out), "--n-patients", "120")
    assert again.returncode == 0 and "up to date" in again.stdout
    info = _cli("data", "info", str(out))
    assert info.returncode == 0
    assert "bacterial_pneumonia" in info.stdout and "Riverside" in info.stdout
    assert (out / "grid.png").read_bytes()[:4] == b"\x89PNG"
    shutil.rmtree(out)


def test_default_size_follows_the_source():
    from medfusion_lib.data.cohort import DEFAULT_N_PATIENTS, default_n_patients

    # real-image mode pairs every patient with a distinct real normal film: 4,000 would not fit the 1,583 there are
    assert default_n_patients("synthetic") == DEFAULT_N_PATIENTS
    assert default_n_patients("pneumoniamnist") == 2400
