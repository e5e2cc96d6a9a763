"""PyTorch datasets over the course's image arrays: the cohort's radiographs and MedMNIST splits.

A dataset item is ``(image, label)``: ``image`` a ``(1, H, W)`` float32 tensor in ``[0, 1]`` (after the
optional ``transform``), ``label`` an int64 scalar tensor.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from medfusion_lib.vision.transforms import images_to_tensor


class ImageArrayDataset(Dataset):
    """Grayscale images ``(N, H, W)`` (uint8 0-255 or float 0-1) with labels ``(N,)`` as a ``Dataset``.

    The images are converted to one float tensor ``(N, 1, size, size)`` up front (cheap for 28-64 px
    images, and it makes every epoch faster); ``transform`` (e.g. :func:`~medfusion_lib.vision.transforms.
    train_transform`) is applied to each ``(1, H, W)`` image as it is drawn.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None, size: int | None = None):
        self.images = images_to_tensor(images, size=size)
        n = self.images.shape[0]
        if labels is None:
            labels = np.zeros(n, dtype=np.int64)  # unlabelled: prediction only
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ValueError(f"labels must have shape ({n},) to match the images; got {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer) or (n and labels.min() < 0):
            raise TypeError(f"labels must be non-negative integer class indices; got dtype {labels.dtype}")
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self) else 0

    def class_counts(self, num_classes: int | None = None) -> np.ndarray:
        """Images per class, ``(num_classes,)`` int64."""
        return np.bincount(self.labels.numpy(), minlength=num_classes or self.num_classes)


def split_datasets(splits: dict[str, tuple[np.ndarray, np.ndarray]],
                   train_transform: Callable | None = None, size: int | None = None) -> dict[str, ImageArrayDataset]:
    """``{"train": (images, labels), ...}`` (e.g. from :func:`~medfusion_lib.data.medmnist.load_medmnist_npz`)
    -> one :class:`ImageArrayDataset` per split; only ``"train"`` gets ``train_transform``."""
    return {name: ImageArrayDataset(images, labels, transform=train_transform if name == "train" else None,
                                    size=size)
            for name, (images, labels) in splits.items()}


def cohort_splits(cohort) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The cohort's images and diagnosis indices per split: ``{"train": (uint8 (n, H, W), int64 (n,)), ...}``."""
    out = {}
    for name in ("train", "val", "test"):
        part = cohort.split(name)
        out[name] = (np.asarray(part.images), np.asarray(part.y, dtype=np.int64))
    return out


def film_splits(cohort) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The cohort as PneumoniaMNIST's task: only patients whose diagnosis has a normal or pneumonia film
    (``data.cohort.REAL_IMAGE_CLASSES``), labelled as MedMNIST does (0 = normal, 1 = pneumonia).

    ``{"train": (uint8 (n, H, W), int64 (n,)), "val": ..., "test": ...}`` — a drop-in synthetic stand-in for
    :func:`~medfusion_lib.data.medmnist.load_medmnist_npz` when the real file is not on this machine.
    """
    from medfusion_lib.data.cohort import REAL_IMAGE_CLASSES
    from medfusion_lib.data.diagnoses import DIAGNOSES

    # cohort.y indexes DIAGNOSES; -1 marks diagnoses without a film class (dropped)
    film_label = np.array([REAL_IMAGE_CLASSES.get(d, -1) for d in DIAGNOSES], dtype=np.int64)
    out = {}
    for name, (images, y) in cohort_splits(cohort).items():
        keep = film_label[y] >= 0
        out[name] = (images[keep], film_label[y[keep]])
    return out
