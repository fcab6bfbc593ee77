"""Variable-length batches (`lengths`): PyTorch's packed-sequence fixtures,
`rnnrs.reference` (each sequence run alone), finite differences, thread-count
independence, the Python paths around the layers, and bad input."""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_cases import MODES, loss, make_case, run_reference, run_rnnrs
from test_layers_fixtures import make_layer
from test_layers_reference import compare
from torch_fixtures import fixture_params, load, tolerances


@pytest.mark.parametrize("path", fixture_params("packed_*.npz"))
def test_packed_fixture(path):
    meta, a = load(path)
    assert meta["kind"] == "rnn_packed"
    rtol, atol = tolerances(meta)
    layer = make_layer(meta)
    layer.load_state_dict({n: a[n] for n in meta["param_names"]})
    lstm = meta["mode"] == "LSTM"
    hx = None
    if meta["has_h0"]:
        hx = (a["h0"], a["c0"]) if lstm else a["h0"]
    lengths = a["lengths"]

    def close(got, key):
        assert got.shape == a[key].shape, key
        assert got.dtype == a[key].dtype, key
        np.testing.assert_allclose(got, a[key], rtol=rtol, atol=atol, err_msg=key)

    for y, state in (layer(a["x"], hx, lengths=lengths), layer.forward(a["x"], hx, train=True, lengths=lengths)):
        close(y, "y")
        close(state[0] if lstm else state, "h_n")
        if lstm:
            close(state[1], "c_n")
    # Whatever dy holds at padded steps is ignored.
    dy = a["dy"].copy()
    pad = ~rnnrs.losses.sequence_mask(lengths, dy.shape[1 if meta["batch_first"] else 0],
                                      batch_first=meta["batch_first"])
    dy[pad] = 1e3
    dx, dh0 = layer.backward(dy, (a["dh_n"], a["dc_n"]) if lstm else a["dh_n"])
    close(dx, "grad_x")
    if meta["has_h0"]:
        close(dh0[0] if lstm else dh0, "grad_h0")
        if lstm:
            close(dh0[1], "grad_c0")
    for name in meta["param_names"]:
        close(layer.grads[name], f"grad/{name}")


@st.composite
def cases(draw):
    mode = draw(st.sampled_from(MODES))
    H = draw(st.integers(1, 6))
    proj = draw(st.integers(0, H - 1)) if (mode == "LSTM" and H > 1 and draw(st.booleans())) else 0
    T, B = draw(st.integers(1, 7)), draw(st.integers(1, 5))
    lengths = np.array(draw(st.lists(st.integers(1, T), min_size=B, max_size=B)), dtype=np.int64)
    return {
        "mode": mode, "T": T, "B": B, "I": draw(st.integers(1, 5)), "H": H,
        "num_layers": draw(st.integers(1, 3)), "bidirectional": draw(st.booleans()), "bias": draw(st.booleans()),
        "proj_size": proj, "batch_first": draw(st.booleans()), "with_h0": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**31)), "lengths": lengths,
    }


def lengths_case(kw, dtype):
    lengths = kw.pop("lengths")
    c = make_case(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=dtype, **kw)
    c["lengths"] = lengths
    return c


