"""rnnrs.Jordan (recurrence through the output): against `rnnrs.reference.jordan` (hypothesis over
shapes, activations, layers, lengths, float64 and float32), central finite differences in float64
on every parameter, the input and y0, 1 vs 2 threads bit-identical, state_dict and clear errors."""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import jordan as ref
from rnnrs.reference.gradcheck import gradcheck

ACTS = ("tanh", "sigmoid", "identity")
BASES = ("weight_ih", "weight_hy", "bias_h", "weight_yh", "bias_y")


def layer_dicts(layer):
    return [{b: layer.params[f"{b}_l{k}"].astype(np.float64) for b in BASES} for k in range(layer.num_layers)]


@st.composite
def cases(draw):
    return {"T": draw(st.integers(1, 6)), "B": draw(st.integers(1, 4)), "I": draw(st.integers(1, 4)),
            "H": draw(st.integers(1, 6)), "O": draw(st.integers(1, 4)), "L": draw(st.integers(1, 2)),
            "ah": draw(st.sampled_from(ACTS)), "ay": draw(st.sampled_from(ACTS)),
            "lengths": draw(st.booleans()), "batch_first": draw(st.booleans()), "seed": draw(st.integers(0, 2**31))}


def check_against_reference(kw, dtype, tol):
    rng = np.random.default_rng(kw["seed"])
    T, B = kw["T"], kw["B"]
    layer = rnnrs.Jordan(kw["I"], kw["H"], kw["O"], num_layers=kw["L"], hidden_activation=kw["ah"],
                         output_activation=kw["ay"], batch_first=kw["batch_first"], dtype=dtype, seed=kw["seed"])
    x = rng.standard_normal((T, B, kw["I"])).astype(dtype)
    y0 = rng.standard_normal((kw["L"], B, kw["O"])).astype(dtype)
    dy = rng.standard_normal((T, B, kw["O"])).astype(dtype)
    dy_n = rng.standard_normal((kw["L"], B, kw["O"])).astype(dtype)
    lengths = rng.integers(1, T + 1, size=B) if kw["lengths"] else None
    tr = (lambda a: np.ascontiguousarray(a.transpose(1, 0, 2))) if kw["batch_first"] else (lambda a: a)
    y, y_n = layer.forward(tr(x), y0, lengths=lengths)
    assert y.dtype == dtype
    dx, dy0 = layer.backward(tr(dy), dy_n)
    f = {k: v.astype(np.float64) for k, v in (("x", x), ("y0", y0), ("dy", dy), ("dy_n", dy_n))}
    yr, ynr, caches = ref.stacked_forward(f["x"], layer_dicts(layer), f["y0"], kw["ah"], kw["ay"], lengths)
    dxr, dy0r, grads = ref.stacked_backward(caches, f["dy"], f["dy_n"])
    for name, got, want in (("y", tr(y), yr), ("y_n", y_n, ynr), ("dx", tr(dx), dxr), ("dy0", dy0, dy0r)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=name)
    for k, g in enumerate(grads):
        for b, want in g.items():
            np.testing.assert_allclose(layer.grads[f"{b}_l{k}"], want, rtol=tol, atol=tol, err_msg=f"{b}_l{k}")


@settings(max_examples=40, deadline=None)
@given(cases())
def test_matches_reference_float64(kw):
    check_against_reference(kw, np.float64, 1e-12)


@settings(max_examples=20, deadline=None)
@given(cases())
def test_matches_reference_float32(kw):
    check_against_reference(kw, np.float32, 1e-5)


