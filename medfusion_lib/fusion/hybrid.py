"""Hybrid (joint) fusion: one PyTorch network with a branch per modality, a fusion layer, and a head,
trained end to end.

- Each branch (a small MLP) maps its modality's features to a ``hidden``-sized embedding.
- A patient without a modality gets that modality's **learned missing embedding** instead.
- **Modality dropout** hides each present modality of a training patient with probability
  ``modality_dropout`` (never all of them), so the network learns not to lean on one input alone.
- Fusion layers: ``concat`` (concatenate embeddings, then an MLP), ``gated`` (a softmax gate per patient
  over modalities weights their embeddings), ``attention`` (cross-modal self-attention over the modality
  tokens, then mean pooling). ``fusion_weights`` returns the gates / attention each patient got.

The image branch starts from CNN embeddings (see :mod:`medfusion_lib.fusion.features`), which keeps the
joint model trainable on a laptop CPU in seconds.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medfusion_lib.config import torch_threads
from medfusion_lib.fusion.base import FusionModel, ModalityScaler, resolve_modalities
from medfusion_lib.fusion.modalities import Modalities

FUSION_LAYERS = ("concat", "gated", "attention")


class GatedFusion(nn.Module):
    """z = sum_m g_m * tanh(h_m), with gates g = softmax(W [h_1, ..., h_M]) per patient.

    Input (n, M, d) modality embeddings; output (n, d) fused embedding and (n, M) gates.
    """

    def __init__(self, n_modalities: int, hidden: int):
        super().__init__()
        self.gate = nn.Linear(n_modalities * hidden, n_modalities)

    def forward(self, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates = torch.softmax(self.gate(H.flatten(1)), dim=1)          # (n, M)
        return (gates.unsqueeze(2) * torch.tanh(H)).sum(dim=1), gates   # (n, d), (n, M)


class AttentionFusion(nn.Module):
    """Cross-modal attention: every modality token attends to all modality tokens (itself included).

    Input (n, M, d); output (n, d) (mean of the attended tokens) and (n, M) attention each modality
    *receives*, averaged over the querying tokens and heads.
    """

    def __init__(self, n_modalities: int, hidden: int, n_heads: int = 2):
        super().__init__()
        self.type_embedding = nn.Parameter(torch.zeros(n_modalities, hidden))
        self.attention = nn.MultiheadAttention(hidden, n_heads, batch_first=True)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = H + self.type_embedding                                  # which modality a token is
        attended, weights = self.attention(tokens, tokens, tokens, need_weights=True)  # weights (n, M, M)
        fused = self.norm(tokens + attended).mean(dim=1)
        return fused, weights.mean(dim=1)


class ConcatFusion(nn.Module):
    """Concatenate the modality embeddings: (n, M, d) -> (n, M*d); uniform (n, M) weights for display."""

    def forward(self, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, m, _ = H.shape
        return H.flatten(1), torch.full((n, m), 1.0 / m)


class JointNet(nn.Module):
    """Branches -> (missing embeddings) -> fusion layer -> classification head."""

    def __init__(self, widths: dict[str, int], n_classes: int, hidden: int = 32, fusion: str = "concat",
                 dropout: float = 0.2):
        super().__init__()
        self.names = list(widths)
        self.branches = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(hidden, hidden))
            for name, width in widths.items()})
        self.missing = nn.Parameter(torch.zeros(len(widths), hidden))  # one learned vector per modality
        m = len(widths)
        if fusion == "concat":
            self.fusion, fused_width = ConcatFusion(), m * hidden
        elif fusion == "gated":
            self.fusion, fused_width = GatedFusion(m, hidden), hidden
        elif fusion == "attention":
            self.fusion, fused_width = AttentionFusion(m, hidden), hidden
        else:
            raise ValueError(f"unknown fusion layer {fusion!r}; choose one of {FUSION_LAYERS}")
        self.head = nn.Sequential(nn.Linear(fused_width, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, n_classes))

    def forward(self, xs: list[torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """xs: one (n, width_m) tensor per modality; present: (n, M) bool. Returns logits (n, K), weights (n, M)."""
        H = torch.stack([branch(x) for branch, x in zip(self.branches.values(), xs)], dim=1)  # (n, M, d)
        H = torch.where(present.unsqueeze(2), H, self.missing.unsqueeze(0).expand_as(H))
        fused, weights = self.fusion(H)
        return self.head(fused), weights


def drop_modalities(present: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Hide each present modality with probability ``p``; a patient keeps at least the modalities it had
    when every one would be hidden. present: (n, M) bool -> (n, M) bool."""
    if p <= 0:
        return present
    keep = torch.rand(present.shape, generator=generator) >= p
    dropped = present & keep
    nothing_left = ~dropped.any(dim=1, keepdim=True)
    return torch.where(nothing_left, present, dropped)


