"""rnnrs.LSM: the Rust LIF simulation against the dense NumPy reference, the liquid's structure,
readout fit/predict, determinism, threads and errors."""

import numpy as np
import pytest
import rnnrs
from rnnrs.lsm import LSM
from rnnrs.reference import structure as ref


def dense(rows, n_cols):
    ptr, col, val = rows
    m = np.zeros((len(ptr) - 1, n_cols))
    for r in range(len(ptr) - 1):
        for k in range(ptr[r], ptr[r + 1]):
            m[r, col[k]] += val[k]
    return m


@pytest.mark.parametrize("mode", ["current", "spikes"])
def test_simulation_matches_reference(mode):
    lsm = LSM(shape=(3, 3, 3), input_scaling=8.0, input_mode=mode, features="counts", window=5, seed=1)
    rng = np.random.default_rng(0)
    u = (rng.random((60, 2)) < 0.3).astype(np.float64) * (1.0 if mode == "spikes" else 3.0)
    feats = lsm.transform(u)[0]
    n = lsm.units
    constants = (lsm.dt, lsm.tau_m, 0.0, lsm.v_thresh, lsm.v_reset, 1.0, *lsm.tau_syn, lsm.tau_trace)
    want = ref.lsm_run(u, lsm.excitatory_, lsm.refractory_steps_, lsm.bias_, lsm.v0_, dense(lsm.synapses_, n),
                       dense(lsm._input_synapses(2), n), constants, mode, 5)
    assert want.sum() > 10  # the liquid is active
    np.testing.assert_array_equal(feats, want)


def test_liquid_structure():
    lsm = LSM(shape=(6, 6, 6), seed=0)
    n = lsm.units
    exc = lsm.excitatory_
    assert abs((~exc).mean() - 0.2) < 0.01
    w = dense(lsm.synapses_, n)
    assert np.all(w[exc] >= 0) and np.all(w[~exc] <= 0)
    assert not np.diag(w).any()
    # Connection probability falls with distance: near pairs are connected far more often.
    pos = np.stack(np.unravel_index(np.arange(n), lsm.shape), axis=1)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    near, far = (w != 0)[(d > 0) & (d <= 1)].mean(), (w != 0)[d >= 4].mean()
    assert near > 0.1 and far < 0.01


def test_traces_and_windows():
    lsm = LSM(shape=(3, 3, 3), input_scaling=10.0, features="traces", window=4, steps_per_input=2, seed=2)
    x = np.random.default_rng(1).normal(size=(10, 1))
    (tr,) = lsm.transform([x])
    assert tr.shape == (3, 27)  # ceil(10 / 4) windows
    assert (tr >= 0).all()
    np.testing.assert_array_equal(tr, lsm.transform(x)[0])  # deterministic


def test_classifier_fit_predict():
    rng = np.random.default_rng(0)
    # Two classes: a slow or a fast sine in one channel.
    X = [np.sin(np.arange(30)[:, None] * (0.2 if k % 2 else 0.7) + rng.uniform(0, 6)) for k in range(40)]
    y = np.array(["slow" if k % 2 else "fast" for k in range(40)])
    lsm = LSM(shape=(5, 5, 4), input_scaling=15.0, seed=0).fit(X[:30], y[:30])
    assert set(lsm.predict(X[30:])) <= {"slow", "fast"}
    assert lsm.score(X[30:], y[30:]) >= 0.8


def test_regression_per_window():
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(20, 1)) for _ in range(5)]
    y = [x[:, 0] for x in X]
    lsm = LSM(shape=(4, 4, 4), input_scaling=15.0, ridge=1e-3, seed=0).fit(X, y)
    pred = lsm.predict(X)
    assert pred[0].shape == (20, 1)
    assert np.isfinite(lsm.score(X, y))


def test_one_and_two_threads_identical():
    lsm = LSM(shape=(5, 5, 5), input_scaling=15.0, seed=3)
    X = [np.random.default_rng(k).normal(size=(25, 2)) for k in range(6)]
    before = rnnrs.get_num_threads()
    try:
        rnnrs.set_num_threads(1)
        one = lsm.transform(X)
        rnnrs.set_num_threads(2)
        two = lsm.transform(X)
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_errors():
    with pytest.raises(ValueError, match="shape"):
        LSM(shape=(3, 3))
    with pytest.raises(ValueError, match="input_mode"):
        LSM(input_mode="voltage")
    with pytest.raises(ValueError, match="window"):
        LSM(window=0)
    lsm = LSM(shape=(2, 2, 2))
    with pytest.raises(ValueError, match="X"):
        lsm.transform(np.zeros(5))
    with pytest.raises(RuntimeError, match="NaN"):
        lsm.transform(np.full((3, 1), np.nan))
    with pytest.raises(ValueError, match="fit"):
        lsm.predict(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="one label per sequence"):
        lsm.fit([np.zeros((3, 1))] * 2, [0, 1, 2])


def test_example_quick_beats_chance(capsys):
    import pathlib
    import runpy

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "lsm_classification.py"
    result = runpy.run_path(str(path), run_name="example")["main"](["--quick"])
    assert result["lsm"] >= 0.7  # nine speakers: chance is 0.11
