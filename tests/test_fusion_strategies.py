"""Every fusion strategy: shapes, probabilities, missing modalities, determinism, clear errors, and stacking
without leakage. Small synthetic arrays (medfusion_lib.fusion.toy), so the file runs in seconds."""
import numpy as np
import pytest

from medfusion_lib.evaluation import macro_f1
from medfusion_lib.fusion import (EarlyFusion, HybridFusion, LateFusion, Modalities, UnimodalModel,
                                  confidence_rule, fit_modality_weights, mean_rule, product_rule,
                                  weighted_mean_rule)
from medfusion_lib.fusion.hybrid import drop_modalities
from medfusion_lib.fusion.toy import make_toy_modalities

STRATEGIES = {
    "unimodal": lambda: UnimodalModel("text"),
    "early_logreg": lambda: EarlyFusion("logreg"),
    "early_random_forest": lambda: EarlyFusion("random_forest"),
    "early_mlp": lambda: EarlyFusion("mlp"),
    **{f"late_{r}": (lambda r=r: LateFusion(r, n_folds=3))
       for r in ("mean", "weighted", "product", "confidence", "stacking")},
    **{f"hybrid_{f}": (lambda f=f: HybridFusion(f, modality_dropout=0.3, num_epochs=8))
       for f in ("concat", "gated", "attention")},
}


#: What each family's policy sentence must say (the behaviour is tested below: the prior for patients with nothing,
#: finite probabilities with a modality missing, clear errors for missing='error').
POLICIES = {"unimodal": "predicts the training class frequencies for a patient without the modality",
            "early": "imputes an absent modality with its training mean and adds a presence indicator",
            "late": "combines only the modalities a patient has",
            "hybrid": "replaces an absent modality with a learned 'missing' embedding"}


@pytest.fixture(scope="module")
def toy():
    data, y = make_toy_modalities(360, seed=1)
    return data.subset(np.arange(240)), y[:240], data.subset(np.arange(240, 360)), y[240:]


@pytest.fixture(scope="module")
def fitted(toy):
    train, y_train, _, _ = toy
    return {name: make().fit(train, y_train) for name, make in STRATEGIES.items()}


@pytest.mark.parametrize("name", STRATEGIES)
def test_shapes_and_probabilities(name, fitted, toy):
    _, _, test, y_test = toy
    model = fitted[name]
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 4)
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.predict(test).shape == (len(test),)
    assert set(model.predict(test)) <= set(range(4))
    # every strategy says in one sentence what it does about missing modalities, and says its family's policy
    assert POLICIES[name.split("_")[0]] in model.missing_policy, model.missing_policy


