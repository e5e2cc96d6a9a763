"""The referral threshold and the case-report figure."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from medfusion_lib.explain.case_report import CaseReport, plot_case_report, referral_threshold


def test_referral_threshold_reaches_the_target():
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45], [0.3, 0.7]])
    y = np.array([0, 0, 1, 1, 1])              # the two 0.6 / 0.55 cases are wrong
    t = referral_threshold(y, proba, 0.9)
    assert t == pytest.approx(0.7)
    kept = proba.max(axis=1) >= t
    assert (proba.argmax(axis=1)[kept] == y[kept]).mean() >= 0.9
    assert referral_threshold(y, proba, 0.5) == pytest.approx(0.55)
    assert referral_threshold(np.array([1, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]), 0.9) == 1.0


def test_plot_case_report_draws_every_panel():
    narrative = "Fever for three days and a productive cough, denies chest pain."
    spans = pd.DataFrame({"start": [0, 27], "end": [5, 43], "text": ["Fever", "productive cough"],
                          "attribution": [0.2, -0.05]})
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:7, 3:6] = True
    report = CaseReport("P00001", np.zeros((16, 16), np.uint8), np.random.default_rng(0).random((16, 16)), mask,
                        narrative, spans, {"temperature_c": 38.9, "spo2": 93}, {"text": 0.3, "image": -0.1},
                        np.array([0.7, 0.2, 0.1]), ("a", "b", "c"), "a", 0.8)
    assert report.predicted == "a" and report.refer
    fig = plot_case_report(report)
    assert len(fig.axes) == 5
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Fever" in texts and "productive cough" in texts
