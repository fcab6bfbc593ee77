"""DeepESN (deep and grouped reservoirs) and ES2N against the reference."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr
from rnnrs.reference import esn as ref
from rnnrs.reference import reservoir_features as ref_features


def _data(n=3, steps=60, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.uniform(-1, 1, size=(steps, 2)) for _ in range(n)]
    y = [np.stack([np.roll(x[:, 0], 1), np.roll(x[:, 1], 2)], axis=1) for x in X]
    return X, y


@pytest.mark.parametrize("mode", ["deep", "grouped"])
def test_deep_esn_states_are_the_layers_stacked_as_the_reference(mode):
    X, y = _data()
    est = rr.DeepESN(units=[12, 8, 10], layers=3, mode=mode, spectral_radius=[0.9, 0.8, 0.7], leak_rate=0.6,
                     input_connectivity=1.0, inter_connectivity=0.5, bias_scaling=0.2, seed=3).fit(X, y)  # fmt: skip
    got = est.run_reservoir(X[0])
    parts, drive = [], X[0]
    for res in est.reservoirs_:
        st = ref.reservoir_run(res.W, res.Win, res.bias, res.leak, drive if mode == "deep" else X[0])
        parts.append(st)
        drive = st
    np.testing.assert_allclose(got, np.hstack(parts), rtol=1e-10, atol=1e-12)
    assert got.shape == (60, 30) and est.coef_.shape == (30, 2)
    W, b = ref.ridge(np.vstack([est.run_reservoir(x) for x in X]), np.vstack(y), est.ridge)
    np.testing.assert_allclose(est.coef_, W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(est.predict(X[0]), got @ W + b, rtol=1e-6, atol=1e-8)


def test_deep_esn_learns_and_is_seeded():
    X, y = _data(6, 200)
    a = rr.DeepESN(units=40, layers=2, input_connectivity=1.0, seed=1).fit(X[:4], y[:4], warmup=20)
    b = rr.DeepESN(units=40, layers=2, input_connectivity=1.0, seed=1).fit(X[:4], y[:4], warmup=20)
    np.testing.assert_array_equal(a.predict(X[4]), b.predict(X[4]))
    assert a.score(X[4:], y[4:]) > 0.9
    with pytest.raises(ValueError, match="mode"):
        rr.DeepESN(mode="wide").fit(X, y)
    with pytest.raises(ValueError, match="one per layer"):
        rr.DeepESN(units=[10, 10], layers=3).fit(X, y)
    with pytest.raises(rr.reservoir.NotFittedError):
        rr.DeepESN().predict(X)


def test_es2n_matches_the_reference_and_reduces_to_a_leak_one_esn():
    es = rr.ES2N(30, proximity=0.3, spectral_radius=0.9, input_connectivity=1.0, bias_scaling=0.1, seed=2)
    u = np.random.default_rng(0).normal(size=(40, 2))
    states = es.run(u)
    np.testing.assert_allclose(states, ref_features.es2n_run(es.W, es.Win, es.O, es.bias, 0.3, u), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(es.O.T @ es.O, np.eye(30), atol=1e-12)
    full = rr.ES2N(30, proximity=1.0, spectral_radius=0.9, input_connectivity=1.0, seed=2)
    res = rr.Reservoir(30, spectral_radius=0.9, input_connectivity=1.0, seed=2)
    np.testing.assert_allclose(full.run(u), res.run(u), rtol=1e-12, atol=1e-14)
    batch = es.run(np.stack([u, u[::-1]]))
    np.testing.assert_allclose(batch[0], states)
    with pytest.raises(ValueError, match="proximity"):
        rr.ES2N(10, proximity=0.0)
    with pytest.raises(ValueError, match="features per step"):
        es.run(np.zeros((3, 5)))


def test_es2n_small_proximity_remembers_longer():
    """Memory: the edge-of-stability network recalls a 40-step-old input better than a plain ESN."""
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, size=(2000, 1))
    target = np.roll(u[:, 0], 40)
    scores = {}
    for beta in (1.0, 0.1):
        st = rr.ES2N(100, proximity=beta, spectral_radius=0.9, input_scaling=0.5, seed=0).run(u)
        r = rr.Ridge(alpha=1e-6).fit(st[100:1500], target[100:1500])
        scores[beta] = np.corrcoef(r.predict(st[1500:]), target[1500:])[0, 1] ** 2
    assert scores[0.1] > scores[1.0] + 0.1 and scores[0.1] > 0.8


def _ip_reference(W, Win, bias, u_seqs, lr, mu, sigma, eta, epochs):
    """Intrinsic plasticity, one line per equation (Schrauwen et al. 2008, tanh units)."""
    a, b = np.ones(len(W)), np.zeros(len(W))
    s, y = np.zeros(len(W)), np.zeros(len(W))
    for _ in range(epochs):
        for u in u_seqs:
            for ut in u:
                s = (1 - lr) * s + lr * (W @ y + Win @ ut + bias)
                y = np.tanh(a * s + b)
                db = mu / sigma**2 - (y / sigma**2) * (2 * sigma**2 + 1 - y**2 + mu * y)
                a = a + eta * (1 / a + db * s)
                b = b + eta * db
    return a, b


def test_ip_reservoir_matches_the_reference_and_moves_towards_the_target():
    ip = rr.IPReservoir(40, spectral_radius=0.9, leak_rate=0.5, mu=0.0, sigma=0.3, learning_rate=1e-2, epochs=2,
                        input_connectivity=1.0, seed=0)  # fmt: skip
    X = [np.random.default_rng(k).uniform(-1, 1, size=(150, 1)) for k in range(2)]
    ip.initialize(1)
    a, b = _ip_reference(ip.W, ip.Win, ip.bias, X, 0.5, 0.0, 0.3, 1e-2, 2)
    before = np.std(ip.run(X[0]))
    ip.fit(X)
    np.testing.assert_allclose(ip.a, a, rtol=1e-10)
    np.testing.assert_allclose(ip.b, b, rtol=1e-10, atol=1e-12)
    after = np.std(ip.run(X[0]))
    assert abs(after - 0.3) < abs(before - 0.3)  # outputs closer to the target N(0, 0.3²)
    with pytest.raises(ValueError, match="tanh"):
        rr.IPReservoir(10, activation="relu")
    with pytest.raises(ValueError, match="mu"):
        rr.IPReservoir(10, activation="sigmoid", mu=0.0)


def _plastic_reference(W, Win, bias, u_seqs, rule, eta, theta, lr, normalise):
    """Local plasticity, one line per equation; pre = s_j[t], post = s_i[t+1] on W's nonzeros."""
    W = W.copy()
    mask = W != 0
    for u in u_seqs:
        s, x = np.zeros(len(W)), np.zeros(len(W))
        for ut in u:
            s_next = (1 - lr) * x + lr * (W @ x + Win @ ut + bias)
            post, pre = s_next[:, None], s[None, :]
            inc = {"hebbian": eta * post * pre, "anti-hebbian": -eta * post * pre,
                   "oja": eta * post * (pre - post * W), "anti-oja": -eta * post * (pre - post * W),
                   "bcm": eta * post * (post - theta) * pre}[rule]  # fmt: skip
            W = W + np.where(mask, inc, 0.0)
            if normalise:
                W = W / np.linalg.norm(W, axis=1, keepdims=True)
            s, x = s_next, np.tanh(s_next)
    return W


@pytest.mark.parametrize("rule", ["oja", "anti-oja", "hebbian", "anti-hebbian", "bcm"])
@pytest.mark.parametrize("normalise", [False, True])
def test_local_plasticity_matches_the_reference(rule, normalise):
    eta = 1e-2 if normalise else 1e-3
    res = rr.LocalPlasticityReservoir(25, local_rule=rule, eta=eta, bcm_theta=0.1, synapse_normalization=normalise,
                                      leak_rate=0.6, input_connectivity=1.0, connectivity=0.3, seed=1)  # fmt: skip
    X = [np.random.default_rng(k).uniform(-1, 1, size=(30, 2)) for k in range(2)]
    res.initialize(2)
    want = _plastic_reference(res.W, res.Win, res.bias, X, rule, eta, 0.1, 0.6, normalise)
    res.fit(X)
    np.testing.assert_allclose(res.W, want, rtol=1e-10, atol=1e-13)
    if normalise:
        np.testing.assert_allclose(np.linalg.norm(res.W, axis=1), 1.0)
    assert res.run(X[0]).shape == (30, 25)
    with pytest.raises(ValueError, match="local_rule"):
        rr.LocalPlasticityReservoir(5, local_rule="stdp")
