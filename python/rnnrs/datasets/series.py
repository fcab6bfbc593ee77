"""Benchmark time series for reservoir computing, seeded and documented.

Every generator returns float64 arrays of shape (n_timesteps, dim).
"""

from __future__ import annotations

from collections import deque
from numbers import Integral
from typing import Any

import numpy as np

__all__ = ["henon_map", "logistic_map", "lorenz", "mackey_glass", "narma", "to_forecasting"]


def _n(n_timesteps: Any) -> int:
    if isinstance(n_timesteps, bool) or not isinstance(n_timesteps, Integral) or n_timesteps < 1:
        raise ValueError(f"n_timesteps: expected an integer >= 1, got {n_timesteps!r}")
    return int(n_timesteps)


def _mg_rhs(xt: float, xtau: float, a: float, b: float, n: float) -> float:
    return -b * xt + a * xtau / (1.0 + xtau**n)


def mackey_glass(
    n_timesteps: int,
    tau: int = 17,
    a: float = 0.2,
    b: float = 0.1,
    n: int = 10,
    x0: float = 1.2,
    h: float = 1.0,
    seed: int | None = 0,
    history: np.ndarray | None = None,
) -> np.ndarray:
    """Mackey-Glass delay differential equation, as ReservoirPy computes it.

    ``dx/dt = a x(t - tau) / (1 + x(t - tau)^n) - b x(t)``, discretised with
    one RK4 step of size ``h`` per sample, the delayed value held constant
    during the step. The delayed value comes from a queue of the last
    ``floor(tau / h)`` samples, initialised (unless ``history`` is given) to
    ``x0 + 0.2 (U - 0.5)`` with ``U`` uniform from
    ``numpy.random.default_rng(seed)``; the series starts at ``x0``.
    Returns (n_timesteps, 1).
    """
    n_timesteps = _n(n_timesteps)
    if tau < 0 or h <= 0:
        raise ValueError("tau must be >= 0 and h > 0")
    hist_len = int(np.floor(tau / h))
    if history is None:
        rng = np.random.default_rng(seed)
        queue = deque(x0 * np.ones(hist_len) + 0.2 * (rng.random(hist_len) - 0.5))
    else:
        history = np.asarray(history, dtype=np.float64).reshape(-1)
        if len(history) < hist_len:
            raise ValueError(f"history: needs at least tau/h = {hist_len} values, got {len(history)}")
        queue = deque(history[len(history) - hist_len :])
    out = np.empty(n_timesteps)
    xt = float(x0)
    for i in range(n_timesteps):
        out[i] = xt
        if tau == 0:
            xtau = 0.0
        else:
            xtau = queue.popleft()
            queue.append(xt)
        k1 = h * _mg_rhs(xt, xtau, a, b, n)
        k2 = h * _mg_rhs(xt + 0.5 * k1, xtau, a, b, n)
        k3 = h * _mg_rhs(xt + 0.5 * k2, xtau, a, b, n)
        k4 = h * _mg_rhs(xt + k3, xtau, a, b, n)
        xt = xt + k1 / 6 + k2 / 3 + k3 / 3 + k4 / 6
    return out.reshape(-1, 1)


