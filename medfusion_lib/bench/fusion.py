"""``medfusion bench fusion``: every fusion strategy and every baseline on the default cohort's test split.

Baselines: the three unimodal models, **lesson 03's text model** (TF-IDF + logistic regression on the
narrative, ``text_tfidf_lr``) and the same **plus vitals** (``text_vitals_lr``, the best model here that never
sees an image). Image features are out-of-fold for the training patients (``ImageSettings``). Writes macro-F1
with 95 % bootstrap CIs per strategy; the gain of the best fusion over the best single modality and over the
best non-image model (all chosen on validation) with paired-bootstrap CIs; what in-sample image features would
have reported instead (early and hybrid fusion); the missing-modality curves; the modality-dropout ablation
(image missing for every test patient) and the times.
"""
from __future__ import annotations

import time

#: Strategies re-scored with in-sample image features to show what the leak was worth.
LEAK_PROBES = ("early_logreg", "hybrid_concat")
#: Quick mode: bootstrap resamples for the CIs, and epochs of the hybrid networks in the modality-dropout ablation.
QUICK_N_BOOT = 200
QUICK_ABLATION_EPOCHS = 30


def image_feature_effect(cohort, quick: bool, seed: int, strategies: dict, n_boot: int) -> dict:
    """Test macro-F1 of ``LEAK_PROBES`` with the image features made three ways: the old recipe (in-sample
    embeddings), in-sample log-probabilities, and out-of-fold log-probabilities (the default)."""
    from dataclasses import replace

    from medfusion_lib.fusion import compare_strategies
    from medfusion_lib.fusion.features import ImageSettings, build_modalities

    base = ImageSettings.for_mode(quick)
    # the recipe before out-of-fold features: one CNN (3 epochs in quick mode, 8 in full) embedding everyone
    old = replace(base, folds=1, output="embedding", epochs=3 if quick else 8)
    recipes = {"in-sample embeddings (old recipe)": old,
               "in-sample log-probabilities": replace(base, folds=1),
               "out-of-fold log-probabilities": base}
    effect = {}
    for label, settings in recipes.items():
        feats = build_modalities(cohort, quick=quick, seed=seed, progress=False, image_settings=settings)
        lineup = {"image_only": strategies["image_only"], **{n: strategies[n] for n in LEAK_PROBES}}
        table = compare_strategies(feats.train, feats.y_train, feats.test, feats.y_test, feats.val, feats.y_val,
                                   strategies=lineup, n_boot=n_boot, seed=seed,
                                   progress=False).table.set_index("strategy")
        effect[label] = {n: {"test_macro_f1": float(table.loc[n, "macro_f1"]),
                             "val_macro_f1": float(table.loc[n, "val_macro_f1"])} for n in table.index}
    return effect


def run(quick: bool = False) -> tuple[list[dict], dict]:
    from medfusion_lib.config import seed_everything
    from medfusion_lib.data import load_cohort
    from medfusion_lib.fusion import compare_strategies, default_strategies, missing_modality_sweep
    from medfusion_lib.fusion.baselines import baseline_strategies
    from medfusion_lib.fusion.compare import modality_dropout_ablation
    from medfusion_lib.fusion.features import build_modalities

    seed = seed_everything(0)
    n_boot = QUICK_N_BOOT if quick else 1000
    cohort = load_cohort()
    started = time.perf_counter()
    feats = build_modalities(cohort, quick=quick, seed=seed, progress=False)
    features_s = time.perf_counter() - started

    started = time.perf_counter()
    strategies = {**default_strategies(feats.train.names, seed=seed, quick=quick),
                  **baseline_strategies(feats, seed=seed)}
    comparison = compare_strategies(feats.train, feats.y_train, feats.test, feats.y_test, feats.val, feats.y_val,
                                    strategies=strategies, n_boot=n_boot, seed=seed, progress=False)
    compare_s = time.perf_counter() - started

    started = time.perf_counter()
    sweep = missing_modality_sweep(comparison.models, feats.test, feats.y_test, seed=seed, progress=False)
    sweep_s = time.perf_counter() - started

    started = time.perf_counter()
    ablation = modality_dropout_ablation(feats.train, feats.y_train, feats.test, feats.y_test, feats.val,
                                         feats.y_val, missing="image", dropouts=(0.0, 0.3),
                                         seeds=(0,) if quick else (0, 1, 2),
                                         num_epochs=QUICK_ABLATION_EPOCHS if quick else 60)
    ablation_s = time.perf_counter() - started
    by_p = ablation.groupby("modality_dropout")[["macro_f1_full", "macro_f1_missing", "loss"]].mean()

    started = time.perf_counter()
    effect = image_feature_effect(cohort, quick, seed, strategies, n_boot)
    effect_s = time.perf_counter() - started

    table = comparison.table
    strategies_out = {
        row.strategy: {"kind": row.kind, "uses_image": bool(row.uses_image), "macro_f1": row.macro_f1,
                       "ci_low": row.macro_f1_low, "ci_high": row.macro_f1_high,
                       "balanced_accuracy": row.balanced_accuracy, "macro_auc": row.macro_auc,
                       "val_macro_f1": row.val_macro_f1, "gain_vs_best_single": row.gain_vs_best_single,
                       "gain_ci_low": row.gain_low, "gain_ci_high": row.gain_high, "p_value": row.p_value,
                       "gain_vs_non_image": row.gain_vs_non_image, "non_image_ci_low": row.non_image_low,
                       "non_image_ci_high": row.non_image_high, "non_image_p_value": row.non_image_p_value,
                       "fit_s": row.fit_s, "predict_s": row.predict_s}
        for row in table.itertuples()}
    curves = {modality: {name: [[r.fraction, r.macro_f1] for r in part.itertuples()]
                         for name, part in sweep[sweep.modality == modality].groupby("strategy", sort=False)}
              for modality in sweep.modality.unique()}
    payload = {
        "cohort": feats.info["cohort"], "classes": list(feats.classes), "n_train": len(feats.train),
        "n_val": len(feats.val), "n_test": len(feats.test), "n_boot": n_boot, "features": feats.info,
        "image_features": feats.info["image_features"],
        "gain": comparison.gain,
        "strategies": strategies_out,
        "image_feature_effect": effect,
        "missing_modality": {"fractions": sorted(sweep.fraction.unique().tolist()), "curves": curves},
        "modality_dropout": {
            "missing": "image", "fusion": "concat", "seeds": sorted(ablation.seed.unique().tolist()),
            "with_dropout": by_p.loc[0.3].to_dict(), "without_dropout": by_p.loc[0.0].to_dict(),
            "dropout_loses_less": bool(by_p.loc[0.3, "loss"] < by_p.loc[0.0, "loss"]),
        },
        "times": {"features_s": features_s, "compare_s": compare_s, "sweep_s": sweep_s,
                  "ablation_s": ablation_s, "image_feature_effect_s": effect_s},
    }
    rows = [{"strategy": r.strategy, "kind": r.kind, "image": "yes" if r.uses_image else "no",
             "val_f1": r.val_macro_f1, "macro_f1": r.macro_f1,
             "95% CI": f"[{r.macro_f1_low:.3f}, {r.macro_f1_high:.3f}]",
             "vs best single": f"{r.gain_vs_best_single:+.3f} [{r.gain_low:+.3f}, {r.gain_high:+.3f}]",
             "vs best non-image": f"{r.gain_vs_non_image:+.3f} [{r.non_image_low:+.3f}, {r.non_image_high:+.3f}]",
             "fit_s": r.fit_s} for r in table.itertuples()]
    return rows, payload
