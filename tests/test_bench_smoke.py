"""Quick-mode smoke tests of ``medfusion bench`` data, text, fusion, image, grading, hospitals and course.

Each test runs the benchmark's real ``run()`` through ``run_bench`` (its payload, its table, its JSON file) with the
heavy work shrunk — through the module's ``QUICK_*`` constants, or by handing an expensive collaborator smaller
settings — and asserts the keys its readers use (the module docstring, README's benchmark list, lessons 07, 11,
14 and 15, docs/instructors.md for grading, and the site's benchmarks page through ``bench_markdown``) and
relations between the values: an interval holds its estimate, a ratio is the ratio of its parts, a flag says
what its numbers say. The numbers themselves are not judged: quality and speed targets are the benchmarks' job.

trust, pretrain and tests have theirs in tests/test_bench_trust.py, tests/test_pretrain.py and
tests/test_bench_profile.py. fusion and hospitals read the quick-mode fusion features from the shared cache
(``build/cache/fusion``; the first test in a fresh checkout to need them builds them).
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medfusion_lib.bench import run_bench
from medfusion_lib.site.pages import bench_markdown

TOL = 1e-9


def _run(name: str, out: Path, capsys, **options) -> tuple[dict, str]:
    """Run benchmark ``name`` in quick mode; check what ``run_bench`` adds and what the site page shows of it."""
    path = run_bench(name, quick=True, out_dir=out, **options)
    assert path == out / f"{name}.json"
    payload, printed = json.loads(path.read_text()), capsys.readouterr().out
    assert printed.rstrip().endswith(f"wrote {path}")
    assert payload["benchmark"] == name and payload["quick"] is True and payload["wall_seconds"] > 0
    assert {"python", "platform", "cpu_count"} <= set(payload["machine"])
    assert bench_markdown(name, payload).startswith(f"## {name}\n\nquick mode, ")
    return payload, printed


def _holds(low: float, value: float, high: float) -> bool:
    return low - TOL <= value <= high + TOL


def _header(printed: str) -> str:
    """The header of the table ``run_bench`` printed (the line above the first row of dashes)."""
    lines = printed.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    return lines[rule - 1]


@pytest.fixture
def one_thread():
    """Torch, BLAS and OpenMP on one thread: on a busy 2-core machine a second one spins instead of helping (see
    ``config.TRAIN_THREADS``; training already uses one torch thread, this covers inference and scikit-learn)."""
    from threadpoolctl import threadpool_limits

    from medfusion_lib.config import torch_threads

    with torch_threads(1), threadpool_limits(limits=1):
        yield


# ---------------------------------------------------------------------------------------------------------- data
def test_bench_data(tmp_path, capsys, monkeypatch):
    """Two tiny cohorts (the smallest ``build_cohort`` accepts) instead of 300 and 1,000 patients."""
    from medfusion_lib.bench import data

    monkeypatch.setattr(data, "QUICK_SIZES", (60, 90))
    payload, printed = _run("data", tmp_path, capsys)
    assert payload["repeats"] == 1
    assert set(payload["builds"]) == {"60", "90"}
    for n, build in payload["builds"].items():
        assert set(build) == {"seconds_median", "seconds", "bytes", "patients_per_second"}
        assert len(build["seconds"]) == payload["repeats"]
        assert build["seconds_median"] == pytest.approx(statistics.median(build["seconds"]))
        assert build["patients_per_second"] == pytest.approx(int(n) / build["seconds_median"])
    assert 0 < payload["builds"]["60"]["bytes"] < payload["builds"]["90"]["bytes"]  # more patients, more bytes
    assert _header(printed).split()[:3] == ["patients", "median", "s"]


# ---------------------------------------------------------------------------------------------------------- text
def test_bench_text(tmp_path, capsys, monkeypatch):
    """Every hand-written narrative, 40 generated ones and one classifier (TF-IDF + logistic regression)."""
    from medfusion_lib.bench import text
    from medfusion_lib.data import DIAGNOSES, load_cohort
    from medfusion_lib.text.evaluate import MODES, load_gold_jsonl

    monkeypatch.setattr(text, "QUICK_CLASSIFIERS", (("logreg", "tfidf"),))
    monkeypatch.setattr(text, "QUICK_GENERATED", 40)
    payload, printed = _run("text", tmp_path, capsys)

    assert payload["targets_handwritten"] == text.TARGETS
    for part, n_texts in (("extraction_handwritten", len(load_gold_jsonl())), ("extraction_generated", 40)):
        extraction = payload[part]
        assert extraction["n_texts"] == n_texts and extraction["ms_per_text"] > 0
        for mode in MODES:
            scores = extraction[mode]
            assert scores["mode"] == mode
            for key in ("precision", "recall", "negation_accuracy"):
                assert 0 <= scores[key] <= 1, f"{part}.{mode}.{key} = {scores[key]}"
    overlap = payload["extraction_handwritten"]["overlap"]
    assert payload["handwritten_meets_targets"] == all(overlap[k] >= v for k, v in text.TARGETS.items())

    cohort = load_cohort()
    assert (payload["n_train"], payload["n_test"]) == (len(cohort.split("train")), len(cohort.split("test")))
    assert payload["classes"] == list(DIAGNOSES) and payload["n_boot"] == 200
    assert list(payload["classifiers"]) == ["logreg + tfidf"]
    scores = payload["classifiers"]["logreg + tfidf"]
    assert set(scores) == {"macro_f1", "ci_low", "ci_high", "fit_seconds", "predict_ms_per_text"}
    assert 0 <= scores["ci_low"] <= scores["macro_f1"] <= scores["ci_high"] <= 1
    assert scores["fit_seconds"] > 0 and scores["predict_ms_per_text"] > 0
    assert "logreg + tfidf" in printed and "extraction (overlap)" in printed


# -------------------------------------------------------------------------------- fusion and hospitals: shared
def _tiny_extra_cnns(monkeypatch) -> None:
    """Image features made with other settings than quick mode's (the in-sample recipes of ``bench fusion``, the
    embeddings of ``bench hospitals``) come from a tiny CNN: 4 channels, 16 px, one epoch. The default quick
    recipe still comes from the shared cache."""
    from medfusion_lib.fusion import features

    real, quick_recipe = features.build_modalities, features.ImageSettings.for_mode(True)

    def build_modalities(*args, image_settings=None, **kwargs):
        if image_settings is not None and image_settings != quick_recipe:
            image_settings = replace(image_settings, width=4, size=16, epochs=1)
        return real(*args, image_settings=image_settings, **kwargs)

    monkeypatch.setattr(features, "build_modalities", build_modalities)


def _short_line_up(monkeypatch, keep: tuple[str, ...]) -> None:
    """``default_strategies`` cut to ``keep``, the hybrid networks trained for 5 epochs."""
    import medfusion_lib.fusion as fusion

    full = fusion.default_strategies

    def shortened(*args, **kwargs):
        line_up = full(*args, **kwargs)
        for name in keep:
            if name.startswith("hybrid_"):
                line_up[name].set_params(num_epochs=5)
        return {name: line_up[name] for name in keep}

    monkeypatch.setattr(fusion, "default_strategies", shortened)


# -------------------------------------------------------------------------------------------------------- fusion
FUSION_KEYS = {"kind", "uses_image", "macro_f1", "ci_low", "ci_high", "balanced_accuracy", "macro_auc",
               "val_macro_f1", "gain_vs_best_single", "gain_ci_low", "gain_ci_high", "p_value", "gain_vs_non_image",
               "non_image_ci_low", "non_image_ci_high", "non_image_p_value", "fit_s", "predict_s"}


def test_bench_fusion(tmp_path, capsys, monkeypatch, one_thread):
    """Six strategies (one early, one late, one hybrid), both narrative baselines with a fixed C (no grid search),
    50 bootstrap resamples, a 3-epoch dropout ablation and tiny in-sample CNNs for the image-feature effect."""
    from functools import partial

    from medfusion_lib.bench import fusion
    from medfusion_lib.data import DIAGNOSES
    from medfusion_lib.fusion import baselines
    from medfusion_lib.fusion.features import QUICK_SIZES, ImageSettings

    keep = ("text_only", "image_only", "vitals_only", "early_logreg", "late_mean", "hybrid_concat")
    _short_line_up(monkeypatch, keep)
    _tiny_extra_cnns(monkeypatch)
    monkeypatch.setattr(baselines, "baseline_strategies", partial(baselines.baseline_strategies, C=1.0))
    monkeypatch.setattr(fusion, "QUICK_N_BOOT", 50)
    monkeypatch.setattr(fusion, "QUICK_ABLATION_EPOCHS", 3)
    payload, printed = _run("fusion", tmp_path, capsys)

    strategies = payload["strategies"]
    baseline_names = {baselines.TEXT_BASELINE, baselines.TEXT_VITALS_BASELINE}
    assert set(strategies) == set(keep) | baseline_names
    for name, row in strategies.items():
        assert set(row) == FUSION_KEYS, name
        assert 0 <= row["ci_low"] <= row["macro_f1"] <= row["ci_high"] <= 1, name
        assert 0 <= row["balanced_accuracy"] <= 1 and 0 <= row["macro_auc"] <= 1, name
        assert _holds(row["gain_ci_low"], row["gain_vs_best_single"], row["gain_ci_high"]), name
        assert _holds(row["non_image_ci_low"], row["gain_vs_non_image"], row["non_image_ci_high"]), name
        assert 0 <= row["p_value"] <= 1 and 0 <= row["non_image_p_value"] <= 1, name
    assert {n for n, r in strategies.items() if r["uses_image"]} == {"image_only", "early_logreg", "late_mean",
                                                                     "hybrid_concat"}
    # lesson 03's text model reads one modality (a single); text + vitals is the non-image multimodal baseline
    assert (strategies[baselines.TEXT_BASELINE]["kind"], strategies[baselines.TEXT_VITALS_BASELINE]["kind"]) == (
        "unimodal", "baseline")

    gain = payload["gain"]  # the headline: the best fusion, chosen on validation, against the best single modality
    singles = [n for n, r in strategies.items() if r["kind"] == "unimodal"]
    assert gain["selected_on"] == "validation"
    assert gain["best_single"] == max(singles, key=lambda n: strategies[n]["val_macro_f1"])
    best = strategies[gain["best_fusion"]]
    assert best["kind"] not in ("unimodal", "baseline")
    assert gain["macro_f1"] == pytest.approx(best["gain_vs_best_single"])
    assert (gain["ci_low"], gain["ci_high"]) == pytest.approx((best["gain_ci_low"], best["gain_ci_high"]))
    assert not strategies[gain["best_non_image"]]["uses_image"]
    assert gain["vs_non_image"]["macro_f1"] == pytest.approx(best["gain_vs_non_image"])

    effect = payload["image_feature_effect"]
    assert set(effect) == {"in-sample embeddings (old recipe)", "in-sample log-probabilities",
                           "out-of-fold log-probabilities"}
    for scores in effect.values():
        assert set(scores) == {"image_only", *fusion.LEAK_PROBES}
        assert all(0 <= s["test_macro_f1"] <= 1 and 0 <= s["val_macro_f1"] <= 1 for s in scores.values())
    # the out-of-fold row is the default recipe: the same features and fits as the main table
    assert effect["out-of-fold log-probabilities"]["early_logreg"]["test_macro_f1"] == pytest.approx(
        strategies["early_logreg"]["macro_f1"])

    missing = payload["missing_modality"]
    assert missing["fractions"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert set(missing["curves"]) == {"text", "image", "vitals"}
    for curves in missing["curves"].values():
        assert set(curves) == set(strategies)
        for name, curve in curves.items():
            assert [f for f, _ in curve] == missing["fractions"]
            assert curve[0][1] == pytest.approx(strategies[name]["macro_f1"])  # nothing missing: the table's score

    dropout = payload["modality_dropout"]
    assert (dropout["missing"], dropout["fusion"], dropout["seeds"]) == ("image", "concat", [0])
    for part in ("with_dropout", "without_dropout"):
        scores = dropout[part]
        assert scores["loss"] == pytest.approx(scores["macro_f1_full"] - scores["macro_f1_missing"])
    assert dropout["dropout_loses_less"] == (dropout["with_dropout"]["loss"] < dropout["without_dropout"]["loss"])

    assert payload["classes"] == list(DIAGNOSES) and payload["n_boot"] == 50
    for split, n in QUICK_SIZES.items():  # the stratified quick subsample rounds once per class
        assert abs(payload[f"n_{split}"] - n) <= len(DIAGNOSES), split
    assert payload["image_features"] == payload["features"]["image_features"] == ImageSettings.for_mode(True).scheme
    assert set(payload["times"]) == {"features_s", "compare_s", "sweep_s", "ablation_s", "image_feature_effect_s"}
    assert _header(printed).split()[:2] == ["strategy", "kind"] and "vs best non-image" in _header(printed)


# --------------------------------------------------------------------------------------------------------- image
def _fake_pneumoniamnist(path: Path) -> Path:
    """Random films with the official PneumoniaMNIST layout and split sizes (the loader checks them)."""
    from medfusion_lib.data.medmnist import medmnist_info

    rng, arrays = np.random.default_rng(0), {}
    for split, n in medmnist_info("pneumoniamnist").n_samples.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8)[:, None]
    np.savez(path, **arrays)
    return path


def test_bench_image(tmp_path, capsys, monkeypatch, one_thread):
    """64 films per split for one epoch (PneumoniaMNIST: a file of random films in the official layout, found
    through $MEDFUSION_MEDMNIST_NPZ), 48 cohort films, and the CPU cost on batches of 2, all on one torch thread
    (the benchmark's two spin on a busy 2-core machine; see ``config.TRAIN_THREADS``)."""
    from medfusion_lib.bench import image
    from medfusion_lib.data.medmnist import NPZ_ENV
    from medfusion_lib.vision import cost
    from medfusion_lib.vision import recipe as image_recipe
    from medfusion_lib.vision.models import ARCHITECTURES

    npz = _fake_pneumoniamnist(tmp_path / "pneumoniamnist.npz")
    monkeypatch.setenv(NPZ_ENV, str(npz))
    monkeypatch.setattr(image, "THREADS", 1)
    monkeypatch.setattr(image, "QUICK_FILMS", {"pneumoniamnist": 64, "cohort": 48})
    monkeypatch.setattr(image, "QUICK_EPOCHS", {"pneumoniamnist": 1, "cohort": 1})
    real_cost = cost.cost_per_image
    monkeypatch.setattr(cost, "cost_per_image",
                        lambda model, size, **kw: real_cost(model, size, **{**kw, "infer_batch": 2, "train_batch": 2}))
    payload, printed = _run("image", tmp_path / "bench", capsys)

    assert payload["threads"] == 1
    real = payload["pneumoniamnist"]
    assert real["file"] == str(npz.resolve()) and real["n_seeds"] == len(real["per_seed"]) == 1
    for key in ("test_auc", "test_acc", "test_macro_f1", "train_seconds", "train_cpu_seconds"):
        assert real[f"{key}_min"] <= real[key] <= real[f"{key}_max"], key
        assert real[key] == pytest.approx(statistics.median(run[key] for run in real["per_seed"])), key
    seed = real["per_seed"][0]
    assert {"seed", "sensitivity", "specificity", "threshold", "epochs_run", "best_epoch"} <= set(seed)
    assert seed["epochs_run"] == 1 and all(0 <= seed[k] <= 1 for k in ("test_auc", "test_acc", "sensitivity",
                                                                       "specificity", "threshold"))
    assert set(real["published_28px"]) == {"ResNet-18", "AutoKeras", "Google AutoML Vision"}
    assert real["recipe"] == {"architecture": "compact", "width": image_recipe.XRAY_WIDTH, "epochs": 1}
    ensemble = real["ensemble"]  # one seed in quick mode: the "ensemble" is that model, threshold and all
    assert ensemble["n_models"] == 1 and ensemble["test_auc"] == pytest.approx(seed["test_auc"])
    assert ensemble["threshold"] == pytest.approx(seed["threshold"])
    assert ensemble["test_acc"] == pytest.approx(seed["test_acc"])
    checks = real["done_when"]
    assert checks["min_acc"]["value"] == real["test_acc_min"] and checks["median_auc"]["value"] == real["test_auc"]
    assert checks["all_met"] == all(c["met"] for k, c in checks.items() if k != "all_met")
    assert checks["max_train_seconds"]["met"] == (real["train_seconds_max"] <= 180)

    cohort = payload["cohort"]
    assert set(cohort) == {"test_macro_f1", "test_acc", "test_macro_auc", "test_balanced_acc", "train_seconds",
                           "train_cpu_seconds", "image_size", "seed"}
    assert all(0 <= cohort[k] <= 1 for k in ("test_macro_f1", "test_acc", "test_macro_auc", "test_balanced_acc"))

    assert set(payload["architectures"]) == set(ARCHITECTURES)
    for name, entry in payload["architectures"].items():
        assert set(entry) == {"28px", "parameters"}, name  # quick mode measures 28 px only
        assert entry["parameters"] > 0
        assert set(entry["28px"]) == {"infer_ms_per_image", "train_ms_per_image", "infer_cpu_ms_per_image",
                                      "train_cpu_ms_per_image"}
        assert all(v > 0 for v in entry["28px"].values()), name
    assert _header(printed).split()[:2] == ["task", "seed"]


def test_bench_image_without_the_real_file_says_skipped(monkeypatch):
    from medfusion_lib.bench import image

    monkeypatch.setattr(image, "find_pneumoniamnist", lambda: None)
    rows: list[dict] = []
    assert image.bench_pneumoniamnist(True, rows) == {"skipped": "no local pneumoniamnist.npz"}
    assert rows[0]["task"] == "pneumoniamnist" and rows[0]["note"].startswith("skipped")


# ------------------------------------------------------------------------------------------------------- grading
def test_bench_grading_payload(tmp_path, capsys, monkeypatch):
    """The notebook runs are replaced by timings a 2-core laptop gives (the real grading path, sandbox and judge
    included, is tested on 00_warmup in tests/test_grading_warmup.py and on a hostile class in
    tests/test_grading_hostile.py); what is checked here is what run() makes of them."""
    from medfusion_lib.bench import grading

    plain_s, one_s, two_s, reference_s = 9.0, 10.8, 6.0, 4.5
    calls = []

    def plain(source, k, work):
        calls.append(("plain", Path(source).name, k))
        return plain_s * k / 2

    def grade(assignment, k, work, workers):
        calls.append(("grade", assignment.name, k, workers))
        return (one_s if workers == 1 else two_s), reference_s

    monkeypatch.setattr(grading, "_plain_papermill", plain)
    monkeypatch.setattr(grading, "_grade", grade)
    payload, printed = _run("grading", tmp_path, capsys)

    k = payload["copies"]
    assert payload["assignment"] == grading.ASSIGNMENT and k == 2
    assert calls == [("plain", "00_warmup.ipynb", 1), ("plain", "00_warmup.ipynb", k),
                     ("grade", "00_warmup", k, 1), ("grade", "00_warmup", k, 2)]  # one warm-up run, then K
    assert (payload["plain_seconds"], payload["grade_1_worker_seconds"], payload["grade_2_workers_seconds"]) == (
        plain_s, one_s, two_s)
    assert payload["reference_seconds"] == [reference_s, reference_s]
    assert payload["overhead_ratio"] == pytest.approx(one_s / plain_s)
    assert payload["overhead_ratio_with_reference"] == pytest.approx((one_s + reference_s) / plain_s)
    assert payload["two_worker_speedup"] == pytest.approx(one_s / two_s)
    assert payload["targets"] == {"overhead_ratio_max": 1.3, "two_worker_speedup_min": 1.7}
    assert payload["sandbox"] == "bubblewrap" and payload["cores"] >= 1
    assert payload["load_average_before"] >= 0 and payload["load_average_after"] >= 0
    met = {line.split("  ")[0]: line.split()[-1] for line in printed.splitlines() if line.endswith(("True", "False"))}
    assert met == {"overhead per notebook (1 worker / plain)": "True",    # 10.8 / 9 = 1.2 <= 1.3
                   "throughput gain (2 workers / 1)": "True"}             # 10.8 / 6 = 1.8 >= 1.7


def test_bench_grading_refuses_a_class_short_of_full_marks(tmp_path, monkeypatch):
    """``_grade`` copies the solution K times, subtracts the once-per-class reference run, and stops when the
    solution does not score full marks (the ratios would then time a broken grader)."""
    from types import SimpleNamespace

    from medfusion_lib.bench import grading
    from medfusion_lib.grading import batch
    from medfusion_lib.grading.results import ExerciseResult, SubmissionResult

    source = tmp_path / "00_warmup.ipynb"
    source.write_text("{}")
    seen = {}

    def fake_batch(assignment, submissions, out, limits, workers, force, progress):
        seen.update(students=[s for s, _ in submissions], workers=workers, cell_timeout=limits.cell_timeout)
        full = [ExerciseResult("ex1", 2.0, 2.0, "passed")]
        short = [ExerciseResult("ex1", 0.0, 2.0, "failed", "wrong shape")]
        results = [SubmissionResult(s, "00_warmup", "sha", short if s == "student001" else full) for s, _ in
                   submissions]
        return SimpleNamespace(results=results, reference_seconds=0.0)

    monkeypatch.setattr(batch, "grade_batch", fake_batch)
    with pytest.raises(RuntimeError, match=r"did not for \[.student001: \[\('ex1', 'failed', 'wrong shape'\)\]"):
        grading._grade(SimpleNamespace(path=source), 3, tmp_path, workers=2)
    assert seen == {"students": ["student000", "student001", "student002"], "workers": 2, "cell_timeout": 300}


# ----------------------------------------------------------------------------------------------------- hospitals
def test_bench_hospitals(tmp_path, capsys, monkeypatch, one_thread):
    """Four audited strategies instead of six (two unimodal, early, hybrid with 5 epochs; each is fitted once per
    site), 10 comparison and 5 audit resamples, a tiny embedding CNN for the site probe, the shortcut experiment on
    a 300/120/120 subsample at 16 px for one epoch, and 2 federated rounds."""
    from medfusion_lib.bench import hospitals
    from medfusion_lib.data import load_cohort
    from medfusion_lib.fusion.features import subsample_cohort
    from medfusion_lib.hospitals import shortcut
    from medfusion_lib.hospitals.shortcut import FIXES

    monkeypatch.setattr(hospitals, "STRATEGIES", ("text_only", "image_only", "early_logreg", "hybrid_concat"))
    _short_line_up(monkeypatch, hospitals.STRATEGIES)
    _tiny_extra_cnns(monkeypatch)
    monkeypatch.setattr(hospitals, "COMPARE_N_BOOT", 10)
    monkeypatch.setattr(hospitals, "QUICK_SHORTCUT_EPOCHS", 1)
    monkeypatch.setattr(hospitals, "QUICK_ROUNDS", 2)
    real_shortcut = shortcut.run_shortcut_experiment
    monkeypatch.setattr(shortcut, "run_shortcut_experiment", lambda cohort, **kw: real_shortcut(
        subsample_cohort(cohort, {"train": 300, "val": 120, "test": 120}), **{**kw, "size": 16}))
    payload, printed = _run("hospitals", tmp_path, capsys)
    names = set(hospitals.STRATEGIES)
    n_sites = load_cohort().patients["site"].nunique()

    fairness = payload["fairness"]
    assert set(fairness) == names
    for name, entry in fairness.items():
        assert 0 <= entry["macro_f1"] <= 1
        for gap in ("worst_group_gap", "under_diagnosis_gap"):
            assert set(entry[gap]) == {"sex", "age_band", "site"}, (name, gap)
            assert all(0 <= v <= 1 for v in entry[gap].values()), (name, gap)

    shift = payload["shift"]
    for part in ("leave_one_site_out", "seen", "drop"):
        assert set(shift[part]) == names, part
    for name in names:
        assert shift["drop"][name] == pytest.approx(shift["seen"][name] - shift["leave_one_site_out"][name])
    assert len(shift["per_site"]) == len(names) * n_sites
    probe = shift["site_probe"]
    for films in ("all_films", "normal_films"):
        assert 0 <= probe[films]["balanced_accuracy"] <= 1 and probe[films]["chance"] == pytest.approx(1 / n_sites)
    assert 0 < probe["normal_films"]["n"] < probe["all_films"]["n"]

    sc = payload["shortcut"]
    assert sc["metric"] == "auc" and sc["best_fix"] in FIXES
    assert {row["model"] for row in sc["fixes"]} == {"naive", *FIXES}
    by_model = {row["model"]: row for row in sc["fixes"]}
    assert (sc["internal"], sc["external"]) == (by_model["naive"]["internal_auc"], by_model["naive"]["external_auc"])
    assert sc["fixed_external"] == by_model[sc["best_fix"]]["external_auc"]
    # the fix is chosen on reversed-association validation films, never on the test films
    assert sc["best_fix"] == max(FIXES, key=lambda f: by_model[f]["val_external_auc"])
    if sc["internal"] != sc["external"]:  # the share of the naive model's drop that the chosen fix wins back
        won_back = (sc["fixed_external"] - sc["external"]) / (sc["internal"] - sc["external"])
        assert sc["recovered"] == pytest.approx(won_back)
    assert sc["probes"]["internal"]["auc"] == pytest.approx(sc["internal"])
    assert {"mask_mean_abs_change", "swap_internal", "internal"} <= set(sc["probes"])

    fed = payload["federated"]
    assert fed["model"] == "hybrid" and fed["rounds"] == 2 and fed["local_epochs"] == 2
    for key in ("centralised", "fedavg", "fedprox", "local_only", "iid_fedavg"):
        assert 0 <= fed[key] <= 1, key
    assert set(fed["linear"]) == {"centralised", "fedavg"}
    assert fed["gap_to_centralised"] == pytest.approx(fed["centralised"] - fed["fedavg"])
    smallest = min(fed["local_only_all"], key=lambda row: row["n_train"])
    assert (fed["local_only_site"], fed["local_only"]) == (smallest["site"], pytest.approx(smallest["macro_f1"]))
    assert set(fed["sizes"]) == {row["site"] for row in fed["local_only_all"]}
    for curve in fed["curves"].values():
        assert curve["round"] == [1, 2]
    assert fed["curves"]["fedavg"]["macro_f1"][-1] == pytest.approx(fed["fedavg"])
    assert fed["seconds"] > 0

    done = payload["done_when"]  # lesson 15: "within 0.03 of pooling the data; the smallest hospital did worse"
    assert done == {"federated_within_0.03": abs(fed["gap_to_centralised"]) <= 0.03,
                    "local_only_smallest_worse": fed["local_only"] < fed["centralised"],
                    "shortcut_drop_ge_0.15": sc["internal"] - sc["external"] >= 0.15,
                    "best_fix_recovers_half": sc["recovered"] >= 0.5}
    assert set(payload["times"]) == {"features_s", "fairness_s", "shift_s", "shortcut_s", "federated_s"}
    assert _header(printed).split() == ["section", "what", "value"]


# -------------------------------------------------------------------------------------------------------- course
def _notebook(path: Path, *sources: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("QUICK = False\nSEED = 0", metadata={"tags": ["parameters"]}),
                *(nbformat.v4.new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)
    return path


def test_bench_course(tmp_path, capsys, monkeypatch):
    """Two tiny "lessons" instead of the course, run by the real ``run_lesson``: one whose last cell raises (after
    checking that quick mode was passed in) and a damaged file, which fails before a kernel starts. A lesson that
    runs through is tested in tests/test_figures.py."""
    from medfusion_lib.bench import course

    damaged = tmp_path / "02_damaged.ipynb"
    damaged.write_text("{ this is not a notebook")
    lessons = [_notebook(tmp_path / "01_raises.ipynb", "assert QUICK is True and SEED == 0",
                         "raise ValueError('this lesson is broken')"), damaged]
    monkeypatch.setattr(course, "lesson_notebooks", lambda: lessons)
    payload, printed = _run("course", tmp_path / "bench", capsys)

    notebooks = payload["notebooks"]
    assert set(notebooks) == {"01_raises", "02_damaged"}
    assert all(set(t) == {"quick"} for t in notebooks.values())  # quick mode runs no lesson in full mode
    raises, damaged = notebooks["01_raises"]["quick"], notebooks["02_damaged"]["quick"]
    assert set(raises) == set(damaged) == {"seconds", "cpu_seconds", "error"}
    assert raises["error"] == "ValueError: this lesson is broken"  # not an AssertionError: QUICK was True
    assert damaged["error"] and damaged["cpu_seconds"] == 0  # no kernel ran
    assert raises["seconds"] > 0 and raises["cpu_seconds"] > 0  # the kernel's own CPU time, read from the child
    assert payload["totals_seconds"] == {"quick": pytest.approx(raises["seconds"] + damaged["seconds"])}
    assert payload["over_budget"] == [] and payload["full_budget_seconds"] == course.FULL_BUDGET_S
    assert payload["busy"] is False and payload["lessons"] is None and payload["modes"] == ["quick"]
    assert len(payload["load_before"]) == len(payload["load_after"]) == 3
    assert _header(printed).split()[:3] == ["notebook", "quick", "s"] and "TOTAL" in printed
    assert "this lesson is broken" in printed  # the error column of the table


def test_bench_course_full_only(tmp_path, capsys, monkeypatch):
    """``--full-only``: each lesson once, in full mode (QUICK stays False), judged against the 4-minute budget."""
    from medfusion_lib.bench import course
    from medfusion_lib.errors import UserError

    lesson = _notebook(tmp_path / "03_full.ipynb", "assert QUICK is False and SEED == 0")
    monkeypatch.setattr(course, "lesson_notebooks", lambda: [lesson])
    payload = json.loads(run_bench("course", out_dir=tmp_path / "bench", full_only=True).read_text())
    assert payload["modes"] == ["full"] and set(payload["notebooks"]["03_full"]) == {"full"}
    assert payload["notebooks"]["03_full"]["full"]["error"] is None  # the assert held: full mode was passed in
    assert set(payload["totals_seconds"]) == {"full"} and payload["over_budget"] == []
    assert "≤ 4 min" in capsys.readouterr().out
    with pytest.raises(UserError, match="contradict"):
        course.run(quick=True, full_only=True)


def test_bench_course_cold_starts_from_an_empty_build_folder(tmp_path, monkeypatch):
    """``--cold``: the lessons' kernels find no cache from earlier runs, a later lesson finds what an earlier one
    cached (a first pass through the course, in order), and the caller's build folder is neither used nor changed."""
    from medfusion_lib.bench import course
    from medfusion_lib.config import BUILD_ENV

    mine = tmp_path / "mine"
    (mine / "cache" / "fusion").mkdir(parents=True)  # a warm cache the lessons must not see
    monkeypatch.setenv(BUILD_ENV, str(mine))
    header = "from medfusion_lib.config import build_dir\ncache = build_dir() / 'cache' / 'fusion'\n"
    first = _notebook(tmp_path / "08_first.ipynb",
                      header + "assert not cache.exists(), cache\ncache.mkdir(parents=True)")
    later = _notebook(tmp_path / "09_later.ipynb", header + "assert cache.is_dir(), cache")
    monkeypatch.setattr(course, "lesson_notebooks", lambda: [first, later])
    rows, payload = course.run(full_only=True, cold=True)
    assert payload["cold"] is True
    assert {stem: t["full"]["error"] for stem, t in payload["notebooks"].items()} == {"08_first": None,
                                                                                       "09_later": None}
    assert os.environ[BUILD_ENV] == str(mine)
    assert [p.relative_to(mine).as_posix() for p in sorted(mine.rglob("*"))] == ["cache", "cache/fusion"]


def test_bench_image_done_when_checks_each_target():
    from medfusion_lib.bench.image import TARGETS, done_when

    summary = {"test_auc": 0.990, "test_acc": 0.950, "test_acc_min": 0.919, "train_seconds_max": 180.0}
    checks = done_when(summary)
    assert checks["median_auc"] == {"value": 0.990, "target": TARGETS["median_auc"], "met": True}
    assert checks["median_acc"]["met"] and checks["max_train_seconds"]["met"]  # 180 s is within the bar
    assert not checks["min_acc"]["met"] and not checks["all_met"]  # one seed below 0.92 fails the recipe
    assert done_when({**summary, "test_acc_min": 0.92})["all_met"]
