"""Losses: PyTorch fixtures, NumPy reference, finite differences, masks, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fixtures import fixture_params, load, tolerances

import rnnrs
from rnnrs.losses import cross_entropy, mse, sequence_mask
from rnnrs.reference import train as ref


def central_diff(f, x):
    """d f / d x by central differences (f: float64 array -> scalar)."""
    return rnnrs.numerical_grad(f, [x])[0]


@pytest.mark.parametrize("path", fixture_params("ce_*.npz"))
def test_cross_entropy_fixture(path):
    meta, a = load(path)
    rtol, atol = tolerances(meta)
    go = a.get("loss_weights") if meta["reduction"] == "none" else None
    loss, grad = cross_entropy(
        a["input"],
        a["target"],
        weight=a.get("class_weight"),
        ignore_index=meta["ignore_index"],
        reduction=meta["reduction"],
        label_smoothing=meta["label_smoothing"],
        grad_output=go,
    )
    assert np.shape(loss) == a["loss"].shape and grad.dtype == a["input"].dtype
    np.testing.assert_allclose(loss, a["loss"], rtol=rtol, atol=atol, equal_nan=True)
    np.testing.assert_allclose(grad, a["grad_input"], rtol=rtol, atol=atol)


@pytest.mark.parametrize("path", fixture_params("mse_*.npz"))
def test_mse_fixture(path):
    meta, a = load(path)
    rtol, atol = tolerances(meta)
    go = a.get("loss_weights") if meta["reduction"] == "none" else None
    loss, grad, grad_target = mse(
        a["input"], a["target"], meta["reduction"], grad_output=go, return_target_grad=True
    )
    np.testing.assert_allclose(loss, a["loss"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad, a["grad_input"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad_target, a["grad_target"], rtol=rtol, atol=atol)


ce_cases = st.fixed_dictionaries(
    {
        "n": st.integers(1, 5),
        "c": st.integers(1, 6),
        "t": st.sampled_from([None, 1, 3]),
        "reduction": st.sampled_from(["mean", "sum", "none"]),
        "smoothing": st.sampled_from([0.0, 0.1, 0.5]),
        "weighted": st.booleans(),
        "probs": st.booleans(),
        "ignore": st.booleans(),
        "seed": st.integers(0, 2**31),
    }
)


def _make_case(case):
    rng = np.random.default_rng(case["seed"])
    n, c, t = case["n"], case["c"], case["t"]
    shape = (n, c) if t is None else (n, c, t)
    x = rng.standard_normal(shape) * 3
    if case["probs"]:
        target = rng.dirichlet(np.ones(c), size=(n,) if t is None else (n, t))
        target = target if t is None else np.moveaxis(target, -1, 1)
        ignore = -100
    else:
        target = rng.integers(0, c, size=(n,) if t is None else (n, t))
        ignore = int(target.reshape(-1)[0]) if case["ignore"] else -100
    weight = rng.uniform(0.2, 2.0, c) if case["weighted"] else None
    kw = dict(
        weight=weight, ignore_index=ignore, reduction=case["reduction"], label_smoothing=case["smoothing"]
    )
    go = rng.standard_normal(target.shape if not case["probs"] else (n,) if t is None else (n, t))
    return x, target, kw, (go if case["reduction"] == "none" else 0.7)


@settings(max_examples=60, deadline=None)
@given(case=ce_cases)
def test_cross_entropy_matches_reference(case):
    x, target, kw, go = _make_case(case)
    loss, grad = cross_entropy(x, target, grad_output=go, **kw)
    want_loss, want_grad = ref.cross_entropy(x, target, grad_output=go, **kw)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12)
    # float32 agrees with the float64 reference to float32 precision.
    loss32, grad32 = cross_entropy(
        x.astype(np.float32), target if not case["probs"] else target.astype(np.float32), grad_output=go, **kw
    )
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(loss32, want_loss, rtol=1e-4, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(grad32, want_grad, rtol=1e-3, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(case=ce_cases)
def test_cross_entropy_gradient_vs_finite_differences(case):
    x, target, kw, go = _make_case(case)

    def f(z):
        loss, _ = cross_entropy(z, target, **kw)
        return float(np.sum(np.asarray(loss) * go))

    _, grad = cross_entropy(x, target, grad_output=go, **kw)
    if np.all(np.isnan(f(x))):
        assert not np.any(grad)  # everything ignored
        return
    np.testing.assert_allclose(grad, central_diff(f, x.copy()), rtol=1e-6, atol=1e-7)


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**31),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_mse_vs_reference_and_finite_differences(shape, seed, reduction):
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal(shape), rng.standard_normal(shape)
    go = rng.standard_normal(shape) if reduction == "none" else 1.3
    loss, grad = mse(x, t, reduction, grad_output=go)
    want_loss, want_grad = ref.mse(x, t, reduction, grad_output=go)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-13)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-13)
    num = central_diff(lambda z: float(np.sum(np.asarray(mse(z, t, reduction)[0]) * go)), x.copy())
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


def test_huge_logits_are_stable():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    for dtype in (np.float32, np.float64):
        loss, grad = cross_entropy(x.astype(dtype), np.array([1, 0]), label_smoothing=0.1)
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        want, want_grad = ref.cross_entropy(x, np.array([1, 0]), label_smoothing=0.1)
        np.testing.assert_allclose(loss, want, rtol=1e-6)
        np.testing.assert_allclose(grad, want_grad, atol=1e-6)


def test_mask_equals_ignoring_and_padding_is_left_out():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5, 6))  # (N, C, T)
    target = rng.integers(0, 5, (4, 6))
    lengths = np.array([6, 2, 0, 4])
    mask = sequence_mask(lengths, batch_first=True)  # (N, T)
    assert mask.shape == (4, 6) and mask.sum() == lengths.sum()
    loss, grad = cross_entropy(x, target, mask=mask, label_smoothing=0.1)
    ignored = np.where(mask, target, -1)
    want_loss, want_grad = cross_entropy(x, ignored, ignore_index=-1, label_smoothing=0.1)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-14)
    assert not np.any(grad[2])  # the empty sequence gets no gradient
    # MSE: a (T, B) mask over (T, B, F); mean over kept elements only.
    y, t = rng.standard_normal((6, 4, 3)), rng.standard_normal((6, 4, 3))
    m = sequence_mask(lengths)  # (T, B)
    loss, grad = mse(y, t, mask=m)
    keep = np.broadcast_to(m[..., None], y.shape)
    np.testing.assert_allclose(loss, np.mean((y - t)[keep] ** 2), rtol=1e-14)
    np.testing.assert_allclose(grad, np.where(keep, 2 * (y - t) / keep.sum(), 0.0), rtol=1e-14)


def test_unbatched_and_probability_targets():
    x = np.array([0.5, -1.0, 2.0])
    loss, grad = cross_entropy(x, np.int64(2))
    want, want_grad = ref.cross_entropy(x, np.array(2))
    np.testing.assert_allclose(loss, want, rtol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-14)
    # One-hot probabilities give the same as indices.
    xs = np.random.default_rng(0).standard_normal((3, 4))
    t = np.array([0, 3, 1])
    a = cross_entropy(xs, t, label_smoothing=0.2)
    b = cross_entropy(xs, np.eye(4)[t], label_smoothing=0.2)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-14)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-14, atol=1e-16)


def test_one_and_two_threads_give_identical_bits():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 65)).astype(np.float32)
    t = rng.integers(0, 65, 3000)
    out = []
    try:
        for threads in (1, 2):
            rnnrs.set_num_threads(threads)
            out.append(cross_entropy(x, t, label_smoothing=0.1) + mse(x, x * 0.5))
    finally:
        rnnrs.set_num_threads(0)
    for a, b in zip(out[0], out[1]):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_bad_input_is_rejected_clearly():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="target.*out of range"):
        cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="target.*out of range"):
        cross_entropy(x, np.array([0, -3, 1]))
    with pytest.raises(ValueError, match="target"):
        cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="target"):
        cross_entropy(x, np.zeros((3, 5)))
    with pytest.raises(TypeError, match="target"):
        cross_entropy(x, np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="weight"):
        cross_entropy(x, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="grad_output"):
        cross_entropy(x, np.array([0, 1, 2]), reduction="none", grad_output=np.ones(4))
    with pytest.raises(ValueError, match="mask"):
        cross_entropy(x, np.array([0, 1, 2]), mask=np.ones(4, bool))
    with pytest.raises(TypeError, match="input"):
        cross_entropy(np.zeros((3, 4), np.int32), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="target"):
        mse(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="lengths"):
        sequence_mask(np.array([1.5]))
    # NaN logits never crash: they give NaN.
    loss, grad = cross_entropy(np.array([[np.nan, 1.0]]), np.array([1]))
    assert np.isnan(loss) and np.isnan(grad).all()
