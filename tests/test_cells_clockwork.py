"""Clockwork RNN (``rnnrs.ClockworkRNN``, Koutník et al. 2014).

Against `rnnrs.reference.cells_time` (hypothesis over shapes, module sizes and periods), central
finite differences in float64 on every parameter, the input and the initial state, 1 vs 2 threads
bit-identical, the skipped modules really keeping their state, state_dict round trip and clear errors.
"""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import cells_time as ref
from rnnrs.reference.gradcheck import gradcheck


def make(T, B, I, sizes, periods, *, bias=True, batch_first=False, dtype=np.float64, seed=0):
    layer = rnnrs.ClockworkRNN(I, sizes, periods=periods, bias=bias, batch_first=batch_first, dtype=dtype,
                               seed=seed)
    rng = np.random.default_rng(seed + 1)
    H = layer.hidden_size
    # Fill the unread weight_hh entries too: they must be ignored.
    layer.params["weight_hh_l0"][...] = rng.uniform(-0.5, 0.5, (H, H))
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    h0 = rng.standard_normal((1, B, H)).astype(dtype)
    dy = rng.standard_normal(x.shape[:-1] + (H,)).astype(dtype)
    dh_n = rng.standard_normal((1, B, H)).astype(dtype)
    return layer, x, h0, dy, dh_n


def run_rnnrs(layer, x, h0, dy, dh_n):
    layer.zero_grad()
    y, h_n = layer.forward(x, h0, train=True)
    dx, dh0 = layer.backward(dy, dh_n)
    return y, h_n, dx, dh0, {k: v.copy() for k, v in layer.grads.items()}


def run_reference(layer, x, h0, dy, dh_n):
    p = {k: v.astype(np.float64) for k, v in layer.params.items()}
    xt = x.astype(np.float64)
    dyt = dy.astype(np.float64)
    if layer.batch_first:
        xt, dyt = xt.transpose(1, 0, 2), dyt.transpose(1, 0, 2)
    y, h_n, cache = ref.clockwork_forward(xt, p, h0[0].astype(np.float64), layer.module_sizes, layer.periods)
    dx, dh0, grads = ref.clockwork_backward(cache, dyt, dh_n[0].astype(np.float64))
    if layer.batch_first:
        y, dx = y.transpose(1, 0, 2), dx.transpose(1, 0, 2)
    return y, h_n[None], dx, dh0[None], grads


