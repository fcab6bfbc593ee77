"""One direction's steps: 1 and 2 threads stay bit-identical.

With one thread a step may run over all batch rows at once, with two it runs
as two blocks of rows (one per thread); rnnrs does the former only where no
value can change (packed float32 products, no projection, no own cell
parameters). Unidirectional layers, so each thread count takes its own way.
"""

import numpy as np
import pytest
import rnnrs


def run(layer, x):
    y, _state = layer.forward(x, train=True)
    layer.zero_grad()
    dx, _ = layer.backward(np.cos(y))
    return [y, dx] + [g.copy() for g in layer.grads.values()]


def one_and_two(layer, x):
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
