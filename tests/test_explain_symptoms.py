"""Integrated gradients on the text branch, and mapping attributions onto the narrative's spans."""
from __future__ import annotations

import numpy as np
import pytest

from medfusion_lib.explain.symptoms import TextForward, highlight_html, symptom_spans, text_attributions
from medfusion_lib.fusion import Modalities
from medfusion_lib.fusion.joint import PixelJointFusion

SIZE = 8


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(0, 2, n)
    text = np.zeros((n, 3), dtype=np.float32)
    text[:, 0] = y                                  # "Fever: present" decides the class
    text[:, 1] = rng.integers(0, 2, n)              # noise
    data = Modalities({"text": text, "image": rng.random((n, SIZE * SIZE)).astype(np.float32)}, np.arange(n))
    model = PixelJointFusion(size=SIZE, width=2, hidden=8, num_epochs=15, lr=1e-2, modality_dropout=0.0,
                             image_loss=0.0).fit(data, y)
    return model, data, y


def test_integrated_gradients_are_complete_and_find_the_signal(model_and_data):
    model, data, y = model_and_data
    sub = data.subset(np.arange(20))
    attributions, gap = text_attributions(model, sub, target=1, n_steps=64)
    assert attributions.shape == (20, 3) and gap.shape == (20,)
    assert np.abs(gap).max() < 0.02                       # completeness: sums to p(x) - p(baseline)
    has_fever = sub.features["text"][:, 0] == 1
    assert (attributions[has_fever, 0] > 0.05).all()      # fever pushed towards class 1
    assert np.abs(attributions[:, 0]).mean() > 3 * np.abs(attributions[:, 1]).mean()
    assert np.allclose(attributions[:, 2], 0.0)           # a feature at its baseline gets nothing


def test_text_forward_is_the_model(model_and_data):
    """The cached-branch forward used for integrated gradients gives exactly the model's probabilities."""
    import torch

    model, data, _ = model_and_data
    sub = data.subset(np.arange(30))
    mine = TextForward(model, sub)(torch.from_numpy(sub.features["text"])).detach().numpy()
    assert np.allclose(mine, model.predict_proba(sub), atol=1e-6)


def test_spans_carry_their_features_attribution():
    narrative = "Denies fever but has a dry cough."
    names = ["Fever: present", "Nonproductive cough: present", "Fever: absent", "Nonproductive cough: absent"]
    spans = symptom_spans(narrative, np.array([0.5, 0.2, -0.3, 0.0]), names)
    assert list(spans["text"]) == ["fever", "dry cough"]
    assert spans["negated"].tolist() == [True, False]
    assert spans["attribution"].tolist() == [-0.3, 0.2]
    for _, s in spans.iterrows():
        assert narrative[s["start"]:s["end"]] == s["text"]
    page = highlight_html(narrative, spans)
    assert "rgba(200,0,0" in page and "rgba(0,150,0" in page and page.count("<span") == 2
    assert "Denies " in page and page.endswith(".")
    with pytest.raises(ValueError, match="one attribution per feature"):
        symptom_spans(narrative, np.zeros(3), names)
