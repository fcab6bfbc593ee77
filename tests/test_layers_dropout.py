"""Inter-layer dropout in training forwards: active, seeded, and with a correct backward."""

import numpy as np
import pytest
import rnnrs


def fresh(layer, seed=7):
    layer._dropout_rng = np.random.default_rng(seed)  # the same masks on every call


@pytest.mark.parametrize("cls", [rnnrs.LSTM, rnnrs.GRU, rnnrs.RNN])
def test_dropout_gradients_match_finite_differences(cls):
    layer = cls(3, 4, num_layers=3, dropout=0.4, bidirectional=True, dtype=np.float64, seed=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 3))
    dy = rng.standard_normal((4, 2, 8))
    w = rng.standard_normal((6, 2, 4))

    def loss(x, w_hh1=None):
        if w_hh1 is not None:
            layer.weight_hh_l1 = w_hh1
        fresh(layer)
        y, state = layer.forward(x, train=True)
        h = state[0] if cls is rnnrs.LSTM else state
        return float(np.sum(y * dy) + np.sum(h * w))

    w_hh1 = layer.weight_hh_l1.copy()
    loss(x)
    dhx = (w, np.zeros_like(w)) if cls is rnnrs.LSTM else w
    layer.zero_grad()
    dx, _ = layer.backward(dy, dhx)
    rnnrs.gradcheck(loss, [x, w_hh1], [dx, layer.grads["weight_hh_l1"].copy()], rtol=1e-6, atol=1e-8)


def test_dropout_only_in_training_and_seeded():
    x = np.random.default_rng(0).standard_normal((5, 3, 2)).astype(np.float32)
    a = rnnrs.GRU(2, 6, num_layers=2, dropout=0.5, seed=3)
    b = rnnrs.GRU(2, 6, num_layers=2, dropout=0.5, seed=3)
    y_inf, _ = a(x)
    y_a, _ = a.forward(x, train=True)
    y_b, _ = b.forward(x, train=True)
    np.testing.assert_array_equal(y_a, y_b)
    assert not np.allclose(y_a, y_inf)
    np.testing.assert_array_equal(a.forward(x, train=False)[0], y_inf)
    # One layer: nothing to drop, exactly as without dropout.
    one = rnnrs.GRU(2, 6, dropout=0.5, seed=3)
    np.testing.assert_array_equal(one.forward(x, train=True)[0], one(x)[0])
