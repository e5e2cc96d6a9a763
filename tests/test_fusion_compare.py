"""compare_strategies / missing_modality_sweep / modality_dropout_ablation on small synthetic arrays."""
import numpy as np
import pytest

from medfusion_lib.fusion import (EarlyFusion, HybridFusion, LateFusion, UnimodalModel, compare_strategies,
                                  default_strategies, missing_modality_sweep)
from medfusion_lib.fusion.compare import modality_dropout_ablation
from medfusion_lib.fusion.toy import make_toy_modalities


@pytest.fixture(scope="module")
def splits():
    data, y = make_toy_modalities(480, seed=2)
    idx = {"train": np.arange(240), "val": np.arange(240, 360), "test": np.arange(360, 480)}
    return {k: (data.subset(v), y[v]) for k, v in idx.items()}


SMALL = {"text_only": UnimodalModel("text"), "image_only": UnimodalModel("image"),
         "early_logreg": EarlyFusion("logreg"), "late_mean": LateFusion("mean"),
         "hybrid_concat": HybridFusion("concat", num_epochs=5)}


@pytest.fixture(scope="module")
def comparison(splits):
    (train, y_train), (val, y_val), (test, y_test) = splits["train"], splits["val"], splits["test"]
    return compare_strategies(train, y_train, test, y_test, val, y_val, strategies=SMALL, n_boot=100,
                              progress=False)


