"""The course's federation: the cohort's three hospitals as clients, with the fusion track's features."""
from __future__ import annotations

from medfusion_lib.federated.data import Federation, site_federation


def cohort_federation(cohort=None, quick: bool = False, seed: int = 0, iid: bool = False, feats=None,
                      progress: bool = False) -> Federation:
    """One client per site of ``cohort`` (default: the default cohort) over text, image and vitals
    features from :func:`~medfusion_lib.fusion.build_modalities` (pass ``feats`` to reuse them);
    ``iid=True`` re-deals the same number of patients per client at random."""
    from medfusion_lib.data import DIAGNOSES, load_cohort
    from medfusion_lib.fusion.features import build_modalities
    from medfusion_lib.hospitals.shift import sites_of

    cohort = cohort if cohort is not None else load_cohort()
    feats = feats or build_modalities(cohort, quick=quick, seed=seed, progress=progress)
    patients = cohort.patients
    return site_federation(feats.train, feats.y_train, sites_of(patients, feats.train.patient_ids),
                           feats.test, feats.y_test, sites_of(patients, feats.test.patient_ids),
                           n_classes=len(DIAGNOSES), iid=iid, seed=seed)
