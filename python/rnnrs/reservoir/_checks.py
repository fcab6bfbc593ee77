"""Argument checks and sequence layouts shared by the reservoir estimators."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

def _check_float_array(a: Any, name: str, dtype=np.float64, ndim: tuple[int, ...] = (2,)) -> np.ndarray:
    """`a` as a C-contiguous finite array of `dtype` with one of the `ndim`s."""
    try:
        arr = np.asarray(a)
    except Exception as exc:
        raise TypeError(f"{name}: expected an array-like of numbers ({exc})") from exc
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: argument must be a string or a number; cannot convert to float ({exc})") from exc
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported ({name})")
    if arr.ndim not in ndim:
        raise ValueError(
            f"{name}: expected {' or '.join(map(str, ndim))}-D data, got shape {arr.shape}. "
            "Reshape your data, e.g. x.reshape(-1, 1) for a single feature."
        )
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or infinity")
    return arr


def _check_positive_int(v: Any, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, Integral) or v < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {v!r}")
    return int(v)


def _check_real(v: Any, name: str, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    v = float(v)
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name}: expected a value {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name}: expected a value <= {high}, got {v}")
    return v


def _seed_int(seed: Any) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(0, 2**63))
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
    return int(seed) % 2**64


def _as_sequences(X: Any, name: str, dtype, n_features: int | None = None) -> tuple[list[np.ndarray], str]:
    """Sequences from a (T, I) array, a (B, T, I) array or a list of (T, I).

    Returns the list and the layout ("single", "batch", "list")."""
    if isinstance(X, (list, tuple)) and len(X) > 0 and all(np.ndim(x) == 2 for x in X):
        seqs = [_check_float_array(x, f"{name}[{k}]", dtype) for k, x in enumerate(X)]
        layout = "list"
    else:
        arr = _check_float_array(X, name, dtype, ndim=(2, 3))
        if arr.ndim == 3:
            seqs, layout = list(arr), "batch"
        else:
            seqs, layout = [arr], "single"
    if n_features is not None:
        for s in seqs:
            if s.shape[1] != n_features:
                raise ValueError(f"{name}: expected {n_features} features per step, got {s.shape[1]}")
    if not seqs:
        raise ValueError(f"{name}: no sequences given")
    return seqs, layout



def _is_sparse(a: Any) -> bool:
    return hasattr(a, "tocsr") or hasattr(a, "toarray") and not isinstance(a, np.ndarray)


def _as_list(v: Any, n: int) -> list:
    if isinstance(v, list):
        return v
    arr = np.asarray(v)
    return list(arr) if n > 1 else [arr]


def _relayout(parts: list[np.ndarray], layout: str) -> Any:
    if layout == "single":
        return parts[0]
    if layout == "batch":
        return np.stack(parts)
    return parts
