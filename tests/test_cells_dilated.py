"""Dilated RNN (``rnnrs.Dilated``, ``rnnrs.DilatedRNN``, Chang et al. 2017).

Against `rnnrs.reference.cells_time.dilated_forward/backward` (step by step, h_t = cell(x_t, h_{t-d}),
hypothesis over shapes, cells and dilations), central finite differences in float64 on every
parameter, the input and the initial state, variable lengths (each sequence as if run alone),
all-ones dilations == the cell's stacked layer, 1 vs 2 threads bit-identical, state_dict round trip
and clear errors.
"""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import cells_time as ref
from rnnrs.reference.gradcheck import gradcheck

CELLS = {"RNN": "RNN_TANH", "LSTM": "LSTM", "GRU": "GRU"}


def make(cell, T, B, I, H, d, *, dtype=np.float64, seed=0):
    layer = rnnrs.Dilated(getattr(rnnrs, cell)(I, H, dtype=dtype, seed=seed), d)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = (rng.standard_normal((1, B, H)).astype(dtype) for _ in range(2))
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    dh, dc = (rng.standard_normal((1, B, H)).astype(dtype) for _ in range(2))
    lstm = cell == "LSTM"
    return layer, x, ((h0, c0) if lstm else h0), dy, ((dh, dc) if lstm else dh)


def run_reference(cell, layer, x, hx, dy, dhx):
    w = {k.replace("_l0", ""): v.astype(np.float64) for k, v in layer.params.items()}
    f = np.float64
    h0, c0 = (hx[0][0].astype(f), hx[1][0].astype(f)) if cell == "LSTM" else (hx[0].astype(f), None)
    dh, dc = (dhx[0][0].astype(f), dhx[1][0].astype(f)) if cell == "LSTM" else (dhx[0].astype(f), None)
    y, h_n, c_n, cache = ref.dilated_forward(CELLS[cell], x.astype(f), w, h0, c0, layer.dilation)
    dx, dh0, dc0, grads = ref.dilated_backward(cache, dy.astype(f), dh, dc)
    out = [y, h_n[None], dx, dh0[None]] + ([c_n[None], dc0[None]] if cell == "LSTM" else [])
    return out, {k + "_l0": v for k, v in grads.items()}


def run_rnnrs(cell, layer, x, hx, dy, dhx):
    layer.zero_grad()
    y, st = layer.forward(x, hx, train=True)
    dx, dst = layer.backward(dy, dhx)
    if cell == "LSTM":
        return [y, st[0], dx, dst[0], st[1], dst[1]], dict(layer.grads)
    return [y, st, dx, dst], dict(layer.grads)


@st.composite
def cases(draw):
    return {"cell": draw(st.sampled_from(sorted(CELLS))), "T": draw(st.integers(1, 9)),
            "B": draw(st.integers(1, 3)), "I": draw(st.integers(1, 4)), "H": draw(st.integers(1, 5)),
            "d": draw(st.integers(1, 5)), "seed": draw(st.integers(0, 2**31))}


@pytest.mark.parametrize("dtype,tol,examples", [(np.float64, 1e-12, 40), (np.float32, 1e-5, 20)])
def test_matches_step_by_step_reference(dtype, tol, examples):
    @settings(max_examples=examples, deadline=None)
    @given(cases())
    def check(kw):
        cell = kw.pop("cell")
        args = make(cell, kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), kw.pop("d"), dtype=dtype, **kw)
        got, got_g = run_rnnrs(cell, *args)
        want, want_g = run_reference(cell, *args)
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == dtype
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=str(k))
        for name, w in want_g.items():
            np.testing.assert_allclose(got_g[name], w, rtol=tol, atol=tol, err_msg=name)

    check()


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_finite_differences_on_parameters_input_and_state(cell):
    net = rnnrs.DilatedRNN(cell, 2, 3, dilations=[1, 3], dtype=np.float64, seed=3)
    rng = np.random.default_rng(0)
    T, B = 7, 2
    x, dy = rng.standard_normal((T, B, 2)), rng.standard_normal((T, B, 3))
    h0, dh = rng.standard_normal((2, B, 3)), rng.standard_normal((2, B, 3))
    lens = np.array([7, 5])
    lstm = cell == "LSTM"
    c0, dc = rng.standard_normal((2, B, 3)), rng.standard_normal((2, B, 3))
    names = list(net.params)
    saved = [net.params[n].copy() for n in names]

    def loss(x, h0, c0, *ps):
        for n, p in zip(names, ps):
            net.params[n][...] = p
        y, st = net(x, (h0, c0) if lstm else h0, lengths=lens)
        h_n, c_n = st if lstm else (st, c0 * 0)
        return np.sum(y * dy) + np.sum(h_n * dh) + np.sum(c_n * dc)

    net.zero_grad()
    net.forward(x, (h0, c0) if lstm else h0, lengths=lens)
    dx, dst = net.backward(dy, (dh, dc) if lstm else dh)
    dh0, dc0 = dst if lstm else (dst, np.zeros_like(c0))
    analytic = [dx, dh0, dc0] + [net.grads[n].copy() for n in names]
    gradcheck(loss, [x, h0, c0] + saved, analytic, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_lengths_each_sequence_as_if_alone(cell):
    net = rnnrs.DilatedRNN(cell, 3, 4, dilations=[2, 4], dtype=np.float64, seed=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 3, 3))
    lens = np.array([9, 1, 6])
    y, st = net(x, lengths=lens)
    h_n = st[0] if cell == "LSTM" else st
    for b, L in enumerate(lens):
        y1, st1 = net(x[:L, b:b + 1])
        np.testing.assert_allclose(y[:L, b:b + 1], y1, rtol=1e-13, atol=1e-13)
        assert np.all(y[L:, b] == 0)
        np.testing.assert_allclose(h_n[:, b:b + 1], st1[0] if cell == "LSTM" else st1, rtol=1e-13, atol=1e-13)


