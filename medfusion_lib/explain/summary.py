"""``explain_section(quick)``: the explanation numbers of ``medfusion bench trust`` in one dict."""
from __future__ import annotations

import time

import numpy as np

#: Zhang et al. (2016) count a pointing-game hit within 15 px on ~224 px images: about 4 px on 64 px films.
POINTING_TOLERANCE = 4
#: How many films the sanity check re-explains after each randomisation step (it is the slow part).
SANITY_FILMS = {True: 24, False: 96}


def explain_section(quick: bool = False, seed: int = 0, study=None) -> dict:
    """The explanation section of the trust benchmark.

    Returns ``{"explain": {...}, "shapley": {modality: value}, "seconds": float}`` where ``explain`` holds
    ``pointing_game`` / ``pointing_game_random`` (Grad-CAM of the fused prediction vs uniform-noise maps on
    test films with a drawn finding, tolerance ``POINTING_TOLERANCE``), ``pointing_game_strict`` /
    ``pointing_game_strict_random`` (tolerance 0), ``energy_in_mask`` / ``energy_in_mask_random``,
    ``sanity_spearman`` (after every layer is randomised) and ``sanity_spearman_by_layer``,
    ``hooks_vs_captum_max_diff``, ``joint_test_macro_f1``, ``n_films``; ``shapley`` holds the exact modality
    Shapley values of validation macro-F1 with ``"empty"`` and ``"full"`` subset values beside them.
    """
    from medfusion_lib.config import torch_threads

    with torch_threads(1):  # 32 px films: one thread is faster than two fighting over a busy machine
        return _explain_section(quick, seed, study)


def _explain_section(quick: bool, seed: int, study) -> dict:
    from medfusion_lib.evaluation import macro_f1
    from medfusion_lib.explain.localisation import localisation_scores
    from medfusion_lib.explain.shapley import shapley_values
    from medfusion_lib.explain.study import (finding_films, gradcam_maps, load_study, modality_values,
                                             sanity_check)

    started = time.perf_counter()
    study = study or load_study(quick=quick, seed=seed)
    index = finding_films(study, "test")
    masks = study.masks("test")[index]
    maps = gradcam_maps(study, index)
    loose = localisation_scores(maps, masks, seed=seed, tolerance=POINTING_TOLERANCE)
    strict = localisation_scores(maps, masks, seed=seed, tolerance=0)
    few = index[:8]
    hooks_gap = float(np.abs(gradcam_maps(study, few, method="hooks") - maps[:8]).max())
    sanity = sanity_check(study, index[:SANITY_FILMS[bool(quick)]], seed=seed)
    values = modality_values(study)
    names = ("text", "image", "vitals")
    phi = shapley_values(values, names)
    proba = study.model.predict_proba(study.films["test"])
    explain = {
        "n_films": loose["n_films"],
        "pointing_game": loose["pointing_game"], "pointing_game_random": loose["pointing_game_random"],
        "pointing_game_tolerance_px": POINTING_TOLERANCE,
        "pointing_game_strict": strict["pointing_game"], "pointing_game_strict_random": strict["pointing_game_random"],
        "energy_in_mask": strict["energy_in_mask"], "energy_in_mask_random": strict["energy_in_mask_random"],
        "sanity_spearman": float(sanity["spearman"].iloc[-1]),
        "sanity_spearman_by_layer": dict(zip(sanity["layer"], sanity["spearman"].round(4))),
        "hooks_vs_captum_max_diff": hooks_gap,
        "joint_test_macro_f1": float(macro_f1(study.labels("test"), proba)),
    }
    shapley = {**{m: float(phi[m]) for m in names}, "empty": float(values[frozenset()]),
               "full": float(values[frozenset(names)])}
    return {"explain": explain, "shapley": shapley, "seconds": round(time.perf_counter() - started, 2),
            "study": study.info}
