"""Fully online learning of a delayed-recall task with RTRL.

A stream of random binary symbols arrives one at a time; at every step the
network must output the symbol it saw `delay` steps ago. Nothing is stored:
each step advances a GRU cell, evaluates a linear readout, and updates all
weights with the gradient of this step's loss (`rnnrs.optim.Adam`). Credit assignment
across `delay` steps comes only from the RTRL sensitivities, so exact RTRL
learns the task, the O(P) approximations SnAp-1 and UORO learn it partially
or slowly, and truncated BPTT with truncation 1 (gradient through the last
step only) stays near chance.

    python examples/rtrl_online.py [--delay 5] [--steps 6000] [--hidden 16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rnnrs
from rnnrs import rtrl

METHODS = ("exact", "snap1", "uoro", "tbptt1")


def run(method: str, delay: int = 5, steps: int = 6000, hidden: int = 16, seed: int = 0, lr: float = 0.01):
    """Online training on one stream; returns (accuracy over the last quarter of
    the stream, steps per second)."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, 2, steps)
    cell = rtrl.Cell("GRU", 2, hidden, seed=seed)
    readout = rnnrs.Linear(hidden, 2, dtype=np.float64, seed=seed + 1)
    learner = rtrl.OnlineLearner(cell, readout, loss="cross_entropy", optimizer="adam", lr=lr, method=method,
                                 seed=seed)
    eye = np.eye(2)
    correct = []
    start = time.perf_counter()
    for t in range(steps):
        target = symbols[t - delay] if t >= delay else 0
        learner.step(eye[symbols[t]], [target])
        if t >= delay:
            correct.append(int(np.argmax(learner.output[0]) == target))
    elapsed = time.perf_counter() - start
    tail = correct[-len(correct) // 4:]
    return float(np.mean(tail)), steps / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.delay < 1 or args.steps <= 4 * args.delay:
        ap.error("need delay >= 1 and steps > 4 * delay")
    print(f"delayed recall, delay {args.delay}, GRU hidden {args.hidden}, {args.steps} online steps "
          f"(accuracy over the last quarter; chance = 0.5)")
    print(f"{'method':<10}{'accuracy':>10}{'steps/s':>12}")
    for m in METHODS:
        acc, sps = run(m, args.delay, args.steps, args.hidden, args.seed)
        print(f"{m:<10}{acc:>10.3f}{sps:>12.0f}")


if __name__ == "__main__":
    main()
