"""The paired data of lesson 16: each split's films and narratives, and the diagnoses — for scoring only.

Pre-training reads ``images`` and ``texts`` of the train split (and of the validation split to keep the best
epoch); the labels ``y`` are used by the probes, the supervised baselines and to score zero-shot predictions,
never by pre-training. Labels index ``classes``, the diagnoses the cohort has
(:func:`medfusion_lib.fusion.features.cohort_labels`), so the four-class real-image cohort works too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass
class PairedData:
    cohort: object                        # the (possibly quick-mode subsampled) Cohort
    classes: tuple[str, ...]
    images: dict[str, np.ndarray]         # split -> (n, H, W) uint8
    texts: dict[str, list[str]]           # split -> n raw narratives (masking happens inside pre-training)
    y: dict[str, np.ndarray]              # split -> (n,) int64 class indices into ``classes``
    rows: dict[str, np.ndarray]           # split -> (n,) row numbers in ``source``
    source: object = None                 # the cohort before quick-mode subsampling (it keeps the finding masks)

    def image_splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"train": (images, y), "val": ..., "test": ...}`` for the supervised recipe."""
        return {s: (self.images[s], self.y[s]) for s in SPLITS}

    def masks(self, split: str) -> np.ndarray:
        """``(n, H, W)`` bool: where the generator drew any finding on each film of ``split`` (synthetic cohorts
        only; a real-image cohort raises a clear error)."""
        return (self.source if self.source is not None else self.cohort).finding_masks()[self.rows[split]]

    def sizes(self) -> dict[str, int]:
        return {s: len(self.y[s]) for s in SPLITS}


def paired_data(cohort=None, quick: bool = False, seed: int = 0) -> PairedData:
    """Films, narratives and labels per split of ``cohort`` (default: the course cohort); quick mode keeps the
    fusion track's stratified subsample (:data:`medfusion_lib.fusion.features.QUICK_SIZES`)."""
    from medfusion_lib.fusion.features import QUICK_SIZES, cohort_labels, subsample_cohort

    if cohort is None:
        from medfusion_lib.data import load_cohort

        cohort = load_cohort()
    source = cohort
    if quick:
        cohort = subsample_cohort(cohort, QUICK_SIZES, seed=seed)
    y, classes = cohort_labels(cohort)
    split = cohort.patients["split"].to_numpy()
    narratives = cohort.patients["narrative"].to_numpy(dtype=object)
    images = np.asarray(cohort.images)
    parts = {s: np.flatnonzero(split == s) for s in SPLITS}
    row_of = {pid: i for i, pid in enumerate(source.patients["patient_id"])}
    ids = cohort.patients["patient_id"].to_numpy()
    rows = {s: np.array([row_of[pid] for pid in ids[i]], dtype=np.int64) for s, i in parts.items()}
    return PairedData(cohort, classes, {s: images[i] for s, i in parts.items()},
                      {s: narratives[i].tolist() for s, i in parts.items()}, {s: y[i] for s, i in parts.items()},
                      rows, source)
