"""End-to-end joint fusion from pixels: the image branch is a CNN on the film itself, not cached embeddings.

:class:`~medfusion_lib.fusion.hybrid.HybridFusion` starts from CNN embeddings computed once, so no gradient of
the fused prediction ever reaches a pixel. :class:`PixelJointFusion` trains the
:class:`~medfusion_lib.vision.models.CompactCNN` inside the joint network, so the fused prediction can be
explained on the film (Grad-CAM, lesson 13).

Its ``X`` is a :class:`Modalities` whose ``image`` block is the flattened film, ``(n, size*size)`` floats
in [0, 1] (see :func:`film_modalities`); the other blocks are the usual text and vitals features. Apart
from that, it is a fusion strategy like the others (``fit`` / ``predict_proba``, missing embeddings,
modality dropout). An auxiliary image-only head (weight ``image_loss``) makes the CNN learn from the film
even when the narrative alone would do, as deep supervision does.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medfusion_lib.fusion.base import FusionModel, ModalityScaler, resolve_modalities
from medfusion_lib.fusion.hybrid import FUSION_LAYERS, JointNet, drop_modalities, train_joint_network
from medfusion_lib.fusion.modalities import Modalities
from medfusion_lib.vision.models import CompactCNN

IMAGE = "image"


def without_inplace(module: nn.Module) -> nn.Module:
    """Turn off ``inplace`` in every activation of ``module`` (returned): an in-place ReLU overwrites the
    tensor a backward hook (Grad-CAM, captum) needs, and PyTorch then raises or gives wrong gradients."""
    for child in module.modules():
        if hasattr(child, "inplace"):
            child.inplace = False
    return module


class FilmBranch(nn.Module):
    """The image branch: a flattened film ``(n, size*size)`` -> ``(n, hidden)`` embedding.

    ``cnn`` is a :class:`CompactCNN` whose output layer yields the ``hidden``-sized embedding;
    :attr:`target_layer` is its last convolution block, where Grad-CAM looks.
    """

    def __init__(self, size: int, hidden: int, width: int = 16, dropout: float = 0.2):
        super().__init__()
        self.size = size
        self.cnn = without_inplace(CompactCNN(in_channels=1, num_classes=hidden, width=width, dropout=dropout))

    @property
    def target_layer(self) -> nn.Module:
        """The last conv block (conv -> batch norm -> ReLU): (n, 4*width, size/4, size/4) activations."""
        return self.cnn.backbone[7]

    def films(self, x: torch.Tensor) -> torch.Tensor:
        """(n, size*size) -> (n, 1, size, size)."""
        return x.reshape(-1, 1, self.size, self.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.films(x))


class FilmJointNet(JointNet):
    """:class:`JointNet` with a CNN image branch and an auxiliary image-only head.

    ``forward(xs, present)`` -> logits (n, K), fusion weights (n, M); :meth:`image_logits` (n, K) is the
    image-only head used for deep supervision during training.
    """

    def __init__(self, widths: dict[str, int], n_classes: int, size: int, hidden: int = 32, width: int = 16,
                 fusion: str = "concat", dropout: float = 0.2):
        super().__init__(widths, n_classes, hidden, fusion, dropout)
        self.branches[IMAGE] = FilmBranch(size, hidden, width, dropout)
        self.image_head = nn.Linear(hidden, n_classes)
        without_inplace(self)

    def forward_all(self, xs: list[torch.Tensor], present: torch.Tensor):
        """logits (n, K), fusion weights (n, M), image-only logits (n, K)."""
        H = torch.stack([branch(x) for branch, x in zip(self.branches.values(), xs)], dim=1)  # (n, M, d)
        image_logits = self.image_head(H[:, self.names.index(IMAGE)])
        H = torch.where(present.unsqueeze(2), H, self.missing.unsqueeze(0).expand_as(H))
        fused, weights = self.fusion(H)
        return self.head(fused), weights, image_logits

    def forward(self, xs: list[torch.Tensor], present: torch.Tensor):
        logits, weights, _ = self.forward_all(xs, present)
        return logits, weights


class PixelJointFusion(FusionModel):
    """A joint network trained end to end from the film's pixels, the narrative's features and the vitals.

    Parameters
    ----------
    size : side of the (square) films in the ``image`` block; its width must be ``size*size``.
    fusion : "concat", "gated" or "attention" (see :mod:`medfusion_lib.fusion.hybrid`).
    modality_dropout : probability of hiding each present modality of a training patient per step.
    image_loss : weight of the auxiliary image-only cross-entropy (0 turns it off).
    width : CNN width (channels of the first stage); hidden, dropout: fusion network settings.
    num_epochs, lr, batch_size, weight_decay : training; with ``val`` the best epoch's weights are kept.
    seed : makes weights, batches and dropout repeat exactly. device: "cpu" or "cuda".
    num_threads : torch CPU threads while fitting and predicting (then the caller's setting is restored).
        1 by default, as :class:`HybridFusion` uses: 32 px films in batches of 64 are too small to share
        out, and on a busy 2-core machine a second thread mostly waits (3-4x slower, measured). ``None``
        keeps the caller's setting.
    """

    missing_policy = "replaces an absent modality with a learned 'missing' embedding"

    def __init__(self, size: int = 32, fusion: str = "concat", modalities=None, modality_dropout: float = 0.3,
                 image_loss: float = 0.5, width: int = 16, hidden: int = 32, dropout: float = 0.2,
                 num_epochs: int = 8, lr: float = 3e-3, batch_size: int = 64, weight_decay: float = 1e-4,
                 seed: int = 0, device: str = "cpu", num_threads: int | None = 1):
        self.size = size
        self.fusion = fusion
        self.modalities = modalities
        self.modality_dropout = modality_dropout
        self.image_loss = image_loss
        self.width = width
        self.hidden = hidden
        self.dropout = dropout
        self.num_epochs = num_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device
        self.num_threads = num_threads

    # ------------------------------------------------------------------ inputs
    def _threads(self):
        """A context running torch on ``num_threads`` CPU threads (a no-op for ``None``)."""
        import contextlib

        from medfusion_lib.config import torch_threads

        return contextlib.nullcontext() if self.num_threads is None else torch_threads(self.num_threads)

    def _check_settings(self, data: Modalities) -> None:
        if self.fusion not in FUSION_LAYERS:
            raise ValueError(f"unknown fusion layer {self.fusion!r}; choose one of {FUSION_LAYERS}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1); got {self.modality_dropout}")
        if IMAGE not in data.names:
            raise ValueError("PixelJointFusion needs an 'image' modality holding flattened films; build the "
                             "data with medfusion_lib.fusion.joint.film_modalities(...)")
        if data.n_features[IMAGE] != self.size * self.size:
            raise ValueError(f"the 'image' block has {data.n_features[IMAGE]} columns but size={self.size} needs "
                             f"{self.size * self.size} (flattened {self.size}x{self.size} films); pass the same "
                             "size to film_modalities and PixelJointFusion")
        films = data.features[IMAGE]
        if films.size and (films.min() < 0 or films.max() > 1):
            raise ValueError("the 'image' block must hold pixel values in [0, 1] (not CNN embeddings); "
                             "build it with film_modalities(...)")

    def tensors(self, data: Modalities) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The network's inputs: one float tensor per modality in ``names_`` order (films raw, the others
        standardised) and the (n, M) presence mask."""
        scaled = self.scaler_.transform(data)
        xs = [torch.from_numpy(data.features[n] if n == IMAGE else scaled[n]).float().to(self.device)
              for n in self.names_]
        present = torch.from_numpy(np.stack([data.present[n] for n in self.names_], axis=1)).to(self.device)
        return xs, present

    # ------------------------------------------------------------------ training
    def fit(self, data: Modalities, y, val: Modalities | None = None, y_val=None) -> "PixelJointFusion":
        """Train for ``num_epochs``; with ``val``/``y_val`` keep the epoch with the lowest validation loss."""
        data, y = self._start_fit(data, y)
        self._check_settings(data)
        self.names_ = resolve_modalities(self.modalities, data)
        if IMAGE not in self.names_:
            raise ValueError(f"modalities {self.names_} leave out 'image'; use HybridFusion without films")
        self.layout_ = {n: data.n_features[n] for n in self.names_}
        self.scaler_ = ModalityScaler().fit(data, [n for n in self.names_ if n != IMAGE])
        target = torch.from_numpy(np.searchsorted(self.classes_, y)).to(self.device)
        xs, present = self.tensors(data)
        if val is not None:
            val.check_layout(self.layout_)
            val_xs, val_present = self.tensors(val)
            val_target = torch.from_numpy(np.searchsorted(self.classes_, np.asarray(y_val))).to(self.device)
        # seeded locally (the caller's RNG is untouched), on num_threads threads
        with torch.random.fork_rng(devices=[]), self._threads():
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            net = FilmJointNet({n: self.layout_[n] for n in self.names_}, len(self.classes_), self.size,
                               self.hidden, self.width, self.fusion, self.dropout).to(self.device)
            optimiser = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            loss_fn = nn.CrossEntropyLoss()
            image = self.names_.index(IMAGE)

            def batch_loss(idx):
                idx = idx.to(self.device)
                shown = drop_modalities(present[idx].cpu(), self.modality_dropout, generator).to(self.device)
                logits, _, image_logits = net.forward_all([x[idx] for x in xs], shown)
                loss = loss_fn(logits, target[idx])
                has_film = present[idx, image]
                if self.image_loss > 0 and has_film.any():  # the auxiliary image-only head
                    loss = loss + self.image_loss * loss_fn(image_logits[has_film], target[idx][has_film])
                return loss

            val_loss = (lambda: loss_fn(net(val_xs, val_present)[0], val_target)) if val is not None else None
            self.history_ = train_joint_network(net, optimiser, len(y), self.batch_size, self.num_epochs, generator,
                                                batch_loss, val_loss)
        net.eval()
        self.net_ = net
        return self

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, data: Modalities) -> np.ndarray:
        """(n_patients, n_classes) class probabilities."""
        data = self._start_predict(data)
        xs, present = self.tensors(data)
        with torch.no_grad(), self._threads():
            logits, _ = self.net_(xs, present)
        return torch.softmax(logits, dim=1).cpu().numpy().astype(float)

    def film_forward(self, data: Modalities) -> "FilmForward":
        """A module mapping films ``(n, 1, size, size)`` to fused logits ``(n, K)`` for these patients, with
        their text and vitals held fixed: what Grad-CAM and captum differentiate."""
        data = self._start_predict(data)
        xs, present = self.tensors(data)
        return FilmForward(self.net_, xs, present, self.names_.index(IMAGE))

    @property
    def target_layer(self) -> nn.Module:
        """The CNN's last convolution block (Grad-CAM's usual layer)."""
        return self.net_.branches[IMAGE].target_layer

    def films(self, data: Modalities) -> torch.Tensor:
        """(n, 1, size, size) float films of ``data`` as the network sees them."""
        return torch.from_numpy(data.features[IMAGE]).float().reshape(-1, 1, self.size, self.size)


