"""rnnrs.Sequential and rnnrs.LastStep: forward/backward vs hand composition and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs

F64 = np.float64


def small_model(kind="LSTM", seed=0, last_step=False):
    rec = {"LSTM": rnnrs.LSTM, "GRU": rnnrs.GRU, "RNN": rnnrs.RNN}[kind](3, 5, dtype=F64, seed=seed)
    mods = [rec] + ([rnnrs.LastStep()] if last_step else []) + [rnnrs.Linear(5, 2, dtype=F64, seed=seed + 1)]
    return rnnrs.Sequential(*mods)


def central_diff(f, arr, eps=1e-6):
    """d f / d arr by central differences (arr modified in place and restored)."""
    g = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("last_step", [False, True])
def test_gradients_match_finite_differences(kind, last_step):
    rng = np.random.default_rng(1)
    model = small_model(kind, last_step=last_step)
    x = rng.standard_normal((4, 2, 3))
    h0 = rng.standard_normal((1, 2, 5)) * 0.5
    state = ((h0, h0 * 0.3),) if kind == "LSTM" else (h0,)
    out_shape = (2, 2) if last_step else (4, 2, 2)
    r = rng.standard_normal(out_shape)

    def loss():
        out, _ = model(x, state)
        return float(np.sum(out * r))

    model.zero_grad()
    out, _ = model.forward(x, state, train=True)
    assert out.shape == out_shape
    dx = model.backward(r)
    np.testing.assert_allclose(dx, central_diff(loss, x), rtol=1e-5, atol=1e-7)
    for name, p in model.params.items():
        np.testing.assert_allclose(model.grads[name], central_diff(loss, p), rtol=1e-5, atol=1e-7, err_msg=name)


def test_matches_composing_layers_by_hand():
    rng = np.random.default_rng(2)
    model = small_model("LSTM")
    lstm, lin = rnnrs.LSTM(3, 5, dtype=F64, seed=0), rnnrs.Linear(5, 2, dtype=F64, seed=1)
    x = rng.standard_normal((6, 3, 3))
    dout = rng.standard_normal((6, 3, 2))
    out, (state,) = model.forward(x)
    y, hand_state = lstm.forward(x)
    hand_out = lin.forward(y)
    np.testing.assert_array_equal(out, hand_out)
    np.testing.assert_array_equal(state[0], hand_state[0])
    np.testing.assert_array_equal(state[1], hand_state[1])
    dx = model.backward(dout)
    hand_dx, _ = lstm.backward(lin.backward(dout))
    np.testing.assert_array_equal(dx, hand_dx)
    for k in lstm.grads:
        np.testing.assert_array_equal(model.grads[f"0.{k}"], lstm.grads[k])
    for k in lin.grads:
        np.testing.assert_array_equal(model.grads[f"1.{k}"], lin.grads[k])


def test_embedding_first_gets_gradients_and_returns_none():
    rng = np.random.default_rng(3)
    model = rnnrs.Sequential(rnnrs.Embedding(7, 4, dtype=F64, seed=0), rnnrs.GRU(4, 5, dtype=F64, seed=1),
                             rnnrs.Linear(5, 7, dtype=F64, seed=2))
    idx = rng.integers(0, 7, size=(5, 2))
    r = rng.standard_normal((5, 2, 7))

    def loss():
        return float(np.sum(model(idx)[0] * r))

    model.forward(idx)
    assert model.backward(r) is None
    w = model.params["0.weight"]
    np.testing.assert_allclose(model.grads["0.weight"], central_diff(loss, w), rtol=1e-5, atol=1e-7)


@settings(max_examples=10, deadline=None)
@given(split=st.integers(1, 7), seed=st.integers(0, 1000))
def test_state_carrying_equals_one_pass(split, seed):
    rng = np.random.default_rng(seed)
    model = small_model("LSTM", seed=seed % 7)
    x = rng.standard_normal((8, 2, 3))
    full, _ = model(x)
    a, state = model(x[:split])
    b, _ = model.forward(x[split:], state, train=True)
    np.testing.assert_allclose(np.concatenate([a, b]), full, rtol=1e-12, atol=1e-12)
    assert model.num_states == 1 and len(state) == 1 and len(state[0]) == 2


def test_params_are_live_and_work_with_optim_and_clip():
    model = rnnrs.Sequential(rnnrs.LSTM(3, 4, seed=0), rnnrs.Linear(4, 2, seed=1))
    assert list(model.params) == ["0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0", "0.bias_hh_l0",
                                  "1.weight", "1.bias"]
    assert list(model.grads) == list(model.params)
    assert model.params["1.weight"] is model[1].params["weight"]
    assert all(a is b for a, b in zip(model.parameters(), model.params.values()))
    opt = rnnrs.optim.SGD(model.params, lr=0.1)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    out, _ = model.forward(x)
    model.zero_grad()
    model.backward(np.ones_like(out))
    norm = rnnrs.clip_grad_norm_(model.grads, 0.5)
    assert norm > 0.5
    total = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in model.grads.values()))
    assert total == pytest.approx(0.5, rel=1e-4)
    before = model.state_dict()
    opt.step(model.grads)
    for k, p in model.params.items():
        np.testing.assert_allclose(p, before[k] - 0.1 * model.grads[k], rtol=1e-6, atol=1e-7)
    model.zero_grad()
    assert all(not g.any() for g in model.grads.values())


def test_state_dict_round_trip_is_in_place():
    a = small_model("GRU", seed=0)
    b = small_model("GRU", seed=5)
    held = b.parameters()
    b.load_state_dict(a.state_dict())
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert all(x is y for x, y in zip(held, b.parameters()))  # optimizers keep their arrays
    sd = a.state_dict()
    sd["0.weight_ih_l0"] += 1.0
    assert not np.array_equal(sd["0.weight_ih_l0"], a.params["0.weight_ih_l0"])  # a copy


def test_bad_input_gives_clear_errors():
    model = small_model("LSTM")
    x = np.zeros((3, 2, 3))
    with pytest.raises(ValueError, match="modules"):
        rnnrs.Sequential()
    with pytest.raises(TypeError, match="modules\\[1\\]"):
        rnnrs.Sequential(rnnrs.LSTM(3, 4), object())
    with pytest.raises(ValueError, match="state"):
        model.forward(x, state=(None, None))
    with pytest.raises(RuntimeError, match="forward"):
        small_model("GRU").backward(np.zeros((3, 2, 2)))
    sd = model.state_dict()
    sd.pop("1.bias")
    with pytest.raises(KeyError, match="1.bias"):
        model.load_state_dict(sd)
    sd = model.state_dict()
    sd["1.bias"] = np.zeros(3)
    with pytest.raises(ValueError, match="1.bias"):
        model.load_state_dict(sd)
    with pytest.raises(ValueError, match="time axis"):
        rnnrs.LastStep().forward(np.zeros((0, 2, 3)))
    step = rnnrs.LastStep(batch_first=True)
    y = step.forward(np.arange(12.0).reshape(2, 3, 2))
    np.testing.assert_array_equal(y, [[4.0, 5.0], [10.0, 11.0]])
    with pytest.raises(ValueError, match="dy"):
        step.backward(np.zeros((3, 2)))
    np.testing.assert_array_equal(step.backward(np.ones((2, 2)))[:, -1], np.ones((2, 2)))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_skipping_the_input_gradient_keeps_every_parameter_gradient(kind, dropout):
    """``input_grad=False`` (data that needs no gradient, as in torch) skips the
    first layer's input gradient; the parameter gradients are the same bits."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 4))
    dout = rng.standard_normal((6, 3, 2))

    def run(input_grad):
        layer = getattr(rnnrs, kind)(4, 5, num_layers=2, dropout=dropout, dtype=np.float64, seed=1)
        model = rnnrs.Sequential(layer, rnnrs.Linear(5, 2, dtype=np.float64, seed=2))
        model.forward(x, train=True)
        dx = model.backward(dout, input_grad=input_grad)
        return dx, {k: v.copy() for k, v in model.grads.items()}

    (dx, g_with), (none, g_without) = run(True), run(False)
    assert dx.shape == x.shape and none is None
    assert g_with.keys() == g_without.keys()
    for k in g_with:
        np.testing.assert_array_equal(g_with[k], g_without[k], err_msg=k)


