"""Bad input to rnnrs.rtrl raises clear exceptions; the memory guard refuses
oversized sensitivities with a MemoryError that states the size."""

import numpy as np
import pytest
import rnnrs
from rnnrs import rtrl


@pytest.fixture
def cell():
    return rtrl.Cell("GRU", 3, 4, seed=0)


def test_memory_guard_states_the_size():
    big = rtrl.Cell("LSTM", 8, 256, dtype=np.float32)
    need = rtrl.sensitivity_bytes(big, "exact", batch=4)
    # M and the next step's buffer (2 * n*P*B floats) plus the (n x H) Jacobians.
    p, n = 4 * 256 * (8 + 256 + 2), 2 * 256
    assert need == (2 * p + 256) * n * 4 * 4
    x = np.zeros((1, 4, 8), np.float32)
    d = np.zeros((1, 4, 256), np.float32)
    with pytest.raises(MemoryError, match=str(need)):
        rtrl.gradient(big, x, d, memory_limit=need - 1)
    with pytest.raises(MemoryError, match="memory limit"):
        rtrl.RTRL(big, "exact", batch=4, memory_limit=1 << 20)
    old = rtrl.get_memory_limit()
    try:
        rtrl.set_memory_limit(4 << 20)
        assert rtrl.get_memory_limit() == 4 << 20
        with pytest.raises(MemoryError):
            rtrl.RTRL(big, "exact")
        rtrl.RTRL(big, "snap1")  # O(P): 2*P*4 bytes = 2.2 MB fits in 4 MiB
    finally:
        rtrl.set_memory_limit(old)
    assert rtrl.get_memory_limit() == old == 2 << 30


def test_impossible_sizes_raise_memory_error_not_abort():
    huge = rtrl.Cell("RNN_TANH", 1, 1)
    huge.hidden_size = 1 << 40  # forged: the size check must catch the overflow
    with pytest.raises((MemoryError, ValueError)):
        rtrl.RTRL(huge, "exact")
    with pytest.raises(ValueError):
        rtrl.set_memory_limit(-1)


def test_bad_method_and_cell(cell):
    with pytest.raises(ValueError, match="method"):
        rtrl.RTRL(cell, "rtrl")
    with pytest.raises(ValueError, match="element-wise"):
        rtrl.RTRL(cell, "diag")
    with pytest.raises(ValueError, match="uoro"):
        rtrl.RTRL(rtrl.IndRNN(2, 3), "uoro")
    with pytest.raises(TypeError, match="cell"):
        rtrl.RTRL(object())
    with pytest.raises(ValueError, match="mode"):
        rtrl.Cell("LSTMX", 2, 3)
    with pytest.raises(ValueError, match="hidden_size"):
        rtrl.Cell("GRU", 2, 0)
    with pytest.raises(TypeError, match="dtype"):
        rtrl.Cell("GRU", 2, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        rtrl.Cell("GRU", 2, 3, params={**rtrl.Cell("GRU", 2, 3).params, "weight_hh_l0": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="single-layer"):
        rtrl.RTRL(rnnrs.LSTM(2, 3, num_layers=2))
    with pytest.raises(ValueError, match="single-layer"):
        rtrl.RTRL(rnnrs.GRU(2, 3, bidirectional=True))


def test_bad_shapes_name_the_argument(cell):
    x = np.zeros((5, 2, 3))
    d = np.zeros((5, 2, 4))
    with pytest.raises(ValueError, match="x"):
        rtrl.gradient(cell, np.zeros((5, 2, 7)), d)
    with pytest.raises(ValueError, match="x"):
        rtrl.gradient(cell, np.zeros((5, 3)), d)
    with pytest.raises(ValueError, match="dloss_dh"):
        rtrl.gradient(cell, x, np.zeros((5, 2, 5)))
    with pytest.raises(ValueError, match="h0"):
        rtrl.gradient(cell, x, d, h0=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="c0"):
        rtrl.gradient(cell, x, d, c0=np.zeros((2, 4)))
    r = rtrl.RTRL(cell, batch=2)
    with pytest.raises(ValueError, match="x_t"):
        r.step(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="dloss_dh_t"):
        r.step(np.zeros((2, 3)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="batch"):
        r.reset(0)


def test_non_contiguous_and_other_dtypes_are_converted(cell):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3)).transpose(1, 0, 2)  # (5, 2, 3), not contiguous
    d = rng.standard_normal((5, 2, 4)).astype(np.float32)
    g1, _, _ = rtrl.gradient(cell, x, d)
    g2, _, _ = rtrl.gradient(cell, np.ascontiguousarray(x), d.astype(np.float64))
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])


def test_elementwise_layer_errors():
    layer = rtrl.IndRNN(2, 3)
    with pytest.raises(ValueError, match="nonlinearity"):
        rtrl.IndRNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match="x"):
        layer(np.zeros((4, 1, 5)))
    layer.forward(np.zeros((4, 1, 2)), train=True)
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((4, 1, 4)))


def test_online_learner_errors(cell):
    with pytest.raises(ValueError, match="loss"):
        rtrl.OnlineLearner(cell, rnnrs.Linear(4, 2, dtype=np.float64), loss="hinge")
    learner = rtrl.OnlineLearner(cell, rnnrs.Linear(4, 2, dtype=np.float64))
    with pytest.raises(ValueError, match="target"):
        learner.step(np.zeros(3), [5])
