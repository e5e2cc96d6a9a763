"""One estimator vocabulary: every track builds its classic classifiers from medfusion_lib.estimators."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier

from medfusion_lib.estimators import ESTIMATOR_NAMES, REGISTRY, RENAMED, make_estimator, probabilistic_names
from medfusion_lib.fusion import ESTIMATORS as FUSION_ESTIMATORS
from medfusion_lib.fusion.base import make_estimator as fusion_estimator
from medfusion_lib.text.models import MODELS as TEXT_MODELS
from medfusion_lib.text.models import TEXT_SETTINGS, make_model
from medfusion_lib.vision.features import EMBEDDING_CLASSIFIERS, EMBEDDING_SETTINGS, embedding_classifier


def _params(estimator) -> dict:
    """Deep parameters, nested estimators left out (they compare by identity; their own params are in)."""
    return {k: v for k, v in estimator.get_params(deep=True).items() if not hasattr(v, "get_params")}


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_each_name_builds_its_documented_defaults(name):
    spec = REGISTRY[name]
    model = make_estimator(name, seed=7)
    params = _params(model)
    for key, value in spec.defaults.items():
        # rbf_svm's SVC sits inside CalibratedClassifierCV as ``estimator``
        found = params.get(key, params.get(f"estimator__{key}", params.get("cv") if key == "calibration_cv"
                                           else None))
        assert found == value, f"{name}: {key} is {found!r}, the registry documents {value!r}"
    seeds = [v for k, v in params.items() if k.endswith("random_state")]
    assert all(s == 7 for s in seeds), f"{name}: seed not passed on ({seeds})"
    assert hasattr(model, "predict_proba") == spec.probabilities or name == "linear_svm"
    # the docstring table documents every name with its estimator class
    import medfusion_lib.estimators as module
    assert f"``{name}``" in module.__doc__


def test_fresh_and_independent_instances():
    a, b = make_estimator("random_forest"), make_estimator("random_forest")
    assert a is not b
    a.set_params(n_estimators=3)
    assert b.n_estimators == REGISTRY["random_forest"].defaults["n_estimators"]


def test_overrides_and_unknown_parameters():
    assert make_estimator("logreg", C=3.0).C == 3.0
    with pytest.raises(ValueError, match="no parameter 'n_trees'.*n_estimators"):
        make_estimator("random_forest", n_trees=5)


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_old_short_names_are_refused_with_the_new_name(old):
    for build in (make_estimator, fusion_estimator):
        with pytest.raises(ValueError, match=f"{old!r} was renamed: use '{RENAMED[old]}'"):
            build(old)
    with pytest.raises(ValueError, match="renamed: use 'random_forest'"):
        make_model("rf")
    with pytest.raises(ValueError, match="renamed: use 'rbf_svm'"):
        embedding_classifier("svm")


def test_unknown_and_wrong_type():
    with pytest.raises(ValueError, match="unknown estimator 'forest'; choose one of logreg"):
        make_estimator("forest")
    with pytest.raises(TypeError, match="scikit-learn classifier"):
        make_estimator(42)
    knn = KNeighborsClassifier(3)
    copy = make_estimator(knn)
    assert copy is not knn and copy.get_params() == knn.get_params()


def test_every_track_speaks_the_registry():
    for track in (TEXT_MODELS, FUSION_ESTIMATORS, EMBEDDING_CLASSIFIERS):
        assert set(track) <= set(ESTIMATOR_NAMES), track
    assert set(TEXT_SETTINGS) <= set(TEXT_MODELS) and set(EMBEDDING_SETTINGS) <= set(EMBEDDING_CLASSIFIERS)
    # fusion and embeddings need probabilities over real-valued features
    assert set(FUSION_ESTIMATORS) == set(probabilistic_names())
    assert set(EMBEDDING_CLASSIFIERS) <= set(probabilistic_names())
    # a name outside a track is refused there, naming the track's choices
    with pytest.raises(ValueError, match="choose one of logreg, linear_svm, naive_bayes, random_forest"):
        make_model("mlp")
    with pytest.raises(ValueError, match="choose one of"):
        fusion_estimator("linear_svm")


def test_tracks_differ_from_the_registry_only_where_they_say_so():
    for name in TEXT_MODELS:
        expected = make_estimator(name, seed=3, **TEXT_SETTINGS.get(name, {}))
        assert _params(make_model(name, seed=3)) == _params(expected)
    for name in FUSION_ESTIMATORS:
        assert _params(fusion_estimator(name, seed=3)) == _params(make_estimator(name, seed=3))
    for name in EMBEDDING_CLASSIFIERS:
        head = embedding_classifier(name, seed=3).steps[-1][1]
        expected = make_estimator(name, seed=3, **EMBEDDING_SETTINGS.get(name, {}))
        assert _params(head) == _params(expected)
    # one name, one meaning: logreg's defaults are the registry's unless a track overrides them explicitly
    assert make_model("logreg").C == TEXT_SETTINGS["logreg"]["C"] != REGISTRY["logreg"].defaults["C"]
    assert fusion_estimator("logreg").C == REGISTRY["logreg"].defaults["C"]


@pytest.mark.parametrize("name", probabilistic_names())
def test_each_probabilistic_estimator_fits_and_predicts(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    model = clone(make_estimator(name, seed=0)).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(1), 1)
    assert (model.predict(X) == y).mean() > 0.8, f"{name} cannot learn a one-feature threshold"