@settings(max_examples=50, deadline=None)
@given(cases())
def test_float64_matches_reference(kw):
    c = lengths_case(kw, np.float64)
    compare(run_rnnrs(c), run_reference(c), rtol=1e-9, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(cases())
def test_float32_matches_reference(kw):
    c = lengths_case(kw, np.float32)
    compare(run_rnnrs(c), run_reference(c), rtol=2e-4, atol=2e-4)


def test_larger_batch_matches_reference():
    """Batches wide enough to split each step into two row blocks, several chunks."""
    rng = np.random.default_rng(0)
    for mode in MODES:
        c = make_case(mode, 11, 37, 9, 13, num_layers=2, bidirectional=True, seed=2)
        c["lengths"] = rng.integers(1, 12, size=37)
        compare(run_rnnrs(c), run_reference(c), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("mode,opts", [
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
    ("GRU", {"bidirectional": True, "batch_first": True}),
    ("RNN_TANH", {"num_layers": 2}),
])
def test_gradients_match_finite_differences(mode, opts):
    c = make_case(mode, 4, 3, 2, 3, seed=7, **opts)
    c["lengths"] = np.array([2, 4, 1])
    names = list(c["params"])
    lstm = mode == "LSTM"
    inputs = [c["x"], c["h0"]] + ([c["c0"]] if lstm else []) + [c["params"][n] for n in names]

    def f(x, h0, *rest):
        c0 = rest[0] if lstm else None
        params = dict(zip(names, rest[1:] if lstm else rest))
        y, h_n, c_n, *_ = run_rnnrs(c, params=params, x=x, h0=h0, c0=c0)
        return loss(c, y, h_n, c_n)

    _, _, _, dx, dh0, dc0, grads = run_rnnrs(c)
    analytic = [dx, dh0] + ([dc0] if lstm else []) + [grads[n] for n in names]
    assert rnnrs.gradcheck(f, inputs, analytic, eps=1e-6, rtol=1e-6, atol=1e-8) <= 1e-6


def test_full_lengths_equal_no_lengths_and_columns_are_independent():
    layer = rnnrs.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    x = np.random.default_rng(2).standard_normal((6, 4, 3))
    y0, (h0, c0) = layer(x)
    y1, (h1, c1) = layer(x, lengths=[6, 6, 6, 6])
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(h0, h1)
    lengths = np.array([3, 6, 1, 4])
    y, (h, c) = layer(x, lengths=lengths)
    for b, n in enumerate(lengths):
        yb, (hb, cb) = layer(x[:n, b])
        np.testing.assert_allclose(y[:n, b], yb, rtol=1e-12, atol=1e-13)
        assert not y[n:, b].any()
        np.testing.assert_allclose(h[:, b], hb, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(c[:, b], cb, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(cls, dtype):
    layer = cls(32, 48, num_layers=2, bidirectional=True, dtype=dtype, seed=5)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 48, 32)).astype(dtype)
    lengths = rng.integers(1, 21, size=48)

    def run():
        y, _ = layer.forward(x, train=True, lengths=lengths)
        layer.zero_grad()
        dx, _ = layer.backward(np.cos(y))
        return [y, dx] + [g.copy() for g in layer.grads.values()]

    before = rnnrs.get_num_threads()
    try:
        rnnrs.set_num_threads(1)
        one = run()
        rnnrs.set_num_threads(2)
        two = run()
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_dropout_paths_keep_padding_zero_and_run_backward():
    layer = rnnrs.GRU(3, 4, num_layers=3, dropout=0.3, recurrent_dropout=0.2, input_dropout=0.1,
                      bidirectional=True, batch_first=True, dtype=np.float64, seed=3)
    x = np.random.default_rng(0).standard_normal((5, 7, 3))
    lengths = np.array([7, 2, 5, 1, 3])
    y, h = layer.forward(x, train=True, lengths=lengths)
    assert not y[np.arange(7)[None, :] >= lengths[:, None]].any()
    dx, dh0 = layer.backward(np.ones_like(y))
    assert not dx[np.arange(7)[None, :] >= lengths[:, None]].any()
    assert dh0.shape == (6, 5, 4)


def test_tbptt_with_lengths_carries_each_sequence_final_state():
    layer = rnnrs.LSTM(2, 3, dtype=np.float64, seed=4)
    x = np.random.default_rng(1).standard_normal((10, 3, 2))
    lengths = np.array([10, 3, 6])
    seen = []
    state = layer.tbptt(x, 4, lambda y, i: seen.append(y.shape) or np.ones_like(y), lengths=lengths)
    _, want = layer(x, lengths=lengths)
    np.testing.assert_allclose(state[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(state[1], want[1], rtol=1e-12)
    assert seen == [(4, 3, 3), (4, 3, 3), (2, 3, 3)]
    assert any(g.any() for g in layer.grads.values())


def test_bad_lengths_are_clear_errors():
    layer = rnnrs.GRU(2, 3, dtype=np.float64)
    x = np.zeros((4, 2, 2))
    for bad, err in (([1, 2, 3], ValueError), ([0, 2], ValueError), ([5, 1], ValueError),
                     ([1.0, 2.0], TypeError), ([[1, 2]], ValueError), (["a", "b"], TypeError)):
        with pytest.raises(err, match="lengths"):
            layer(x, lengths=bad)
    with pytest.raises(ValueError, match="lengths"):
        layer(np.zeros((4, 2)), lengths=[4])
    with pytest.raises(ValueError, match="lengths"):
        rnnrs._core.rnn_forward("GRU", x, layer.parameters(), hidden_size=3, lengths=[9, 1])
