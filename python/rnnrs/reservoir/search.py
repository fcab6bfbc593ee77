"""Hyper-parameter search: search spaces, seeded candidates, one trial, the result table.

The runner is elsewhere (`rnnrs.dask.search` maps each trial to an independent Dask task); this
module only defines what a trial is, so a serial run and a distributed run score the same
candidates identically.

Search spaces (``param_distributions``) map parameter names to

* a list or tuple of values (grid values; random search picks one uniformly),
* ``Uniform(low, high)``, ``LogUniform(low, high)`` or ``IntUniform(low, high)`` (random and
  TPE search; grid search refuses them),
* any object with an ``rvs(random_state=...)`` method (a ``scipy.stats`` distribution).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "IntUniform",
    "LogUniform",
    "SearchResult",
    "Uniform",
    "grid_candidates",
    "plot_search",
    "random_candidates",
    "run_trial",
]


@dataclass(frozen=True)
class Uniform:
    """Uniform on [low, high]."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Uniform: expected finite low < high, got {self.low}, {self.high}")

    def rvs(self, random_state: np.random.Generator) -> float:
        return float(random_state.uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform:
    """Log-uniform on [low, high] (both > 0): the usual prior for ridge, spectral radius, ..."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (0 < self.low < self.high and math.isfinite(self.high)):
            raise ValueError(f"LogUniform: expected 0 < low < high, got {self.low}, {self.high}")

    def rvs(self, random_state: np.random.Generator) -> float:
        return float(math.exp(random_state.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class IntUniform:
    """Integers low..high inclusive, uniformly."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int) and self.low <= self.high):
            raise ValueError(f"IntUniform: expected integers low <= high, got {self.low}, {self.high}")

    def rvs(self, random_state: np.random.Generator) -> int:
        return int(random_state.integers(self.low, self.high + 1))


def _check_space(space: Any) -> dict:
    if not isinstance(space, dict) or not space:
        raise ValueError("param_distributions: expected a non-empty dict {name: values or distribution}")
    for name, dist in space.items():
        if isinstance(dist, (list, tuple)):
            if len(dist) == 0:
                raise ValueError(f"param_distributions[{name!r}]: empty list of values")
        elif not hasattr(dist, "rvs"):
            raise TypeError(
                f"param_distributions[{name!r}]: expected a list of values, Uniform/LogUniform/IntUniform "
                f"or an object with rvs(), got {type(dist).__name__}"
            )
    return space


def grid_candidates(space: dict) -> list[dict]:
    """Every combination of the listed values (names in the order given)."""
    space = _check_space(space)
    for name, dist in space.items():
        if not isinstance(dist, (list, tuple)):
            raise ValueError(f"grid search: param_distributions[{name!r}] must be a list of values, got a distribution")
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]


def random_candidates(space: dict, n_trials: int, seed: int) -> list[dict]:
    """``n_trials`` independent draws; trial k uses its own child of ``SeedSequence(seed)``, so
    the candidates do not depend on how (or where) trials run."""
    space = _check_space(space)
    children = np.random.SeedSequence(seed).spawn(n_trials)
    out = []
    for child in children:
        rng = np.random.default_rng(child)
        params = {}
        for name, dist in space.items():
            if isinstance(dist, (list, tuple)):
                params[name] = dist[int(rng.integers(len(dist)))]
            elif isinstance(dist, (Uniform, LogUniform, IntUniform)):
                params[name] = dist.rvs(rng)
            else:  # scipy.stats-like
                params[name] = dist.rvs(random_state=rng)
        out.append(params)
    return out


