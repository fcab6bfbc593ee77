"""Agreement with ReservoirPy 0.4 (same weights, same outputs to 1e-10 in float64). Skips when
ReservoirPy is not installed (it is never a dependency: run these in a throwaway venv that has
both, e.g. /tmp/rpyvenv)."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr

rpy = pytest.importorskip("reservoirpy")
from reservoirpy import datasets as rpy_datasets  # noqa: E402
from reservoirpy import nodes as rpy_nodes  # noqa: E402


def test_reservoir_with_reservoirpy_weights_gives_the_same_states():
    node = rpy_nodes.Reservoir(60, sr=0.9, lr=0.4, input_scaling=0.5, bias=rpy.mat_gen.bernoulli, seed=3)
    u = np.random.default_rng(0).normal(size=(40, 2))
    want = node.run(u)
    W = node.W.toarray() if hasattr(node.W, "toarray") else np.asarray(node.W)
    Win = node.Win.toarray() if hasattr(node.Win, "toarray") else np.asarray(node.Win)
    bias = np.asarray(node.bias.toarray() if hasattr(node.bias, "toarray") else node.bias).reshape(-1)
    ours = rr.Reservoir.from_weights(W, Win, bias, leak_rate=0.4).run(u)
    np.testing.assert_allclose(ours, want, rtol=1e-10, atol=1e-10)


def test_nvar_gives_the_same_features():
    u = np.random.default_rng(1).normal(size=(30, 3))
    for delay, order, strides in [(2, 2, 1), (3, 3, 2), (1, 2, 1)]:
        want = rpy_nodes.NVAR(delay, order, strides).run(u)
        np.testing.assert_allclose(rr.NVAR(delay, order, strides).run(u), want, rtol=1e-10, atol=1e-12)


def test_kuramoto_sivashinsky_and_mso_equal_reservoirpy():
    np.testing.assert_allclose(rr.datasets.kuramoto_sivashinsky(120, warmup=20, N=64, M=8),
                               rpy_datasets.kuramoto_sivashinsky(120, warmup=20, N=64, M=8), rtol=1e-10, atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(rr.datasets.mso8(300), rpy_datasets.mso8(300), rtol=1e-12, atol=1e-12)


def test_odes_agree_with_a_tight_solve_ivp_run_of_reservoirpy():
    n = 200
    for ours, theirs, h in [
        (rr.datasets.rossler, rpy_datasets.rossler, 0.1),
        (rr.datasets.multiscroll, rpy_datasets.multiscroll, 0.01),
        (rr.datasets.rabinovich_fabrikant, rpy_datasets.rabinovich_fabrikant, 0.05),
        (rr.datasets.doublescroll, rpy_datasets.doublescroll, 0.25),
    ]:
        # ReservoirPy samples linspace(0, n h, n): pass the h that gives a spacing of exactly h.
        want = theirs(n, h=h * (n - 1) / n, rtol=1e-11, atol=1e-12, method="DOP853")
        got = ours(n, h=h, substeps=20)
        np.testing.assert_allclose(got[:60], want[:60], rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_effective_spectral_radius_and_memory_capacity_agree():
    W = rpy.mat_gen.normal(50, 50, connectivity=0.2, seed=0)
    W = W.toarray() if hasattr(W, "toarray") else W
    from reservoirpy.observables import effective_spectral_radius

    assert rr.reservoir.effective_spectral_radius(W, 0.3) == pytest.approx(effective_spectral_radius(W, lr=0.3), rel=1e-8)


def test_es2n_with_reservoirpy_weights_gives_the_same_states():
    node = rpy_nodes.ES2N(40, proximity=0.2, sr=0.9, input_scaling=0.7, bias=rpy.mat_gen.bernoulli, seed=5)
    u = np.random.default_rng(2).normal(size=(30, 3))
    want = node.run(u)

    def dense(a):
        return np.asarray(a.toarray() if hasattr(a, "toarray") else a)

    ours = rr.ES2N.from_weights(dense(node.W), dense(node.Win), dense(node.O), dense(node.bias).reshape(-1), 0.2)
    np.testing.assert_allclose(ours.run(u), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("activation, mu", [("tanh", 0.1), ("sigmoid", 0.2)])
def test_ip_reservoir_learns_the_same_gains_and_outputs(activation, mu):
    node = rpy_nodes.IPReservoir(30, sr=0.9, lr=0.7, mu=mu, sigma=0.5, learning_rate=5e-3, epochs=2,
                                 input_connectivity=1.0, activation=activation, seed=1)  # fmt: skip
    X = [np.random.default_rng(k).uniform(-1, 1, size=(60, 2)) for k in range(2)]
    node.fit(X)

    def dense(a):
        return np.asarray(a.toarray() if hasattr(a, "toarray") else a)

    ours = rr.IPReservoir.from_weights(dense(node.W), dense(node.Win), dense(node.bias).reshape(-1), leak_rate=0.7,
                                       mu=mu, sigma=0.5, learning_rate=5e-3, epochs=2, activation=activation)  # fmt: skip
    ours.fit(X)
    np.testing.assert_allclose(ours.a, node.a, rtol=1e-10)
    np.testing.assert_allclose(ours.b, node.b, rtol=1e-10, atol=1e-12)
    node.reset()
    np.testing.assert_allclose(ours.run(X[0]), node.run(X[0]), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rule", ["oja", "anti-oja", "hebbian", "anti-hebbian", "bcm"])
def test_local_plasticity_agrees_on_one_step_sequences(rule):
    """ReservoirPy 0.4.2 keeps the initial state during fit (pre = 0 at every step); on one-step
    sequences, each from the zero state, both libraries apply the same updates."""
    node = rpy_nodes.LocalPlasticityReservoir(20, local_rule=rule, eta=5e-2, bcm_theta=0.2, synapse_normalization=True,
                                              lr=0.8, input_connectivity=1.0, seed=2)  # fmt: skip
    X = [np.random.default_rng(k).uniform(-1, 1, size=(1, 2)) for k in range(5)]
    node.initialize(X[0])

    def dense(a):
        return np.array(a.toarray() if hasattr(a, "toarray") else a)

    W0, Win, bias = dense(node.W), dense(node.Win), dense(node.bias).reshape(-1)
    node.fit(X)
    ours = rr.LocalPlasticityReservoir.from_weights(W0, Win, bias, local_rule=rule, eta=5e-2, bcm_theta=0.2,
                                                    synapse_normalization=True, leak_rate=0.8).fit(X)  # fmt: skip
    np.testing.assert_allclose(ours.W, dense(node.W), rtol=1e-10, atol=1e-12)
