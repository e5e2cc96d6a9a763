"""Pictures of a cohort: an image grid per diagnosis (used by `medfusion data info` and the lessons)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from medfusion_lib.data.diagnoses import DISPLAY_NAMES


def image_grid_figure(cohort, per_class: int = 6, seed: int = 0):
    """A matplotlib figure: one row per diagnosis, ``per_class`` example films each, labelled with the site."""
    import matplotlib.pyplot as plt

    classes = cohort.classes
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(1.6 * per_class, 1.75 * len(classes)),
                             squeeze=False)
    for r, diagnosis in enumerate(classes):
        members = np.flatnonzero(cohort.patients["diagnosis"].to_numpy() == diagnosis)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for c in range(per_class):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(chosen):
                i = chosen[c]
                ax.imshow(cohort.images[i], cmap="gray", vmin=0, vmax=255)
                ax.set_title(cohort.patients["site"].iloc[i], fontsize=7)
        axes[r, 0].text(-0.08, 0.5, DISPLAY_NAMES.get(diagnosis, diagnosis).replace(" ", "\n", 1),
                        transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def save_image_grid(cohort, path: str | Path, per_class: int = 6) -> Path:
    """Write the image grid as a PNG, atomically; returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from medfusion_lib.atomic import atomic_path

    fig = image_grid_figure(cohort, per_class)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
