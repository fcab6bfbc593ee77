"""Speed of the cell variants against their plain counterparts, at one shape.

For each cell (rnnrs.LSTM with ``forget_gate=False`` / ``coupled=True`` beside the
plain rnnrs LSTM, GRU and Elman RNN; the GRU gate variants and MGU) prints the best time
of an inference forward and of a training forward + BPTT, and the ratios to the plain
LSTM and the plain GRU of the same run (and of the Jordan network to the Elman RNN).
Shape A by default: T=100, B=64, I=128, H=256, float32.

    python benches/bench_cells.py                  # 1 and 2 threads
    python benches/bench_cells.py --quick --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import rnnrs

CELLS = {
    "LSTM": lambda i, h, dt: rnnrs.LSTM(i, h, dtype=dt, seed=0),
    "LSTM forget_gate=False": lambda i, h, dt: rnnrs.LSTM(i, h, forget_gate=False, dtype=dt, seed=0),
    "LSTM coupled=True": lambda i, h, dt: rnnrs.LSTM(i, h, coupled=True, dtype=dt, seed=0),
    "GRU": lambda i, h, dt: rnnrs.GRU(i, h, dtype=dt, seed=0),
    "RNN": lambda i, h, dt: rnnrs.RNN(i, h, dtype=dt, seed=0),
    "GRU gates=gru1": lambda i, h, dt: rnnrs.GRU(i, h, gates="gru1", dtype=dt, seed=0),
    "GRU gates=gru2": lambda i, h, dt: rnnrs.GRU(i, h, gates="gru2", dtype=dt, seed=0),
    "GRU gates=gru3": lambda i, h, dt: rnnrs.GRU(i, h, gates="gru3", dtype=dt, seed=0),
    "MGU": lambda i, h, dt: rnnrs.MGU(i, h, dtype=dt, seed=0),
    # Jordan: output size O = H (twice the Elman's recurrent multiply-adds) and O = H/2 (the same).
    "Jordan O=H": lambda i, h, dt: rnnrs.Jordan(i, h, h, dtype=dt, seed=0),
    "Jordan O=H/2": lambda i, h, dt: rnnrs.Jordan(i, h, max(h // 2, 1), dtype=dt, seed=0),
}


def best(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (noisier, faster)")
    ap.add_argument("--shape", default="100,64,128,256", help="T,B,I,H")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    T, B, I, H = (int(v) for v in args.shape.split(","))
    dt = np.dtype(args.dtype)
    reps = 3 if args.quick else 10
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(dt)
    print(f"shape T={T} B={B} I={I} H={H} {dt.name}; load {os.getloadavg()[0]:.1f}")
    print("| cell | thr | forward ms | fwd+bwd ms | fwd+bwd vs LSTM | fwd+bwd vs GRU / RNN |")
    print("|---|---|---|---|---|---|")
    before = rnnrs.get_num_threads()
    try:
        for nt in (int(v) for v in args.threads.split(",")):
            rnnrs.set_num_threads(nt)
            base = None
            times = {}
            for name, make in CELLS.items():
                layer = make(I, H, dt)

                def train(layer=layer):
                    y, _ = layer.forward(x, train=True)
                    layer.backward(np.ones_like(y))

                fwd = best(lambda layer=layer: layer(x), reps)
                tr = best(train, reps)
                base = tr if base is None else base
                times[name] = tr
                ref = "RNN" if name.startswith("Jordan") else ("GRU" if name.startswith(("GRU ", "MGU")) else None)
                vs_gru = f"{tr / times[ref]:.2f} (vs {ref})" if ref in times else ""
                print(f"| {name} | {nt} | {fwd * 1e3:.1f} | {tr * 1e3:.1f} | {tr / base:.2f} | {vs_gru} |")
    finally:
        rnnrs.set_num_threads(before)


if __name__ == "__main__":
    main()
