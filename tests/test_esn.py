"""Reservoir kernels against the NumPy reference, spectral radius, determinism,
the ESN estimator and its quality targets."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs import _core
from rnnrs.datasets import mackey_glass, narma
from rnnrs.metrics import nrmse
from rnnrs.reference import esn as ref


def _dense(res: rr.Reservoir) -> np.ndarray:
    return res.W.astype(np.float64)


# --------------------------------------------------------------------------- kernels


@settings(max_examples=15, deadline=None)
@given(
    units=st.integers(1, 40),
    inputs=st.integers(1, 3),
    steps=st.integers(1, 12),
    activation=st.sampled_from(["tanh", "identity", "sigmoid", "relu"]),
    sparse=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_run_matches_reference(units, inputs, steps, activation, sparse, seed):
    res = rr.Reservoir(
        units, spectral_radius=0.9, leak_rate=0.4, connectivity=0.3, input_connectivity=0.5,
        bias_scaling=0.2, activation=activation, sparse=sparse, seed=seed,
    )  # fmt: skip
    u = np.random.default_rng(seed).normal(size=(steps, inputs))
    got = res.run(u)
    want = ref.reservoir_run(_dense(res), res.Win, res.bias, res.leak, u, activation=activation)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_per_unit_leak_per_input_scaling_and_feedback_match_reference():
    rng = np.random.default_rng(0)
    n = 30
    leak = rng.uniform(0.1, 1.0, n)
    res = rr.Reservoir(n, spectral_radius=1.1, leak_rate=leak, input_scaling=[1.0, 0.1], seed=3)
    u = rng.normal(size=(20, 2))
    teacher = rng.normal(size=(20, 2))
    states = res.run(u, feedback=teacher, y0=np.array([0.5, -0.5]))
    assert res.Wfb.shape == (n, 2)
    want = ref.reservoir_run(_dense(res), res.Win, res.bias, res.leak, u, Wfb=res.Wfb, teacher=teacher,
                             y0=np.array([0.5, -0.5]))  # fmt: skip
    np.testing.assert_allclose(states, want, rtol=1e-12, atol=1e-12)
    # Columns of Win scale with input_scaling.
    base = rr.Reservoir(n, spectral_radius=1.1, leak_rate=leak, seed=3).initialize(2)
    np.testing.assert_allclose(res.Win, base.Win * np.array([1.0, 0.1]))


def test_float32_is_close_to_float64():
    u = np.random.default_rng(1).normal(size=(50, 1))
    a = rr.Reservoir(100, spectral_radius=0.9, seed=2).run(u)
    b = rr.Reservoir(100, spectral_radius=0.9, seed=2, dtype=np.float32).run(u.astype(np.float32))
    assert b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_batch_list_and_single_runs_agree():
    rng = np.random.default_rng(2)
    res = rr.Reservoir(60, spectral_radius=0.95, leak_rate=0.5, seed=4)
    batch = rng.normal(size=(5, 30, 2))
    out = res.run(batch)
    assert out.shape == (5, 30, 60)
    for k in range(5):
        np.testing.assert_array_equal(out[k], res.run(batch[k]))
    seqs = [rng.normal(size=(t, 2)) for t in (3, 17, 1)]
    outs = res.run(seqs)
    for s, o in zip(seqs, outs):
        np.testing.assert_array_equal(o, res.run(s))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_large_batches_use_the_blocked_kernel_and_equal_single_runs(dtype, activation):
    # 21 sequences: blocks of 8 sequences (the last one padded) through the
    # batched kernel, which must give each sequence's single-run result exactly.
    rng = np.random.default_rng(8)
    res = rr.Reservoir(90, spectral_radius=0.9, leak_rate=[0.3] * 45 + [0.8] * 45, activation=activation,
                       bias_scaling=0.5, seed=6, dtype=dtype)  # fmt: skip
    batch = rng.normal(size=(21, 25, 3)).astype(dtype)
    x0 = rng.normal(size=(21, 90)).astype(dtype) * 0.1
    old = rr.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            rr.set_num_threads(threads)
            outs.append(res.run(batch, x0=x0))
    finally:
        rr.set_num_threads(old)
    np.testing.assert_array_equal(outs[0], outs[1])
    for k in range(21):
        np.testing.assert_array_equal(outs[0][k], res.run(batch[k], x0=x0[k]))


def test_results_identical_for_one_and_two_threads():
    u = np.random.default_rng(3).normal(size=(200, 1))
    res = rr.Reservoir(1200, spectral_radius=0.9, seed=5)  # big enough for row-parallel steps
    batch = np.random.default_rng(4).normal(size=(4, 50, 1))
    old = rr.get_num_threads()
    try:
        rr.set_num_threads(1)
        a, ab = res.run(u), res.run(batch)
        rr.set_num_threads(2)
        b, bb = res.run(u), res.run(batch)
    finally:
        rr.set_num_threads(old)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ab, bb)


def test_seed_reproducibility_and_noise():
    u = np.random.default_rng(5).normal(size=(40, 1))
    a = rr.Reservoir(50, spectral_radius=0.9, seed=7, noise_rc=0.01, noise_in=0.01).run(u)
    b = rr.Reservoir(50, spectral_radius=0.9, seed=7, noise_rc=0.01, noise_in=0.01).run(u)
    c = rr.Reservoir(50, spectral_radius=0.9, seed=8, noise_rc=0.01, noise_in=0.01).run(u)
    clean = rr.Reservoir(50, spectral_radius=0.9, seed=7).run(u)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    diff = np.abs(a - clean).max()
    assert 1e-4 < diff < 0.5


def test_initializer_distributions_and_connectivity():
    indptr, indices, data = _core.sparse_random(300, 300, 0.1, "uniform", 1.0, 1, 0)
    assert abs(len(data) / 90000 - 0.1) < 0.005
    assert np.all((data >= -1) & (data < 1))
    _, _, b = _core.sparse_random(50, 50, 0.5, "bernoulli", 2.0, 1, 0)
    assert set(np.unique(b)) == {-2.0, 2.0}
    _, _, z = _core.sparse_random(300, 300, 0.2, "normal", 1.0, 1, 0)
    assert abs(z.std() - 1) < 0.03
    assert np.all(np.diff(indptr) >= 0) and indices.dtype == np.int32


# --------------------------------------------------------------------------- spectral radius


@pytest.mark.parametrize("n, conn", [(10, 0.5), (60, 0.2), (200, 0.1), (500, 0.1)])
def test_spectral_radius_matches_dense_eigensolver(n, conn):
    for seed in range(2):
        indptr, indices, data = _core.sparse_random(n, n, conn, "normal", 1.0, seed, 0)
        dense = np.zeros((n, n))
        dense[np.repeat(np.arange(n), np.diff(indptr)), indices] = data
        eig = np.linalg.eigvals(dense)
        want = np.abs(eig).max()
        got, _res, converged, _ = _core.spectral_radius(indptr, indices, data, n)
        assert converged
        assert abs(got - want) <= 1e-6 * want, (n, seed, got, want)


def test_spectral_radius_complex_leading_pair():
    # A rotation-scaling block: power iteration oscillates, Arnoldi is exact.
    n = 40
    rng = np.random.default_rng(0)
    dense = np.diag(rng.uniform(-0.5, 0.5, n))
    dense[:2, :2] = 1.3 * np.array([[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]])
    dense[5, 3] = 0.2
    rows, cols = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    got, *_ = _core.spectral_radius(indptr, cols.astype(np.int32), dense[rows, cols], n)
    assert abs(got - 1.3) < 1e-9


def test_reservoir_is_scaled_to_spectral_radius_or_given_radius():
    res = rr.Reservoir(200, spectral_radius=1.25, seed=1).initialize(1)
    assert abs(np.abs(np.linalg.eigvals(res.W)).max() - 1.25) < 1e-6
    raw = rr.Reservoir(200, spectral_radius=None, seed=1).initialize(1)
    given_r = rr.Reservoir(200, spectral_radius=1.0, radius=2.0, seed=1).initialize(1)
    np.testing.assert_allclose(given_r.W, raw.W / 2.0)


# --------------------------------------------------------------------------- errors


def test_bad_input_raises_clearly():
    with pytest.raises(ValueError, match="units"):
        rr.Reservoir(-3)
    with pytest.raises(ValueError, match="connectivity"):
        rr.Reservoir(10, connectivity=0.0)
    with pytest.raises(ValueError, match="connectivity"):
        rr.Reservoir(10, connectivity=1.5)
    with pytest.raises(ValueError, match="leak_rate"):
        rr.Reservoir(10, leak_rate=0.0)
    with pytest.raises(ValueError, match="activation"):
        rr.Reservoir(10, activation="softsign")
    res = rr.Reservoir(10, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        res.run(np.array([[1.0], [np.nan]]))
    res.run(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="features"):
        res.run(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="-D"):
        res.run(np.zeros(3))
    with pytest.raises(ValueError, match="connectivity"):
        _core.sparse_random(3, 3, 2.0, "normal", 1.0, 0, 0)
    with pytest.raises(ValueError, match="indptr|indices"):
        _core.spectral_radius(np.array([0, 5], dtype=np.int64), np.array([0], dtype=np.int32), np.array([1.0]), 1)
    esn = rr.ESN(units=20)
    with pytest.raises(rr.reservoir.NotFittedError):
        esn.predict(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="warmup"):
        esn.fit(np.zeros((5, 1)), np.zeros(5), warmup=10)
    with pytest.raises(ValueError, match="NaN"):
        esn.fit(np.full((5, 1), np.nan), np.zeros(5))
    with pytest.raises(ValueError, match="connectivity"):
        rr.ESN(connectivity=-1).fit(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="y"):
        esn.fit(np.zeros((5, 1)), np.zeros(4))


# --------------------------------------------------------------------------- estimator


def _mg_normalised(n: int) -> np.ndarray:
    s = mackey_glass(n, seed=0)
    return 2 * (s - s.min()) / (s.max() - s.min()) - 1


def test_esn_predict_equals_reference_readout_and_batch_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = np.column_stack([np.roll(X[:, 0], 1), X[:, 1] ** 2])
    esn = rr.ESN(units=80, seed=3).fit(X, y, warmup=20)
    states = esn.reservoir_.run(X)
    W, b = ref.ridge(states[20:], y[20:], esn.ridge)
    np.testing.assert_allclose(esn.coef_, W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(esn.predict(X), states @ W + b, rtol=1e-6, atol=1e-7)
    # A batch of two sequences equals the list form; predictions per sequence.
    Xb = rng.normal(size=(2, 100, 2))
    yb = Xb ** 2
    e1 = rr.ESN(units=50, seed=1).fit(Xb, yb, warmup=10)
    e2 = rr.ESN(units=50, seed=1).fit(list(Xb), list(yb), warmup=10)
    np.testing.assert_array_equal(e1.coef_, e2.coef_)
    assert e1.predict(Xb).shape == (2, 100, 2)


def test_feedback_esn_predict_matches_reference_loop():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 1))
    y = np.sin(np.cumsum(X, axis=0) * 0.1)
    esn = rr.ESN(units=40, feedback=True, feedback_scaling=0.5, seed=2).fit(X, y, warmup=10)
    res = esn.reservoir_
    pred = esn.predict(X[:30])
    # Reference: feed the model's own previous output back.
    x, yprev, want = np.zeros(40), np.zeros(1), []
    for t in range(30):
        s = res.W @ x + res.Win @ X[t] + res.bias + res.Wfb @ yprev
        x = (1 - res.leak) * x + res.leak * np.tanh(s)
        yprev = x @ esn.coef_ + esn.intercept_
        want.append(yprev[0])
    np.testing.assert_allclose(pred[:, 0] if pred.ndim == 2 else pred, want, rtol=1e-9, atol=1e-10)


def test_generate_matches_reference_closed_loop():
    s = _mg_normalised(800)
    esn = rr.ESN(units=100, seed=0).fit(s[:500], s[1:501], warmup=50)
    res = esn.reservoir_
    gen = esn.generate(20)
    y0 = esn.state_ @ esn.coef_ + esn.intercept_
    outs, _ = ref.closed_loop(res.W, res.Win, res.bias, res.leak, esn.coef_, esn.intercept_, esn.state_, y0, 19)
    np.testing.assert_allclose(gen[0], y0, rtol=1e-12)
    np.testing.assert_allclose(gen[1:], outs, rtol=1e-8, atol=1e-10)


def test_save_load_roundtrip(tmp_path):
    s = _mg_normalised(400)
    esn = rr.ESN(units=60, seed=4).fit(s[:300], s[1:301], warmup=10)
    path = tmp_path / "esn.npz"
    esn.save(path)
    back = rr.ESN.load(path)
    np.testing.assert_array_equal(back.predict(s[:100]), esn.predict(s[:100]))
    np.testing.assert_array_equal(back.generate(10), esn.generate(10))
    assert back.get_params() == esn.get_params()


def test_get_set_params_and_reset():
    esn = rr.ESN(units=30, leak_rate=0.5)
    assert esn.get_params()["units"] == 30
    esn.set_params(units=40, spectral_radius=0.9)
    assert esn.units == 40 and esn.spectral_radius == 0.9
    s = _mg_normalised(200)
    esn.fit(s[:150], s[1:151])
    assert esn.reservoir_.units == 40
    esn.reset()
    assert not esn.state_.any()


# --------------------------------------------------------------------------- quality targets


def test_mackey_glass_one_step_median_nrmse_over_10_seeds():
    """500 units, sr 1.25, lr 0.3, input scaling 1, connectivity 0.1, ridge
    1e-7, 2000 training steps after 100 warm-up, 1000 test steps; the series
    rescaled to [-1, 1] and ReservoirPy's defaults for the rest (input
    connectivity 0.1, bias scaling 1)."""
    s = _mg_normalised(3102)
    X, Y = s[:-1], s[1:]
    errs = []
    for seed in range(10):
        esn = rr.ESN(units=500, spectral_radius=1.25, leak_rate=0.3, input_scaling=1.0, connectivity=0.1,
                     input_connectivity=0.1, bias_scaling=1.0, ridge=1e-7, seed=seed)  # fmt: skip
        esn.fit(X[:2100], Y[:2100], warmup=100)
        pred = esn.predict(X[:3100])[2100:]  # test steps continue from the training states
        errs.append(nrmse(Y[2100:3100], pred))
    assert np.median(errs) <= 5e-4, errs


def test_narma10_nrmse():
    """NARMA-10 with 500 units: sr 0.9, lr 1.0, input scaling 0.5 (inputs
    centred), input connectivity 1, connectivity 0.1, bias 0.1, ridge 1e-6,
    4000 training steps after 200 warm-up, 1000 test steps."""
    u, y = narma(5200, seed=1)
    uc = u - 0.25
    esn = rr.ESN(units=500, spectral_radius=0.9, leak_rate=1.0, input_scaling=0.5, connectivity=0.1,
                 input_connectivity=1.0, bias_scaling=0.1, ridge=1e-6, seed=0)  # fmt: skip
    esn.fit(uc[:4200], y[:4200], warmup=200)
    pred = esn.predict(uc)[4200:]
    err = nrmse(y[4200:], pred, norm="std")
    assert err <= 0.2, err


def test_closed_loop_generation_stays_on_the_attractor():
    s = _mg_normalised(2700)
    esn = rr.ESN(units=500, spectral_radius=1.25, leak_rate=0.3, connectivity=0.1, input_connectivity=0.1,
                 ridge=1e-7, seed=0).fit(s[:2100], s[1:2101], warmup=100)  # fmt: skip
    gen = esn.generate(500)
    truth = s[2101:2601]
    err = nrmse(truth, gen)
    assert err < 0.1, err
    # Statistically on the attractor: same range and spread.
    assert abs(gen.std() - truth.std()) < 0.1 * truth.std()
    assert gen.min() > -1.1 and gen.max() < 1.1


# --------------------------------------------------------------------------- scikit-learn


def test_check_estimator():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    assert sklearn is not None
    # An ESN is a sequence model: each row is a time step, so the prediction
    # for a row depends on the rows before it. Those two checks assume the
    # opposite (rows are independent samples) and are expected to fail.
    expected = {
        "check_methods_subset_invariance": "rows are time steps; a prediction depends on earlier rows",
        "check_methods_sample_order_invariance": "rows are time steps; reordering them changes the dynamics",
    }
    check_estimator(rr.ESN(units=50), expected_failed_checks=expected)


def test_esn_float32_and_dense_options():
    s = _mg_normalised(800)
    sparse = rr.ESN(units=80, seed=2).fit(s[:600], s[1:601], warmup=20)
    dense = rr.ESN(units=80, seed=2, sparse=False).fit(s[:600], s[1:601], warmup=20)
    # Sparse and dense products sum in different orders: the states agree to
    # rounding, the fitted readout (ridge on nearly collinear states)
    # amplifies that to ~1e-7 relative.
    u = s[:700]
    np.testing.assert_allclose(dense.reservoir_.run(u), sparse.reservoir_.run(u), rtol=0, atol=1e-13)
    np.testing.assert_allclose(dense.predict(u), sparse.predict(u), rtol=1e-6, atol=1e-8)
    f32 = rr.ESN(units=80, seed=2, dtype="float32", ridge=1e-5).fit(s[:600], s[1:601], warmup=20)
    assert f32.reservoir_.W_data.dtype == np.float32
    assert nrmse(s[601:701], f32.predict(s[:700])[600:]) < 0.05