def test_all_ones_dilations_equal_the_stacked_cell_and_state_dict_round_trip():
    net = rnnrs.DilatedRNN("GRU", 3, 4, dilations=[1, 1], dtype=np.float64, seed=0)
    gru = rnnrs.GRU(3, 4, num_layers=2, dtype=np.float64)
    gru.load_state_dict(net.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    (y, h), (y2, h2) = net(x), gru(x)
    np.testing.assert_allclose(y, y2, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(h, h2, rtol=1e-14, atol=1e-14)
    other = rnnrs.DilatedRNN("GRU", 3, 4, dilations=[1, 1], dtype=np.float64, seed=9)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other(x)[0], y)
    assert "dilations=[1, 1]" in repr(net)
    bi = rnnrs.DilatedRNN("LSTM", 3, 4, dilations=[2, 3], bidirectional=True, batch_first=True, seed=0)
    yb, (hb, cb) = bi(np.zeros((2, 7, 3), np.float32))
    assert yb.shape == (2, 7, 8) and hb.shape == (4, 2, 4) and cb.shape == (4, 2, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(dtype):
    net = rnnrs.DilatedRNN("LSTM", 8, 16, dilations=[1, 2, 4], dtype=dtype, seed=5)
    x = np.random.default_rng(1).standard_normal((21, 12, 8)).astype(dtype)
    before = rnnrs.get_num_threads()
    out = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            y, _ = net.forward(x, train=True)
            net.zero_grad()
            dx, _ = net.backward(np.cos(y))
            out.append([y, dx] + [g.copy() for g in net.grads.values()])
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="cell"):
        rnnrs.DilatedRNN("TRANSFORMER", 2, 3)
    with pytest.raises(TypeError, match="cell"):
        rnnrs.DilatedRNN(3, 2, 3)
    with pytest.raises(ValueError, match="dilations"):
        rnnrs.DilatedRNN("RNN", 2, 3, dilations=[1, 0])
    with pytest.raises(TypeError, match="dilations"):
        rnnrs.DilatedRNN("RNN", 2, 3, dilations=2)
    with pytest.raises(ValueError, match="dilation"):
        rnnrs.Dilated(rnnrs.RNN(2, 3), 0)
    with pytest.raises(ValueError, match="layer"):
        rnnrs.Dilated(rnnrs.RNN(2, 3, num_layers=2), 2)
    with pytest.raises(TypeError, match="layer"):
        rnnrs.Dilated(rnnrs.ClockworkRNN(2, 4, n_modules=2), 2)
    net = rnnrs.DilatedRNN("RNN", 2, 3, dilations=[2], dtype=np.float64)
    with pytest.raises(ValueError, match="input"):
        net(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="input"):
        net(np.zeros((4, 1, 2), np.float32))
    with pytest.raises(ValueError, match="lengths"):
        net(np.zeros((4, 1, 2)), lengths=[5])
    with pytest.raises(ValueError, match="hx"):
        net(np.zeros((4, 1, 2)), np.zeros((2, 1, 3)))
    with pytest.raises(RuntimeError, match="forward"):
        net.backward(np.zeros((4, 1, 3)))


def test_bidirectional_reverse_half_is_the_dilated_layer_on_the_reversed_sequence():
    bi = rnnrs.Dilated(rnnrs.GRU(3, 4, bidirectional=True, dtype=np.float64, seed=0), 3)
    fwd = rnnrs.Dilated(rnnrs.GRU(3, 4, dtype=np.float64), 3)
    fwd.layer.load_state_dict({k.replace("_reverse", ""): v for k, v in bi.params.items() if "_reverse" in k})
    x = np.random.default_rng(0).standard_normal((8, 2, 3))
    y, h_n = bi(x)
    y_rev, h_rev = fwd(x[::-1].copy())
    np.testing.assert_allclose(y[:, :, 4:], y_rev[::-1], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(h_n[1], h_rev[0], rtol=1e-13, atol=1e-13)
