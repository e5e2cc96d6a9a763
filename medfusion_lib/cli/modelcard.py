"""``medfusion model-card``: measure the default fused model on a cohort and write its ``model_card.md``.

The default fused model is the validation-best of a few cheap fusion strategies (early fusion with logistic
regression, late fusion by mean, weighted mean and stacking), fitted on the cohort's train split; the test split
is scored once, by the card.
"""
from __future__ import annotations

from pathlib import Path

from medfusion_lib.errors import UserError

#: The strategies the command chooses from (validation macro-F1), cheap enough for a laptop.
CANDIDATES = ("early_logreg", "late_mean", "late_weighted", "late_stacking")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "model-card", help="write model_card.md for the default fused model (every number measured)",
        description="Fit the validation-best of a few fusion strategies on the cohort, measure it (overall and "
                    "per-group scores with CIs, calibration, site shift) and write a model card. Educational, "
                    "not for clinical use.")
    parser.add_argument("--cohort", default="default", help="cohort folder or name under datasets/ (default: default)")
    parser.add_argument("--strategy", choices=CANDIDATES, default=None,
                        help="use this strategy instead of choosing on validation")
    parser.add_argument("--out", type=Path, default=None, help="where to write it (default build/model_card.md)")
    parser.add_argument("--quick", action="store_true", help="the quick-mode subsample and fewer resamples")
    parser.add_argument("--no-site-shift", action="store_true", help="skip the leave-one-site-out refits")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from sklearn.base import clone

    from medfusion_lib.config import build_dir
    from medfusion_lib.data import load_cohort
    from medfusion_lib.evaluation import macro_f1
    from medfusion_lib.fusion import default_strategies
    from medfusion_lib.fusion.compare import fit_model, select_on_validation
    from medfusion_lib.fusion.features import build_modalities
    from medfusion_lib.modelcard import measure_model_card, write_model_card

    out = args.out or build_dir() / "model_card.md"
    if out.suffix != ".md":
        raise UserError(f"--out {out}: a model card is Markdown; give a path ending in .md")
    cohort = load_cohort(args.cohort, build_if_missing=args.cohort == "default")
    feats = build_modalities(cohort, quick=args.quick, seed=args.seed)
    line_up = default_strategies(feats.train.names, seed=args.seed, quick=args.quick)
    names = [args.strategy] if args.strategy else list(CANDIDATES)
    models, val_scores = {}, {}
    for name in names:
        models[name] = fit_model(clone(line_up[name]), feats.train, feats.y_train, feats.val, feats.y_val)
        val_scores[name] = macro_f1(feats.y_val, models[name].predict(feats.val))
    chosen = select_on_validation(names, val_scores)
    # per-group intervals cost a fairlearn MetricFrame per resample (most of the command's time): quick mode takes fewer
    n_boot, n_boot_groups = (200, 50) if args.quick else (1000, 200)
    facts = measure_model_card(models[chosen], feats, cohort.patients, name=chosen, cohort_params=cohort.params,
                               site_shift=not args.no_site_shift, n_boot=n_boot, n_boot_groups=n_boot_groups,
                               seed=args.seed)
    path = write_model_card(facts, out)
    print(f"{chosen} (validation macro-F1 {val_scores[chosen]:.3f}): test macro-F1 "
          f"{facts.overall.loc['macro_f1', 'estimate']:.3f}; model card written to {path}")
    return 0
