"""Online learning with RTRL: a reduced run of examples/rtrl_online.py."""

import importlib.util
import pathlib

import numpy as np
import rnnrs
from rnnrs import rtrl

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "rtrl_online.py"


def load_example():
    spec = importlib.util.spec_from_file_location("rtrl_online", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_exact_rtrl_learns_delayed_recall_and_tbptt1_does_not():
    ex = load_example()
    acc = {m: ex.run(m, delay=5, steps=4000, hidden=16, seed=0)[0] for m in ("exact", "tbptt1")}
    # Chance is 1/2 (binary symbols); recall across 5 steps needs credit assignment through time.
    assert acc["exact"] > 0.8, acc
    assert acc["tbptt1"] < 0.65, acc


def test_online_learner_updates_weights_every_step():
    cell = rtrl.Cell("GRU", 2, 4, seed=0)
    learner = rtrl.OnlineLearner(cell, rnnrs.Linear(4, 1, dtype=np.float64), loss="mse", optimizer="sgd", lr=0.1,
                                 method="snap1")
    w_ih, w_hh = cell.params["weight_ih_l0"].copy(), cell.params["weight_hh_l0"].copy()
    loss = learner.step(np.ones(2), [0.5])
    assert isinstance(loss, float) and loss > 0
    assert not np.array_equal(w_ih, cell.params["weight_ih_l0"])
    # From h0 = 0 the first step's gradient on W_hh is zero; the second is not.
    np.testing.assert_array_equal(w_hh, cell.params["weight_hh_l0"])
    learner.step(np.ones(2), [0.5])
    assert not np.array_equal(w_hh, cell.params["weight_hh_l0"])
    assert learner.output.shape == (1, 1)