@pytest.mark.parametrize("name", [n for n in STRATEGIES if n != "unimodal"])
def test_fusion_beats_each_single_modality_on_complementary_toy_data(name, fitted, toy):
    _, _, test, y_test = toy
    text_only = macro_f1(y_test, fitted["unimodal"].predict(test))
    assert macro_f1(y_test, fitted[name].predict(test)) > text_only + 0.1


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("fraction", [0.5, 1.0])
def test_modality_missing_for_some_or_all_test_patients(name, fraction, fitted, toy):
    _, _, test, _ = toy
    proba = fitted[name].predict_proba(test.with_missing("image", fraction, seed=0))
    assert proba.shape == (len(test), 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(proba).all()


def test_patients_with_no_modality_get_the_training_prior(fitted, toy):
    _, y_train, test, _ = toy
    nothing = test
    for name in nothing.names:
        nothing = nothing.with_missing(name, 1.0)
    prior = np.bincount(y_train) / len(y_train)
    for name in ("late_mean", "late_product", "late_confidence", "late_weighted", "unimodal"):
        assert np.allclose(fitted[name].predict_proba(nothing), prior), name


@pytest.mark.parametrize("name", ["early_logreg", "late_stacking", "hybrid_gated"])
def test_training_with_a_modality_missing_for_some_patients(name, toy):
    train, y_train, test, _ = toy
    model = STRATEGIES[name]().fit(train.with_missing("vitals", 0.4, seed=1), y_train)
    assert np.allclose(model.predict_proba(test).sum(axis=1), 1.0)


@pytest.mark.parametrize("make", [lambda: EarlyFusion(), lambda: LateFusion("mean"), lambda: HybridFusion()])
def test_modality_missing_for_every_training_patient_is_a_clear_error(make, toy):
    train, y_train, _, _ = toy
    with pytest.raises(ValueError, match="absent for every training patient"):
        make().fit(train.with_missing("image", 1.0), y_train)


def test_strategies_that_cannot_cope_say_so(toy):
    train, y_train, test, _ = toy
    damaged = test.with_missing("text", 0.2)
    with pytest.raises(ValueError, match="missing='error'"):
        EarlyFusion(missing="error").fit(train, y_train).predict_proba(damaged)
    with pytest.raises(ValueError, match="missing='error'"):
        UnimodalModel("text", missing="error").fit(train, y_train).predict_proba(damaged)


@pytest.mark.parametrize("name", ["early_mlp", "late_stacking", "hybrid_attention"])
def test_deterministic_with_a_fixed_seed(name, toy):
    train, y_train, test, _ = toy
    a = STRATEGIES[name]().fit(train, y_train).predict_proba(test)
    b = STRATEGIES[name]().fit(train, y_train).predict_proba(test)
    assert np.array_equal(a, b)


def test_hybrid_seed_changes_the_model_and_leaves_global_rng_alone(toy):
    import torch

    train, y_train, test, _ = toy
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = HybridFusion(num_epochs=3, seed=0).fit(train, y_train).predict_proba(test)
    assert torch.equal(torch.rand(3), expected)
    b = HybridFusion(num_epochs=3, seed=1).fit(train, y_train).predict_proba(test)
    assert not np.allclose(a, b)


def test_misaligned_or_wrong_inputs_are_clear_errors(fitted, toy):
    train, y_train, test, _ = toy
    with pytest.raises(TypeError, match="must be a medfusion_lib.fusion.Modalities"):
        EarlyFusion().fit(train.features["text"], y_train)
    with pytest.raises(ValueError, match="one label per patient"):
        EarlyFusion().fit(train, y_train[:-1])
    with pytest.raises(ValueError, match="lacks \\['vitals'\\]"):
        fitted["late_mean"].predict_proba(test.select(["text", "image"]))
    with pytest.raises(RuntimeError, match="not fitted"):
        LateFusion().predict_proba(test)
    with pytest.raises(ValueError, match="unknown rule"):
        LateFusion("median").fit(train, y_train)
    with pytest.raises(ValueError, match="unknown fusion layer"):
        HybridFusion("bilinear").fit(train, y_train)
    with pytest.raises(ValueError, match="unknown estimator"):
        EarlyFusion("xgboost").fit(train, y_train)


# ---------------------------------------------------------------------------------------- the rules
def test_rules_by_hand():
    P = np.array([[[0.8, 0.2], [0.4, 0.6]]])  # one patient, two experts, two classes
    both = np.array([[True, True]])
    assert np.allclose(mean_rule(P, both), [[0.6, 0.4]])
    assert np.allclose(weighted_mean_rule(P, both, np.array([0.25, 0.75])), [[0.5, 0.5]])
    assert np.allclose(product_rule(P, both), [[0.32 / 0.44, 0.12 / 0.44]])
    # confidence weights 0.8 and 0.6
    assert np.allclose(confidence_rule(P, both), [[(0.8 * 0.8 + 0.6 * 0.4) / 1.4, (0.8 * 0.2 + 0.6 * 0.6) / 1.4]])
    only_second = np.array([[False, True]])
    for rule in (mean_rule, product_rule, confidence_rule):
        assert np.allclose(rule(P, only_second), [[0.4, 0.6]])


def test_fitted_weights_favour_the_informative_expert():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.where(y[:, None] == np.arange(2), 0.9, 0.1)
    noise = rng.dirichlet([1, 1], 400)
    w = fit_modality_weights(np.stack([noise, good], axis=1), np.ones((400, 2), bool), y)
    assert w.sum() == pytest.approx(1.0) and w[1] > 0.8


def test_weighted_fusion_uses_the_validation_split_when_given(toy):
    train, y_train, test, y_test = toy
    a = LateFusion("weighted").fit(train, y_train, val=test, y_val=y_test).weights_
    b = LateFusion("weighted", n_folds=3).fit(train, y_train).weights_
    assert a.shape == b.shape == (3,)
    with pytest.raises(ValueError, match="without y_val"):
        LateFusion("weighted").fit(train, y_train, val=test)


# ---------------------------------------------------------------------------------------- leakage
def _memorisable(n=300, seed=0):
    """'noise' is 40 random columns (a 1-NN expert memorises it perfectly in-sample and is at chance on
    new patients); 'signal' is a weak but real signal."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    signal = np.eye(3)[y] * 1.2 + rng.normal(0, 1, (n, 3))
    data = Modalities({"noise": rng.normal(0, 1, (n, 40)), "signal": signal}, np.arange(n))
    return data, y


def test_stacking_is_trained_out_of_fold_so_an_overfitted_expert_is_not_trusted():
    from sklearn.neighbors import KNeighborsClassifier

    data, y = _memorisable(600)
    train, y_train, test, y_test = data.subset(np.arange(300)), y[:300], data.subset(np.arange(300, 600)), y[300:]
    experts = {"noise": KNeighborsClassifier(1), "signal": "logreg"}
    stacked = LateFusion("stacking", estimator=experts).fit(train, y_train)
    signal_only = UnimodalModel("signal").fit(train, y_train)
    f1_stacked = macro_f1(y_test, stacked.predict(test))
    f1_signal = macro_f1(y_test, signal_only.predict(test))
    # with in-sample predictions the meta-learner would follow the 1-NN expert (perfect on training
    # patients) and fall to chance (~0.33) on new ones; trained out of fold it follows the real signal
    assert f1_stacked > f1_signal - 0.05
    assert f1_stacked > 0.5

    # the same meta-learner trained on in-sample predictions does leak: this is what the test guards
    from sklearn.linear_model import LogisticRegression

    in_sample = stacked.expert_proba(train)
    leaky = LogisticRegression(max_iter=2000).fit(stacked.meta_features(in_sample, np.ones((300, 2), bool)),
                                                  y_train)
    leaky_f1 = macro_f1(y_test, leaky.predict(stacked.meta_features(stacked.expert_proba(test),
                                                                      np.ones((300, 2), bool))))
    assert leaky_f1 < f1_stacked - 0.1


def test_stacking_never_sees_the_test_patients(toy, monkeypatch):
    """The meta-learner's training rows are exactly the training patients (out of fold), never test ones."""
    from medfusion_lib.fusion import late

    train, y_train, test, _ = toy
    seen = []
    original = late.out_of_fold_proba

    def spy(model, data, y, n_folds, seed):
        seen.append(set(data.patient_ids))
        return original(model, data, y, n_folds, seed)

    monkeypatch.setattr(late, "out_of_fold_proba", spy)
    LateFusion("stacking", n_folds=3).fit(train, y_train)
    assert seen and all(s == set(train.patient_ids) for s in seen)
    assert not set(test.patient_ids) & set().union(*seen)


def test_modality_dropout_never_hides_everything():
    import torch

    present = torch.ones(500, 3, dtype=torch.bool)
    present[:100, 1:] = False
    for p in (0.3, 0.9):
        dropped = drop_modalities(present, p, torch.Generator().manual_seed(0))
        assert dropped.any(dim=1).all()
        assert not (dropped & ~present).any()  # dropout only hides, never invents
    # with p=0.3 a full patient keeps ~70 % of modalities, plus the rare all-hidden rows restored
    kept = drop_modalities(present, 0.3, torch.Generator().manual_seed(0))[100:].float().mean()
    assert 0.62 < kept < 0.8
    assert torch.equal(drop_modalities(present, 0.0, torch.Generator()), present)


def test_one_blas_thread_limits_blas_and_restores_the_callers_setting():
    from threadpoolctl import threadpool_info

    from medfusion_lib.fusion.base import one_blas_thread

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    assert before, "NumPy's BLAS is loaded"
    with one_blas_thread():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
