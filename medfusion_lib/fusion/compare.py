"""One honest comparison: every strategy and every unimodal baseline, fitted on the same training patients,
scored on the same test patients, with bootstrap CIs, paired tests and timings.

Model selection uses the validation split only: the "best single modality", the "best non-image model"
and the "best fusion" are the ones with the highest *validation* macro-F1 (:func:`select_on_validation`), so
picking them does not peek at the test set. The gain of the best fusion is reported against the best single
modality and against the best model that never sees an image (text + vitals), which isolates what the image adds.
"""
from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from medfusion_lib.evaluation import balanced_accuracy, bootstrap_ci, macro_auc, macro_f1, paired_bootstrap_diff
from medfusion_lib.fusion.base import FusionModel, check_labels, check_modalities, resolve_progress
from medfusion_lib.fusion.early import EarlyFusion
from medfusion_lib.fusion.hybrid import HybridFusion
from medfusion_lib.fusion.late import LateFusion
from medfusion_lib.fusion.modalities import Modalities
from medfusion_lib.fusion.unimodal import UnimodalModel

METRICS = {"macro_f1": macro_f1, "balanced_accuracy": balanced_accuracy, "macro_auc": macro_auc}


def kind_of(model: FusionModel) -> str:
    """"unimodal", "early", "late", "hybrid", "baseline" (a non-image multimodal baseline) or "other"."""
    declared = getattr(model, "fusion_kind", None)
    if isinstance(declared, str):
        return declared
    for cls, kind in ((UnimodalModel, "unimodal"), (EarlyFusion, "early"), (LateFusion, "late"),
                      (HybridFusion, "hybrid")):
        if isinstance(model, cls):
            return kind
    return "other"


def modalities_of(model: FusionModel, available: Sequence[str]) -> tuple[str, ...]:
    """The modalities ``model`` reads, out of ``available`` (the training data's)."""
    declared = getattr(model, "modalities_used", None)
    if declared is not None:
        return tuple(declared)
    if isinstance(model, UnimodalModel):
        return (model.modality,)
    wanted = getattr(model, "modalities", None)
    if wanted is None:
        return tuple(available)
    return tuple([wanted] if isinstance(wanted, str) else wanted)


def select_on_validation(candidates: Sequence[str], val_scores: Mapping[str, float]) -> str:
    """The candidate with the highest validation score (ties: the first listed). Test scores never enter."""
    candidates = list(candidates)
    if not candidates:
        raise ValueError("no candidates to choose from")
    missing = [n for n in candidates if n not in val_scores or not np.isfinite(val_scores[n])]
    if missing:
        raise ValueError(f"no validation score for {missing}; selection needs the validation split")
    return max(candidates, key=lambda n: (val_scores[n], -candidates.index(n)))


def default_strategies(modalities: Sequence[str] = ("text", "image", "vitals"), seed: int = 0,
                       quick: bool = False) -> dict[str, FusionModel]:
    """The line-up compared in lesson 11 and the benchmark: unimodal baselines, early fusion with three
    classifiers, the five late-fusion rules, and the three hybrid fusion layers (with modality dropout).
    Quick mode trains the hybrids for fewer epochs and uses 3 folds (not 5) for out-of-fold predictions.
    The lesson-03 text baseline and the text + vitals baseline need the narratives: add
    :func:`medfusion_lib.fusion.baselines.baseline_strategies`."""
    epochs = 30 if quick else 60
    n_folds = 3 if quick else 5
    strategies: dict[str, FusionModel] = {f"{m}_only": UnimodalModel(m, seed=seed) for m in modalities}
    strategies.update({
        "early_logreg": EarlyFusion("logreg", seed=seed),
        "early_random_forest": EarlyFusion("random_forest", seed=seed),
        "early_mlp": EarlyFusion("mlp", seed=seed),
        **{f"late_{rule}": LateFusion(rule, n_folds=n_folds, seed=seed)
           for rule in ("mean", "weighted", "product", "confidence", "stacking")},
        **{f"hybrid_{layer}": HybridFusion(layer, modality_dropout=0.3, num_epochs=epochs, seed=seed)
           for layer in ("concat", "gated", "attention")},
    })
    return strategies


def fit_model(model: FusionModel, train: Modalities, y_train, val: Modalities | None = None, y_val=None):
    """``model.fit``, passing the validation split to strategies that use it (weights, early stopping)."""
    if val is not None and "val" in inspect.signature(model.fit).parameters:
        return model.fit(train, y_train, val=val, y_val=y_val)
    return model.fit(train, y_train)


