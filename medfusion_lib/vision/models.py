"""Image models for small grayscale chest images: a compact CNN, and ResNet-18 / VGG-11 adapted to 28-64 px.

Every model maps ``(N, C, H, W)`` float images to ``(N, num_classes)`` logits and ends in one
``nn.Linear`` layer; the input of that layer is the penultimate-layer embedding that
:func:`medfusion_lib.vision.features.extract_embeddings` returns. Pretrained weights are never
downloaded: pass ``weights_path=`` to load a local ``state_dict`` file you obtained yourself.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from medfusion_lib.vision.transforms import check_batch

ARCHITECTURES = ("compact", "resnet18", "vgg11")


class PerImageStandardize(nn.Module):
    """Subtract each image's mean and divide by its standard deviation: ``(N, C, H, W) -> (N, C, H, W)``.

    The first layer of every course model. Films from different machines and sites differ in exposure;
    standardising each image on its own removes that difference before the network sees it, and there is no
    dataset statistic to compute, store or forget.
    """

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (std + self.eps)


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution -> batch norm -> ReLU; keeps the spatial size: ``(N, in, H, W) -> (N, out, H, W)``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ImageClassifier(nn.Module):
    """What every course image model shares: input checks, per-image standardisation, a ``backbone`` that
    yields one embedding per image, dropout, and a final linear layer.

    Shapes: input ``(N, in_channels, H, W)`` float in ``[0, 1]``; :meth:`embed` ``(N, embedding_dim)``;
    :meth:`forward` ``(N, num_classes)`` logits. ``spec`` records the factory arguments so a checkpoint can
    rebuild the model (:func:`build_model`).
    """

    def __init__(self, backbone: nn.Module, embedding_dim: int, num_classes: int, in_channels: int,
                 dropout: float, spec: dict):
        super().__init__()
        if in_channels < 1 or num_classes < 2:
            raise ValueError(f"need in_channels >= 1 and num_classes >= 2; got {in_channels}, {num_classes}")
        self.in_channels, self.num_classes, self.embedding_dim = in_channels, num_classes, embedding_dim
        self.spec = spec
        self.standardize = PerImageStandardize()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(N, embedding_dim)`` of images ``(N, in_channels, H, W)``."""
        return self.backbone(self.standardize(check_batch(x, self.in_channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.embed(x)))


class CompactCNN(ImageClassifier):
    """A small VGG-style CNN for 28-64 px grayscale images — the course's default image model.

    Three stages of two :func:`conv_block` each (``width``, ``2*width``, ``4*width`` channels) with a 2x2
    max pool after the first two, then global average pooling: ``embedding_dim = 4*width``. Global pooling
    makes it work at any input size >= 8 px. About 0.29 M parameters at ``width=32``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 32, dropout: float = 0.2):
        if width < 1:
            raise ValueError(f"width must be >= 1; got {width}")
        w = width
        features = nn.Sequential(
            conv_block(in_channels, w), conv_block(w, w), nn.MaxPool2d(2),
            conv_block(w, 2 * w), conv_block(2 * w, 2 * w), nn.MaxPool2d(2),
            conv_block(2 * w, 4 * w), conv_block(4 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        spec = {"name": "compact", "in_channels": in_channels, "num_classes": num_classes, "width": width,
                "dropout": dropout}
        super().__init__(features, 4 * w, num_classes, in_channels, dropout, spec)
        self.width = width


def resnet18_small(num_classes: int = 2, in_channels: int = 1, stem: str = "cifar", dropout: float = 0.0,
                   weights_path: str | os.PathLike | None = None) -> ImageClassifier:
    """torchvision's ResNet-18 adapted to small grayscale images (11.2 M parameters).

    ``stem="cifar"``: a 3x3 stride-1 first convolution and no max pool, so a 28 px image keeps 28x28 maps
    in the first stage (the original 7x7 stride-2 stem and max pool would shrink it to 7x7 at once).
    ``stem="imagenet"``: the original stem with ``in_channels`` inputs. ``weights_path``: a local
    ``state_dict`` file (see :func:`load_local_weights`); nothing is ever downloaded.
    """
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    if stem == "cifar":
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif stem == "imagenet":
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        raise ValueError(f"stem must be 'cifar' or 'imagenet'; got {stem!r}")
    net.fc = nn.Identity()  # the classifier head lives in ImageClassifier
    return _torchvision_classifier("resnet18", net, num_classes, in_channels, stem, dropout, weights_path)


def vgg11_small(num_classes: int = 2, in_channels: int = 1, stem: str = "cifar", dropout: float = 0.3,
                weights_path: str | os.PathLike | None = None) -> ImageClassifier:
    """torchvision's VGG-11 (with batch norm) adapted to small grayscale images (9.2 M parameters).

    ``stem="cifar"`` keeps only the first three of VGG's five max pools (28 px -> 3x3 maps; five pools
    would shrink 28 px to nothing); ``stem="imagenet"`` keeps all five (needs >= 32 px). Both end in global
    average pooling and one linear layer instead of VGG's 120 M-parameter fully connected head.
    ``weights_path``: a local ``state_dict`` file for the convolutional part (see :func:`load_local_weights`).
    """
    from torchvision.models.vgg import cfgs, make_layers

    # only VGG's convolutional part: building the full model would allocate its 120 M-parameter head
    features = make_layers(cfgs["A"], batch_norm=True)
    features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)
    for layer in features:
        if isinstance(layer, nn.Conv2d):  # VGG's own initialisation
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    if stem == "cifar":
        pools = [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
        for i in pools[3:]:
            features[i] = nn.Identity()
    elif stem != "imagenet":
        raise ValueError(f"stem must be 'cifar' or 'imagenet'; got {stem!r}")
    backbone = nn.Sequential()
    backbone.add_module("features", features)
    backbone.add_module("pool", nn.AdaptiveAvgPool2d(1))
    backbone.add_module("flatten", nn.Flatten())
    return _torchvision_classifier("vgg11", backbone, num_classes, in_channels, stem, dropout, weights_path)


def _torchvision_classifier(name: str, backbone: nn.Module, num_classes: int, in_channels: int, stem: str,
                            dropout: float, weights_path) -> ImageClassifier:
    """Wrap an adapted torchvision backbone (512-dimensional output) with the course's head; load local weights."""
    spec = {"name": name, "num_classes": num_classes, "in_channels": in_channels, "stem": stem, "dropout": dropout}
    model = ImageClassifier(backbone, 512, num_classes, in_channels, dropout, spec)
    if weights_path is not None:
        load_local_weights(model.backbone, weights_path)
    return model


