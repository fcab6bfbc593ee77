"""The layers' direct path to the core (`RNNBase._seq_fast` and the matching
branch of `backward`: C-contiguous time-major arrays of the layer's dtype,
zero initial state) gives the bits of the general path, which a
non-contiguous input takes."""

import numpy as np
import pytest

import rnnrs


def _parts(state):
    """A state (``h_n`` or ``(h_n, c_n)``) as a tuple of arrays."""
    return state if isinstance(state, tuple) else (state,)


def _cases():
    return [
        rnnrs.LSTM(5, 7, seed=0),
        rnnrs.GRU(5, 7, seed=1),
        rnnrs.RNN(5, 7, seed=2, nonlinearity="relu"),
        rnnrs.LSTM(5, 7, num_layers=2, bidirectional=True, proj_size=3, seed=3, dtype=np.float64),
        rnnrs.LSTM(5, 6, peephole=True, seed=4),
    ]


@pytest.mark.parametrize("index", range(5))
def test_direct_path_gives_the_bits_of_the_general_path(index):
    layer = _cases()[index]
    rng = np.random.default_rng(index)
    x = rng.standard_normal((6, 3, 5)).astype(layer.dtype)
    x_f = np.asfortranarray(x)  # not C-contiguous: the general path
    assert layer._seq_fast(x, False) is not None and layer._seq_fast(x_f, False) is None
    y, state = layer(x)
    y2, state2 = layer(x_f)
    np.testing.assert_array_equal(y, y2)
    for a, b in zip(_parts(state), _parts(state2), strict=True):
        np.testing.assert_array_equal(a, b)

    dy = rng.standard_normal(y.shape).astype(layer.dtype)
    runs = []
    for xin, dyin in ((x, dy), (x_f, np.asfortranarray(dy))):
        layer.zero_grad()
        yt, st = layer.forward(xin, train=True)
        dx, dstate = layer.backward(dyin)
        runs.append((yt, dx, dstate, {n: g.copy() for n, g in layer.grads.items()}))
    (ya, dxa, dsa, ga), (yb, dxb, dsb, gb) = runs
    np.testing.assert_array_equal(ya, y)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(dxa, dxb)
    for a, b in zip(_parts(dsa), _parts(dsb), strict=True):
        np.testing.assert_array_equal(a, b)
    assert ga.keys() == gb.keys()
    for n in ga:
        assert np.abs(ga[n]).sum() > 0
        np.testing.assert_array_equal(ga[n], gb[n])


def test_direct_path_errors_name_the_argument():
    layer = rnnrs.LSTM(4, 5, seed=0)
    x = np.zeros((3, 2, 4), np.float32)
    layer.forward(x, train=True)
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((3, 1, 5), np.float32))
    # That backward used up the run, as on the general path.
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((3, 2, 5), np.float32))
    # Not taken for what the general path must check or convert.
    for bad in (x.astype(np.float64), x[:, :, :3].copy(), np.zeros((0, 2, 4), np.float32)):
        assert layer._seq_fast(bad, False) is None
    assert rnnrs.LSTM(4, 5, batch_first=True)._seq_fast(x, False) is None
    assert rnnrs.LSTM(4, 5, recurrent_dropout=0.2)._seq_fast(x, True) is None
