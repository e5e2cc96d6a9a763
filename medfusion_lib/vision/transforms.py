"""Turning uint8 radiographs into model input, and augmentations that respect chest anatomy.

Conventions used across :mod:`medfusion_lib.vision`:

- a *batch of images* as NumPy is ``(N, H, W)`` ``uint8`` (how the cohort and MedMNIST store them);
- as PyTorch it is ``(N, 1, H, W)`` ``float32`` in ``[0, 1]``; one image is ``(1, H, W)``;
- intensity normalisation lives inside the models (:class:`medfusion_lib.vision.models.PerImageStandardize`),
  so every model takes ``[0, 1]`` images and nothing can be normalised twice or forgotten.

Augmentations for chest X-rays (:func:`train_transform`): small rotations, shifts and zooms (patients are
never perfectly positioned), and exposure changes (brightness, contrast, gamma differ between machines
and sites). Never vertical flips: a film with the diaphragm on top is not a chest X-ray any scanner
produces. Horizontal flips are off by default too: they move the heart to the right (dextrocardia is rare),
and the heart's side is a feature a model may legitimately use.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2


def check_images(images, name: str = "images") -> np.ndarray:
    """Validate a NumPy batch of grayscale images ``(N, H, W)``; return it unchanged.

    Raises:
        TypeError: not a NumPy array, or a dtype other than uint8 / float.
        ValueError: wrong number of axes, an empty batch, or NaN / infinite values.
    """
    if isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a NumPy array (N, H, W); got a torch.Tensor — use "
                        "images_to_tensor() only on NumPy input, or pass the tensor to the model directly")
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (N, H, W); got {type(images).__name__}")
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 (0-255) or float (0-1); got dtype {images.dtype} — "
                        "convert with images.astype(np.uint8) if they hold 0-255 values")
    if images.ndim == 2:
        raise ValueError(f"{name} has shape {images.shape}: that is one image; pass a batch "
                         "images[None] of shape (1, H, W)")
    if images.ndim != 3:
        hint = " — convert colour to grayscale first" if images.ndim == 4 and images.shape[-1] in (3, 4) else ""
        raise ValueError(f"{name} must be (N, H, W) grayscale; got shape {images.shape}{hint}")
    if images.shape[0] == 0 or min(images.shape[1:]) < 8:
        raise ValueError(f"{name} must hold at least one image of at least 8x8 pixels; got shape {images.shape}")
    if images.dtype != np.uint8 and not np.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or infinite values; fix or drop those images first")
    return images


def images_to_tensor(images: np.ndarray, size: int | None = None) -> torch.Tensor:
    """``(N, H, W)`` uint8 (0-255) or float (0-1) -> ``(N, 1, size, size)`` float32 in ``[0, 1]``.

    ``size`` resizes with antialiased bilinear interpolation (``None`` keeps the size).
    """
    check_images(images)
    array = np.ascontiguousarray(images)
    if not array.flags.writeable:  # e.g. a memory-mapped cohort; torch wants its own writable buffer
        array = array.copy()
    tensor = torch.from_numpy(array).unsqueeze(1)
    tensor = tensor.float().div_(255.0) if images.dtype == np.uint8 else tensor.float().clamp_(0.0, 1.0)
    if size is not None and tuple(tensor.shape[-2:]) != (size, size):
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=True).clamp_(0.0, 1.0)
    return tensor


def image_batches(data, batch_size: int = 256, size: int | None = None):
    """Yield float image batches ``(B, 1, H, W)`` from uint8 NumPy ``(N, H, W)`` (resized to ``size`` when
    given), a float tensor ``(N, 1, H, W)`` or a Dataset of ``(image, label)``: what every inference loop over
    images walks (``predict_proba``, ``extract_embeddings``)."""
    if isinstance(data, Dataset):
        for images, _labels in DataLoader(data, batch_size=batch_size):
            yield images
        return
    if isinstance(data, np.ndarray):
        data = images_to_tensor(data, size=size)
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"images must be a NumPy array (N, H, W), a tensor (N, 1, H, W) or a Dataset; "
                        f"got {type(data).__name__}")
    for start in range(0, len(data), batch_size):
        yield data[start:start + batch_size]


def check_batch(x: torch.Tensor, in_channels: int = 1) -> torch.Tensor:
    """Validate a model input batch ``(N, C, H, W)`` float; raise a helpful error otherwise."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"model input must be a torch.Tensor (N, {in_channels}, H, W); got {type(x).__name__} "
                        "— convert NumPy images with medfusion_lib.vision.transforms.images_to_tensor")
    if not torch.is_floating_point(x):
        raise TypeError(f"model input must be float in [0, 1]; got dtype {x.dtype} — divide uint8 images by 255 "
                        "(images_to_tensor does this)")
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"model input must have shape (N, {in_channels}, H, W); got {tuple(x.shape)}"
                         + (" — add the channel axis with x.unsqueeze(1)" if x.ndim == 3 else ""))
    if not torch.isfinite(x).all():
        raise ValueError("model input contains NaN or infinite values")
    return x


class RandomGamma(nn.Module):
    """Random gamma curve ``x ** g`` with ``g`` log-uniform in ``[1/max_gamma, max_gamma]``: exposure
    differences that brightness/contrast alone do not mimic. Input ``(..., H, W)`` in ``[0, 1]``."""

    def __init__(self, max_gamma: float = 1.4):
        super().__init__()
        if max_gamma < 1:
            raise ValueError(f"max_gamma must be >= 1; got {max_gamma}")
        self.log_max = float(np.log(max_gamma))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = float(torch.empty(1).uniform_(-self.log_max, self.log_max).exp())
        return x.clamp(0.0, 1.0).pow(gamma)


def train_transform(rotation: float = 10.0, translate: float = 0.06, scale: tuple[float, float] = (0.9, 1.1),
                    brightness: float = 0.1, contrast: float = 0.3, max_gamma: float = 1.4,
                    horizontal_flip: bool = False) -> v2.Compose:
    """The default training augmentation for one image ``(1, H, W)`` float in ``[0, 1]``.

    Geometry: rotation up to ``rotation`` degrees, shifts up to ``translate`` of the side, zoom in ``scale``.
    Intensity: brightness and contrast jitter and a random gamma (exposure differs by machine and site).
    Set an argument to 0 (or ``max_gamma=1``) to switch that part off.
    """
    steps: list = [v2.RandomAffine(degrees=rotation, translate=(translate, translate), scale=scale)]
    if horizontal_flip:  # off by default, see the module docstring
        steps.append(v2.RandomHorizontalFlip())
    if brightness or contrast:
        steps.append(v2.ColorJitter(brightness=brightness, contrast=contrast))
    if max_gamma > 1:
        steps.append(RandomGamma(max_gamma))
    steps.append(v2.Lambda(lambda x: x.clamp(0.0, 1.0)))
    return v2.Compose(steps)
