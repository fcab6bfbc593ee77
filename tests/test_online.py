"""rnnrs.online.OnlineLearner: defaults that converge, predict, delayed targets, warnings, errors."""

import importlib.util
import pathlib
import warnings

import numpy as np
import pytest
import rnnrs
from rnnrs import optim, rtrl

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "online_sines.py"


def load_example():
    spec = importlib.util.spec_from_file_location("online_sines", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_defaults_converge_on_noisy_sines():
    ex = load_example()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no growth warning on the defaults
        err, _ = ex.run(steps=1500, hidden=8, seed=0)
    s = ex.sines(1500, 0)
    persistence = np.mean((s[1:] - s[:-1]) ** 2)  # ~0.18; noise floor ~0.01
    assert err[-500:].mean() < 0.1, err[-500:].mean()
    assert err[-500:].mean() < 0.4 * persistence
    assert err[-500:].mean() < 0.25 * err[:200].mean()


def test_default_linear_readout_takes_the_cells_dtype():
    cell = rtrl.Cell("GRU", 2, 4)  # float64
    ro = rnnrs.Linear(4, 1)  # float32 by default
    learner = rtrl.OnlineLearner(cell, ro, loss="mse")
    assert ro.dtype == np.float64 and ro.params["weight"].dtype == np.float64
    assert learner.readout is ro
    learner.step(np.ones(2), [0.3])
    built = rtrl.OnlineLearner(rtrl.Cell("GRU", 2, 4, dtype=np.float32), 3, loss="cross_entropy")
    assert built.readout.dtype == np.float32 and built.readout.weight.shape == (3, 4)
    assert built.optimizer.lr == pytest.approx(1e-3)
    assert rtrl.OnlineLearner(cell, 1, loss="mse", optimizer="sgd").optimizer.lr == pytest.approx(1e-2)


def test_predict_moves_the_state_but_not_the_weights():
    cell = rtrl.Cell("LSTM", 2, 3, seed=1)
    learner = rtrl.OnlineLearner(cell, 1, loss="mse")
    before = {k: v.copy() for k, v in learner.params.items()}
    h0 = learner.rtrl.state[0].copy()
    out = learner.predict([0.5, -1.0])
    assert out.shape == (1, 1)
    for k, v in learner.params.items():
        np.testing.assert_array_equal(v, before[k])
    assert not np.array_equal(learner.rtrl.state[0], h0)
    # The same as a plain forward of the cell.
    y, _, _ = rnnrs.functional.lstm(np.array([[[0.5, -1.0]]]), cell.params)
    np.testing.assert_allclose(out, learner.readout(y[0]), rtol=1e-12)


@pytest.mark.parametrize("mode", ["GRU", "LSTM", "RNN_TANH"])
def test_delayed_targets_give_the_undelayed_updates_late(mode):
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(30, 2)), rng.normal(size=30)
    k = 3

    def learner(delay):
        return rtrl.OnlineLearner(rtrl.Cell(mode, 2, 4, seed=2), 1, loss="mse", delay=delay, lr=0.05)

    now, late = learner(0), learner(k)
    losses_now = [now.step(x, [y]) for x, y in zip(xs, ys)]
    losses_late = [late.step(xs[t], [ys[t - k]] if t >= k else None) for t in range(30)]
    assert losses_late[:k] == [None] * k
    # Bit for bit: the delayed learner makes the same updates, k steps later.
    assert losses_late[k:] == losses_now[:30 - k]
    # Its prediction for the latest input runs the cell ahead with the current weights.
    frozen = rtrl.OnlineLearner(rtrl.Cell(mode, 2, 4, seed=2), 1, loss="mse", delay=k, optimizer="sgd", lr=0.0)
    plain = rtrl.OnlineLearner(rtrl.Cell(mode, 2, 4, seed=2), 1, loss="mse", optimizer="sgd", lr=0.0)
    for t in range(10):
        frozen.step(xs[t], [ys[t - k]] if t >= k else None)
        plain.step(xs[t], [ys[t]])
        np.testing.assert_allclose(frozen.output, plain.output, rtol=1e-12, atol=1e-14)


def test_delayed_learner_with_elementwise_cell():
    cell = rtrl.IndRNN(2, 3, seed=0)
    a = rtrl.OnlineLearner(cell, 1, loss="mse", delay=2, optimizer="sgd", lr=0.0)
    b = rtrl.OnlineLearner(rtrl.IndRNN(2, 3, seed=0), 1, loss="mse", optimizer="sgd", lr=0.0)
    xs = np.random.default_rng(1).normal(size=(6, 2))
    for t, x in enumerate(xs):
        a.step(x, [0.0] if t >= 2 else None)
        b.step(x, [0.0])
        np.testing.assert_allclose(a.output, b.output, rtol=1e-12)


def test_growing_loss_warns_once():
    state = {"n": 0}

    def growing(out, target):
        state["n"] += 1
        return 1.0 + 0.01 * state["n"], np.zeros_like(out)  # climbs steadily

    learner = rtrl.OnlineLearner(rtrl.Cell("GRU", 1, 2), 1, loss=growing)
    with pytest.warns(RuntimeWarning, match="learning rate"):
        for _ in range(800):
            learner.step([0.1], [0.0])


def test_non_finite_step_updates_nothing():
    learner = rtrl.OnlineLearner(rtrl.Cell("GRU", 1, 3), 1, loss="mse")
    before = {k: v.copy() for k, v in learner.params.items()}
    with pytest.warns(RuntimeWarning, match="not finite"):
        loss = learner.step([np.nan], [0.0])
    assert np.isnan(loss)
    for k, v in learner.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_bad_arguments():
    cell = rtrl.Cell("GRU", 1, 3)
    with pytest.raises(ValueError, match="delay"):
        rtrl.OnlineLearner(cell, 1, delay=-1)
    with pytest.raises(ValueError, match="readout"):
        rtrl.OnlineLearner(cell, 0)
    learner = rtrl.OnlineLearner(cell, 1, loss="mse", delay=2)
    with pytest.raises(ValueError, match="y_t"):
        learner.step([0.0], [1.0])
    ro = rnnrs.Linear(3, 1)  # float32, held by an optimizer instance: cannot be converted
    opt = optim.SGD(list(ro.params.values()), lr=0.1)
    with pytest.raises(TypeError, match="dtype"):
        rtrl.OnlineLearner(cell, ro, optimizer=opt)


def test_delayed_learner_on_a_gru_variant_layer():
    layer = rnnrs.GRU(2, 4, gates="gru1", dtype=np.float64, seed=0)
    frozen = rtrl.OnlineLearner(layer, 1, loss="mse", delay=2, optimizer="sgd", lr=0.0)
    plain = rtrl.OnlineLearner(rnnrs.GRU(2, 4, gates="gru1", dtype=np.float64, seed=0), 1, loss="mse",
                               optimizer="sgd", lr=0.0, seed=0)
    xs = np.random.default_rng(2).normal(size=(5, 2))
    for t, x in enumerate(xs):
        frozen.step(x, [0.0] if t >= 2 else None)
        plain.step(x, [0.0])
        np.testing.assert_allclose(frozen.output, plain.output, rtol=1e-12)