def test_table_is_tidy_with_cis_tests_and_times(comparison, splits):
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    table = comparison.table
    assert list(table.strategy) == list(SMALL)
    assert list(table.kind) == ["unimodal", "unimodal", "early", "late", "hybrid"]
    for metric in ("macro_f1", "balanced_accuracy", "macro_auc"):
        assert (table[f"{metric}_low"] <= table[metric] + 1e-9).all()
        assert (table[metric] <= table[f"{metric}_high"] + 1e-9).all()
        imperfect = table[metric] < 1  # a perfect model's bootstrap CI is the single point 1
        assert (table[f"{metric}_low"] < table[f"{metric}_high"])[imperfect].all(), f"{metric}: CIs have width"
    # the point estimates are scikit-learn's scores of the stored test probabilities, not re-derived columns
    _, y_test = splits["test"]
    rows = table.set_index("strategy")
    for name, proba in comparison.proba.items():
        predicted = proba.argmax(axis=1)
        assert rows.loc[name, "macro_f1"] == pytest.approx(f1_score(y_test, predicted, average="macro"))
        assert rows.loc[name, "balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_test, predicted))
        assert rows.loc[name, "macro_auc"] == pytest.approx(roc_auc_score(y_test, proba, multi_class="ovr"))
    single_f1 = f1_score(y_test, comparison.proba[comparison.best_single].argmax(1), average="macro")
    for name, proba in comparison.proba.items():
        gain = f1_score(y_test, proba.argmax(1), average="macro") - single_f1
        assert rows.loc[name, "gain_vs_best_single"] == pytest.approx(gain)
    assert (table.fit_s > 0).all() and (table.predict_s > 0).all() and (table.fit_cpu_s >= 0).all()
    assert table.p_value.between(0, 1).all()
    best = rows.loc[comparison.best_single]
    assert best.gain_vs_best_single == 0 and best.gain_low == 0


class SlowText(UnimodalModel):
    """The text model, with a fit that takes at least 0.2 s: the table's fit time must see it."""

    def fit(self, data, y):
        import time

        time.sleep(0.2)
        return super().fit(data, y)


def test_fit_seconds_measure_the_fit(splits):
    (train, y_train), (val, y_val), (test, y_test) = splits["train"], splits["val"], splits["test"]
    lineup = {"text_only": UnimodalModel("text"), "slow_text": SlowText("text"), "late_mean": LateFusion("mean")}
    table = compare_strategies(train, y_train, test, y_test, val, y_val, strategies=lineup, n_boot=20,
                               progress=False).table.set_index("strategy")
    # wall-clock comparisons between real fits are noise on a busy machine; the 0.2 s sleep is not
    assert table.loc["slow_text", "fit_s"] >= 0.2 > table.loc["slow_text", "predict_s"]


def test_best_models_are_chosen_on_validation_and_gain_is_reported(comparison, splits):
    from sklearn.metrics import f1_score

    table = comparison.table.set_index("strategy")
    singles = table[table.kind == "unimodal"]
    fusions = table[table.kind != "unimodal"]
    assert comparison.best_single == singles.val_macro_f1.idxmax()
    assert comparison.best_fusion == fusions.val_macro_f1.idxmax()
    gain = comparison.gain
    assert gain["selected_on"] == "validation"
    _, y_test = splits["test"]
    fused = f1_score(y_test, comparison.proba[gain["best_fusion"]].argmax(1), average="macro")
    single = f1_score(y_test, comparison.proba[gain["best_single"]].argmax(1), average="macro")
    assert gain["macro_f1"] == pytest.approx(fused - single)
    assert gain["ci_low"] <= gain["macro_f1"] <= gain["ci_high"]
    # the toy modalities are complementary by construction: fusion must win clearly
    assert gain["ci_low"] > 0


def test_given_strategy_objects_are_not_fitted_in_place(comparison):
    assert not hasattr(SMALL["late_mean"], "classes_")
    assert set(comparison.proba) == set(SMALL)


def test_comparison_needs_a_baseline_and_a_fusion(splits):
    (train, y_train), (test, y_test) = splits["train"], splits["test"]
    with pytest.raises(ValueError, match="at least one unimodal baseline and one fusion"):
        compare_strategies(train, y_train, test, y_test, strategies={"t": UnimodalModel("text")}, progress=False)


def test_comparison_is_deterministic(splits, comparison):
    (train, y_train), (val, y_val), (test, y_test) = splits["train"], splits["val"], splits["test"]
    again = compare_strategies(train, y_train, test, y_test, val, y_val, strategies=SMALL, n_boot=100,
                               progress=False)
    columns = ["macro_f1", "macro_f1_low", "macro_f1_high", "gain_vs_best_single", "gain_low", "p_value"]
    assert np.allclose(again.table[columns], comparison.table[columns])


def test_missing_modality_sweep(comparison, splits):
    test, y_test = splits["test"]
    sweep = missing_modality_sweep(comparison.models, test, y_test, fractions=(0.0, 0.5, 1.0), progress=False)
    assert len(sweep) == len(SMALL) * 3 * 3
    assert set(sweep.columns) == {"strategy", "modality", "fraction", "macro_f1"}
    at = sweep.set_index(["strategy", "modality", "fraction"]).macro_f1
    # without images, the image-only model knows nothing: it predicts the prior
    assert at["image_only", "image", 1.0] < at["image_only", "image", 0.0] - 0.3
    # late fusion falls back to the remaining experts instead of collapsing
    assert at["late_mean", "image", 1.0] > at["image_only", "image", 1.0] + 0.3


def test_modality_dropout_ablation_shape(splits):
    (train, y_train), (test, y_test) = splits["train"], splits["test"]
    result = modality_dropout_ablation(train, y_train, test, y_test, dropouts=(0.0, 0.3), seeds=(0,),
                                       num_epochs=3)
    assert list(result.modality_dropout) == [0.0, 0.3]
    assert np.allclose(result.loss, result.macro_f1_full - result.macro_f1_missing)


def test_default_strategies_cover_every_kind():
    lineup = default_strategies()
    kinds = {type(model).__name__ for model in lineup.values()}
    assert kinds == {"UnimodalModel", "EarlyFusion", "LateFusion", "HybridFusion"}
    assert {"text_only", "image_only", "vitals_only", "late_confidence", "late_stacking"} <= set(lineup)


# ----------------------------------------------------------------------------- selection never looks at test
from medfusion_lib.fusion.base import FusionModel  # noqa: E402
from medfusion_lib.fusion.compare import select_on_validation  # noqa: E402


class Scripted(FusionModel):
    """Predicts the true class for the patients in ``right`` and a wrong one for everyone else."""

    def __init__(self, right=frozenset(), truth=None, fusion_kind="other", modalities_used=None):
        self.right = right
        self.truth = truth
        self.fusion_kind = fusion_kind
        self.modalities_used = modalities_used

    def fit(self, data, y):
        data, y = self._start_fit(data, y)
        self.layout_ = data.layout()
        return self

    def predict_proba(self, data):
        data = self._start_predict(data)
        k = len(self.classes_)
        answer = [self.truth[p] if p in self.right else (self.truth[p] + 1) % k for p in data.patient_ids]
        return np.eye(k)[answer]


def test_selection_uses_validation_even_when_test_would_choose_otherwise(splits):
    """Each pair: one model is right on every val patient and half the test patients, the other on half the
    val patients and every test patient. Choosing on test would pick the second; the rule is the first."""
    (train, y_train), (val, y_val), (test, y_test) = splits["train"], splits["val"], splits["test"]
    truth = {p: int(c) for data, y in splits.values() for p, c in zip(data.patient_ids, y)}
    val_ids, test_ids = list(val.patient_ids), list(test.patient_ids)
    val_best = frozenset(val_ids + test_ids[::2])
    test_best = frozenset(val_ids[::2] + test_ids)
    lineup = {}
    for kind, used in (("unimodal", ("text",)), ("early", ("text", "image", "vitals")), ("baseline", ("text", "vitals"))):
        lineup[f"{kind}_test_best"] = Scripted(test_best, truth, kind, used)
        # the unimodal one misses two val patients, so the non-image choice has one val-best answer
        lineup[f"{kind}_val_best"] = Scripted(val_best - set(val_ids[:2]) if kind == "unimodal" else val_best,
                                              truth, kind, used)
    result = compare_strategies(train, y_train, test, y_test, val, y_val, strategies=lineup, n_boot=50,
                                progress=False)
    table = result.table.set_index("strategy")
    assert table.loc["early_test_best", "macro_f1"] > table.loc["early_val_best", "macro_f1"]
    assert result.best_single == "unimodal_val_best"
    assert result.best_fusion == "early_val_best"
    assert result.best_non_image == "baseline_val_best"
    assert result.gain["best_non_image"] == "baseline_val_best"
    assert select_on_validation(["a", "b"], {"a": 0.5, "b": 0.9}) == "b"
    with pytest.raises(ValueError, match="validation"):
        select_on_validation(["a"], {"a": float("nan")})


def test_gain_is_also_reported_against_the_best_non_image_model(splits):
    (train, y_train), (val, y_val), (test, y_test) = splits["train"], splits["val"], splits["test"]
    lineup = {**SMALL, "text_vitals_late": LateFusion("mean", modalities=["text", "vitals"])}
    result = compare_strategies(train, y_train, test, y_test, val, y_val, strategies=lineup, n_boot=100,
                                progress=False)
    table = result.table.set_index("strategy")
    assert not table.loc["text_vitals_late", "uses_image"] and table.loc["late_mean", "uses_image"]
    non_image = table[~table.uses_image.astype(bool)]
    assert result.best_non_image == non_image.val_macro_f1.idxmax()
    vs = result.gain["vs_non_image"]
    assert vs["macro_f1"] == pytest.approx(table.loc[result.best_fusion, "macro_f1"]
                                           - table.loc[result.best_non_image, "macro_f1"])
    assert vs["ci_low"] <= vs["macro_f1"] <= vs["ci_high"]
    assert table.loc[result.best_non_image, "gain_vs_non_image"] == 0


def test_without_validation_the_test_split_choice_is_announced(splits):
    (train, y_train), (test, y_test) = splits["train"], splits["test"]
    with pytest.warns(UserWarning, match="TEST split"):
        result = compare_strategies(train, y_train, test, y_test, strategies=SMALL, n_boot=50, progress=False)
    assert result.gain["selected_on"] == "test"
