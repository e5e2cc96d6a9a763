"""Public vision helpers other modules and lessons reuse: image_batches, film_splits, cost_per_image."""
import numpy as np
import pytest
import torch

from medfusion_lib.data.cohort import REAL_IMAGE_CLASSES, generate_cohort
from medfusion_lib.data.diagnoses import DIAGNOSES
from medfusion_lib.vision.cost import cost_per_image
from medfusion_lib.vision.datasets import ImageArrayDataset, cohort_splits, film_splits
from medfusion_lib.vision.models import build_model
from medfusion_lib.vision.transforms import image_batches


def test_image_batches_from_arrays_tensors_and_datasets():
    images = np.arange(5 * 8 * 8, dtype=np.uint8).reshape(5, 8, 8)
    batches = list(image_batches(images, batch_size=2))
    assert [b.shape for b in batches] == [(2, 1, 8, 8), (2, 1, 8, 8), (1, 1, 8, 8)]
    assert torch.allclose(torch.cat(batches)[:, 0], torch.from_numpy(images).float() / 255)
    assert list(image_batches(images, batch_size=8, size=16))[0].shape == (5, 1, 16, 16)
    dataset = ImageArrayDataset(images, np.zeros(5, dtype=np.int64))
    assert torch.allclose(torch.cat(list(image_batches(dataset, 3))), torch.cat(batches))
    with pytest.raises(TypeError, match="NumPy array"):
        list(image_batches([1, 2, 3]))


def test_film_splits_keeps_film_classes_labelled_as_medmnist():
    cohort = generate_cohort(n_patients=240, seed=1, image_size=28)
    films, full = film_splits(cohort), cohort_splits(cohort)
    for name, (x, y) in films.items():
        x_all, y_all = full[name]
        keep = np.isin([DIAGNOSES[i] for i in y_all], list(REAL_IMAGE_CLASSES))
        expected = np.array([REAL_IMAGE_CLASSES[DIAGNOSES[i]] for i in y_all[keep]], dtype=np.int64)
        assert np.array_equal(y, expected) and np.array_equal(x, x_all[keep])
        assert set(np.unique(y)) <= {0, 1} and y.dtype == np.int64
    pneumonia = [DIAGNOSES.index("bacterial_pneumonia"), DIAGNOSES.index("viral_pneumonia")]
    train_y = full["train"][1]
    assert films["train"][1].sum() == np.isin(train_y, pneumonia).sum()


def test_cost_per_image_reports_positive_times_per_image():
    torch.manual_seed(0)
    model = build_model("compact", width=4)
    before = [p.detach().clone() for p in model.parameters()]
    cost = cost_per_image(model, size=28, repeats=1, infer_batch=8, train_batch=4)
    assert set(cost) == {"infer_ms_per_image", "train_ms_per_image", "infer_cpu_ms_per_image",
                         "train_cpu_ms_per_image"}
    assert all(v > 0 for v in cost.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "no training step was timed"
    with pytest.raises(ValueError, match="repeats"):
        cost_per_image(model, repeats=0)

