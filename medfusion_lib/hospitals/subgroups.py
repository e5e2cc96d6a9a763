"""Per-group scores with bootstrap CIs (fairlearn ``MetricFrame``), their gaps, and the under-diagnosis rate.

Groups are the patient's **sex**, **age band** and **site**. For each group we report macro-F1, recall of the
"sick" diagnoses, and the *under-diagnosis rate* (Seyyed-Kalantari et al., Nat Med 2021): the fraction of
patients who have pneumonia, tuberculosis or heart failure whom the model sends home with a self-limiting
diagnosis (upper respiratory infection or acute bronchitis). A model can have a good average score and still
under-diagnose one group much more often; that gap is what this module measures.

``MetricFrame(..., n_boot=, ci_quantiles=)`` resamples the patients (all of them, with replacement; each group
is then scored on its members in the resample) and gives percentile CIs per group (``by_group_ci``) and for the
between-group difference (``difference_ci``).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from medfusion_lib.data import DIAGNOSES
from medfusion_lib.evaluation import macro_f1

#: Diagnoses a patient should not be sent home with a "just a cold" label for.
SICK: tuple[str, ...] = ("bacterial_pneumonia", "viral_pneumonia", "heart_failure", "tuberculosis")
#: Self-limiting diagnoses that mean "go home".
SENT_HOME: tuple[str, ...] = ("upper_respiratory_infection", "acute_bronchitis")
#: Attributes audited by default, as columns of :func:`sensitive_features`.
ATTRIBUTES: tuple[str, ...] = ("sex", "age_band", "site")
#: Age bands (years): lower edges; the last band is open.
AGE_EDGES: tuple[int, ...] = (18, 40, 65)
CI_QUANTILES: tuple[float, float, float] = (0.025, 0.5, 0.975)


def _indices(names: Sequence[str]) -> np.ndarray:
    return np.array([DIAGNOSES.index(n) for n in names])


def age_band(age) -> pd.Series:
    """Ages (years) -> band labels "18-39", "40-64", "65+" (as a string Series)."""
    age = pd.Series(np.asarray(age, dtype=float))
    if age.isna().any() or (age < AGE_EDGES[0]).any():
        raise ValueError(f"ages must be numbers >= {AGE_EDGES[0]} (the cohort's adults); got min {age.min()}")
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(AGE_EDGES, AGE_EDGES[1:])] + [f"{AGE_EDGES[-1]}+"]
    return pd.cut(age, [*AGE_EDGES, np.inf], right=False, labels=labels).astype(str)


def sensitive_features(patients: pd.DataFrame) -> pd.DataFrame:
    """(n_patients, 3) DataFrame with columns ``sex``, ``age_band`` and ``site`` from a patients table."""
    missing = [c for c in ("sex", "age", "site") if c not in patients]
    if missing:
        raise ValueError(f"the patients table lacks columns {missing}; pass cohort.patients (or a part of it)")
    return pd.DataFrame({"sex": patients["sex"].to_numpy(), "age_band": age_band(patients["age"]).to_numpy(),
                         "site": patients["site"].to_numpy()})


def under_diagnosis_rate(y_true, y_pred, sick: Sequence[int] | None = None,
                         home: Sequence[int] | None = None) -> float:
    """Of the patients whose true class is in ``sick``, the fraction predicted as a class in ``home``.

    y_true, y_pred : (n,) class indices into ``DIAGNOSES``. Defaults: ``SICK`` and ``SENT_HOME``.
    Returns NaN when no patient is sick (the rate is undefined, not zero).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and the same length; got {y_true.shape}, {y_pred.shape}")
    sick = _indices(SICK) if sick is None else np.asarray(sick)
    home = _indices(SENT_HOME) if home is None else np.asarray(home)
    is_sick = np.isin(y_true, sick)
    if not is_sick.any():
        return float("nan")
    return float(np.isin(y_pred[is_sick], home).mean())


