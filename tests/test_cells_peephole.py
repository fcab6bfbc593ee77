"""Peephole LSTM, ``rnnrs.LSTM(peephole=True)`` (Gers & Schmidhuber 2000): the cell-owned
parameter ``weight_ch_l{k}`` (3, H) through layers, state_dict and RTRL.

Against `rnnrs.reference` (hypothesis over shapes and options, lengths included), central finite
differences in float64 on every parameter, the input and the initial state, exact RTRL == BPTT,
SnAp-1, 1 vs 2 threads bit-identical, state_dict round trip and clear errors.
"""

import numpy as np
import pytest
import rnnrs
import rnnrs.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs import rtrl
from rnnrs.reference import layers as ref
from rnnrs.reference.gradcheck import gradcheck

MODE = "LSTM_PEEPHOLE"


def make(T, B, I, H, *, num_layers=1, bidirectional=False, bias=True, proj_size=0, batch_first=False,
         dtype=np.float64, seed=0, lengths=False):
    rng = np.random.default_rng(seed)
    params = ref.init_params(MODE, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                             proj_size=proj_size, rng=rng)
    # Peepholes of order one, so that they matter.
    params = {k: (v * 3 if k.startswith("weight_ch") else v) for k, v in params.items()}
    rows, h_out = (2 if bidirectional else 1) * num_layers, proj_size or H
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    d_out = (2 if bidirectional else 1) * h_out
    case = {"params": params, "x": x, "h0": rng.standard_normal((rows, B, h_out)),
            "c0": rng.standard_normal((rows, B, H)), "dy": rng.standard_normal(x.shape[:-1] + (d_out,)),
            "dh_n": rng.standard_normal((rows, B, h_out)), "dc_n": rng.standard_normal((rows, B, H))}
    case = {k: ({n: a.astype(dtype) for n, a in v.items()} if k == "params" else v.astype(dtype))
            for k, v in case.items()}
    case.update(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                lengths=rng.integers(1, T + 1, B) if lengths else None)
    if lengths:  # dy past each length is ignored: zero it so that both sides agree on dy
        for b, n in enumerate(case["lengths"]):
            (case["dy"][b, n:] if batch_first else case["dy"][n:, b])[...] = 0
    return case


def run_rnnrs(c, params=None):
    p = c["params"] if params is None else params
    y, (h_n, c_n), ctx = F.lstm(c["x"], p, (c["h0"], c["c0"]), batch_first=c["batch_first"], train=True,
                                peephole=True, lengths=c["lengths"])
    dx, (dh0, dc0), grads = F.lstm_backward(ctx, c["dy"], (c["dh_n"], c["dc_n"]))
    return y, h_n, c_n, dx, dh0, dc0, grads


def run_reference(c):
    f64 = {k: v.astype(np.float64) for k, v in c["params"].items()}
    y, h_n, c_n, cache = ref.rnn_forward(MODE, c["x"].astype(np.float64), f64, c["h0"].astype(np.float64),
                                         c["c0"].astype(np.float64), num_layers=c["num_layers"],
                                         bidirectional=c["bidirectional"], batch_first=c["batch_first"],
                                         lengths=c["lengths"])
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
    return {"T": draw(st.integers(1, 6)), "B": draw(st.integers(1, 18)), "I": draw(st.integers(1, 5)), "H": H,
            "num_layers": draw(st.integers(1, 2)), "bidirectional": draw(st.booleans()), "bias": draw(st.booleans()),
            "proj_size": draw(st.integers(0, H - 1)) if H > 1 and draw(st.booleans()) else 0,
            "batch_first": draw(st.booleans()), "lengths": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


@settings(max_examples=30, deadline=None)
@given(cases())
def test_matches_reference_float64(kw):
    c = make(kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float64, **kw)
    compare(run_rnnrs(c), run_reference(c), 1e-10)


@settings(max_examples=15, deadline=None)
@given(cases())
def test_matches_reference_float32(kw):
    c = make(kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float32, **kw)
    got = run_rnnrs(c)
    assert got[0].dtype == np.float32 and got[6]["weight_ch_l0"].dtype == np.float32
    compare(got, run_reference(c), 3e-4)


def test_finite_differences_on_parameters_input_and_state():
    c = make(4, 2, 3, 3, num_layers=2, bidirectional=True, proj_size=2, seed=7)
    names = list(c["params"])
    assert "weight_ch_l1_reverse" in names

    def loss(x, h0, c0, *ps):
        p = dict(zip(names, ps))
        y, (h_n, c_n), _ = F.lstm(x, p, (h0, c0), peephole=True)
        return np.sum(y * c["dy"]) + np.sum(h_n * c["dh_n"]) + np.sum(c_n * c["dc_n"])

    _y, _h, _c, dx, dh0, dc0, grads = run_rnnrs(c)
    inputs = [c["x"], c["h0"], c["c0"]] + [c["params"][n] for n in names]
    analytic = [dx, dh0, dc0] + [grads[n] for n in names]
    gradcheck(loss, inputs, analytic, rtol=1e-6, atol=1e-8)


def test_peepholes_change_the_output_and_zero_peepholes_are_the_lstm():
    layer = rnnrs.LSTM(3, 4, peephole=True, dtype=np.float64, seed=0)
    plain = rnnrs.LSTM(3, 4, dtype=np.float64, seed=0)
    plain.load_state_dict({k: v for k, v in layer.state_dict().items() if not k.startswith("weight_ch")})
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    assert not np.allclose(layer(x)[0], plain(x)[0])
    layer.weight_ch_l0 = np.zeros((3, 4))
    np.testing.assert_array_equal(layer(x)[0], plain(x)[0])


@pytest.mark.parametrize("method,H", [("exact", 4), ("snap1", 1)])
def test_rtrl_equals_bptt(method, H):
    rng = np.random.default_rng(3)
    layer = rnnrs.LSTM(3, H, peephole=True, dtype=np.float64, seed=2)
    layer.weight_ch_l0 *= 3
    x, dy = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, H))
    h0, c0 = rng.standard_normal((2, H)), rng.standard_normal((2, H))
    layer.zero_grad()
    layer.forward(x, (h0[None], c0[None]), train=True)
    layer.backward(dy)
    g, _y, _state = rtrl.gradient(layer, x, dy, h0=h0, c0=c0, method=method)
    assert set(g) == set(layer.grads)
    for name, v in g.items():
        scale = np.abs(layer.grads[name]).max()
        assert np.abs(v - layer.grads[name]).max() <= 1e-10 * scale, (method, name)


