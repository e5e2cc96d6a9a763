"""Does a heat map point at the finding? Scores against the generator's finding masks.

- **Pointing game** (Zhang et al. 2016): a hit when the map's maximum lies inside the mask (or within
  ``tolerance`` pixels of it).
- **Energy inside the mask**: the share of the map's (non-negative) mass that falls inside the mask.
- **Random-map baseline**: the same scores for maps of independent uniform noise. Its pointing game is
  about the mask's share of the film, its energy share about the same: a heat map earns credit only for
  what it adds over that.

Maps and masks are (n, H, W) with the same H, W (upsample the maps first); only films with a non-empty mask
can be scored.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _check(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    maps = np.asarray(maps, dtype=float)
    masks = np.asarray(masks).astype(bool)
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(f"maps and masks must both be (n, H, W) of the same shape; got {maps.shape} and "
                         f"{masks.shape} — upsample the maps to the film's size first")
    empty = ~masks.reshape(len(masks), -1).any(axis=1)
    if empty.any():
        raise ValueError(f"{int(empty.sum())} masks are empty (films without a drawn finding); score only films "
                         "with a finding, e.g. maps[has_finding], masks[has_finding]")
    return maps, masks


def pointing_game(maps, masks, tolerance: int = 0) -> np.ndarray:
    """(n,) bool: does each map's maximum fall inside its mask, or within ``tolerance`` pixels of it in both
    row and column (the mask grown by a (2*tolerance+1)-pixel square)?

    Ties (a flat map) take the first maximum in reading order, as ``argmax`` does.
    """
    maps, masks = _check(maps, masks)
    if tolerance > 0:
        grow = ndimage.generate_binary_structure(2, 2)  # 8-neighbours: a square
        masks = np.stack([ndimage.binary_dilation(m, grow, iterations=tolerance) for m in masks])
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    return masks.reshape(len(masks), -1)[np.arange(len(masks)), flat]


def energy_in_mask(maps, masks) -> np.ndarray:
    """(n,) the share of each map's positive mass inside its mask (0 for an all-zero map)."""
    maps, masks = _check(maps, masks)
    positive = np.clip(maps, 0, None)
    total = positive.reshape(len(maps), -1).sum(axis=1)
    inside = (positive * masks).reshape(len(maps), -1).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def random_maps(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """(n, H, W) maps of independent uniform noise: the baseline a heat map must beat."""
    return np.random.default_rng(seed).random(shape)


def localisation_scores(maps, masks, seed: int = 0, n_random: int = 20, tolerance: int = 0) -> dict[str, float]:
    """Mean pointing game and energy inside the mask of ``maps``, and of random maps (averaged over
    ``n_random`` draws), with the expected random pointing game (the mean mask share of the film)."""
    maps, masks = _check(maps, masks)
    rng = np.random.default_rng(seed)
    random_hits, random_energy = [], []
    for _ in range(n_random):
        noise = random_maps(maps.shape, int(rng.integers(2**31)))
        random_hits.append(pointing_game(noise, masks, tolerance).mean())
        random_energy.append(energy_in_mask(noise, masks).mean())
    return {"n_films": int(len(maps)),
            "pointing_game": float(pointing_game(maps, masks, tolerance).mean()),
            "pointing_game_random": float(np.mean(random_hits)),
            "pointing_game_expected_random": float(masks.reshape(len(masks), -1).mean(axis=1).mean()),
            "energy_in_mask": float(energy_in_mask(maps, masks).mean()),
            "energy_in_mask_random": float(np.mean(random_energy))}
