"""``medfusion bench hospitals``: subgroup gaps, site shift, the marker shortcut and federated training.

Payload (macro-F1 unless said otherwise):

- ``fairness.<strategy>.worst_group_gap.<attribute>`` — best minus worst group (sex, age band, site), and
  ``under_diagnosis_gap.<attribute>``;
- ``shift.leave_one_site_out.<strategy>`` — mean over held-out sites of the score when the site was never
  seen, with ``seen`` and ``drop``; ``shift.site_probe`` — balanced accuracy of naming the site from image
  embeddings (all films, normal films only) against chance;
- ``shortcut.internal`` / ``external`` / ``fixed_external`` (AUC of the naive model and of the best fix,
  chosen on reversed-association *validation* films; every fix's numbers are in ``shortcut.fixes``),
  ``shortcut.recovered`` (fraction of the internal − external drop that fix recovers on the test films);
- ``federated.centralised`` / ``fedavg`` / ``fedprox`` / ``local_only`` (hybrid fusion network, test
  macro-F1 on all sites' test patients; ``local_only`` of the smallest site), ``federated.rounds``,
  ``federated.seconds``, the round-by-round curves, IID vs natural split, and the linear symptom model.
"""
from __future__ import annotations

import time

#: The strategies audited for fairness and site shift: one per kind, plus the unimodal baselines.
STRATEGIES = ("text_only", "image_only", "vitals_only", "early_logreg", "late_mean", "hybrid_concat")
#: Quick mode: epochs of the shortcut CNNs, federated rounds.
QUICK_SHORTCUT_EPOCHS = 4
QUICK_ROUNDS = 5
#: Bootstrap resamples of the strategy comparison (its CIs are not reported here: only its scores and probabilities).
COMPARE_N_BOOT = 100


