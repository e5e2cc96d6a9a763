"""Deep features + classic machine learning: penultimate-layer embeddings of a trained CNN, and an SVM or
random forest trained on them (the fusion lessons reuse these embeddings as the image modality)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medfusion_lib.config import pick_device
from medfusion_lib.vision.evaluate import _batches

EMBEDDING_CLASSIFIERS = ("svm", "rf", "logreg")


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
        chunks = [model.embed(batch.to(device)).cpu() for batch in _batches(images, batch_size, size)]
        return torch.cat(chunks).float().numpy()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError("extract_embeddings needs a model with an `embed` method or a final nn.Linear layer")
    captured: list[torch.Tensor] = []
    handle = linears[-1].register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].cpu()))
    try:
        for batch in _batches(images, batch_size, size):
            model(batch.to(device))
    finally:
        handle.remove()
    return torch.cat(captured).float().reshape(len(torch.cat(captured)), -1).numpy()


def embedding_classifier(kind: str = "svm", seed: int = 0):
    """An unfitted scikit-learn pipeline for embeddings ``(n, d)``: standardise, then ``kind``.

    ``"svm"``: RBF support vector machine, probabilities by Platt scaling; ``"rf"``: random forest of 300 trees
    (no scaling needed, kept for symmetry); ``"logreg"``: multinomial logistic regression.
    Classes are weighted 'balanced' in all three.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if kind == "svm":
        # Platt scaling fitted by cross-validation turns SVM margins into probabilities
        svm = SVC(C=1.0, kernel="rbf", class_weight="balanced", random_state=seed)
        head = CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False)
    elif kind == "rf":
        head = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, class_weight="balanced",
                                      n_jobs=2, random_state=seed)
    elif kind == "logreg":
        head = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    else:
        raise ValueError(f"kind must be one of {EMBEDDING_CLASSIFIERS}; got {kind!r}")
    return make_pipeline(StandardScaler(), head)


def fit_embedding_classifier(embeddings: np.ndarray, labels: np.ndarray, kind: str = "svm", seed: int = 0):
    """Fit :func:`embedding_classifier` on ``embeddings`` ``(n, d)`` and ``labels`` ``(n,)``; return it."""
    embeddings, labels = np.asarray(embeddings), np.asarray(labels)
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ValueError(f"embeddings must be (n, d) with one label each; got {embeddings.shape} and "
                         f"{labels.shape} labels")
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or infinite values")
    return embedding_classifier(kind, seed).fit(embeddings, labels)
