"""One dtype-generic function per kernel in `rnnrs._core` (issue #14 §4): the
dtype of the leading array selects float32 or float64, and an argument of the
other dtype is a TypeError that names it."""

import numpy as np
import pytest

from rnnrs import _core

TWINS = ["_clip_grad_norm", "_mse", "_cross_entropy", "_sgd_step", "_adam_step", "_rmsprop_step",
         "_adagrad_step", "_linear_forward", "_linear_backward", "_embedding_backward", "tree_forward",
         "tree_backward", "conv2d_forward", "conv2d_backward", "convlstm_forward", "convlstm_backward"]


def test_no_dtype_twins_left():
    names = set(dir(_core))
    assert not [n for n in names if n.endswith(("_f32", "_f64"))]
    assert all(n in names for n in TWINS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_forward_keeps_the_dtype(dtype):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=(2, 4)).astype(dtype), np.ones(2, dtype)
    y = _core._linear_forward(x, w, b)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, x @ w.T + b, rtol=1e-5)


def test_mismatched_dtype_names_the_argument():
    x32, w64 = np.ones((3, 4), np.float32), np.ones((2, 4))
    with pytest.raises(TypeError, match=r"weight.*float32.*float64"):
        _core._linear_forward(x32, w64)
    with pytest.raises(TypeError, match="bias"):
        _core._linear_forward(x32, w64.astype(np.float32), np.ones(2))
    with pytest.raises(TypeError, match="target"):
        _core._mse(np.ones(3), np.ones(3, np.float32), reduction="mean")
    with pytest.raises(TypeError, match="grad_weight"):
        _core._linear_backward(np.ones((3, 4)), np.ones((2, 4)), np.ones((3, 2)), np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match=r"exp_avg.*one dtype"):
        p, g = [np.ones(2)], [np.ones(2)]
        _core._adam_step(p, g, [np.zeros(2, np.float32)], [np.zeros(2)], [], step=1, lr=0.1, beta1=0.9,
                         beta2=0.99, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False)
    with pytest.raises(TypeError, match="weight"):
        _core.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3), np.float32))
    with pytest.raises(TypeError, match=r"input.*float32 or float64.*int64"):
        _core.conv2d_forward(np.ones((1, 1, 3, 3), np.int64), np.ones((1, 1, 3, 3)))


def test_hyper_parameters_are_keyword_only():
    p, g = [np.ones(2)], [np.ones(2)]
    with pytest.raises(TypeError):
        _core._sgd_step(p, g, [], False, 0.1, 0.0, 0.0, False, 0.0, False)  # type: ignore[misc]
    _core._sgd_step(p, g, [], first=False, lr=0.5, momentum=0.0, dampening=0.0, nesterov=False,
                    weight_decay=0.0, maximize=False)
    np.testing.assert_allclose(p[0], [0.5, 0.5])
