"""Variable-length batches (``lengths``) for the layers with their own time loop: ``rnnrs.ClockworkRNN`` and
``rnnrs.DeepTransitionRNN``.

Semantics are PyTorch's packed sequences, so the ground truth is `rnnrs.reference.cells_time` run sequence by
sequence (`run_lengths`), each sequence from its own step 0 (a clockwork module of period p updates at the
sequence's steps t with t % p == 0). Checked: float64 to 1e-12 with NaN in dy at padded steps (never read),
float32 to 1e-5, central finite differences in float64 on every parameter, the input and the initial state,
batches large enough for the clockwork's two row blocks, 1 vs 2 threads bit-identical, full lengths == no
lengths, and bad lengths as clear errors naming ``lengths``.
"""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import cells_time as ref
from rnnrs.reference.gradcheck import gradcheck


def clockwork(I, sizes, periods, **kw):
    layer = rnnrs.ClockworkRNN(I, sizes, periods=periods, **kw)
    H = layer.hidden_size
    # Fill the unread weight_hh entries too: they must be ignored.
    layer.params["weight_hh_l0"][...] = np.random.default_rng(kw.get("seed", 0)).uniform(-0.5, 0.5, (H, H))
    return layer


def reference(layer):
    """``(forward, backward)`` of the reference on one sequence, with the layer's parameters in float64."""
    p = {k: v.astype(np.float64) for k, v in layer.params.items()}
    if isinstance(layer, rnnrs.ClockworkRNN):
        return (lambda x, h0: ref.clockwork_forward(x, p, h0, layer.module_sizes, layer.periods),
                ref.clockwork_backward)
    return (lambda x, h0: ref.deep_transition_forward(x, p, h0, layer.transition_depth, layer.output_depth,
                                                      layer.shortcut),
            ref.deep_transition_backward)


def data(layer, T, B, seed):
    """Time-major float64 ``x, h0 (B, H), dy, dh_n (B, H)``."""
    rng = np.random.default_rng(seed)
    H = layer.hidden_size
    return (rng.standard_normal((T, B, layer.input_size)), rng.standard_normal((B, H)),
            rng.standard_normal((T, B, H)), rng.standard_normal((B, H)))


def user(layer, a):
    """A time-major array in the layer's layout and dtype."""
    return np.ascontiguousarray((a.transpose(1, 0, 2) if layer.batch_first else a).astype(layer.dtype))


def run_rnnrs(layer, x, h0, dy, dh_n, lengths):
    """The layer's ``(y, h_n, dx, dh0, grads)`` (time-major, ``h_n``/``dh0`` as ``(B, H)``), with NaN in
    ``dy`` at the padded steps."""
    T = x.shape[0]
    dy = dy.copy()
    dy[np.arange(T)[:, None] >= np.asarray(lengths)[None, :]] = np.nan
    layer.zero_grad()
    y, h_n = layer.forward(user(layer, x), h0[None].astype(layer.dtype), train=True, lengths=lengths)
    dx, dh0 = layer.backward(user(layer, dy), dh_n[None].astype(layer.dtype))
    back = (lambda a: a.transpose(1, 0, 2)) if layer.batch_first else (lambda a: a)
    return back(y), h_n[0], back(dx), dh0[0], {k: v.copy() for k, v in layer.grads.items()}


def compare(got, want, tol):
    for name, g, w in zip(["y", "h_n", "dx", "dh0"], got[:4], want[:4]):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)
    assert set(got[4]) == set(want[4])
    for name, w in want[4].items():
        np.testing.assert_allclose(got[4][name], w, rtol=tol, atol=tol, err_msg=name)