def sick_recall(y_true, y_pred) -> float:
    """Of the sick patients, the fraction given *their own* diagnosis (per-group recall of ``SICK``)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    is_sick = np.isin(y_true, _indices(SICK))
    return float((y_pred[is_sick] == y_true[is_sick]).mean()) if is_sick.any() else float("nan")


#: The metrics of a subgroup audit: name -> f(y_true, y_pred) on class indices.
METRICS: dict[str, Callable] = {"macro_f1": macro_f1, "sick_recall": sick_recall,
                                "under_diagnosis": under_diagnosis_rate}


def group_frame(y_true, y_pred, groups, metrics: Mapping[str, Callable] | None = None, n_boot: int = 200,
                seed: int = 0):
    """A fairlearn ``MetricFrame`` of ``metrics`` by ``groups`` ((n,) labels), with bootstrap CIs.

    y_true, y_pred : (n,) class indices. ``n_boot=0`` skips the bootstrap.
    """
    from fairlearn.metrics import MetricFrame

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred) or len(y_true) != len(groups):
        raise ValueError(f"y_true ({len(y_true)}), y_pred ({len(y_pred)}) and groups ({len(groups)}) must "
                         "describe the same patients")
    kwargs = {"n_boot": n_boot, "ci_quantiles": list(CI_QUANTILES), "random_state": seed} if n_boot else {}
    return MetricFrame(metrics=dict(metrics or METRICS), y_true=y_true, y_pred=y_pred,
                       sensitive_features=pd.Series(np.asarray(groups), name="group"), **kwargs)


def audit(y_true, y_pred, features: pd.DataFrame, attributes: Sequence[str] = ATTRIBUTES, n_boot: int = 200,
          seed: int = 0) -> pd.DataFrame:
    """Tidy per-group table for one model: one row per (attribute, group, metric).

    Columns: ``attribute, group, metric, estimate, low, high, n`` (``low``/``high`` the 95 % bootstrap
    interval from ``MetricFrame``; the estimate is the score on the group's real patients).
    """
    return audit_strategies({"model": y_pred}, y_true, features, attributes, n_boot, seed).drop(columns="strategy")


def gaps(table: pd.DataFrame) -> pd.DataFrame:
    """Worst-group gap per (attribute, metric) of an :func:`audit` table: best minus worst group estimate,
    and which groups those are. For ``under_diagnosis`` lower is better, so "worst" is the highest rate."""
    rows = []
    for (attribute, metric), part in table.groupby(["attribute", "metric"], sort=False):
        part = part.dropna(subset=["estimate"])
        lower_is_better = metric == "under_diagnosis"
        ordered = part.sort_values("estimate", ascending=lower_is_better)
        best, worst = ordered.iloc[0], ordered.iloc[-1]
        rows.append({"attribute": attribute, "metric": metric, "gap": float(abs(best.estimate - worst.estimate)),
                     "best_group": best.group, "worst_group": worst.group})
    return pd.DataFrame(rows)


def _scored_by(metric: Callable, key: str) -> Callable:
    """``metric`` applied to the predictions passed as the per-patient sample parameter ``key``."""

    def scored(y_true, y_pred, **params):  # y_pred is MetricFrame's placeholder; the model's own is in params
        return metric(y_true, params[key])

    return scored


def audit_strategies(predictions: Mapping[str, np.ndarray], y_true, features: pd.DataFrame,
                     attributes: Sequence[str] = ATTRIBUTES, n_boot: int = 200, seed: int = 0,
                     ci_for: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`audit` for several models: ``predictions`` maps a strategy name to (n,) predicted classes or
    (n, n_classes) probabilities. Returns the audit table with a leading ``strategy`` column.

    ``ci_for``: the strategies whose per-group intervals are bootstrapped (default: all); the others get their
    point estimates only (``low``/``high`` NaN). The bootstrap is nearly all of the audit's cost, and a model's
    intervals do not depend on which other models are audited beside it.

    One ``MetricFrame`` per attribute scores every model (each model's predictions travel as a per-patient
    ``sample_params`` column): fairlearn draws its bootstrap resamples from the seed and the number of patients
    only, so every model is resampled exactly as a frame of its own would be — same numbers, and the
    resampling and grouping are paid once per attribute instead of once per model and attribute.
    """
    from fairlearn.metrics import MetricFrame

    if ci_for is not None and n_boot:
        unknown = sorted(set(ci_for) - set(predictions))
        if unknown:
            raise ValueError(f"ci_for names {unknown}, which are not in predictions ({sorted(predictions)})")
        parts = [audit_strategies({n: p for n, p in predictions.items() if (n in ci_for) == with_ci}, y_true,
                                  features, attributes, n_boot if with_ci else 0, seed)
                 for with_ci in (True, False) if any((n in ci_for) == with_ci for n in predictions)]
        table = pd.concat(parts, ignore_index=True)
        order = {str(name): i for i, name in enumerate(predictions)}
        return table.iloc[np.argsort(table.strategy.map(order).to_numpy(), kind="stable")].reset_index(drop=True)
    y_true = np.asarray(y_true)
    preds = {}
    for name, pred in predictions.items():
        pred = np.asarray(pred)
        preds[str(name)] = pred.argmax(axis=1) if pred.ndim == 2 else pred
        if len(preds[str(name)]) != len(y_true):
            raise ValueError(f"predictions of {name!r} ({len(pred)}) and y_true ({len(y_true)}) must describe "
                             "the same patients")
    if not preds:
        raise ValueError("predictions is empty; pass {strategy name: predictions}")
    columns = {(name, metric): f"{name}/{metric}" for name in preds for metric in METRICS}
    metrics = {column: _scored_by(METRICS[metric], f"pred_{i}")
               for i, ((name, metric), column) in enumerate(columns.items())}
    params = {column: {f"pred_{i}": preds[name]} for i, ((name, _), column) in enumerate(columns.items())}
    kwargs = {"n_boot": n_boot, "ci_quantiles": list(CI_QUANTILES), "random_state": seed} if n_boot else {}
    rows = []
    for attribute in attributes:
        groups = features[attribute].to_numpy()
        if len(groups) != len(y_true):
            raise ValueError(f"y_true ({len(y_true)}) and groups ({len(groups)}) must describe the same patients")
        frame = MetricFrame(metrics=metrics, y_true=y_true, y_pred=next(iter(preds.values())),
                            sensitive_features=pd.Series(groups, name="group"), sample_params=params, **kwargs)
        counts = pd.Series(groups).value_counts()
        lows, highs = (frame.by_group_ci[0], frame.by_group_ci[-1]) if n_boot else (None, None)
        for (name, metric), column in columns.items():
            for group in frame.by_group.index:
                rows.append({"strategy": name, "attribute": attribute, "group": str(group), "metric": metric,
                             "estimate": float(frame.by_group.loc[group, column]),
                             "low": float(lows.loc[group, column]) if n_boot else np.nan,
                             "high": float(highs.loc[group, column]) if n_boot else np.nan,
                             "n": int(counts[group])})
    table = pd.DataFrame(rows)
    # the order a loop over strategies, attributes, groups and metrics gives
    order = {name: i for i, name in enumerate(preds)}
    table["_s"], table["_a"] = table.strategy.map(order), table.attribute.map({a: i for i, a in enumerate(attributes)})
    table["_m"] = table.metric.map({m: i for i, m in enumerate(METRICS)})
    table["_g"] = table.groupby(["strategy", "attribute", "metric"]).cumcount()
    return table.sort_values(["_s", "_a", "_g", "_m"]).drop(columns=["_s", "_a", "_g", "_m"]).reset_index(drop=True)


def worst_group_gaps(table: pd.DataFrame, metric: str = "macro_f1") -> dict[str, dict[str, float]]:
    """{strategy: {attribute: worst-group gap of ``metric``}} from an :func:`audit_strategies` table."""
    out: dict[str, dict[str, float]] = {}
    for name, part in table.groupby("strategy", sort=False):
        g = gaps(part.drop(columns="strategy"))
        out[str(name)] = {r.attribute: r.gap for r in g[g.metric == metric].itertuples()}
    return out