def train_joint_network(net: nn.Module, optimiser: torch.optim.Optimizer, n: int, batch_size: int,
                        num_epochs: int, generator: torch.Generator, batch_loss, val_loss=None) -> list[float]:
    """The epoch loop every joint network of the fusion track shares; returns the validation loss per epoch.

    Each epoch shuffles the ``n`` training rows with ``generator`` and takes one optimiser step per mini-batch,
    whose loss is ``batch_loss(idx)`` (idx: the batch's row indices). With ``val_loss`` (a function returning the
    validation loss) the weights of the epoch with the lowest validation loss are restored at the end — early
    stopping without stopping.
    """
    best_loss, best_state, history = np.inf, None, []
    for _epoch in range(num_epochs):
        net.train()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            loss = batch_loss(order[start:start + batch_size])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if val_loss is not None:
            net.eval()
            with torch.no_grad():
                loss = float(val_loss())
            history.append(loss)
            if loss < best_loss:
                best_loss = loss
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return history


class HybridFusion(FusionModel):
    """A joint network trained end to end on all modalities (see the module docstring).

    Parameters
    ----------
    fusion : "concat", "gated" or "attention".
    modality_dropout : probability of hiding each present modality of a training patient per step.
    hidden, dropout, num_epochs, lr, batch_size, weight_decay : network and training settings.
    seed : makes weights, batches and dropout repeat exactly.
    device : "cpu" (default) or "cuda".
    """

    missing_policy = "replaces an absent modality with a learned 'missing' embedding"

    def __init__(self, fusion: str = "concat", modalities=None, modality_dropout: float = 0.0,
                 hidden: int = 32, dropout: float = 0.2, num_epochs: int = 60, lr: float = 3e-3,
                 batch_size: int = 64, weight_decay: float = 1e-4, seed: int = 0, device: str = "cpu"):
        self.fusion = fusion
        self.modalities = modalities
        self.modality_dropout = modality_dropout
        self.hidden = hidden
        self.dropout = dropout
        self.num_epochs = num_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device

    def _tensors(self, data: Modalities) -> tuple[list[torch.Tensor], torch.Tensor]:
        scaled = self.scaler_.transform(data)
        xs = [torch.from_numpy(scaled[n]).to(self.device) for n in self.names_]
        present = torch.from_numpy(np.stack([data.present[n] for n in self.names_], axis=1)).to(self.device)
        return xs, present

    def fit(self, data: Modalities, y, val: Modalities | None = None, y_val=None) -> "HybridFusion":
        """Train for ``num_epochs``; with ``val``/``y_val`` the weights of the epoch with the lowest
        validation loss are kept (early stopping without stopping)."""
        if self.fusion not in FUSION_LAYERS:
            raise ValueError(f"unknown fusion layer {self.fusion!r}; choose one of {FUSION_LAYERS}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1); got {self.modality_dropout}")
        data, y = self._start_fit(data, y)
        self.names_ = resolve_modalities(self.modalities, data)
        self.layout_ = {n: data.n_features[n] for n in self.names_}
        self.scaler_ = ModalityScaler().fit(data, self.names_)
        target = torch.from_numpy(np.searchsorted(self.classes_, y)).to(self.device)
        xs, present = self._tensors(data)
        if val is not None:
            val.check_layout(self.layout_)
            val_xs, val_present = self._tensors(val)
            val_target = torch.from_numpy(np.searchsorted(self.classes_, np.asarray(y_val))).to(self.device)
        with torch.random.fork_rng(devices=[]), torch_threads(1):  # seeded locally; caller's RNG untouched
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            net = JointNet(self.layout_, len(self.classes_), self.hidden, self.fusion, self.dropout)
            net.to(self.device)
            # foreach: one call per step for all parameter tensors instead of a Python loop over ~24 of them
            # (the same arithmetic; a third of the step time of these tiny networks on a CPU went into that loop)
            optimiser = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay, foreach=True)
            loss_fn = nn.CrossEntropyLoss()

            def batch_loss(idx):
                idx = idx.to(self.device)
                batch_present = drop_modalities(present[idx].cpu(), self.modality_dropout, generator)
                logits, _ = net([x[idx] for x in xs], batch_present.to(self.device))
                return loss_fn(logits, target[idx])

            val_loss = (lambda: loss_fn(net(val_xs, val_present)[0], val_target)) if val is not None else None
            self.history_ = train_joint_network(net, optimiser, len(y), self.batch_size, self.num_epochs, generator,
                                                batch_loss, val_loss)
        net.eval()
        self.net_ = net
        return self

    def _forward(self, data: Modalities) -> tuple[np.ndarray, np.ndarray]:
        data = self._start_predict(data)
        xs, present = self._tensors(data)
        with torch.no_grad(), torch_threads(1):
            logits, weights = self.net_(xs, present)
        return torch.softmax(logits, dim=1).cpu().numpy().astype(float), weights.cpu().numpy()

    def predict_proba(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_classes) class probabilities."""
        return self._forward(data)[0]

    def fusion_weights(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_modalities): the gate (``gated``) or attention received (``attention``) per
        modality for each patient, columns in ``names_`` order; uniform for ``concat``."""
        return self._forward(data)[1]
