"""Linear and Embedding: NumPy reference, finite differences, protocol, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs.reference import train as ref


def central_diff(f, x):
    """d f / d x by central differences (f: float64 array -> scalar)."""
    return rnnrs.numerical_grad(f, [x])[0]


@settings(max_examples=25, deadline=None)
@given(
    lead=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    i=st.integers(1, 6),
    o=st.integers(1, 5),
    bias=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_linear_matches_reference(lead, i, o, bias, seed):
    rng = np.random.default_rng(seed)
    lin = rnnrs.Linear(i, o, bias=bias, dtype=np.float64, seed=seed)
    x = rng.standard_normal(tuple(lead) + (i,))
    dy = rng.standard_normal(tuple(lead) + (o,))
    y = lin.forward(x)
    np.testing.assert_allclose(y, ref.linear(x, lin.weight, lin.bias), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin(x), y, rtol=0, atol=0)
    dx = lin.backward(dy)
    want_dx, want_dw, want_db = ref.linear_backward(x, lin.weight, dy)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin.grads["weight"], want_dw, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(lin.grads["bias"], want_db, rtol=1e-12, atol=1e-12)
    # backward accumulates; zero_grad resets.
    lin.backward(dy)
    np.testing.assert_allclose(lin.grads["weight"], 2 * want_dw, rtol=1e-12, atol=1e-12)
    lin.zero_grad()
    assert not any(g.any() for g in lin.grads.values())


def test_linear_gradients_vs_finite_differences():
    rng = np.random.default_rng(0)
    lin = rnnrs.Linear(4, 3, dtype=np.float64, seed=1)
    x = rng.standard_normal((2, 5, 4))
    dy = rng.standard_normal((2, 5, 3))
    lin.forward(x)
    dx = lin.backward(dy)

    def loss_of_x(z):
        return float(np.sum(lin(z) * dy))

    np.testing.assert_allclose(dx, central_diff(loss_of_x, x.copy()), rtol=1e-7, atol=1e-8)
    for name in ("weight", "bias"):
        p = lin.params[name]
        saved = p.copy()

        def loss_of_p(w, p=p):
            np.copyto(p, w)  # the layer reads its live parameter array
            return loss_of_x(x)

        num = central_diff(loss_of_p, saved.copy())
        np.copyto(p, saved)
        np.testing.assert_allclose(lin.grads[name], num, rtol=1e-7, atol=1e-8)


def test_linear_init_is_torch_like_and_seeded():
    a, b = rnnrs.Linear(16, 8, seed=3), rnnrs.Linear(16, 8, seed=3)
    assert a.weight.shape == (8, 16) and a.bias.shape == (8,) and a.weight.dtype == np.float32
    np.testing.assert_array_equal(a.weight, b.weight)
    assert np.abs(a.weight).max() <= 0.25 and np.abs(a.bias).max() <= 0.25
    assert not np.array_equal(a.weight, rnnrs.Linear(16, 8, seed=4).weight)


def test_linear_float32_and_threads():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 128)).astype(np.float32)
    dy = rng.standard_normal((300, 64)).astype(np.float32)
    out = []
    try:
        for threads in (1, 2):
            rnnrs.set_num_threads(threads)
            lin = rnnrs.Linear(128, 64, seed=0)
            y = lin.forward(x)
            dx = lin.backward(dy)
            out.append((y, dx, lin.grads["weight"].copy(), lin.grads["bias"].copy()))
    finally:
        rnnrs.set_num_threads(0)
    for a, b in zip(*out):
        assert a.tobytes() == b.tobytes()
    np.testing.assert_allclose(out[0][0], ref.linear(x, lin.weight, lin.bias), rtol=1e-4, atol=1e-4)


def test_embedding_matches_reference_and_padding():
    rng = np.random.default_rng(1)
    emb = rnnrs.Embedding(10, 4, padding_idx=-1, dtype=np.float64, seed=0)
    assert emb.padding_idx == 9 and not emb.weight[9].any()
    idx = rng.integers(0, 10, (5, 3))
    idx[0, 0] = 9
    y = emb.forward(idx)
    np.testing.assert_array_equal(y, emb.weight[idx])
    dy = rng.standard_normal((5, 3, 4))
    assert emb.backward(dy) is None
    np.testing.assert_allclose(emb.grads["weight"], ref.embedding_backward(idx, dy, 10, 9), rtol=1e-14)
    assert not emb.grads["weight"][9].any()
    # Gradient of sum(y * dy) w.r.t. the table, by finite differences.
    num = central_diff(lambda w: float(np.sum(w[idx] * dy) - np.sum(w[9] * 0)), emb.weight.copy())
    num[9] = 0.0  # the padding row gets no gradient
    np.testing.assert_allclose(emb.grads["weight"], num, rtol=1e-7, atol=1e-8)


def test_state_dict_and_optimizer_keep_the_same_arrays():
    lin = rnnrs.Linear(3, 2, seed=0)
    opt = rnnrs.optim.SGD(lin.params, lr=0.1)
    sd = {k: np.full_like(v, 0.5) for k, v in lin.state_dict().items()}
    lin.load_state_dict(sd)
    lin.forward(np.ones((1, 3), np.float32))
    lin.backward(np.ones((1, 2), np.float32))
    opt.step(lin.grads)
    np.testing.assert_allclose(lin.weight, 0.4)  # the optimizer updated the loaded arrays
    with pytest.raises(ValueError, match="missing"):
        lin.load_state_dict({"weight": sd["weight"]})
    with pytest.raises(ValueError, match="shape"):
        lin.load_state_dict({"weight": np.ones((3, 3)), "bias": sd["bias"]})


def test_bad_input_is_rejected_clearly():
    lin = rnnrs.Linear(3, 2)
    with pytest.raises(TypeError, match="float32"):
        lin(np.ones((2, 3)))  # float64 into a float32 layer
    with pytest.raises(ValueError, match="features"):
        lin(np.ones((2, 4), np.float32))
    with pytest.raises(RuntimeError, match="forward"):
        rnnrs.Linear(3, 2).backward(np.ones((1, 2), np.float32))
    lin.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="dy"):
        lin.backward(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="in_features"):
        rnnrs.Linear(-1, 2)
    with pytest.raises(TypeError, match="dtype"):
        rnnrs.Linear(2, 2, dtype=np.int32)
    emb = rnnrs.Embedding(5, 2)
    with pytest.raises(ValueError, match="out of range"):
        emb(np.array([0, 5]))
    with pytest.raises(ValueError, match="out of range"):
        emb(np.array([-1]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([0.5]))
    with pytest.raises(ValueError, match="padding_idx"):
        rnnrs.Embedding(5, 2, padding_idx=5)
