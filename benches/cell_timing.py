"""Timing helpers shared by the cell benchmarks (bench_cells.py, bench_cells_time.py).

Layers are timed interleaved: each repetition runs every layer once, in the same order, and each
layer's best time is kept, so that a machine whose load changes during the run slows all rows alike
and the ratios between rows stay meaningful.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator

import numpy as np
import rnnrs


def parse_args(doc: str, default_shape: str = "100,64,128,256"):
    """``(args, (T, B, I, H), dtype, reps)`` from the common options --quick, --shape, --dtype, --threads."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (noisier, faster)")
    ap.add_argument("--shape", default=default_shape, help="T,B,I,H")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    return args, shape, np.dtype(args.dtype), 3 if args.quick else 10


def print_header(shape, dtype, columns: list[str]) -> None:
    T, B, I, H = shape
    print(f"shape T={T} B={B} I={I} H={H} {dtype.name}; load {os.getloadavg()[0]:.1f}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def thread_counts(spec: str) -> Iterator[int]:
    """Each thread count of ``spec`` ("1,2"), set for rnnrs while the caller runs; restored at the end."""
    before = rnnrs.get_num_threads()
    try:
        for nt in (int(v) for v in spec.split(",")):
            rnnrs.set_num_threads(nt)
            yield nt
    finally:
        rnnrs.set_num_threads(before)


def best_interleaved(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Best time (s) of each function over ``reps`` rounds, one call of each per round (after a warm-up)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: min(v) for name, v in times.items()}


def time_layers(layers: dict, x: np.ndarray, reps: int) -> dict[str, tuple[float, float]]:
    """``{name: (inference forward s, training forward + backward s)}`` of rnnrs-protocol layers, interleaved."""
    def train(layer):
        y, _ = layer.forward(x, train=True)
        layer.backward(np.ones_like(y))

    fwd = best_interleaved({n: (lambda l=l: l(x)) for n, l in layers.items()}, reps)
    tr = best_interleaved({n: (lambda l=l: train(l)) for n, l in layers.items()}, reps)
    return {n: (fwd[n], tr[n]) for n in layers}
