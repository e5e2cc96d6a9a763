"""Hospitals: subgroup audit, the confounded sampler, markers, site shift."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfusion_lib.data import DIAGNOSES
from medfusion_lib.hospitals.markers import CORNERS, burn_marker, marker_box, mask_markers, site_corner
from medfusion_lib.hospitals.shift import leave_one_site_out, site_probe
from medfusion_lib.hospitals.shortcut import (LABELS, PAIR, confounded_sample, contingency,
                                              site_balanced_index)
from medfusion_lib.hospitals.subgroups import (age_band, audit, audit_strategies, gaps, group_frame,
                                               sensitive_features, under_diagnosis_rate)


def fake_patients(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A patients table with every diagnosis at every site, in every split."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"patient_id": [f"P{i:05d}" for i in range(n)],
                         "site": rng.choice(["Northgate", "Riverside", "Lakeview"], n),
                         "diagnosis": rng.choice(DIAGNOSES, n),
                         "split": rng.choice(["train", "val", "test"], n, p=[0.7, 0.15, 0.15]),
                         "sex": rng.choice(["F", "M"], n), "age": rng.integers(18, 95, n)})


def test_under_diagnosis_counts_sick_patients_sent_home():
    uri, bronchitis, bact, hf = (DIAGNOSES.index(d) for d in ("upper_respiratory_infection", "acute_bronchitis",
                                                              "bacterial_pneumonia", "heart_failure"))
    y_true = np.array([bact, bact, hf, hf, uri])
    y_pred = np.array([uri, bact, bronchitis, bact, bact])  # 2 of 4 sick patients sent home
    assert under_diagnosis_rate(y_true, y_pred) == 0.5
    assert np.isnan(under_diagnosis_rate(np.array([uri]), np.array([uri])))  # nobody sick: undefined


def test_age_bands():
    assert age_band([18, 39, 40, 64, 65, 95]).tolist() == ["18-39", "18-39", "40-64", "40-64", "65+", "65+"]
    with pytest.raises(ValueError):
        age_band([10])


def test_per_group_cis_contain_the_point_estimate():
    rng = np.random.default_rng(1)
    patients = fake_patients(600)
    y = rng.integers(0, 6, 600)
    pred = np.where(rng.random(600) < 0.7, y, rng.integers(0, 6, 600))
    # 40 resamples (each is a fairlearn MetricFrame): fewer only make an interval noisier, so no easier to pass
    table = audit(y, pred, sensitive_features(patients), n_boot=40)
    assert set(table.attribute) == {"sex", "age_band", "site"}
    ok = table.dropna(subset=["estimate"])
    assert ((ok.low <= ok.estimate + 1e-9) & (ok.estimate <= ok.high + 1e-9)).all(), ok
    assert (ok.high > ok.low).all()


def test_gaps_agree_with_fairlearn_difference():
    rng = np.random.default_rng(2)
    patients = fake_patients(400)
    y = rng.integers(0, 6, 400)
    pred = np.where(rng.random(400) < 0.6, y, rng.integers(0, 6, 400))
    table = audit(y, pred, sensitive_features(patients), attributes=["site"], n_boot=0)
    frame = group_frame(y, pred, patients.site, n_boot=0)
    ours = gaps(table).set_index("metric")["gap"]
    theirs = frame.difference(method="between_groups")
    for metric in ("macro_f1", "sick_recall", "under_diagnosis"):
        assert ours[metric] == pytest.approx(theirs[metric])


def test_the_confounded_sampler_confounds():
    patients = fake_patients()
    sample = confounded_sample(patients, "train", confound=0.9)
    table = contingency(sample)
    normal_site, pneumonia_site = PAIR
    share_normal = table.loc[LABELS[0], normal_site] / table.loc[LABELS[0]].sum()
    share_pneumonia = table.loc[LABELS[1], pneumonia_site] / table.loc[LABELS[1]].sum()
    assert share_normal == pytest.approx(0.9, abs=0.02) and share_pneumonia == pytest.approx(0.9, abs=0.02)
    # a chi-squared test of independence rejects: site and label are strongly associated
    from scipy.stats import chi2_contingency

    assert chi2_contingency(table.to_numpy()).pvalue < 1e-6
    # only the two sites, only the two label groups, only the requested split, no patient twice
    assert set(sample.site) == set(PAIR) and len(set(sample.index)) == len(sample)
    assert (patients.iloc[sample.index].split == "train").all()
    reverse = contingency(confounded_sample(patients, "test", 0.9, reverse=True))
    assert reverse.loc[LABELS[1], normal_site] > reverse.loc[LABELS[1], pneumonia_site]
    balanced = contingency(confounded_sample(patients, "train", 0.5))
    assert balanced.loc[LABELS[1], normal_site] == pytest.approx(balanced.loc[LABELS[1], pneumonia_site], abs=1)
    with pytest.raises(ValueError, match="confound"):
        confounded_sample(patients, "train", confound=0.3)


def test_site_balanced_index_balances_every_cell():
    sample = confounded_sample(fake_patients(), "train", confound=0.9)
    index = site_balanced_index(sample)
    cells = pd.crosstab(sample.y[index], sample.site[index]).to_numpy()
    assert cells.min() == cells.max()


def test_markers_follow_the_generator():
    from medfusion_lib.data.diagnoses import SITES
    from medfusion_lib.data.images import render_radiograph

    site = SITES[0]
    film = render_radiograph("upper_respiratory_infection", site, np.random.default_rng(0), 64)[None]
    r0, r1, c0, c1 = marker_box(site_corner(site.name), 64)
    assert film[0, r0:r1, c0:c1].max() >= 240  # the bright marker is where we say
    hidden = mask_markers(film)
    assert hidden[0, r0:r1, c0:c1].max() < 200
    other = [c for c in CORNERS if c != site.marker][0]
    moved = burn_marker(hidden, other)
    q0, q1, p0, p1 = marker_box(other, 64)
    assert moved[0, q0:q1, p0:p1].max() >= 240
    with pytest.raises(ValueError):
        mask_markers(np.zeros((2, 64, 64), dtype=np.float32))


def test_site_probe_reads_a_site_signal_and_not_noise():
    rng = np.random.default_rng(0)
    sites = rng.choice(["A", "B", "C"], 300)
    X_noise = rng.normal(size=(300, 8))
    X_site = X_noise + 3 * (sites == "A")[:, None]
    assert site_probe(X_site, sites)["balanced_accuracy"] > 0.6
    assert site_probe(X_noise, sites)["balanced_accuracy"] < 0.5


def test_leave_one_site_out_never_trains_on_the_held_out_site():
    from medfusion_lib.fusion import Modalities, UnimodalModel

    rng = np.random.default_rng(0)
    n = 300
    sites = rng.choice(["A", "B", "C"], n)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 2))
    at_c = sites == "C"
    # the label shows in feature 0 at sites A and B but only in feature 1 at site C: a model that never saw
    # site C cannot know feature 1 matters
    X[~at_c, 0] += 3 * y[~at_c]
    X[at_c, 1] += 3 * y[at_c]
    data = Modalities({"vitals": X}, np.arange(n))
    train, test = np.arange(n) < 200, np.arange(n) >= 200
    table = leave_one_site_out(data.subset(train), y[train], sites[train], data.subset(test), y[test], sites[test],
                               {"vitals_only": UnimodalModel("vitals")})
    assert set(table.site) == {"A", "B", "C"}
    c = table.set_index("site").loc["C"]
    assert c.macro_f1_unseen < c.macro_f1_seen


def test_audit_of_several_models_equals_one_metricframe_per_model():
    # audit_strategies scores every model in one MetricFrame per attribute; each model's rows (estimates and
    # bootstrap intervals) must be exactly those of a MetricFrame of its own with the same seed
    rng = np.random.default_rng(3)
    patients = fake_patients(300)
    features = sensitive_features(patients)
    y = rng.integers(0, 6, 300)
    preds = {name: np.where(rng.random(300) < acc, y, rng.integers(0, 6, 300))
             for name, acc in (("weak", 0.4), ("strong", 0.8))}
    table = audit_strategies(preds, y, features, n_boot=15, seed=4)
    for name, pred in preds.items():
        mine = table[table.strategy == name]
        for attribute in ("sex", "site"):
            frame = group_frame(y, pred, features[attribute], n_boot=15, seed=4)
            part = mine[mine.attribute == attribute].set_index(["group", "metric"])
            for metric in ("macro_f1", "under_diagnosis"):
                for group in frame.by_group.index:
                    row = part.loc[(str(group), metric)]
                    assert row.estimate == frame.by_group.loc[group, metric]
                    assert row.low == frame.by_group_ci[0].loc[group, metric]
                    assert row.high == frame.by_group_ci[-1].loc[group, metric]
    # intervals only where asked; the estimates and the other model's intervals do not change
    partial = audit_strategies(preds, y, features, n_boot=15, seed=4, ci_for=["strong"])
    assert partial.strategy.tolist() == table.strategy.tolist()
    assert partial[partial.strategy == "weak"][["low", "high"]].isna().all().all()
    pd.testing.assert_frame_equal(partial[partial.strategy == "strong"], table[table.strategy == "strong"])
    pd.testing.assert_series_equal(partial.estimate, table.estimate)
    with pytest.raises(ValueError, match="ci_for"):
        audit_strategies(preds, y, features, n_boot=5, ci_for=["missing"])
