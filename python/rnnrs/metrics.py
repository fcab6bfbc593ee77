"""Regression metrics for time series: rmse, nrmse, rsquare.

All accept (T,) or (T, O) arrays (or anything NumPy can convert) and
average over outputs uniformly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["mse", "nrmse", "rmse", "rsquare"]


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        if t.size == p.size and t.ndim <= 2 and p.ndim <= 2 and t.size > 0:
            p = p.reshape(t.shape)
        else:
            raise ValueError(f"y_pred: expected shape {t.shape} (as y_true), got {p.shape}")
    if t.size == 0:
        raise ValueError("y_true: empty")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("y_true, y_pred: contain NaN or infinity")
    return t, p


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error: mean((y_true - y_pred)²)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error: sqrt(mean((y_true - y_pred)²))."""
    return float(np.sqrt(mse(y_true, y_pred)))


def nrmse(y_true: Any, y_pred: Any, norm: str = "minmax") -> float:
    """RMSE normalised by the spread of ``y_true``.

    norm : "minmax" (default, ReservoirPy's: max - min of y_true), "std"
        (standard deviation), "var", "mean" or "q1q3" (interquartile range).
    """
    t, p = _pair(y_true, y_pred)
    e = rmse(t, p)
    if norm == "minmax":
        scale = t.max() - t.min()
    elif norm == "std":
        scale = t.std()
    elif norm == "var":
        scale = t.var()
    elif norm == "mean":
        scale = t.mean()
    elif norm == "q1q3":
        q1, q3 = np.quantile(t, [0.25, 0.75])
        scale = q3 - q1
    else:
        raise ValueError(f"norm: expected 'minmax', 'std', 'var', 'mean' or 'q1q3', got {norm!r}")
    if scale == 0:
        raise ValueError(f"nrmse: y_true has zero spread under norm={norm!r}")
    return float(e / scale)


def rsquare(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Coefficient of determination R² = 1 - SS_res / SS_tot per output,
    averaged over outputs (scikit-learn's ``r2_score`` with
    ``multioutput="uniform_average"``; a constant target gives 1.0 when
    predicted exactly, else 0.0)."""
    t, p = _pair(y_true, y_pred)
    t2 = t.reshape(len(t), -1)
    p2 = p.reshape(len(p), -1)
    w = np.ones(len(t2)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != len(t2):
        raise ValueError(f"sample_weight: expected {len(t2)} values, got {w.shape[0]}")
    w = w[:, None]
    mean = (w * t2).sum(0) / w.sum()
    ss_res = (w * (t2 - p2) ** 2).sum(0)
    ss_tot = (w * (t2 - mean) ** 2).sum(0)
    scores = np.ones(t2.shape[1])
    nz = ss_tot != 0
    scores[nz] = 1 - ss_res[nz] / ss_tot[nz]
    scores[~nz & (ss_res != 0)] = 0.0
    return float(scores.mean())
