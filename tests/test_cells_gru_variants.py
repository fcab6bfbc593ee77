"""The GRU family beyond torch's GRU: the gate variants ``rnnrs.GRU(gates="gru1"|"gru2"|"gru3")``
(Dey & Salem 2017) and the minimal gated unit ``rnnrs.MGU`` (Zhou et al. 2016).

Against `rnnrs.reference` (hypothesis over shapes, options and lengths, float64 and float32),
central finite differences in float64 on every parameter, the input and the initial state,
exact RTRL == BPTT (and SnAp-1 exact for one unit), 1 vs 2 threads bit-identical, state_dict
round trip, `step`, and clear errors.
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

MODES = ("GRU1", "GRU2", "GRU3", "MGU")


def layer_of(mode, *args, **kw):
    if mode == "MGU":
        return rnnrs.MGU(*args, **kw)
    return rnnrs.GRU(*args, gates=mode.lower(), **kw)


def fn_kw(mode):
    return {} if mode == "MGU" else {"gates": mode.lower()}


def forward_fn(mode):
    return F.mgu if mode == "MGU" else F.gru


def make(mode, T, B, I, H, *, num_layers=1, bidirectional=False, bias=True, batch_first=False,
         lengths=False, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = ref.init_params(mode, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias, rng=rng)
    rows = (2 if bidirectional else 1) * num_layers
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    d_out = (2 if bidirectional else 1) * H
    case = {"params": params, "x": x, "h0": rng.standard_normal((rows, B, H)),
            "dy": rng.standard_normal(x.shape[:-1] + (d_out,)), "dh_n": rng.standard_normal((rows, B, H))}
    case = {k: ({n: a.astype(dtype) for n, a in v.items()} if k == "params" else v.astype(dtype))
            for k, v in case.items()}
    case["lengths"] = rng.integers(1, T + 1, size=B) if lengths else None
    case.update(mode=mode, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    return case


def run_rnnrs(c):
    y, h_n, ctx = forward_fn(c["mode"])(c["x"], c["params"], c["h0"], batch_first=c["batch_first"], train=True,
                                        lengths=c["lengths"], **fn_kw(c["mode"]))
    dx, dh0, grads = F.gru_backward(ctx, c["dy"], c["dh_n"])
    return y, h_n, dx, dh0, grads


def run_reference(c):
    f64 = {k: v.astype(np.float64) for k, v in c["params"].items()}
    y, h_n, _, cache = ref.rnn_forward(c["mode"], c["x"].astype(np.float64), f64, c["h0"].astype(np.float64),
                                       num_layers=c["num_layers"], bidirectional=c["bidirectional"],
                                       batch_first=c["batch_first"], lengths=c["lengths"])
    dx, dh0, _, grads = ref.rnn_backward(cache, c["dy"].astype(np.float64), c["dh_n"].astype(np.float64))
    return y, h_n, dx, dh0, grads


def compare(got, want, tol):
    for name, g, w in zip(["y", "h_n", "dx", "dh0"], got[:4], want[:4]):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)
    assert set(got[4]) == set(want[4])
    for name, w in want[4].items():
        np.testing.assert_allclose(got[4][name], w, rtol=tol, atol=tol, err_msg=name)


@st.composite
def cases(draw):
    return {"mode": draw(st.sampled_from(MODES)), "T": draw(st.integers(1, 6)), "B": draw(st.integers(1, 4)),
            "I": draw(st.integers(1, 5)), "H": draw(st.integers(1, 7)), "num_layers": draw(st.integers(1, 2)),
            "bidirectional": draw(st.booleans()), "bias": draw(st.booleans()),
            "batch_first": draw(st.booleans()), "lengths": draw(st.booleans()),
            "seed": draw(st.integers(0, 2**31))}


@settings(max_examples=40, deadline=None)
@given(cases())
def test_matches_reference_float64(kw):
    c = make(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float64, **kw)
    compare(run_rnnrs(c), run_reference(c), 1e-12)


@settings(max_examples=20, deadline=None)
@given(cases())
def test_matches_reference_float32(kw):
    c = make(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float32, **kw)
    got = run_rnnrs(c)
    assert got[0].dtype == np.float32
    compare(got, run_reference(c), 1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_finite_differences_on_parameters_input_and_state(mode):
    c = make(mode, 4, 2, 3, 3, num_layers=2, bidirectional=True, seed=7)
    names = list(c["params"])

    def loss(x, h0, *ps):
        y, h_n, _ = forward_fn(mode)(x, dict(zip(names, ps)), h0, **fn_kw(mode))
        return np.sum(y * c["dy"]) + np.sum(h_n * c["dh_n"])

    _y, _h, dx, dh0, grads = run_rnnrs(c)
    inputs = [c["x"], c["h0"]] + [c["params"][n] for n in names]
    gradcheck(loss, inputs, [dx, dh0] + [grads[n] for n in names], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", MODES)
def test_exact_rtrl_equals_bptt_and_snap1_exact_for_one_unit(mode):
    rng = np.random.default_rng(3)
    for H, method in ((4, "exact"), (1, "snap1")):
        layer = layer_of(mode, 3, H, dtype=np.float64, seed=2)
        x, dy, h0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, H)), rng.standard_normal((2, H))
        layer.zero_grad()
        layer.forward(x, h0[None], train=True)
        layer.backward(dy)
        g, y, _state = rtrl.gradient(layer, x, dy, h0=h0, method=method)
        np.testing.assert_allclose(y, layer(x, h0[None])[0], rtol=1e-12, atol=1e-12)
        assert set(g) == set(layer.grads)
        for name, v in g.items():
            assert v.shape == layer.grads[name].shape, name
            scale = np.abs(layer.grads[name]).max()
            assert np.abs(v - layer.grads[name]).max() <= 1e-10 * scale, (method, name)
    # Online: the step-by-step estimates sum to the same.
    layer = layer_of(mode, 3, 4, dtype=np.float64, seed=2)
    x, dy = rng.standard_normal((5, 1, 3)), rng.standard_normal((5, 1, 4))
    layer.zero_grad()
    layer.forward(x, train=True)
    layer.backward(dy)
    online = rtrl.RTRL(layer, method="exact")
    for t in range(5):
        online.step(x[t], dy[t])
    for name, v in online.grads.items():
        np.testing.assert_allclose(v, layer.grads[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(mode, dtype):
    layer = layer_of(mode, 24, 40, num_layers=2, bidirectional=True, dtype=dtype, seed=5)
    x = np.random.default_rng(1).standard_normal((10, 40, 24)).astype(dtype)
    lengths = np.random.default_rng(2).integers(1, 11, size=40)
    before = rnnrs.get_num_threads()
    out = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            run = []
            for lg in (None, lengths):
                y, _ = layer.forward(x, train=True, lengths=lg)
                layer.zero_grad()
                dx, _ = layer.backward(np.cos(y))
                run += [y, dx] + [g.copy() for g in layer.grads.values()]
            out.append(run)
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_layouts_state_dict_step_and_default_unchanged():
    H, I = 4, 5
    want = {"gru1": [(H, I), (3 * H, H), (H,), (3 * H,)], "gru2": [(H, I), (3 * H, H), (H,), (H,)],
            "gru3": [(H, I), (H, H), (H,), (3 * H,)], "full": [(3 * H, I), (3 * H, H), (3 * H,), (3 * H,)]}
    x = np.random.default_rng(0).standard_normal((3, 2, I))
    for gates, shapes in want.items():
        layer = rnnrs.GRU(I, H, gates=gates, dtype=np.float64, seed=0)
        assert [p.shape for p in layer.parameters()] == shapes, gates
        other = rnnrs.GRU(I, H, gates=gates, dtype=np.float64, seed=1)
        other.load_state_dict(layer.state_dict())
        np.testing.assert_array_equal(other(x)[0], layer(x)[0])
        # step == a one-step call.
        y1, h1 = layer.step(x[0])
        np.testing.assert_allclose(y1, layer(x[:1])[0][0], rtol=1e-14, atol=1e-15)
        if gates != "full":
            assert f"gates='{gates}'" in repr(layer)
            with pytest.raises(ValueError):
                layer.load_state_dict(rnnrs.GRU(I, H, dtype=np.float64).state_dict())
    mgu = rnnrs.MGU(I, H, dtype=np.float64, seed=0)
    assert [p.shape for p in mgu.parameters()] == [(2 * H, I), (2 * H, H), (2 * H,), (2 * H,)]
    other = rnnrs.MGU(I, H, dtype=np.float64, seed=3)
    other.load_state_dict(mgu.state_dict())
    np.testing.assert_array_equal(other(x)[0], mgu(x)[0])
    np.testing.assert_allclose(mgu.step(x[0])[0], mgu(x[:1])[0][0], rtol=1e-14, atol=1e-15)
    # The default is torch's GRU (its fixtures live in test_layers_fixtures), and the variants differ.
    outs = [rnnrs.GRU(I, H, gates=g, dtype=np.float64, seed=0)(x)[0] for g in ("full", "gru1", "gru2", "gru3")]
    for a in range(4):
        for b in range(a + 1, 4):
            assert not np.allclose(outs[a], outs[b])


def test_gru3_gates_are_constant_per_unit():
    layer = rnnrs.GRU(2, 3, gates="gru3", dtype=np.float64, seed=0)
    # z = sigmoid(b_hz): with z -> 1 the state is kept whatever the input.
    layer.bias_hh_l0[3:6] = 50.0
    h0 = np.random.default_rng(0).standard_normal((1, 4, 3))
    _, h_n = layer(np.random.default_rng(1).standard_normal((7, 4, 2)), h0)
    np.testing.assert_allclose(h_n, h0, atol=1e-15 * 7 + 1e-12)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="gates"):
        rnnrs.GRU(2, 3, gates="gru4")
    with pytest.raises(ValueError, match="gates"):
        rnnrs.GRU(2, 3, gates=1)
    with pytest.raises(ValueError, match="gates"):
        F.gru(np.zeros((2, 1, 2)), rnnrs.GRU(2, 3).params, gates="GRU1")
    layer = rnnrs.GRU(2, 3, gates="gru2", dtype=np.float64)
    with pytest.raises(ValueError, match="bias_hh_l0"):
        layer.bias_hh_l0 = np.zeros(9)
    with pytest.raises(TypeError, match="input"):
        layer(np.zeros((2, 1, 2), np.float32))
    with pytest.raises(ValueError, match="h0"):
        layer(np.zeros((2, 1, 2)), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="lengths"):
        layer(np.zeros((2, 1, 2)), lengths=[3])
    with pytest.raises(ValueError, match="hidden_size"):
        rnnrs.MGU(2, 0)
    # A variant's parameters under the wrong mode: named, not a crash.
    with pytest.raises(ValueError, match="weight_ih_l0"):
        F.gru(np.zeros((2, 1, 2)), dict(layer.params))
    # RTRL refuses a variant in its own layout at the core level (the layer adapter pads it).
    with pytest.raises(ValueError, match="mode"):
        rnnrs._core.rtrl_sensitivity_bytes("GRU1", "exact", "float64", 2, 3, 1)


def test_nan_input_propagates():
    for mode in MODES:
        layer = layer_of(mode, 2, 3, dtype=np.float64)
        x = np.zeros((3, 1, 2))
        x[1, 0, 0] = np.nan
        y, _ = layer(x)
        assert np.isnan(y[1:]).all() and np.isfinite(y[0]).all()
