"""Speed of the cell variants against their plain counterparts, at one shape.

For each cell (rnnrs.LSTM with ``forget_gate=False`` / ``coupled=True`` /
``peephole=True``, rnnrs.LayerNormLSTM, rnnrs.LeakyRNN, the GRU gate variants, MGU and
the Jordan network beside the plain rnnrs LSTM, GRU and Elman RNN) prints the best time
of an inference forward and of a training forward + BPTT, the ratio to the plain LSTM
of the same run and to the cell's plain counterpart (LSTM for the LSTMs, GRU for the GRU
variants and MGU, RNN for LeakyRNN and Jordan). With torch installed, also a
TorchScript LayerNormLSTM written after PyTorch's benchmarks/fastrnns/custom_lstms.py
(the same math), and the ratio of rnnrs's LayerNormLSTM to it.
Shape A by default: T=100, B=64, I=128, H=256, float32.

    python benches/bench_cells.py                  # 1 and 2 threads
    python benches/bench_cells.py --quick --threads 1
"""

from __future__ import annotations

import numpy as np
import rnnrs
from cell_timing import best_interleaved, parse_args, print_header, thread_counts, time_layers

CELLS = {
    "LSTM": lambda i, h, dt: rnnrs.LSTM(i, h, dtype=dt, seed=0),
    "LSTM forget_gate=False": lambda i, h, dt: rnnrs.LSTM(i, h, forget_gate=False, dtype=dt, seed=0),
    "LSTM coupled=True": lambda i, h, dt: rnnrs.LSTM(i, h, coupled=True, dtype=dt, seed=0),
    "LSTM peephole=True": lambda i, h, dt: rnnrs.LSTM(i, h, peephole=True, dtype=dt, seed=0),
    "LayerNormLSTM": lambda i, h, dt: rnnrs.LayerNormLSTM(i, h, dtype=dt, seed=0),
    "GRU": lambda i, h, dt: rnnrs.GRU(i, h, dtype=dt, seed=0),
    "RNN": lambda i, h, dt: rnnrs.RNN(i, h, dtype=dt, seed=0),
    "LeakyRNN": lambda i, h, dt: rnnrs.LeakyRNN(i, h, dtype=dt, seed=0),
    "GRU gates=gru1": lambda i, h, dt: rnnrs.GRU(i, h, gates="gru1", dtype=dt, seed=0),
    "GRU gates=gru2": lambda i, h, dt: rnnrs.GRU(i, h, gates="gru2", dtype=dt, seed=0),
    "GRU gates=gru3": lambda i, h, dt: rnnrs.GRU(i, h, gates="gru3", dtype=dt, seed=0),
    "MGU": lambda i, h, dt: rnnrs.MGU(i, h, dtype=dt, seed=0),
    # Jordan: output size O = H (twice the Elman's recurrent multiply-adds) and O = H/2 (the same).
    "Jordan O=H": lambda i, h, dt: rnnrs.Jordan(i, h, h, dtype=dt, seed=0),
    "Jordan O=H/2": lambda i, h, dt: rnnrs.Jordan(i, h, max(h // 2, 1), dtype=dt, seed=0),
}
# The plain counterpart of each cell (the "vs plain" column).
PLAIN = {"LeakyRNN": "RNN", "GRU": "GRU", "RNN": "RNN"}


def plain_of(name: str) -> str:
    """The plain counterpart a cell is compared with."""
    if name.startswith(("GRU", "MGU", "LayerNormGRU")):
        return "GRU"
    if name.startswith("Jordan"):
        return "RNN"
    return PLAIN.get(name, "LSTM")


def torchscript_lnlstm(i: int, h: int):
    """A TorchScript layer-normalised LSTM layer after PyTorch's custom_lstms.py
    (LayerNormLSTMCell in a scripted time loop), or None without torch."""
    try:
        import torch
    except ImportError:
        return None

    class LNLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            k = 1.0 / h ** 0.5
            self.weight_ih = torch.nn.Parameter(torch.empty(4 * h, i).uniform_(-k, k))
            self.weight_hh = torch.nn.Parameter(torch.empty(4 * h, h).uniform_(-k, k))
            self.layernorm_i = torch.nn.LayerNorm(4 * h)
            self.layernorm_h = torch.nn.LayerNorm(4 * h)
            self.layernorm_c = torch.nn.LayerNorm(h)

        def forward(self, x, hx, cx):
            outputs = []
            for t in range(x.size(0)):
                gates = self.layernorm_i(torch.mm(x[t], self.weight_ih.t())) + self.layernorm_h(
                    torch.mm(hx, self.weight_hh.t()))
                ingate, forgetgate, cellgate, outgate = gates.chunk(4, 1)
                cx = self.layernorm_c(torch.sigmoid(forgetgate) * cx + torch.sigmoid(ingate) * torch.tanh(cellgate))
                hx = torch.sigmoid(outgate) * torch.tanh(cx)
                outputs.append(hx)
            return torch.stack(outputs), hx, cx

    return torch.jit.script(LNLSTM())


def main():
    args, (T, B, I, H), dt, reps = parse_args(__doc__)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(dt)
    print_header((T, B, I, H), dt, ["cell", "thr", "forward ms", "fwd+bwd ms", "fwd+bwd vs LSTM", "vs plain"])
    for nt in thread_counts(args.threads):
        # All cells of a thread count timed interleaved (see cell_timing).
        res = time_layers({name: make(I, H, dt) for name, make in CELLS.items()}, x, reps)
        times = {name: t[1] for name, t in res.items()}
        for name, (fwd, tr) in res.items():
            print(f"| {name} | {nt} | {fwd * 1e3:.1f} | {tr * 1e3:.1f} | {tr / times['LSTM']:.2f} | "
                  f"{tr / times[plain_of(name)]:.2f} |")
        ts = torchscript_lnlstm(I, H)
        if ts is None:
            print(f"| TorchScript LayerNormLSTM | {nt} | (torch not installed) | | | |")
            continue
        import torch

        torch.set_num_threads(nt)
        tx = torch.tensor(x)
        ts = ts.to(torch.float64 if dt == np.float64 else torch.float32)
        zeros = torch.zeros(B, H, dtype=tx.dtype)

        def ts_train():
            y, _, _ = ts(tx, zeros, zeros)
            y.backward(torch.ones_like(y))

        def ts_forward():
            with torch.no_grad():
                ts(tx, zeros, zeros)

        t = best_interleaved({"fwd": ts_forward, "train": ts_train}, reps)
        fwd, tr = t["fwd"], t["train"]
        print(f"| TorchScript LayerNormLSTM (torch {torch.__version__}) | {nt} | {fwd * 1e3:.1f} | "
              f"{tr * 1e3:.1f} | {tr / times['LSTM']:.2f} | rnnrs LayerNormLSTM / TorchScript: "
              f"{times['LayerNormLSTM'] / tr:.2f} |")


if __name__ == "__main__":
    main()
