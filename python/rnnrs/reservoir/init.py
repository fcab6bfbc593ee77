"""Recurrent-matrix initialisers, ReservoirPy's ``mat_gen`` set, seeded; dense float64 arrays.

Use one with ``Reservoir.from_weights(W, Win)`` (or give any array). ``sr`` rescales the result to
that spectral radius (exact eigenvalues for ``units <= 2000``, restarted Arnoldi above).

* `uniform`, `normal`, `bernoulli`: sparse random (density ``connectivity``; uniform on
  [low, high), normal(loc, scale), ±1 with probability ``p`` of +1).
* `ring`: ``W[(i+1) mod n, i] = 1`` — a delay line closed into a cycle (Rodan & Tiňo 2011,
  "Minimum complexity echo state network", IEEE TNN 22(1):131); `line`: the open delay line.
* `orthogonal`: a Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed;
  Mezzadri 2007).
* `fast_spectral_initialization`: uniform on ``[-a, a]`` with ``a = 6 sr / (√12 √(connectivity·n))``
  — spectral radius ≈ ``sr`` without an eigenvalue computation (Gallicchio, Micheli and Pedrelli
  2020, "Fast spectral radius initialization for recurrent neural networks", INNS BDDL 2019).
* `small_world`: Watts & Strogatz (1998) ring lattice of ``nb_close_neighbours`` with edges rewired
  with probability ``proba_rewire``, normal weights.
* `cluster`: ``cluster`` diagonal blocks of density ``p_in`` over a background of density
  ``p_out`` (normal weights).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs import _core
from rnnrs.reservoir._checks import _check_positive_int, _check_real

__all__ = [
    "bernoulli",
    "cluster",
    "fast_spectral_initialization",
    "line",
    "normal",
    "orthogonal",
    "ring",
    "small_world",
    "uniform",
]


def _rng(seed: Any) -> np.random.Generator:
    return np.random.default_rng(seed)


def _mask(rng: np.random.Generator, shape: tuple[int, int], connectivity: float) -> np.ndarray:
    c = _check_real(connectivity, "connectivity", 0.0, 1.0)
    return rng.random(shape) < c


def _rescale(W: np.ndarray, sr: float | None) -> np.ndarray:
    if sr is None:
        return W
    sr = _check_real(sr, "sr", 0.0)
    n = W.shape[0]
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"sr: only square matrices can be rescaled, got shape {W.shape}")
    if n <= 2000:
        rho = float(np.max(np.abs(np.linalg.eigvals(W)))) if n else 0.0
    else:
        rows, cols = np.nonzero(W)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
        rho = _core.spectral_radius(indptr, cols.astype(np.int32), np.ascontiguousarray(W[rows, cols]), n)[0]
    if rho == 0:
        raise ValueError("sr: the matrix has spectral radius 0 (nilpotent, e.g. a line) and cannot be rescaled")
    return W * (sr / rho)


def _shape(units: int, cols: int | None) -> tuple[int, int]:
    units = _check_positive_int(units, "units")
    return units, units if cols is None else _check_positive_int(cols, "cols")


def uniform(units: int, cols: int | None = None, low: float = -1.0, high: float = 1.0, connectivity: float = 0.1,
            sr: float | None = None, seed: Any = None) -> np.ndarray:  # fmt: skip
    """Sparse matrix with values uniform on [low, high) at density ``connectivity``."""
    shape, rng = _shape(units, cols), _rng(seed)
    if not low < high:
        raise ValueError(f"low, high: expected low < high, got {low}, {high}")
    return _rescale(np.where(_mask(rng, shape, connectivity), rng.uniform(low, high, shape), 0.0), sr)


def normal(units: int, cols: int | None = None, loc: float = 0.0, scale: float = 1.0, connectivity: float = 0.1,
           sr: float | None = None, seed: Any = None) -> np.ndarray:  # fmt: skip
    """Sparse matrix with normal(loc, scale) values at density ``connectivity``."""
    shape, rng = _shape(units, cols), _rng(seed)
    return _rescale(np.where(_mask(rng, shape, connectivity), rng.normal(loc, scale, shape), 0.0), sr)


def bernoulli(units: int, cols: int | None = None, p: float = 0.5, connectivity: float = 0.1,
              sr: float | None = None, seed: Any = None) -> np.ndarray:  # fmt: skip
    """Sparse matrix of ±1 (+1 with probability ``p``) at density ``connectivity``."""
    shape, rng = _shape(units, cols), _rng(seed)
    p = _check_real(p, "p", 0.0, 1.0)
    values = np.where(rng.random(shape) < p, 1.0, -1.0)
    return _rescale(np.where(_mask(rng, shape, connectivity), values, 0.0), sr)


def ring(units: int, weights: Any = None, sr: float | None = None) -> np.ndarray:
    """Cycle ``W[(i+1) mod n, i] = weights[i]`` (default 1: spectral radius 1)."""
    n = _check_positive_int(units, "units")
    w = np.ones(n) if weights is None else np.broadcast_to(np.asarray(weights, dtype=np.float64), (n,))
    W = np.zeros((n, n))
    W[(np.arange(n) + 1) % n, np.arange(n)] = w
    return _rescale(W, sr)


def line(units: int, weights: Any = None) -> np.ndarray:
    """Open delay line ``W[i+1, i] = weights[i]`` (nilpotent: spectral radius 0)."""
    n = _check_positive_int(units, "units")
    w = np.ones(n - 1) if weights is None else np.broadcast_to(np.asarray(weights, dtype=np.float64), (n - 1,))
    W = np.zeros((n, n))
    W[np.arange(1, n), np.arange(n - 1)] = w
    return W


def orthogonal(units: int, seed: Any = None) -> np.ndarray:
    """Haar-random orthogonal matrix (every eigenvalue on the unit circle)."""
    n = _check_positive_int(units, "units")
    q, r = np.linalg.qr(_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def fast_spectral_initialization(units: int, sr: float = 1.0, connectivity: float = 1.0, seed: Any = None) -> np.ndarray:
    """Uniform on [-a, a] at density ``connectivity`` with ``a = 6 sr / (√12 √(connectivity·n))``:
    the circular law puts the spectral radius near ``sr`` (Gallicchio et al. 2020)."""
    n = _check_positive_int(units, "units")
    sr = _check_real(sr, "sr", 0.0)
    c = _check_real(connectivity, "connectivity", 0.0, 1.0, low_open=True)
    if sr == 0:
        return np.zeros((n, n))
    a = 6 * sr / (np.sqrt(12) * np.sqrt(c * n))
    return uniform(n, low=-a, high=a, connectivity=c, seed=seed)


def small_world(units: int, nb_close_neighbours: int = 2, proba_rewire: float = 0.1, sr: float | None = None,
                seed: Any = None) -> np.ndarray:  # fmt: skip
    """Watts–Strogatz small world: each unit linked to its ``nb_close_neighbours`` nearest ring
    neighbours (half on each side), each link rewired to a uniformly chosen unit with
    probability ``proba_rewire``; normal weights."""
    n = _check_positive_int(units, "units")
    k = _check_positive_int(nb_close_neighbours, "nb_close_neighbours")
    if k % 2 or k >= n:
        raise ValueError(f"nb_close_neighbours: expected an even number < units, got {k}")
    p = _check_real(proba_rewire, "proba_rewire", 0.0, 1.0)
    rng = _rng(seed)
    W = np.zeros((n, n))
    for i in range(n):
        for d in range(1, k // 2 + 1):
            for j in ((i + d) % n, (i - d) % n):
                if rng.random() < p:
                    free = np.flatnonzero((W[i] == 0) & (np.arange(n) != i))
                    j = int(rng.choice(free)) if free.size else j
                W[i, j] = rng.standard_normal()
    return _rescale(W, sr)


def cluster(units: int, cluster: int = 3, p_in: float = 0.1, p_out: float = 0.01, sr: float | None = None,
            seed: Any = None) -> np.ndarray:  # fmt: skip
    """``cluster`` diagonal blocks of density ``p_in`` over a background of density ``p_out``,
    normal weights (``units`` must be a multiple of ``cluster``)."""
    n = _check_positive_int(units, "units")
    c = _check_positive_int(cluster, "cluster")
    if n % c:
        raise ValueError(f"units: must be a multiple of cluster ({c}), got {n}")
    rng = _rng(seed)
    W = normal(n, connectivity=p_out, seed=rng)
    m = n // c
    for b in range(c):
        W[b * m : (b + 1) * m, b * m : (b + 1) * m] = normal(m, connectivity=p_in, seed=rng)
    return _rescale(W, sr)
