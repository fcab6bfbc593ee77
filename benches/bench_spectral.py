"""Reservoir set-up time (random W, its spectral radius, the scaled weights) beside ReservoirPy's.

Setup of issue 13 §1: N = 5000, connectivity 0.1, spectral radius 1.25, target <= 1 s on an idle
and on a loaded machine. Prints, per size, the load average (1 min), rnnrs's time for the
sparse matrix alone, for the spectral-radius estimate alone, for the whole
``Reservoir.initialize``, and ReservoirPy's whole set-up (``Reservoir.initialize``: its
``W`` initialiser with ``sr``, scipy's ARPACK ``eigs``) in the same run (skipped when
ReservoirPy is not importable; it is never a dependency of rnnrs).

    python benches/bench_spectral.py [--sizes 1000,5000] [--threads 0] [--cpu-time] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import rnnrs as rr
from rnnrs import _core

CLOCK = time.perf_counter


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = CLOCK()
        fn()
        best = min(best, CLOCK() - t)
    return best


def rnnrs_figures(n: int, repeat: int) -> tuple[float, float, float]:
    """(sparse matrix s, spectral estimate s, whole initialize s)."""
    indptr, indices, data = _core.sparse_random(n, n, 0.1, "normal", 1.0, 1, 0)
    weights = _best(lambda: _core.sparse_random(n, n, 0.1, "normal", 1.0, 1, 0), repeat)
    radius = _best(lambda: _core.spectral_radius(indptr, indices, data, n, krylov_dim=100, seed=1), repeat)
    whole = _best(lambda: rr.Reservoir(n, spectral_radius=1.25, connectivity=0.1, seed=1).initialize(1), repeat)
    return weights, radius, whole


def reservoirpy_setup(n: int, repeat: int) -> float | None:
    try:
        from reservoirpy.nodes import Reservoir
    except ImportError:
        return None
    x = np.zeros((1, 1))

    def setup():
        Reservoir(units=n, sr=1.25, lr=0.3, rc_connectivity=0.1, input_connectivity=0.1, seed=1).initialize(x)

    return _best(setup, repeat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000", help="comma-separated reservoir sizes")
    ap.add_argument("--threads", type=int, default=0, help="rnnrs threads (0: all cores)")
    ap.add_argument("--cpu-time", action="store_true", help="time by process CPU time, not wall time")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--no-reservoirpy", action="store_true", help="skip ReservoirPy")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu_time else time.perf_counter
    rr.set_num_threads(args.threads)
    print(f"threads: {rr.get_num_threads()}, clock: {'CPU time' if args.cpu_time else 'wall'}, best of {args.repeat}")
    print("| N | load | rnnrs W s | rnnrs radius s | rnnrs set-up s | ReservoirPy set-up s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(v) for v in args.sizes.split(",")):
        load = os.getloadavg()[0]
        w, r, whole = rnnrs_figures(n, args.repeat)
        # ReservoirPy's ARPACK set-up takes tens of seconds at N = 5000: timed once there.
        theirs = None if args.no_reservoirpy else reservoirpy_setup(n, args.repeat if n < 3000 else 1)
        tail = "- | -" if theirs is None else f"{theirs:.3f} | {theirs / whole:.0f}x"
        print(f"| {n} | {load:.1f} | {w:.3f} | {r:.3f} | {whole:.3f} | {tail} |")


if __name__ == "__main__":
    main()
