"""Matrix initialisers, observables and the chaotic data sets: reference math and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr
from rnnrs.reference import esn as ref
from rnnrs.reservoir import init


def _rho(W):
    return np.max(np.abs(np.linalg.eigvals(W)))


# --------------------------------------------------------------------------- initialisers


def test_structured_matrices():
    R = init.ring(7)
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(R)), 1.0, atol=1e-12)  # a permutation cycle
    np.testing.assert_array_equal(R @ np.arange(7.0), np.roll(np.arange(7.0), 1))
    np.testing.assert_allclose(_rho(init.ring(6, sr=0.5)), 0.5)
    L = init.line(5)
    assert np.all(np.linalg.matrix_power(L, 5) == 0) and L[1, 0] == 1 and L[0, 4] == 0
    Q = init.orthogonal(30, seed=0)
    np.testing.assert_allclose(Q.T @ Q, np.eye(30), atol=1e-12)
    np.testing.assert_array_equal(Q, init.orthogonal(30, seed=0))


@pytest.mark.parametrize("make", [init.uniform, init.normal, init.bernoulli])
def test_sparse_random_laws_are_seeded_with_the_density(make):
    a = make(300, connectivity=0.1, seed=1)
    np.testing.assert_array_equal(a, make(300, connectivity=0.1, seed=1))
    assert not np.array_equal(a, make(300, connectivity=0.1, seed=2))
    assert abs(np.count_nonzero(a) / a.size - 0.1) < 0.01
    np.testing.assert_allclose(_rho(make(100, connectivity=0.2, sr=0.7, seed=3)), 0.7)
    assert make(4, 6, seed=0).shape == (4, 6)


def test_fast_spectral_initialisation_lands_near_the_target_radius():
    rhos = [_rho(init.fast_spectral_initialization(200, sr=0.9, connectivity=0.3, seed=s)) for s in range(2)]
    assert all(abs(r - 0.9) < 0.12 for r in rhos)


def test_small_world_and_cluster_structure():
    W = init.small_world(40, nb_close_neighbours=4, proba_rewire=0.0, seed=0)
    assert np.count_nonzero(W) == 160 and np.all(np.count_nonzero(W, axis=1) == 4)
    assert W[0, 1] != 0 and W[0, 39] != 0 and W[0, 2] != 0 and W[0, 20] == 0
    Wr = init.small_world(40, nb_close_neighbours=4, proba_rewire=1.0, seed=0)
    assert np.count_nonzero(Wr) == 160 and np.all(np.diag(Wr) == 0)
    C = init.cluster(90, cluster=3, p_in=0.5, p_out=0.0, seed=0)
    assert np.count_nonzero(C[:30, 30:]) == 0 and np.count_nonzero(C[:30, :30]) > 300
    with pytest.raises(ValueError, match="multiple"):
        init.cluster(10, cluster=3)
    with pytest.raises(ValueError, match="even"):
        init.small_world(10, nb_close_neighbours=3)
    with pytest.raises(ValueError, match="spectral radius 0"):
        init._rescale(init.line(4), 1.0)


def test_from_weights_runs_any_matrix_like_the_reference():
    W = init.ring(20, sr=0.9)
    Win = init.bernoulli(20, 2, connectivity=1.0, seed=0)
    bias = np.linspace(-0.1, 0.1, 20)
    u = np.random.default_rng(0).normal(size=(15, 2))
    for sparse in (True, False):
        res = rr.Reservoir.from_weights(W, Win, bias, leak_rate=0.7, sparse=sparse)
        np.testing.assert_allclose(res.run(u), ref.reservoir_run(W, Win, bias, 0.7, u), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="square"):
        rr.Reservoir.from_weights(np.zeros((3, 4)), Win)
    with pytest.raises(ValueError, match="rows"):
        rr.Reservoir.from_weights(W, np.zeros((5, 2)))


# --------------------------------------------------------------------------- observables


def test_effective_spectral_radius_matches_dense_eigenvalues():
    res = rr.Reservoir(80, spectral_radius=0.9, leak_rate=0.3, seed=0).initialize(1)
    W = res.W
    want = _rho(0.3 * W + 0.7 * np.eye(80))
    assert rr.reservoir.effective_spectral_radius(res) == pytest.approx(want, rel=1e-8)
    lr = np.linspace(0.1, 1.0, 80)
    want = _rho(lr[:, None] * W + np.diag(1 - lr))
    assert rr.reservoir.effective_spectral_radius(W, lr) == pytest.approx(want, rel=1e-8)
    with pytest.raises(ValueError, match="leak"):
        rr.reservoir.effective_spectral_radius(W, 0.0)


def test_lyapunov_exponent_sign_and_value():
    u = np.random.default_rng(0).uniform(-0.5, 0.5, size=(600, 1))
    stable = rr.Reservoir(100, spectral_radius=0.5, seed=0)
    assert rr.reservoir.lyapunov_exponent(stable, u) < -0.3
    chaotic = rr.Reservoir(100, spectral_radius=3.0, seed=0)
    assert rr.reservoir.lyapunov_exponent(chaotic, np.zeros((600, 1)) + 0.01) > 0.05
    # A linear reservoir's exponent is log(spectral radius) of its update matrix.
    lin = rr.Reservoir(60, spectral_radius=0.8, activation="identity", seed=1)
    lam = rr.reservoir.lyapunov_exponent(lin, np.zeros((3000, 1)), warmup=500)
    lin.initialize(1)
    assert lam == pytest.approx(np.log(_rho(lin.W)), abs=0.02)


def test_memory_capacity_grows_with_units_and_is_bounded():
    small = rr.reservoir.memory_capacity(rr.ESN(units=10, spectral_radius=0.9, leak_rate=1.0, ridge=1e-6), 20, seed=0)
    big = rr.reservoir.memory_capacity(rr.ESN(units=60, spectral_radius=0.9, leak_rate=1.0, ridge=1e-6), 20, seed=0)
    mcs = rr.reservoir.memory_capacity(rr.ESN(units=60, spectral_radius=0.9, leak_rate=1.0, ridge=1e-6), 20,
                                       as_list=True, seed=0)  # fmt: skip
    assert 1.0 < small < big <= 20 and mcs.shape == (20,) and mcs[0] > 0.9 and np.sum(mcs) == pytest.approx(big)


# --------------------------------------------------------------------------- data sets


def test_odes_match_their_equations_by_finite_differences():
    d = rr.datasets
    cases = [
        (d.rossler(400, h=0.01), lambda x, y, z: [-y - z, x + 0.2 * y, 0.2 + z * (x - 5.7)], 0.01),
        (d.multiscroll(400, h=0.001), lambda x, y, z: [40 * (y - x), -12 * x - x * z + 28 * y, x * y - 3 * z], 0.001),
        (d.rabinovich_fabrikant(400, h=0.005),
         lambda x, y, z: [y * (z - 1 + x * x) + 0.89 * x, x * (3 * z + 1 - x * x) + 0.89 * y, -2 * z * (1.1 + x * y)],
         0.005),
        (d.doublescroll(400, h=0.02), None, 0.02),
    ]  # fmt: skip
    for series, rhs, h in cases:
        assert np.all(np.isfinite(series))
        if rhs is None:
            v1, v2, i = series[1:-1].T
            dv = v1 - v2
            fac = dv / 3.44 + 4.5e-5 * np.sinh(11.6 * dv)
            want = np.stack([v1 / 1.2 - fac, fac - i, v2 - 0.193 * i], axis=1)
        else:
            want = np.array([rhs(*row) for row in series[1:-1]])
        got = (series[2:] - series[:-2]) / (2 * h)
        np.testing.assert_allclose(got, want, atol=1e-3 * np.abs(want).max())


def test_lorenz96_kuramoto_sivashinsky_and_mso():
    d = rr.datasets
    l96 = d.lorenz96(300, warmup=100, N=8, h=0.002)
    assert l96.shape == (300, 8)
    x = l96[1:-1]
    want = (np.roll(x, -1, axis=1) - np.roll(x, 2, axis=1)) * np.roll(x, 1, axis=1) - x + 8.0
    np.testing.assert_allclose((l96[2:] - l96[:-2]) / 0.004, want, atol=2e-2)
    ks = d.kuramoto_sivashinsky(200, warmup=50, N=64, M=8)
    assert ks.shape == (150, 64) and np.all(np.isfinite(ks)) and np.abs(ks).max() < 10
    assert np.abs(ks.mean(axis=1) - ks.mean(axis=1)[0]).max() < 1e-8  # the mean is conserved
    t = np.arange(50)
    np.testing.assert_allclose(d.mso(50, [0.2, 0.311], normalize=False)[:, 0], np.sin(0.2 * t) + np.sin(0.311 * t))
    m8 = d.mso8(500)
    assert m8.min() == -1 and m8.max() == 1 and m8.shape == (500, 1)
    with pytest.raises(ValueError, match="n_timesteps"):
        d.rossler(0)
    with pytest.raises(ValueError, match="x0"):
        d.rossler(10, x0=[1, 2])
    with pytest.raises(ValueError, match="N"):
        d.lorenz96(10, N=3)
