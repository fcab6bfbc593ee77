"""Leaky-integrator RNN with learned per-unit time constants, ``rnnrs.LeakyRNN``
(h' = (1 - α) h + α tanh(W x + U h + b), α = sigmoid(alpha_logit) per unit).

Against `rnnrs.reference` (hypothesis over shapes and options, lengths included), central finite
differences in float64 on every parameter, the input and the initial state, exact RTRL == BPTT,
SnAp-1, 1 vs 2 threads bit-identical, fixed α, state_dict round trip and clear errors.
"""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs import rtrl
from rnnrs.cells import leaky_rnn, leaky_rnn_backward
from rnnrs.reference import layers as ref
from rnnrs.reference.gradcheck import gradcheck

MODE = "LEAKY"


def make(T, B, I, H, *, num_layers=1, bidirectional=False, bias=True, batch_first=False, dtype=np.float64,
         seed=0, lengths=False):
    rng = np.random.default_rng(seed)
    params = ref.init_params(MODE, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias, rng=rng)
    params = {k: (v * 4 if k.startswith("alpha_logit") else v) for k, v in params.items()}  # α spread out
    rows = (2 if bidirectional else 1) * num_layers
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    d_out = (2 if bidirectional else 1) * H
    case = {"params": params, "x": x, "h0": rng.standard_normal((rows, B, H)),
            "dy": rng.standard_normal(x.shape[:-1] + (d_out,)), "dh_n": rng.standard_normal((rows, B, H))}
    case = {k: ({n: a.astype(dtype) for n, a in v.items()} if k == "params" else v.astype(dtype))
            for k, v in case.items()}
    case.update(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                lengths=rng.integers(1, T + 1, B) if lengths else None)
    if lengths:
        for b, n in enumerate(case["lengths"]):
            (case["dy"][b, n:] if batch_first else case["dy"][n:, b])[...] = 0
    return case


def run_rnnrs(c):
    y, h_n, ctx = leaky_rnn(c["x"], c["params"], c["h0"], batch_first=c["batch_first"], train=True,
                            lengths=c["lengths"])
    dx, dh0, grads = leaky_rnn_backward(ctx, c["dy"], c["dh_n"])
    return y, h_n, dx, dh0, grads


