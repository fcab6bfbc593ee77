"""LSTM variants without forget-gate rows: ``rnnrs.LSTM(forget_gate=False)`` (c = c + i*g) and
``rnnrs.LSTM(coupled=True)`` (CIFG, f = 1 - i).

Against `rnnrs.reference` (hypothesis over shapes and options), central finite differences in
float64 on every parameter, the input and the initial state, exact RTRL == BPTT, 1 vs 2 threads
bit-identical, state_dict round trip and clear errors.
"""

import numpy as np
import pytest
import rnnrs
import rnnrs.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs import rtrl
from rnnrs.reference.gradcheck import gradcheck
from rnnrs.reference import layers as ref

VARIANTS = {"LSTM_NOFORGET": {"forget_gate": False}, "LSTM_CIFG": {"coupled": True}}


def make(mode, T, B, I, H, *, num_layers=1, bidirectional=False, bias=True, proj_size=0, batch_first=False,
         dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = ref.init_params(mode, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                             proj_size=proj_size, rng=rng)
    rows, h_out = (2 if bidirectional else 1) * num_layers, proj_size or H
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    d_out = (2 if bidirectional else 1) * h_out
    case = {"params": params, "x": x, "h0": rng.standard_normal((rows, B, h_out)),
            "c0": rng.standard_normal((rows, B, H)), "dy": rng.standard_normal(x.shape[:-1] + (d_out,)),
            "dh_n": rng.standard_normal((rows, B, h_out)), "dc_n": rng.standard_normal((rows, B, H))}
    case = {k: ({n: a.astype(dtype) for n, a in v.items()} if k == "params" else v.astype(dtype))
            for k, v in case.items()}
    case.update(mode=mode, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    return case


def run_rnnrs(c, params=None, x=None, h0=None, c0=None):
    p = c["params"] if params is None else params
    state = (c["h0"] if h0 is None else h0, c["c0"] if c0 is None else c0)
    y, (h_n, c_n), ctx = F.lstm(c["x"] if x is None else x, p, state, batch_first=c["batch_first"], train=True,
                                **VARIANTS[c["mode"]])
    dx, (dh0, dc0), grads = F.lstm_backward(ctx, c["dy"], (c["dh_n"], c["dc_n"]))
    return y, h_n, c_n, dx, dh0, dc0, grads


def run_reference(c):
    f64 = {k: v.astype(np.float64) for k, v in c["params"].items()}
    y, h_n, c_n, cache = ref.rnn_forward(c["mode"], c["x"].astype(np.float64), f64, c["h0"].astype(np.float64),
                                         c["c0"].astype(np.float64), num_layers=c["num_layers"],
                                         bidirectional=c["bidirectional"], batch_first=c["batch_first"])
    dx, dh0, dc0, grads = ref.rnn_backward(cache, c["dy"].astype(np.float64), c["dh_n"].astype(np.float64),
                                           c["dc_n"].astype(np.float64))
    return y, h_n, c_n, dx, dh0, dc0, grads


def compare(got, want, tol):
    for name, g, w in zip(["y", "h_n", "c_n", "dx", "dh0", "dc0"], got[:6], want[:6]):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)
    assert set(got[6]) == set(want[6])
    for name, w in want[6].items():
        np.testing.assert_allclose(got[6][name], w, rtol=tol, atol=tol, err_msg=name)


@st.composite
def cases(draw):
    H = draw(st.integers(1, 7))
    return {"mode": draw(st.sampled_from(sorted(VARIANTS))), "T": draw(st.integers(1, 6)),
            "B": draw(st.integers(1, 4)), "I": draw(st.integers(1, 5)), "H": H,
            "num_layers": draw(st.integers(1, 2)), "bidirectional": draw(st.booleans()), "bias": draw(st.booleans()),
            "proj_size": draw(st.integers(0, H - 1)) if H > 1 and draw(st.booleans()) else 0,
            "batch_first": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


@settings(max_examples=40, deadline=None)
@given(cases())
def test_matches_reference_float64(kw):
    c = make(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float64, **kw)
    compare(run_rnnrs(c), run_reference(c), 1e-10)


@settings(max_examples=20, deadline=None)
@given(cases())
def test_matches_reference_float32(kw):
    c = make(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float32, **kw)
    got = run_rnnrs(c)
    assert got[0].dtype == np.float32
    compare(got, run_reference(c), 3e-4)


@pytest.mark.parametrize("mode", sorted(VARIANTS))
def test_finite_differences_on_parameters_input_and_state(mode):
    c = make(mode, 4, 2, 3, 3, num_layers=2, bidirectional=True, proj_size=2, seed=7)
    names = list(c["params"])

    def loss(x, h0, c0, *ps):
        p = dict(zip(names, ps))
        y, (h_n, c_n), _ = F.lstm(x, p, (h0, c0), **VARIANTS[mode])
        return np.sum(y * c["dy"]) + np.sum(h_n * c["dh_n"]) + np.sum(c_n * c["dc_n"])

    _y, _h, _c, dx, dh0, dc0, grads = run_rnnrs(c)
    inputs = [c["x"], c["h0"], c["c0"]] + [c["params"][n] for n in names]
    analytic = [dx, dh0, dc0] + [grads[n] for n in names]
    gradcheck(loss, inputs, analytic, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", sorted(VARIANTS))
def test_exact_rtrl_equals_bptt_and_snap1_exact_for_one_unit(mode):
    rng = np.random.default_rng(3)
    for H, method in ((4, "exact"), (1, "snap1")):
        layer = rnnrs.LSTM(3, H, dtype=np.float64, seed=2, **VARIANTS[mode])
        x, dy = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, H))
        h0, c0 = rng.standard_normal((2, H)), rng.standard_normal((2, H))
        layer.zero_grad()
        layer.forward(x, (h0[None], c0[None]), train=True)
        layer.backward(dy)
        g, _y, _state = rtrl.gradient(layer, x, dy, h0=h0, c0=c0, method=method)
        for name, v in g.items():
            scale = np.abs(layer.grads[name]).max()
            assert np.abs(v - layer.grads[name]).max() <= 1e-10 * scale, (method, name)


@pytest.mark.parametrize("mode", sorted(VARIANTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(mode, dtype):
    layer = rnnrs.LSTM(24, 40, num_layers=2, bidirectional=True, dtype=dtype, seed=5, **VARIANTS[mode])
    x = np.random.default_rng(1).standard_normal((10, 40, 24)).astype(dtype)
    before = rnnrs.get_num_threads()
    out = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            y, _ = layer.forward(x, train=True)
            layer.zero_grad()
            dx, _ = layer.backward(np.cos(y))
            out.append([y, dx] + [g.copy() for g in layer.grads.values()])
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_layout_state_dict_and_default_unchanged():
    cifg = rnnrs.LSTM(5, 4, coupled=True, dtype=np.float64, seed=0)
    assert cifg.weight_ih_l0.shape == (12, 5) and cifg.weight_hh_l0.shape == (12, 4)
    assert "coupled=True" in repr(cifg)
    other = rnnrs.LSTM(5, 4, coupled=True, dtype=np.float64, seed=1)
    other.load_state_dict(cifg.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 2, 5))
    np.testing.assert_array_equal(other(x)[0], cifg(x)[0])
    # A full LSTM's state dict (4 gate blocks) does not fit.
    with pytest.raises(ValueError):
        cifg.load_state_dict(rnnrs.LSTM(5, 4, dtype=np.float64).state_dict())
    # The two variants differ, and the default is torch's LSTM.
    nof = rnnrs.LSTM(5, 4, forget_gate=False, dtype=np.float64, seed=0)
    assert not np.allclose(nof(x)[0], cifg(x)[0])
    assert rnnrs.LSTM(5, 4).weight_ih_l0.shape == (16, 5)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="coupled"):
        rnnrs.LSTM(2, 3, forget_gate=False, coupled=True)
    with pytest.raises(ValueError, match="forget_bias"):
        rnnrs.LSTM(2, 3, coupled=True, forget_bias=1.0)
    with pytest.raises(TypeError, match="forget_gate"):
        rnnrs.LSTM(2, 3, forget_gate="no")
    layer = rnnrs.LSTM(2, 3, forget_gate=False, dtype=np.float64)
    with pytest.raises(ValueError, match="c0"):
        layer(np.zeros((2, 1, 2)), (np.zeros((1, 1, 3)), np.zeros((1, 2, 3))))
