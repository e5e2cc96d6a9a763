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


EXPLAIN = {"explain": {"pointing_game": 0.7, "pointing_game_random": 0.2, "energy_in_mask": 0.1,
                      "energy_in_mask_random": 0.06, "sanity_spearman": 0.1},
           "shapley": {"text": 0.35, "image": 0.3, "vitals": 0.2, "empty": 0.06, "full": 0.91}, "seconds": 1.0}


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

    import medfusion_lib.explain.summary as summary

    def explanations(quick, seed):  # the real explain_section is tested in tests/test_explain_summary.py;
        return EXPLAIN                 # here only its place in the trust payload is

    patch = pytest.MonkeyPatch()
    patch.setattr(fusion, "default_strategies", shortened)
    patch.setattr(summary, "explain_section", lambda quick=False, seed=0, study=None: explanations(quick, seed))
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


def test_calibrator_choice_noise_floor_and_status(payload):
    from medfusion_lib.calibration import CANDIDATES, STATUSES, status_of

    fusion = {k: v for k, v in payload["calibration"].items() if v["kind"] != "unimodal"}
    for name, entry in payload["calibration"].items():
        for key in ("calibrator", "ece_after_chosen", "ece_after_chosen_ci_low", "ece_after_chosen_ci_high",
                    "meets_target_chosen", "noise_floor_before", "noise_floor_before_high", "p_value_before",
                    "p_value_after", "p_value_chosen", "debiased_ece_before", "debiased_ece_after",
                    "debiased_ece_chosen", "ece_sweep_before", "ece_sweep_chosen", "status", "cv_nll"):
            assert key in entry, f"calibration.{name}.{key} missing"
        assert set(entry["cv_nll"]) == set(CANDIDATES)
        assert entry["calibrator"] == min(entry["cv_nll"], key=entry["cv_nll"].get)   # chosen on validation
        assert entry["status"] in STATUSES and entry["status"] == status_of(entry)
        assert 0 < entry["p_value_before"] <= 1 and entry["noise_floor_before_low"] <= entry["noise_floor_before_high"]
        assert entry["debiased_ece_before"] <= entry["l2_plugin_before"] + 1e-12
    counts = payload["fusion_strategies_meeting_target"]
    assert counts["of"] == len(fusion) == sum(payload["fusion_status"].values())
    assert counts["temperature"] == sum(v["meets_target"] for v in fusion.values())


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


def test_explanations_sit_where_issue_12_names_them(payload):
    assert payload["explain"]["pointing_game"] == EXPLAIN["explain"]["pointing_game"]
    assert payload["explain"]["sanity_spearman"] == EXPLAIN["explain"]["sanity_spearman"]
    assert set(payload["shapley"]) >= {"text", "image", "vitals"}
    assert trust.SECTIONS[-2:] == [("explain", trust.explain_section), ("shapley", trust.shapley_section)]
