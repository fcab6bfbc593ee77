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

`search` runs a hyper-parameter search (grid, random, or Optuna's TPE) with every trial an
independent Dask task; see its docstring.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs.reservoir import ESN, Ridge
from rnnrs.reservoir.search import (
    IntUniform,
    LogUniform,
    SearchResult,
    Uniform,
    _clone,
    _splits,
    grid_candidates,
    plot_search,
    random_candidates,
    run_trial,
)

__all__ = [
    "IntUniform",
    "LogUniform",
    "SearchResult",
    "Uniform",
    "fit",
    "fit_series",
    "partition_statistics",
    "plot_search",
    "search",
]


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


def search(
    estimator: Any,
    param_distributions: dict,
    X: Any,
    y: Any,
    n_trials: int = 20,
    method: str = "random",
    cv: Any = 3,
    validation: Any = None,
    scoring: Any = None,
    seed: int = 0,
    refit: bool = True,
    client: Any = None,
    scheduler: Any = None,
    batch_size: int = 8,
    fit_params: dict | None = None,
) -> SearchResult:
    """Hyper-parameter search with every trial an independent Dask task.

    estimator : any scikit-learn-style estimator (``rnnrs.ESN``, ``rnnrs.ESNClassifier``, ...);
        each trial fits a clone with the trial's parameters.
    param_distributions : {name: list of values | Uniform | LogUniform | IntUniform | scipy
        distribution} (see `rnnrs.reservoir.search`).
    method : "grid" (every combination of the lists; ``n_trials`` ignored), "random"
        (``n_trials`` draws, trial k from child k of ``SeedSequence(seed)``) or "tpe" (Optuna's
        TPE sampler seeded with ``seed``, asking ``batch_size`` candidates at a time and running
        each batch on Dask; needs ``pip install 'rnnrs[optuna]'``).
    cv, validation, scoring, fit_params : how a trial is scored (see `run_trial`): ``cv`` folds
        over the samples / sequences, or fit on (X, y) and score on ``validation=(X_val,
        y_val)``; ``scoring(est, X, y)`` or ``est.score``, higher is better.
    client : a ``distributed.Client`` (any cluster); default: the current Dask scheduler, or
        ``scheduler`` (e.g. "synchronous" for a serial run).

    The data go into the graph once and are shared by all trials. Candidates and scores do not
    depend on where or in which order trials run, so a serial run (``scheduler="synchronous"``)
    finds the same best trial. Returns a `SearchResult` (``trials``, ``best_params_``,
    ``best_score_``, ``best_estimator_`` refitted on all of (X, y) when ``refit``, ``table()``,
    ``to_pandas()``); `plot_search` draws it.
    """
    dask = _dask()
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials: expected an integer >= 1, got {n_trials!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    if validation is None:
        _splits(cv, X, y)  # a bad cv is the caller's error, not a failed trial
    data = dask.delayed((X, y, validation), pure=True, traverse=False)
    task = dask.delayed(_trial, pure=True)

    def run(candidates: list[dict]) -> list[dict]:
        tasks = [task(estimator, params, data, cv, scoring, fit_params) for params in candidates]
        if client is not None:
            return client.gather(client.compute(tasks))
        return list(dask.compute(*tasks, scheduler=scheduler))

    if method == "grid":
        trials = run(grid_candidates(param_distributions))
    elif method == "random":
        trials = run(random_candidates(param_distributions, n_trials, seed))
    elif method == "tpe":
        trials = _tpe(param_distributions, n_trials, seed, batch_size, run)
    else:
        raise ValueError(f"method: expected 'grid', 'random' or 'tpe', got {method!r}")
    result = SearchResult.from_trials(trials, param_distributions)
    if refit:
        result.best_estimator_ = _clone(estimator).set_params(**result.best_params_).fit(X, y, **(fit_params or {}))
    return result


def _trial(estimator: Any, params: dict, data: tuple, cv: Any, scoring: Any, fit_params: Any) -> dict:
    X, y, validation = data
    return run_trial(estimator, params, X, y, cv=cv, validation=validation, scoring=scoring, fit_params=fit_params)


def _tpe(space: dict, n_trials: int, seed: int, batch_size: int, run: Any) -> list[dict]:
    """Optuna's TPE sampler in ask/tell batches of ``batch_size`` trials run by Dask."""
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("method='tpe' needs optuna: pip install 'rnnrs[optuna]'") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {}
    for name, d in space.items():
        if isinstance(d, (list, tuple)):
            dists[name] = optuna.distributions.CategoricalDistribution(list(d))
        elif isinstance(d, Uniform):
            dists[name] = optuna.distributions.FloatDistribution(d.low, d.high)
        elif isinstance(d, LogUniform):
            dists[name] = optuna.distributions.FloatDistribution(d.low, d.high, log=True)
        elif isinstance(d, IntUniform):
            dists[name] = optuna.distributions.IntDistribution(d.low, d.high)
        else:
            raise TypeError(f"method='tpe': param_distributions[{name!r}] must be a list, Uniform, LogUniform or IntUniform")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    trials: list[dict] = []
    while len(trials) < n_trials:
        asked = [study.ask(dists) for _ in range(min(batch_size, n_trials - len(trials)))]
        results = run([t.params for t in asked])
        for t, r in zip(asked, results):
            if np.isfinite(r["score"]):
                study.tell(t, r["score"])
            else:
                study.tell(t, state=optuna.trial.TrialState.FAIL)
        trials += results
    return trials
from rnnrs.dask_train import train  # noqa: E402, F401  (data-parallel training; see rnnrs.dask_train)
