"""Reservoir observables: effective spectral radius, memory capacity, Lyapunov exponent.

* `effective_spectral_radius`: the spectral radius of the leaky update's linear part
  ``diag(lr) W + diag(1 - lr)`` (Jaeger, Lukoševičius, Popovici and Siewert 2007, "Optimization
  and applications of echo state networks with leaky-integrator neurons", Neural Networks
  20(3):335), ReservoirPy's ``effective_spectral_radius``.
* `memory_capacity`: Jaeger (2001), "Short term memory in echo state networks", GMD Report 152:
  ``MC = Σ_k r²(u[t-k], y_k[t])``, each ``y_k`` a linear readout trained to recall the input k
  steps back; ReservoirPy's protocol (input uniform on [-0.8, 0.8], ``10·k_max`` steps, the last
  ``test_size`` for testing, ``k_max`` warm-up steps).
* `lyapunov_exponent`: the largest conditional Lyapunov exponent of the input-driven reservoir,
  per step, from the tangent dynamics ``δx[t+1] = J_t δx[t]`` with
  ``J_t = diag(1 - lr) + diag(lr ⊙ f'(s_t)) W`` (renormalised every step; Benettin et al. 1980).
  Negative: the echo-state (fading memory) regime; positive: chaotic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs import _core
from rnnrs.reservoir._checks import _check_float_array, _check_positive_int
from rnnrs.reservoir.reservoir import Reservoir

__all__ = ["effective_spectral_radius", "lyapunov_exponent", "memory_capacity"]


def _csr(W: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(indptr int64, indices int32, data float64, n) of a Reservoir's W or a square array."""
    if isinstance(W, Reservoir):
        W._need_init()
        return W.W_indptr, W.W_indices, np.asarray(W.W_data, dtype=np.float64), W.units
    a = _check_float_array(W, "W")
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"W: expected a square matrix, got shape {a.shape}")
    rows, cols = np.nonzero(a)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=a.shape[0]))]).astype(np.int64)
    return indptr, cols.astype(np.int32), a[rows, cols], a.shape[0]


def effective_spectral_radius(W: Any, lr: Any = None, krylov_dim: int = 100, seed: int = 0) -> float:
    """Spectral radius of ``diag(lr) W + diag(1 - lr)`` (restarted Arnoldi on the sparse matrix).

    W : a `Reservoir` (initialised; its per-unit leak rates are used unless ``lr`` is given) or a
        square array. lr : scalar or one leak rate per unit (default 1, or the reservoir's).
    """
    indptr, indices, data, n = _csr(W)
    if lr is None:
        lr = np.asarray(W.leak, dtype=np.float64) if isinstance(W, Reservoir) else 1.0
    lr = np.broadcast_to(np.asarray(lr, dtype=np.float64), (n,))
    if not np.all((lr > 0) & (lr <= 1)):
        raise ValueError("lr: every leak rate must lie in (0, 1]")
    rows = np.repeat(np.arange(n), np.diff(indptr))
    # Scale row i by lr[i] and add 1 - lr[i] on the diagonal; duplicates are merged by sorting.
    r = np.concatenate([rows, np.arange(n)])
    c = np.concatenate([indices.astype(np.int64), np.arange(n)])
    v = np.concatenate([data * lr[rows], 1.0 - lr])
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    key = r * n + c
    first = np.concatenate([[True], key[1:] != key[:-1]])
    sums = np.add.reduceat(v, np.flatnonzero(first))
    r, c = r[first], c[first]
    new_indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))]).astype(np.int64)
    rho, _res, _conv, _restarts = _core.spectral_radius(
        new_indptr, c.astype(np.int32), np.ascontiguousarray(sums), n, krylov_dim=min(krylov_dim, n), seed=seed
    )
    return float(rho)


