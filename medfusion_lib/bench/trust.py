"""``medfusion bench trust``: can the fused model be trusted? (issue 12)

Built from a list of *sections* (``SECTIONS``); each is a function ``(quick, context) -> (rows, payload)`` whose
payload lands under its name in ``build/bench/trust.json`` and whose wall time lands in ``times``. The
``context`` (:class:`TrustContext`) builds the cohort's fusion features (cached by the fusion track) and fits
the default line-up once, on demand, so sections share them. Another section (e.g. explanations) is one
more entry in ``SECTIONS``.

- ``calibration.<strategy>``: temperature fitted on validation NLL; test ECE before/after (15 equal-width bins)
  with 95 % bootstrap CIs (``ece_ci_low/high`` are the interval *after* scaling), Brier, NLL, and whether the
  target is met (ECE at least halved or at most 0.02). Also the calibrator chosen on validation by 5-fold CV
  (``calibrator``, ``cv_nll``, ``ece_after_chosen`` with its CI), and for the raw / temperature-scaled / chosen
  probabilities the noise floor band of a perfectly calibrated model at this test size (``noise_floor*``), the
  consistency p-value, Kumar et al.'s debiased L2 ECE and Roelofs et al.'s sweep ECE; ``status`` says why a
  strategy misses the target (already calibrated / at the noise floor) or that it truly misses.
- ``expert_calibration.<late rule>``: temperatures per expert *before* fusion; fused test ECE that way versus
  after fusion; the fraction of diagnoses that change.
- ``missing_modality.confidence_rises.<strategy>``: {image, text}: the fraction of test patients whose fused
  confidence rises when that modality is removed (Ma et al., ICML 2023).
- ``selective.<strategy>``: referral threshold chosen on validation for ``TARGET_ACCURACY`` (temperature-scaled
  model), and the test coverage and accuracy it gives; AURC.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

#: Accuracy the referral rule must reach on the patients it answers (chosen on validation).
TARGET_ACCURACY = 0.95


@dataclass
class TrustContext:
    """Shared, lazily built inputs of the sections: features, fitted strategies, their calibration."""

    quick: bool
    seed: int = 0
    times: dict = field(default_factory=dict)

    @cached_property
    def feats(self):
        from medfusion_lib.fusion.features import build_modalities

        started = time.perf_counter()
        feats = build_modalities(quick=self.quick, seed=self.seed, progress=False)
        self.times["features_s"] = time.perf_counter() - started
        return feats

    @cached_property
    def explanations(self) -> dict:
        """``explain_section``'s result (Grad-CAM localisation, sanity check, modality Shapley) for lesson 13's
        joint model from pixels, trained once and cached by the explanation track."""
        from medfusion_lib.explain.summary import explain_section

        return explain_section(quick=self.quick, seed=self.seed)

    @cached_property
    def models(self) -> dict:
        """name -> fitted model for every entry of ``default_strategies`` (unimodal baselines included)."""
        from sklearn.base import clone

        from medfusion_lib.fusion import default_strategies
        from medfusion_lib.fusion.compare import fit_model

        feats = self.feats
        started = time.perf_counter()
        models = {name: fit_model(clone(template), feats.train, feats.y_train, feats.val, feats.y_val)
                  for name, template in default_strategies(feats.train.names, seed=self.seed,
                                                           quick=self.quick).items()}
        self.times["fit_s"] = time.perf_counter() - started
        return models

    @cached_property
    def calibration(self):
        """:class:`~medfusion_lib.calibration.CalibrationReport` of the line-up (calibrators fitted and chosen
        on validation only, scored once on test)."""
        from medfusion_lib.calibration import calibration_report

        feats = self.feats
        return calibration_report(self.models, feats.val, feats.y_val, feats.test, feats.y_test,
                                  n_boot=200 if self.quick else 1000, seed=self.seed,
                                  n_splits=3 if self.quick else 5)

    def kind(self, name: str) -> str:
        from medfusion_lib.fusion.compare import kind_of

        return kind_of(self.models[name])


#: payload key -> calibration_report column, where the name differs (the issue's names come first).
PAYLOAD_NAMES = {"ece_ci_low": "ece_after_low", "ece_ci_high": "ece_after_high",
                 "ece_before_ci_low": "ece_before_low", "ece_before_ci_high": "ece_before_high",
                 "noise_floor": "floor_after", "noise_floor_low": "floor_after_low",
                 "noise_floor_high": "floor_after_high", "noise_floor_before": "floor_before",
                 "noise_floor_before_low": "floor_before_low", "noise_floor_before_high": "floor_before_high",
                 "ece_after_chosen": "ece_chosen", "ece_after_chosen_ci_low": "ece_chosen_low",
                 "ece_after_chosen_ci_high": "ece_chosen_high", "noise_floor_chosen_high": "floor_chosen_high",
                 "classwise_ece_before": "classwise_before", "classwise_ece_after": "classwise_after",
                 "debiased_ece_before": "debiased_before", "debiased_ece_after": "debiased_after",
                 "debiased_ece_chosen": "debiased_chosen", "ece_sweep_before": "sweep_before",
                 "ece_sweep_after": "sweep_after", "ece_sweep_chosen": "sweep_chosen"}


def _ci(estimate: float, low: float, high: float) -> str:
    return f"{estimate:.3f} [{low:.3f}, {high:.3f}]"


def calibration_section(quick: bool, context: TrustContext) -> tuple[list[dict], dict]:
    report = context.calibration
    payload, rows = {}, []
    renamed = set(PAYLOAD_NAMES.values())
    for r in report.table.to_dict("records"):
        name = r["strategy"]
        entry = {"kind": context.kind(name),
                 **{key: r[column] for key, column in PAYLOAD_NAMES.items()},
                 **{key: value for key, value in r.items() if key not in renamed and key != "strategy"},
                 "cv_nll": dict(zip(report.cv[name]["method"], report.cv[name]["cv_nll"]))}
        payload[name] = {k: (bool(v) if isinstance(v, (bool, np.bool_)) else v) for k, v in entry.items()}
        rows.append({"strategy": name, "ECE before [CI]": _ci(r["ece_before"], r["ece_before_low"], r["ece_before_high"]),
                     "floor before": f"{r['floor_before_high']:.3f}", "p before": r["p_value_before"],
                     "T": r["temperature"],
                     "after T [CI]": _ci(r["ece_after"], r["ece_after_low"], r["ece_after_high"]),
                     "chosen on val": r["calibrator"],
                     "after chosen [CI]": _ci(r["ece_chosen"], r["ece_chosen_low"], r["ece_chosen_high"]),
                     "floor after": f"{r['floor_after']:.3f} [{r['floor_after_low']:.3f}, {r['floor_after_high']:.3f}]",
                     "p after": r["p_value_after"],
                     "debiased before→after": f"{r['debiased_before']:.3f}→{r['debiased_after']:.3f}",
                     "best any T (test)": f"{r['ece_best_temperature']:.3f} (T {r['t_best_ece']:.2f})",
                     "status": r["status"]})
    return rows, payload


def expert_calibration_section(quick: bool, context: TrustContext) -> tuple[list[dict], dict]:
    from medfusion_lib.calibration import RULES_FOR_EXPERT_CALIBRATION, ExpertTemperatureFusion, top_label_ece

    feats = context.feats
    after_fusion = context.calibration.table.set_index("strategy")["ece_after"]
    payload, rows = {}, []
    for name, model in context.models.items():
        if context.kind(name) != "late" or model.rule not in RULES_FOR_EXPERT_CALIBRATION:
            continue
        experts = ExpertTemperatureFusion(model).fit(feats.val, feats.y_val)
        raw, before_fusion = model.predict_proba(feats.test), experts.predict_proba(feats.test)
        payload[name] = {"expert_temperatures": experts.temperatures_,
                         "ece_raw": top_label_ece(feats.y_test, raw),
                         "ece_experts_calibrated": top_label_ece(feats.y_test, before_fusion),
                         "ece_calibrated_after_fusion": float(after_fusion[name]),
                         "decisions_changed": float((raw.argmax(1) != before_fusion.argmax(1)).mean())}
        rows.append({"strategy": name, "ECE experts-calibrated": payload[name]["ece_experts_calibrated"],
                     "changed": payload[name]["decisions_changed"]})
    return rows, payload


def missing_modality_section(quick: bool, context: TrustContext) -> tuple[list[dict], dict]:
    from medfusion_lib.calibration import confidence_rises

    feats = context.feats
    fusion = {n: m for n, m in context.models.items() if context.kind(n) != "unimodal"}
    table = confidence_rises(fusion, feats.test, ("image", "text"))
    rises = {name: dict(zip(part.modality, part.frac_rises)) for name, part in table.groupby("strategy", sort=False)}
    mean_change = {name: dict(zip(part.modality, part.mean_change))
                   for name, part in table.groupby("strategy", sort=False)}
    rows = [{"strategy": name, "rises without image": r["image"], "rises without text": r["text"]}
            for name, r in rises.items()]
    return rows, {"confidence_rises": rises, "mean_confidence_change": mean_change,
                  "n_test": len(feats.test)}


def selective_section(quick: bool, context: TrustContext) -> tuple[list[dict], dict]:
    from medfusion_lib.selective import area_under_risk_coverage, choose_referral_threshold, referral_operating_point

    feats = context.feats
    scaled = context.calibration.temperature
    payload, rows = {"target_accuracy": TARGET_ACCURACY}, []
    for name, model in scaled.items():
        if context.kind(name) == "unimodal":
            continue
        val_proba, test_proba = model.predict_proba(feats.val), model.predict_proba(feats.test)
        try:
            threshold = choose_referral_threshold(feats.y_val, val_proba, TARGET_ACCURACY)
        except ValueError:  # the target is out of reach on validation: say so rather than pick a threshold
            payload[name] = {"threshold": None, "reachable": False}
            continue
        val_point = referral_operating_point(feats.y_val, val_proba, threshold)
        test_point = referral_operating_point(feats.y_test, test_proba, threshold)
        payload[name] = {"reachable": True, "threshold": threshold, "val_coverage": val_point["coverage"],
                         "test_coverage": test_point["coverage"],
                         "test_accuracy_answered": test_point["accuracy_answered"],
                         "test_accuracy_all": test_point["accuracy_all"],
                         "aurc": area_under_risk_coverage(feats.y_test, test_proba)}
        rows.append({"strategy": name, "refer below": threshold, "coverage": test_point["coverage"],
                     "acc answered": test_point["accuracy_answered"]})
    return rows, payload


def explain_section(quick: bool, context: TrustContext) -> tuple[list[dict], dict]:
    """Grad-CAM of the fused prediction against the generator's finding masks, and the randomisation check."""
    payload = context.explanations["explain"]
    keys = ("pointing_game", "pointing_game_random", "energy_in_mask", "energy_in_mask_random", "sanity_spearman")
    return [{"explain": key, "value": payload[key]} for key in keys], payload


