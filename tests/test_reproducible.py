"""Same seed, same numbers: a small training run twice gives bit-identical weights and histories on CPU, whatever
thread count the caller left torch at (training runs on ``config.TRAIN_THREADS``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medfusion_lib.config import TRAIN_THREADS, seed_everything
from medfusion_lib.vision.datasets import ImageArrayDataset
from medfusion_lib.vision.models import CompactCNN
from medfusion_lib.vision.train import TrainConfig, fit
from medfusion_lib.vision.transforms import train_transform


def _films(n: int = 160, side: int = 32, seed: int = 0):
    """Noise films with a bright square whose side of the image is the label (n, side, side) uint8, (n,)."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3 == 0).astype(np.int64)
    x = rng.normal(70, 25, (n, side, side))
    for i, label in enumerate(y):
        col = rng.integers(side // 2, side - 5) if label else rng.integers(0, side // 2 - 5)
        x[i, 8:13, col:col + 5] += 140
    return np.clip(x, 0, 255).astype(np.uint8), y


def _train(caller_threads: int) -> tuple[dict, list[dict], list[int]]:
    """Train the course's CNN with augmentation (it draws random numbers every batch) and the default thread setting,
    starting from a caller who set ``caller_threads``; returns weights, history rows and the thread counts seen."""
    x, y = _films()
    seen: list[int] = []
    torch.set_num_threads(caller_threads)
    seed_everything(3)
    model = CompactCNN(num_classes=2, width=8)
    model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    config = TrainConfig(epochs=3, batch_size=32, lr=3e-3, patience=None, progress=False, seed=3, device="cpu")
    history = fit(model, ImageArrayDataset(x[:120], y[:120], transform=train_transform()),
                  ImageArrayDataset(x[120:], y[120:]), config)
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, rows, seen


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_training_twice_gives_identical_numbers(restore_threads):
    weights_a, rows_a, seen_a = _train(caller_threads=1)
    weights_b, rows_b, seen_b = _train(caller_threads=2)
    assert rows_a == rows_b, "the loss and accuracy histories differ between two runs with the same seed"
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), f"{name} differs between two runs with the same seed"
    assert set(seen_a) == set(seen_b) == {TRAIN_THREADS}, "training did not run on the fixed thread count"
    assert rows_a[-1]["train_loss"] < rows_a[0]["train_loss"]  # it trained: the numbers compared are not constants


def test_a_different_seed_gives_different_weights(restore_threads):
    x, y = _films()
    config = TrainConfig(epochs=1, batch_size=32, patience=None, progress=False, device="cpu")
    weights = []
    for seed in (0, 1):
        seed_everything(seed)
        model = CompactCNN(num_classes=2, width=8)
        fit(model, ImageArrayDataset(x, y), None, config.replace(seed=seed))
        weights.append(model.fc.weight.detach().clone())
    assert not torch.equal(*weights)


def test_seed_everything_switches_on_deterministic_algorithms():
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_image_features_do_not_depend_on_the_callers_random_state():
    """The fusion track's image features are the same whatever the global RNG held before (torch seeds itself
    differently in every process, so a CNN built before seeding made every fresh clone's features different)."""
    from medfusion_lib.data import load_cohort
    from medfusion_lib.fusion.features import ImageSettings, image_features, subsample_cohort

    cohort = subsample_cohort(load_cohort(), {"train": 80, "val": 40, "test": 20}, seed=0)
    settings = ImageSettings(width=4, size=16, epochs=1, folds=2)
    runs = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        np.random.seed(caller_seed)
        runs.append(image_features(cohort, settings, seed=0, use_cache=False, progress=False)[0])
    assert np.array_equal(runs[0], runs[1])
    assert np.ptp(runs[0]) > 0  # real log-probabilities, not a constant


def test_shortcut_film_model_does_not_depend_on_the_callers_random_state(restore_threads):
    from medfusion_lib.hospitals.shortcut import train_film_model

    x, y = _films(n=64, side=16)
    weights = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        model = train_film_model(x[:48], y[:48], x[48:], y[48:], epochs=1, width=4, size=16, seed=0)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(*weights)