def _splits(cv: Any, X: Any, y: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    n = len(X)
    if isinstance(cv, int):
        if cv < 2 or cv > n:
            raise ValueError(f"cv: expected 2 <= cv <= {n} (the number of samples/sequences), got {cv}")
        bounds = np.linspace(0, n, cv + 1).astype(int)
        idx = np.arange(n)
        return [(np.concatenate([idx[: bounds[k]], idx[bounds[k + 1] :]]), idx[bounds[k] : bounds[k + 1]]) for k in range(cv)]
    if hasattr(cv, "split"):
        return [(np.asarray(a), np.asarray(b)) for a, b in cv.split(X, y)]
    return [(np.asarray(a), np.asarray(b)) for a, b in cv]


def _take(data: Any, idx: np.ndarray) -> Any:
    if isinstance(data, list):
        return [data[i] for i in idx]
    return np.asarray(data)[idx]


def run_trial(estimator: Any, params: dict, X: Any, y: Any, cv: Any = 3, validation: Any = None,
              scoring: Any = None, fit_params: dict | None = None) -> dict:  # fmt: skip
    """Fits a copy of ``estimator`` with ``params`` and scores it.

    With ``validation=(X_val, y_val)`` the copy is fitted on (X, y) once and scored on the
    validation data (the usual protocol for one long series); otherwise on the ``cv`` folds
    (an int: contiguous folds over the samples or sequences, no shuffling; or a scikit-learn
    splitter or an iterable of (train, test) indices). The score is ``scoring(est, X, y)`` or
    ``est.score(X, y)`` (higher is better). Errors are recorded, not raised, so one bad
    candidate does not stop a search.
    """
    start = time.perf_counter()
    fit_params = fit_params or {}
    try:
        if validation is not None:
            folds = [((X, y), validation)]
        else:
            folds = [((_take(X, tr), _take(y, tr)), (_take(X, te), _take(y, te))) for tr, te in _splits(cv, X, y)]
        scores = []
        for (xa, ya), (xb, yb) in folds:
            est = _clone(estimator).set_params(**params)
            est.fit(xa, ya, **fit_params)
            scores.append(float(scoring(est, xb, yb) if scoring is not None else est.score(xb, yb)))
        score, error = float(np.mean(scores)), None
    except Exception as exc:  # noqa: BLE001 - a failed candidate is a result, not a crash
        scores, score, error = [], float("nan"), f"{type(exc).__name__}: {exc}"
    return {"params": dict(params), "score": score, "fold_scores": scores, "error": error,
            "fit_time": time.perf_counter() - start}  # fmt: skip


def _clone(estimator: Any) -> Any:
    try:
        from sklearn.base import clone

        return clone(estimator)
    except ImportError:  # pragma: no cover - without scikit-learn
        return type(estimator)(**estimator.get_params())


@dataclass
class SearchResult:
    """The trials of a search, in candidate order, and the best one.

    ``trials``: one dict per trial (``trial``, ``params``, ``score``, ``fold_scores``, ``error``,
    ``fit_time``); ``best_index_``, ``best_params_``, ``best_score_`` (highest score; ties go to
    the earliest trial); ``best_estimator_`` (refitted on all data when ``refit``).
    """

    trials: list[dict]
    best_index_: int
    best_params_: dict
    best_score_: float
    best_estimator_: Any = None
    space: dict = field(default_factory=dict)

    @classmethod
    def from_trials(cls, trials: list[dict], space: dict) -> SearchResult:
        for k, t in enumerate(trials):
            t["trial"] = k
        finite = [k for k, t in enumerate(trials) if np.isfinite(t["score"])]
        if not finite:
            raise RuntimeError(f"search: every trial failed; first error: {trials[0]['error']}")
        best = max(finite, key=lambda k: (trials[k]["score"], -k))
        return cls(trials, best, dict(trials[best]["params"]), float(trials[best]["score"]), None, space)

    def table(self) -> list[dict]:
        """One flat row per trial: ``trial``, each parameter, ``score``, ``fit_time``, ``error``."""
        return [{"trial": t["trial"], **t["params"], "score": t["score"], "fit_time": t["fit_time"], "error": t["error"]}
                for t in self.trials]  # fmt: skip

    def to_pandas(self) -> Any:
        """The table as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.table())


def plot_search(result: SearchResult, path: Any = None, score_label: str = "score") -> Any:
    """Score against each hyper-parameter, one panel per parameter, best trial in red (like
    ReservoirPy's ``plot_hyperopt_report``). Numeric parameters drawn from `LogUniform` use a log
    axis. Saves to ``path`` when given; returns the matplotlib figure (needs matplotlib)."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plot_search needs matplotlib: pip install 'rnnrs[plot]'") from exc
    names = list(result.trials[0]["params"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    ok = [t for t in result.trials if np.isfinite(t["score"])]
    scores = np.array([t["score"] for t in ok])
    for ax, name in zip(axes[0], names):
        values = [t["params"][name] for t in ok]
        numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values)
        xs = np.asarray(values, dtype=float) if numeric else np.unique([str(v) for v in values], return_inverse=True)[1]
        ax.scatter(xs, scores, s=14, c=scores, cmap="viridis")
        best = result.best_params_[name]
        ax.scatter([float(best) if numeric else xs[[t["trial"] for t in ok].index(result.best_index_)]],
                   [result.best_score_], s=60, c="red", marker="*")  # fmt: skip
        positive = numeric and min(values) > 0
        if positive and (isinstance(result.space.get(name), LogUniform) or max(values) / min(values) > 100):
            ax.set_xscale("log")
        if not numeric:
            labels = np.unique([str(v) for v in values])
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel(score_label)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
