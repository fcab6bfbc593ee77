"""Gradient clipping: PyTorch fixtures, NumPy reference, properties, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fixtures import fixture_params, load, tolerances

import rnnrs
from rnnrs.reference import train as ref


def _inputs(meta, a):
    return [a[f"g{i}"].copy() for i in range(meta["n_grads"])]


@pytest.mark.parametrize("path", fixture_params("clipnorm_*.npz"))
def test_clip_grad_norm_fixture(path):
    meta, a = load(path)
    rtol, atol = tolerances(meta)
    grads = _inputs(meta, a)
    p = meta["norm_type"]  # 2.0, 1.0, 3.0 or the string "inf": both forms accepted
    total = rnnrs.clip_grad_norm_(grads, meta["max_norm"], norm_type=p)
    assert total.dtype == np.dtype(meta["dtype"])
    np.testing.assert_allclose(total, a["total_norm"], rtol=rtol, atol=atol, equal_nan=True)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, a[f"out{i}"], rtol=rtol, atol=atol, equal_nan=True)
    # error_if_nonfinite: raises exactly when torch does, grads untouched.
    grads = _inputs(meta, a)
    if meta["error_if_nonfinite_raises"]:
        with pytest.raises(RuntimeError, match="non-finite"):
            rnnrs.clip_grad_norm_(grads, meta["max_norm"], norm_type=p, error_if_nonfinite=True)
        for i, g in enumerate(grads):
            np.testing.assert_array_equal(g, a[f"g{i}"])
    else:
        rnnrs.clip_grad_norm_(grads, meta["max_norm"], norm_type=float(p), error_if_nonfinite=True)
        for i, g in enumerate(grads):
            np.testing.assert_allclose(g, a[f"out{i}"], rtol=rtol, atol=atol)


@pytest.mark.parametrize("path", fixture_params("clipvalue_*.npz"))
def test_clip_grad_value_fixture(path):
    meta, a = load(path)
    grads = _inputs(meta, a)
    assert rnnrs.clip_grad_value_(grads, meta["clip_value"]) is None
    for i, g in enumerate(grads):
        np.testing.assert_array_equal(g, a[f"out{i}"])  # clamping is exact


def test_containers_dict_single_array_and_empty():
    d = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert rnnrs.clip_grad_norm_(d, 1.0) == 5.0
    np.testing.assert_allclose(d["b"], [[4.0 / (5 + 1e-6)]])
    x = np.array([0.0, -2.0], dtype=np.float32)
    rnnrs.clip_grad_value_(x, 1.0)
    np.testing.assert_array_equal(x, [0.0, -1.0])
    assert rnnrs.clip_grad_norm_([], 1.0) == 0.0  # torch returns 0 for no gradients


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=4),
    max_norm=st.floats(0.01, 10.0),
    p=st.sampled_from([1.0, 2.0, 3.0, 0.5, float("inf")]),
    seed=st.integers(0, 2**31),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_clipping_preserves_direction_and_bounds_norm(sizes, max_norm, p, seed, dtype):
    rng = np.random.default_rng(seed)
    grads = [(rng.standard_normal(n) * rng.uniform(0.1, 10)).astype(dtype) for n in sizes]
    orig = [g.astype(np.float64) for g in grads]
    want_total, want = ref.clip_grad_norm(orig, max_norm, p)
    total = rnnrs.clip_grad_norm_(grads, max_norm, norm_type=p)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(float(total), want_total, rtol=rtol, atol=1e-30)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=rtol * 10, atol=1e-6 if dtype == np.float32 else 1e-14)
    new_total = ref.vector_norm(np.array([ref.vector_norm(g, p) for g in grads]), p)
    assert new_total <= max_norm * (1 + 1e-5) or new_total <= want_total * (1 + 1e-5)
    # Same direction: a non-negative multiple of the original.
    flat, o = np.concatenate([g.ravel() for g in grads]), np.concatenate([g.ravel() for g in orig])
    if np.any(o):
        k = np.dot(flat, o) / np.dot(o, o)
        assert k > 0
        np.testing.assert_allclose(flat, k * o, rtol=1e-4, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 70_000), min_size=1, max_size=3),
    p=st.sampled_from([2.0, 1.0, 3.5, "inf"]),
    seed=st.integers(0, 2**31),
)
def test_one_and_two_threads_give_identical_bits(sizes, p, seed):
    rng = np.random.default_rng(seed)
    base = [rng.standard_normal(n).astype(np.float32) for n in sizes + [20_000]]  # > one block
    out = []
    try:
        for threads in (1, 2):
            rnnrs.set_num_threads(threads)
            grads = [b.copy() for b in base]
            total = rnnrs.clip_grad_norm_(grads, 0.5, norm_type=p)
            out.append((total, grads))
    finally:
        rnnrs.set_num_threads(0)
    assert out[0][0].tobytes() == out[1][0].tobytes()
    for x, y in zip(out[0][1], out[1][1]):
        assert x.tobytes() == y.tobytes()


def test_bad_input_is_rejected_clearly():
    g = np.ones(4)
    with pytest.raises(ValueError, match="C-contiguous"):
        rnnrs.clip_grad_norm_([np.ones((4, 4))[:, 0]], 1.0)
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        rnnrs.clip_grad_value_([ro], 1.0)
    with pytest.raises(TypeError, match="one dtype"):
        rnnrs.clip_grad_norm_([g, np.ones(2, np.float32)], 1.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        rnnrs.clip_grad_norm_([np.ones(2, np.int64)], 1.0)
    with pytest.raises(TypeError, match="grads"):
        rnnrs.clip_grad_norm_(3.0, 1.0)
    with pytest.raises(ValueError, match="norm_type"):
        rnnrs.clip_grad_norm_([g], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="norm_type"):
        rnnrs.clip_grad_norm_([g], 1.0, norm_type="fro")
    with pytest.raises(ValueError, match="max_norm"):
        rnnrs.clip_grad_norm_([g], float("nan"))
    with pytest.raises(ValueError, match="clip_value"):
        rnnrs.clip_grad_value_([g], -1.0)
    with pytest.raises(ValueError, match="twice"):
        rnnrs.clip_grad_norm_([g, g], 1.0)
    with pytest.raises(ValueError, match="borrowed"):  # overlapping views: caught by rust-numpy
        rnnrs.clip_grad_norm_([g[:3], g[1:]], 1.0)