def run(quick: bool = False) -> tuple[list[dict], dict]:
    import numpy as np

    from medfusion_lib.config import seed_everything
    from medfusion_lib.data import load_cohort
    from medfusion_lib.federated.cohort import cohort_federation
    from medfusion_lib.federated.simulate import TrainSettings, run_federated, train_centralised, train_local_only
    from medfusion_lib.fusion import compare_strategies, default_strategies
    from medfusion_lib.fusion.features import build_modalities
    from medfusion_lib.hospitals.shift import (embedding_features, leave_one_site_out, site_probe, sites_of,
                                              summarise_loso)
    from medfusion_lib.hospitals.shortcut import run_shortcut_experiment
    from medfusion_lib.hospitals.subgroups import audit_strategies, sensitive_features, worst_group_gaps

    seed = seed_everything(0)
    times = {}
    started = time.perf_counter()
    cohort = load_cohort()
    feats = build_modalities(cohort, quick=quick, seed=seed, progress=False)
    patients = cohort.patients.set_index("patient_id")
    times["features_s"] = time.perf_counter() - started

    # ---- fairness
    started = time.perf_counter()
    line_up = default_strategies(feats.train.names, seed=seed, quick=quick)
    strategies = {k: line_up[k] for k in STRATEGIES}
    comparison = compare_strategies(feats.train, feats.y_train, feats.test, feats.y_test, feats.val, feats.y_val,
                                    strategies=strategies, n_boot=COMPARE_N_BOOT, seed=seed, progress=False)
    groups = sensitive_features(patients.loc[feats.test.patient_ids].reset_index())
    # n_boot=0: the payload reports worst-group gaps of point estimates; per-group intervals would be computed unread
    audit = audit_strategies(comparison.proba, feats.y_test, groups, n_boot=0, seed=seed)
    f1_gaps = worst_group_gaps(audit, "macro_f1")
    ud_gaps = worst_group_gaps(audit, "under_diagnosis")
    fairness = {name: {"macro_f1": float(comparison.table.set_index("strategy").loc[name, "macro_f1"]),
                       "worst_group_gap": f1_gaps[name], "under_diagnosis_gap": ud_gaps[name]}
                for name in STRATEGIES}
    times["fairness_s"] = time.perf_counter() - started

    # ---- site shift
    started = time.perf_counter()
    site = {s: sites_of(cohort.patients, getattr(feats, s).patient_ids) for s in ("train", "val", "test")}
    loso = leave_one_site_out(feats.train, feats.y_train, site["train"], feats.test, feats.y_test, site["test"],
                              strategies, feats.val, feats.y_val, site["val"])
    summary = summarise_loso(loso).set_index("strategy")
    embedded = embedding_features(cohort, quick=quick, seed=seed)  # the fusion features are class log-probabilities
    X_image = np.concatenate([embedded.train.features["image"], embedded.test.features["image"]])
    all_sites = np.concatenate([site["train"], site["test"]])
    normal = np.isin(np.concatenate([feats.y_train, feats.y_test]), [0, 1])  # URI, bronchitis: normal films
    probe = {"all_films": site_probe(X_image, all_sites, seed=seed),
             "normal_films": site_probe(X_image[normal], all_sites[normal], seed=seed)}
    shift = {"leave_one_site_out": {name: float(summary.loc[name, "macro_f1_unseen"]) for name in STRATEGIES},
             "seen": {name: float(summary.loc[name, "macro_f1_seen"]) for name in STRATEGIES},
             "drop": {name: float(summary.loc[name, "drop"]) for name in STRATEGIES},
             "per_site": loso.to_dict(orient="records"), "site_probe": probe}
    times["shift_s"] = time.perf_counter() - started

    # ---- the marker shortcut
    started = time.perf_counter()
    sc = run_shortcut_experiment(cohort, epochs=QUICK_SHORTCUT_EPOCHS if quick else 8, seed=seed)
    table = sc.table.set_index("model")
    recovery = sc.recovery("auc")
    best_fix = sc.best_fix("auc")
    shortcut = {"metric": "auc", "internal": float(table.loc["naive", "internal_auc"]),
                "external": float(table.loc["naive", "external_auc"]),
                "fixed_external": float(table.loc[best_fix, "external_auc"]), "best_fix": best_fix,
                "recovered": float(recovery[best_fix]),
                "fixes": sc.table.to_dict(orient="records"),
                "contingency": sc.contingency.to_dict(), "probes": sc.probes}
    times["shortcut_s"] = time.perf_counter() - started

    # ---- federated
    started = time.perf_counter()
    federation = cohort_federation(cohort, quick=quick, seed=seed, feats=feats)
    rounds = QUICK_ROUNDS if quick else 10
    hybrid = TrainSettings(kind="hybrid", rounds=rounds, local_epochs=2, lr=0.003, seed=seed)
    fed_started = time.perf_counter()
    fedavg = run_federated(federation, hybrid)
    fed_seconds = time.perf_counter() - fed_started
    fedprox = run_federated(federation, TrainSettings(**{**hybrid.__dict__, "mu": 0.1}))
    iid = run_federated(cohort_federation(cohort, quick=quick, seed=seed, feats=feats, iid=True), hybrid)
    central = train_centralised(federation, hybrid)
    local = train_local_only(federation, hybrid)
    smallest = local.sort_values("n_train").iloc[0]
    linear = TrainSettings(kind="linear", rounds=rounds, local_epochs=2, lr=0.01, seed=seed)
    linear_fed = run_federated(federation, linear)
    linear_central = train_centralised(federation, linear)
    federated = {
        "model": "hybrid", "centralised": central["macro_f1"], "fedavg": fedavg.final["macro_f1"],
        "fedprox": fedprox.final["macro_f1"], "local_only": float(smallest["macro_f1"]),
        "local_only_site": str(smallest["site"]), "local_only_all": local.to_dict(orient="records"),
        "iid_fedavg": iid.final["macro_f1"], "rounds": rounds, "local_epochs": hybrid.local_epochs,
        "seconds": fed_seconds, "curves": {"fedavg": fedavg.history.to_dict(orient="list"),
                                           "fedprox": fedprox.history.to_dict(orient="list"),
                                           "iid": iid.history.to_dict(orient="list")},
        "sizes": dict(zip(federation.names, federation.sizes)),
        "linear": {"centralised": linear_central["macro_f1"], "fedavg": linear_fed.final["macro_f1"]},
        "gap_to_centralised": central["macro_f1"] - fedavg.final["macro_f1"],
    }
    times["federated_s"] = time.perf_counter() - started

    payload = {"cohort": feats.info["cohort"], "fairness": fairness, "shift": shift, "shortcut": shortcut,
               "federated": federated, "times": times,
               "done_when": {
                   "federated_within_0.03": abs(federated["gap_to_centralised"]) <= 0.03,
                   "local_only_smallest_worse": federated["local_only"] < central["macro_f1"],
                   "shortcut_drop_ge_0.15": shortcut["internal"] - shortcut["external"] >= 0.15,
                   "best_fix_recovers_half": shortcut["recovered"] >= 0.5}}
    rows = [{"section": "fairness", "what": f"{n} worst sex / age / site gap",
             "value": " / ".join(f"{fairness[n]['worst_group_gap'][a]:.3f}" for a in ("sex", "age_band", "site"))}
            for n in STRATEGIES]
    rows += [{"section": "shift", "what": f"{n} unseen-site macro-F1 (drop)",
              "value": f"{shift['leave_one_site_out'][n]:.3f} ({shift['drop'][n]:+.3f})"} for n in STRATEGIES]
    rows += [{"section": "shift", "what": "site probe (all / normal films; chance)",
              "value": f"{probe['all_films']['balanced_accuracy']:.3f} / {probe['normal_films']['balanced_accuracy']:.3f}"
                       f" ({probe['all_films']['chance']:.3f})"},
             {"section": "shortcut", "what": "AUC internal / external / fixed external",
              "value": f"{shortcut['internal']:.3f} / {shortcut['external']:.3f} / {shortcut['fixed_external']:.3f}"
                       f" ({best_fix}, recovers {shortcut['recovered']:.0%})"},
             {"section": "federated", "what": "hybrid centralised / FedAvg / FedProx / local-only (smallest)",
              "value": f"{federated['centralised']:.3f} / {federated['fedavg']:.3f} / {federated['fedprox']:.3f} / "
                       f"{federated['local_only']:.3f} ({federated['local_only_site']})"},
             {"section": "federated", "what": "IID FedAvg; linear centralised / FedAvg",
              "value": f"{federated['iid_fedavg']:.3f}; {federated['linear']['centralised']:.3f} / "
                       f"{federated['linear']['fedavg']:.3f}"},
             {"section": "federated", "what": "rounds, seconds", "value": f"{rounds}, {fed_seconds:.1f}"}]
    return rows, payload
