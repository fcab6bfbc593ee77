"""Deep-transition / deep-output RNN (``rnnrs.DeepTransitionRNN``, Pascanu et al. 2014).

Against `rnnrs.reference.cells_time` (hypothesis over shapes, depths, shortcut and bias), central
finite differences in float64 on every parameter, the input and the initial state, depth 1 == the
Elman RNN, 1 vs 2 threads bit-identical, state_dict round trip and clear errors.
"""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import cells_time as ref
from rnnrs.reference.gradcheck import gradcheck


def make(T, B, I, H, depth, out_depth, shortcut, *, bias=True, batch_first=False, dtype=np.float64, seed=0):
    layer = rnnrs.DeepTransitionRNN(I, H, depth, out_depth, shortcut=shortcut, bias=bias, batch_first=batch_first,
                                    dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    h0, dh_n = (rng.standard_normal((1, B, H)).astype(dtype) for _ in range(2))
    dy = rng.standard_normal(x.shape[:-1] + (H,)).astype(dtype)
    return layer, x, h0, dy, dh_n


def run_rnnrs(layer, x, h0, dy, dh_n):
    layer.zero_grad()
    y, h_n = layer.forward(x, h0, train=True)
    dx, dh0 = layer.backward(dy, dh_n)
    return y, h_n, dx, dh0, {k: v.copy() for k, v in layer.grads.items()}


def run_reference(layer, x, h0, dy, dh_n):
    p = {k: v.astype(np.float64) for k, v in layer.params.items()}
    xt, dyt = x.astype(np.float64), dy.astype(np.float64)
    if layer.batch_first:
        xt, dyt = xt.transpose(1, 0, 2), dyt.transpose(1, 0, 2)
    y, h_n, cache = ref.deep_transition_forward(xt, p, h0[0].astype(np.float64), layer.transition_depth,
                                                layer.output_depth, layer.shortcut)
    dx, dh0, grads = ref.deep_transition_backward(cache, dyt, dh_n[0].astype(np.float64))
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
    depth = draw(st.integers(1, 4))
    return {"T": draw(st.integers(1, 7)), "B": draw(st.integers(1, 4)), "I": draw(st.integers(1, 5)),
            "H": draw(st.integers(1, 6)), "depth": depth, "out_depth": draw(st.integers(0, 2)),
            "shortcut": depth >= 2 and draw(st.booleans()), "bias": draw(st.booleans()),
            "batch_first": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


def _args(kw, dtype):
    return make(kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), kw.pop("depth"), kw.pop("out_depth"),
                kw.pop("shortcut"), dtype=dtype, **kw)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_matches_reference_float64(kw):
    args = _args(kw, np.float64)
    compare(run_rnnrs(*args), run_reference(*args), 1e-12)


@settings(max_examples=20, deadline=None)
@given(cases())
def test_matches_reference_float32(kw):
    args = _args(kw, np.float32)
    got = run_rnnrs(*args)
    assert got[0].dtype == np.float32 and got[2].dtype == np.float32
    compare(got, run_reference(*args), 1e-5)


@pytest.mark.parametrize("shortcut", [False, True])
def test_finite_differences_on_parameters_input_and_state(shortcut):
    layer, x, h0, dy, dh_n = make(5, 2, 3, 3, 3, 2, shortcut, seed=2)
    names = list(layer.params)

    def loss(x, h0, *ps):
        for n, p in zip(names, ps):
            layer.params[n][...] = p
        y, h_n = layer(x, h0)
        return np.sum(y * dy) + np.sum(h_n * dh_n)

    saved = [layer.params[n].copy() for n in names]
    _y, _h, dx, dh0, grads = run_rnnrs(layer, x, h0, dy, dh_n)
    gradcheck(loss, [x, h0] + saved, [dx, dh0] + [grads[n] for n in names], rtol=1e-6, atol=1e-8)


def test_depth_one_is_the_elman_rnn_and_state_dict_round_trip():
    dt = rnnrs.DeepTransitionRNN(3, 5, transition_depth=1, output_depth=0, dtype=np.float64, seed=0)
    rnn = rnnrs.RNN(3, 5, dtype=np.float64)
    rnn.load_state_dict(dt.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    (y, h), (y2, h2) = dt(x), rnn(x)
    np.testing.assert_allclose(y, y2, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(h, h2, rtol=1e-14, atol=1e-14)
    deep = rnnrs.DeepTransitionRNN(3, 5, 3, 2, shortcut=True, dtype=np.float64, seed=1)
    assert list(deep.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                       "weight_tr2_l0", "bias_tr2_l0", "weight_tr3_l0", "bias_tr3_l0",
                                       "weight_sh_l0", "weight_out1_l0", "bias_out1_l0", "weight_out2_l0",
                                       "bias_out2_l0"]
    other = rnnrs.DeepTransitionRNN(3, 5, 3, 2, shortcut=True, dtype=np.float64, seed=2)
    other.load_state_dict(deep.state_dict())
    np.testing.assert_array_equal(other(x)[0], deep(x)[0])
    y1, h1 = deep(x[:, 0])  # unbatched
    assert y1.shape == (6, 5) and h1.shape == (1, 5)
    np.testing.assert_allclose(y1, deep(x)[0][:, 0], rtol=1e-14, atol=1e-14)
    assert "shortcut=True" in repr(deep)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(dtype):
    layer = rnnrs.DeepTransitionRNN(24, 40, 3, 2, shortcut=True, dtype=dtype, seed=5)
    x = np.random.default_rng(1).standard_normal((10, 40, 24)).astype(dtype)
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


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="shortcut"):
        rnnrs.DeepTransitionRNN(2, 3, 1, shortcut=True)
    with pytest.raises(ValueError, match="transition_depth"):
        rnnrs.DeepTransitionRNN(2, 3, 0)
    with pytest.raises(ValueError, match="output_depth"):
        rnnrs.DeepTransitionRNN(2, 3, 2, -1)
    with pytest.raises(TypeError, match="shortcut"):
        rnnrs.DeepTransitionRNN(2, 3, 2, shortcut="yes")
    with pytest.raises(TypeError, match="dtype"):
        rnnrs.DeepTransitionRNN(2, 3, dtype=np.int32)
    layer = rnnrs.DeepTransitionRNN(2, 3, 2, 1, dtype=np.float64)
    with pytest.raises(TypeError, match="input"):
        layer(np.zeros((3, 1, 2), np.float32))
    with pytest.raises(ValueError, match="input"):
        layer(np.zeros((3, 1, 4)))
    with pytest.raises(ValueError, match="hx"):
        layer(np.zeros((3, 1, 2)), np.zeros((1, 1, 4)))
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((3, 1, 3)))
    layer.forward(np.zeros((3, 1, 2)), train=True)
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((3, 2, 3)))
    y, _ = layer(np.full((3, 1, 2), np.inf))
    assert y.shape == (3, 1, 3)
