"""Results do not depend on the thread count (bit-identical) and a seed fixes the init."""

import numpy as np
import pytest
import rnnrs


def run(layer, x):
    y, _state = layer.forward(x, train=True)
    layer.zero_grad()
    dx, _ = layer.backward(np.cos(y))
    return [y, dx] + [g.copy() for g in layer.grads.values()]


def one_and_two(layer, x):
    """`run` with 1 and with 2 threads gives the same bits."""
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


@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU, rnnrs.RNN])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical(cls, dtype):
    # Big enough that the GEMMs run in parallel with 2 threads.
    layer = cls(64, 96, num_layers=2, bidirectional=True, dtype=dtype, seed=5)
    x = np.random.default_rng(1).standard_normal((20, 48, 64)).astype(dtype)
    one_and_two(layer, x)


# One direction's steps: with one thread a step may run over all batch rows at
# once, with two it runs as two blocks of rows (one per thread); rnnrs does the
# former only where no value can change (packed float32 products, no
# projection, no own cell parameters). Unidirectional layers, so each thread
# count takes its own way.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "make",
    [
        lambda dt: rnnrs.LSTM(64, 96, dtype=dt, seed=3),
        lambda dt: rnnrs.GRU(64, 96, dtype=dt, seed=3),
        lambda dt: rnnrs.RNN(64, 96, dtype=dt, seed=3),
        lambda dt: rnnrs.LSTM(64, 96, proj_size=40, dtype=dt, seed=3),
    ],
    ids=["LSTM", "GRU", "RNN", "LSTM-proj"],
)
def test_unidirectional_one_and_two_threads_bit_identical(make, dtype):
    # Batch 46: two blocks of 23 rows (partial micro-tiles on every path),
    # big enough that 2 threads run in parallel.
    x = np.random.default_rng(2).standard_normal((20, 46, 64)).astype(dtype)
    one_and_two(make(dtype), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_blocks_one_and_two_threads_bit_identical(dtype):
    # Batch 16: blocks of 8 rows, which the plain loops take (float64, or
    # float32 without packed kernels) while 16 rows go to faer.
    x = np.random.default_rng(4).standard_normal((80, 16, 64)).astype(dtype)
    one_and_two(rnnrs.RNN(64, 64, dtype=dtype, seed=6), x)


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
