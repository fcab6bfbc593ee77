"""Truncated BPTT: chunks carry the state forward; one chunk equals full BPTT."""

import numpy as np
import pytest
import rnnrs


@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU, rnnrs.RNN])
def test_carried_state_equals_full_forward(cls):
    layer = cls(3, 5, num_layers=2, bidirectional=False, dtype=np.float64, seed=2)
    x = np.random.default_rng(0).standard_normal((11, 2, 3))
    y_full, s_full = layer(x)
    ys, state = [], None
    for chunk in rnnrs.tbptt_chunks(x, 4):
        y, state = layer(chunk, state)
        ys.append(y)
    np.testing.assert_allclose(np.concatenate(ys), y_full, rtol=1e-13, atol=1e-14)
    for a, b in zip(np.atleast_1d(state) if cls is not rnnrs.LSTM else state, s_full if cls is rnnrs.LSTM
                    else np.atleast_1d(s_full)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_one_chunk_equals_full_bptt():
    layer = rnnrs.LSTM(3, 5, dtype=np.float64, seed=3)
    x = np.random.default_rng(1).standard_normal((9, 2, 3))
    dy = np.random.default_rng(2).standard_normal((9, 2, 5))
    layer.forward(x)
    _dx_full, _ = layer.backward(dy)
    full = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    layer.tbptt(x, 9, lambda y, i: dy)
    for k, g in full.items():
        np.testing.assert_allclose(layer.grads[k], g, rtol=1e-13)


def test_chunks_truncate_the_gradient():
    """With k chunks, the grads are the sum of per-chunk BPTT with detached states."""
    layer = rnnrs.GRU(2, 4, batch_first=True, dtype=np.float64, seed=4)
    x = np.random.default_rng(3).standard_normal((2, 10, 2))
    dy = np.random.default_rng(4).standard_normal((2, 10, 4))
    seen = []
    state = layer.tbptt(x, 4, lambda y, i: dy[:, 4 * i:4 * i + y.shape[1]], on_chunk=seen.append)
    assert seen == [0, 1, 2]
    tb = {k: v.copy() for k, v in layer.grads.items()}
    # Recompute by hand: chunks with the previous chunk's final state, detached.
    layer.zero_grad()
    h = None
    for i, chunk in enumerate(rnnrs.tbptt_chunks(x, 4, batch_first=True)):
        _y, h = layer.forward(chunk, h)
        layer.backward(dy[:, 4 * i:4 * i + chunk.shape[1]])
    np.testing.assert_allclose(h, state)
    for k, g in tb.items():
        np.testing.assert_allclose(layer.grads[k], g, rtol=1e-13)
    # And it differs from full BPTT (the truncation is real).
    layer.zero_grad()
    layer.forward(x)
    layer.backward(dy)
    assert not np.allclose(layer.grads["weight_hh_l0"], tb["weight_hh_l0"])


def test_chunk_argument_checked():
    with pytest.raises(ValueError, match="k"):
        list(rnnrs.tbptt_chunks(np.zeros((3, 1, 1)), 0))