def shapley_section(quick: bool, context: TrustContext) -> tuple[list[dict], dict]:
    """Exact modality Shapley values (validation macro-F1 of the model retrained on each subset)."""
    payload = context.explanations["shapley"]
    return [{"shapley": name, "value": value} for name, value in payload.items()], payload


Section = Callable[[bool, TrustContext], tuple[list[dict], dict]]
#: (name, function) in the order they run and print.
SECTIONS: list[tuple[str, Section]] = [
    ("calibration", calibration_section),
    ("expert_calibration", expert_calibration_section),
    ("missing_modality", missing_modality_section),
    ("selective", selective_section),
    ("explain", explain_section),
    ("shapley", shapley_section),
]


def run(quick: bool = False) -> tuple[list[dict], dict]:
    from medfusion_lib.calibration import STATUSES
    from medfusion_lib.config import seed_everything

    context = TrustContext(quick=quick, seed=seed_everything(0))
    context.models  # features and fitted line-up first, so each section's time is its own (features_s, fit_s)
    payload: dict = {"sections": [name for name, _ in SECTIONS]}
    by_strategy: dict[str, dict] = {}  # sections' rows about one strategy share one printed row
    other_rows: list[dict] = []
    for name, section in SECTIONS:
        started = time.perf_counter()
        section_rows, payload[name] = section(quick, context)
        context.times[f"{name}_s"] = time.perf_counter() - started
        for row in section_rows:
            if "strategy" in row:
                by_strategy.setdefault(row["strategy"], {}).update(row)
            else:
                other_rows.append({"section": name, **row})
    rows = [*by_strategy.values(), *other_rows]
    feats = context.feats
    calibration = payload["calibration"].values()
    fusion_entries = [v for v in calibration if v["kind"] != "unimodal"]
    payload.update({"cohort": feats.info["cohort"], "n_val": len(feats.val), "n_test": len(feats.test),
                    "times": dict(context.times),
                    "target": {"ece_halved_or_at_most": 0.02, "referral_accuracy": TARGET_ACCURACY},
                    "all_fusion_strategies_meet_target": bool(all(v["meets_target"] for v in fusion_entries)),
                    "fusion_strategies_meeting_target": {
                        "temperature": sum(v["meets_target"] for v in fusion_entries),
                        "chosen_calibrator": sum(v["meets_target_chosen"] for v in fusion_entries),
                        "either": sum(v["meets_target"] or v["meets_target_chosen"] for v in fusion_entries),
                        "of": len(fusion_entries)},
                    "fusion_status": {status: sum(v["status"] == status for v in fusion_entries)
                                      for status in STATUSES}})
    return rows, payload
