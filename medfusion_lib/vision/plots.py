"""Pictures for the imaging lessons: labelled image grids, augmentations side by side, filters and
feature maps, confusion matrices. Each function returns the matplotlib figure it drew."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn


def _as_2d(image) -> np.ndarray:
    """One image as ``(H, W)`` NumPy from ``(H, W)``, ``(1, H, W)`` NumPy or torch."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    return image[0] if image.ndim == 3 else image


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.5,
                cmap: str = "gray", suptitle: str | None = None):
    """A grid of grayscale images ``(N, H, W)`` (or ``(N, 1, H, W)``), each with its title; returns the figure.

    Every image keeps its own intensity scale unless the array is uint8 (then 0-255 for all).
    """
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.25) * nrows), squeeze=False)
    fixed = isinstance(images, np.ndarray) and images.dtype == np.uint8
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_as_2d(images[i]), cmap=cmap, **({"vmin": 0, "vmax": 255} if fixed else {}))
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_augmentations(image: torch.Tensor, transform: Callable, n: int = 7, seed: int = 0, title: str = ""):
    """The original ``(1, H, W)`` image followed by ``n`` random draws of ``transform``, on one 0-1 scale."""
    import matplotlib.pyplot as plt

    torch.manual_seed(seed)
    draws = [image] + [transform(image) for _ in range(n)]
    fig, axes = plt.subplots(1, n + 1, figsize=(1.5 * (n + 1), 1.9))
    for i, (ax, img) in enumerate(zip(axes, draws)):
        ax.imshow(_as_2d(img), cmap="gray", vmin=0, vmax=1)
        ax.set_title("original" if i == 0 else f"draw {i}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first ``nn.Conv2d`` of ``model``."""
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def show_filters(model: nn.Module, max_filters: int = 16):
    """The first convolution's kernels (``out, 1, k, k``) as small images."""
    weights = first_conv(model).weight.detach()[:max_filters, 0]
    return show_images(weights, [f"filter {i}" for i in range(len(weights))], ncols=8, size=1.0,
                       cmap="coolwarm", suptitle="First-layer filters")


@torch.no_grad()
def show_feature_maps(model: nn.Module, image: torch.Tensor, layer: nn.Module | None = None, max_maps: int = 16):
    """What ``layer`` (default: the first convolution) outputs for one ``(1, H, W)`` image, channel by channel."""
    layer = layer or first_conv(model)
    captured = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        model.eval()(image[None])
    finally:
        handle.remove()
    maps = captured[0][0, :max_maps]
    return show_images(maps, [f"channel {i}" for i in range(len(maps))], ncols=8, size=1.1,
                       cmap="magma", suptitle=f"Feature maps of {type(layer).__name__} ({tuple(maps.shape[1:])})")


def show_confusion(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], title: str = "",
                   normalize: bool = True):
    """Confusion matrix heat map (rows: true class; by default each row as fractions)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    k = len(class_names)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(k))).astype(float)
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * k + 2, 0.9 * k + 1.5))
    sns.heatmap(matrix, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues", cbar=False,
                xticklabels=class_names, yticklabels=class_names, ax=ax)
    ax.set(xlabel="predicted", ylabel="true", title=title or "Confusion matrix")
    fig.tight_layout()
    return fig
