"""Gradient clipping with PyTorch's semantics, done in place by the Rust core.

`grads` is one NumPy array, a list/tuple of arrays, or a dict of arrays (such
as a layer's `grads`). The arrays are modified in place, so they must be
C-contiguous, writeable, and all float32 or all float64.
"""

from __future__ import annotations

from typing import Mapping, Sequence, Union

import numpy as np

from rnnrs import _core

Grads = Union[np.ndarray, Sequence[np.ndarray], Mapping[str, np.ndarray]]

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _as_list(grads: Grads, arg: str = "grads") -> list:
    """The arrays of `grads` in order, checked for in-place use."""
    if isinstance(grads, np.ndarray):
        arrays = [grads]
    elif isinstance(grads, Mapping):
        arrays = list(grads.values())
    elif isinstance(grads, (list, tuple)):
        arrays = list(grads)
    else:
        raise TypeError(
            f"{arg}: expected an array, a list of arrays or a dict of arrays, got {type(grads).__name__}"
        )
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{arg}[{i}]: expected a NumPy array, got {type(a).__name__}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{arg}[{i}]: expected float32 or float64, got {a.dtype}")
        if not a.flags.c_contiguous:
            raise ValueError(
                f"{arg}[{i}]: in-place clipping needs a C-contiguous array (use np.ascontiguousarray)"
            )
        if not a.flags.writeable:
            raise ValueError(f"{arg}[{i}]: in-place clipping needs a writeable array")
    if len({id(a) for a in arrays}) != len(arrays):
        raise ValueError(f"{arg}: the same array appears twice (it would be clipped twice)")
    return arrays


def _norm_order(norm_type) -> float:
    if isinstance(norm_type, str):
        if norm_type.strip().lower() not in ("inf", "+inf", "infinity"):
            raise ValueError(f"norm_type: expected a number > 0 or 'inf', got {norm_type!r}")
        return float("inf")
    p = float(norm_type)
    if not (p > 0):
        raise ValueError(f"norm_type: expected a number > 0 or inf, got {norm_type!r}")
    return p


def clip_grad_norm_(
    grads: Grads,
    max_norm: float,
    norm_type: Union[float, str] = 2.0,
    error_if_nonfinite: bool = False,
    foreach: object = None,
) -> np.floating:
    """Scales `grads` in place so that their global norm is at most `max_norm`.

    Exactly `torch.nn.utils.clip_grad_norm_`: the total norm is the
    `norm_type`-norm of the per-array norms; every entry is multiplied by
    `min(max_norm / (total + 1e-6), 1)` (also when that is 1). A NaN total
    makes every entry NaN, an infinite one gives factor 0 (finite entries
    become 0, infinite ones NaN). With `error_if_nonfinite=True` a NaN/inf
    total raises RuntimeError and leaves the gradients untouched.

    Args:
        grads: an array, a list/tuple of arrays or a dict of arrays
            (C-contiguous, writeable, one float dtype).
        max_norm: the largest allowed norm (>= 0).
        norm_type: 1, 2, any p > 0, or ``float('inf')`` / ``"inf"``.
        error_if_nonfinite: raise on a NaN/inf total norm.
        foreach: accepted for torch compatibility and ignored.

    Returns:
        The total norm before clipping, as a NumPy scalar of the gradients'
        dtype (float64 for an empty list, whose norm is 0).
    """
    del foreach
    arrays = _as_list(grads)
    p = _norm_order(norm_type)
    max_norm = float(max_norm)
    if not arrays:
        return np.float64(0.0)
    total = _core._clip_grad_norm(arrays, max_norm, p, bool(error_if_nonfinite))
    return arrays[0].dtype.type(total)


def clip_grad_value_(grads: Grads, clip_value: float, foreach: object = None) -> None:
    """Clamps every gradient entry to ``[-clip_value, clip_value]`` in place.

    Like `torch.nn.utils.clip_grad_value_`: NaN stays NaN, +-inf become
    +-clip_value. Arrays must be C-contiguous, writeable and of one dtype.
    """
    del foreach
    arrays = _as_list(grads)
    if not arrays:
        return None
    _core._clip_grad_value(arrays, float(clip_value))
    return None
