"""Bad input gives a clear Python exception naming the argument; nothing aborts."""

import numpy as np
import pytest
import rnnrs
import rnnrs.functional as F


@pytest.fixture
def lstm():
    return rnnrs.LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0)


def x64(*shape):
    return np.random.default_rng(0).standard_normal(shape)


def test_wrong_ndim(lstm):
    with pytest.raises(ValueError, match="input"):
        lstm(x64(5))
    with pytest.raises(ValueError, match="input"):
        lstm(x64(1, 5, 2, 3))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match="input.*3 features"):
        lstm(x64(5, 2, 4))
    with pytest.raises(ValueError, match="input.*3 features"):
        lstm(x64(5, 4))


def test_wrong_dtype(lstm):
    with pytest.raises(TypeError, match="input.*float64"):
        lstm(x64(5, 2, 3).astype(np.float32))
    with pytest.raises(TypeError, match="input"):
        lstm(np.ones((5, 2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="input"):
        lstm(np.array([["a"]]))
    # cast=True converts instead.
    casting = rnnrs.LSTM(3, 4, dtype=np.float64, seed=0, cast=True)
    y, _ = casting(np.ones((5, 2, 3), dtype=np.int32))
    assert y.dtype == np.float64


def test_non_contiguous_input_is_handled(lstm):
    x = x64(2, 5, 3)
    view = x.transpose(1, 0, 2)  # (5, 2, 3), not C-contiguous
    assert not view.flags.c_contiguous
    y1, _ = lstm(view)
    y2, _ = lstm(np.ascontiguousarray(view))
    np.testing.assert_array_equal(y1, y2)
    y3, _ = lstm(x64(10, 2, 3)[::2])
    assert y3.shape == (5, 2, 4)


def test_wrong_state_shape(lstm):
    x = x64(5, 2, 3)
    with pytest.raises(ValueError, match="h0"):
        lstm(x, (np.zeros((2, 3, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="c0"):
        lstm(x, (np.zeros((2, 2, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(TypeError, match="hx"):
        lstm(x, np.zeros((2, 2, 4)))
    gru = rnnrs.GRU(3, 4, dtype=np.float64)
    with pytest.raises(ValueError, match="h0"):
        gru(x, np.zeros((2, 2, 4)))


def test_empty_sequence(lstm):
    with pytest.raises(ValueError, match="empty"):
        lstm(np.zeros((0, 2, 3)))


def test_empty_batch_gives_empty_output(lstm):
    y, (h, c) = lstm(np.zeros((4, 0, 3)))
    assert y.shape == (4, 0, 4) and h.shape == (2, 0, 4) and c.shape == (2, 0, 4)


def test_nan_input_propagates(lstm):
    x = x64(5, 2, 3)
    x[2, 0, 1] = np.nan
    y, (_h, _c) = lstm(x)
    assert np.isnan(y[2:, 0]).all() and not np.isnan(y[:2]).any() and not np.isnan(y[:, 1]).any()
    lstm.forward(x)
    dx, _ = lstm.backward(np.ones_like(y))
    assert np.isnan(dx).any()
    x[0, 0, 0] = np.inf
    lstm(x)  # no crash


def test_absurd_sizes():
    with pytest.raises((MemoryError, ValueError)):
        rnnrs.GRU(3, 10**12)
    params = {"weight_ih_l0": np.zeros((3, 1)), "weight_hh_l0": np.zeros((3, 1))}
    huge = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(2**18, 2**18, 1), strides=(0, 0, 0))
    with pytest.raises(MemoryError):
        F.gru(huge, params)


def test_bad_options():
    with pytest.raises(ValueError, match="hidden_size"):
        rnnrs.RNN(3, 0)
    with pytest.raises(ValueError, match="nonlinearity"):
        rnnrs.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        rnnrs.GRU(3, 4, dropout=1.0)
    with pytest.raises(ValueError, match="proj_size"):
        rnnrs.LSTM(3, 4, proj_size=4)
    with pytest.raises(TypeError, match="dtype"):
        rnnrs.LSTM(3, 4, dtype=np.int32)
    with pytest.raises(ValueError, match="forget_bias"):
        rnnrs.LSTM(3, 4, bias=False, forget_bias=1.0)


def test_backward_errors(lstm):
    with pytest.raises(RuntimeError, match="forward"):
        lstm.backward(np.zeros((5, 2, 4)))
    y, _ = lstm(x64(5, 2, 3))  # inference keeps nothing
    with pytest.raises(RuntimeError, match="forward"):
        lstm.backward(np.zeros_like(y))
    y, _ = lstm.forward(x64(5, 2, 3))
    with pytest.raises(ValueError, match="dy"):
        lstm.backward(np.zeros((5, 2, 5)))
    lstm.forward(x64(5, 2, 3))
    with pytest.raises(ValueError, match="dh_n"):
        lstm.backward(np.zeros_like(y), (np.zeros((2, 2, 3)), np.zeros((2, 2, 4))))


def test_functional_param_errors():
    x = x64(5, 2, 3)
    p = rnnrs.GRU(3, 4, dtype=np.float64).state_dict()
    with pytest.raises(ValueError, match="missing"):
        F.gru(x, {k: v for k, v in p.items() if k != "bias_hh_l0"})
    bad = dict(p, weight_hh_l0=np.zeros((12, 5)))
    with pytest.raises(ValueError, match="weight_hh_l0"):
        F.gru(x, bad)
    with pytest.raises(TypeError, match="bias_ih_l0"):
        F.gru(x, dict(p, bias_ih_l0=p["bias_ih_l0"].astype(np.float32)))
    with pytest.raises(ValueError, match="num_layers"):
        F.gru(x, p, num_layers=2)