class FilmForward(nn.Module):
    """Films -> fused logits for a fixed set of patients (row i of the films is patient i).

    Input ``(n, 1, size, size)``; output ``(n, K)``. The other modalities are the stored tensors of the
    same patients, so captum may pass a batch of any of their rows only in the original order (it does).
    """

    def __init__(self, net: FilmJointNet, xs: list[torch.Tensor], present: torch.Tensor, image_index: int):
        super().__init__()
        self.net, self.xs, self.present, self.image_index = net, xs, present, image_index

    def forward(self, films: torch.Tensor) -> torch.Tensor:
        n = films.shape[0]
        if n % len(self.present):
            raise ValueError(f"got {n} films for {len(self.present)} patients; pass one film per patient")
        repeat = n // len(self.present)  # captum may stack several copies (e.g. integrated gradients steps)
        xs = [x.repeat(repeat, 1) for x in self.xs]
        xs[self.image_index] = films.reshape(n, -1)
        return self.net(xs, self.present.repeat(repeat, 1))[0]


def film_modalities(cohort, data: Modalities, size: int = 32) -> Modalities:
    """``data`` with its ``image`` block replaced by the cohort's films of the same patients, resized to
    ``size`` and flattened: (n, size*size) float32 in [0, 1]. Patients are matched by id, never by row."""
    from medfusion_lib.vision.transforms import images_to_tensor

    rows = lookup_rows(cohort, data.patient_ids)
    films = images_to_tensor(cohort.images[rows], size=size).reshape(len(rows), -1).numpy().astype(np.float32)
    features = {n: X for n, X in data.features.items() if n != IMAGE}
    present = {n: m for n, m in data.present.items() if n != IMAGE}
    features[IMAGE] = np.clip(films, 0.0, 1.0)
    present[IMAGE] = data.present.get(IMAGE, np.ones(len(rows), dtype=bool))
    order = [n for n in data.names] if IMAGE in data.names else [*data.names, IMAGE]
    return Modalities({n: features[n] for n in order}, data.patient_ids, {n: present[n] for n in order})


