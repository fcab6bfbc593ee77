"""Training an ESN readout on sequences spread over a Dask cluster.

    pip install "dask[distributed]"
    python examples/esn_dask.py

Each partition runs the reservoir on its sequences and returns the ridge
statistics (O(units²), however long the data); the driver sums and solves.
"""

from __future__ import annotations

import numpy as np
import rnnrs as rr
import rnnrs.dask as rdask
from distributed import Client, LocalCluster
from rnnrs.metrics import nrmse

rng = np.random.default_rng(0)
X = [rng.uniform(-1, 1, size=(2000, 1)) for _ in range(16)]
y = [np.tanh(x + 0.5 * np.roll(x, 1, axis=0) * np.roll(x, 2, axis=0)) for x in X]

if __name__ == "__main__":
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, Client(cluster) as client:
        params = {"units": 300, "spectral_radius": 0.9, "leak_rate": 0.5, "input_connectivity": 1.0, "ridge": 1e-4, "seed": 0}
        dist = rdask.fit(rr.ESN(**params), X, y, warmup=50, npartitions=4, client=client)
        local = rr.ESN(**params).fit(X, y, warmup=50)
        print("max |W_dask - W_local| =", np.abs(dist.coef_ - local.coef_).max())

        # One long series split into chunks, each warmed up on 300 steps of the previous chunk.
        long_x = np.concatenate(X)
        long_y = np.concatenate(y)
        chunked = rdask.fit_series(rr.ESN(**params), long_x, long_y, warmup=50, chunks=4, overlap=300, client=client)
        test = rng.uniform(-1, 1, size=(1000, 1))
        truth = np.tanh(test + 0.5 * np.roll(test, 1, axis=0) * np.roll(test, 2, axis=0))
        print("test NRMSE (chunked fit):", nrmse(truth[50:], chunked.predict(test)[50:]))
