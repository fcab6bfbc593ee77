"""rnnrs.dask.search: seeded candidates, Dask tasks on a LocalCluster, same best trial as a
serial run; grid search; TPE (optional); the report plot (optional)."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr

pytest.importorskip("dask")
pytest.importorskip("distributed")
import rnnrs.dask as rdask  # noqa: E402
from rnnrs.reservoir.search import grid_candidates, random_candidates  # noqa: E402


def _data():
    rng = np.random.default_rng(0)
    X = [rng.uniform(-1, 1, size=(120, 1)) for _ in range(6)]
    y = [np.roll(x, 2, axis=0) * 0.8 for x in X]
    return X, y


SPACE = {
    "spectral_radius": rdask.LogUniform(0.1, 1.5),
    "leak_rate": rdask.Uniform(0.1, 1.0),
    "ridge": [1e-6, 1e-3],
    "units": rdask.IntUniform(20, 40),
}


def test_candidates_are_seeded_and_in_range():
    a = random_candidates(SPACE, 10, seed=3)
    assert a == random_candidates(SPACE, 10, seed=3)
    assert a != random_candidates(SPACE, 10, seed=4)
    assert a[:4] == random_candidates(SPACE, 4, seed=3)  # trial k does not depend on n_trials
    for p in a:
        assert 0.1 <= p["spectral_radius"] <= 1.5 and 0.1 <= p["leak_rate"] <= 1.0
        assert p["ridge"] in (1e-6, 1e-3) and 20 <= p["units"] <= 40 and isinstance(p["units"], int)
    grid = grid_candidates({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(grid) == 6 and grid[0] == {"a": 1, "b": "x"} and grid[-1] == {"a": 2, "b": "z"}


def test_search_on_a_local_cluster_equals_the_serial_run():
    from distributed import Client, LocalCluster

    X, y = _data()
    est = rr.ESN(units=30, input_connectivity=1.0, seed=0)
    serial = rdask.search(est, SPACE, X, y, n_trials=6, cv=3, seed=1, scheduler="synchronous")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:  # fmt: skip
        dist = rdask.search(est, SPACE, X, y, n_trials=6, cv=3, seed=1, client=client)
    assert [t["params"] for t in dist.trials] == [t["params"] for t in serial.trials]
    np.testing.assert_allclose([t["score"] for t in dist.trials], [t["score"] for t in serial.trials], rtol=1e-12)
    assert dist.best_index_ == serial.best_index_ and dist.best_params_ == serial.best_params_
    assert isinstance(dist.best_estimator_, rr.ESN) and dist.best_estimator_.units == dist.best_params_["units"]
    assert dist.best_score_ == max(t["score"] for t in dist.trials)
    rows = dist.table()
    assert len(rows) == 6 and {"trial", "spectral_radius", "score", "fit_time"} <= set(rows[0])


def test_grid_search_with_validation_and_failed_trials():
    X, y = _data()
    res = rdask.search(rr.ESN(units=20, seed=0), {"leak_rate": [0.2, 1.0], "ridge": [1e-5, -1.0]}, X[:4], y[:4],
                       method="grid", validation=(X[4:], y[4:]), scheduler="synchronous")  # fmt: skip
    assert len(res.trials) == 4
    failed = [t for t in res.trials if t["params"]["ridge"] == -1.0]
    assert all(t["error"] and "ridge" in t["error"] and np.isnan(t["score"]) for t in failed)
    assert res.best_params_["ridge"] == 1e-5


def test_search_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="method"):
        rdask.search(rr.ESN(), SPACE, X, y, method="bayes")
    with pytest.raises(ValueError, match="list of values"):
        rdask.search(rr.ESN(), SPACE, X, y, method="grid")
    with pytest.raises(TypeError, match="rvs"):
        rdask.search(rr.ESN(), {"ridge": 1e-3}, X, y)
    with pytest.raises(ValueError, match="cv"):
        rdask.search(rr.ESN(), SPACE, X, y, n_trials=1, cv=100, scheduler="synchronous")
    with pytest.raises(ValueError, match="LogUniform"):
        rdask.LogUniform(0.0, 1.0)


def test_tpe_sampler_when_optuna_is_installed():
    pytest.importorskip("optuna")
    X, y = _data()
    a = rdask.search(rr.ESN(units=20, seed=0), SPACE, X, y, n_trials=8, method="tpe", batch_size=4, seed=2,
                     scheduler="synchronous")  # fmt: skip
    b = rdask.search(rr.ESN(units=20, seed=0), SPACE, X, y, n_trials=8, method="tpe", batch_size=4, seed=2,
                     scheduler="threads")  # fmt: skip
    assert len(a.trials) == 8 and [t["params"] for t in a.trials] == [t["params"] for t in b.trials]


def test_report_plot_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = _data()
    res = rdask.search(rr.ESN(units=20, seed=0), SPACE, X, y, n_trials=4, scheduler="synchronous")
    fig = rdask.plot_search(res, tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 0 and len(fig.axes) >= 4
