"""Gather every number a model card reports, by measuring a fitted fused model (nothing is typed in).

A model card (Mitchell et al., *Model Cards for Model Reporting*, FAT* 2019) states how well a model does, for
whom, and under which conditions. :func:`measure_model_card` computes its numbers with the library the lessons
use, on the splits the contracts allow:

- **overall** test scores with 95 % percentile bootstrap CIs (:func:`medfusion_lib.evaluation.bootstrap_ci`);
- **per-group** test scores with CIs by sex, age band and site (:func:`medfusion_lib.hospitals.subgroups.audit`,
  fairlearn's ``MetricFrame``), including the under-diagnosis rate;
- **calibration**: test ECE before and after a temperature fitted on *validation*
  (:class:`medfusion_lib.calibration.TemperatureScaled`), with CIs, Brier score and NLL;
- **site shift**: leave-one-site-out macro-F1 (:func:`medfusion_lib.hospitals.shift.leave_one_site_out`), which
  refits clones of the model without each site.

:mod:`medfusion_lib.modelcard.render` turns the result into Markdown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from medfusion_lib.calibration import TemperatureScaled, brier_score, ece_ci, nll
from medfusion_lib.data import DIAGNOSES
from medfusion_lib.evaluation import balanced_accuracy, bootstrap_ci, macro_auc, macro_f1
from medfusion_lib.fusion.compare import kind_of, modalities_of
from medfusion_lib.fusion.features import FusionFeatures
from medfusion_lib.hospitals.shift import leave_one_site_out, sites_of
from medfusion_lib.hospitals.subgroups import ATTRIBUTES, audit, sensitive_features

#: The overall test metrics of a card: name -> f(y_true, proba (n, K)).
OVERALL_METRICS = {"macro_f1": macro_f1, "balanced_accuracy": balanced_accuracy, "macro_auc": macro_auc}
#: Confidence level of every interval on the card.
CI_LEVEL = 0.95
#: Equal-width bins of the ECE (Guo et al. 2017's usual 15).
ECE_BINS = 15
#: Columns of the patients table the per-group audit and the site shift need.
REQUIRED_COLUMNS = ("patient_id", "sex", "age", "site")


@dataclass
class CardFacts:
    """Everything a model card says with a number, measured on one fitted model.

    overall : DataFrame indexed by metric (``macro_f1``, ``balanced_accuracy``, ``macro_auc``) with columns
        ``estimate, low, high`` (test split, bootstrap CI).
    groups : the :func:`~medfusion_lib.hospitals.subgroups.audit` table (``attribute, group, metric, estimate,
        low, high, n``) of the test split.
    calibration : DataFrame indexed by ``before`` / ``after`` with ``ece, ece_low, ece_high, brier, nll``.
    temperature : the temperature fitted on validation.
    site_shift : ``site, n_test, macro_f1_seen, macro_f1_unseen, drop`` per held-out site, or None (skipped).
    model, data : short descriptions (name, kind, modalities, classes, missing policy; source, split sizes).
    """

    model: dict
    data: dict
    overall: pd.DataFrame
    groups: pd.DataFrame
    calibration: pd.DataFrame
    temperature: float
    site_shift: pd.DataFrame | None
    settings: dict = field(default_factory=dict)


def check_fitted(model) -> None:
    """A clear error when ``model`` is not a fitted fusion model."""
    if not hasattr(model, "predict_proba"):
        raise TypeError(f"model must be a fitted fusion model with predict_proba (e.g. LateFusion('mean')); "
                        f"got {type(model).__name__}")
    try:
        check_is_fitted(model, "classes_")
    except NotFittedError:
        raise ValueError(f"the {type(model).__name__} is not fitted: call model.fit(feats.train, feats.y_train) "
                         "before writing its model card") from None


def check_patients(patients: pd.DataFrame, attributes: Sequence[str], feats: FusionFeatures) -> None:
    """A clear error when the patients table cannot describe the feature splits' patients by group."""
    if not isinstance(patients, pd.DataFrame):
        raise TypeError(f"patients must be the cohort's patients table (cohort.patients); got "
                        f"{type(patients).__name__}")
    needed = list(dict.fromkeys([*REQUIRED_COLUMNS, *(a for a in attributes if a != "age_band")]))
    missing = [c for c in needed if c not in patients.columns]
    if missing:
        raise ValueError(f"the patients table lacks column(s) {missing}, which the per-group audit and the site "
                         f"shift need; pass cohort.patients (columns {list(REQUIRED_COLUMNS)}), not a part of it")
    known = set(patients["patient_id"])
    for split in ("train", "val", "test"):
        absent = [p for p in getattr(feats, split).patient_ids if p not in known]
        if absent:
            raise ValueError(f"{len(absent)} {split} patient(s) (e.g. {absent[0]!r}) are not in the patients table; "
                             "pass the patients of the cohort the features were built from")


def _group_features(patients: pd.DataFrame, ids, attributes: Sequence[str]) -> pd.DataFrame:
    """(n, ...) group labels of patients ``ids``: sex, age band, site and any other attribute column."""
    rows = patients.set_index("patient_id").loc[list(ids)].reset_index()
    features = sensitive_features(rows)
    for column in attributes:  # an attribute beyond the default three (e.g. "voice") is read as it is
        if column not in features:
            features[column] = rows[column].to_numpy()
    return features


