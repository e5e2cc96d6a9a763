"""The sites' burned-in side markers: where they are, how to hide them, how to move one to another corner.

Each site of the cohort burns a bright "L" marker into its own corner of every film (see
:mod:`medfusion_lib.data.images`). The boxes here are found by asking the generator itself to draw a marker on
a blank film, so they always agree with how the cohort was made.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from medfusion_lib.data.diagnoses import SITES
from medfusion_lib.data.images import draw_marker  # the generator's own drawing routine

CORNERS: tuple[str, ...] = ("tl", "tr", "bl", "br")
#: Value the generator burns the marker with, on the 0-255 scale.
MARKER_VALUE = int(0.95 * 255 + 0.5)


def site_corner(site: str) -> str:
    """The corner ("tl", "tr", "bl" or "br") where ``site`` burns its marker."""
    corners = {s.name: s.marker for s in SITES}
    if site not in corners:
        raise ValueError(f"unknown site {site!r}; the cohort's sites are {sorted(corners)}")
    return corners[site]


@lru_cache(maxsize=None)
def marker_box(corner: str, size: int) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1), end-exclusive, of the marker in ``corner`` on a ``size`` x ``size`` film."""
    if corner not in CORNERS:
        raise ValueError(f"corner must be one of {CORNERS}; got {corner!r}")
    blank = np.zeros((size, size))
    draw_marker(blank, corner, size)
    rows, cols = np.nonzero(blank)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.dtype != np.uint8:
        raise ValueError(f"images must be square uint8 films (n, H, H); got {images.dtype} {images.shape}")
    return images


def mask_markers(images: np.ndarray, margin: int = 1) -> np.ndarray:
    """A copy of ``images`` (n, H, H) uint8 with all four marker boxes (plus ``margin`` pixels) filled with
    each film's own background (the median of its border pixels), so no film shows any marker."""
    images = _check(images).copy()
    size = images.shape[1]
    border = np.concatenate([images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], axis=1)
    fill = np.median(border, axis=1).astype(np.uint8)
    for corner in CORNERS:
        r0, r1, c0, c1 = marker_box(corner, size)
        images[:, max(0, r0 - margin):r1 + margin, max(0, c0 - margin):c1 + margin] = fill[:, None, None]
    return images


def burn_marker(images: np.ndarray, corner: str) -> np.ndarray:
    """A copy of ``images`` (n, H, H) uint8 with a marker burned into ``corner`` (as the generator draws it)."""
    images = _check(images).copy()
    r0, r1, c0, c1 = marker_box(corner, images.shape[1])
    blank = np.zeros(images.shape[1:])
    draw_marker(blank, corner, images.shape[1])
    on = blank[r0:r1, c0:c1] > 0
    images[:, r0:r1, c0:c1][:, on] = MARKER_VALUE
    return images


def swap_markers(images: np.ndarray, to_corner: str) -> np.ndarray:
    """Films with their own marker removed and another site's marker (in ``to_corner``) burned in."""
    return burn_marker(mask_markers(images), to_corner)
