"""Losses with their gradients (Rust kernels), PyTorch's semantics.

Every loss returns ``(loss, grad_input)``: the loss (a NumPy scalar of the
input's dtype for ``reduction="mean"``/``"sum"``, an array for ``"none"``) and
the gradient of ``sum(grad_output * loss)`` with respect to the input, where
``grad_output`` (the upstream gradient, shaped like the loss) defaults to 1.

Variable-length sequences: pass ``mask`` (True = counts) to leave padded
positions out; ``mean`` then divides by what is kept. `sequence_mask` builds
one from sequence lengths.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from rnnrs import _core

__all__ = ["mse", "cross_entropy", "sequence_mask"]

_REDUCTIONS = ("mean", "sum", "none")


def _float_input(x, arg: str = "input") -> np.ndarray:
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{arg}: expected a float32 or float64 array, got {x.dtype}")
    return np.ascontiguousarray(x)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")


def _grad_output(grad_output, reduction: str, loss_shape: tuple, dtype) -> Optional[np.ndarray]:
    """The upstream gradient as a contiguous array (1 element when reduced)."""
    if grad_output is None:
        return None
    g = np.asarray(grad_output, dtype=dtype)
    if reduction == "none":
        try:
            g = np.broadcast_to(g, loss_shape)
        except ValueError:
            raise ValueError(f"grad_output: expected the loss's shape {loss_shape}, got {g.shape}") from None
    elif g.size != 1:
        raise ValueError(f"grad_output: expected one value for reduction={reduction!r}, got shape {g.shape}")
    return np.ascontiguousarray(g).reshape(-1)


def _mask(mask, shape: tuple, what: str) -> Optional[np.ndarray]:
    """A boolean mask whose shape is a leading part of `shape`, expanded to it."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        if not np.issubdtype(m.dtype, np.number):
            raise TypeError(f"mask: expected a boolean array, got {m.dtype}")
        m = m != 0
    if m.shape != shape[: m.ndim]:
        raise ValueError(f"mask: expected shape {shape} or a leading part of it ({what}), got {m.shape}")
    m = m.reshape(m.shape + (1,) * (len(shape) - m.ndim))
    return np.ascontiguousarray(np.broadcast_to(m, shape)).reshape(-1)


def _scalar_or_array(loss: np.ndarray, reduction: str, shape: tuple):
    if reduction == "none":
        return loss.reshape(shape)
    return loss.dtype.type(loss.reshape(-1)[0])


def mse(
    input,
    target,
    reduction: str = "mean",
    *,
    mask=None,
    grad_output=None,
    return_target_grad: bool = False,
):
    """Mean squared error ``(input - target)**2``, like ``F.mse_loss``.

    Args:
        input, target: float arrays of one shape (target is cast to the
            input's dtype).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        mask: optional boolean array whose shape is a leading part of the
            input's (e.g. ``(T, B)`` for ``(T, B, F)``); False entries are
            left out and ``mean`` divides by the number of kept elements.
        grad_output: upstream gradient, shaped like the loss (a scalar for
            mean/sum); default 1.
        return_target_grad: also return the gradient w.r.t. the target
            (``-grad_input``).

    Returns:
        ``(loss, grad_input)`` or ``(loss, grad_input, grad_target)``.
    """
    _check_reduction(reduction)
    x = _float_input(input)
    t = np.asarray(target)
    if t.shape != x.shape:
        raise ValueError(f"target: expected the input's shape {x.shape}, got {t.shape}")
    if not np.issubdtype(t.dtype, np.number):
        raise TypeError(f"target: expected a numeric array, got {t.dtype}")
    t = np.ascontiguousarray(t, dtype=x.dtype)
    m = _mask(mask, x.shape, "the input's shape")
    go = _grad_output(grad_output, reduction, x.shape, x.dtype)
    loss, grad = _core._mse(x, t, reduction=reduction, mask=m, grad_output=go)
    loss = _scalar_or_array(loss, reduction, x.shape)
    if return_target_grad:
        return loss, grad, -grad
    return loss, grad