def memory_capacity(esn: Any, k_max: int, as_list: bool = False, series: Any = None, test_size: Any = 0.2,
                    seed: int | None = None) -> float | np.ndarray:  # fmt: skip
    """Memory capacity of an (unfitted) `rnnrs.ESN` configuration, ReservoirPy's protocol.

    The input ``u`` (``series``, or ``10·k_max`` values uniform on [-0.8, 0.8] from
    ``numpy.random.default_rng(seed)``) drives the reservoir; a copy of ``esn`` learns the
    ``k_max`` delayed copies ``u[t-1], ..., u[t-k_max]`` (``k_max`` warm-up steps) on the first
    part and is tested on the last ``test_size`` (a fraction, or a number of steps), continuing
    from the training run. Returns ``Σ_k MC_k`` or, with ``as_list``, the ``MC_k``.
    """
    from rnnrs.reservoir.esn import ESN

    if not isinstance(esn, ESN):
        raise TypeError(f"esn: expected an rnnrs.ESN, got {type(esn).__name__}")
    k_max = _check_positive_int(k_max, "k_max")
    if series is None:
        series = np.random.default_rng(seed).uniform(-0.8, 0.8, size=(10 * k_max, 1))
    u = _check_float_array(np.asarray(series).reshape(-1, 1), "series")[:, 0]
    if isinstance(test_size, float) and 0 < test_size < 1:
        test_len = round(len(u) * test_size)
    elif isinstance(test_size, int) and not isinstance(test_size, bool) and 0 < test_size < len(u):
        test_len = test_size
    else:
        raise ValueError(f"test_size: expected a fraction in (0, 1) or a number of steps, got {test_size!r}")
    # Row t: [u[t], u[t-1], ..., u[t-k_max]] (ReservoirPy's sliding window, reversed).
    window = np.lib.stride_tricks.sliding_window_view(u, k_max + 1)[:, ::-1]
    X, Y = np.ascontiguousarray(window[:, :1]), np.ascontiguousarray(window[:, 1:])
    n_train = len(X) - test_len
    if n_train <= k_max:
        raise ValueError(f"series: {len(u)} values leave {n_train} training steps, not more than k_max = {k_max}")
    model = type(esn)(**esn.get_params()).fit(X[:n_train], Y[:n_train], warmup=k_max)
    pred = np.asarray(model.predict(X)).reshape(len(X), -1)[n_train:]
    caps = np.array([np.corrcoef(pred[:, k], Y[n_train:, k])[0, 1] ** 2 for k in range(k_max)])
    return caps if as_list else float(caps.sum())


def lyapunov_exponent(reservoir: Reservoir, X: Any, warmup: int = 100, seed: int = 0) -> float:
    """Largest conditional Lyapunov exponent (per step, natural log) of ``reservoir`` driven by
    the inputs ``X`` (T, I), from the zero state; the first ``warmup`` steps settle the state and
    the tangent vector before the growth rates are averaged."""
    if not isinstance(reservoir, Reservoir):
        raise TypeError(f"reservoir: expected an rnnrs.Reservoir, got {type(reservoir).__name__}")
    X = _check_float_array(X, "X", reservoir.dtype)
    warmup = _check_positive_int(warmup, "warmup", 0)
    if X.shape[0] <= warmup + 1:
        raise ValueError(f"X: needs more than warmup + 1 = {warmup + 1} steps, got {X.shape[0]}")
    if reservoir.noise_rc or reservoir.noise_in or reservoir.noise_fb:
        raise ValueError("lyapunov_exponent: the reservoir must be noise-free")
    states = np.asarray(reservoir.run(X), dtype=np.float64)
    W = np.asarray(reservoir.W, dtype=np.float64)
    lr = np.asarray(reservoir.leak, dtype=np.float64)
    prev = np.vstack([np.zeros((1, reservoir.units)), states[:-1]])
    fx = (states - (1 - lr) * prev) / lr  # f(s_t), recovered from the leaky update
    deriv = {
        "tanh": lambda f: 1.0 - f * f,
        "identity": np.ones_like,
        "sigmoid": lambda f: f * (1.0 - f),
        "relu": lambda f: (f > 0).astype(np.float64),
    }[reservoir.activation](fx)
    v = np.random.default_rng(seed).standard_normal(reservoir.units)
    v /= np.linalg.norm(v)
    logs = []
    for t in range(X.shape[0]):
        v = (1 - lr) * v + lr * deriv[t] * (W @ v)
        norm = np.linalg.norm(v)
        if norm == 0 or not np.isfinite(norm):
            return float("-inf") if norm == 0 else float("nan")
        v /= norm
        if t >= warmup:
            logs.append(np.log(norm))
    return float(np.mean(logs))

