"""Speed of the cells with structure in time against the plain Elman RNN of the same size.

Rows: rnnrs.RNN (Elman, the baseline), rnnrs.ClockworkRNN with 8 modules of periods 1, 2, ..., 128
(the issue's target: fwd+bwd <= 0.4x Elman), rnnrs.DeepTransitionRNN (transition depth 2 and 3, with
the DT(S) shortcut and a deep output), rnnrs.DilatedRNN (one Elman layer with dilation 4), and, when
PyTorch is installed, torch.nn.RNN (same shape, same threads) as the library a user would otherwise
pick (PyTorch has none of the other cells). Best time of an inference forward and of a training
forward + BPTT (the rows timed interleaved, see cell_timing.py); ratio to the rnnrs Elman RNN of the
same run. Shape A by default: T=100, B=64, I=128, H=256 (total hidden units), float32.

    python benches/bench_cells_time.py                   # 1 and 2 threads
    python benches/bench_cells_time.py --quick --threads 1
    PYTHONPATH=python /tmp/torchvenv/bin/python benches/bench_cells_time.py   # with the torch row
"""

from __future__ import annotations

import numpy as np
import rnnrs
from cell_timing import best_interleaved, parse_args, print_header, thread_counts, time_layers

CELLS = {
    "RNN (Elman)": lambda i, h, dt: rnnrs.RNN(i, h, dtype=dt, seed=0),
    "ClockworkRNN 8 modules, periods 1..128": lambda i, h, dt: rnnrs.ClockworkRNN(
        i, h, n_modules=8, dtype=dt, seed=0),
    "DeepTransitionRNN depth 2": lambda i, h, dt: rnnrs.DeepTransitionRNN(i, h, 2, 0, dtype=dt, seed=0),
    "DeepTransitionRNN depth 3 + shortcut + 1 output layer": lambda i, h, dt: rnnrs.DeepTransitionRNN(
        i, h, 3, 1, shortcut=True, dtype=dt, seed=0),
    "DilatedRNN RNN dilation 4": lambda i, h, dt: rnnrs.DilatedRNN("RNN", i, h, dilations=[4], dtype=dt, seed=0),
}


def torch_rnn(T, B, I, H, dt, nt, reps):
    """``(forward s, fwd+bwd s)`` of torch.nn.RNN, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(nt)
    tdt = torch.float32 if dt == np.float32 else torch.float64
    rnn = torch.nn.RNN(I, H).to(tdt)
    x = torch.randn(T, B, I, dtype=tdt)

    def fwd():
        with torch.no_grad():
            rnn(x)

    def train():
        y, _ = rnn(x)
        y.sum().backward()

    t = best_interleaved({"fwd": fwd, "train": train}, reps)
    return t["fwd"], t["train"]


def main():
    args, (T, B, I, H), dt, reps = parse_args(__doc__)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(dt)
    print_header((T, B, I, H), dt, ["cell", "thr", "forward ms", "fwd+bwd ms", "fwd+bwd vs rnnrs Elman"])
    for nt in thread_counts(args.threads):
        # All rows of a thread count timed interleaved (see cell_timing), the Elman baseline first.
        times = time_layers({name: make(I, H, dt) for name, make in CELLS.items()}, x, reps)
        base = times["RNN (Elman)"][1]
        for name, (fwd, tr) in times.items():
            print(f"| {name} | {nt} | {fwd * 1e3:.1f} | {tr * 1e3:.1f} | {tr / base:.2f} |")
        ref = torch_rnn(T, B, I, H, dt, nt, reps)
        if ref is not None:
            print(f"| torch.nn.RNN | {nt} | {ref[0] * 1e3:.1f} | {ref[1] * 1e3:.1f} | {ref[1] / base:.2f} |")


if __name__ == "__main__":
    main()