def narma(
    n_timesteps: int,
    order: int = 10,
    a1: float = 0.3,
    a2: float = 0.05,
    b: float = 1.5,
    c: float = 0.1,
    seed: int | None = 0,
    u: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """NARMA task of the given order (NARMA-10 by default).

    ``y[t+1] = a1 y[t] + a2 y[t] sum_{i=0}^{order-1} y[t-i] + b u[t-order+1] u[t] + c``
    with input ``u`` uniform on [0, 0.5] from ``numpy.random.default_rng(seed)``
    (or given), ``y`` zero before the start. Returns ``(u, y)``, both
    (n_timesteps, 1).
    """
    n_timesteps = _n(n_timesteps)
    if isinstance(order, bool) or not isinstance(order, Integral) or order < 1:
        raise ValueError(f"order: expected an integer >= 1, got {order!r}")
    if u is None:
        u = np.random.default_rng(seed).uniform(0.0, 0.5, size=n_timesteps)
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    if len(u) != n_timesteps:
        raise ValueError(f"u: expected {n_timesteps} values, got {len(u)}")
    y = np.zeros(n_timesteps)
    for t in range(order - 1, n_timesteps - 1):
        y[t + 1] = a1 * y[t] + a2 * y[t] * y[t - order + 1 : t + 1].sum() + b * u[t - order + 1] * u[t] + c
    return u.reshape(-1, 1), y.reshape(-1, 1)


def lorenz(
    n_timesteps: int,
    rho: float = 28.0,
    sigma: float = 10.0,
    beta: float = 8.0 / 3.0,
    x0: Any = (1.0, 1.0, 1.0),
    h: float = 0.03,
    substeps: int = 10,
) -> np.ndarray:
    """Lorenz system ``x' = sigma (y - x)``, ``y' = x (rho - z) - y``,
    ``z' = x y - beta z``, sampled every ``h`` time units from ``x0``
    (first sample = x0), integrated by classical RK4 with ``substeps`` steps
    per sample (ReservoirPy uses SciPy's adaptive solver with the same
    parameters; trajectories agree until chaos separates them).
    Returns (n_timesteps, 3)."""
    n_timesteps = _n(n_timesteps)
    s = np.asarray(x0, dtype=np.float64).reshape(3).copy()

    def f(v: np.ndarray) -> np.ndarray:
        return np.array([sigma * (v[1] - v[0]), v[0] * (rho - v[2]) - v[1], v[0] * v[1] - beta * v[2]])

    dt = h / substeps
    out = np.empty((n_timesteps, 3))
    for i in range(n_timesteps):
        out[i] = s
        for _ in range(substeps):
            k1 = f(s)
            k2 = f(s + 0.5 * dt * k1)
            k3 = f(s + 0.5 * dt * k2)
            k4 = f(s + dt * k3)
            s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def henon_map(n_timesteps: int, a: float = 1.4, b: float = 0.3, x0: Any = (0.0, 0.0)) -> np.ndarray:
    """Hénon map ``x[n+1] = 1 - a x[n]² + y[n]``, ``y[n+1] = b x[n]``, from
    ``x0``. Returns (n_timesteps, 2)."""
    n_timesteps = _n(n_timesteps)
    out = np.empty((n_timesteps, 2))
    out[0] = np.asarray(x0, dtype=np.float64).reshape(2)
    for i in range(1, n_timesteps):
        x, y = out[i - 1]
        out[i] = (1.0 - a * x * x + y, b * x)
    return out


def logistic_map(n_timesteps: int, r: float = 3.9, x0: float = 0.5) -> np.ndarray:
    """Logistic map ``x[n+1] = r x[n] (1 - x[n])`` from ``x0`` in (0, 1),
    ``r > 0``. Returns (n_timesteps, 1)."""
    n_timesteps = _n(n_timesteps)
    if r <= 0:
        raise ValueError(f"r: expected a value > 0, got {r}")
    if not 0 < x0 < 1:
        raise ValueError(f"x0: expected a value in (0, 1), got {x0}")
    out = np.empty(n_timesteps)
    out[0] = x0
    for i in range(1, n_timesteps):
        out[i] = r * out[i - 1] * (1 - out[i - 1])
    return out.reshape(-1, 1)


def to_forecasting(series: np.ndarray, forecast: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``series[:-forecast]`` and targets ``series[forecast:]``."""
    series = np.asarray(series)
    if forecast < 1 or forecast >= len(series):
        raise ValueError(f"forecast: expected 1 <= forecast < {len(series)}, got {forecast}")
    return series[:-forecast], series[forecast:]
