"""The fusion track on the real-image cohort (PneumoniaMNIST films, four diagnoses), end to end."""
from pathlib import Path

import numpy as np
import pytest

from medfusion_lib.data import DIAGNOSES, build_cohort, read_cohort
from medfusion_lib.fusion import (EarlyFusion, HybridFusion, LateFusion, UnimodalModel, compare_strategies,
                                  missing_modality_sweep)
from medfusion_lib.fusion.baselines import baseline_strategies
from medfusion_lib.fusion.features import ImageSettings, build_modalities

SHARED_NPZ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pneumoniamnist.npz"


@pytest.mark.skipif(not SHARED_NPZ.is_file(),
                    reason=f"the real PneumoniaMNIST file is not at {SHARED_NPZ} (tests read ../shared/data)")
def test_fusion_comparison_runs_on_the_real_image_cohort(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDFUSION_BUILD_DIR", str(tmp_path / "build"))
    cohort = read_cohort(build_cohort(tmp_path / "real", n_patients=300, seed=0, source="pneumoniamnist",
                                      medmnist_npz=SHARED_NPZ))
    assert cohort.classes == tuple(d for d in DIAGNOSES if d in set(cohort.patients["diagnosis"]))
    assert len(cohort.classes) == 4 < len(DIAGNOSES)
    feats = build_modalities(cohort, seed=0, progress=False,
                             image_settings=ImageSettings(width=4, size=16, epochs=1, folds=2))
    assert feats.classes == cohort.classes
    assert set(np.unique(feats.y_train)) == set(range(4))
    assert feats.train.features["image"].shape[1] == 4
    lineup = {"text_only": UnimodalModel("text"), "image_only": UnimodalModel("image"),
              "vitals_only": UnimodalModel("vitals"), **baseline_strategies(feats, C=1.0),
              "early_logreg": EarlyFusion("logreg"), "late_mean": LateFusion("mean"),
              "hybrid_concat": HybridFusion("concat", num_epochs=3)}
    result = compare_strategies(feats.train, feats.y_train, feats.test, feats.y_test, feats.val, feats.y_val,
                                strategies=lineup, n_boot=50, progress=False)
    assert result.table.macro_f1.between(0, 1).all()
    assert all(p.shape == (len(feats.test), 4) for p in result.proba.values())
    sweep = missing_modality_sweep(result.models, feats.test, feats.y_test, fractions=(0.0, 1.0), progress=False)
    assert sweep.macro_f1.notna().all()
