"""Online one-step-ahead prediction of a noisy sum of sines with RTRL, on the defaults.

A new user's first online task: a stream s_t = sin(0.2 t) + sin(0.311 t) +
sin(0.42 t) + noise (std 0.1, so the best possible one-step MSE is about
0.01) arrives one value at a time; at every step a GRU cell trained by exact
RTRL predicts the next value and is updated at once. Nothing is tuned: the
learner's defaults (Adam with lr 1e-3, clipping at 1, a linear readout built
from the number of outputs in the cell's dtype) are used as they are.

With ``--delay k`` the target of each input arrives k steps later (as when a
label or a measurement comes late): the learner keeps the last k inputs, runs
RTRL k steps behind and predicts by running the cell ahead.

    python examples/online_sines.py [--steps 6000] [--hidden 16] [--delay 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rnnrs import rtrl


def sines(steps: int, seed: int = 0, noise: float = 0.1) -> np.ndarray:
    """The stream s_0 .. s_steps (steps + 1 values)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1)
    s = np.sin(0.2 * t) + np.sin(0.311 * t) + np.sin(0.42 * t)
    return s + rng.normal(0, noise, s.shape)


def run(steps: int = 6000, hidden: int = 16, delay: int = 0, seed: int = 0, method: str = "exact"):
    """Online training on one stream; returns (per-step squared errors of the
    one-step-ahead predictions (steps,), steps per second)."""
    s = sines(steps, seed)
    learner = rtrl.OnlineLearner(rtrl.Cell("GRU", 1, hidden, seed=seed), 1, loss="mse", method=method,
                                 seed=seed, delay=delay)
    err = np.empty(steps)
    start = time.perf_counter()
    for t in range(steps):
        # The target of input s_{t-delay} is s_{t-delay+1}, known by now.
        due = [s[t - delay + 1]] if t >= delay else None
        learner.step([s[t]], due)
        err[t] = (learner.output[0, 0] - s[t + 1]) ** 2  # the prediction made now, scored later
    return err, steps / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--delay", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    s = sines(args.steps, args.seed)
    persistence = float(np.mean((s[1:] - s[:-1]) ** 2))
    err, rate = run(args.steps, args.hidden, args.delay, args.seed)
    print(f"noisy sum of sines, GRU({args.hidden}) + exact RTRL, OnlineLearner defaults, delay {args.delay}")
    print(f"noise floor (MSE) ~0.010; predicting 'no change' gives {persistence:.3f}")
    print(f"{'steps':>12}{'MSE':>10}")
    block = max(args.steps // 6, 1)
    for k in range(0, args.steps, block):
        print(f"{k:>5}-{min(k + block, args.steps):<6}{err[k:k + block].mean():>10.4f}")
    print(f"{rate:.0f} steps/s")


if __name__ == "__main__":
    main()
