"""Datasets against their documented formulas, and the metrics."""

from __future__ import annotations

import numpy as np
import pytest
from rnnrs import datasets, metrics
from rnnrs.reference import esn as ref


def test_mackey_glass_recurrence_and_history():
    s = datasets.mackey_glass(300, seed=3)[:, 0]
    assert s[0] == 1.2
    rng = np.random.default_rng(3)
    hist = list(1.2 + 0.2 * (rng.random(17) - 0.5))
    buf = hist + list(s)
    # x[t+1] = RK4(x[t], x[t - 17]) where the delayed values start with the history.
    for t in range(len(s) - 1):
        want = ref.mackey_glass_rk4_step(s[t], buf[t])
        assert abs(s[t + 1] - want) < 1e-14
    np.testing.assert_array_equal(datasets.mackey_glass(50, seed=3)[:, 0], s[:50])
    assert not np.array_equal(datasets.mackey_glass(50, seed=4), datasets.mackey_glass(50, seed=3))
    # Chaotic regime: bounded, non-periodic looking spread.
    long = datasets.mackey_glass(3000)
    assert 0.2 < long.min() < 0.6 and 1.2 < long.max() < 1.5


def test_mackey_glass_given_history():
    h = np.linspace(0.5, 1.0, 30)
    s = datasets.mackey_glass(10, history=h)
    assert s.shape == (10, 1)
    with pytest.raises(ValueError, match="history"):
        datasets.mackey_glass(10, history=np.ones(5))


def test_narma_matches_reference():
    u, y = datasets.narma(500, seed=2)
    assert u.shape == y.shape == (500, 1)
    assert 0 <= u.min() and u.max() <= 0.5
    np.testing.assert_allclose(y[:, 0], ref.narma(u[:, 0]), rtol=1e-13, atol=1e-15)
    u5, y5 = datasets.narma(300, order=5, seed=2)
    np.testing.assert_allclose(y5[:, 0], ref.narma(u5[:, 0], order=5), rtol=1e-13, atol=1e-15)


def test_henon_logistic_and_lorenz():
    h = datasets.henon_map(100)
    np.testing.assert_allclose(h[1:, 0], 1 - 1.4 * h[:-1, 0] ** 2 + h[:-1, 1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h[1:, 1], 0.3 * h[:-1, 0], rtol=1e-15)
    lg = datasets.logistic_map(100, r=3.9, x0=0.3)[:, 0]
    np.testing.assert_allclose(lg[1:], 3.9 * lg[:-1] * (1 - lg[:-1]))
    lz = datasets.lorenz(2000)
    assert lz.shape == (2000, 3)
    np.testing.assert_array_equal(lz[0], [1.0, 1.0, 1.0])
    # On the butterfly: both wings visited, z positive and bounded.
    assert lz[:, 0].min() < -10 and lz[:, 0].max() > 10 and 0 < lz[500:, 2].min() and lz[:, 2].max() < 60
    # Finer integration agrees on the first samples (RK4 accuracy).
    fine = datasets.lorenz(50, substeps=40)
    np.testing.assert_allclose(lz[:50], fine, atol=1e-5)


def test_dataset_errors():
    with pytest.raises(ValueError, match="n_timesteps"):
        datasets.mackey_glass(0)
    with pytest.raises(ValueError, match="x0"):
        datasets.logistic_map(10, x0=1.5)
    with pytest.raises(ValueError, match="order"):
        datasets.narma(10, order=0)


def test_metrics():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    p = np.array([0.0, 1.0, 2.0, 5.0])
    assert metrics.rmse(t, p) == 1.0
    assert metrics.nrmse(t, p) == pytest.approx(1.0 / 3.0)
    assert metrics.nrmse(t, p, norm="std") == pytest.approx(1.0 / t.std())
    assert metrics.rsquare(t, t) == 1.0
    assert metrics.rsquare(t, p) == pytest.approx(1 - 4 / 5)
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert metrics.rsquare(a, b) == pytest.approx(sk.r2_score(a, b))
    with pytest.raises(ValueError, match="norm"):
        metrics.nrmse(t, p, norm="bad")
    with pytest.raises(ValueError, match="shape"):
        metrics.rmse(t, p[:3])
