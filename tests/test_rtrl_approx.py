"""Approximate RTRL (SnAp-1, UORO) and the element-wise cells (IndRNN, DiagRNN)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs import rtrl
from rnnrs.reference import rtrl as ref_rtrl

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


def flat(cell, grads):
    return np.concatenate([np.asarray(grads[k]).ravel() for k in cell.names])


def diagonal_cell(mode, i, h, seed):
    """A cell whose W_hh gate blocks are diagonal: every J_t is unit-diagonal."""
    cell = rtrl.Cell(mode, i, h, seed=seed)
    w = cell.params["weight_hh_l0"]
    for g in range(w.shape[0] // h):
        w[g * h:(g + 1) * h] *= np.eye(h)
    return cell


@settings(max_examples=15, deadline=None)
@given(mode=st.sampled_from(MODES), i=st.integers(1, 4), h=st.integers(1, 6), t=st.integers(1, 6),
       b=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_snap1_equals_exact_on_diagonal_recurrence(mode, i, h, t, b, seed):
    cell = diagonal_cell(mode, i, h, seed)
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal((t, b, i)), rng.standard_normal((t, b, h))
    exact, _, _ = rtrl.gradient(cell, x, dy, method="exact")
    snap, _, _ = rtrl.gradient(cell, x, dy, method="snap1")
    e, s = flat(cell, exact), flat(cell, snap)
    assert np.abs(e - s).max() <= 1e-12 * max(np.abs(e).max(), 1e-300)


@pytest.mark.parametrize("mode", MODES)
def test_snap1_matches_reference_and_differs_from_exact_on_dense_recurrence(mode):
    cell = rtrl.Cell(mode, 3, 4, seed=1)
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, 4))
    snap, _, _ = rtrl.gradient(cell, x, dy, method="snap1")
    g_ref, _ = ref_rtrl.rtrl_gradient(mode, x, dy, cell.params, method="snap1")
    np.testing.assert_allclose(flat(cell, snap), g_ref, rtol=1e-12, atol=1e-12)
    exact, _, _ = rtrl.gradient(cell, x, dy, method="exact")
    assert np.abs(flat(cell, exact) - flat(cell, snap)).max() > 1e-3


def _uoro_samples(sample, k):
    return np.stack([sample(s) for s in range(k)])


def _z_scores(samples, target):
    """(mean - target) / (std / sqrt(K)), per component."""
    k = samples.shape[0]
    mean, sd = samples.mean(0), samples.std(0, ddof=1)
    return (mean - target) / np.maximum(sd / np.sqrt(k), 1e-300)


@pytest.mark.parametrize("mode", ["GRU", "LSTM"])
def test_uoro_mean_converges_to_exact(mode):
    """UORO is unbiased: over K independent seeds, the mean estimate's error is
    within the standard error std/sqrt(K). Tolerance: every component within
    5 standard errors (for P ~ 100 roughly normal z-scores, a correct estimator
    fails with probability ~1e-4; the seeds are fixed, so the run is
    deterministic). The same statistic must reject a target off by 10%,
    so the test has the power to catch a biased estimator."""
    cell = rtrl.Cell(mode, 2, 3, seed=4)
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((4, 1, 2)), rng.standard_normal((4, 1, 3))
    exact = flat(cell, rtrl.gradient(cell, x, dy, method="exact")[0])
    samples = _uoro_samples(lambda s: flat(cell, rtrl.gradient(cell, x, dy, method="uoro", seed=s)[0]), 3000)
    z = _z_scores(samples, exact)
    assert np.abs(z).max() < 5.0, np.abs(z).max()
    assert np.mean(z**2) < 2.0
    z_wrong = _z_scores(samples, 1.1 * exact)
    assert np.abs(z_wrong).max() > 5.0
    # The estimate really is random (not exact by construction), and seeded.
    assert samples.std(0).max() > 1e-3
    np.testing.assert_array_equal(samples[7], flat(cell, rtrl.gradient(cell, x, dy, method="uoro", seed=7)[0]))


def test_reference_uoro_is_unbiased():
    cell = rtrl.Cell("RNN_TANH", 2, 3, seed=6)
    rng = np.random.default_rng(7)
    x, dy = rng.standard_normal((3, 1, 2)), rng.standard_normal((3, 1, 3))
    exact = flat(cell, rtrl.gradient(cell, x, dy, method="exact")[0])

    def sample(s):
        return ref_rtrl.rtrl_gradient("RNN_TANH", x, dy, cell.params, method="uoro",
                                      rng=np.random.default_rng(s))[0]

    samples = _uoro_samples(sample, 2000)
    assert np.abs(_z_scores(samples, exact)).max() < 5.0
    assert np.abs(_z_scores(samples, 1.1 * exact)).max() > 5.0


ELEM = [("INDRNN_TANH", "indrnn_tanh"), ("INDRNN_RELU", "indrnn_relu"), ("DIAG", "diag")]


def make_elem(core_name, i, h, seed):
    if core_name == "DIAG":
        return rtrl.DiagRNN(i, h, seed=seed)
    return rtrl.IndRNN(i, h, nonlinearity="tanh" if core_name == "INDRNN_TANH" else "relu", seed=seed)


@settings(max_examples=15, deadline=None)
@given(which=st.sampled_from(ELEM), i=st.integers(1, 4), h=st.integers(1, 6), t=st.integers(1, 7),
       b=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_elementwise_cells_forward_bptt_rtrl_match_reference(which, i, h, t, b, seed):
    core_name, ref_name = which
    cell = make_elem(core_name, i, h, seed)
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal((t, b, i)), rng.standard_normal((t, b, h))
    h0, dh_n = rng.standard_normal((b, h)), rng.standard_normal((b, h))
    theta = cell.flat()
    y, _h_n = cell.forward(x, h0, train=True)
    np.testing.assert_allclose(y, ref_rtrl.elem_forward(ref_name, theta, x, h0), rtol=1e-12, atol=1e-12)
    dx, dh0 = cell.backward(dy, dh_n)
    rdx, rdh0, rg = ref_rtrl.elem_bptt(ref_name, theta, x, dy, h0, dh_n)
    np.testing.assert_allclose(dx, rdx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh0, rdh0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(flat(cell, cell.grads), rg, rtol=1e-10, atol=1e-12)
    # Exact O(P) RTRL (Rust, and the reference) equals BPTT without dh_n.
    _, _, g_bptt = ref_rtrl.elem_bptt(ref_name, theta, x, dy, h0)
    g, y2, _ = rtrl.gradient(cell, x, dy, h0=h0, method="diag")
    scale = max(np.abs(g_bptt).max(), 1e-300)
    assert np.abs(flat(cell, g) - g_bptt).max() <= 1e-10 * scale
    g_ref, _ = ref_rtrl.elem_rtrl(ref_name, theta, x, dy, h0)
    assert np.abs(g_ref - g_bptt).max() <= 1e-10 * scale
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("which", ELEM)
def test_elementwise_bptt_matches_finite_differences(which):
    core_name, _ = which
    cell = make_elem(core_name, 2, 3, 3)
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((5, 2, 2)), rng.standard_normal((5, 2, 3))
    cell.forward(x, train=True)
    cell.backward(dy)
    for name, p in cell.params.items():
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + 1e-6
            lp = float((cell(x)[0] * dy).sum())
            p[idx] = old - 1e-6
            lm = float((cell(x)[0] * dy).sum())
            p[idx] = old
            fd = (lp - lm) / 2e-6
            assert abs(fd - cell.grads[name][idx]) < 1e-6 * (1 + abs(fd)), (name, idx)


def test_elementwise_online_rtrl_matches_sequence_and_float32():
    cell = rtrl.DiagRNN(3, 5, seed=2)
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, 5))
    whole, y, _ = rtrl.gradient(cell, x, dy)
    r = rtrl.RTRL(cell, "diag", batch=2)
    for t in range(6):
        h_t, _ = r.step(x[t], dy[t])
        np.testing.assert_allclose(h_t, y[t], atol=1e-14)
    np.testing.assert_allclose(flat(cell, r.grads), flat(cell, whole), rtol=1e-12, atol=1e-14)
    c32 = rtrl.DiagRNN(3, 5, dtype=np.float32, seed=2)
    g32, y32, _ = rtrl.gradient(c32, x, dy)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(flat(c32, g32), flat(cell, whole), rtol=1e-4, atol=1e-4)


def test_elementwise_forward_without_train_warns_and_infers():
    from rnnrs.rtrl import IndRNN
    cell = IndRNN(3, 4, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    with pytest.warns(DeprecationWarning, match="train"):
        y, h = cell.forward(x)
    np.testing.assert_array_equal(y, cell(x)[0])
    with pytest.raises(RuntimeError, match="backward"):
        cell.backward(np.ones_like(y))  # inference kept nothing
    cell.forward(x, train=True)
    cell.backward(np.ones_like(y))
