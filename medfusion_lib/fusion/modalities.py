"""A container of aligned per-patient modality arrays with presence masks.

Every fusion strategy takes a :class:`Modalities` instead of a bare matrix, so the strategies can be
swapped in a loop and so that "which modality does this patient have?" is data, not a convention.
Row ``i`` of every array is the same patient, ``patient_ids[i]``; construction checks that this holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

#: The three modalities of the course, in the order used everywhere (tables, gates, plots).
MODALITY_NAMES: tuple[str, ...] = ("text", "image", "vitals")


@dataclass(frozen=True)
class Modalities:
    """Per-patient feature arrays for several modalities, aligned row by row.

    Attributes
    ----------
    features : name -> (n_patients, n_features_m) float32 array. Rows where the modality is absent
        hold zeros; strategies must consult ``present`` rather than the values.
    present : name -> (n_patients,) bool array, True where the patient has that modality.
    patient_ids : (n_patients,) array of patient identifiers.
    """

    features: Mapping[str, np.ndarray]
    patient_ids: np.ndarray
    present: Mapping[str, np.ndarray] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.features, Mapping) or not self.features:
            raise ValueError("features must be a non-empty dict mapping a modality name to an "
                             "(n_patients, n_features) array, e.g. {'text': X_text, 'image': X_image}")
        ids = np.asarray(self.patient_ids)
        if ids.ndim != 1:
            raise ValueError(f"patient_ids must be 1-D (one id per patient); got shape {ids.shape}")
        n = len(ids)
        if len(set(ids.tolist())) != n:
            raise ValueError("patient_ids contains duplicates; each row must be a different patient")
        features: dict[str, np.ndarray] = {}
        for name, X in self.features.items():
            X = np.asarray(X, dtype=np.float32)
            if X.ndim == 1:
                X = X[:, None]
            if X.ndim != 2:
                raise ValueError(f"modality {name!r} must be a 2-D (n_patients, n_features) array; "
                                 f"got shape {X.shape} — flatten images or use their embeddings")
            if X.shape[0] != n:
                raise ValueError(f"modality {name!r} has {X.shape[0]} rows but there are {n} patient ids; "
                                 "every modality needs exactly one row per patient, in the same order")
            features[name] = X
        present: dict[str, np.ndarray] = {}
        given = dict(self.present or {})
        unknown = set(given) - set(features)
        if unknown:
            raise ValueError(f"presence mask given for unknown modality {sorted(unknown)}; "
                             f"modalities are {list(features)}")
        for name, X in features.items():
            mask = np.asarray(given.get(name, np.isfinite(X).all(axis=1)), dtype=bool)
            if mask.shape != (n,):
                raise ValueError(f"presence mask of {name!r} must have shape ({n},); got {mask.shape}")
            if (~np.isfinite(X[mask])).any():
                raise ValueError(f"modality {name!r} has NaN/inf values in rows marked present; "
                                 "mark those patients absent in `present` or impute first")
            X = X.copy()
            X[~mask] = 0.0  # absent rows carry no information, whatever the caller put there
            features[name] = X
            present[name] = mask
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "present", present)
        object.__setattr__(self, "patient_ids", ids)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_blocks(cls, blocks: Mapping[str, tuple[Sequence, np.ndarray]],
                    present: Mapping[str, np.ndarray] | None = None) -> "Modalities":
        """Build from ``{name: (patient_ids, X)}``, checking every block lists the same patients in order.

        Raises ``ValueError`` naming the first row where two blocks disagree, so a shuffled or
        differently filtered modality is caught before it silently pairs one patient's text with
        another patient's image.
        """
        if not blocks:
            raise ValueError("blocks is empty; give at least one modality as {name: (patient_ids, X)}")
        names = list(blocks)
        ref_name = names[0]
        ref_ids = np.asarray(blocks[ref_name][0])
        for name in names[1:]:
            ids = np.asarray(blocks[name][0])
            if len(ids) != len(ref_ids):
                raise ValueError(f"modality {name!r} has {len(ids)} patients but {ref_name!r} has "
                                 f"{len(ref_ids)}; build every modality from the same patient list")
            mismatch = np.flatnonzero(ids != ref_ids)
            if mismatch.size:
                i = int(mismatch[0])
                raise ValueError(f"modalities {ref_name!r} and {name!r} are misaligned: row {i} is patient "
                                 f"{ref_ids.tolist()[i]!r} in one and {ids.tolist()[i]!r} in the other ({mismatch.size} rows "
                                 "differ); reorder one to match, e.g. with DataFrame.set_index(...).loc[ids]")
        return cls({name: X for name, (_, X) in blocks.items()}, ref_ids, present)

    # ----------------------------------------------------------------- views
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.features)

    def __len__(self) -> int:
        return len(self.patient_ids)

    @property
    def n_features(self) -> dict[str, int]:
        return {name: X.shape[1] for name, X in self.features.items()}

    def presence_matrix(self) -> np.ndarray:
        """(n_patients, n_modalities) bool, columns in ``names`` order."""
        return np.stack([self.present[name] for name in self.names], axis=1)

    def subset(self, index) -> "Modalities":
        """The patients selected by ``index`` (integer positions or a boolean mask)."""
        index = np.asarray(index)
        return Modalities({k: X[index] for k, X in self.features.items()}, self.patient_ids[index],
                          {k: m[index] for k, m in self.present.items()})

    def select(self, names: Iterable[str]) -> "Modalities":
        """Only the modalities in ``names`` (e.g. ``["text"]`` for a unimodal baseline)."""
        names = list(names)
        self.check_has(names)
        return Modalities({k: self.features[k] for k in names}, self.patient_ids,
                          {k: self.present[k] for k in names})

    def check_has(self, names: Iterable[str]) -> None:
        missing = [k for k in names if k not in self.features]
        if missing:
            raise ValueError(f"no modality {missing} here; available: {list(self.names)}")

    def with_missing(self, name: str, fraction: float = 1.0, seed: int = 0) -> "Modalities":
        """A copy where modality ``name`` is absent for a random ``fraction`` of patients (on top of any
        already absent). Used for missing-modality sweeps; ``fraction=1`` removes it for everyone."""
        self.check_has([name])
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be between 0 and 1; got {fraction}")
        n = len(self)
        drop = np.zeros(n, dtype=bool)
        drop[np.random.default_rng(seed).permutation(n)[: int(round(fraction * n))]] = True
        present = dict(self.present)
        present[name] = self.present[name] & ~drop
        return Modalities(dict(self.features), self.patient_ids, present)

    def layout(self) -> dict[str, int]:
        """Modality name -> number of features: what a fitted model remembers to check later data against."""
        return dict(self.n_features)

    def check_layout(self, expected: Mapping[str, int]) -> None:
        """Raise ``ValueError`` when this data lacks a modality of ``expected`` or has other feature sizes."""
        missing = [k for k in expected if k not in self.features]
        if missing:
            raise ValueError(f"the model was fitted with modalities {list(expected)} but this data lacks "
                             f"{missing}; pass the same modalities (mark absent patients with `present`)")
        for name, width in expected.items():
            if self.features[name].shape[1] != width:
                raise ValueError(f"modality {name!r} had {width} features at fit time but has "
                                 f"{self.features[name].shape[1]} now; use the same featurizer for both")

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {X.shape[1]} features, {int(self.present[k].sum())}/{len(self)} present"
                          for k, X in self.features.items())
        return f"Modalities({len(self)} patients; {parts})"