def build_model(name: str = "compact", **kwargs) -> ImageClassifier:
    """One of :data:`ARCHITECTURES` by name: ``"compact"`` (:class:`CompactCNN`), ``"resnet18"``
    (:func:`resnet18_small`) or ``"vgg11"`` (:func:`vgg11_small`); ``kwargs`` go to the factory.
    ``"vit"`` builds lesson 16's :class:`~medfusion_lib.vision.vit.VisionTransformer` (a fixed input size, so it
    is not in :data:`ARCHITECTURES`, which lessons loop over at any size)."""
    factories = {"compact": CompactCNN, "resnet18": resnet18_small, "vgg11": vgg11_small}
    if name == "vit":
        from medfusion_lib.vision.vit import VisionTransformer  # vit imports this module: import when asked

        return VisionTransformer(**kwargs)
    if name not in factories:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    return factories[name](**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_local_weights(module: nn.Module, weights_path: str | os.PathLike) -> list[str]:
    """Load a local ``state_dict`` file into ``module`` as far as it fits; return the keys left out.

    Accepts a plain ``state_dict`` or a dict holding one under ``"state_dict"`` (e.g. torchvision's
    ImageNet ``resnet18-*.pth`` that you downloaded yourself, or a course checkpoint). Three-channel first
    convolutions are summed over colour so they fit one grayscale channel; tensors whose shapes still differ
    (a 7x7 ImageNet kernel in a 3x3 CIFAR stem, a 1000-class head) are left at their random start and listed
    in a warning. Loading never downloads anything.
    """
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist; this course never downloads weights — "
                                "download them yourself and pass the local path")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    own = module.state_dict()
    usable, skipped = {}, []
    for key, value in state.items():
        key = key.removeprefix("backbone.")
        target = own.get(key)
        if target is None:
            skipped.append(key)
            continue
        if value.ndim == 4 and target.ndim == 4 and value.shape[1] == 3 and target.shape[1] == 1:
            value = value.sum(dim=1, keepdim=True)  # RGB filters -> one grayscale filter, same response
        if value.shape != target.shape:
            skipped.append(key)
            continue
        usable[key] = value
    if not usable:
        raise ValueError(f"no tensor in {path} fits this model; is it the right architecture?")
    module.load_state_dict(usable, strict=False)
    if skipped:
        warnings.warn(f"{len(skipped)} tensors from {path.name} did not fit and stay randomly initialised: "
                      f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}", stacklevel=2)
    return skipped
