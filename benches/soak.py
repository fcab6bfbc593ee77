"""Memory soak: 10 000 training steps of a small model keep the resident set flat.

Model: LSTM (I=16, H=64) -> Linear(64, 4) -> MSE -> clip_grad_norm_ -> Adam,
T=20, B=8 (a new random batch per step). The resident set (VmRSS) is read
every 250 steps; growth is measured from the end of the warm-up (1 000 steps)
to the end. The target is growth <= 2 %.

    python benches/soak.py                  # 10 000 steps
    python benches/soak.py --steps 2000     # quicker
    python benches/soak.py --plot soak.png  # the RSS curve (needs matplotlib)
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

import rnnrs


def rss_mib() -> float:
    """Current resident set (MiB): /proc on Linux, else the peak from getrusage."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=1_000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--plot", default=None, help="write the RSS curve to this image")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    model = rnnrs.Sequential(rnnrs.LSTM(16, 64, seed=0), rnnrs.Linear(64, 4, seed=1))
    opt = rnnrs.optim.Adam(model.params, lr=1e-3)
    steps, rss = [], []
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x = rng.normal(size=(20, 8, 16)).astype(np.float32)
        y = rng.normal(size=(20, 8, 4)).astype(np.float32)
        model.zero_grad()
        out, _ = model.forward(x, None, train=True)
        loss, dout = rnnrs.losses.mse(out, y)
        model.backward(dout, input_grad=False)
        rnnrs.clip_grad_norm_(model.grads, 1.0)
        opt.step(model.grads)
        if step % args.every == 0:
            steps.append(step)
            rss.append(rss_mib())
    elapsed = time.perf_counter() - t0
    base = next(r for s, r in zip(steps, rss) if s >= args.warmup)
    growth = 100 * (rss[-1] - base) / base
    print(f"rnnrs {rnnrs.__version__}, {rnnrs.get_num_threads()} threads, {args.steps} steps in {elapsed:.1f} s")
    print("step    RSS (MiB)")
    for s, r in zip(steps, rss):
        if s % (args.every * 4) == 0 or s == steps[-1]:
            print(f"{s:6d}  {r:9.1f}")
    print(f"RSS growth after warm-up ({args.warmup} steps): {growth:+.2f} % "
          f"({base:.1f} -> {rss[-1]:.1f} MiB; target <= 2 %)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(steps, rss)
        ax.axvline(args.warmup, color="gray", ls="--", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel("RSS (MiB)")
        ax.set_title(f"Soak: {growth:+.2f} % after warm-up")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print("wrote", args.plot)
    sys.exit(0 if growth <= 2.0 else 1)


if __name__ == "__main__":
    main()
