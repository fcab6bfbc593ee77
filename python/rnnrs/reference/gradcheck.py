"""Central finite differences: check any analytic gradient of a scalar function of float64 arrays.

    df/dx_k ~= (f(x + eps e_k) - f(x - eps e_k)) / (2 eps)

The truncation error is O(eps^2) and the rounding error about machine-eps * |f| / eps, so with the
default eps = 1e-6 a smooth f of moderate size is reproduced to roughly 1e-9 absolute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _check_inputs(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Inputs must be float64 arrays: float32 has too few digits for finite differences."""
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
        raise TypeError(f"inputs: expected a list or tuple of float64 arrays, got {type(inputs).__name__}")
    for k, a in enumerate(inputs):
        if not isinstance(a, np.ndarray) or a.dtype != np.float64:
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"inputs[{k}]: expected a float64 numpy array, got {got}")
    return list(inputs)


def _scalar(f: Callable[..., object], args: list[np.ndarray]) -> float:
    value = f(*args)
    if np.ndim(value) != 0:
        raise ValueError(f"f: must return a scalar, got a value of shape {np.shape(value)}")
    return float(value)


def numerical_grad(f: Callable[..., object], inputs: Sequence[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """Gradient of the scalar `f(*inputs)` w.r.t. every element of every input, by central differences.

    inputs: list of float64 arrays (not modified: f sees perturbed copies). Returns one float64 array per
    input, of the same shape. Costs 2 calls of f per input element. Raises TypeError for inputs that are
    not float64 arrays and ValueError when f does not return a scalar.
    """
    inputs = _check_inputs(inputs)
    if not eps > 0:
        raise ValueError(f"eps: expected a positive step, got {eps!r}")
    args = [a.copy() for a in inputs]
    grads = []
    for a in args:
        g = np.empty_like(a)
        flat, g_flat = a.reshape(-1), g.reshape(-1)  # views into args[k] and g
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            f_plus = _scalar(f, args)
            flat[j] = original - eps
            f_minus = _scalar(f, args)
            flat[j] = original
            g_flat[j] = (f_plus - f_minus) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(f: Callable[..., object], inputs: Sequence[np.ndarray], grads: Sequence[np.ndarray],
              eps: float = 1e-6, rtol: float = 1e-6, atol: float = 1e-9) -> float:
    """Compare analytic `grads` of scalar `f(*inputs)` with `numerical_grad`; return the max relative error.

    An element passes when |analytic - numerical| <= atol + rtol * |numerical| (numpy.allclose's rule).
    The returned relative error is max |analytic - numerical| / (|numerical| + atol / rtol), which is
    <= rtol exactly when every element passes. Raises AssertionError naming the input index, the worst
    element and both values otherwise; TypeError for non-float64 inputs.
    """
    inputs = _check_inputs(inputs)
    if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)) or len(grads) != len(inputs):
        raise ValueError(f"grads: expected a list of {len(inputs)} arrays (one per input)")
    if not (rtol > 0 and atol >= 0):
        raise ValueError(f"rtol, atol: expected rtol > 0 and atol >= 0, got {rtol!r}, {atol!r}")
    numerical = numerical_grad(f, inputs, eps)
    worst = 0.0
    for k, (analytic, num) in enumerate(zip(grads, numerical)):
        analytic = np.asarray(analytic, dtype=np.float64)
        if analytic.shape != num.shape:
            raise ValueError(f"grads[{k}]: expected shape {num.shape} (like inputs[{k}]), got {analytic.shape}")
        if num.size == 0:
            continue
        # NaN anywhere counts as an infinite error so it cannot pass silently.
        rel = np.abs(analytic - num) / (np.abs(num) + atol / rtol)
        rel = np.where(np.isnan(rel), np.inf, rel)
        j = np.unravel_index(int(np.argmax(rel)), num.shape)
        if rel[j] > rtol:
            raise AssertionError(
                f"gradcheck failed for inputs[{k}] at index {tuple(int(i) for i in j)}: "
                f"analytic {analytic[j]!r}, numerical {num[j]!r} (relative error {rel[j]:.3e} > rtol {rtol:g}, "
                f"atol {atol:g})"
            )
        worst = max(worst, float(rel[j]))
    return worst
