"""Distributed ESN training with Dask (optional extra ``dask[distributed]``).

The readout of an ESN only needs the sums ``XᵀX``, ``XᵀY``, ``ΣX``, ``ΣY``
and the sample count over all training states. Each partition of the data
runs the reservoir on its own sequences and returns these statistics (an
`rnnrs.Ridge` of O(units²) size, however long the partition); the driver
adds them in a fixed order (partition 0, 1, 2, ...) and solves. The
reservoir is drawn once on the driver from the ESN's seed and shipped to the
workers, so the result equals ``ESN.fit`` on one machine up to the rounding
of the summation order (the statistics agree to ~1e-16 relative; the
weights to that times the condition number of ``XᵀX + ridge·I``, so a
well-regularised readout matches to ~1e-12 while a nearly singular one, e.g.
smooth chaotic series with ``ridge=1e-7``, may differ in the 4th digit while
fitting equally well).

Splitting one long series into chunks (`fit_series`) changes the problem:
a chunk's reservoir would start from the zero state. Each chunk after the
first is therefore run from ``overlap`` steps earlier and those overlap
states are discarded (warm-up overlap); with ``overlap`` at least a few
times the reservoir's memory (≈ 1 / (leak_rate · (1 - spectral_radius)) for
contracting reservoirs, a few hundred steps for chaotic targets), the states
of the chunk match the unsplit run to rounding and the fit matches the
single-machine fit closely (not bit for bit).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs.reservoir import ESN, Ridge

__all__ = ["fit", "fit_series", "partition_statistics"]


def _dask():
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("rnnrs.dask needs dask: pip install 'dask[distributed]'") from exc
    return dask


def partition_statistics(esn: ESN, X: list, y: list, warmup: int) -> tuple[Ridge, np.ndarray]:
    """Ridge statistics of the sequences ``X`` / targets ``y`` of one
    partition, with the reservoir of the (prepared) ``esn``, and the last
    state. Runs on a worker."""
    seqs, _ = esn._sequences(X, reset=False)
    ys, _ = esn._targets(y, seqs)
    return esn._partition_statistics(seqs, ys, warmup)


def _sum_statistics(parts: list[tuple[Ridge, np.ndarray]]) -> tuple[Ridge, np.ndarray]:
    """Sums partition statistics in partition order (deterministic)."""
    total = Ridge(alpha=parts[0][0].alpha, fit_intercept=parts[0][0].fit_intercept)
    for r, _ in parts:
        total.merge(r)
    return total, parts[-1][1]


def _split(seq: list, n: int) -> list[list]:
    n = max(1, min(n, len(seq)))
    bounds = np.linspace(0, len(seq), n + 1).astype(int)
    return [seq[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def fit(
    esn: ESN,
    X: list,
    y: list,
    warmup: int = 0,
    npartitions: int | None = None,
    client: Any = None,
) -> ESN:
    """Fits ``esn`` on a list of sequences spread over Dask partitions.

    X, y : lists of (T_b, I) inputs and (T_b,) / (T_b, O) targets. Each element
        may also be a ``dask.delayed`` object (data loaded on the workers);
        then pass ``n_features`` consistency is checked on the first one.
    npartitions : number of tasks (default: one per sequence).
    client : a ``distributed.Client``; default the current Dask scheduler.

    Returns the fitted ``esn`` (same weights as ``esn.fit(X, y, warmup)`` up
    to summation rounding).
    """
    dask = _dask()
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X, y: expected two non-empty lists of the same length, got {len(X)} and {len(y)}")
    first_x, first_y = dask.compute(X[0], y[0])
    seqs, _ = esn._sequences([np.asarray(first_x)], reset=True)
    ys, y_1d = esn._targets([np.asarray(first_y)], seqs)
    esn._prepare_fit(esn.n_features_in_, ys[0].shape[1], y_1d)
    groups = list(zip(_split(list(X), npartitions or len(X)), _split(list(y), npartitions or len(y))))
    task = dask.delayed(partition_statistics, pure=True)
    esn_d = dask.delayed(esn, pure=True)
    parts = [task(esn_d, gx, gy, warmup) for gx, gy in groups]
    summed = dask.delayed(_sum_statistics, pure=True)(parts)
    readout, last_state = client.compute(summed).result() if client is not None else summed.compute()
    last_y = np.asarray(dask.compute(y[-1])[0])
    return esn._finish_fit(readout, last_state, last_y.reshape(len(last_y), -1)[-1])


def fit_series(
    esn: ESN,
    X: np.ndarray,
    y: np.ndarray,
    warmup: int = 0,
    chunks: int = 4,
    overlap: int = 200,
    client: Any = None,
) -> ESN:
    """Fits ``esn`` on one long series split into ``chunks`` time chunks.

    Chunk ``k > 0`` is run from ``overlap`` steps before its start and those
    steps are discarded (warm-up overlap, see the module notes); chunk 0
    discards ``warmup`` steps as usual. X may be a NumPy or Dask array.
    """
    dask = _dask()
    n = len(X)
    if len(y) != n:
        raise ValueError(f"y: expected {n} rows (as X), got {len(y)}")
    if overlap < 0 or chunks < 1:
        raise ValueError("overlap must be >= 0 and chunks >= 1")
    bounds = np.linspace(0, n, chunks + 1).astype(int)
    first = np.asarray(X[:1])
    seqs, _ = esn._sequences(first, reset=True)
    y_first = np.asarray(y[:1])
    ys, y_1d = esn._targets(y_first, seqs)
    esn._prepare_fit(esn.n_features_in_, ys[0].shape[1], y_1d)
    task = dask.delayed(partition_statistics, pure=True)
    esn_d = dask.delayed(esn, pure=True)
    parts = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        start = a if k == 0 else max(0, a - overlap)
        skip = warmup if k == 0 else a - start
        parts.append(task(esn_d, [X[start:b]], [y[start:b]], skip))
    summed = dask.delayed(_sum_statistics, pure=True)(parts)
    readout, last_state = client.compute(summed).result() if client is not None else summed.compute()
    last_y = np.asarray(y[-1:]).reshape(1, -1)[-1]
    return esn._finish_fit(readout, last_state, last_y)
from rnnrs.dask_train import train  # noqa: E402, F401  (data-parallel training; see rnnrs.dask_train)
