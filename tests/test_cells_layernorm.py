"""Layer-normalised LSTM and GRU, ``rnnrs.LayerNormLSTM`` (Ba et al. 2016; the formula of PyTorch's
benchmarks/fastrnns/custom_lstms.py) and ``rnnrs.LayerNormGRU`` (its GRU analogue).

Against `rnnrs.reference` (hypothesis over shapes and options, lengths included), central finite
differences in float64 on every parameter, the input and the initial state, 1 vs 2 threads
bit-identical, state_dict round trip and clear errors (RTRL: tests/test_rtrl_cells.py).
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

CLASSES = {"LAYERNORM_LSTM": rnnrs.LayerNormLSTM, "LAYERNORM_GRU": rnnrs.LayerNormGRU}


def make(mode, T, B, I, H, *, num_layers=1, bidirectional=False, batch_first=False, dtype=np.float64, seed=0,
         lengths=False):
    rng = np.random.default_rng(seed)
    params = ref.init_params(mode, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=False, rng=rng)
    # Gains around 1, biases around 0 (not the exact init, so that every term shows).
    params = {k: (1 + v if "_weight_l" in k and k.startswith("layernorm") else v) for k, v in params.items()}
    rows = (2 if bidirectional else 1) * num_layers
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    d_out = (2 if bidirectional else 1) * H
    case = {"params": params, "x": x, "h0": rng.standard_normal((rows, B, H)),
            "c0": rng.standard_normal((rows, B, H)), "dy": rng.standard_normal(x.shape[:-1] + (d_out,)),
            "dh_n": rng.standard_normal((rows, B, H)), "dc_n": rng.standard_normal((rows, B, H))}
    case = {k: ({n: a.astype(dtype) for n, a in v.items()} if k == "params" else v.astype(dtype))
            for k, v in case.items()}
    if mode == "LAYERNORM_GRU":
        case["c0"] = case["dc_n"] = None
    case.update(mode=mode, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                lengths=rng.integers(1, T + 1, B) if lengths else None)
    if lengths:
        for b, n in enumerate(case["lengths"]):
            (case["dy"][b, n:] if batch_first else case["dy"][n:, b])[...] = 0
    return case


def forward(mode, x, params, h0, c0, batch_first=False, train=False, lengths=None):
    y, h_n, c_n, ctx = F._forward(mode, x, params, h0, c0, None, None, batch_first, train, False, None, lengths)
    return y, h_n, c_n, ctx


def run_rnnrs(c):
    y, h_n, c_n, ctx = forward(c["mode"], c["x"], c["params"], c["h0"], c["c0"], c["batch_first"], True,
                               c["lengths"])
    dx, dh0, dc0, grads = F._backward(ctx, c["dy"], c["dh_n"], c["dc_n"], None, False)
    return y, h_n, c_n, dx, dh0, dc0, grads


def f64(a):
    return None if a is None else a.astype(np.float64)


def run_reference(c):
    p64 = {k: v.astype(np.float64) for k, v in c["params"].items()}
    y, h_n, c_n, cache = ref.rnn_forward(c["mode"], f64(c["x"]), p64, f64(c["h0"]), f64(c["c0"]),
                                         num_layers=c["num_layers"], bidirectional=c["bidirectional"],
                                         batch_first=c["batch_first"], lengths=c["lengths"])
    dx, dh0, dc0, grads = ref.rnn_backward(cache, f64(c["dy"]), f64(c["dh_n"]), f64(c["dc_n"]))
    return y, h_n, c_n, dx, dh0, dc0, grads


def compare(got, want, tol):
    for name, g, w in zip(["y", "h_n", "c_n", "dx", "dh0", "dc0"], got[:6], want[:6]):
        if w is None:
            assert g is None, name
            continue
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)
    assert set(got[6]) == set(want[6])
    for name, w in want[6].items():
        np.testing.assert_allclose(got[6][name], w, rtol=tol, atol=tol, err_msg=name)


@st.composite
def cases(draw):
    return {"mode": draw(st.sampled_from(sorted(CLASSES))), "T": draw(st.integers(1, 6)), "B": draw(st.integers(1, 18)), "I": draw(st.integers(1, 5)),
            "H": draw(st.integers(1, 7)), "num_layers": draw(st.integers(1, 2)),
            "bidirectional": draw(st.booleans()), "batch_first": draw(st.booleans()),
            "lengths": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


@settings(max_examples=30, deadline=None)
@given(cases())
def test_matches_reference_float64(kw):
    c = make(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float64, **kw)
    compare(run_rnnrs(c), run_reference(c), 1e-9)


@settings(max_examples=15, deadline=None)
@given(cases())
def test_matches_reference_float32(kw):
    c = make(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float32, **kw)
    got = run_rnnrs(c)
    assert got[0].dtype == np.float32
    compare(got, run_reference(c), 2e-3)


@pytest.mark.parametrize("mode", sorted(CLASSES))
def test_finite_differences_on_parameters_input_and_state(mode):
    c = make(mode, 4, 2, 3, 3, num_layers=2, bidirectional=True, seed=7)
    names = list(c["params"])
    assert "layernorm_h_bias_l1_reverse" in names
    lstm = mode == "LAYERNORM_LSTM"

    def loss(x, h0, *rest):
        c0, ps = (rest[0], rest[1:]) if lstm else (None, rest)
        y, h_n, c_n, _ = forward(mode, x, dict(zip(names, ps)), h0, c0)
        return np.sum(y * c["dy"]) + np.sum(h_n * c["dh_n"]) + (np.sum(c_n * c["dc_n"]) if lstm else 0.0)

    _y, _h, _c, dx, dh0, dc0, grads = run_rnnrs(c)
    state, dstate = ([c["h0"], c["c0"]], [dh0, dc0]) if lstm else ([c["h0"]], [dh0])
    gradcheck(loss, [c["x"]] + state + [c["params"][n] for n in names],
              [dx] + dstate + [grads[n] for n in names], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", sorted(CLASSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(mode, dtype):
    layer = CLASSES[mode](24, 40, num_layers=2, bidirectional=True, dtype=dtype, seed=5)
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


def test_layer_init_state_dict_round_trip_and_step():
    layer = rnnrs.LayerNormLSTM(5, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    sd = layer.state_dict()
    assert "bias_ih_l0" not in sd
    assert sd["layernorm_i_weight_l1_reverse"].shape == (4, 4) and sd["layernorm_c_bias_l0"].shape == (4,)
    assert np.all(sd["layernorm_h_weight_l0"] == 1) and np.all(sd["layernorm_h_bias_l0"] == 0)
    other = rnnrs.LayerNormLSTM(5, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    other.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((3, 2, 5))
    np.testing.assert_array_equal(other(x)[0], layer(x)[0])
    one = rnnrs.LayerNormLSTM(5, 4, dtype=np.float64, seed=0)
    y, (h, c) = one(x[:1])
    y_t, (h_t, c_t) = one.step(x[0])
    np.testing.assert_allclose(y_t, y[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(c_t, c, rtol=1e-14, atol=1e-14)
    assert repr(one) == "LayerNormLSTM(5, 4, dtype=float64)"


def test_gru_layer_init_round_trip_and_step():
    layer = rnnrs.LayerNormGRU(5, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    sd = layer.state_dict()
    assert sd["layernorm_i_weight_l1_reverse"].shape == (3, 4) and np.all(sd["layernorm_i_weight_l0"] == 1)
    other = rnnrs.LayerNormGRU(5, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    other.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((3, 2, 5))
    np.testing.assert_array_equal(other(x)[0], layer(x)[0])
    one = rnnrs.LayerNormGRU(5, 4, dtype=np.float64, seed=0)
    y, h = one(x[:1])
    y_t, h_t = one.step(x[0])
    np.testing.assert_allclose(y_t, y[0], rtol=1e-14, atol=1e-14)
    assert repr(one) == "LayerNormGRU(5, 4, dtype=float64)"
    # RTRL: exact and SnAp-1 on the dense engine (tests/test_rtrl_cells.py), no UORO
    with pytest.raises(ValueError, match="method: .*RTRL"):
        rtrl.gradient(one, x, np.zeros((3, 2, 4)), method="uoro")


def test_bad_input_is_a_clear_error():
    layer = rnnrs.LayerNormLSTM(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="method: .*RTRL"):
        rtrl.gradient(layer, np.zeros((2, 1, 2)), np.zeros((2, 1, 3)), method="uoro")
    with pytest.raises(ValueError, match="mode"):
        rtrl.Cell("LAYERNORM_LSTM", 2, 3)
    with pytest.raises(ValueError, match="layernorm_c_weight_l0"):
        layer.layernorm_c_weight_l0 = np.ones((4, 3))
    with pytest.raises(TypeError, match="input"):
        layer(np.zeros((2, 1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="c0"):
        layer(np.zeros((2, 1, 2)), (np.zeros((1, 1, 3)), np.zeros((1, 2, 3))))
    y, _ = layer(np.full((2, 1, 2), np.nan))
    assert np.isnan(y).all()
    # A constant row normalises to zero without dividing by zero (eps).
    y, _ = layer(np.zeros((2, 1, 2)))
    assert np.all(np.isfinite(y))
