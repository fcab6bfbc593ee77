"""More chaotic systems and oscillators for reservoir computing, as ReservoirPy 0.4 defines them.

Same equations, parameters, defaults and initial states as ``reservoirpy.datasets``. The ODEs are
integrated by classical RK4 with ``substeps`` steps per sample, sampled every ``h`` from ``x0``
(first row = x0); ReservoirPy uses SciPy's adaptive ``solve_ivp`` (RK45, rtol 1e-3 by default)
evaluated at ``linspace(0, n_timesteps·h, n_timesteps)`` — a spacing of ``n·h/(n-1)`` — so the
trajectories agree with a tight-tolerance ``solve_ivp`` to the integration error until chaos
separates them. `kuramoto_sivashinsky` (ETDRK4, Kassam & Trefethen 2005) and `mso` are
deterministic formulas and equal ReservoirPy's to rounding.

Every function returns a float64 array ``(n_timesteps, dim)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import numpy as np

__all__ = [
    "doublescroll",
    "kuramoto_sivashinsky",
    "lorenz96",
    "mso",
    "mso2",
    "mso8",
    "multiscroll",
    "rabinovich_fabrikant",
    "rossler",
]


def _n(n_timesteps: Any, name: str = "n_timesteps", minimum: int = 1) -> int:
    if isinstance(n_timesteps, bool) or not isinstance(n_timesteps, Integral) or n_timesteps < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {n_timesteps!r}")
    return int(n_timesteps)


def _x0(x0: Any, dim: int) -> np.ndarray:
    x = np.asarray(x0, dtype=np.float64).reshape(-1)
    if x.shape != (dim,) or not np.all(np.isfinite(x)):
        raise ValueError(f"x0: expected {dim} finite values, got shape {np.shape(x0)}")
    return x.copy()


def _rk4(f: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, n_timesteps: int, h: float, substeps: int) -> np.ndarray:
    """Samples every ``h`` of ``x' = f(x)`` from ``x0`` by RK4 with ``substeps`` steps per sample."""
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h: expected a positive time step, got {h}")
    substeps = _n(substeps, "substeps")
    dt = h / substeps
    out = np.empty((n_timesteps, x0.shape[0]))
    x = x0
    for i in range(n_timesteps):
        out[i] = x
        for _ in range(substeps):
            k1 = f(x)
            k2 = f(x + 0.5 * dt * k1)
            k3 = f(x + 0.5 * dt * k2)
            k4 = f(x + dt * k3)
            x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def multiscroll(n_timesteps: int, a: float = 40.0, b: float = 3.0, c: float = 28.0,
                x0: Any = (-0.1, 0.5, -0.6), h: float = 0.01, substeps: int = 4) -> np.ndarray:  # fmt: skip
    """Multi-scroll attractor (Chen & Ueta 1999, "Yet another chaotic attractor", Int. J.
    Bifurcation and Chaos 9(7):1465): ``x' = a (y - x)``, ``y' = (c - a) x - x z + c y``,
    ``z' = x y - b z``. Returns (n_timesteps, 3)."""
    n = _n(n_timesteps)

    def f(s: np.ndarray) -> np.ndarray:
        x, y, z = s
        return np.array([a * (y - x), (c - a) * x - x * z + c * y, x * y - b * z])

    return _rk4(f, _x0(x0, 3), n, h, substeps)


def doublescroll(n_timesteps: int, r1: float = 1.2, r2: float = 3.44, r4: float = 0.193, ir: float = 2 * 2.25e-5,
                 beta: float = 11.6, x0: Any = (0.37926545, 0.058339, -0.08167691), h: float = 0.25,
                 substeps: int = 10) -> np.ndarray:  # fmt: skip
    """Double-scroll electronic circuit (Chang, Lee and Lin 1998; the NG-RC paper's second
    system): with ``ΔV = V1 - V2``, ``V1' = V1/r1 - ΔV/r2 - ir sinh(β ΔV)``,
    ``V2' = ΔV/r2 + ir sinh(β ΔV) - I``, ``I' = V2 - r4 I``. Returns (n_timesteps, 3)."""
    n = _n(n_timesteps)

    def f(s: np.ndarray) -> np.ndarray:
        v1, v2, i = s
        dv = v1 - v2
        factor = dv / r2 + ir * np.sinh(beta * dv)
        return np.array([v1 / r1 - factor, factor - i, v2 - r4 * i])

    return _rk4(f, _x0(x0, 3), n, h, substeps)


