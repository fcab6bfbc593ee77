"""Tests of `rnnrs.reference` (NumPy Elman / LSTM / GRU) and of `rnnrs.gradcheck`.

- the PyTorch fixtures: outputs, final states and every gradient;
- the reference BPTT against central finite differences in float64, over hypothesis-drawn configurations;
- gradcheck itself, and clear errors for bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import (
    MODES,
    elman_step,
    gru_step,
    init_params,
    lstm_step,
    numerical_grad,
    param_names,
    param_shapes,
    rnn_backward,
    rnn_forward,
)
from torch_fixtures import fixture_params, load, tolerances

# ---------------------------------------------------------------------------------------------
# PyTorch fixtures
# ---------------------------------------------------------------------------------------------


def _check(name, got, want, rtol, atol):
    assert got is not None, f"{name}: missing"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, fixture {want.dtype}"
    assert got.shape == want.shape, f"{name}: shape {got.shape}, fixture {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("path", fixture_params("*_l[0-9]_*.npz"))
def test_matches_torch_fixture(path):
    meta, a = load(path)
    assert meta["kind"] == "rnn_layer"
    names = meta["param_names"]
    assert names == param_names(meta["mode"], meta["num_layers"], meta["bidirectional"], meta["bias"],
                                meta["proj_size"])
    params = {name: a[name] for name in names}
    y, h_n, c_n, cache = rnn_forward(meta["mode"], a["x"], params, a.get("h0"), a.get("c0"),
                                     num_layers=meta["num_layers"], bidirectional=meta["bidirectional"],
                                     batch_first=meta["batch_first"])
    dx, dh0, dc0, grads = rnn_backward(cache, a["dy"], a["dh_n"], a.get("dc_n"))

    rtol, atol = tolerances(meta)
    _check("y", y, a["y"], rtol, atol)
    _check("h_n", h_n, a["h_n"], rtol, atol)
    _check("grad_x", dx, a["grad_x"], rtol, atol)
    if meta["mode"] == "LSTM":
        _check("c_n", c_n, a["c_n"], rtol, atol)
    else:
        assert c_n is None and dc0 is None
    if meta["has_h0"]:
        _check("grad_h0", dh0, a["grad_h0"], rtol, atol)
        if meta["mode"] == "LSTM":
            _check("grad_c0", dc0, a["grad_c0"], rtol, atol)
    assert list(grads) == names
    for name in names:
        _check(f"grad/{name}", grads[name], a[f"grad/{name}"], rtol, atol)


# ---------------------------------------------------------------------------------------------
# Finite differences in float64
# ---------------------------------------------------------------------------------------------


@st.composite
def configurations(draw, mode):
    lstm = mode == "LSTM"
    hidden = draw(st.integers(1, 5))
    return {
        "mode": mode,
        "T": draw(st.integers(1, 5)),
        "B": draw(st.integers(1, 3)),
        "I": draw(st.integers(1, 5)),
        "H": hidden,
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "proj_size": draw(st.integers(0, hidden - 1)) if lstm and hidden > 1 else 0,
        "has_h0": draw(st.booleans()),
        "unbatched": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _case(cfg):
    """Random float64 inputs, parameters and loss weights for one configuration."""
    rng = np.random.default_rng(cfg["seed"])
    mode, T, B, L = cfg["mode"], cfg["T"], cfg["B"], cfg["num_layers"]
    D = 2 if cfg["bidirectional"] else 1
    h_out = cfg["proj_size"] or cfg["H"]
    params = init_params(mode, cfg["I"], cfg["H"], num_layers=L, bidirectional=cfg["bidirectional"],
                         bias=cfg["bias"], proj_size=cfg["proj_size"], rng=rng)
    batch = () if cfg["unbatched"] else (B,)
    x_shape = (T, cfg["I"]) if cfg["unbatched"] else ((B, T, cfg["I"]) if cfg["batch_first"] else (T, B, cfg["I"]))
    x = rng.standard_normal(x_shape)
    h0 = rng.standard_normal((D * L, *batch, h_out)) if cfg["has_h0"] else None
    c0 = rng.standard_normal((D * L, *batch, cfg["H"])) if cfg["has_h0"] and mode == "LSTM" else None
    dy = rng.standard_normal(x_shape[:-1] + (D * h_out,))
    dh_n = rng.standard_normal((D * L, *batch, h_out))
    dc_n = rng.standard_normal((D * L, *batch, cfg["H"])) if mode == "LSTM" else None
    return x, h0, c0, params, dy, dh_n, dc_n


def _fd_check(cfg):
    x, h0, c0, params, dy, dh_n, dc_n = _case(cfg)
    mode, names = cfg["mode"], list(params)
    options = {"num_layers": cfg["num_layers"], "bidirectional": cfg["bidirectional"],
               "batch_first": cfg["batch_first"]}
    states = [s for s in (h0, c0) if s is not None]

    def loss(x, *rest):
        """sum(y dy) + sum(h_n dh_n) [+ sum(c_n dc_n)] as a function of x, the given states, the params."""
        h0_, c0_ = (list(rest[:len(states)]) + [None, None])[:2]
        y, h_n, c_n, _ = rnn_forward(mode, x, dict(zip(names, rest[len(states):])), h0_, c0_, **options)
        total = np.sum(y * dy) + np.sum(h_n * dh_n)
        return total + np.sum(c_n * dc_n) if mode == "LSTM" else total

    _, _, _, cache = rnn_forward(mode, x, params, h0, c0, **options)
    dx, dh0, dc0, grads = rnn_backward(cache, dy, dh_n, dc_n)
    analytic = [dx] + [dh0, dc0][:len(states)] + [grads[n] for n in names]
    # Central differences with eps = 1e-6 carry a rounding noise of about 1e-16 * |loss| / eps ~ 1e-9 here,
    # hence atol = 1e-8: tiny gradient entries are compared in absolute terms, the rest to 1e-6 relative.
    error = rnnrs.gradcheck(loss, [x, *states, *params.values()], analytic, rtol=1e-6, atol=1e-8)
    assert error <= 1e-6


@pytest.mark.parametrize("mode", MODES)
def test_backward_matches_finite_differences(mode):
    @settings(max_examples=25, deadline=None)
    @given(configurations(mode))
    def check(cfg):
        _fd_check(cfg)

    check()


def test_float32_stays_float32_and_agrees_with_float64():
    rng = np.random.default_rng(3)
    params = init_params("LSTM", 3, 5, num_layers=2, bidirectional=True, proj_size=2, rng=rng)
    x = rng.standard_normal((4, 2, 3))
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    y64, h64, c64, cache64 = rnn_forward("LSTM", x, params, num_layers=2, bidirectional=True)
    y32, h32, c32, cache32 = rnn_forward("LSTM", x.astype(np.float32), params32, num_layers=2,
                                         bidirectional=True)
    dy = rng.standard_normal(y64.shape)
    out64 = rnn_backward(cache64, dy)
    out32 = rnn_backward(cache32, dy.astype(np.float32))
    for got, want in [(y32, y64), (h32, h64), (c32, c64), *zip(out32[:3], out64[:3])]:
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for name in params:
        assert out32[3][name].dtype == np.float32
        np.testing.assert_allclose(out32[3][name], out64[3][name], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Single steps agree with the sequence driver
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_single_step_equals_one_step_sequence(mode):
    rng = np.random.default_rng(7)
    params = init_params(mode, 3, 4, proj_size=2 if mode == "LSTM" else 0, rng=rng)
    x = rng.standard_normal((2, 3))
    h_out = 2 if mode == "LSTM" else 4
    h = rng.standard_normal((2, h_out))
    c = rng.standard_normal((2, 4))
    weights = [params[n] for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    y, h_n, c_n, _ = rnn_forward(mode, x[None], params, h[None], c[None] if mode == "LSTM" else None)
    if mode == "LSTM":
        h_new, c_new = lstm_step(x, h, c, *weights, w_hr=params["weight_hr_l0"])
        np.testing.assert_allclose(c_new, c_n[0], rtol=1e-14)
    elif mode == "GRU":
        h_new = gru_step(x, h, *weights)
    else:
        h_new = elman_step(x, h, *weights, nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
    np.testing.assert_allclose(h_new, y[0], rtol=1e-14)
    np.testing.assert_allclose(h_new, h_n[0], rtol=1e-14)


def test_gru_step_formula_by_hand():
    """n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): reset applied after the recurrent product."""
    rng = np.random.default_rng(11)
    x, h = rng.standard_normal((1, 2)), rng.standard_normal((1, 3))
    w_ih, w_hh = rng.standard_normal((9, 2)), rng.standard_normal((9, 3))
    b_ih, b_hh = rng.standard_normal(9), rng.standard_normal(9)
    def sig(a):
        return 1 / (1 + np.exp(-a))

    r = sig(w_ih[0:3] @ x[0] + b_ih[0:3] + w_hh[0:3] @ h[0] + b_hh[0:3])
    z = sig(w_ih[3:6] @ x[0] + b_ih[3:6] + w_hh[3:6] @ h[0] + b_hh[3:6])
    n = np.tanh(w_ih[6:9] @ x[0] + b_ih[6:9] + r * (w_hh[6:9] @ h[0] + b_hh[6:9]))
    np.testing.assert_allclose(gru_step(x, h, w_ih, w_hh, b_ih, b_hh)[0], (1 - z) * n + z * h[0], rtol=1e-14)


def test_param_helpers_follow_torch_order_and_init_range():
    assert param_names("LSTM", 2, True, True, 3) == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        "weight_hr_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_hr_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
        "weight_hr_l1_reverse",
    ]
    assert param_names("GRU", 1, False, False) == ["weight_ih_l0", "weight_hh_l0"]
    shapes = param_shapes("LSTM", 7, 5, 2, True, True, 3)
    assert shapes["weight_ih_l1_reverse"] == (20, 6) and shapes["weight_hh_l0"] == (20, 3)
    assert shapes["weight_hr_l1"] == (3, 5)
    params = init_params("GRU", 7, 16, num_layers=2, dtype=np.float32, rng=np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == param_shapes("GRU", 7, 16, 2)
    for value in params.values():
        assert value.dtype == np.float32
        assert np.all(np.abs(value) <= 0.25) and np.abs(value).max() > 0.2  # uniform(-1/4, 1/4)


# ---------------------------------------------------------------------------------------------
# gradcheck itself
# ---------------------------------------------------------------------------------------------


def _product_case():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal(4)

    def f(a, b):
        return np.sum(np.sin(a)) * np.sum(b**2)

    grads = [np.cos(a) * np.sum(b**2), 2 * b * np.sum(np.sin(a))]
    return f, [a, b], grads


def test_numerical_grad_matches_known_gradient_and_leaves_inputs_alone():
    f, inputs, grads = _product_case()
    before = [v.copy() for v in inputs]
    numerical = numerical_grad(f, inputs)
    for num, exact, orig, now in zip(numerical, grads, before, inputs):
        assert num.dtype == np.float64 and num.shape == exact.shape
        np.testing.assert_allclose(num, exact, rtol=1e-7, atol=1e-9)
        np.testing.assert_array_equal(orig, now)


def test_gradcheck_passes_on_correct_gradient():
    f, inputs, grads = _product_case()
    error = rnnrs.gradcheck(f, inputs, grads)
    assert 0 <= error <= 1e-6


def test_gradcheck_raises_on_wrong_gradient():
    f, inputs, grads = _product_case()
    wrong = [grads[0], grads[1].copy()]
    wrong[1][2] *= 1.001
    with pytest.raises(AssertionError, match=r"inputs\[1\] at index \(2,\)") as info:
        rnnrs.gradcheck(f, inputs, wrong)
    assert repr(float(wrong[1][2])) in str(info.value)
    nan = [grads[0].copy(), grads[1]]
    nan[0][1, 0] = np.nan
    with pytest.raises(AssertionError, match=r"inputs\[0\] at index \(1, 0\)"):
        rnnrs.gradcheck(f, inputs, nan)


def test_gradcheck_rejects_bad_arguments():
    f, inputs, grads = _product_case()
    with pytest.raises(TypeError, match=r"inputs\[1\].*float64"):
        rnnrs.gradcheck(f, [inputs[0], inputs[1].astype(np.float32)], grads)
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        numerical_grad(f, [[1.0, 2.0], inputs[1]])
    with pytest.raises(ValueError, match="f: must return a scalar"):
        numerical_grad(lambda a, b: a * 2, inputs)
    with pytest.raises(ValueError, match="grads"):
        rnnrs.gradcheck(f, inputs, grads[:1])
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        rnnrs.gradcheck(f, inputs, [grads[0], grads[1][:2]])
    with pytest.raises(ValueError, match="eps"):
        numerical_grad(f, inputs, eps=0.0)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def _gru():
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 2, 3)), init_params("GRU", 3, 5, rng=rng)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda x, p: ("GRUX", x, p, {}), ValueError, "mode"),
        (lambda x, p: ("GRU", x[0, 0], p, {}), ValueError, "x: expected 2-D"),
        (lambda x, p: ("GRU", x[None], p, {}), ValueError, "x: expected 2-D"),
        (lambda x, p: ("GRU", x[..., :2], p, {}), ValueError, "x: expected 3 input features"),
        (lambda x, p: ("GRU", x[:0], p, {}), ValueError, r"x: empty sequence"),
        (lambda x, p: ("GRU", x.astype(np.int64), p, {}), TypeError, "x: expected a float32 or float64"),
        (lambda x, p: ("GRU", x, {k: v for k, v in p.items() if k != "bias_hh_l0"}, {}),
         ValueError, "params: missing 'bias_hh_l0'"),
        (lambda x, p: ("GRU", x, {**p, "weight_hh_l0": p["weight_hh_l0"][:, :4]}, {}),
         ValueError, r"params\['weight_hh_l0'\]: expected shape \(15, 5\)"),
        (lambda x, p: ("GRU", x, {**p, "weight_hh_l0": p["weight_hh_l0"][:14]}, {}),
         ValueError, r"params\['weight_hh_l0'\]"),
        (lambda x, p: ("GRU", x, {**p, "weight_hr_l0": np.zeros((2, 5))}, {}), ValueError, "params: unexpected"),
        (lambda x, p: ("GRU", x, p, {"num_layers": 2}), ValueError, "params: missing 'weight_ih_l1'"),
        (lambda x, p: ("GRU", x, {"weight_ih_l0": p["weight_ih_l0"]}, {}), ValueError,
         "params: missing 'weight_hh_l0'"),
        (lambda x, p: ("GRU", x, p, {"num_layers": 0}), ValueError, "num_layers"),
        (lambda x, p: ("GRU", x, [1, 2], {}), TypeError, "params"),
        (lambda x, p: ("GRU", x, p, {"h0": np.zeros((1, 3, 5))}), ValueError, r"h0: expected shape \(1, 2, 5\)"),
        (lambda x, p: ("GRU", x, p, {"c0": np.zeros((1, 2, 5))}), ValueError, "c0: only LSTM"),
    ],
)
def test_forward_rejects_bad_input(change, error, match):
    mode, x, params, kwargs = change(*_gru())
    with pytest.raises(error, match=match):
        rnn_forward(mode, x, params, **kwargs)


def test_lstm_cell_state_shape_is_checked():
    rng = np.random.default_rng(2)
    params = init_params("LSTM", 3, 4, rng=rng)
    with pytest.raises(ValueError, match=r"c0: expected shape \(1, 2, 4\)"):
        rnn_forward("LSTM", np.zeros((3, 2, 3)), params, c0=np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"params\['weight_hr_l0'\]: proj_size"):
        rnn_forward("LSTM", np.zeros((3, 2, 3)), {**params, "weight_hr_l0": np.zeros((4, 4))})


def test_backward_rejects_bad_input():
    x, params = _gru()
    y, h_n, _, cache = rnn_forward("GRU", x, params)
    with pytest.raises(ValueError, match=r"dy: expected shape \(4, 2, 5\)"):
        rnn_backward(cache, y[:3])
    with pytest.raises(ValueError, match="dh_n: expected shape"):
        rnn_backward(cache, y, h_n[0])
    with pytest.raises(ValueError, match="dc_n: only LSTM"):
        rnn_backward(cache, y, h_n, h_n)
    with pytest.raises(TypeError, match="cache"):
        rnn_backward({}, y)


def test_step_and_init_reject_bad_arguments():
    with pytest.raises(ValueError, match="nonlinearity"):
        elman_step(np.zeros((1, 2)), np.zeros((1, 3)), np.zeros((3, 2)), np.zeros((3, 3)), nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="rng"):
        init_params("LSTM", 2, 3, rng=0)
    with pytest.raises(ValueError, match="proj_size"):
        init_params("GRU", 2, 3, proj_size=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="hidden_size"):
        init_params("GRU", 2, 0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="mode"):
        param_names("lstm", 1)
    with pytest.raises(ValueError, match="mode"):
        init_params("lstm", 2, 3, proj_size=1, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="dtype"):
        init_params("GRU", 2, 3, dtype=np.int32, rng=np.random.default_rng(0))