@st.composite
def cases(draw):
    I, bias, batch_first = draw(st.integers(1, 4)), draw(st.booleans()), draw(st.booleans())
    seed = draw(st.integers(0, 2**31))
    if draw(st.booleans()):
        n = draw(st.integers(1, 4))
        sizes = [draw(st.integers(1, 3)) for _ in range(n)]
        periods = sorted(draw(st.integers(1, 5)) for _ in range(n))
        make = lambda dt: clockwork(I, sizes, periods, bias=bias, batch_first=batch_first, dtype=dt, seed=seed)  # noqa: E731
    else:
        H, depth = draw(st.integers(1, 5)), draw(st.integers(1, 3))
        out, shortcut = draw(st.integers(0, 2)), depth >= 2 and draw(st.booleans())
        make = lambda dt: rnnrs.DeepTransitionRNN(I, H, depth, out, shortcut=shortcut, bias=bias,  # noqa: E731
                                                  batch_first=batch_first, dtype=dt, seed=seed)
    T, B = draw(st.integers(1, 9)), draw(st.integers(1, 5))
    lengths = np.array(draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    return make, T, B, lengths, seed


@settings(max_examples=60, deadline=None)
@given(cases())
def test_float64_matches_reference_sequence_by_sequence(case):
    make, T, B, lengths, seed = case
    layer = make(np.float64)
    args = data(layer, T, B, seed)
    compare(run_rnnrs(layer, *args, lengths), ref.run_lengths(*reference(layer), *args, lengths), 1e-12)


@settings(max_examples=20, deadline=None)
@given(cases())
def test_float32_matches_reference(case):
    make, T, B, lengths, seed = case
    layer = make(np.float32)
    args = data(layer, T, B, seed)
    got = run_rnnrs(layer, *args, lengths)
    assert got[0].dtype == np.float32
    compare(got, ref.run_lengths(*reference(layer), *args, lengths), 1e-5)


LARGE = {
    "clockwork": lambda: clockwork(5, [3, 2, 4, 3], [1, 2, 2, 5], dtype=np.float64, seed=3),
    "deep_transition": lambda: rnnrs.DeepTransitionRNN(5, 6, 3, 1, shortcut=True, dtype=np.float64, seed=3),
}


@pytest.mark.parametrize("kind", LARGE)
def test_large_batch_matches_reference(kind):
    """Batches large enough for the clockwork's two blocks of rows, lengths far from balanced."""
    layer = LARGE[kind]()
    rng = np.random.default_rng(0)
    for lengths in (rng.integers(1, 12, size=37), np.r_[11, np.ones(20, int)], np.r_[np.full(18, 11), 1, 2]):
        args = data(layer, 11, len(lengths), 1)
        compare(run_rnnrs(layer, *args, lengths), ref.run_lengths(*reference(layer), *args, lengths), 1e-12)


@pytest.mark.parametrize("kind", LARGE)
def test_finite_differences_with_lengths(kind):
    layer = (clockwork(3, [2, 1, 2], [1, 2, 3], dtype=np.float64, seed=4) if kind == "clockwork" else
             rnnrs.DeepTransitionRNN(3, 3, 3, 1, shortcut=True, dtype=np.float64, seed=4))
    lengths = np.array([5, 2, 7])
    x, h0, dy, dh_n = data(layer, 7, 3, 5)
    h0, dh_n = h0[None], dh_n[None]
    names = list(layer.params)

    def loss(x, h0, *ps):
        for n, p in zip(names, ps):
            layer.params[n][...] = p
        y, h_n = layer(x, h0, lengths=lengths)
        return np.sum(y * dy) + np.sum(h_n * dh_n)

    saved = [layer.params[n].copy() for n in names]
    layer.zero_grad()
    layer.forward(x, h0, train=True, lengths=lengths)
    dx, dh0 = layer.backward(dy, dh_n)
    grads = [layer.grads[n].copy() for n in names]
    gradcheck(loss, [x, h0] + saved, [dx, dh0] + grads, rtol=1e-6, atol=1e-8)
    assert not dx[np.arange(7)[:, None] >= lengths[None, :]].any()


@pytest.mark.parametrize("kind", LARGE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(kind, dtype):
    layer = (rnnrs.ClockworkRNN(24, [16, 16, 8, 8], periods=[1, 2, 2, 8], dtype=dtype, seed=5) if kind == "clockwork"
             else rnnrs.DeepTransitionRNN(24, 40, 3, 2, shortcut=True, dtype=dtype, seed=5))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 40, 24)).astype(dtype)
    lengths = rng.integers(1, 21, size=40)

    def run():
        y, h_n = layer.forward(x, train=True, lengths=lengths)
        layer.zero_grad()
        dx, dh0 = layer.backward(np.cos(y))
        return [y, h_n, dx, dh0] + [g.copy() for g in layer.grads.values()]

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


@pytest.mark.parametrize("kind", LARGE)
def test_full_lengths_equal_no_lengths(kind):
    layer = LARGE[kind]()
    x, h0, dy, dh_n = data(layer, 6, 20, 2)
    out = []
    for lengths in (None, np.full(20, 6)):
        y, h_n = layer.forward(x, h0[None], train=True, lengths=lengths)
        layer.zero_grad()
        dx, dh0 = layer.backward(dy, dh_n[None])
        out.append([y, h_n, dx, dh0] + [g.copy() for g in layer.grads.values()])
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", LARGE)
def test_bad_lengths_are_clear_errors(kind):
    layer = LARGE[kind]()
    x = np.zeros((4, 2, 5))
    for bad, err in (([1, 2, 3], ValueError), ([0, 2], ValueError), ([5, 1], ValueError), ([-1, 2], ValueError),
                     ([1.0, 2.0], TypeError), ([[1, 2]], ValueError), (["a", "b"], TypeError)):
        with pytest.raises(err, match="lengths"):
            layer(x, lengths=bad)
        with pytest.raises(err, match="lengths"):
            layer.forward(x, train=True, lengths=bad)
    with pytest.raises(ValueError, match="lengths"):
        layer(np.zeros((4, 5)), lengths=[4])
    core = rnnrs._core.clockwork_forward if kind == "clockwork" else rnnrs._core.deep_transition_forward
    opts = layer._options()
    for bad in ([9, 1], [0, 1], [1], [-2, 1]):
        with pytest.raises(ValueError, match="lengths"):
            core(x, layer.parameters(), lengths=bad, **opts)
