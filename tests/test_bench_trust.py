"""``medfusion bench trust --quick`` writes the keys issue 12 asks for (on a shortened line-up, so the file runs in
well under a minute), and the sections list is the one extension point."""
import json

import pytest

from medfusion_lib.bench import benchmark_names, run_bench
from medfusion_lib.bench import trust


def test_trust_is_a_benchmark():
    assert "trust" in benchmark_names()
    assert [name for name, _ in trust.SECTIONS][:4] == ["calibration", "expert_calibration", "missing_modality",
                                                        "selective"]


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    import medfusion_lib.fusion as fusion

    full = fusion.default_strategies
    keep = ("text_only", "image_only", "vitals_only", "early_logreg", "late_mean", "late_confidence",
            "late_stacking", "hybrid_concat")

    def shortened(*args, **kwargs):
        line_up = full(*args, **kwargs)
        line_up["hybrid_concat"].set_params(num_epochs=5)
        return {name: line_up[name] for name in keep}

    patch = pytest.MonkeyPatch()
    patch.setattr(fusion, "default_strategies", shortened)
    try:
        path = run_bench("trust", quick=True, out_dir=tmp_path_factory.mktemp("bench"))
    finally:
        patch.undo()
    return json.loads(path.read_text())


def test_calibration_keys(payload):
    fusion_names = {"early_logreg", "late_mean", "late_confidence", "late_stacking", "hybrid_concat"}
    assert fusion_names <= set(payload["calibration"])
    for name in fusion_names:
        entry = payload["calibration"][name]
        for key in ("ece_before", "ece_after", "ece_ci_low", "ece_ci_high", "temperature", "noise_floor",
                    "meets_target", "val_nll_before", "val_nll_after"):
            assert key in entry, f"calibration.{name}.{key} missing"
        assert 0 <= entry["ece_ci_low"] <= entry["ece_ci_high"] <= 1
        assert entry["val_nll_after"] <= entry["val_nll_before"] + 1e-9  # never worse where it was fitted
        assert entry["meets_target"] == (entry["ece_after"] <= entry["ece_before"] / 2 or entry["ece_after"] <= 0.02)


def test_missing_modality_and_expert_keys(payload):
    rises = payload["missing_modality"]["confidence_rises"]
    assert set(rises) == {"early_logreg", "late_mean", "late_confidence", "late_stacking", "hybrid_concat"}
    assert all(set(r) == {"image", "text"} and all(0 <= v <= 1 for v in r.values()) for r in rises.values())
    assert set(payload["expert_calibration"]) == {"late_mean", "late_confidence"}  # stacking cannot take them
    assert set(payload["expert_calibration"]["late_confidence"]["expert_temperatures"]) == {"text", "image", "vitals"}


def test_selective_and_times(payload):
    assert payload["selective"]["target_accuracy"] == trust.TARGET_ACCURACY
    for name, entry in payload["selective"].items():
        if isinstance(entry, dict) and entry.get("reachable"):
            assert 0 <= entry["test_coverage"] <= 1 and entry["threshold"] > 0
    times = payload["times"]
    assert {"features_s", "fit_s", "calibration_s", "missing_modality_s", "selective_s"} <= set(times)
    assert payload["wall_seconds"] > 0 and payload["quick"] is True