@dataclass
class Comparison:
    """What :func:`compare_strategies` returns.

    table : tidy DataFrame, one row per strategy (see ``compare_strategies``).
    models : name -> fitted model; proba : name -> (n_test, n_classes) test probabilities.
    best_single, best_fusion : names chosen by validation macro-F1.
    best_non_image : the validation-best strategy that never reads the image ("" when every one does).
    gain : the best fusion against the best single modality, and (``gain["vs_non_image"]``) against the best
        non-image model, both on test with a paired bootstrap.
    """

    table: pd.DataFrame
    models: dict[str, FusionModel]
    proba: dict[str, np.ndarray]
    y_test: np.ndarray
    best_single: str
    best_fusion: str
    gain: dict = field(default_factory=dict)
    best_non_image: str = ""


def _pick_best(names: list[str], scores: Mapping[str, float]) -> str:
    return max(names, key=lambda n: (scores[n], -names.index(n)))


def compare_strategies(train: Modalities, y_train, test: Modalities, y_test, val: Modalities | None = None,
                       y_val=None, strategies: Mapping[str, FusionModel] | None = None, n_boot: int = 1000,
                       seed: int = 0, progress: bool | None = None) -> Comparison:
    """Fit every strategy on ``train``, score it on ``test``, and tabulate.

    Table columns: ``strategy, kind, macro_f1, macro_f1_low, macro_f1_high`` and the same for
    ``balanced_accuracy`` and ``macro_auc`` (95 % percentile bootstrap over test patients), ``val_macro_f1``,
    ``gain_vs_best_single, gain_low, gain_high, p_value`` (paired bootstrap of macro-F1 against the best
    unimodal model), ``fit_s, predict_s`` (seconds), then ``uses_image`` and ``gain_vs_non_image,
    non_image_low, non_image_high, non_image_p_value`` (against the best non-image strategy; NaN when there
    is none), ``fit_cpu_s`` (CPU seconds of this process: less sensitive than ``fit_s`` to other programs on
    a busy machine). Strategies are refitted from clones, so the given objects stay untouched. Without ``val`` the
    choices fall back to test scores, with a warning (``gain["selected_on"] == "test"``).
    """
    train, test = check_modalities(train, "train"), check_modalities(test, "test")
    y_train, y_test = check_labels(y_train, len(train)), check_labels(y_test, len(test))
    if val is not None:
        val = check_modalities(val, "val")
        y_val = check_labels(y_val, len(val))
    strategies = dict(strategies or default_strategies(train.names, seed=seed))
    kinds = {name: kind_of(model) for name, model in strategies.items()}
    singles = [n for n, k in kinds.items() if k == "unimodal"]
    fusions = [n for n, k in kinds.items() if k not in ("unimodal", "baseline")]
    uses_image = {n: "image" in modalities_of(m, train.names) for n, m in strategies.items()}
    non_image = [n for n in strategies if not uses_image[n]] if "image" in train.names else []
    if not singles or not fusions:
        raise ValueError("strategies must include at least one unimodal baseline and one fusion strategy; "
                         "start from default_strategies() and add or remove entries")

    from tqdm.auto import tqdm

    models, proba, rows, val_scores = {}, {}, [], {}
    for name, template in tqdm(strategies.items(), desc="fitting strategies", disable=not resolve_progress(progress)):
        model = clone(template)
        started, cpu_started = time.perf_counter(), time.process_time()
        fit_model(model, train, y_train, val, y_val)
        fit_s, fit_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        started = time.perf_counter()
        proba[name] = model.predict_proba(test)
        predict_s = time.perf_counter() - started
        models[name] = model
        val_scores[name] = macro_f1(y_val, model.predict(val)) if val is not None else np.nan
        row = {"strategy": name, "kind": kinds[name]}
        for metric_name, metric in METRICS.items():
            ci = bootstrap_ci(metric, y_test, proba[name], n_boot=n_boot, seed=seed)
            row.update({metric_name: ci.estimate, f"{metric_name}_low": ci.low, f"{metric_name}_high": ci.high})
        row.update({"val_macro_f1": val_scores[name], "fit_s": fit_s, "predict_s": predict_s, "fit_cpu_s": fit_cpu_s})
        rows.append(row)

    # without a validation split, selection falls back to test scores (said in the `selected_on` field)
    if val is None:
        warnings.warn("compare_strategies without val/y_val chooses the best models on the TEST split, which "
                      "flatters them; pass the validation split", UserWarning, stacklevel=2)
    selection = val_scores if val is not None else {r["strategy"]: r["macro_f1"] for r in rows}
    best_single = select_on_validation(singles, selection)
    best_fusion = select_on_validation(fusions, selection)
    best_non_image = select_on_validation(non_image, selection) if non_image else ""
    for row in rows:
        diff = paired_bootstrap_diff(macro_f1, y_test, proba[row["strategy"]], proba[best_single],
                                     n_boot=n_boot, seed=seed)
        row.update({"gain_vs_best_single": diff.diff, "gain_low": diff.low, "gain_high": diff.high,
                    "p_value": diff.p_value, "uses_image": uses_image[row["strategy"]]})
        if best_non_image:
            diff = paired_bootstrap_diff(macro_f1, y_test, proba[row["strategy"]], proba[best_non_image],
                                         n_boot=n_boot, seed=seed)
            row.update({"gain_vs_non_image": diff.diff, "non_image_low": diff.low, "non_image_high": diff.high,
                        "non_image_p_value": diff.p_value})
        else:
            row.update({"gain_vs_non_image": np.nan, "non_image_low": np.nan, "non_image_high": np.nan,
                        "non_image_p_value": np.nan})
    table = pd.DataFrame(rows)
    table = table[["strategy", "kind", *[c for m in METRICS for c in (m, f"{m}_low", f"{m}_high")],
                   "val_macro_f1", "gain_vs_best_single", "gain_low", "gain_high", "p_value", "fit_s",
                   "predict_s", "uses_image", "gain_vs_non_image", "non_image_low", "non_image_high",
                   "non_image_p_value", "fit_cpu_s"]]
    best = table.set_index("strategy").loc[best_fusion]
    gain = {"macro_f1": float(best["gain_vs_best_single"]), "ci_low": float(best["gain_low"]),
            "ci_high": float(best["gain_high"]), "p_value": float(best["p_value"]),
            "best_fusion": best_fusion, "best_single": best_single,
            "selected_on": "validation" if val is not None else "test",
            "best_non_image": best_non_image,
            "vs_non_image": {"macro_f1": float(best["gain_vs_non_image"]), "ci_low": float(best["non_image_low"]),
                             "ci_high": float(best["non_image_high"]),
                             "p_value": float(best["non_image_p_value"])}}
    return Comparison(table, models, proba, y_test, best_single, best_fusion, gain, best_non_image)


