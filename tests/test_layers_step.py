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


@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU, rnnrs.RNN])
def test_fast_step_equals_general_path(cls):
    # cast=True takes the Python-checked path; the default the core-checked one.
    fast = cls(5, 6, num_layers=2, dtype=np.float64, seed=4)
    general = cls(5, 6, num_layers=2, dtype=np.float64, seed=4, cast=True)
    x = np.random.default_rng(5).standard_normal((3, 4, 10))[:, :, ::2]  # non-contiguous steps
    s_fast = s_general = None
    for t in range(3):
        assert not x[t].flags.c_contiguous
        y_f, s_fast = fast.step(x[t], s_fast)
        y_g, s_general = general.step(x[t], s_general)
        np.testing.assert_array_equal(y_f, y_g)
    for a, b in zip(s_fast if isinstance(s_fast, tuple) else (s_fast,),
                    s_general if isinstance(s_general, tuple) else (s_general,)):
        np.testing.assert_array_equal(a, b)


def test_fast_step_errors_name_the_argument():
    layer = rnnrs.LSTM(3, 4, num_layers=2)
    x = np.zeros((2, 3), np.float32)
    y, (h, c) = layer.step(x)
    with pytest.raises(ValueError, match="h0"):
        layer.step(x, (h[:1], c))
    with pytest.raises(ValueError, match="c0"):
        layer.step(x, (h, c[:, :1]))
    with pytest.raises(TypeError, match="h0"):
        layer.step(x, (h.astype(np.float64), c))
    with pytest.raises(ValueError, match="x_t"):
        layer.step(np.zeros((2, 5), np.float32), (h, c))
    with pytest.raises(TypeError, match="x_t"):
        layer.step(np.zeros((2, 3), np.float64), (h, c))
    params = list(layer.parameters()) if hasattr(layer, "parameters") else list(layer._params.values())
    bad = [p.astype(np.float64) if i == 1 else p for i, p in enumerate(params)]
    with pytest.raises(TypeError, match="weight_hh_l0"):
        rnnrs._core.rnn_step("LSTM", x, bad, None, None, hidden_size=4, num_layers=2)
    with pytest.raises(ValueError, match="weight_ih_l1"):
        rnnrs._core.rnn_step("LSTM", x, params[:4] + [params[4][:, :2].copy()] + params[5:], None, None,
                             hidden_size=4, num_layers=2)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU])
def test_t1_call_equals_general_path(cls, batch_first):
    fast = cls(4, 5, num_layers=2, batch_first=batch_first, dtype=np.float64, seed=6)
    general = cls(4, 5, num_layers=2, batch_first=batch_first, dtype=np.float64, seed=6, cast=True)
    x = np.random.default_rng(7).standard_normal((3, 1, 4) if batch_first else (1, 3, 4))
    (y_f, s_f), (y_g, s_g) = fast(x), general(x)
    assert y_f.shape == y_g.shape == ((3, 1, 5) if batch_first else (1, 3, 5))
    np.testing.assert_array_equal(y_f, y_g)
    for a, b in zip(s_f if isinstance(s_f, tuple) else (s_f,), s_g if isinstance(s_g, tuple) else (s_g,)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [lambda: rnnrs.Jordan(4, 5, 3, dtype=np.float64, seed=1),
                                  lambda: rnnrs.DeepTransitionRNN(4, 5, transition_depth=2, dtype=np.float64, seed=1)])
@pytest.mark.parametrize("batch", [None, 2])
def test_step_of_layers_whose_state_is_complete(make, batch):
    layer = make()
    shape = (6, 4) if batch is None else (6, batch, 4)
    x = np.random.default_rng(8).standard_normal(shape)
    full, want = layer(x)
    state = None
    for t in range(6):
        y_t, state = layer.step(x[t], state)
        np.testing.assert_allclose(y_t, full[t], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(state, want, rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError, match="x_t"):
        layer.step(np.zeros((1, 1, 4)))
