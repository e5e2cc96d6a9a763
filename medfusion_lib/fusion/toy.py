"""Tiny synthetic modality arrays with known complementarity, for unit tests and docstring examples.

Not a cohort: just Gaussian blobs. Four classes; "text" tells classes 0/1/{2,3} apart, "image" tells
{0,1}/2/3 apart, "vitals" carries a weak signal for all four — so only a fusion can separate every class.
"""
from __future__ import annotations

import numpy as np

from medfusion_lib.fusion.modalities import Modalities


def make_toy_modalities(n: int = 300, seed: int = 0, noise: float = 1.0,
                        widths: tuple[int, int, int] = (12, 8, 4)) -> tuple[Modalities, np.ndarray]:
    """(Modalities with "text", "image", "vitals"; labels (n,) in 0..3)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    rng.shuffle(y)
    text_code = np.array([0, 1, 2, 2])[y]     # text cannot tell 2 from 3
    image_code = np.array([0, 0, 1, 2])[y]    # image cannot tell 0 from 1

    def block(code: np.ndarray, width: int, scale: float) -> np.ndarray:
        centres = rng.normal(0, scale, size=(code.max() + 1, width))
        return centres[code] + rng.normal(0, noise, size=(n, width))

    features = {"text": block(text_code, widths[0], 2.0), "image": block(image_code, widths[1], 2.0),
                "vitals": block(y, widths[2], 0.6)}
    return Modalities(features, np.array([f"P{i:05d}" for i in range(n)])), y
