"""Training loop, determinism, checkpoints, evaluation and deep features on a small easy image task."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medfusion_lib.config import seed_everything
from medfusion_lib.vision.datasets import ImageArrayDataset
from medfusion_lib.vision.evaluate import binary_report, choose_threshold, multiclass_report, predict_proba
from medfusion_lib.vision.features import extract_embeddings, fit_embedding_classifier
from medfusion_lib.vision.models import CompactCNN
from medfusion_lib.vision.train import TrainConfig, class_weights_for, fit, load_checkpoint, save_checkpoint

FAST = TrainConfig(epochs=2, batch_size=32, lr=3e-3, patience=None, progress=False, num_threads=1)


def _toy(n: int = 300, seed: int = 0, side: int = 16):
    """Class 0: a bright blob in the left half; class 1: in the right half (plus noise and exposure)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 4 == 0).astype(np.int64)  # imbalanced 1:3
    images = rng.normal(60, 20, (n, side, side))
    for i, label in enumerate(labels):
        col = rng.integers(side // 2, side - 3) if label else rng.integers(0, side // 2 - 3)
        row = rng.integers(0, side - 3)
        images[i, row:row + 3, col:col + 3] += 150
    images *= rng.uniform(0.7, 1.2, (n, 1, 1))
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def data():
    x, y = _toy()
    return ImageArrayDataset(x[:240], y[:240]), ImageArrayDataset(x[240:], y[240:])


def test_two_epochs_loss_falls_and_history_is_complete(data):
    train, val = data
    model = CompactCNN(width=8)
    history = fit(model, train, val, FAST)
    frame = history.to_frame()
    assert list(frame.columns) == ["epoch", "train_loss", "val_loss", "val_acc", "seconds"]
    assert len(frame) == 2 and frame["train_loss"].iloc[1] < frame["train_loss"].iloc[0]
    assert history.best_epoch in (1, 2) and not model.training


def test_tiny_datasets_train_too(data):
    train, val = data
    tiny = ImageArrayDataset(train.images[:20, 0].numpy(), train.labels[:20].numpy())
    for epochs in (1, 4):  # 1 step in all, then 4 steps: both must run
        history = fit(CompactCNN(width=4), tiny, val, FAST.replace(epochs=epochs, batch_size=64))
        assert len(history.rows) == epochs


def test_same_seed_same_weights(data):
    train, val = data
    runs = []
    for _ in range(2):
        seed_everything(3)  # the initial weights are random too
        model = CompactCNN(width=4)
        history = fit(model, train, val, FAST.replace(epochs=1, seed=3))
        runs.append((history.rows[0]["train_loss"], model.fc.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_early_stopping_restores_best_epoch(data):
    train, val = data
    model = CompactCNN(width=4)
    history = fit(model, train, val, FAST.replace(epochs=6, lr=0.5, patience=1))  # absurd lr: val loss wobbles
    best = min(history.rows, key=lambda r: r["val_loss"])
    assert history.best_epoch == best["epoch"]
    assert history.stopped_early == (len(history.rows) < 6)
    final = fit(CompactCNN(width=4), train, val, FAST.replace(epochs=3, restore_best=False))
    assert final.best_epoch == 3  # keeps the last epoch's weights


def test_checkpoint_round_trip(tmp_path, data):
    train, val = data
    model = CompactCNN(width=4)
    config = FAST.replace(epochs=1)
    history = fit(model, train, val, config)
    path = save_checkpoint(tmp_path / "ckpt" / "model.pt", model, config, history, note="toy")
    rebuilt, payload = load_checkpoint(path)
    x = val.images[:8]
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model.eval()(x))
    assert payload["extra"] == {"note": "toy"} and payload["history"].rows == history.rows
    assert payload["config"]["epochs"] == 1
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(tmp_path / "bad.pt")


def test_config_and_label_errors(data):
    train, _val = data
    with pytest.raises(TypeError, match="unknown TrainConfig"):
        FAST.replace(epoch=3)
    with pytest.raises(ValueError, match="outputs"):
        fit(CompactCNN(width=4, num_classes=2), ImageArrayDataset(train.images.numpy()[:, 0], np.arange(240) % 3),
            None, FAST)
    assert torch.allclose(class_weights_for(np.array([0, 0, 0, 1]), 2), torch.tensor([2 / 3, 2.0]))
    with pytest.raises(ValueError, match="no training images"):
        class_weights_for(np.array([0, 0]), 2)


def test_threshold_reports_and_embeddings(data):
    train, val = data
    model = CompactCNN(width=8)
    fit(model, train, val, FAST)
    proba = predict_proba(model, val)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(1), 1)
    y = val.labels.numpy()
    threshold = choose_threshold(y, proba)
    report = binary_report(y, proba, threshold)
    assert set(report) >= {"auc", "acc", "macro_f1", "sensitivity", "specificity"} and 0 <= report["auc"] <= 1
    assert multiclass_report(y, proba)["acc"] == pytest.approx(binary_report(y, proba, 0.5)["acc"])
    # threshold choice is exact on a tiny case: only 0.5 < t <= 0.6 separates perfectly
    assert 0.5 < choose_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.6, 0.9])) <= 0.6

    emb = extract_embeddings(model, val)
    assert emb.shape == (60, model.embedding_dim) and emb.dtype == np.float32
    emb_train = extract_embeddings(model, (train.images[:, 0].numpy() * 255).astype(np.uint8))
    assert emb_train.shape == (240, 32)
    clf = fit_embedding_classifier(emb_train, train.labels.numpy(), kind="rbf_svm")
    assert clf.predict_proba(emb).shape == (60, 2)
    with pytest.raises(ValueError, match="NaN"):
        fit_embedding_classifier(np.full((4, 2), np.nan), np.array([0, 1, 0, 1]))


def test_default_recipe_end_to_end():
    from medfusion_lib.vision.recipe import default_config, train_image_model

    x, y = _toy(200, seed=1)
    splits = {"train": (x[:140], y[:140]), "val": (x[140:], y[140:])}
    trained = train_image_model(splits, config=default_config(epochs=1, num_threads=1, progress=False))
    assert trained.threshold is not None and 0 <= trained.threshold <= 1
    report = trained.evaluate(x[140:], y[140:])
    assert {"auc", "acc", "macro_f1"} <= set(report)
    assert trained.predict(x[:5]).dtype == np.int64
    three = {"train": (x[:140], np.arange(140) % 3), "val": (x[140:], np.arange(60) % 3)}
    multi = train_image_model(three, config=default_config(epochs=1, num_threads=1, progress=False), augment=False)
    assert multi.threshold is None and "macro_auc" in multi.evaluate(x[140:], np.arange(60) % 3)
    with pytest.raises(ValueError, match="'train' and 'val'"):
        train_image_model({"train": splits["train"]})


def test_constant_schedule_keeps_the_rate_and_unknown_schedule_is_refused(data, monkeypatch):
    train, val = data
    seen = []
    original = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    fit(CompactCNN(width=4), train, val, FAST.replace(schedule="constant", lr=1e-3))
    assert len(seen) > 4 and set(seen) == {1e-3}
    seen.clear()
    fit(CompactCNN(width=4), train, val, FAST)  # one-cycle: the rate moves
    assert len(set(seen)) > 2
    with pytest.raises(ValueError, match="schedule"):
        fit(CompactCNN(width=4), train, val, FAST.replace(schedule="cosine"))


def test_fit_restores_the_callers_thread_count(data):
    train, val = data
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    fit(CompactCNN(width=4), train, val, FAST.replace(num_threads=other, epochs=1))
    assert torch.get_num_threads() == before
