"""Grad-CAM by hand (hooks) agrees with captum's LayerGradCam, and both localise a planted pattern."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medfusion_lib.explain.gradcam import gradcam_captum, gradcam_hooks, normalise, upsample


def tiny_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def test_hooks_and_captum_agree():
    model = tiny_cnn()
    films = torch.rand(5, 1, 12, 12)
    for relu in (True, False):
        mine = gradcam_hooks(model, model[2], films, [0, 1, 2, 0, 1], relu=relu)
        theirs = gradcam_captum(model, model[2], films, [0, 1, 2, 0, 1], relu=relu)
        assert mine.shape == theirs.shape == (5, 12, 12)
        assert torch.allclose(mine, theirs, atol=1e-6)
    assert (gradcam_hooks(model, model[2], films, 1) >= 0).all()


def test_captum_upsampling_matches_ours():
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    films = torch.rand(3, 1, 16, 16)
    small = gradcam_hooks(model, model[3], films, 1)
    assert small.shape == (3, 8, 8)
    big = gradcam_captum(model, model[3], films, 1, size=(32, 32))
    assert np.allclose(upsample(small, (32, 32)), big.numpy(), atol=1e-5)


def test_gradcam_points_at_a_planted_pattern():
    """A hand-set filter that fires on a bright square: the map's peak is on the square, not its mirror."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0 / 9)
    model = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[4].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model[4].bias.zero_()
    films = torch.zeros(1, 1, 16, 16)
    films[0, 0, 2:5, 10:13] = 1.0
    cam = gradcam_hooks(model, model[1], films, 0)[0]
    r, c = divmod(int(cam.argmax()), 16)
    assert 2 <= r <= 4 and 10 <= c <= 12


def test_bad_input_is_explained():
    model = tiny_cnn()
    with pytest.raises(ValueError, match="n, channels, H, W"):
        gradcam_hooks(model, model[2], torch.rand(12, 12), 0)
    with pytest.raises(ValueError, match="one per film"):
        gradcam_hooks(model, model[2], torch.rand(2, 1, 8, 8), [0, 1, 2])
    with pytest.raises(RuntimeError, match="no gradient"):
        other = nn.Conv2d(1, 1, 1)
        gradcam_hooks(model, other, torch.rand(2, 1, 8, 8), 0)


def test_normalise():
    maps = np.array([[[0.0, 2.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    out = normalise(maps)
    assert out[0].max() == 1.0 and out[0, 1, 0] == 0.5 and not out[1].any()