@pytest.mark.parametrize("acts", [("tanh", "tanh"), ("sigmoid", "identity"), ("identity", "sigmoid")])
def test_finite_differences_on_parameters_input_and_y0(acts):
    layer = rnnrs.Jordan(3, 4, 2, num_layers=2, hidden_activation=acts[0], output_activation=acts[1],
                         dtype=np.float64, seed=1)
    rng = np.random.default_rng(2)
    x, y0 = rng.standard_normal((4, 3, 3)), rng.standard_normal((2, 3, 2))
    wy, wn = rng.standard_normal((4, 3, 2)), rng.standard_normal((2, 3, 2))
    lengths = np.array([4, 2, 3])
    names = list(layer.params)

    def loss(x, y0, *ps):
        probe = rnnrs.Jordan(3, 4, 2, num_layers=2, hidden_activation=acts[0], output_activation=acts[1],
                             dtype=np.float64)
        probe.load_state_dict(dict(zip(names, ps)))
        y, y_n = probe(x, y0, lengths=lengths)
        return np.sum(y * wy) + np.sum(y_n * wn)

    layer.forward(x, y0, lengths=lengths)
    dx, dy0 = layer.backward(wy, wn)
    inputs = [x, y0] + [layer.params[n].copy() for n in names]
    gradcheck(loss, inputs, [dx, dy0] + [layer.grads[n] for n in names], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "sizes, shape, with_lengths, seed",
    [
        # Small: serial at both thread counts; with and without lengths.
        ((24, 48, 16), (12, 40), True, 5),
        # Big enough that 2 threads split each step into two row blocks while
        # 1 thread runs it whole (float32 on the packed kernels); batch 46:
        # partial tiles.
        ((64, 96, 48), (20, 46), False, 7),
    ],
    ids=["small", "whole-vs-split"],
)
def test_one_and_two_threads_bit_identical(dtype, sizes, shape, with_lengths, seed):
    layer = rnnrs.Jordan(*sizes, num_layers=2, dtype=dtype, seed=seed)
    (t, b), i = shape, sizes[0]
    x = np.random.default_rng(1).standard_normal((t, b, i)).astype(dtype)
    runs = [None] + ([np.random.default_rng(2).integers(1, t + 1, size=b)] if with_lengths else [])
    before = rnnrs.get_num_threads()
    out = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            run = []
            for lg in runs:
                y, _ = layer.forward(x, lengths=lg)
                layer.zero_grad()
                dx, _ = layer.backward(np.cos(y))
                run += [y, dx] + [g.copy() for g in layer.grads.values()]
            out.append(run)
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_state_dict_unbatched_and_inference():
    layer = rnnrs.Jordan(3, 5, 2, num_layers=2, dtype=np.float64, seed=0)
    assert [p.shape for p in layer.parameters()][:5] == [(5, 3), (5, 2), (5,), (2, 5), (2,)]
    assert layer.weight_ih_l1.shape == (5, 2)
    other = rnnrs.Jordan(3, 5, 2, num_layers=2, dtype=np.float64, seed=1)
    other.load_state_dict(layer.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 3))
    y, y_n = layer(x)
    assert y.shape == (4, 2) and y_n.shape == (2, 2)
    np.testing.assert_array_equal(other(x)[0], y)
    np.testing.assert_array_equal(layer(x[:, None])[0][:, 0], y)
    # Training and inference forwards agree; y_n is the last output of the top layer.
    np.testing.assert_array_equal(layer.forward(x)[0], y)
    np.testing.assert_array_equal(y_n[-1], y[-1])
    dx, dy0 = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and dy0.shape == (2, 2)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="hidden_activation"):
        rnnrs.Jordan(2, 3, 1, hidden_activation="relu")
    with pytest.raises(ValueError, match="output_size"):
        rnnrs.Jordan(2, 3, 0)
    with pytest.raises(TypeError, match="dtype"):
        rnnrs.Jordan(2, 3, 1, dtype=np.int32)
    layer = rnnrs.Jordan(2, 3, 1, dtype=np.float64)
    with pytest.raises(TypeError, match="input"):
        layer(np.zeros((3, 1, 2), np.float32))
    with pytest.raises(ValueError, match="input"):
        layer(np.zeros((3, 1, 4)))
    with pytest.raises(ValueError, match="y0"):
        layer(np.zeros((3, 2, 2)), np.zeros((1, 1, 1)))
    with pytest.raises(ValueError, match="lengths"):
        layer(np.zeros((3, 2, 2)), lengths=[1, 4])
    with pytest.raises(ValueError, match="weight_yh_l0"):
        layer.weight_yh_l0 = np.zeros((3, 1))
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((3, 2, 1)))
    layer.forward(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((3, 2, 2)))
    x = np.zeros((3, 1, 2))
    x[1] = np.nan
    y, _ = layer(x)
    assert np.isnan(y[1:]).all() and np.isfinite(y[0]).all()
