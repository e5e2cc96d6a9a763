"""The small vision transformer: the hand-built block equals torch's, the model trains with the CNNs' fit,
and attention rollout follows Abnar & Zuidema's definition."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medfusion_lib.explain.rollout import attention_rollout, rollout_maps
from medfusion_lib.vision.datasets import ImageArrayDataset
from medfusion_lib.vision.models import build_model
from medfusion_lib.vision.train import TrainConfig, fit
from medfusion_lib.vision.vit import EncoderBlock, VisionTransformer


@pytest.mark.parametrize("dim,heads,mlp", [(16, 2, 32), (24, 4, 48)])
def test_hand_built_block_equals_torch_encoder_layer(dim, heads, mlp):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(dim, heads, mlp, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True).eval()
    block = EncoderBlock.from_torch(layer).eval()
    x = torch.randn(3, 7, dim)
    with torch.no_grad():
        # torch's fast path (eval, no grad) and its slow path both agree with the hand-built block
        assert torch.allclose(block(x), layer(x), atol=1e-5)
    layer.train()  # dropout 0: the training path too
    assert torch.allclose(block(x), layer(x), atol=1e-5)


def test_block_refuses_a_post_norm_layer():
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=False, activation="gelu")
    with pytest.raises(ValueError, match="norm_first"):
        EncoderBlock.from_torch(layer)


def test_attention_rows_sum_to_one_and_shapes():
    torch.manual_seed(0)
    model = VisionTransformer(num_classes=3, image_size=16, patch=4, dim=16, depth=2, heads=2)
    films = torch.rand(5, 1, 16, 16)
    assert model(films).shape == (5, 3)
    assert model.embed(films).shape == (5, 16)
    attentions = model.attentions(films)
    assert len(attentions) == 2 and attentions[0].shape == (5, 2, 17, 17)
    assert torch.allclose(attentions[0].sum(-1), torch.ones(5, 2, 17), atol=1e-5)
    assert all(block.attention is None for block in model.blocks)  # nothing kept after the call


def test_wrong_film_size_says_what_to_do():
    model = VisionTransformer(image_size=16, patch=4, dim=16, depth=1, heads=2)
    with pytest.raises(ValueError, match="size=16"):
        model(torch.rand(2, 1, 20, 20))
    with pytest.raises(ValueError, match="multiple of patch"):
        VisionTransformer(image_size=18, patch=4)


def _toy(n=240, side=16, seed=0):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    images = rng.normal(60, 15, (n, side, side))
    for i, label in enumerate(labels):
        col = rng.integers(side // 2, side - 4) if label else rng.integers(0, side // 2 - 4)
        images[i, rng.integers(0, side - 4):, col:col + 4][:4] += 150
    return np.clip(images, 0, 255).astype(np.uint8), labels


def test_vit_trains_with_the_cnn_fit_and_learns_a_toy_task():
    x, y = _toy(n=400)
    model = build_model("vit", num_classes=2, image_size=16, patch=4, dim=32, depth=2, heads=4, dropout=0.0)
    config = TrainConfig(epochs=15, batch_size=32, lr=3e-3, patience=None, progress=False, num_threads=1,
                         label_smoothing=0.0)
    history = fit(model, ImageArrayDataset(x[:300], y[:300]), ImageArrayDataset(x[300:], y[300:]), config)
    assert history.rows[-1]["train_loss"] < 0.5 * history.rows[0]["train_loss"]
    with torch.no_grad():
        accuracy = (model(ImageArrayDataset(x[300:], y[300:]).images).argmax(1).numpy() == y[300:]).mean()
    assert accuracy > 0.8


def test_rollout_of_identity_attention_is_identity_and_matches_a_direct_product():
    eye = torch.eye(4).expand(2, 3, 4, 4)
    assert torch.allclose(attention_rollout([eye, eye]), torch.eye(4).expand(2, 4, 4))
    rng = np.random.default_rng(0)
    raw = [rng.random((1, 2, 4, 4)) for _ in range(3)]
    raw = [a / a.sum(-1, keepdims=True) for a in raw]
    expected = np.eye(4)
    for a in raw:  # written out: average heads, add identity, renormalise rows, left-multiply
        step = 0.5 * a[0].mean(0) + 0.5 * np.eye(4)
        expected = (step / step.sum(-1, keepdims=True)) @ expected
    got = attention_rollout([torch.tensor(a) for a in raw])[0].numpy()
    assert np.allclose(got, expected)
    assert np.allclose(got.sum(-1), 1)


def test_rollout_maps_shape_and_a_cnn_is_refused():
    model = VisionTransformer(image_size=16, patch=4, dim=16, depth=2, heads=2)
    maps = rollout_maps(model, torch.rand(3, 1, 16, 16))
    assert maps.shape == (3, 4, 4) and (maps >= 0).all() and (maps.sum(axis=(1, 2)) <= 1 + 1e-9).all()
    with pytest.raises(TypeError, match="Grad-CAM"):
        rollout_maps(build_model("compact", width=4), torch.rand(2, 1, 16, 16))
