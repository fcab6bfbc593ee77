"""Capacity of Hopfield networks: recall of stored random patterns vs the load P/N.

Each stored pattern, with 5% of its bits flipped, is run (asynchronous updates) to a fixed point; the
table shows the fraction recalled exactly and the mean overlap m = ξ·s/N with the stored pattern. The
Hebbian rule collapses near P/N = 0.138 (Amit, Gutfreund & Sompolinsky 1985); the Storkey rule holds on
to higher loads. Next to them, the modern (dense) Hopfield network (Ramsauer et al. 2020) retrieves from
the same noisy starts in ONE step ξ <- X softmax(β Xᵀ ξ), at loads far beyond N. Last, the time of one
asynchronous sweep over N = 10 000 units.

    python examples/hopfield_capacity.py [--n 400] [--plot capacity.png] [--no-big]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs as rr


def noisy(patterns, frac, rng):
    out = patterns.copy()
    flips = rng.random(out.shape) < frac
    out[flips] *= -1
    return out


def classical(n, load, rule, rng):
    p = max(1, round(load * n))
    xi = np.where(rng.random((p, n)) < 0.5, -1, 1).astype(np.int8)
    net = rr.hopfield.Hopfield(n, rule=rule).store(xi)
    out, _ = net.update(noisy(xi, 0.05, rng), mode="async", max_steps=50, seed=1)
    overlap = (out.astype(np.float64) * xi).mean(axis=1)
    return (out == xi).all(axis=1).mean(), overlap.mean()


def modern(n, load, rng, beta=1.0):
    p = max(1, round(load * n))
    xi = np.where(rng.random((p, n)) < 0.5, -1.0, 1.0)
    out = np.sign(rr.hopfield.modern_retrieve(noisy(xi, 0.05, rng), xi, beta=beta))
    return (out == xi).all(axis=1).mean(), (out * xi).mean(axis=1).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="units (classical) / pattern dimension (modern)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="save a recall-vs-load plot here (needs matplotlib)")
    ap.add_argument("--no-big", action="store_true", help="skip the N = 10 000 sweep timing (400 MB)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.n
    loads = [0.05, 0.08, 0.10, 0.12, 0.138, 0.15, 0.18, 0.20, 0.25, 0.30, 0.40, 0.50]
    rows = []
    print(f"N = {n}; start: each stored pattern with 5% of its bits flipped")
    print(f"{'P/N':>6} | {'Hebbian recall':>14} {'overlap':>8} | {'Storkey recall':>14} {'overlap':>8}")
    for a in loads:
        h = classical(n, a, "hebbian", rng)
        s = classical(n, a, "storkey", rng)
        rows.append((a, h[0], s[0]))
        print(f"{a:6.3f} | {h[0]:14.2f} {h[1]:8.3f} | {s[0]:14.2f} {s[1]:8.3f}")
    print(f"\nmodern Hopfield, one step, beta = 1, d = {n}")
    print(f"{'P/d':>6} | {'recall':>7} {'overlap':>8}")
    mrows = []
    for a in [0.138, 0.5, 1.0, 2.0, 5.0, 10.0]:
        r, m = modern(n, a, rng)
        mrows.append((a, r))
        print(f"{a:6.3f} | {r:7.2f} {m:8.3f}")
    if not args.no_big:
        big = 10_000
        net = rr.hopfield.Hopfield(big)
        xi = np.where(rng.random((50, big)) < 0.5, -1, 1).astype(np.int8)
        t = time.perf_counter()
        net.store(xi)
        t_store = time.perf_counter() - t
        start = noisy(xi[:1], 0.1, rng)[0]
        t = time.perf_counter()
        s, _ = net.update(start, mode="async", max_steps=1, seed=0)
        t_sweep = time.perf_counter() - t
        print(f"\nN = {big}: Hebbian storage of 50 patterns {t_store:.2f} s; one asynchronous sweep "
              f"{t_sweep:.3f} s (overlap after it {(s.astype(float) * xi[0]).mean():.3f})")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        a, h, s = zip(*rows)
        plt.plot(a, h, "o-", label="Hebbian")
        plt.plot(a, s, "s-", label="Storkey")
        plt.axvline(0.138, color="gray", ls=":", label="0.138")
        plt.xlabel("load P/N")
        plt.ylabel("patterns recalled exactly")
        plt.legend()
        plt.savefig(args.plot, dpi=120)
        print(f"plot saved to {args.plot}")


if __name__ == "__main__":
    main()