def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    mask=None,
    grad_output=None,
) -> Tuple[Union[np.floating, np.ndarray], np.ndarray]:
    """Cross-entropy of logits, exactly ``F.cross_entropy``.

    Layouts (torch's): ``input`` ``(N, C)`` with ``target`` ``(N,)``;
    ``(N, C, d1, ...)`` with ``(N, d1, ...)`` (e.g. ``(N, C, T)`` and
    ``(N, T)``); ``(C,)`` with a scalar target. Integer targets are class
    indices; a float ``target`` shaped like the input holds class
    probabilities. For a time-major RNN output ``(T, B, C)`` pass
    ``logits.reshape(-1, C)`` with ``targets.reshape(-1)``.

    Args:
        weight: optional per-class weights ``(C,)``.
        ignore_index: index targets equal to it contribute nothing.
        reduction: ``"mean"`` divides by the summed weights of the kept
            targets (the number of kept samples for probability targets);
            ``"sum"``; ``"none"`` gives one loss per sample.
        label_smoothing: in [0, 1]; mixes the target with the uniform
            distribution as torch does.
        mask: optional booleans shaped like the index target (the input
            without its class axis); False samples are treated as ignored.
        grad_output: upstream gradient shaped like the loss (default 1).

    Returns:
        ``(loss, grad_input)``. When every target is ignored, ``mean`` gives
        NaN and a zero gradient (as torch). Log-sum-exp is computed stably.

    Raises:
        ValueError: shapes that do not match, a class index out of range.
    """
    _check_reduction(reduction)
    x = _float_input(input)
    if x.ndim == 0:
        raise ValueError("input: expected (C,), (N, C) or (N, C, d1, ...) logits, got a scalar")
    unbatched = x.ndim == 1
    xs = x.reshape(1, -1) if unbatched else x
    n, c = xs.shape[0], xs.shape[1]
    s = int(np.prod(xs.shape[2:], dtype=np.int64))
    sample_shape = (n,) + xs.shape[2:]
    loss_shape = () if unbatched else sample_shape
    t = np.asarray(target)
    if np.issubdtype(t.dtype, np.floating):
        if t.shape != x.shape:
            raise ValueError(
                f"target: probability targets must have the input's shape {x.shape}, got {t.shape}"
            )
        t_index, t_probs = None, np.ascontiguousarray(t, dtype=x.dtype)
    elif np.issubdtype(t.dtype, np.integer):
        want = () if unbatched else sample_shape
        if t.shape != want:
            raise ValueError(
                f"target: expected class indices of shape {want} for input {x.shape}, got {t.shape}"
            )
        if np.issubdtype(t.dtype, np.unsignedinteger) and t.size and t.max() > np.iinfo(np.int64).max:
            raise ValueError("target: class index too large")
        t_index, t_probs = np.ascontiguousarray(t, dtype=np.int64).reshape(-1), None
    else:
        raise TypeError(f"target: expected integer class indices or float probabilities, got {t.dtype}")
    w = None
    if weight is not None:
        w = np.ascontiguousarray(weight, dtype=x.dtype)
        if w.shape != (c,):
            raise ValueError(f"weight: expected shape ({c},), one weight per class, got {w.shape}")
    m = _mask(mask, loss_shape, "the target's shape") if mask is not None else None
    go = _grad_output(grad_output, reduction, loss_shape, x.dtype)
    loss, grad = _core._cross_entropy(
        x, layout=(n, c, s), target_index=t_index, target_probs=t_probs, weight=w,
        ignore_index=int(ignore_index), reduction=reduction, label_smoothing=float(label_smoothing),
        mask=m, grad_output=go,
    )
    return _scalar_or_array(loss, reduction, loss_shape), grad


def sequence_mask(lengths, max_len: Optional[int] = None, batch_first: bool = False) -> np.ndarray:
    """Boolean mask of valid steps for sequences of the given lengths.

    Returns ``(T, B)`` (or ``(B, T)`` with ``batch_first``) where entry
    ``[t, b]`` is True when ``t < lengths[b]``; ``T`` is ``max_len`` or the
    longest length.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(
            f"lengths: expected a 1-d integer array, got shape {lengths.shape} of {lengths.dtype}"
        )
    if lengths.size and lengths.min() < 0:
        raise ValueError("lengths: expected non-negative lengths")
    longest = int(lengths.max()) if lengths.size else 0
    t = longest if max_len is None else int(max_len)
    if t < longest:
        raise ValueError(f"max_len: {t} is shorter than the longest sequence ({longest})")
    m = np.arange(t)[:, None] < lengths[None, :]
    return np.ascontiguousarray(m.T) if batch_first else m
