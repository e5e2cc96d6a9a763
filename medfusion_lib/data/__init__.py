"""The MedFusion cohort: paired symptom narratives, vitals and chest images per patient.

Semi-synthetic and educational: generated from textbook presentations, never from real patients
(except the optional real-image mode, which pairs generated narratives with real MedMNIST films).
"""
from medfusion_lib.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "cohort": ["DEFAULT_IMAGE_SIZE", "DEFAULT_N_PATIENTS", "Cohort", "build_cohort", "default_n_patients",
               "generate_cohort", "load_cohort", "read_cohort", "save_cohort"],
    "diagnoses": ["DIAGNOSES", "DISPLAY_NAMES", "SITES", "VITALS"],
})
