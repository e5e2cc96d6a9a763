"""Modalities: alignment checks, presence masks, subsetting, simulated missingness."""
import numpy as np
import pytest

from medfusion_lib.fusion import Modalities
from medfusion_lib.fusion.toy import make_toy_modalities


def test_counts_must_match_patient_ids():
    with pytest.raises(ValueError, match="rows but there are 5 patient ids"):
        Modalities({"text": np.zeros((5, 3)), "image": np.zeros((4, 2))}, np.arange(5))


def test_from_blocks_catches_shuffled_patient_ids():
    ids = np.array(["P1", "P2", "P3"])
    with pytest.raises(ValueError, match="misaligned: row 0 is patient 'P1' in one and 'P2'"):
        Modalities.from_blocks({"text": (ids, np.zeros((3, 2))), "image": (ids[[1, 0, 2]], np.zeros((3, 4)))})
    with pytest.raises(ValueError, match="has 2 patients but 'text' has 3"):
        Modalities.from_blocks({"text": (ids, np.zeros((3, 2))), "image": (ids[:2], np.zeros((2, 4)))})
    ok = Modalities.from_blocks({"text": (ids, np.ones((3, 2))), "image": (ids, np.ones((3, 4)))})
    assert ok.n_features == {"text": 2, "image": 4} and len(ok) == 3


def test_duplicate_ids_and_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="duplicates"):
        Modalities({"text": np.zeros((2, 1))}, np.array(["a", "a"]))
    with pytest.raises(ValueError, match="2-D"):
        Modalities({"image": np.zeros((2, 4, 4))}, np.arange(2))
    with pytest.raises(ValueError, match="non-empty dict"):
        Modalities({}, np.arange(2))


def test_nan_rows_become_absent_and_are_zeroed():
    X = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 4.0]])
    data = Modalities({"vitals": X}, np.arange(3))
    assert data.present["vitals"].tolist() == [True, False, True]
    assert np.all(data.features["vitals"][1] == 0)
    with pytest.raises(ValueError, match="NaN/inf values in rows marked present"):
        Modalities({"vitals": X}, np.arange(3), present={"vitals": np.ones(3, bool)})


def test_absent_rows_carry_no_information():
    data = Modalities({"text": np.full((3, 2), 7.0)}, np.arange(3), present={"text": np.array([1, 0, 1], bool)})
    assert data.features["text"][1].tolist() == [0.0, 0.0]


def test_with_missing_removes_the_asked_fraction_deterministically():
    data, _ = make_toy_modalities(200)
    half = data.with_missing("image", 0.5, seed=3)
    assert half.present["image"].sum() == 100
    assert np.array_equal(half.present["image"], data.with_missing("image", 0.5, seed=3).present["image"])
    assert data.with_missing("image", 1.0).present["image"].sum() == 0
    assert data.present["image"].all()  # the original is untouched
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.with_missing("image", 1.5)
    with pytest.raises(ValueError, match="no modality"):
        data.with_missing("audio", 0.5)


def test_subset_select_and_layout_checks():
    data, _ = make_toy_modalities(50)
    part = data.subset(np.arange(10))
    assert len(part) == 10 and part.patient_ids[0] == data.patient_ids[0]
    assert data.select(["text"]).names == ("text",)
    with pytest.raises(ValueError, match="lacks \\['image', 'vitals'\\]"):
        data.select(["text"]).check_layout(data.layout())
    narrow = Modalities({**data.features, "text": data.features["text"][:, :3]}, data.patient_ids)
    with pytest.raises(ValueError, match="had 12 features at fit time but has 3"):
        narrow.check_layout(data.layout())