def test_rtrl_cell_and_online_step():
    cell = rtrl.Cell(MODE, 2, 3, seed=1)
    assert cell.params["weight_ch_l0"].shape == (3, 3)
    assert cell.names[-1] == "weight_ch_l0" and cell.n_params == 4 * 3 * (2 + 3 + 2) + 9
    x, dy = np.random.default_rng(0).standard_normal((4, 1, 2)), np.ones((4, 1, 3))
    g_exact, _, _ = rtrl.gradient(cell, x, dy, method="exact")
    g_uoro, _, _ = rtrl.gradient(cell, x, dy, method="uoro", seed=0)
    assert g_uoro["weight_ch_l0"].shape == (3, 3) and np.all(np.isfinite(g_uoro["weight_ch_l0"]))
    assert np.abs(g_exact["weight_ch_l0"]).max() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(dtype):
    layer = rnnrs.LSTM(24, 40, num_layers=2, bidirectional=True, dtype=dtype, seed=5, peephole=True)
    x = np.random.default_rng(1).standard_normal((10, 40, 24)).astype(dtype)
    lengths = np.random.default_rng(2).integers(1, 11, 40)
    before = rnnrs.get_num_threads()
    out = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            y, _ = layer.forward(x, train=True, lengths=lengths)
            layer.zero_grad()
            dx, _ = layer.backward(np.cos(y))
            out.append([y, dx] + [g.copy() for g in layer.grads.values()])
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip_step_and_repr():
    layer = rnnrs.LSTM(5, 4, num_layers=2, bidirectional=True, peephole=True, dtype=np.float64, seed=0)
    sd = layer.state_dict()
    assert sd["weight_ch_l1_reverse"].shape == (3, 4)
    assert list(sd)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ch_l0"]
    assert "peephole=True" in repr(layer)
    other = rnnrs.LSTM(5, 4, num_layers=2, bidirectional=True, peephole=True, dtype=np.float64, seed=1)
    other.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((3, 2, 5))
    np.testing.assert_array_equal(other(x)[0], layer(x)[0])
    with pytest.raises(KeyError):  # a plain LSTM's state dict lacks the peepholes
        layer.load_state_dict(rnnrs.LSTM(5, 4, num_layers=2, bidirectional=True, dtype=np.float64).state_dict())
    one = rnnrs.LSTM(5, 4, peephole=True, dtype=np.float64, seed=0)
    y, (h, c) = one(x[:1])
    y_t, (h_t, c_t) = one.step(x[0])
    np.testing.assert_allclose(y_t, y[0], rtol=1e-14, atol=1e-14)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="peephole"):
        rnnrs.LSTM(2, 3, peephole=True, coupled=True)
    with pytest.raises(TypeError, match="peephole"):
        rnnrs.LSTM(2, 3, peephole="yes")
    layer = rnnrs.LSTM(2, 3, peephole=True, dtype=np.float64)
    with pytest.raises(ValueError, match="weight_ch_l0"):
        layer.weight_ch_l0 = np.zeros((4, 3))
    p = dict(layer.params)
    p["weight_ch_l0"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match="weight_ch_l0"):
        F.lstm(np.zeros((2, 1, 2)), p, peephole=True)
    del p["weight_ch_l0"]
    with pytest.raises(ValueError, match="weight_ch_l0"):
        F.lstm(np.zeros((2, 1, 2)), p, peephole=True)
    with pytest.raises(ValueError, match="c0"):
        layer(np.zeros((2, 1, 2)), (np.zeros((1, 1, 3)), np.zeros((1, 2, 3))))
    # NaN passes through without a crash.
    y, _ = layer(np.full((2, 1, 2), np.nan))
    assert np.isnan(y).all()
