"""pytest-benchmark timings of the ESN pieces (run: pytest benches/bench_esn.py --benchmark-only)."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr


@pytest.mark.parametrize("units", [100, 1000])
def test_run_one_sequence(benchmark, units):
    res = rr.Reservoir(units, spectral_radius=1.25, leak_rate=0.3, seed=0).initialize(1)
    u = np.sin(np.arange(1000) * 0.1).reshape(-1, 1)
    states = benchmark(res.run, u)
    assert states.shape == (1000, units)


def test_run_batch_of_64(benchmark):
    res = rr.Reservoir(1000, spectral_radius=1.25, leak_rate=0.3, seed=0).initialize(1)
    u = np.sin(np.arange(64 * 100) * 0.1).reshape(64, 100, 1)
    states = benchmark(res.run, u)
    assert states.shape == (64, 100, 1000)


def test_spectral_setup_5000(benchmark):
    res = benchmark.pedantic(
        lambda: rr.Reservoir(5000, spectral_radius=1.25, connectivity=0.1, seed=0).initialize(1), rounds=1
    )
    assert res.W_radius > 0


def test_ridge_fit_1000_features(benchmark):
    rng = np.random.default_rng(0)
    X = np.tanh(rng.normal(size=(20_000, 1000)))
    y = X[:, :1]
    r = benchmark(lambda: rr.Ridge(alpha=1e-7).fit(X, y))
    assert r.coef_.shape == (1000, 1)


def test_esn_fit_mackey_glass(benchmark):
    s = rr.datasets.mackey_glass(2101)
    esn = rr.ESN(units=500, seed=0)
    benchmark(esn.fit, s[:-1], s[1:], warmup=100)
