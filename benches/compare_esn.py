"""Steps/s of rnnrs reservoirs side by side with ReservoirPy (when importable).

Setup of the issue: 1-D input, connectivity 0.1, float64, spectral radius
1.25, leak 0.3; one sequence and a batch of 64 sequences; spectral-radius
setup; ridge readout fit (N = 1000, T = 100 000 by default).

    python benches/compare_esn.py [--quick] [--sizes 100,1000,5000] [--no-ridge] [--nodes] [--dtype float32]

``--nodes`` adds the ReservoirPy node set: NVAR features/s (Lorenz-like 3-D input, k=2, order 2),
and steps/s of ES2N, IPReservoir (run) and DeepESN (3 layers) at N = 300.

Prints a Markdown table with the load average (1 min) before each row: on a
shared machine the figures change by 2-3x with the load. Only the run call
is timed for steps/s (weights built and initialised beforehand); "setup" is
weights plus the spectral-radius estimate. ReservoirPy is never a dependency of rnnrs: install
it in a throwaway environment to get its column.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import rnnrs as rr


# Wall-clock time by default; `--cpu-time` uses the process CPU time instead
# (all threads summed), which a busy shared machine inflates much less: with
# one rnnrs thread it measures the kernels per core.
CLOCK = time.perf_counter


def _best(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = CLOCK()
        fn()
        best = min(best, CLOCK() - t)
    return best


def rnnrs_figures(n, steps, batch, batch_steps, dtype=np.float64):
    res = rr.Reservoir(n, spectral_radius=1.25, leak_rate=0.3, connectivity=0.1, seed=0, dtype=dtype)
    u = np.sin(np.arange(steps) * 0.1).reshape(-1, 1).astype(dtype)
    res.initialize(1)
    one = steps / _best(lambda: res.run(u))
    ub = np.sin(np.arange(batch * batch_steps) * 0.1).reshape(batch, batch_steps, 1).astype(dtype)
    per_seq = batch * batch_steps / _best(lambda: res.run(ub), repeat=2)
    setup = _best(lambda: rr.Reservoir(n, spectral_radius=1.25, connectivity=0.1, seed=1).initialize(1), repeat=2)
    return one, per_seq, setup


def reservoirpy_figures(n, steps, batch, batch_steps):
    try:
        from reservoirpy.nodes import Reservoir
    except ImportError:
        return None
    u = np.sin(np.arange(steps) * 0.1).reshape(-1, 1)

    def make(seed=0):
        return Reservoir(units=n, sr=1.25, lr=0.3, rc_connectivity=0.1, input_connectivity=0.1, seed=seed)

    res = make()
    res.run(u[:2])  # initialise
    one = steps / _best(lambda: res.run(u))
    ub = [np.sin(np.arange(batch_steps) * 0.1).reshape(-1, 1)] * batch
    per_seq = batch * batch_steps / _best(lambda: res.run(ub), repeat=1)

    def setup():
        r = make(1)
        r.run(u[:1])

    return one, per_seq, _best(setup, repeat=2)


def ridge_figures(n, t):
    rng = np.random.default_rng(0)
    X = np.tanh(rng.normal(size=(t, n)))
    y = X[:, :1] * 0.5 + 0.1
    ours = _best(lambda: rr.Ridge(alpha=1e-7).fit(X, y), repeat=2)
    theirs = None
    try:
        from reservoirpy.nodes import Ridge

        theirs = _best(lambda: Ridge(ridge=1e-7).fit(X, y), repeat=2)
    except ImportError:
        pass
    return ours, theirs


def node_figures(quick: bool) -> list[tuple[str, float, float | None]]:
    """(name, rnnrs per second, ReservoirPy per second or None) for the other nodes."""
    t = 20_000 if quick else 100_000
    u3 = np.random.default_rng(0).normal(size=(t, 3))
    u1 = np.random.default_rng(0).uniform(-1, 1, size=(2000 if quick else 10_000, 1))
    n = 300
    rows = []
    ours_nvar = t / _best(lambda: rr.NVAR(2, 2).run(u3))
    es2n = rr.ES2N(n, proximity=0.5, seed=0).initialize(1)
    ip = rr.IPReservoir(n, spectral_radius=0.9, seed=0).initialize(1)
    deep = rr.DeepESN(units=n, layers=3, seed=0).fit(u1[:100], u1[:100])
    ours = [ours_nvar, len(u1) / _best(lambda: es2n.run(u1)), len(u1) / _best(lambda: ip.run(u1)),
            len(u1) / _best(lambda: deep.run_reservoir(u1))]  # fmt: skip
    try:
        from reservoirpy.nodes import ES2N, NVAR, IPReservoir, Reservoir
    except ImportError:
        theirs = [None] * 4
    else:
        def deep_rpy():
            a, b, c = (Reservoir(n, sr=0.9, seed=k) for k in range(3))
            return a >> b >> c

        model = deep_rpy()
        model.run(u1[:10])
        nodes = [NVAR(2, 2), ES2N(n, proximity=0.5, seed=0), IPReservoir(n, sr=0.9, seed=0)]
        for node, data in zip(nodes, [u3[:10], u1[:10], u1[:10]]):
            node.run(data)
        theirs = [t / _best(lambda: nodes[0].run(u3)), len(u1) / _best(lambda: nodes[1].run(u1)),
                  len(u1) / _best(lambda: nodes[2].run(u1)), len(u1) / _best(lambda: model.run(u1))]  # fmt: skip
    names = ["NVAR features/s (k=2, order 2, 3 inputs)", f"ES2N steps/s (N={n})", f"IPReservoir steps/s (N={n})",
             f"DeepESN steps/s (3 x N={n})"]  # fmt: skip
    for name, a, b in zip(names, ours, theirs):
        rows.append((name, a, b))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps (noisier)")
    ap.add_argument("--sizes", default="100,1000,5000", help="comma-separated reservoir sizes")
    ap.add_argument("--no-ridge", action="store_true", help="skip the ridge comparison")
    ap.add_argument("--threads", type=int, default=0, help="rnnrs threads (0: all cores)")
    ap.add_argument("--cpu-time", action="store_true", help="time by process CPU time, not wall time")
    ap.add_argument("--nodes", action="store_true", help="also NVAR, ES2N, IPReservoir, DeepESN")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="rnnrs's reservoir dtype (ReservoirPy runs float64)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu_time else time.perf_counter
    rr.set_num_threads(args.threads)
    sizes = [int(v) for v in args.sizes.split(",")]
    steps = {n: {100: 5000, 1000: 2000}.get(n, 300) for n in sizes}
    batch, batch_steps = 64, 50 if args.quick else 200
    if args.quick:
        steps = {k: v // 4 for k, v in steps.items()}
    dtype = np.dtype(args.dtype).type
    print(f"threads: {rr.get_num_threads()}, clock: {'CPU time' if args.cpu_time else 'wall'}, rnnrs dtype: {args.dtype}")
    print("| N | load | rnnrs steps/s (1 seq) | ReservoirPy steps/s | ratio | rnnrs steps/s per seq (batch 64) "
          "| ReservoirPy | ratio | rnnrs setup s | ReservoirPy setup s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, s in steps.items():
        load = os.getloadavg()[0]
        ours = rnnrs_figures(n, s, batch, batch_steps, dtype)
        theirs = reservoirpy_figures(n, s, batch if n < 5000 else 8, batch_steps)
        if theirs is None:
            print(f"| {n} | {load:.1f} | {ours[0]:.0f} | - | - | {ours[1]:.0f} | - | - | {ours[2]:.3f} | - |")
        else:
            print(f"| {n} | {load:.1f} | {ours[0]:.0f} | {theirs[0]:.0f} | {ours[0] / theirs[0]:.1f}x | {ours[1]:.0f} | "
                  f"{theirs[1]:.0f} | {ours[1] / theirs[1]:.1f}x | {ours[2]:.3f} | {theirs[2]:.3f} |")
    if not args.no_ridge:
        t = 20_000 if args.quick else 100_000
        load = os.getloadavg()[0]
        ours, theirs = ridge_figures(1000, t)
        extra = f"{theirs:.2f} s" if theirs is not None else "-"
        print(f"\nridge fit N=1000, T={t} (load {load:.1f}): rnnrs {ours:.2f} s (memory O(N^2)), ReservoirPy {extra}")
    if args.nodes:
        print(f"\n| node (load {os.getloadavg()[0]:.1f}) | rnnrs | ReservoirPy | ratio |\n|---|---|---|---|")
        for name, a, b in node_figures(args.quick):
            print(f"| {name} | {a:.0f} | {'-' if b is None else f'{b:.0f}'} | {'-' if b is None else f'{a / b:.1f}x'} |")


if __name__ == "__main__":
    main()
