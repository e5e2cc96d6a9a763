"""The model-randomisation sanity check of Adebayo et al. (2018, *Sanity Checks for Saliency Maps*).

If a saliency map explains the *model*, destroying the model's weights must change the map. Cascading
randomisation re-initialises the layers one after another from the logits down to the input, recomputing
the maps after each step; the Spearman rank correlation between each film's original and randomised map
is reported per step. Grad-CAM passes (correlation falls towards 0); a map that merely outlines the
input (an edge detector, Guided Backprop) keeps a high correlation.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) Spearman rank correlation between maps a[i] and b[i] (each (n, H, W)); NaN where either map
    is constant (no ranking to compare)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (n, H, W) stacks of maps of the same shape; got {a.shape} and {b.shape}")
    out = np.full(len(a), np.nan)
    for i, (x, y) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1))):
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            out[i] = spearmanr(x, y).statistic
    return out


def reinitialise(module: nn.Module) -> None:
    """Fresh random weights for every sub-layer of ``module`` that can reset itself (Linear, Conv, norm
    layers), using the framework's own initialisation."""
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            child.reset_running_stats()
            with torch.no_grad():  # random scales, not the identity: Adebayo et al. randomise every weight
                child.weight.normal_(1.0, 0.5)
                child.bias.normal_(0.0, 0.5)
        elif hasattr(child, "reset_parameters"):
            child.reset_parameters()


def cascading_randomisation(model: nn.Module, layers: Sequence[tuple[str, str]],
                            explain: Callable[[nn.Module], np.ndarray], seed: int = 0) -> pd.DataFrame:
    """Re-initialise ``layers`` of a deep copy of ``model`` one by one, in the order given (logits first).

    layers: (label, dotted attribute path inside ``model``) pairs. explain(model) -> (n, H, W) maps of the
    same films. Returns one row per step: ``step`` (0 = trained model), ``layer`` (the last randomised),
    ``spearman`` (mean over films, constant maps skipped), ``n_constant`` (films whose map became flat).
    """
    original = np.asarray(explain(model))
    copy_ = copy.deepcopy(model)
    rows = [{"step": 0, "layer": "none (trained)", "spearman": float(np.nanmean(rank_correlation(original, original))),
             "n_constant": 0}]
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        for step, (label, path) in enumerate(layers, start=1):
            reinitialise(copy_.get_submodule(path))
            maps = np.asarray(explain(copy_))
            rho = rank_correlation(original, maps)
            rows.append({"step": step, "layer": label,
                         "spearman": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
                         "n_constant": int(np.isnan(rho).sum())})
    finally:
        torch.random.set_rng_state(generator_state)
    return pd.DataFrame(rows)
