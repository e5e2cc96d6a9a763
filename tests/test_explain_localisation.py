"""Pointing game and energy inside the mask, against the random-map baseline."""
from __future__ import annotations

import numpy as np
import pytest

from medfusion_lib.explain.localisation import (energy_in_mask, localisation_scores, pointing_game,
                                                random_maps)


def _masks():
    masks = np.zeros((3, 10, 10), dtype=bool)
    masks[0, 1:3, 7:9] = True
    masks[1, 5:8, 0:2] = True
    masks[2, 9, 9] = True
    return masks


def test_pointing_game_hits_and_misses():
    masks = _masks()
    maps = np.zeros((3, 10, 10))
    maps[0, 2, 8] = 1.0      # inside
    maps[1, 5, 2] = 1.0      # one pixel right of the mask
    maps[2, 0, 0] = 1.0      # far away
    assert pointing_game(maps, masks).tolist() == [True, False, False]
    assert pointing_game(maps, masks, tolerance=1).tolist() == [True, True, False]
    # a transposed map misses the first mask
    assert not pointing_game(maps[:1].transpose(0, 2, 1), masks[:1])[0]
    # the tolerance is a square: one row and one column off is still a hit
    diagonal = np.zeros((1, 10, 10)); diagonal[0, 3, 6] = 1.0
    assert pointing_game(diagonal, masks[:1], tolerance=1)[0] and not pointing_game(diagonal, masks[:1])[0]


def test_energy_inside_the_mask():
    masks = _masks()
    maps = np.zeros((3, 10, 10))
    maps[0][masks[0]] = 1.0
    maps[0, 0, 0] = 4.0
    maps[1] = -1.0                # negative evidence carries no energy
    maps[2][masks[2]] = 2.0
    assert np.allclose(energy_in_mask(maps, masks), [0.5, 0.0, 1.0])


def test_random_baseline_is_the_mask_share():
    masks = np.zeros((400, 20, 20), dtype=bool)
    masks[:, :5, :] = True        # a quarter of every film
    scores = localisation_scores(random_maps(masks.shape, 1), masks, n_random=5)
    assert abs(scores["pointing_game"] - 0.25) < 0.07
    assert abs(scores["pointing_game_random"] - 0.25) < 0.03
    assert scores["pointing_game_expected_random"] == pytest.approx(0.25)
    assert abs(scores["energy_in_mask_random"] - 0.25) < 0.01
    perfect = masks.astype(float)
    assert localisation_scores(perfect, masks)["energy_in_mask"] == pytest.approx(1.0)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="empty"):
        pointing_game(np.ones((1, 4, 4)), np.zeros((1, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match="same shape"):
        energy_in_mask(np.ones((1, 4, 4)), np.ones((1, 8, 8), dtype=bool))