def compare(got, want, tol):
    for name, g, w in zip(["y", "h_n", "dx", "dh0"], got[:4], want[:4]):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)
    assert set(got[4]) == set(want[4])
    for name, w in want[4].items():
        np.testing.assert_allclose(got[4][name], w, rtol=tol, atol=tol, err_msg=name)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 4)) for _ in range(n)]
    periods = sorted(draw(st.integers(1, 5)) for _ in range(n))
    return {"T": draw(st.integers(1, 9)), "B": draw(st.integers(1, 4)), "I": draw(st.integers(1, 5)),
            "sizes": sizes, "periods": periods, "bias": draw(st.booleans()),
            "batch_first": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


@settings(max_examples=40, deadline=None)
@given(cases())
def test_matches_reference_float64(kw):
    args = make(kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("sizes"), kw.pop("periods"), **kw)
    compare(run_rnnrs(*args), run_reference(*args), 1e-12)


@settings(max_examples=20, deadline=None)
@given(cases())
def test_matches_reference_float32(kw):
    args = make(kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("sizes"), kw.pop("periods"), dtype=np.float32, **kw)
    got = run_rnnrs(*args)
    assert got[0].dtype == np.float32 and got[2].dtype == np.float32
    compare(got, run_reference(*args), 1e-5)


def test_finite_differences_on_parameters_input_and_state():
    layer, x, h0, dy, dh_n = make(7, 2, 3, [2, 1, 2], [1, 2, 3], seed=4)
    names = list(layer.params)

    def loss(x, h0, *ps):
        for n, p in zip(names, ps):
            layer.params[n][...] = p
        y, h_n = layer(x, h0)
        return np.sum(y * dy) + np.sum(h_n * dh_n)

    saved = {n: p.copy() for n, p in layer.params.items()}
    _y, _h, dx, dh0, grads = run_rnnrs(layer, x, h0, dy, dh_n)
    inputs = [x, h0] + [saved[n] for n in names]
    gradcheck(loss, inputs, [dx, dh0] + [grads[n] for n in names], rtol=1e-6, atol=1e-8)
    # The unread entries of weight_hh get no gradient.
    assert np.all(grads["weight_hh_l0"][~layer.mask()] == 0)


def test_slow_modules_hold_their_state_and_unbatched_input():
    layer = rnnrs.ClockworkRNN(3, 6, n_modules=3, dtype=np.float64, seed=0)  # periods 1, 2, 4
    assert layer.periods == [1, 2, 4] and layer.module_sizes == [2, 2, 2]
    x = np.random.default_rng(0).standard_normal((9, 3))
    y, h_n = layer(x)  # unbatched (T, I)
    assert y.shape == (9, 6) and h_n.shape == (1, 6)
    for t in range(1, 9):
        for m, p in enumerate(layer.periods):
            units = slice(2 * m, 2 * m + 2)
            if t % p:
                np.testing.assert_array_equal(y[t, units], y[t - 1, units])
            else:
                assert not np.array_equal(y[t, units], y[t - 1, units])
    yb, _ = layer(x[:, None, :])
    np.testing.assert_array_equal(yb[:, 0], y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(dtype):
    layer = rnnrs.ClockworkRNN(24, [16, 16, 8, 8], periods=[1, 2, 2, 8], dtype=dtype, seed=5)
    x = np.random.default_rng(1).standard_normal((20, 40, 24)).astype(dtype)
    before = rnnrs.get_num_threads()
    out = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            y, _ = layer.forward(x, train=True)
            layer.zero_grad()
            dx, dh0 = layer.backward(np.cos(y))
            out.append([y, dx, dh0] + [g.copy() for g in layer.grads.values()])
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip_and_names():
    a = rnnrs.ClockworkRNN(5, 8, n_modules=4, dtype=np.float64, seed=0)
    assert list(a.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert a.weight_hh_l0.shape == (8, 8) and a.weight_ih_l0.shape == (8, 5)
    assert np.all(a.weight_hh_l0[~a.mask()] == 0)
    b = rnnrs.ClockworkRNN(5, 8, n_modules=4, dtype=np.float64, seed=1)
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 2, 5))
    np.testing.assert_array_equal(a(x)[0], b(x)[0])
    assert "bias_ih_l0" not in rnnrs.ClockworkRNN(5, 8, n_modules=2, bias=False).state_dict()
    assert "periods=[1, 2, 4, 8]" in repr(a)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="periods"):
        rnnrs.ClockworkRNN(2, 4, periods=[2, 1])
    with pytest.raises(ValueError, match="periods"):
        rnnrs.ClockworkRNN(2, 4, periods=[1, 0])
    with pytest.raises(ValueError, match="hidden_size"):
        rnnrs.ClockworkRNN(2, 5, n_modules=2)
    with pytest.raises(ValueError, match="n_modules"):
        rnnrs.ClockworkRNN(2, 4)
    with pytest.raises(ValueError, match="periods"):
        rnnrs.ClockworkRNN(2, [2, 2], periods=[1, 2, 4])
    with pytest.raises(TypeError, match="hidden_size"):
        rnnrs.ClockworkRNN(2, "4", n_modules=2)
    layer = rnnrs.ClockworkRNN(2, 4, n_modules=2, dtype=np.float64)
    with pytest.raises(TypeError, match="input"):
        layer(np.zeros((3, 1, 2), np.float32))
    with pytest.raises(ValueError, match="input"):
        layer(np.zeros((3, 1, 5)))
    with pytest.raises(ValueError, match="hx"):
        layer(np.zeros((3, 1, 2)), np.zeros((1, 2, 4)))
    with pytest.raises(RuntimeError, match="forward"):
        rnnrs.ClockworkRNN(2, 4, n_modules=2).backward(np.zeros((3, 1, 4), np.float32))
    layer.forward(np.zeros((3, 1, 2)), train=True)
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((4, 1, 4)))
    # NaN input gives NaN output, no crash.
    y, _ = layer(np.full((3, 1, 2), np.nan))
    assert np.isnan(y).all()
