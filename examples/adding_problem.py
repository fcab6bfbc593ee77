"""The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015), T = 100.

Each input sequence has two channels: random values in [0, 1] and a marker
that is 1 at exactly two steps (one in each half of the sequence) and 0
elsewhere. The target is the sum of the two marked values. Predicting 1.0
always gives an MSE of 1/6 ~ 0.167; solving it means carrying information
across ~50-100 steps, which a plain Elman (tanh) network fails to learn and
an LSTM with gradient clipping learns.

Both models are trained with the same budget (Adam, clipped gradients,
many-to-one: recurrent layer -> `rnnrs.LastStep` -> `rnnrs.Linear`) and
printed side by side.

    python examples/adding_problem.py              # T = 100, up to 6 minutes per model
    python examples/adding_problem.py --quick      # seconds (T = 15), smoke test
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
from rnnrs.train import evaluate, fit


def adding_data(n: int, length: int, rng: np.random.Generator):
    """``(inputs (T, n, 2), targets (n, 1))`` float32, time-major."""
    values = rng.uniform(0.0, 1.0, size=(length, n)).astype(np.float32)
    marks = np.zeros((length, n), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    cols = np.arange(n)
    marks[first, cols] = 1.0
    marks[second, cols] = 1.0
    x = np.stack([values, marks], axis=-1)
    y = (values[first, cols] + values[second, cols]).reshape(n, 1)
    return x, y


def build(kind: str, hidden: int, seed: int):
    if kind == "lstm":
        rec = rnnrs.LSTM(2, hidden, seed=seed, forget_bias=1.0)
    else:
        rec = rnnrs.RNN(2, hidden, nonlinearity="tanh", seed=seed)
    return rnnrs.Sequential(rec, rnnrs.LastStep(), rnnrs.Linear(hidden, 1, seed=seed + 1))


def train(kind: str, args, train_data, val_data) -> dict:
    model = build(kind, args.hidden, args.seed)
    optimizer = rnnrs.optim.Adam(model.params, lr=args.lr)
    t0 = time.perf_counter()

    def solved(epoch, logs):
        if not args.quick:
            print(f"  {kind:<5} epoch {epoch:>3}: train MSE {logs['train_loss']:.4f}, validation MSE "
                  f"{logs['val_loss']:.4f} ({logs['time']:.0f} s)", flush=True)
        return logs["val_loss"] < args.stop_at  # early stop once clearly solved

    history = fit(model, train_data, "mse", optimizer, clip_norm=args.clip, epochs=args.epochs,
                  batch_size=args.batch, validation=val_data, progress=False, seed=args.seed,
                  callbacks=[solved], time_limit=args.minutes * 60.0)
    seconds = time.perf_counter() - t0
    mse = evaluate(model, val_data, "mse")
    return {"mse": mse, "seconds": seconds, "epochs": len(history["epoch"]), "updates": history["step"][-1],
            "history": history}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=100, help="sequence length T (default 100)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--train", type=int, default=10_000, help="training sequences")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--minutes", type=float, default=6.0, help="time budget per model (default 6)")
    ap.add_argument("--stop-at", type=float, default=0.002, help="stop early below this validation MSE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds) for tests")
    args = ap.parse_args(argv)
    if args.quick:
        # Short sequences so that it learns in seconds; T = 100 needs the full run.
        # Bounded by epochs, not time, so that the result does not depend on the machine's load.
        args.length, args.hidden, args.train, args.epochs, args.minutes = 15, 16, 2000, 30, 5.0
        args.lr, args.stop_at = 1e-2, 0.01

    rng = np.random.default_rng(args.seed)
    train_data = adding_data(args.train, args.length, rng)
    val_data = adding_data(1000, args.length, rng)
    baseline = float(np.mean((val_data[1] - 1.0) ** 2))
    print(f"adding problem, T = {args.length}: {args.train} training sequences, 1000 validation")
    results = {kind: train(kind, args, train_data, val_data) for kind in ("lstm", "elman")}
    print(f"\n{'model':<22}{'validation MSE':>16}{'updates':>10}{'seconds':>10}")
    print(f"{'constant 1.0':<22}{baseline:>16.4f}{'-':>10}{'-':>10}")
    for kind, name in (("lstm", "LSTM + clipping"), ("elman", "Elman (tanh) + clipping")):
        r = results[kind]
        print(f"{name:<22}{r['mse']:>16.4f}{r['updates']:>10}{r['seconds']:>10.1f}")
    results["baseline"] = baseline
    return results


if __name__ == "__main__":
    main()
