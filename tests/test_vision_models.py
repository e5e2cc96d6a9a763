"""Shapes, dtypes and input errors through every image model and transform."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medfusion_lib.vision.datasets import ImageArrayDataset, split_datasets
from medfusion_lib.vision.models import (ARCHITECTURES, CompactCNN, PerImageStandardize, build_model,
                                         count_parameters, load_local_weights)
from medfusion_lib.vision.transforms import RandomGamma, check_images, images_to_tensor, train_transform

torch.set_num_threads(1)  # tests run beside others (pytest -n 2): no oversubscription


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("size", [28, 64])
def test_every_architecture_maps_images_to_logits_and_embeddings(name, size):
    model = build_model(name, num_classes=3).eval()
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():
        logits, emb = model(x), model.embed(x)
    assert logits.shape == (2, 3) and logits.dtype == torch.float32
    assert emb.shape == (2, model.embedding_dim)
    assert torch.isfinite(logits).all()


def test_imagenet_stems_and_parameter_counts():
    assert build_model("resnet18", stem="imagenet").eval()(torch.rand(1, 1, 28, 28)).shape == (1, 2)
    assert build_model("vgg11", stem="imagenet").eval()(torch.rand(1, 1, 32, 32)).shape == (1, 2)
    assert count_parameters(CompactCNN()) < 400_000 < count_parameters(build_model("vgg11"))
    with pytest.raises(ValueError, match="stem"):
        build_model("resnet18", stem="tiny")
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("alexnet")


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((2, 1, 28, 28), np.float32), TypeError, "torch.Tensor"),
    (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), TypeError, "float"),
    (torch.zeros(2, 28, 28), ValueError, "unsqueeze"),
    (torch.zeros(2, 3, 28, 28), ValueError, r"\(N, 1, H, W\)"),
    (torch.full((2, 1, 28, 28), float("nan")), ValueError, "NaN"),
])
def test_models_reject_bad_input_clearly(bad, error, message):
    with pytest.raises(error, match=message):
        CompactCNN(width=4)(bad)


def test_per_image_standardize_removes_exposure_differences():
    x = torch.rand(3, 1, 16, 16)
    z = PerImageStandardize()(x)
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(PerImageStandardize()(0.5 * x + 0.2), z, atol=1e-4)  # exposure invariance


def test_images_to_tensor_and_checks():
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    t = images_to_tensor(images)
    assert t.shape == (5, 1, 28, 28) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert images_to_tensor(images, size=64).shape == (5, 1, 64, 64)
    assert torch.allclose(images_to_tensor(images.astype(np.float32) / 255), t)
    with pytest.raises(TypeError, match="uint8"):
        check_images(images.astype(np.int64))
    with pytest.raises(ValueError, match="one image"):
        check_images(images[0])
    with pytest.raises(ValueError, match="grayscale"):
        check_images(np.zeros((2, 28, 28, 3), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        check_images(np.full((2, 28, 28), np.nan, np.float32))
    with pytest.raises(TypeError, match="NumPy"):
        check_images([[0, 1]])


def test_train_transform_keeps_shape_range_and_orientation():
    torch.manual_seed(0)
    image = torch.zeros(1, 28, 28)
    image[:, :8] = 1.0  # a bright band at the top
    augment = train_transform()
    outs = torch.stack([augment(image) for _ in range(20)])
    assert outs.shape == (20, 1, 28, 28) and outs.dtype == torch.float32
    assert 0 <= outs.min() and outs.max() <= 1
    # no vertical flips: the top stays brighter than the bottom in every draw
    assert (outs[:, :, :10].mean(dim=(1, 2, 3)) > outs[:, :, -10:].mean(dim=(1, 2, 3))).all()
    assert not torch.equal(outs[0], outs[1])  # it is random


def test_random_gamma_is_a_random_monotone_curve_within_its_range():
    torch.manual_seed(0)
    gamma = RandomGamma(1.4)
    outs = torch.stack([gamma(torch.full((1, 4, 4), 0.5)) for _ in range(200)])
    assert outs.shape == (200, 1, 4, 4)
    # one gamma per call, applied to every pixel alike
    assert torch.allclose(outs, outs[:, :, :1, :1].expand_as(outs))
    values = outs[:, 0, 0, 0]
    # 0.5 ** g with g log-uniform in [1/1.4, 1.4]: never outside, both brighter and darker draws occur
    assert values.min() >= 0.5 ** 1.4 - 1e-6 and values.max() <= 0.5 ** (1 / 1.4) + 1e-6
    assert (values > 0.5 + 0.05).any() and (values < 0.5 - 0.05).any()
    assert values.std() > 0.03, "the curve must vary from call to call"
    ramp = torch.linspace(0, 1, 11).reshape(1, 1, 11)
    curved = gamma(ramp)
    assert curved[0, 0, 0] == 0 and curved[0, 0, -1] == 1, "black stays black and white stays white"
    assert (curved.diff() > 0).all(), "a gamma curve keeps the order of intensities"
    assert torch.equal(RandomGamma(1.0)(ramp), ramp), "max_gamma=1 switches it off"
    with pytest.raises(ValueError, match="max_gamma must be >= 1"):
        RandomGamma(0.5)


def test_datasets_yield_float_images_and_int64_labels():
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), np.arange(10) % 2
    ds = ImageArrayDataset(images, labels, transform=train_transform(), size=32)
    x, y = ds[3]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64 and int(y) == 1
    assert ds.class_counts().tolist() == [5, 5]
    splits = split_datasets({"train": (images, labels), "val": (images[:4], labels[:4])}, train_transform())
    assert splits["train"].transform is not None and splits["val"].transform is None
    with pytest.raises(ValueError, match="match the images"):
        ImageArrayDataset(images, labels[:3])
    with pytest.raises(TypeError, match="integer"):
        ImageArrayDataset(images, labels.astype(float))


def test_local_weights_load_and_adapt_rgb(tmp_path):
    source = build_model("resnet18", stem="imagenet", num_classes=2)
    state = {k: v for k, v in source.backbone.state_dict().items()}
    state["conv1.weight"] = state["conv1.weight"].repeat(1, 3, 1, 1) / 3  # as if saved from an RGB model
    state["fc.weight"] = torch.zeros(1000, 512)  # an ImageNet head that does not fit
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    target = build_model("resnet18", stem="imagenet")
    with pytest.warns(UserWarning, match="did not fit"):
        skipped = load_local_weights(target.backbone, path)
    assert skipped == ["fc.weight"]
    assert torch.allclose(target.backbone.conv1.weight, source.backbone.conv1.weight, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        build_model("resnet18", weights_path=tmp_path / "missing.pth")
