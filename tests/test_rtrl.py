"""Exact RTRL (Rust and NumPy reference) against BPTT with fixed weights.

The gradient RTRL accumulates over a sequence, sum_t dloss/dh_t . M_t, must
equal BPTT's total gradient (reference `rnn_backward` and the Rust layers) to
1e-10 relative in float64.
"""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs import rtrl
from rnnrs.reference import layers as ref_layers
from rnnrs.reference import rtrl as ref_rtrl

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def problem(mode, i, h, t, b, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    cell = rtrl.Cell(mode, i, h, dtype=dtype, seed=seed)
    x = rng.standard_normal((t, b, i)).astype(dtype)
    dy = rng.standard_normal((t, b, h)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((b, h))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((b, h))).astype(dtype) if mode == "LSTM" else None
    return cell, x, dy, h0, c0


def assert_rel(a, b, tol, what=""):
    scale = max(np.abs(b).max(), 1e-300)
    err = np.abs(np.asarray(a, np.float64) - b).max()
    assert err <= tol * scale, f"{what}: max error {err:.3e} vs scale {scale:.3e}"


def reference_bptt(cell, x, dy, h0, c0):
    y, _h_n, _c_n, cache = ref_layers.rnn_forward(
        cell.mode, x, cell.params, h0[None], None if c0 is None else c0[None]
    )
    _, _, _, grads = ref_layers.rnn_backward(cache, dy)
    return y, grads


@settings(max_examples=25, deadline=None)
@given(mode=st.sampled_from(MODES), i=st.integers(1, 5), h=st.integers(1, 6), t=st.integers(1, 6),
       b=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_exact_rtrl_equals_reference_bptt(mode, i, h, t, b, seed):
    cell, x, dy, h0, c0 = problem(mode, i, h, t, b, seed)
    grads, y, (h_n, _c_n) = rtrl.gradient(cell, x, dy, h0=h0, c0=c0, method="exact")
    y_ref, g_ref = reference_bptt(cell, x, dy, h0, c0)
    assert_rel(y, y_ref, 1e-12, "y")
    assert_rel(h_n, y_ref[-1], 1e-12, "h_n")
    for k in NAMES:
        assert_rel(grads[k], g_ref[k], 1e-10, k)


@settings(max_examples=10, deadline=None)
@given(mode=st.sampled_from(MODES), i=st.integers(1, 4), h=st.integers(1, 4), t=st.integers(1, 4),
       b=st.integers(1, 2), seed=st.integers(0, 2**31))
def test_reference_rtrl_equals_reference_bptt(mode, i, h, t, b, seed):
    cell, x, dy, h0, c0 = problem(mode, i, h, t, b, seed)
    g, _y = ref_rtrl.rtrl_gradient(mode, x, dy, cell.params, h0, c0, method="exact")
    _, g_ref = reference_bptt(cell, x, dy, h0, c0)
    assert_rel(g, ref_rtrl.flatten_params(g_ref), 1e-10, mode)


def _layer(mode, i, h, seed):
    if mode == "LSTM":
        return rnnrs.LSTM(i, h, dtype=np.float64, seed=seed)
    if mode == "GRU":
        return rnnrs.GRU(i, h, dtype=np.float64, seed=seed)
    return rnnrs.RNN(i, h, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", dtype=np.float64, seed=seed)


@settings(max_examples=20, deadline=None)
@given(mode=st.sampled_from(MODES), i=st.integers(1, 5), h=st.integers(1, 6), t=st.integers(1, 6),
       b=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_exact_rtrl_on_rust_layer_equals_its_bptt(mode, i, h, t, b, seed):
    layer = _layer(mode, i, h, seed)
    _, x, dy, h0, c0 = problem(mode, i, h, t, b, seed)
    hx = (h0[None], c0[None]) if mode == "LSTM" else h0[None]
    y, _ = layer.forward(x, hx, train=True)
    layer.zero_grad()
    layer.backward(dy)
    grads, y2, _ = rtrl.gradient(layer, x, dy, h0=h0, c0=c0)
    assert_rel(y2, y, 1e-12, "y")
    for k in NAMES:
        assert_rel(grads[k], layer.grads[k], 1e-10, k)


@pytest.mark.parametrize("mode", MODES)
def test_online_steps_sum_to_the_sequence_gradient(mode):
    cell, x, dy, h0, c0 = problem(mode, 3, 5, 7, 2, 11)
    whole, y, _ = rtrl.gradient(cell, x, dy, h0=h0, c0=c0)
    r = rtrl.RTRL(cell, "exact", batch=2)
    r.reset(2, h0=h0, c0=c0)
    per_step = {k: 0.0 for k in NAMES}
    for t in range(7):
        h_t, g_t = r.step(x[t], dy[t])
        np.testing.assert_allclose(h_t, y[t], rtol=0, atol=1e-14)
        for k in NAMES:
            per_step[k] = per_step[k] + g_t[k]
    # advance + grad is the same as step with the loss gradient.
    r2 = rtrl.RTRL(cell, "exact", batch=2)
    r2.reset(2, h0=h0, c0=c0)
    for t in range(7):
        r2.advance(x[t])
        r2.grad(dy[t])
    for k in NAMES:
        assert_rel(per_step[k], whole[k], 1e-12, k)
        assert_rel(r.grads[k], whole[k], 1e-12, k)
        assert_rel(r2.grads[k], whole[k], 1e-12, k)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["exact", "snap1", "uoro"])
def test_float32_matches_float64(mode, method):
    c64, x, dy, h0, c0 = problem(mode, 3, 4, 5, 2, 5)
    c32 = rtrl.Cell(mode, 3, 4, dtype=np.float32, params=c64.params)
    g64, y64, _ = rtrl.gradient(c64, x, dy, h0=h0, c0=c0, method=method, seed=1)
    g32, y32, _ = rtrl.gradient(c32, x, dy, h0=h0, c0=c0, method=method, seed=1)
    assert y32.dtype == np.float32 and g32["weight_hh_l0"].dtype == np.float32
    assert_rel(y32, y64, 1e-5, "y")
    for k in NAMES:
        assert_rel(g32[k], g64[k], 1e-3 if method == "uoro" else 1e-4, k)


def test_results_do_not_depend_on_thread_count():
    cell, x, dy, h0, c0 = problem("LSTM", 4, 24, 5, 3, 2)
    before = rnnrs.get_num_threads()
    try:
        rnnrs.set_num_threads(1)
        a, _, _ = rtrl.gradient(cell, x, dy, h0=h0, c0=c0)
        rnnrs.set_num_threads(2)
        b, _, _ = rtrl.gradient(cell, x, dy, h0=h0, c0=c0)
    finally:
        rnnrs.set_num_threads(before)
    for k in NAMES:
        np.testing.assert_array_equal(a[k], b[k])


def test_nan_input_propagates_without_crashing():
    cell, x, dy, _h0, _c0 = problem("GRU", 2, 3, 4, 1, 0)
    x[1, 0, 0] = np.nan
    g, y, _ = rtrl.gradient(cell, x, dy)
    assert np.isnan(y[1:]).all() and np.isfinite(y[0]).all()
    assert np.isnan(g["weight_hh_l0"]).any()