def rabinovich_fabrikant(n_timesteps: int, alpha: float = 1.1, gamma: float = 0.89, x0: Any = (-1.0, 0.0, 0.5),
                         h: float = 0.05, substeps: int = 10) -> np.ndarray:  # fmt: skip
    """Rabinovich–Fabrikant equations (Rabinovich & Fabrikant 1979, Sov. Phys. JETP 50:311):
    ``x' = y (z - 1 + x²) + γ x``, ``y' = x (3 z + 1 - x²) + γ y``, ``z' = -2 z (α + x y)``.
    Returns (n_timesteps, 3)."""
    n = _n(n_timesteps)

    def f(s: np.ndarray) -> np.ndarray:
        x, y, z = s
        return np.array([y * (z - 1 + x * x) + gamma * x, x * (3 * z + 1 - x * x) + gamma * y, -2 * z * (alpha + x * y)])

    return _rk4(f, _x0(x0, 3), n, h, substeps)


def rossler(n_timesteps: int, a: float = 0.2, b: float = 0.2, c: float = 5.7, x0: Any = (-0.1, 0.0, 0.02),
            h: float = 0.1, substeps: int = 10) -> np.ndarray:  # fmt: skip
    """Rössler attractor (Rössler 1976, Phys. Lett. A 57(5):397): ``x' = -y - z``,
    ``y' = x + a y``, ``z' = b + z (x - c)``. Returns (n_timesteps, 3)."""
    n = _n(n_timesteps)

    def f(s: np.ndarray) -> np.ndarray:
        x, y, z = s
        return np.array([-y - z, x + a * y, b + z * (x - c)])

    return _rk4(f, _x0(x0, 3), n, h, substeps)


def lorenz96(n_timesteps: int, warmup: int = 0, N: int = 36, F: float = 8.0, dF: float = 0.01, h: float = 0.01,
             x0: Any = None, substeps: int = 1) -> np.ndarray:  # fmt: skip
    """Lorenz-96 (Lorenz 1996, "Predictability: a problem partly solved"):
    ``x_i' = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` on a ring of ``N >= 4`` sites, from
    ``x0 = F`` everywhere except ``x0[0] = F + dF`` (ReservoirPy's default). The first
    ``warmup`` samples are dropped. Returns (n_timesteps, N). (ReservoirPy 0.4.2 evaluates its
    solution at ``linspace(0, (warmup + n)·h², n)``, a spacing of about ``h²``; here samples are
    ``h`` apart as the parameter says.)"""
    n = _n(n_timesteps)
    warmup = _n(warmup, "warmup", 0)
    N = _n(N, "N", 4)
    if x0 is None:
        x0 = np.full(N, float(F))
        x0[0] = F + dF

    def f(x: np.ndarray) -> np.ndarray:
        return (np.roll(x, -1) - np.roll(x, 2)) * np.roll(x, 1) - x + F

    return _rk4(f, _x0(x0, N), warmup + n, h, substeps)[warmup:]