def run_reference(c):
    f64 = {k: v.astype(np.float64) for k, v in c["params"].items()}
    y, h_n, _, cache = ref.rnn_forward(MODE, c["x"].astype(np.float64), f64, c["h0"].astype(np.float64),
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
    return {"T": draw(st.integers(1, 6)), "B": draw(st.integers(1, 18)), "I": draw(st.integers(1, 5)),
            "H": draw(st.integers(1, 7)), "num_layers": draw(st.integers(1, 2)),
            "bidirectional": draw(st.booleans()), "bias": draw(st.booleans()), "batch_first": draw(st.booleans()),
            "lengths": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


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
    assert got[0].dtype == np.float32 and got[4]["alpha_logit_l0"].dtype == np.float32
    compare(got, run_reference(c), 3e-4)


def test_finite_differences_on_parameters_input_and_state():
    c = make(4, 2, 3, 3, num_layers=2, bidirectional=True, seed=7)
    names = list(c["params"])
    assert "alpha_logit_l1_reverse" in names

    def loss(x, h0, *ps):
        y, h_n, _ = leaky_rnn(x, dict(zip(names, ps)), h0)
        return np.sum(y * c["dy"]) + np.sum(h_n * c["dh_n"])

    _y, _h, dx, dh0, grads = run_rnnrs(c)
    gradcheck(loss, [c["x"], c["h0"]] + [c["params"][n] for n in names], [dx, dh0] + [grads[n] for n in names],
              rtol=1e-6, atol=1e-8)


def test_alpha_one_is_the_elman_rnn_and_small_alpha_integrates_slowly():
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    leaky = rnnrs.LeakyRNN(3, 4, alpha=1 - 1e-12, dtype=np.float64, seed=0)
    elman = rnnrs.RNN(3, 4, dtype=np.float64, seed=0)
    elman.load_state_dict({k: v for k, v in leaky.state_dict().items() if not k.startswith("alpha")})
    np.testing.assert_allclose(leaky(x)[0], elman(x)[0], atol=1e-10)
    slow = rnnrs.LeakyRNN(3, 4, alpha=0.01, dtype=np.float64, seed=0)
    y, _ = slow(x, np.ones((1, 2, 4)))
    assert np.all(np.abs(y[0] - 1) < 0.03)  # barely moved from h0 after one step


@pytest.mark.parametrize("method,H", [("exact", 4), ("snap1", 1)])
def test_rtrl_equals_bptt(method, H):
    rng = np.random.default_rng(3)
    layer = rnnrs.LeakyRNN(3, H, dtype=np.float64, seed=2)
    layer.alpha_logit_l0 = rng.standard_normal(H) * 2
    x, dy, h0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, H)), rng.standard_normal((2, H))
    layer.zero_grad()
    layer.forward(x, h0[None], train=True)
    layer.backward(dy)
    g, y, _ = rtrl.gradient(layer, x, dy, h0=h0, method=method)
    np.testing.assert_allclose(y, layer(x, h0[None])[0], rtol=1e-13, atol=1e-13)
    assert set(g) == set(layer.grads)
    for name, v in g.items():
        scale = np.abs(layer.grads[name]).max()
        assert np.abs(v - layer.grads[name]).max() <= 1e-10 * scale, (method, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(dtype):
    layer = rnnrs.LeakyRNN(24, 40, num_layers=2, bidirectional=True, dtype=dtype, seed=5)
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


def test_fixed_alpha_is_not_trained():
    layer = rnnrs.LeakyRNN(3, 4, alpha=0.3, learn_alpha=False, dtype=np.float64, seed=0)
    np.testing.assert_allclose(layer.alpha["alpha_logit_l0"], 0.3)
    assert "alpha_logit_l0" in layer.state_dict() and "alpha_logit_l0" not in layer.grads
    assert [n for n, _ in layer.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    opt = rnnrs.optim.Adam(dict(layer.named_parameters()), lr=0.1, weight_decay=0.1)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    for _ in range(3):
        layer.zero_grad()
        y, _ = layer.forward(x, train=True)
        layer.backward(y)
        opt.step(layer.grads)
    np.testing.assert_allclose(layer.alpha["alpha_logit_l0"], 0.3)
    assert "learn_alpha=False" in repr(layer)


def test_state_dict_round_trip_and_step():
    layer = rnnrs.LeakyRNN(5, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    sd = layer.state_dict()
    assert sd["alpha_logit_l1_reverse"].shape == (4,)
    other = rnnrs.LeakyRNN(5, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    other.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((3, 2, 5))
    np.testing.assert_array_equal(other(x)[0], layer(x)[0])
    one = rnnrs.LeakyRNN(5, 4, num_layers=2, dtype=np.float64, seed=0)
    y, h = one(x[:1])
    y_t, h_t = one.step(x[0])
    np.testing.assert_allclose(y_t, y[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(h_t, h, rtol=1e-14, atol=1e-14)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="alpha"):
        rnnrs.LeakyRNN(2, 3, alpha=1.0)
    with pytest.raises(ValueError, match="alpha"):
        rnnrs.LeakyRNN(2, 3, alpha=np.full(4, 0.5))
    with pytest.raises(TypeError, match="learn_alpha"):
        rnnrs.LeakyRNN(2, 3, learn_alpha="no")
    layer = rnnrs.LeakyRNN(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="alpha_logit_l0"):
        layer.alpha_logit_l0 = np.zeros((3, 1))
    with pytest.raises(TypeError, match="input"):
        layer(np.zeros((2, 1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="h0"):
        layer(np.zeros((2, 1, 2)), np.zeros((1, 2, 3)))
    y, _ = layer(np.full((2, 1, 2), np.nan))
    assert np.isnan(y).all()
