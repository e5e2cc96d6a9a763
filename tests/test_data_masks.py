"""Finding masks: they line up with the drawn findings (no shift, no transpose), travel with the cohort's
files and splits, and real-image cohorts have none."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medfusion_lib.data import SITES, build_cohort, generate_cohort, read_cohort
from medfusion_lib.data.cohort import GENERATOR_MODULES
from medfusion_lib.data.images import FINDINGS, render_film, render_radiograph
from medfusion_lib.errors import UserError

SHARED_NPZ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pneumoniamnist.npz"
#: A site whose acquisition is linear in the film (no gamma, noise or blur), so film(with findings) -
#: film(without) is exactly where the findings were drawn.
CLEAN = replace(SITES[0], exposure=1.0, noise=0.0, blur=0.0, rotation_deg=0.0)


def _pair(diagnosis: str, seed: int, site=CLEAN, size: int = 64):
    """(difference image float, mask) for one patient: film with findings minus the counterfactual film."""
    img, mask = render_film(diagnosis, site, np.random.default_rng([seed, 1, 0]), size)
    bare, empty = render_film(diagnosis, site, np.random.default_rng([seed, 1, 0]), size, draw_findings=False)
    assert not empty.any()
    return img.astype(float) - bare.astype(float), mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _best_shift(drawn: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    shifts = [(dr, dc) for dr in range(-2, 3) for dc in range(-2, 3)]
    scores = [_iou(drawn, np.roll(mask, s, axis=(0, 1))) for s in shifts]
    return shifts[int(np.argmax(scores))]


def _strong_seeds(diagnosis: str, n: int = 3, site=CLEAN) -> list[int]:
    """Seeds whose finding is clearly visible (not one of the deliberately subtle films)."""
    seeds = [s for s in range(60) if _pair(diagnosis, s, site)[0].max() >= 30]
    assert len(seeds) >= n
    return seeds[:n]


def test_consolidation_mask_is_where_it_was_drawn():
    """One finding, one shape: the mask is exactly the drawn patch above MASK_LEVEL of its peak."""
    bit = FINDINGS.index("consolidation")
    for seed in _strong_seeds("bacterial_pneumonia"):
        diff, mask = _pair("bacterial_pneumonia", seed)
        layer = (mask >> bit) & 1 == 1
        assert layer.any() and (mask == (layer.astype(np.uint8) << bit)).all()  # only this finding
        drawn = diff > 0.25 * diff.max()
        assert (diff[layer] > 0).mean() > 0.97            # the mask lies on drawn pixels
        assert _iou(drawn, layer) > 0.6
        assert _best_shift(drawn, layer) == (0, 0)        # an off-by-one shift would win here
        assert _iou(drawn, layer.T) < 0.5 * _iou(drawn, layer)  # one-sided findings: a transpose is caught


def test_tuberculosis_mask_holds_the_drawn_nodules():
    """Several shapes of different strength (nodules, cavity, faint apical infiltrate), each outlined at
    its own peak: the mask lies on drawn pixels and holds almost all of the drawing; its mirror image does not.
    (The upper-left apex lies on the diagonal, so a transpose is caught by the consolidation test.)"""
    for seed in _strong_seeds("tuberculosis"):
        diff, mask = _pair("tuberculosis", seed)
        layer = mask > 0
        assert (mask == (layer.astype(np.uint8) << FINDINGS.index("nodules_cavity"))).all()
        assert (diff[layer] > 0).mean() > 0.97
        drawn = diff.clip(0)
        assert drawn[layer].sum() > 0.85 * drawn.sum()
        assert drawn[layer[:, ::-1]].sum() < 0.5 * drawn[layer].sum()  # one lung only: a mirror is caught
        assert (diff[drawn > 0.25 * drawn.max()] > 0).all() and layer[drawn > 0.25 * drawn.max()].mean() > 0.97


def test_consolidation_side_matches_the_image_side():
    """The patient's right lung is on the image's left: the mask's and the drawing's columns agree."""
    for seed in _strong_seeds("bacterial_pneumonia", 6):
        diff, mask = _pair("bacterial_pneumonia", seed)
        cols = np.arange(64)
        drawn_col = (diff.clip(0) * cols).sum() / diff.clip(0).sum()
        mask_col = (mask > 0).sum(axis=0) @ cols / (mask > 0).sum()
        assert abs(drawn_col - mask_col) < 2.0


def test_mask_turns_with_a_rotated_film():
    turning = replace(CLEAN, rotation_deg=12.0)
    seed = _strong_seeds("bacterial_pneumonia", 1, turning)[0]
    diff, mask = _pair("bacterial_pneumonia", seed, turning)
    _, upright = _pair("bacterial_pneumonia", seed, CLEAN)
    drawn = diff > 0.25 * diff.max()
    assert not np.array_equal(mask > 0, upright > 0)
    assert _iou(drawn, mask > 0) > _iou(drawn, upright > 0)
    assert _best_shift(drawn, mask > 0) == (0, 0)


def test_heart_failure_records_heart_and_effusion():
    masks = [_pair("heart_failure", s)[1] for s in _strong_seeds("heart_failure", 4)]
    heart = [(m >> FINDINGS.index("enlarged_heart")) & 1 for m in masks]
    assert all(h.any() for h in heart)
    assert any(((m >> FINDINGS.index("effusion")) & 1).any() for m in masks)
    # the heart sits low and slightly to the image's right of centre
    rows, cols = np.nonzero(heart[0])
    assert rows.mean() > 32 and cols.mean() > 32


@pytest.mark.parametrize("diagnosis", ["upper_respiratory_infection", "acute_bronchitis"])
def test_normal_films_have_empty_masks(diagnosis):
    for seed in range(5):
        assert not _pair(diagnosis, seed)[1].any()


def test_render_radiograph_is_the_film_of_render_film():
    a = render_radiograph("tuberculosis", SITES[1], np.random.default_rng(5), 48)
    b, _ = render_film("tuberculosis", SITES[1], np.random.default_rng(5), 48)
    assert np.array_equal(a, b)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return read_cohort(build_cohort(tmp_path_factory.mktemp("m") / "c", n_patients=180, seed=2))


def test_masks_saved_loaded_and_split_aligned(cohort):
    fresh = generate_cohort(180, seed=2)
    assert cohort.masks is not None and np.array_equal(cohort.masks, fresh.masks)
    assert cohort.masks.shape == cohort.images.shape and cohort.masks.dtype == np.uint8
    dx = cohort.patients["true_diagnosis"].to_numpy()
    normal = np.isin(dx, ["upper_respiratory_infection", "acute_bronchitis"])
    assert not cohort.masks[normal].any()
    assert (cohort.masks[~normal].reshape((~normal).sum(), -1).any(axis=1)).mean() > 0.9
    test = cohort.split("test")
    pick = (cohort.patients["split"] == "test").to_numpy()
    assert np.array_equal(test.masks, cohort.masks[pick])
    taken = cohort.take(np.array([5, 1]))
    assert np.array_equal(taken.masks, cohort.masks[[5, 1]])
    assert list(taken.patients["patient_id"]) == list(cohort.patients["patient_id"].iloc[[5, 1]])


def test_finding_masks_by_name(cohort):
    anything = cohort.finding_masks()
    union = np.zeros_like(anything)
    for name in FINDINGS:
        union |= cohort.finding_masks(name)
    assert np.array_equal(anything, union)
    tb = (cohort.patients["true_diagnosis"] == "tuberculosis").to_numpy()
    assert cohort.finding_masks("nodules_cavity")[tb].any()
    assert not cohort.finding_masks("nodules_cavity")[~tb].any()
    with pytest.raises(ValueError, match="unknown finding"):
        cohort.finding_masks("fracture")


def test_cohort_without_masks_says_so(cohort, tmp_path):
    from medfusion_lib.data import Cohort

    old = Cohort(cohort.patients, cohort.images, cohort.spans, dict(cohort.params))
    with pytest.raises(UserError, match="rebuild"):
        old.finding_masks()
    real = Cohort(cohort.patients, cohort.images, cohort.spans, {"source": "pneumoniamnist"})
    with pytest.raises(UserError, match="no finding masks"):
        real.finding_masks()


def test_generator_fingerprint_covers_the_mask_code():
    assert "images.py" in GENERATOR_MODULES and "cohort.py" in GENERATOR_MODULES


@pytest.mark.skipif(not SHARED_NPZ.is_file(), reason="needs ../shared/data/pneumoniamnist.npz")
def test_real_image_cohort_has_no_masks(tmp_path):
    real = read_cohort(build_cohort(tmp_path / "r", n_patients=80, seed=0, source="pneumoniamnist",
                                    medmnist_npz=SHARED_NPZ))
    assert real.masks is None
    with pytest.raises(UserError, match="real-image"):
        real.finding_masks()
