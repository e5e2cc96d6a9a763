"""DICOM helpers on the example files that ship with pydicom (offline)."""
from __future__ import annotations

import numpy as np
import pytest

from medfusion_lib.vision import dicom


@pytest.fixture(scope="module")
def ct():
    return dicom.read_dicom(dicom.example_path("ct"))


def test_hounsfield_units_follow_slope_and_intercept(ct):
    hu = dicom.to_hounsfield(ct)
    assert hu.shape == (128, 128) and hu.dtype == np.float32
    expected = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    assert np.allclose(hu, expected)
    with pytest.raises(ValueError, match="defined for CT"):
        dicom.to_hounsfield(dicom.read_dicom(dicom.example_path("mr")))


def test_windows_clip_to_unit_range(ct):
    hu = dicom.to_hounsfield(ct)
    lung, soft = dicom.apply_window(hu, "lung"), dicom.apply_window(hu, "mediastinal")
    assert lung.min() >= 0 and lung.max() <= 1 and soft.dtype == np.float32
    assert dicom.apply_window(np.array([-2000.0, 40.0, 3000.0]), 40, 400).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="unknown window"):
        dicom.apply_window(hu, "brain")
    with pytest.raises(ValueError, match="positive"):
        dicom.apply_window(hu, 40, 0)
    assert tuple(dicom.dicom_to_tensor(ct, size=32).shape) == (1, 1, 32, 32)


def test_deidentify_removes_identity_and_leaves_original(ct):
    before = dicom.identity_tags(ct)
    assert "PatientName" in before and "(private tags)" in before
    clean = dicom.deidentify(ct)
    after = dicom.identity_tags(clean)
    assert after["PatientName"] == after["PatientID"] == "ANONYMOUS"
    assert "InstitutionName" not in after and "(private tags)" not in after
    assert clean.StudyInstanceUID != ct.StudyInstanceUID and clean.PatientIdentityRemoved == "YES"
    assert str(ct.PatientName) == before["PatientName"]  # the original is untouched
    assert np.array_equal(clean.pixel_array, ct.pixel_array)


def test_broken_files_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="truncated"):
        dicom.read_dicom(dicom.example_path("truncated"))
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a DICOM file"):
        dicom.read_dicom(junk)
    with pytest.raises(FileNotFoundError):
        dicom.read_dicom(tmp_path / "missing.dcm")
