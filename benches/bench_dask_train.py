"""Data-parallel training on Dask vs one process: model A, steps per second.

Model A: LSTM (T=100, I=128, H=256) -> Linear(256, C=32) -> cross-entropy on every
step -> clip_grad_norm_(1.0) -> Adam, global batch B=64, full BPTT. Compared in one run:

- one process with 2 rnnrs threads (`rnnrs.train.fit`);
- `rnnrs.dask.train` on a LocalCluster of 2 single-threaded worker processes
  (each computes the gradient of 32 sequences per step).

Prints steps/s of both, the scaling efficiency (dask steps/s / one-process
steps/s: 1.0 means the two workers do as well as two threads in one process),
and the bytes sent per step.

    python benches/bench_dask_train.py --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
import rnnrs.dask


def make(args):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.T, args.B, args.I)).astype(np.float32)
    y = rng.integers(0, args.C, size=(args.T, args.B))
    model = rnnrs.Sequential(rnnrs.LSTM(args.I, args.H, seed=0), rnnrs.Linear(args.H, args.C, seed=1))
    return model, rnnrs.optim.Adam(model.params, lr=1e-3), (x, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--I", type=int, default=128)
    ap.add_argument("--H", type=int, default=256)
    ap.add_argument("--C", type=int, default=32)
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    rnnrs.set_num_threads(2)
    model, opt, data = make(args)
    rnnrs.train.fit(model, data, "cross_entropy", opt, epochs=2, clip_norm=1.0, progress=False)  # warm-up
    t = time.perf_counter()
    rnnrs.train.fit(model, data, "cross_entropy", opt, epochs=args.steps, clip_norm=1.0, progress=False)
    one = args.steps / (time.perf_counter() - t)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        model, opt, data = make(args)
        kw = dict(client=client, clip_norm=1.0, worker_threads=1)
        rnnrs.dask.train(model, data, "cross_entropy", opt, epochs=2, **kw)  # warm-up (and data transfer)
        t = time.perf_counter()
        rnnrs.dask.train(model, data, "cross_entropy", opt, epochs=args.steps, **kw)
        dist = args.steps / (time.perf_counter() - t)
    n_params = sum(p.size for p in model.params.values())
    per_step = 2 * 2 * n_params * 4
    print(f"model A: T={args.T} B={args.B} I={args.I} H={args.H} C={args.C}, {n_params} parameters, "
          f"{args.steps} steps")
    print(f"one process, 2 threads:            {one:6.2f} steps/s")
    print(f"dask, 2 single-threaded workers:   {dist:6.2f} steps/s  (efficiency {dist / one:.2f})")
    print(f"bytes per step (weights out + gradients back, 2 workers): {per_step / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
