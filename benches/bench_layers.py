"""pytest-benchmark: rnnrs layers from Python (inference and training step) on
small and medium shapes. Run with `pytest benches --benchmark-only`."""

import numpy as np
import pytest
import rnnrs

SHAPES = {"small": (100, 1, 32, 64), "medium": (100, 64, 128, 256)}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU, rnnrs.RNN], ids=["lstm", "gru", "rnn"])
def test_forward(benchmark, cls, shape):
    T, B, I, H = SHAPES[shape]
    layer = cls(I, H, seed=0)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    benchmark(layer, x)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU, rnnrs.RNN], ids=["lstm", "gru", "rnn"])
def test_forward_backward(benchmark, cls, shape):
    T, B, I, H = SHAPES[shape]
    layer = cls(I, H, seed=0)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    dy = np.ones((T, B, H), dtype=np.float32)

    def step():
        layer.forward(x, train=True)
        return layer.backward(dy)

    benchmark(step)
