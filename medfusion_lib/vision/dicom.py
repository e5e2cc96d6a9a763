"""Reading real DICOM files: pixels to Hounsfield units, display windows, and de-identification.

The examples are the small public test files that ship inside ``pydicom`` (``CT_small.dcm``, a 128x128 CT
slice; ``MR_small.dcm``), so lesson 04 works offline. Nothing here is a clinical tool: de-identification in
real research follows the DICOM PS3.15 confidentiality profiles and a human review, not one function.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

# (centre, width) in Hounsfield units — the usual radiology presets.
WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinal": (40.0, 400.0),
    "bone": (400.0, 1800.0),
}

# Attributes that identify a patient (directly or together with others): the core of what PS3.15's basic
# profile removes. Dates are kept out of this list on purpose: the lesson shows them as quasi-identifiers.
IDENTITY_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientIDsSequence", "PatientBirthDate",
    "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName", "MedicalRecordLocator",
    "AccessionNumber", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "InstitutionName", "InstitutionAddress", "StationName", "DeviceSerialNumber",
)
UID_KEYWORDS: tuple[str, ...] = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                                 "FrameOfReferenceUID")

EXAMPLE_FILES = {"ct": "CT_small.dcm", "mr": "MR_small.dcm", "truncated": "MR_truncated.dcm"}


def example_path(name: str = "ct") -> Path:
    """Path of a DICOM file that ships with pydicom (``"ct"``, ``"mr"`` or ``"truncated"``); no download."""
    from pydicom.data import get_testdata_file

    if name not in EXAMPLE_FILES:
        raise ValueError(f"unknown example {name!r}; choose one of {', '.join(EXAMPLE_FILES)}")
    path = get_testdata_file(EXAMPLE_FILES[name], download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom's example {EXAMPLE_FILES[name]} is missing; reinstall pydicom")
    return Path(path)


def read_dicom(path: str | os.PathLike):
    """Read a DICOM file and check it carries an image; ``ValueError`` saying what is wrong otherwise."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no DICOM file at {path}")
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise ValueError(f"{path.name} is not a DICOM file ({exc})") from None
    if "PixelData" not in ds:
        raise ValueError(f"{path.name} holds no image (no PixelData element): modality "
                         f"{ds.get('Modality', 'unknown')}")
    try:
        ds.pixel_array  # decode now so a truncated file fails here, not later
    except Exception as exc:  # pydicom raises several types for damaged pixel data
        raise ValueError(f"{path.name}: its pixel data cannot be decoded ({type(exc).__name__}: {exc}); "
                         "the file may be truncated") from None
    return ds


def to_hounsfield(ds) -> np.ndarray:
    """CT pixels in Hounsfield units ``(H, W)`` float32: stored value * RescaleSlope + RescaleIntercept.

    Uses pydicom's modality LUT (the standard's name for this step). Air is about -1000 HU, water 0,
    soft tissue 20-80, bone several hundred and up.
    """
    from pydicom.pixels import apply_modality_lut

    if ds.get("Modality") != "CT":
        raise ValueError(f"Hounsfield units are defined for CT; this file is {ds.get('Modality', 'unknown')}")
    return apply_modality_lut(ds.pixel_array, ds).astype(np.float32)


def apply_window(hu: np.ndarray, center: float | str = "lung", width: float | None = None) -> np.ndarray:
    """Map a window of Hounsfield units to ``[0, 1]`` (values outside it clip): ``(H, W) -> (H, W)`` float32.

    ``center`` is a number with ``width``, or the name of a preset in :data:`WINDOWS`.
    """
    if isinstance(center, str):
        if center not in WINDOWS:
            raise ValueError(f"unknown window {center!r}; choose one of {', '.join(WINDOWS)} or give numbers")
        center, width = WINDOWS[center]
    if width is None or width <= 0:
        raise ValueError(f"window width must be a positive number of HU; got {width!r}")
    low = center - width / 2
    return np.clip((np.asarray(hu, dtype=np.float32) - low) / width, 0.0, 1.0)


def identity_tags(ds) -> dict[str, str]:
    """The identifying attributes present in ``ds`` and not empty: keyword -> value as text."""
    found = {}
    for keyword in IDENTITY_KEYWORDS + UID_KEYWORDS:
        if keyword not in ds:
            continue
        element = ds.data_element(keyword)
        if element.VR == "SQ":
            if len(element.value):
                found[keyword] = f"{len(element.value)} nested item(s)"
        elif str(element.value).strip():
            found[keyword] = str(element.value)
    private = sum(1 for element in ds.iterall() if element.tag.is_private)
    if private:
        found["(private tags)"] = f"{private} vendor-specific elements"
    return found


def deidentify(ds, pseudonym: str = "ANONYMOUS"):
    """A de-identified copy of ``ds`` (the original is untouched).

    Blanks the :data:`IDENTITY_KEYWORDS`, sets patient name and ID to ``pseudonym``, removes private
    (vendor) elements, which may hide identity, and replaces the instance UIDs with new ones derived from
    the old (so images of one study still belong together, but cannot be looked up). Marks the file with
    PatientIdentityRemoved = YES.
    """
    from pydicom.uid import generate_uid

    clean = copy.deepcopy(ds)
    for keyword in IDENTITY_KEYWORDS:
        if keyword in clean:
            element = clean.data_element(keyword)
            if element.VR == "SQ":
                del clean[keyword]
            else:
                element.value = ""
    clean.PatientName = pseudonym
    clean.PatientID = pseudonym
    clean.remove_private_tags()
    for keyword in UID_KEYWORDS:
        if keyword in clean:
            clean.data_element(keyword).value = generate_uid(entropy_srcs=[str(clean.data_element(keyword).value)])
    if "SOPInstanceUID" in clean and hasattr(clean, "file_meta") and "MediaStorageSOPInstanceUID" in clean.file_meta:
        clean.file_meta.MediaStorageSOPInstanceUID = clean.SOPInstanceUID
    clean.PatientIdentityRemoved = "YES"
    clean.DeidentificationMethod = "MedFusion deidentify: identity blanked, private removed"
    return clean


def dicom_to_tensor(ds, window: str | tuple[float, float] = "lung", size: int = 64):
    """A CT slice as model input: HU -> window -> resize -> ``(1, 1, size, size)`` float32 tensor in [0, 1]."""
    from medfusion_lib.vision.transforms import images_to_tensor

    center, width = (window, None) if isinstance(window, str) else window
    windowed = apply_window(to_hounsfield(ds), center, width)
    return images_to_tensor(windowed[None], size=size)
