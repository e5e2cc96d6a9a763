"""Deep features + classic machine learning: penultimate-layer embeddings of a trained CNN, and an SVM or
random forest trained on them (the fusion lessons reuse these embeddings as the image modality)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medfusion_lib.config import pick_device
from medfusion_lib.estimators import make_estimator
from medfusion_lib.vision.transforms import image_batches

EMBEDDING_CLASSIFIERS = ("rbf_svm", "random_forest", "logreg")


@torch.no_grad()
def extract_embeddings(model: nn.Module, images, batch_size: int = 256, device: str | None = None,
                       size: int | None = None) -> np.ndarray:
    """Penultimate-layer features ``(N, d)`` float32 of ``images``.

    ``images``: uint8 ``(N, H, W)`` NumPy (resized to ``size`` when given), a float tensor ``(N, 1, H, W)``
    in ``[0, 1]``, or a Dataset. ``model``: any course model (uses its ``embed``); for another
    ``nn.Module`` the input of its last ``nn.Linear`` layer is captured with a forward hook. ``d`` is
    ``model.embedding_dim`` (128 for the default :class:`~medfusion_lib.vision.models.CompactCNN`).
    The model is put in eval mode (dropout off, batch-norm statistics frozen).
    """
    device = pick_device(device)
    model.eval().to(device)
    if hasattr(model, "embed"):
        chunks = [model.embed(batch.to(device)).cpu() for batch in image_batches(images, batch_size, size)]
        return torch.cat(chunks).float().numpy()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError("extract_embeddings needs a model with an `embed` method or a final nn.Linear layer")
    captured: list[torch.Tensor] = []
    handle = linears[-1].register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].cpu()))
    try:
        for batch in image_batches(images, batch_size, size):
            model(batch.to(device))
    finally:
        handle.remove()
    return torch.cat(captured).float().reshape(len(torch.cat(captured)), -1).numpy()


#: Per-name settings for embeddings (on top of the registry defaults): balanced classes everywhere, since
#: the image classes are unequal; a quicker 3-fold Platt scaling; a larger forest on two cores.
EMBEDDING_SETTINGS: dict[str, dict] = {
    "rbf_svm": {"class_weight": "balanced", "calibration_cv": 3},
    "random_forest": {"n_estimators": 300, "class_weight": "balanced", "n_jobs": 2},
    "logreg": {"class_weight": "balanced"},
}


def embedding_classifier(kind: str = "rbf_svm", seed: int = 0):
    """An unfitted scikit-learn pipeline for embeddings ``(n, d)``: standardise, then ``kind``.

    ``kind`` is a registry name (:mod:`medfusion_lib.estimators`) in ``EMBEDDING_CLASSIFIERS``:
    ``"rbf_svm"`` (probabilities by Platt scaling), ``"random_forest"`` (no scaling needed, kept for symmetry)
    or ``"logreg"``, with ``EMBEDDING_SETTINGS`` on top of the registry defaults.
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = make_estimator(kind, seed, allowed=EMBEDDING_CLASSIFIERS, **EMBEDDING_SETTINGS.get(kind, {}))
    return make_pipeline(StandardScaler(), head)


def fit_embedding_classifier(embeddings: np.ndarray, labels: np.ndarray, kind: str = "rbf_svm", seed: int = 0):
    """Fit :func:`embedding_classifier` on ``embeddings`` ``(n, d)`` and ``labels`` ``(n,)``; return it."""
    embeddings, labels = np.asarray(embeddings), np.asarray(labels)
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ValueError(f"embeddings must be (n, d) with one label each; got {embeddings.shape} and "
                         f"{labels.shape} labels")
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or infinite values")
    return embedding_classifier(kind, seed).fit(embeddings, labels)
