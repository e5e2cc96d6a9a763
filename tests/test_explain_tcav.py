"""TCAV with concept sets from the finding masks, on a small joint model."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medfusion_lib.data import generate_cohort
from medfusion_lib.explain.tcav import ImageOnlyForward, concept_films, tcav_scores
from medfusion_lib.fusion import Modalities
from medfusion_lib.fusion.joint import PixelJointFusion, film_modalities


@pytest.fixture(scope="module")
def study():
    cohort = generate_cohort(240, seed=4, image_size=32)
    ids = cohort.patients["patient_id"].to_numpy()
    base = Modalities({"text": np.zeros((len(ids), 2)), "image": np.zeros((len(ids), 1))}, ids)
    films = film_modalities(cohort, base, size=16)
    model = PixelJointFusion(size=16, width=2, hidden=4, num_epochs=2, seed=0).fit(films, cohort.y)
    return SimpleNamespace(cohort=cohort, films={"train": films, "test": films}, model=model)


def test_image_only_forward_takes_any_batch(study):
    forward = ImageOnlyForward(study.model)
    assert forward(torch.rand(3, 1, 16, 16)).shape == (3, 6)
    assert forward(torch.rand(7, 1, 16, 16)).shape == (7, 6)


def test_concept_films_follow_the_masks(study):
    films = concept_films(study, "nodules_cavity", 5)
    assert films.shape == (5, 1, 16, 16)
    tb = (study.cohort.patients["true_diagnosis"] == "tuberculosis").sum()
    with pytest.raises(ValueError, match="only"):
        concept_films(study, "nodules_cavity", int(tb) + 1)
    with pytest.raises(ValueError, match="unknown finding"):
        concept_films(study, "fracture", 2)


def test_tcav_table(study):
    inputs = study.model.films(study.films["test"].subset(np.arange(8)))
    table = tcav_scores(study, ("effusion", "nodules_cavity"), target=5, inputs=inputs, n_concept=8, n_random=2)
    assert list(table["concept"]) == ["effusion", "nodules_cavity"]
    assert table["tcav"].between(0, 1).all() and table["random"].between(0, 1).all()
    assert table["p_value"].between(0, 1).all() and table["significant"].dtype == bool
