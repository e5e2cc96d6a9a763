"""The cascading randomisation check: Grad-CAM changes when the weights go; an input-only map does not."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medfusion_lib.explain.gradcam import gradcam_hooks, upsample
from medfusion_lib.explain.sanity import cascading_randomisation, rank_correlation, reinitialise


def test_rank_correlation():
    a = np.random.default_rng(0).random((3, 5, 5))
    assert np.allclose(rank_correlation(a, a), 1.0)
    assert np.allclose(rank_correlation(a, -a), -1.0)
    flat = a.copy()
    flat[1] = 0.0
    assert np.isnan(rank_correlation(a, flat)[1])


def test_reinitialise_changes_every_weight():
    block = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(3, 3))
    before = [p.detach().clone() for p in block.parameters()]
    torch.manual_seed(0)
    reinitialise(block)
    assert all(not torch.equal(b, p) for b, p in zip(before, block.parameters()))


def _model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))


def test_gradcam_decorrelates_but_an_edge_map_does_not():
    model = _model()
    films = torch.rand(6, 1, 12, 12)
    films[:, :, 3:7, 3:7] += 2.0
    layers = [("logits", "6"), ("conv 2", "2"), ("conv 1", "0")]

    def cam(m):
        return upsample(gradcam_hooks(m, m[2], films, 0, relu=False), (12, 12))

    table = cascading_randomisation(model, layers, cam, seed=0)
    assert list(table["layer"]) == ["none (trained)", "logits", "conv 2", "conv 1"]
    assert table["spearman"].iloc[0] == 1.0
    assert abs(table["spearman"].iloc[-1]) < 0.6

    def edges(_m):  # ignores the model entirely: fails the check by design
        return np.abs(np.diff(films[:, 0].numpy(), axis=2, append=0))

    table = cascading_randomisation(model, layers, edges, seed=0)
    assert (table["spearman"] > 0.99).all()
    # the original model is untouched
    assert torch.equal(model[0].weight, _model()[0].weight)
