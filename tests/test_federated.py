"""Federated learning: the hand FedAvg/FedProx, the clients' data, and the training loop."""
from __future__ import annotations

import numpy as np
import pytest

from medfusion_lib.federated.data import ClientData, Federation, concat, pooled_scaler, site_moments
from medfusion_lib.federated.fedavg import aggregation_weights, fedavg, proximal_term
from medfusion_lib.federated.local import get_weights, local_train, make_net, set_weights
from medfusion_lib.federated.simulate import TrainSettings, run_federated, train_centralised


def blobs(name: str, n: int, seed: int, n_classes: int = 3, width: int = 6) -> ClientData:
    """A client with ``n`` patients from ``n_classes`` Gaussian blobs in ``width`` 'text' features."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    centres = np.random.default_rng(99).normal(0, 2, (n_classes, width))
    X = (centres[y] + rng.normal(0, 1, (n, width))).astype(np.float32)
    return ClientData(name, {"text": X}, np.ones((n, 1), bool), y.astype(np.int64))


def federation(sizes=(40, 80, 120)) -> Federation:
    train = [blobs(f"site{k}", n, seed=k) for k, n in enumerate(sizes)]
    test = [blobs(f"site{k}", 60, seed=10 + k) for k in range(len(sizes))]
    return Federation(train, test, concat(test, "all"), 3)


def test_aggregation_weights_by_client_size():
    a, b = [np.zeros((2, 2)), np.zeros(3)], [np.ones((2, 2)), np.full(3, 2.0)]
    out = fedavg([a, b], sizes=[1, 3])
    np.testing.assert_allclose(aggregation_weights([1, 3]), [0.25, 0.75])
    np.testing.assert_allclose(out[0], np.full((2, 2), 0.75))
    np.testing.assert_allclose(out[1], np.full(3, 1.5))
    # equal sizes: the plain mean; a larger client pulls the average towards itself
    np.testing.assert_allclose(fedavg([a, b], [5, 5])[0], 0.5)
    assert fedavg([a, b], [1, 100])[0][0, 0] > fedavg([a, b], [100, 1])[0][0, 0]


def test_fedavg_matches_flowers_aggregation():
    from flwr.app import ArrayRecord, MetricRecord, RecordDict
    from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    rng = np.random.default_rng(0)
    clients = [[rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)] for _ in range(3)]
    sizes = [10, 30, 60]
    replies = [RecordDict({"arrays": ArrayRecord(w), "metrics": MetricRecord({"num-examples": n})})
               for w, n in zip(clients, sizes)]
    flower = aggregate_arrayrecords(replies, "num-examples").to_numpy_ndarrays()
    for ours, theirs in zip(fedavg(clients, sizes), flower):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_fedavg_rejects_bad_input():
    with pytest.raises(ValueError, match="sizes"):
        fedavg([[np.zeros(2)]], [1, 2])
    with pytest.raises(ValueError, match="shapes"):
        fedavg([[np.zeros(2)], [np.zeros(3)]], [1, 1])
    with pytest.raises(ValueError, match="positive"):
        fedavg([[np.zeros(2)], [np.zeros(2)]], [0, 1])


def test_fedavg_of_identical_clients_equals_the_centralised_update():
    data = blobs("one", 64, seed=0)
    start = make_net("linear", data.widths, 3, seed=0)
    weights0 = get_weights(start)
    central = set_weights(make_net("linear", data.widths, 3), weights0)
    local_train(central, data, epochs=2, lr=0.05, seed=7)
    updates = []
    for _ in range(3):  # three hospitals holding the same patients, training the same way
        client = set_weights(make_net("linear", data.widths, 3), weights0)
        local_train(client, data, epochs=2, lr=0.05, seed=7)
        updates.append(get_weights(client))
    for averaged, alone in zip(fedavg(updates, [64, 64, 64]), get_weights(central)):
        np.testing.assert_allclose(averaged, alone, rtol=1e-6, atol=1e-7)
    assert not np.allclose(get_weights(central)[0], weights0[0])  # training did move the weights


def test_proximal_term_is_half_mu_times_the_squared_distance():
    w, g = [np.array([3.0, 4.0]), np.array([[1.0]])], [np.zeros(2), np.array([[0.0]])]
    assert proximal_term(w, g, mu=0.5) == pytest.approx(0.25 * (9 + 16 + 1))
    assert proximal_term(w, w, mu=3.0) == 0.0
    with pytest.raises(ValueError):
        proximal_term(w, g, mu=-1)


def test_fedprox_keeps_local_weights_near_the_global_model():
    data = blobs("one", 64, seed=1)
    start = get_weights(make_net("linear", data.widths, 3, seed=0))
    drift = {}
    for mu in (0.0, 10.0):
        net = set_weights(make_net("linear", data.widths, 3), start)
        local_train(net, data, epochs=5, lr=0.05, mu=mu, seed=0)
        drift[mu] = proximal_term(get_weights(net), start, mu=2.0)  # = ||w - w_t||^2
    assert drift[10.0] < 0.5 * drift[0.0]


def test_pooled_scaler_equals_the_pooled_mean_and_std():
    from medfusion_lib.fusion import Modalities

    rng = np.random.default_rng(0)
    parts = [Modalities({"vitals": rng.normal(k, 1 + k, (20 + 10 * k, 3))}, np.arange(20 + 10 * k)) for k in range(3)]
    mean, std = pooled_scaler([site_moments(p) for p in parts])["vitals"]
    pooled = np.concatenate([p.features["vitals"] for p in parts])
    np.testing.assert_allclose(mean, pooled.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std, pooled.std(axis=0), rtol=1e-4)


def test_federated_training_learns_and_tracks_rounds():
    fed = federation()
    settings = TrainSettings(kind="linear", rounds=3, local_epochs=1, lr=0.05)
    result = run_federated(fed, settings)
    assert list(result.history["round"]) == [1, 2, 3]
    assert {"macro_f1", "macro_f1_site0", "macro_f1_site2"} <= set(result.history.columns)
    assert result.history["macro_f1"].iloc[-1] > 0.6  # three well separated blobs
    central = train_centralised(fed, settings)
    assert abs(central["macro_f1"] - result.history["macro_f1"].iloc[-1]) < 0.15


def test_client_data_round_trips_through_npz(tmp_path):
    data = blobs("Northgate", 12, seed=3)
    back = ClientData.load(data.save(tmp_path / "n.npz"))
    assert back.name == "Northgate" and back.widths == data.widths
    np.testing.assert_array_equal(back.y, data.y)
    with pytest.raises(FileNotFoundError, match="no client data"):
        ClientData.load(tmp_path / "missing.npz")


# ------------------------------------------------------------------------------------ starting Flower's engine
class _FakeRay:
    """``ray`` for start_ray: each ``init`` starts a real child process (as Ray's node processes are), then raises
    the next planned error or succeeds."""

    def __init__(self, errors):
        self.errors, self.calls, self.children, self.running = list(errors), [], [], False

    def is_initialized(self):
        return self.running

    def init(self, **kwargs):
        import subprocess
        import sys

        self.calls.append(kwargs)
        self.children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        if self.errors:
            raise self.errors.pop(0)
        self.running = True


def _startup_timeout():
    return Exception("The current node timed out during startup. This could happen because some of the raylet "
                     "failed to startup or the GCS has become overloaded.")


def test_start_ray_stops_a_timed_out_start_and_tries_again(monkeypatch, capsys):
    import sys

    from medfusion_lib.federated.engine import start_ray

    fake = _FakeRay([_startup_timeout()])
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setenv("PYTHONPATH", "")
    start_ray(num_cpus=1)
    failed, started = fake.children
    try:
        assert failed.wait(timeout=10) is not None  # the timed-out attempt's processes are stopped
        assert started.poll() is None  # the running node's are not
        assert len(fake.calls) == 2 and fake.calls[0]["num_cpus"] == 1
        assert fake.calls[0]["include_dashboard"] is False
        assert fake.calls[0]["runtime_env"]["env_vars"]["PYTHONPATH"].split(":")[: len(sys.path)] == sys.path
        assert "attempt 1 of 3" in capsys.readouterr().err
        start_ray()  # already running: nothing more is started
        assert len(fake.calls) == 2
    finally:
        started.kill()


def test_start_ray_gives_up_clearly_and_passes_other_errors_on(monkeypatch):
    import sys

    from medfusion_lib.federated.engine import start_ray

    fake = _FakeRay([_startup_timeout(), _startup_timeout()])
    monkeypatch.setitem(sys.modules, "ray", fake)
    with pytest.raises(RuntimeError, match="did not start within its 30 s limit in 2 attempts"):
        start_ray(attempts=2)
    assert all(child.wait(timeout=10) is not None for child in fake.children)

    other = _FakeRay([ValueError("bad resources")])
    monkeypatch.setitem(sys.modules, "ray", other)
    with pytest.raises(ValueError, match="bad resources"):
        start_ray()
    other.children[0].kill()