def lookup_rows(cohort, patient_ids) -> np.ndarray:
    """(n,) row positions in ``cohort`` of ``patient_ids``; a clear error names an unknown id."""
    index = {pid: i for i, pid in enumerate(cohort.patients["patient_id"])}
    missing = [pid for pid in patient_ids if pid not in index]
    if missing:
        raise ValueError(f"{len(missing)} patients (e.g. {missing[0]!r}) are not in this cohort; build the "
                         "features from the same cohort")
    return np.array([index[pid] for pid in patient_ids], dtype=np.int64)


def save_joint(model: PixelJointFusion, path) -> None:
    """Write a fitted :class:`PixelJointFusion` (settings, classes, scaler, weights) to one file, atomically."""
    import io

    from medfusion_lib.atomic import atomic_write_bytes

    if not hasattr(model, "net_"):
        raise RuntimeError("the model is not fitted yet; call fit(...) before saving it")
    state = {"params": model.get_params(), "classes": model.classes_, "prior": model.prior_,
             "names": list(model.names_), "layout": dict(model.layout_),
             "scaler": {k: (np.asarray(m), np.asarray(s)) for k, (m, s) in model.scaler_.stats_.items()},
             "weights": model.net_.state_dict(), "history": list(getattr(model, "history_", []))}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_joint(path) -> PixelJointFusion:
    """The model :func:`save_joint` wrote, ready to predict and explain."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = PixelJointFusion(**state["params"])
    model.classes_, model.prior_ = state["classes"], state["prior"]
    model.names_, model.layout_ = tuple(state["names"]), state["layout"]
    model.scaler_ = ModalityScaler()
    model.scaler_.stats_ = {k: tuple(v) for k, v in state["scaler"].items()}
    model.history_ = state["history"]
    net = FilmJointNet({n: model.layout_[n] for n in model.names_}, len(model.classes_), model.size, model.hidden,
                       model.width, model.fusion, model.dropout)
    net.load_state_dict(state["weights"])
    model.net_ = net.eval()
    return model
