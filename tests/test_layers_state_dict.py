"""Parameters by PyTorch name: attributes, state_dict round-trip, validation."""

import numpy as np
import pytest
import rnnrs


def test_state_dict_round_trip():
    a = rnnrs.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2, seed=0)
    sd = a.state_dict()
    assert list(sd) == [
        f"{w}_l{layer}{sfx}"
        for layer in range(2) for sfx in ("", "_reverse")
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    ]
    assert sd["weight_ih_l1"].shape == (24, 4) and sd["weight_hr_l0"].shape == (2, 6)
    b = rnnrs.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2, seed=1)
    b.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(a(x)[0], b(x)[0])
    sd["weight_ih_l0"][:] = 0  # a copy: the layer is unchanged
    assert a.weight_ih_l0.any()


def test_load_casts_and_validates():
    layer = rnnrs.GRU(2, 3, dtype=np.float32)
    sd64 = {k: v.astype(np.float64) for k, v in rnnrs.GRU(2, 3, seed=9, dtype=np.float64).state_dict().items()}
    layer.load_state_dict(sd64)
    assert layer.weight_hh_l0.dtype == np.float32
    np.testing.assert_array_equal(layer.weight_hh_l0, sd64["weight_hh_l0"].astype(np.float32))
    with pytest.raises(KeyError, match="bias_hh_l0"):
        layer.load_state_dict({k: v for k, v in sd64.items() if k != "bias_hh_l0"})
    with pytest.raises(KeyError, match="extra"):
        layer.load_state_dict(dict(sd64, extra=np.zeros(1)))
    res = layer.load_state_dict(dict(sd64, extra=np.zeros(1)), strict=False)
    assert res.unexpected_keys == ["extra"] and res.missing_keys == []
    with pytest.raises(ValueError, match="weight_ih_l0"):
        layer.load_state_dict(dict(sd64, weight_ih_l0=np.zeros((9, 3))))


def test_attribute_assignment():
    layer = rnnrs.RNN(2, 3, dtype=np.float64, seed=0)
    layer.weight_hh_l0 = np.eye(3)
    assert layer.params["weight_hh_l0"] is layer.weight_hh_l0
    np.testing.assert_array_equal(layer.weight_hh_l0, np.eye(3))
    with pytest.raises(ValueError, match="weight_hh_l0"):
        layer.weight_hh_l0 = np.eye(2)
    # In-place edits through the params dict apply to the next run.
    x = np.ones((2, 1, 2))
    before = layer(x)[0].copy()
    layer.params["bias_ih_l0"] += 1.0
    assert not np.array_equal(layer(x)[0], before)
    assert [n for n, _ in layer.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                        "bias_hh_l0"]
    with pytest.raises(AttributeError):
        _ = layer.weight_hr_l0


def test_outputs_have_torch_structure():
    x = np.zeros((4, 3), dtype=np.float32)  # unbatched
    y, (h, c) = rnnrs.LSTM(3, 5, num_layers=2)(x)
    assert y.shape == (4, 5) and h.shape == (2, 5) and c.shape == (2, 5)
    y, h = rnnrs.GRU(3, 5, bidirectional=True, batch_first=True)(np.zeros((2, 4, 3), dtype=np.float32))
    assert y.shape == (2, 4, 10) and h.shape == (2, 2, 5)
    assert "LSTM(3, 5" in repr(rnnrs.LSTM(3, 5))


def test_loading_keeps_the_parameter_arrays_an_optimizer_holds():
    """load_state_dict and attribute assignment write into the existing arrays,
    so an optimizer built before them keeps updating the live parameters."""
    layer = rnnrs.LSTM(3, 4, seed=0)
    held = layer.params["weight_ih_l0"]
    other = rnnrs.LSTM(3, 4, seed=1)
    layer.load_state_dict(other.state_dict())
    assert layer.weight_ih_l0 is held
    np.testing.assert_array_equal(held, other.weight_ih_l0)
    layer.weight_hh_l0 = np.ones((16, 4))
    assert layer.params["weight_hh_l0"] is layer.weight_hh_l0
    opt = rnnrs.optim.SGD(layer.params, lr=0.5)
    layer.load_state_dict(rnnrs.LSTM(3, 4, seed=2).state_dict())
    grads = {n: np.ones_like(p) for n, p in layer.params.items()}
    before = layer.weight_ih_l0.copy()
    opt.step(grads)
    np.testing.assert_allclose(layer.weight_ih_l0, before - 0.5)