def _diagnosis_index(y, classes: Sequence[str]) -> np.ndarray:
    """Class indices into ``classes`` -> indices into ``DIAGNOSES`` (the under-diagnosis rate's frame)."""
    return np.array([DIAGNOSES.index(c) for c in classes])[np.asarray(y)]


def measure_overall(model, feats: FusionFeatures, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Test ``estimate, low, high`` per metric of :data:`OVERALL_METRICS` (rows), bootstrap over patients."""
    proba = model.predict_proba(feats.test)
    rows = {}
    for name, metric in OVERALL_METRICS.items():
        ci = bootstrap_ci(metric, feats.y_test, proba, n_boot=n_boot, seed=seed, alpha=1 - CI_LEVEL)
        rows[name] = {"estimate": ci.estimate, "low": ci.low, "high": ci.high}
    return pd.DataFrame.from_dict(rows, orient="index")


def measure_calibration(model, feats: FusionFeatures, n_boot: int = 1000, seed: int = 0,
                        n_bins: int = ECE_BINS) -> tuple[pd.DataFrame, float]:
    """Test ECE (``n_bins`` equal-width bins, CI), Brier and NLL before and after a temperature fitted on val."""
    scaled = TemperatureScaled(model).fit(feats.val, feats.y_val)
    target = np.searchsorted(model.classes_, feats.y_test)
    rows = {}
    for when, proba in (("before", model.predict_proba(feats.test)), ("after", scaled.predict_proba(feats.test))):
        ci = ece_ci(target, proba, n_bins, n_boot=n_boot, seed=seed, alpha=1 - CI_LEVEL)
        rows[when] = {"ece": ci.estimate, "ece_low": ci.low, "ece_high": ci.high,
                      "brier": brier_score(target, proba), "nll": nll(target, proba)}
    return pd.DataFrame.from_dict(rows, orient="index"), float(scaled.temperature_)


def measure_site_shift(model, feats: FusionFeatures, patients: pd.DataFrame, name: str = "model") -> pd.DataFrame:
    """Leave-one-site-out for clones of ``model``: one row per held-out site (see ``leave_one_site_out``)."""
    sites = {s: sites_of(patients, getattr(feats, s).patient_ids) for s in ("train", "val", "test")}
    table = leave_one_site_out(feats.train, feats.y_train, sites["train"], feats.test, feats.y_test, sites["test"],
                               {name: clone(model)}, feats.val, feats.y_val, sites["val"])
    return table.drop(columns="strategy").reset_index(drop=True)


def measure_model_card(model, feats: FusionFeatures, patients: pd.DataFrame, name: str | None = None,
                       cohort_params: dict | None = None, attributes: Sequence[str] = ATTRIBUTES,
                       site_shift: bool = True, n_boot: int = 1000, n_boot_groups: int = 200,
                       seed: int = 0) -> CardFacts:
    """Measure a fitted fused model for its model card.

    model : a fitted fusion model (``fit(feats.train, feats.y_train)`` done); it is not changed (the site shift
        refits *clones*). feats : the :class:`FusionFeatures` it was trained on. patients : ``cohort.patients``
        (needs ``patient_id, sex, age, site`` and any other attribute asked for). cohort_params :
        ``cohort.params`` (source, seed, size), for the data section. ``site_shift=False`` skips the refits.
    """
    if not isinstance(feats, FusionFeatures):
        raise TypeError(f"feats must be the FusionFeatures the model was trained on (build_modalities(cohort)); "
                        f"got {type(feats).__name__}")
    check_fitted(model)
    check_patients(patients, attributes, feats)
    if len(model.classes_) != len(feats.classes):
        raise ValueError(f"the model knows {len(model.classes_)} classes but the features have "
                         f"{len(feats.classes)}; measure a model trained on these features")
    name = name or type(model).__name__
    pred = model.predict(feats.test)
    groups = audit(_diagnosis_index(feats.y_test, feats.classes), _diagnosis_index(pred, feats.classes),
                   _group_features(patients, feats.test.patient_ids, attributes), attributes, n_boot=n_boot_groups, seed=seed)
    calibration, temperature = measure_calibration(model, feats, n_boot, seed)
    params = dict(cohort_params or {})
    split_sizes = {s: int(len(getattr(feats, s))) for s in ("train", "val", "test")}
    return CardFacts(
        model={"name": name, "class": type(model).__name__, "kind": kind_of(model),
               "modalities": list(modalities_of(model, feats.train.names)),
               "missing_policy": str(getattr(model, "missing_policy", "") or ""),
               "classes": list(feats.classes), "image_features": feats.info.get("image_features", ""),
               "text_features": feats.info.get("text", "")},
        data={"source": params.get("source", "synthetic"), "cohort_seed": params.get("seed"),
              "n_patients_cohort": params.get("n_patients"), "quick_subsample": bool(feats.info.get("quick")),
              "split_sizes": split_sizes,
              "test_class_counts": {c: int((feats.y_test == i).sum()) for i, c in enumerate(feats.classes)},
              "sites": sorted(set(sites_of(patients, feats.test.patient_ids).tolist()))},
        overall=measure_overall(model, feats, n_boot, seed),
        groups=groups,
        calibration=calibration,
        temperature=temperature,
        site_shift=measure_site_shift(model, feats, patients, name) if site_shift else None,
        settings={"n_boot": n_boot, "n_boot_groups": n_boot_groups, "seed": seed, "ci_level": CI_LEVEL,
                  "attributes": list(attributes), "ece_bins": ECE_BINS})
