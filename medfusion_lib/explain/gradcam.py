"""Grad-CAM (Selvaraju et al. 2017) on a CNN layer: built by hand with hooks, and with captum.

For a target class c and a convolution layer with activations A (n, k, h, w), Grad-CAM weights each
channel by the mean gradient of the class score over the map, alpha_k = mean_ij dy_c / dA_kij, and keeps the
positive part of the weighted sum, ReLU(sum_k alpha_k A_k): (n, h, w). It is then upsampled to the film.
Both versions take any ``model`` mapping films (n, 1, H, W) to logits (n, K) — for the fused model that is
:meth:`medfusion_lib.fusion.joint.PixelJointFusion.film_forward`, so the map explains the *fused* prediction.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _targets(target, n: int) -> torch.Tensor:
    """(n,) long class indices from an int or a sequence of ints."""
    target = torch.as_tensor(target, dtype=torch.long)
    if target.ndim == 0:
        target = target.repeat(n)
    if target.shape != (n,):
        raise ValueError(f"target must be one class index or one per film ({n}); got shape {tuple(target.shape)}")
    return target


def _check_inputs(films: torch.Tensor) -> torch.Tensor:
    if not isinstance(films, torch.Tensor) or films.ndim != 4:
        raise ValueError(f"films must be a float tensor (n, channels, H, W); got "
                         f"{getattr(films, 'shape', type(films).__name__)}")
    return films.float()


def gradcam_hooks(model: nn.Module, layer: nn.Module, films: torch.Tensor, target, relu: bool = True) -> torch.Tensor:
    """Grad-CAM by hand: a forward hook keeps the layer's activations, a tensor hook their gradient.

    films (n, C, H, W); target: a class index or (n,) of them. Returns (n, h, w) maps at the layer's
    resolution (not upsampled; see :func:`upsample`). The model's own weights are untouched.
    """
    films = _check_inputs(films)
    target = _targets(target, films.shape[0])
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.register_hook(lambda grad: store.__setitem__("grad", grad))
        store["act"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(films.detach().requires_grad_(True))
            score = logits.gather(1, target[:, None]).sum()  # each film's own class score
            score.backward()
    finally:
        handle.remove()
    if "grad" not in store:
        raise RuntimeError("the layer got no gradient: is it on the path from the films to the logits?")
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)      # alpha: (n, k, 1, 1)
    cam = (weights * store["act"]).sum(dim=1)                    # (n, h, w)
    cam = F.relu(cam) if relu else cam
    return cam.detach()


def gradcam_captum(model: nn.Module, layer: nn.Module, films: torch.Tensor, target,
                   size: tuple[int, int] | None = None, relu: bool = True) -> torch.Tensor:
    """Grad-CAM with captum's ``LayerGradCam`` (ReLU'd as in the paper when ``relu``), upsampled with
    ``LayerAttribution.interpolate`` (bilinear) to ``size`` when given. Returns (n, h, w)."""
    from captum.attr import LayerAttribution, LayerGradCam

    films = _check_inputs(films)
    target = _targets(target, films.shape[0])
    with torch.enable_grad():
        maps = LayerGradCam(model, layer).attribute(films, target=target.tolist(), relu_attributions=relu)
    if size is not None:
        maps = LayerAttribution.interpolate(maps, tuple(size), interpolate_mode="bilinear")
    return maps[:, 0].detach()


def upsample(maps: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, h, w) maps -> (n, *size) float64, bilinear (the same interpolation captum uses)."""
    maps = torch.as_tensor(np.asarray(maps), dtype=torch.float32)
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0].double().numpy()


def normalise(maps: np.ndarray) -> np.ndarray:
    """Scale each map to [0, 1] by its own maximum (all-zero maps stay zero); for display."""
    maps = np.asarray(maps, dtype=float)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