def test_sequential_runs_recurrent_modules_of_own_drivers_and_refuses_lengths_they_cannot_take():
    import rnnrs as rr
    x = np.random.default_rng(0).standard_normal((12, 3, 2)).astype(np.float32)
    for rec in (rr.Jordan(2, 4, 4, seed=0), rr.ClockworkRNN(2, 4, n_modules=2, seed=0),
                rr.DeepTransitionRNN(2, 4, seed=0), rr.DilatedRNN("GRU", 2, 4, dilations=[1, 2], seed=0)):
        model = rr.Sequential(rec, rr.Linear(4, 1, seed=1))
        out, state = model.forward(x, train=True)
        assert out.shape == (12, 3, 1) and len(state) == 1
        dx = model.backward(np.ones_like(out))
        assert dx.shape == x.shape
    class NoLengths(rr.Jordan):  # a user's recurrent module that does not take lengths
        takes_lengths = False

    model = rr.Sequential(NoLengths(2, 4, 4, seed=0), rr.Linear(4, 1))
    with pytest.raises(ValueError, match="lengths: module 0"):
        model(x, lengths=np.array([12, 5, 3]))
    for rec in (rr.Jordan(2, 4, 4, seed=0), rr.ClockworkRNN(2, 4, n_modules=2, seed=0)):
        out, _ = rr.Sequential(rec)(x, lengths=np.array([12, 5, 3]))
        assert np.all(out[5:, 1] == 0) and np.all(out[3:, 2] == 0)  # zero past each length, as the layers
