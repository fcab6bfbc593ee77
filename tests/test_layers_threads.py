"""Results do not depend on the thread count (bit-identical) and a seed fixes the init."""

import numpy as np
import pytest
import rnnrs


def run(layer, x):
    y, _state = layer.forward(x, train=True)
    layer.zero_grad()
    dx, _ = layer.backward(np.cos(y))
    return [y, dx] + [g.copy() for g in layer.grads.values()]


@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU, rnnrs.RNN])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(cls, dtype):
    # Big enough that the GEMMs run in parallel with 2 threads.
    layer = cls(64, 96, num_layers=2, bidirectional=True, dtype=dtype, seed=5)
    x = np.random.default_rng(1).standard_normal((20, 48, 64)).astype(dtype)
    before = rnnrs.get_num_threads()
    try:
        rnnrs.set_num_threads(1)
        one = run(layer, x)
        rnnrs.set_num_threads(2)
        two = run(layer, x)
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_same_seed_same_params():
    a = rnnrs.LSTM(5, 7, num_layers=2, bidirectional=True, seed=123)
    b = rnnrs.LSTM(5, 7, num_layers=2, bidirectional=True, seed=123)
    c = rnnrs.LSTM(5, 7, num_layers=2, bidirectional=True, seed=124)
    for n in a.params:
        np.testing.assert_array_equal(a.params[n], b.params[n])
    assert any(not np.array_equal(a.params[n], c.params[n]) for n in a.params)
    d = rnnrs.LSTM(5, 7, num_layers=2, bidirectional=True, seed=123, dtype=np.float64)
    np.testing.assert_array_equal(d.weight_hh_l1.astype(np.float32), a.weight_hh_l1)


def test_default_init_range_and_options():
    layer = rnnrs.GRU(4, 16, seed=0)
    k = 1 / np.sqrt(16)
    for p in layer.parameters():
        assert np.abs(p).max() <= k and p.dtype == np.float32
    orth = rnnrs.LSTM(4, 8, seed=0, recurrent_init="orthogonal", forget_bias=1.0, dtype=np.float64)
    for g in range(4):
        block = orth.weight_hh_l0[g * 8:(g + 1) * 8]
        np.testing.assert_allclose(block @ block.T, np.eye(8), atol=1e-12)
    assert (orth.bias_ih_l0[8:16] == 1.0).all() and (orth.bias_hh_l0[8:16] == 0.0).all()
