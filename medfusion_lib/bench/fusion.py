"""``medfusion bench fusion``: every fusion strategy and unimodal baseline on the default cohort's test split.

Writes macro-F1 with 95 % bootstrap CIs per strategy, the gain of the best fusion over the best single
modality (both chosen on validation) with its paired-bootstrap CI, the missing-modality curves, the
modality-dropout ablation (image missing for every test patient) and the times.
"""
from __future__ import annotations

import time


def run(quick: bool = False) -> tuple[list[dict], dict]:
    from medfusion_lib.config import seed_everything
    from medfusion_lib.fusion import compare_strategies, default_strategies, missing_modality_sweep
    from medfusion_lib.fusion.compare import modality_dropout_ablation
    from medfusion_lib.fusion.features import build_modalities

    seed = seed_everything(0)
    n_boot = 200 if quick else 1000
    started = time.perf_counter()
    feats = build_modalities(quick=quick, seed=seed, progress=False)
    features_s = time.perf_counter() - started

    started = time.perf_counter()
    comparison = compare_strategies(feats.train, feats.y_train, feats.test, feats.y_test, feats.val, feats.y_val,
                                    strategies=default_strategies(feats.train.names, seed=seed, quick=quick),
                                    n_boot=n_boot, seed=seed, progress=False)
    compare_s = time.perf_counter() - started

    started = time.perf_counter()
    sweep = missing_modality_sweep(comparison.models, feats.test, feats.y_test, seed=seed, progress=False)
    sweep_s = time.perf_counter() - started

    started = time.perf_counter()
    ablation = modality_dropout_ablation(feats.train, feats.y_train, feats.test, feats.y_test, feats.val,
                                         feats.y_val, missing="image", dropouts=(0.0, 0.3),
                                         seeds=(0,) if quick else (0, 1, 2),
                                         num_epochs=30 if quick else 60)
    ablation_s = time.perf_counter() - started
    by_p = ablation.groupby("modality_dropout")[["macro_f1_full", "macro_f1_missing", "loss"]].mean()

    table = comparison.table
    strategies = {
        row.strategy: {"kind": row.kind, "macro_f1": row.macro_f1, "ci_low": row.macro_f1_low,
                       "ci_high": row.macro_f1_high, "balanced_accuracy": row.balanced_accuracy,
                       "macro_auc": row.macro_auc, "val_macro_f1": row.val_macro_f1,
                       "gain_vs_best_single": row.gain_vs_best_single, "gain_ci_low": row.gain_low,
                       "gain_ci_high": row.gain_high, "p_value": row.p_value, "fit_s": row.fit_s,
                       "predict_s": row.predict_s}
        for row in table.itertuples()}
    curves = {modality: {name: [[r.fraction, r.macro_f1] for r in part.itertuples()]
                         for name, part in sweep[sweep.modality == modality].groupby("strategy", sort=False)}
              for modality in sweep.modality.unique()}
    payload = {
        "cohort": feats.info["cohort"], "n_train": len(feats.train), "n_val": len(feats.val),
        "n_test": len(feats.test), "n_boot": n_boot, "features": feats.info,
        "gain": comparison.gain,
        "strategies": strategies,
        "missing_modality": {"fractions": sorted(sweep.fraction.unique().tolist()), "curves": curves},
        "modality_dropout": {
            "missing": "image", "fusion": "concat", "seeds": sorted(ablation.seed.unique().tolist()),
            "with_dropout": by_p.loc[0.3].to_dict(), "without_dropout": by_p.loc[0.0].to_dict(),
            "dropout_loses_less": bool(by_p.loc[0.3, "loss"] < by_p.loc[0.0, "loss"]),
        },
        "times": {"features_s": features_s, "compare_s": compare_s, "sweep_s": sweep_s,
                  "ablation_s": ablation_s},
    }
    rows = [{"strategy": r.strategy, "kind": r.kind, "macro_f1": r.macro_f1,
             "95% CI": f"[{r.macro_f1_low:.3f}, {r.macro_f1_high:.3f}]",
             "vs best single": f"{r.gain_vs_best_single:+.3f} [{r.gain_low:+.3f}, {r.gain_high:+.3f}]",
             "fit_s": r.fit_s, "predict_s": r.predict_s} for r in table.itertuples()]
    return rows, payload
