"""Distributed readout training on a local Dask cluster."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr
from rnnrs.datasets import mackey_glass

distributed = pytest.importorskip("distributed")
rdask = pytest.importorskip("rnnrs.dask")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _data(n_seq=6, length=300):
    """Random inputs and a nonlinear moving-average target: well-conditioned
    states, so summation-order rounding (1e-16) is not amplified."""
    rng = np.random.default_rng(0)
    X = [rng.uniform(-1, 1, size=(length, 2)) for _ in range(n_seq)]
    y = [np.tanh(x[:, :1] + 0.5 * np.roll(x[:, 1:], 1, axis=0)) for x in X]
    return X, y


def test_distributed_fit_equals_single_machine(client):
    X, y = _data()
    params = {"units": 120, "spectral_radius": 0.9, "leak_rate": 0.5, "input_connectivity": 1.0, "ridge": 1e-3, "seed": 3}
    local = rr.ESN(**params).fit(X, y, warmup=20)
    dist = rdask.fit(rr.ESN(**params), X, y, warmup=20, npartitions=3, client=client)
    np.testing.assert_allclose(dist.coef_, local.coef_, rtol=0, atol=1e-10 * np.abs(local.coef_).max())
    np.testing.assert_allclose(dist.intercept_, local.intercept_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(dist.state_, local.state_)


def test_distributed_fit_with_delayed_data(client):
    import dask

    X, y = _data(4, 200)
    Xd = [dask.delayed(np.asarray)(x) for x in X]
    yd = [dask.delayed(np.asarray)(t) for t in y]
    params = {"units": 60, "spectral_radius": 0.9, "input_connectivity": 1.0, "seed": 1, "ridge": 1e-3}
    local = rr.ESN(**params).fit(X, y, warmup=10)
    dist = rdask.fit(rr.ESN(**params), Xd, yd, warmup=10, client=client)
    np.testing.assert_allclose(dist.coef_, local.coef_, rtol=0, atol=1e-10 * np.abs(local.coef_).max())


def test_long_series_with_warmup_overlap(client):
    s = mackey_glass(4001, seed=0)
    X, y = s[:-1], s[1:]
    params = {"units": 100, "spectral_radius": 1.25, "leak_rate": 0.3, "ridge": 1e-6, "seed": 0}
    local = rr.ESN(**params).fit(X, y, warmup=100)
    dist = rdask.fit_series(rr.ESN(**params), X, y, warmup=100, chunks=4, overlap=300, client=client)
    # Overlap states are discarded, so 3 x 300 steps fewer samples; the fit is close, not identical.
    p_local, p_dist = local.predict(X[:1000]), dist.predict(X[:1000])
    assert rr.metrics.nrmse(p_local[100:], p_dist[100:]) < 1e-2
    # Every step after the warm-up is a training sample exactly once.
    assert dist.readout_.n_samples_ == local.readout_.n_samples_ == 4000 - 100
