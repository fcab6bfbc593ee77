"""The cell family side by side: Mackey-Glass forecasting with every recurrent cell of rnnrs.

Each model is ``cell -> rnnrs.Linear`` trained many-to-many (BPTT, Adam, the
same budget for all) to predict the Mackey-Glass series (tau = 17, the seeds'
benchmark) `--horizon` steps ahead at every step of windows of 100 steps.
The table gives each cell's parameter count, its test NRMSE (root mean square
error over the standard deviation of the series; 1.0 = predicting the mean),
the training time, and the time of one forward+backward of a batch.

    python examples/cell_zoo.py                # hidden 32, 100 epochs or 1 minute per cell
    python examples/cell_zoo.py --quick        # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
from rnnrs.datasets import mackey_glass
from rnnrs.train import evaluate, fit

# name -> (builder(input_size, hidden, seed) -> recurrent module, output width, formula reference)
CELLS = {
    "RNN (Elman, tanh)": (lambda i, h, s: rnnrs.RNN(i, h, seed=s), "Elman 1990"),
    "LSTM": (lambda i, h, s: rnnrs.LSTM(i, h, seed=s, forget_bias=1.0), "Hochreiter & Schmidhuber 1997"),
    "LSTM, no forget gate": (lambda i, h, s: rnnrs.LSTM(i, h, seed=s, forget_gate=False), "the 1997 LSTM"),
    "LSTM, coupled (CIFG)": (lambda i, h, s: rnnrs.LSTM(i, h, seed=s, coupled=True), "Greff et al. 2017"),
    "LSTM, peepholes": (lambda i, h, s: rnnrs.LSTM(i, h, seed=s, peephole=True), "Gers & Schmidhuber 2000"),
    "LayerNormLSTM": (lambda i, h, s: rnnrs.LayerNormLSTM(i, h, seed=s), "Ba et al. 2016"),
    "GRU": (lambda i, h, s: rnnrs.GRU(i, h, seed=s), "Cho et al. 2014"),
    "GRU1": (lambda i, h, s: rnnrs.GRU(i, h, seed=s, gates="gru1"), "Dey & Salem 2017"),
    "GRU2": (lambda i, h, s: rnnrs.GRU(i, h, seed=s, gates="gru2"), "Dey & Salem 2017"),
    "GRU3": (lambda i, h, s: rnnrs.GRU(i, h, seed=s, gates="gru3"), "Dey & Salem 2017"),
    "LayerNormGRU": (lambda i, h, s: rnnrs.LayerNormGRU(i, h, seed=s), "Ba et al. 2016 (GRU analogue)"),
    "MGU (minimal gated unit)": (lambda i, h, s: rnnrs.MGU(i, h, seed=s), "Zhou et al. 2016"),
    "LeakyRNN (learned time constants)": (lambda i, h, s: rnnrs.LeakyRNN(i, h, seed=s), "leaky integrators"),
    "Jordan (output recurrence)": (lambda i, h, s: rnnrs.Jordan(i, h, h, seed=s), "Jordan 1986"),
    "ClockworkRNN (4 modules)": (lambda i, h, s: rnnrs.ClockworkRNN(i, h, n_modules=4, seed=s),
                                 "Koutnik et al. 2014"),
    "DilatedRNN (GRU, 1-2-4)": (lambda i, h, s: rnnrs.DilatedRNN("GRU", i, h, dilations=[1, 2, 4], seed=s),
                                "Chang et al. 2017"),
    "DeepTransitionRNN (DT(S), depth 2)": (
        lambda i, h, s: rnnrs.DeepTransitionRNN(i, h, transition_depth=2, shortcut=True, seed=s),
        "Pascanu et al. 2014"),
}


def windows(series: np.ndarray, length: int, horizon: int, start: int, count: int, stride: int):
    """(x (T, B, 1), y (T, B, 1)) float32: `count` windows of `length` steps,
    `stride` apart, and the values `horizon` steps after each step."""
    idx = start + np.arange(count)[None, :] * stride + np.arange(length)[:, None]
    x = series[idx][..., None].astype(np.float32)
    y = series[idx + horizon][..., None].astype(np.float32)
    return x, y


def run(name: str, build, data, args) -> dict:
    (xtr, ytr), (xte, yte), std = data
    rec = build(1, args.hidden, args.seed)
    model = rnnrs.Sequential(rec, rnnrs.Linear(args.hidden, 1, seed=args.seed + 1))
    n_params = sum(int(v.size) for v in model.params.values())
    opt = rnnrs.optim.Adam(model.params, lr=args.lr)
    t0 = time.perf_counter()
    fit(model, (xtr, ytr), "mse", opt, clip_norm=1.0, epochs=args.epochs, batch_size=32, progress=False,
        seed=args.seed, time_limit=args.minutes * 60.0)
    seconds = time.perf_counter() - t0
    nrmse = float(np.sqrt(evaluate(model, (xte, yte), "mse"))) / std
    xb = xtr[:, :32]
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        out, _ = model.forward(xb, train=True)
        model.backward(np.ones_like(out))
        best = min(best, time.perf_counter() - t)
    model.zero_grad()
    return {"params": n_params, "nrmse": nrmse, "seconds": seconds, "step_ms": best * 1e3}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--horizon", type=int, default=10, help="steps ahead to predict")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--minutes", type=float, default=1.0, help="time budget per cell")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="names (or prefixes) of the cells to run")
    ap.add_argument("--quick", action="store_true", help="seconds: a smoke test")
    args = ap.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.minutes = 8, 2, 0.2
    series = mackey_glass(6000, seed=args.seed).ravel()
    series = (series - series.mean()) / series.std()
    length = 100
    train = windows(series, length, args.horizon, 0, 60 if args.quick else 400, 10)  # steps 0-4100
    test = windows(series, length, args.horizon, 4400, 30, 50)  # steps 4400-5960
    data = (train, test, float(series[4400:].std()))
    print(f"Mackey-Glass, {args.horizon} steps ahead, windows of {length}; hidden {args.hidden}, "
          f"{args.epochs} epochs or {args.minutes:g} min per cell, Adam lr {args.lr:g}")
    print(f"{'cell':<34}{'params':>8}{'test NRMSE':>12}{'train s':>9}{'fwd+bwd ms':>12}  reference")
    results = {}
    for name, (build, ref) in CELLS.items():
        if args.only and not any(name.lower().startswith(o.lower()) for o in args.only):
            continue
        r = run(name, build, data, args)
        results[name] = r
        print(f"{name:<34}{r['params']:>8}{r['nrmse']:>12.4f}{r['seconds']:>9.1f}{r['step_ms']:>12.2f}  {ref}",
              flush=True)
    return results


if __name__ == "__main__":
    main()
