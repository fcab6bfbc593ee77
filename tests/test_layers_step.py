"""Streaming: `layer.step(x_t, state)` one step at a time equals one call over the sequence."""

import numpy as np
import pytest
import rnnrs


@pytest.mark.parametrize("cls,kw", [(rnnrs.LSTM, {"proj_size": 3}), (rnnrs.GRU, {"batch_first": True}),
                                    (rnnrs.RNN, {"num_layers": 2})])
@pytest.mark.parametrize("batch", [1, 5])
def test_steps_equal_one_call(cls, kw, batch):
    layer = cls(4, 7, dtype=np.float64, seed=0, **kw)
    x = np.random.default_rng(1).standard_normal((6, batch, 4))
    full, want = layer(x.transpose(1, 0, 2) if layer.batch_first else x)
    state = None
    for t in range(6):
        y_t, state = layer.step(x[t], state)
        got = full[:, t] if layer.batch_first else full[t]
        np.testing.assert_allclose(y_t, got, rtol=1e-12, atol=1e-13)
    for a, b in zip(state if isinstance(state, tuple) else (state,), want if isinstance(want, tuple) else (want,)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    # Unbatched steps.
    y1, _ = layer.step(x[0, 0])
    np.testing.assert_allclose(y1, layer(x[:1, 0])[0][0], rtol=1e-12)


def test_step_errors():
    with pytest.raises(ValueError, match="bidirectional"):
        rnnrs.GRU(2, 3, bidirectional=True).step(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="x_t"):
        rnnrs.GRU(2, 3).step(np.zeros((1, 1, 2), np.float32))


@pytest.mark.parametrize("kw", [{"forget_gate": False}, {"coupled": True}])
def test_lstm_variants_step_with_their_own_cell(kw):
    layer = rnnrs.LSTM(3, 5, dtype=np.float64, seed=2, **kw)
    x = np.random.default_rng(3).standard_normal((4, 2, 3))
    full, _ = layer(x)
    state = None
    for t in range(4):
        y_t, state = layer.step(x[t], state)
        np.testing.assert_allclose(y_t, full[t], rtol=1e-12, atol=1e-13)
