"""From a trained image model to numbers: class probabilities, a decision threshold chosen on validation
data, and AUC / accuracy / macro-F1 on the test split."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medfusion_lib import evaluation
from medfusion_lib.config import pick_device
from medfusion_lib.vision.transforms import image_batches

THRESHOLD_CRITERIA = ("balanced_accuracy", "accuracy", "youden")


@torch.no_grad()
def predict_proba(model: nn.Module, images, batch_size: int = 256, device: str | None = None,
                  size: int | None = None) -> np.ndarray:
    """Softmax class probabilities ``(N, num_classes)`` float64.

    ``images``: uint8 ``(N, H, W)`` NumPy (resized to ``size`` when given), a float tensor
    ``(N, 1, H, W)`` in ``[0, 1]``, or a Dataset of ``(image, label)``.
    """
    device = pick_device(device)
    model.eval().to(device)
    out = [model(batch.to(device)).softmax(dim=1).cpu() for batch in image_batches(images, batch_size, size)]
    return torch.cat(out).double().numpy()


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray, criterion: str = "balanced_accuracy") -> float:
    """The cut-off on P(positive) that maximises ``criterion`` on validation data (binary tasks).

    ``"balanced_accuracy"`` (the default) weighs both classes equally, so the threshold does not depend on
    how common the positive class was in validation — the safer choice when the deployment (test) mix
    differs; ``"accuracy"`` fits the validation mix; ``"youden"`` maximises sensitivity + specificity - 1
    (same optimum as balanced accuracy). Ties go to the middle of the best range.
    """
    if criterion not in THRESHOLD_CRITERIA:
        raise ValueError(f"criterion must be one of {THRESHOLD_CRITERIA}; got {criterion!r}")
    y_val, p_val = np.asarray(y_val).astype(int), np.asarray(p_val, dtype=float)
    if p_val.ndim == 2:
        p_val = p_val[:, 1]
    if set(np.unique(y_val)) != {0, 1}:
        raise ValueError("choose_threshold needs binary labels with both classes present in y_val")
    ordered = np.sort(p_val)
    candidates = np.unique(np.concatenate([[0.0, 1.0], (ordered[:-1] + ordered[1:]) / 2,
                                           np.linspace(0.01, 0.99, 99)]))
    pred = p_val[None, :] >= candidates[:, None]  # (n_thresholds, n)
    pos, neg = y_val == 1, y_val == 0
    sens = pred[:, pos].mean(axis=1)
    spec = (~pred[:, neg]).mean(axis=1)
    score = (pred == pos[None, :]).mean(axis=1) if criterion == "accuracy" else (sens + spec) / 2
    best = np.flatnonzero(np.isclose(score, score.max()))
    return float(np.median(candidates[best]))


def binary_report(y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AUC, accuracy, macro-F1, sensitivity and specificity of P(positive) ``proba`` (``(N,)`` or
    ``(N, 2)``) against labels ``(N,)`` at ``threshold``."""
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    p_pos = proba[:, 1] if proba.ndim == 2 else proba
    pred = (p_pos >= threshold).astype(int)
    return {
        "auc": evaluation.macro_auc(y_true, p_pos),
        "acc": evaluation.accuracy(y_true, pred),
        "macro_f1": evaluation.macro_f1(y_true, pred),
        "sensitivity": float((pred[y_true == 1] == 1).mean()),
        "specificity": float((pred[y_true == 0] == 0).mean()),
        "threshold": float(threshold),
    }


def multiclass_report(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1, balanced accuracy (arg-max decisions) and macro one-vs-rest AUC of
    ``proba`` ``(N, k)``."""
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    pred = proba.argmax(axis=1)
    return {
        "acc": evaluation.accuracy(y_true, pred),
        "macro_f1": evaluation.macro_f1(y_true, pred),
        "balanced_acc": evaluation.balanced_accuracy(y_true, pred),
        "macro_auc": evaluation.macro_auc(y_true, proba),
    }
