"""Hyper-parameter search for an ESN, every trial an independent Dask task.

    pip install "dask[distributed]"            # optional: "rnnrs[optuna]", "rnnrs[plot]"
    python examples/esn_search.py [--quick]

Random search over spectral radius, leak rate, input scaling and ridge on NARMA-10 sequences,
on a LocalCluster (any Dask scheduler works: pass its Client); the serial run with the same
seed finds the same best trial. Then the same estimator in scikit-learn's own GridSearchCV.
"""

from __future__ import annotations

import argparse

import rnnrs as rr
import rnnrs.dask as rdask
from rnnrs.datasets import narma


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", default="esn_search.png", help="report plot path ('' for none)")
    args = parser.parse_args(argv)
    n_seq, n_trials, units = (4, 6, 50) if args.quick else (8, 40, 200)
    X, y = [], []
    for s in range(n_seq):
        u, t = narma(600, seed=s)
        X.append(u - 0.25)
        y.append(t)
    space = {
        "spectral_radius": rdask.LogUniform(0.3, 1.3),
        "leak_rate": rdask.Uniform(0.2, 1.0),
        "input_scaling": rdask.LogUniform(0.1, 2.0),
        "ridge": [1e-8, 1e-6, 1e-4],
    }
    est = rr.ESN(units=units, input_connectivity=1.0, bias_scaling=0.1, seed=0)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:  # fmt: skip
        result = rdask.search(est, space, X, y, n_trials=n_trials, cv=n_seq // 2, seed=0, client=client)
    serial = rdask.search(est, space, X, y, n_trials=n_trials, cv=n_seq // 2, seed=0, scheduler="synchronous")
    print(f"best of {n_trials} trials (R², {n_seq // 2}-fold over sequences): {result.best_score_:.4f}")
    print("best parameters:", {k: round(v, 4) if isinstance(v, float) else v for k, v in result.best_params_.items()})
    print("serial run, same best trial:", serial.best_index_ == result.best_index_)
    if args.plot:
        try:
            rdask.plot_search(result, args.plot, score_label="R²")
            print("saved", args.plot)
        except ImportError:
            print("matplotlib not installed: no report plot")
    try:
        from sklearn.model_selection import GridSearchCV, KFold
    except ImportError:
        return {"best_score": result.best_score_}
    grid = GridSearchCV(est, {"leak_rate": [0.5, 1.0], "ridge": [1e-6, 1e-4]}, cv=KFold(n_seq // 2)).fit(X, y)
    print(f"scikit-learn GridSearchCV: best {grid.best_params_}, R² {grid.best_score_:.4f}")
    return {"best_score": result.best_score_, "same_as_serial": serial.best_index_ == result.best_index_,
            "grid_best": grid.best_score_}  # fmt: skip


if __name__ == "__main__":
    main()
