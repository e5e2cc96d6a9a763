"""Site shift: how a model does at a hospital it never trained on, and how readable the site is from a film.

- :func:`leave_one_site_out` trains every strategy on the other sites' training patients and scores it on
  the held-out site's test patients, next to the same strategy trained on *all* sites (the held-out site's
  training patients included) and scored on the same patients. The difference is what never having seen a
  hospital costs.
- :func:`site_probe` asks how well a linear classifier can name the site from the image embeddings alone
  (cross-validated balanced accuracy against chance = 1 / number of sites). Restricted to normal films
  (upper respiratory infection, bronchitis), a high score cannot come from the sites' case mix: it is the
  acquisition (exposure, noise, blur, the burned-in marker) that gives the hospital away.

Caveat the lessons state: the cohort's image embeddings come from one CNN trained on the pooled training
split, so in the image column the held-out site's *style* was seen by the encoder (never its test patients).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from medfusion_lib.evaluation import macro_f1
from medfusion_lib.fusion import FusionModel, Modalities
from medfusion_lib.fusion.compare import fit_model


def site_mask(sites, site: str) -> np.ndarray:
    """(n,) bool, True where ``sites == site``; a clear error for a site that is not there."""
    sites = np.asarray(sites)
    if site not in set(sites.tolist()):
        raise ValueError(f"no patient from site {site!r}; sites here are {sorted(set(sites.tolist()))}")
    return sites == site


def leave_one_site_out(train: Modalities, y_train, sites_train, test: Modalities, y_test, sites_test,
                       strategies: Mapping[str, FusionModel], val: Modalities | None = None, y_val=None,
                       sites_val=None) -> pd.DataFrame:
    """One row per (strategy, held-out site).

    Columns: ``strategy, site, n_test, macro_f1_seen`` (trained on every site) ``, macro_f1_unseen``
    (trained without that site) ``, drop`` (seen − unseen). ``sites_*`` are (n,) site names aligned with
    the patients of each split; the validation split (early stopping) also loses the held-out site.
    """
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    sites_train, sites_test = np.asarray(sites_train), np.asarray(sites_test)
    names = sorted(set(sites_test.tolist()))
    rows = []
    for name, template in strategies.items():
        pooled = fit_model(clone(template), train, y_train, val, y_val)
        for site in names:
            held = site_mask(sites_test, site)
            keep = ~site_mask(sites_train, site)
            fold_val, fold_y_val = val, y_val
            if val is not None and sites_val is not None:
                keep_val = np.asarray(sites_val) != site
                fold_val, fold_y_val = val.subset(keep_val), np.asarray(y_val)[keep_val]
            model = fit_model(clone(template), train.subset(keep), y_train[keep], fold_val, fold_y_val)
            part = test.subset(held)
            seen = macro_f1(y_test[held], pooled.predict(part))
            unseen = macro_f1(y_test[held], model.predict(part))
            rows.append({"strategy": name, "site": site, "n_test": int(held.sum()), "macro_f1_seen": seen,
                         "macro_f1_unseen": unseen, "drop": seen - unseen})
    return pd.DataFrame(rows)


def site_probe(X: np.ndarray, sites, n_folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Cross-validated balanced accuracy of a logistic-regression probe that predicts the site from ``X``.

    X : (n, d) features (e.g. CNN image embeddings); sites : (n,) site names.
    Returns ``{"balanced_accuracy": ..., "chance": 1 / n_sites, "n": n}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, sites = np.asarray(X, dtype=float), np.asarray(sites)
    if X.ndim != 2 or len(X) != len(sites):
        raise ValueError(f"X must be (n, d) with one row per site label; got X {X.shape}, sites {sites.shape}")
    n_sites = len(set(sites.tolist()))
    if n_sites < 2:
        raise ValueError("the probe needs patients from at least two sites")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    scores = cross_val_score(probe, X, sites, cv=folds, scoring="balanced_accuracy")
    return {"balanced_accuracy": float(scores.mean()), "chance": 1.0 / n_sites, "n": int(len(X))}


def summarise_loso(table: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: mean macro-F1 on held-out sites seen vs unseen, the mean drop and the worst site."""
    rows = []
    for name, part in table.groupby("strategy", sort=False):
        worst = part.sort_values("macro_f1_unseen").iloc[0]
        rows.append({"strategy": name, "macro_f1_seen": part.macro_f1_seen.mean(),
                     "macro_f1_unseen": part.macro_f1_unseen.mean(), "drop": part["drop"].mean(),
                     "worst_site": worst.site, "worst_site_macro_f1": worst.macro_f1_unseen})
    return pd.DataFrame(rows)


def sites_of(patients: pd.DataFrame, patient_ids: Sequence) -> np.ndarray:
    """(n,) site names of ``patient_ids`` looked up in a patients table."""
    return patients.set_index("patient_id").loc[list(patient_ids), "site"].to_numpy()


def embedding_features(cohort, quick: bool = False, seed: int = 0):
    """``FusionFeatures`` whose image modality is the CNN's penultimate-layer embedding, for the same patients as
    ``build_modalities(cohort, quick=quick, seed=seed)``: one CNN trained on every train patient.

    The fusion features are out-of-fold class log-probabilities (one column per diagnosis), which keep little of
    what a site probe looks for; the embedding is what the image branch actually sees of a film.
    """
    from medfusion_lib.fusion.features import ImageSettings, build_modalities

    epochs = ImageSettings.for_mode(quick).epochs
    return build_modalities(cohort, quick=quick, seed=seed, progress=False,
                            image_settings=ImageSettings(epochs=epochs, folds=1, output="embedding"))