def kuramoto_sivashinsky(n_timesteps: int, warmup: int = 0, N: int = 128, M: float = 16, x0: Any = None,
                         h: float = 0.25) -> np.ndarray:  # fmt: skip
    """Kuramoto–Sivashinsky equation ``y_t = -y y_x - y_xx - y_xxxx`` on ``[0, 2πM]`` with ``N``
    grid points, periodic, integrated by ETDRK4 (Kassam & Trefethen 2005, SIAM J. Sci. Comput.
    26(4):1214) with step ``h``, contour integrals over ``M`` points — ReservoirPy's scheme,
    equal to its output to rounding. Default ``x0 = cos(x/M)(1 + sin(x/M))``. Returns
    (n_timesteps - warmup, N)."""
    n = _n(n_timesteps)
    warmup = _n(warmup, "warmup", 0)
    N = _n(N, "N", 2)
    if warmup >= n:
        raise ValueError(f"warmup: must be smaller than n_timesteps ({n}), got {warmup}")
    if x0 is None:
        x = 2 * M * np.pi * np.arange(1, N + 1) / N
        x0 = np.cos(x / M) * (1 + np.sin(x / M))
    x0 = _x0(x0, N)
    fft, ifft = np.fft.fft, np.fft.ifft
    m = int(M)
    k = np.conj(np.r_[np.arange(0, N / 2), [0], np.arange(-N / 2 + 1, 0)]) / M
    L = k**2 - k**4
    E, E2 = np.exp(h * L), np.exp(h * L / 2)
    r = np.exp(1j * np.pi * (np.arange(1, m + 1) - 0.5) / m)
    LR = h * np.transpose(np.repeat([L], m, axis=0)) + np.repeat([r], N, axis=0)
    Q = h * np.real(np.mean((np.exp(LR / 2) - 1) / LR, axis=1))
    f1 = h * np.real(np.mean((-4 - LR + np.exp(LR) * (4 - 3 * LR + LR**2)) / LR**3, axis=1))
    f2 = h * np.real(np.mean((2 + LR + np.exp(LR) * (-2 + LR)) / LR**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * LR - LR**2 + np.exp(LR) * (4 - LR)) / LR**3, axis=1))
    g = -0.5j * k

    def nonlinear(v: np.ndarray) -> np.ndarray:
        return g * fft(np.real(ifft(v)) ** 2)

    v = np.zeros((n, N), dtype=complex)
    v[0] = fft(x0)
    for i in range(1, n):
        vi = v[i - 1]
        nv = nonlinear(vi)
        a = E2 * vi + Q * nv
        na = nonlinear(a)
        b = E2 * vi + Q * na
        nb = nonlinear(b)
        c = E2 * a + Q * (2 * nb - nv)
        nc = nonlinear(c)
        v[i] = E * vi + nv * f1 + 2 * (na + nb) * f2 + nc * f3
    return np.real(ifft(v[warmup:]))


def mso(n_timesteps: int, freqs: Sequence[float], normalize: bool = True) -> np.ndarray:
    """Multiple superimposed oscillators ``y[t] = Σ_f sin(f t)``, t = 0, 1, ...; with
    ``normalize`` rescaled to [-1, 1] (Jaeger & Haas 2004; Jaeger et al. 2007). Returns
    (n_timesteps, 1)."""
    n = _n(n_timesteps)
    freqs = np.asarray(freqs, dtype=np.float64).reshape(-1)
    if freqs.size == 0 or not np.all(np.isfinite(freqs)):
        raise ValueError("freqs: expected at least one finite frequency")
    t = np.arange(n).reshape(n, 1)
    y = np.zeros((n, 1))
    for f in freqs:
        y += np.sin(f * t)
    if normalize:
        span = y.max() - y.min()
        if span == 0:
            raise ValueError("mso: constant series cannot be normalised (pass normalize=False)")
        return (2 * y - y.min() - y.max()) / span
    return y


def mso2(n_timesteps: int, normalize: bool = True) -> np.ndarray:
    """`mso` with the frequencies 0.2 and 0.311."""
    return mso(n_timesteps, [0.2, 0.311], normalize=normalize)


def mso8(n_timesteps: int, normalize: bool = True) -> np.ndarray:
    """`mso` with the eight frequencies 0.2, 0.311, 0.42, 0.51, 0.63, 0.74, 0.85, 0.97."""
    return mso(n_timesteps, [0.2, 0.311, 0.42, 0.51, 0.63, 0.74, 0.85, 0.97], normalize=normalize)
