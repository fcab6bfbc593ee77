"""Data-parallel training on a local Dask cluster (`rnnrs.dask.train`): equal
to one-process `rnnrs.train.fit`, and a worker killed mid-run neither loses
nor double-counts an update."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import rnnrs as rr

distributed = pytest.importorskip("distributed")
rdask = pytest.importorskip("rnnrs.dask")


def _model():
    return rr.Sequential(rr.LSTM(3, 8, dtype=np.float64, seed=0), rr.Linear(8, 2, dtype=np.float64, seed=1))


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 10, 3))
    return x, np.tanh(x[:, :, :2].cumsum(axis=0) / 4)


def _fit_one_process(epochs):
    model = _model()
    opt = rr.optim.Adam(model.params, lr=1e-2)
    hist = rr.train.fit(model, _data(), "mse", opt, batch_size=4, epochs=epochs, clip_norm=0.5, seed=3,
                        progress=False)
    return model, hist


def test_equals_fit_and_survives_a_killed_worker(tmp_path):
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, worker_class=distributed.Nanny)
    client = distributed.Client(cluster)
    try:
        want, want_hist = _fit_one_process(epochs=3)
        pids = client.run(os.getpid)
        killed = []

        def kill_one(step, value):
            if step == 4 and not killed:  # mid-epoch (3 updates per epoch)
                pid = next(iter(pids.values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        model = _model()
        opt = rr.optim.Adam(model.params, lr=1e-2)
        ckpt = str(tmp_path / "dp.npz")
        hist = rdask.train(model, _data(), "mse", opt, client=client, batch_size=4, epochs=3, clip_norm=0.5,
                           seed=3, on_update=kill_one, checkpoint=ckpt, retries=5)
        assert killed
        assert hist["step"] == want_hist["step"] == [3, 6, 9]
        np.testing.assert_allclose(hist["step_loss"], want_hist["step_loss"], rtol=1e-12)
        for k, v in want.state_dict().items():
            np.testing.assert_allclose(model.state_dict()[k], v, rtol=1e-12, atol=1e-14)

        # Resume from the epoch-3 checkpoint for one more epoch: as fit would continue.
        more = _model()
        opt2 = rr.optim.Adam(more.params, lr=1e-2)
        ck = rr.train.load_checkpoint(ckpt, more, opt2)
        rdask.train(more, _data(), "mse", opt2, client=client, batch_size=4, epochs=4, clip_norm=0.5, seed=3,
                    initial_epoch=ck["epoch"], history=ck["history"])
        want4, _ = _fit_one_process(epochs=4)
        for k, v in want4.state_dict().items():
            np.testing.assert_allclose(more.state_dict()[k], v, rtol=1e-12, atol=1e-14)
    finally:
        client.close()
        cluster.close()
