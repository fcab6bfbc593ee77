"""Streaming ridge, RLS and LMS against the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import esn as ref


@settings(max_examples=20, deadline=None)
@given(
    extra=st.integers(0, 150),
    f=st.integers(1, 12),
    o=st.integers(1, 3),
    alpha=st.sampled_from([1e-8, 1e-3, 1.0]),
    fit_intercept=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_ridge_equals_dense_solve(extra, f, o, alpha, fit_intercept, seed):
    # Over-determined (n >= 2 f + 2): well-conditioned, so both solvers are
    # accurate to ~1e-14 and 1e-10 is a real test of the statistics.
    n = 2 * f + 2 + extra
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f)) + rng.normal(size=f)
    Y = X @ rng.normal(size=(f, o)) + 0.1 * rng.normal(size=(n, o)) + 2.0
    r = rr.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y)
    W, b = ref.ridge(X, Y, alpha, fit_intercept)
    scale = max(1.0, np.abs(W).max())
    np.testing.assert_allclose(r.coef_, W, atol=1e-10 * scale, rtol=0)
    np.testing.assert_allclose(r.intercept_, b, atol=1e-10 * max(1.0, np.abs(b).max()), rtol=0)


def test_partial_fit_chunks_and_merge_equal_one_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = X @ rng.normal(size=20) + 0.5
    full = rr.Ridge(alpha=1e-3).fit(X, y)
    chunked = rr.Ridge(alpha=1e-3)
    for part in np.array_split(np.arange(3000), 7):
        chunked.partial_fit(X[part], y[part])
    chunked.solve()
    a, b = rr.Ridge(alpha=1e-3), rr.Ridge(alpha=1e-3)
    a.partial_fit(X[:1000], y[:1000])
    b.partial_fit(X[1000:], y[1000:])
    merged = a.merge(b).solve()
    for r in (chunked, merged):
        np.testing.assert_allclose(r.coef_, full.coef_, atol=1e-10)
        np.testing.assert_allclose(r.intercept_, full.intercept_, atol=1e-10)
    assert full.predict(X[:5]).shape == (5,)
    assert merged.n_samples_ == 3000


def test_float32_input_accumulates_in_float64():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 6)).astype(np.float32)
    y = (X @ np.arange(6, dtype=np.float32)).astype(np.float32)
    r = rr.Ridge(alpha=1e-6).fit(X, y)
    W, _ = ref.ridge(X.astype(np.float64), y.astype(np.float64), 1e-6)
    np.testing.assert_allclose(r.coef_[:, 0], W[:, 0], atol=1e-9)
    assert r.cov_xx_.dtype == np.float64


def test_ridge_errors():
    X = np.ones((10, 2))  # collinear columns, constant
    with pytest.raises(RuntimeError, match="alpha"):
        rr.Ridge(alpha=0.0, fit_intercept=False).fit(X, np.ones(10))
    with pytest.raises(ValueError, match="partial_fit"):
        rr.Ridge().solve()
    with pytest.raises(ValueError, match="rows"):
        rr.Ridge().fit(np.ones((10, 2)), np.ones(9))
    with pytest.raises(ValueError, match="NaN"):
        rr.Ridge().fit(np.full((3, 2), np.nan), np.ones(3))
    with pytest.raises(ValueError, match="alpha"):
        rr.Ridge(alpha=-1.0)
    a = rr.Ridge().partial_fit(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="statistics"):
        a.merge(rr.Ridge().partial_fit(np.ones((3, 4)), np.ones(3)))
    with pytest.raises(TypeError):
        a.merge("nope")


def test_rls_matches_reference_and_forgetting():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 6))
    Y = X @ rng.normal(size=(6, 2))
    m = rr.RLS(alpha=1e-2, forgetting=0.99, fit_intercept=False).partial_fit(X, Y)
    W, P = ref.rls(X, Y, alpha=1e-2, forgetting=0.99)
    np.testing.assert_allclose(m.coef_, W, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(m.P_, P, rtol=1e-8, atol=1e-10)
    # Two calls equal one call over the concatenation.
    m2 = rr.RLS(alpha=1e-2, forgetting=0.99, fit_intercept=False)
    m2.partial_fit(X[:77], Y[:77]).partial_fit(X[77:], Y[77:])
    np.testing.assert_allclose(m2.coef_, m.coef_, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="forgetting"):
        rr.RLS(forgetting=1.5)


def test_rls_with_intercept_learns_an_affine_map():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    m = rr.RLS(alpha=1e-4).partial_fit(X, y)
    np.testing.assert_allclose(m.coef_[:, 0], [1.0, -2.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(m.intercept_, [3.0], atol=1e-6)
    np.testing.assert_allclose(m.predict(X[:3]), y[:3], atol=1e-5)


def test_lms_matches_reference():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4))
    Y = X @ rng.normal(size=(4, 1))
    m = rr.LMS(learning_rate=0.01, fit_intercept=False).partial_fit(X, Y)
    np.testing.assert_allclose(m.coef_, ref.lms(X, Y, 0.01), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="learning_rate"):
        rr.LMS(learning_rate=0.0)
    with pytest.raises(RuntimeError, match="diverged"):
        rr.LMS(learning_rate=10.0).partial_fit(X * 100, Y * 100)


def test_esn_with_online_readout_state_inputs():
    s = rr.datasets.mackey_glass(600, seed=1)
    res = rr.Reservoir(100, spectral_radius=1.25, leak_rate=0.3, seed=0)
    states = res.run(s[:-1])
    rls = rr.RLS(alpha=1e-6).partial_fit(states[50:], s[51:])
    err = rr.metrics.nrmse(s[451:], rls.predict(states[450:]))
    assert err < 0.02
