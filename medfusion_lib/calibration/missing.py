"""Missing-modality calibration (Ma et al., ICML 2023, *Calibrating Multimodal Learning*).

A fused model that loses a modality has *less* evidence, so its confidence should not go up. For each
patient who has the modality, compare the top-class probability with the modality present and with it
removed (``Modalities.with_missing``, the fusion track's own mechanism, so every strategy handles the
absence its usual way: renormalised rules, imputation with a flag, learned missing embeddings).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

#: A confidence must rise by more than this to count (ignores floating-point noise in unchanged outputs).
RISE_TOLERANCE = 1e-6


def confidence_change(model, data, modality: str) -> np.ndarray:
    """(n_with,) top-class probability without ``modality`` minus with it, for the patients who have it.

    Positive = the model became *more* confident after losing information. ``data`` is a ``Modalities``.
    """
    data.check_has([modality])
    have = np.asarray(data.present[modality], dtype=bool)
    if not have.any():
        raise ValueError(f"no patient has the {modality!r} modality, so removing it changes nothing")
    full = model.predict_proba(data).max(axis=1)
    without = model.predict_proba(data.with_missing(modality, 1.0)).max(axis=1)
    return (without - full)[have]


def confidence_rises(models: Mapping[str, object], data, modalities: Sequence[str] = ("image", "text"),
                     tolerance: float = RISE_TOLERANCE) -> pd.DataFrame:
    """One row per (strategy, removed modality): ``strategy, modality, n_patients, frac_rises,
    mean_change, median_change, max_rise``. ``frac_rises`` is the fraction of patients (with that
    modality) whose fused confidence rises by more than ``tolerance`` when it is removed."""
    rows = []
    for name, model in models.items():
        for modality in modalities:
            change = confidence_change(model, data, modality)
            rows.append({"strategy": name, "modality": modality, "n_patients": int(len(change)),
                         "frac_rises": float((change > tolerance).mean()), "mean_change": float(change.mean()),
                         "median_change": float(np.median(change)), "max_rise": float(max(change.max(), 0.0))})
    return pd.DataFrame(rows)
