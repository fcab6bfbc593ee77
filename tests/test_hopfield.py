"""Classical and modern Hopfield networks: against rnnrs.reference.memory, finite differences, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs as rr
from rnnrs.reference import memory as ref
from rnnrs.reference.gradcheck import numerical_grad


def pm1(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 40), p=st.integers(1, 8), seed=st.integers(0, 2**32))
def test_learning_rules_match_reference(n, p, seed):
    rng = np.random.default_rng(seed)
    xi = pm1(rng, (p, n))
    heb = rr.hopfield.Hopfield(n).store(xi)
    np.testing.assert_allclose(heb.weights, ref.hebbian(np.zeros((n, n), np.float32), xi), atol=1e-7)
    sto = rr.hopfield.Hopfield(n, rule="storkey").store(xi[: p // 2 + 1]).store(xi[p // 2 + 1 :])
    np.testing.assert_allclose(sto.weights, ref.storkey(np.zeros((n, n), np.float32), xi), atol=2e-6)
    assert np.allclose(sto.weights, sto.weights.T, atol=1e-6)
    s = pm1(rng, (3, n))
    np.testing.assert_allclose(sto.energy(s), [ref.energy(sto.weights, r) for r in s], rtol=1e-12, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 30), p=st.integers(1, 6), seed=st.integers(0, 2**63), mode=st.sampled_from(["sync", "async"]))
def test_dynamics_match_reference(n, p, seed, mode):
    rng = np.random.default_rng(seed % 2**32)
    net = rr.hopfield.Hopfield(n).store(pm1(rng, (p, n)))
    states = pm1(rng, (3, n))
    out, conv = net.update(states, mode=mode, max_steps=20, seed=seed)
    for r in range(3):
        s, c, k = ref.run(net.weights, states[r], mode, 20, (seed + r) % 2**64)
        np.testing.assert_array_equal(out[r], s)
        assert conv[r] == c and net.last_steps[r] == k


def test_async_reaches_fixed_point_and_lowers_energy():
    rng = np.random.default_rng(1)
    n = 120
    net = rr.hopfield.Hopfield(n, rule="storkey").store(pm1(rng, (15, n)))
    s0 = pm1(rng, n)
    s, conv = net.update(s0, mode="async", max_steps=200, seed=5)
    assert conv and s.dtype == np.int8 and s.shape == (n,)
    assert net.energy(s) <= net.energy(s0)
    again, _ = net.update(s, mode="sync", max_steps=1)
    np.testing.assert_array_equal(again, s)  # a fixed point of the dynamics
    # Same seed, same result; 1 and 2 threads agree.
    rr.set_num_threads(1)
    s1, _ = net.update(np.stack([s0, -s0]), seed=5)
    rr.set_num_threads(2)
    s2, _ = net.update(np.stack([s0, -s0]), seed=5)
    rr.set_num_threads(0)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(s1[0], s)


def test_recall_and_storkey_capacity():
    rng = np.random.default_rng(2)
    n = 200
    few = pm1(rng, (10, n))  # load 0.05: Hebbian recalls from 10% noise
    net = rr.hopfield.Hopfield(n).store(few)
    noisy = few.copy()
    noisy[:, :20] *= -1
    out, conv = net.update(noisy, mode="async", seed=0)
    assert conv.all() and (out == few).all()
    many = pm1(rng, (40, n))  # load 0.2: above Hebbian capacity, within Storkey's
    stable = {}
    for rule in ("hebbian", "storkey"):
        net = rr.hopfield.Hopfield(n, rule=rule).store(many)
        out, _ = net.update(many, mode="sync", max_steps=1)
        stable[rule] = (out == many).all(axis=1).mean()
    assert stable["storkey"] > stable["hebbian"] + 0.3, stable


def test_classical_errors():
    with pytest.raises(ValueError, match="n_units"):
        rr.hopfield.Hopfield(0)
    with pytest.raises(ValueError, match="rule"):
        rr.hopfield.Hopfield(4, rule="oja")
    net = rr.hopfield.Hopfield(4)
    with pytest.raises(ValueError, match=r"patterns: expected binary"):
        net.store(np.array([[1, 0, -1, 1]]))
    with pytest.raises(ValueError, match=r"patterns: expected shape"):
        net.store(np.ones((2, 5)))
    with pytest.raises(TypeError, match="patterns"):
        net.store(np.ones((1, 4), dtype=bool))
    with pytest.raises(ValueError, match="states"):
        net.update(np.array([1, 1, 2, 1]))
    with pytest.raises(ValueError, match="mode"):
        net.update(np.ones(4), mode="parallel")
    with pytest.raises(ValueError, match="max_steps"):
        net.update(np.ones(4), max_steps=0)


def test_modern_matches_reference_and_finite_differences():
    rng = np.random.default_rng(3)
    q, x, w = rng.normal(size=(3, 5)), rng.normal(size=(7, 5)), rng.normal(size=(3, 5))
    layer = rr.hopfield.ModernHopfield(x, beta=2.0)
    y = layer.forward(q)
    np.testing.assert_allclose(y, ref.modern_forward(q, x, 2.0), rtol=1e-12, atol=1e-12)
    dq = layer.backward(w)
    rdq, rdx, rdb = ref.modern_backward(q, x, 2.0, w)
    np.testing.assert_allclose(dq, rdq, atol=1e-12)
    np.testing.assert_allclose(layer.grads["patterns"], rdx, atol=1e-12)
    assert abs(layer.grad_beta - rdb) < 1e-12
    nq, nx = numerical_grad(lambda a, b: (rr.hopfield.modern_retrieve(a, b, 2.0) * w).sum(), [q, x])
    np.testing.assert_allclose(dq, nq, atol=1e-7)
    np.testing.assert_allclose(layer.grads["patterns"], nx, atol=1e-7)
    # float32 follows float64.
    y32 = rr.hopfield.modern_retrieve(q.astype(np.float32), x.astype(np.float32), 2.0)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y, atol=1e-5)


def test_modern_retrieves_many_patterns_in_one_step():
    rng = np.random.default_rng(4)
    d, p = 64, 500  # far beyond the classical 0.138 d
    x = np.where(rng.random((p, d)) < 0.5, -1.0, 1.0)
    noisy = x.copy()
    noisy[:, :6] *= -1
    out = rr.hopfield.modern_retrieve(noisy, x, beta=1.0)
    assert (np.sign(out) == x).all(axis=1).mean() > 0.99


def test_modern_errors():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="query"):
        rr.hopfield.modern_retrieve(np.zeros((2, 5)), x)
    with pytest.raises(TypeError, match="query"):
        rr.hopfield.modern_retrieve(np.zeros((2, 4), np.float32), x)
    with pytest.raises(ValueError, match="beta"):
        rr.hopfield.modern_retrieve(np.zeros((2, 4)), x, beta=float("nan"))
    with pytest.raises(RuntimeError, match="forward"):
        rr.hopfield.ModernHopfield(x).backward(np.zeros((1, 4)))