def missing_modality_sweep(models: Mapping[str, FusionModel], test: Modalities, y_test,
                           modalities: Sequence[str] | None = None,
                           fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), seed: int = 0,
                           progress: bool | None = None) -> pd.DataFrame:
    """Test macro-F1 when ``modality`` is removed for a ``fraction`` of test patients, for every fitted model.

    The same patients lose the modality for every model (same seed), so the curves are comparable.
    Returns a tidy DataFrame: ``strategy, modality, fraction, macro_f1``.
    """
    test = check_modalities(test, "test")
    y_test = check_labels(y_test, len(test))
    modalities = list(modalities or test.names)
    from tqdm.auto import tqdm

    rows = []
    for modality in tqdm(modalities, desc="missing-modality sweep", disable=not resolve_progress(progress)):
        for fraction in fractions:
            damaged = test.with_missing(modality, fraction, seed=seed)
            for name, model in models.items():
                rows.append({"strategy": name, "modality": modality, "fraction": float(fraction),
                             "macro_f1": macro_f1(y_test, model.predict_proba(damaged))})
    return pd.DataFrame(rows)


def modality_dropout_ablation(train: Modalities, y_train, test: Modalities, y_test, val: Modalities | None = None,
                              y_val=None, missing: str = "image", dropouts: Sequence[float] = (0.0, 0.3),
                              fusion: str = "concat", seeds: Sequence[int] = (0,), **hybrid_params) -> pd.DataFrame:
    """Train the hybrid model with and without modality dropout; score it with every modality present and
    with ``missing`` absent for every test patient.

    Returns one row per (dropout, seed): ``modality_dropout, seed, macro_f1_full, macro_f1_missing, loss``
    where ``loss = macro_f1_full - macro_f1_missing`` (what losing the modality costs).
    """
    test = check_modalities(test, "test")
    y_test = check_labels(y_test, len(test))
    damaged = test.with_missing(missing, 1.0)
    rows = []
    for p in dropouts:
        for seed in seeds:
            model = fit_model(HybridFusion(fusion, modality_dropout=p, seed=seed, **hybrid_params),
                              train, y_train, val, y_val)
            full, without = macro_f1(y_test, model.predict(test)), macro_f1(y_test, model.predict(damaged))
            rows.append({"modality_dropout": p, "seed": seed, "macro_f1_full": full,
                         "macro_f1_missing": without, "loss": full - without})
    return pd.DataFrame(rows)
