"""Time per NTM training sequence: rnnrs vs the same model as a PyTorch module (skipped without torch).

Copy task of length 20 (41 steps, 9 inputs, 8 outputs), LSTM controller of 100 units, memory 128 x 20,
one read and one write head, shift range 1. One training step = forward, BCE-with-logits gradient,
backward, gradient norm clipping and an Adam step. Reported: milliseconds per sequence at batch 1 and
batch 16 (per sequence), best of a few repetitions, same run for both libraries.

    python benches/bench_ntm.py [--reps 20] [--threads 1] [--cpu-time]

``--cpu-time`` times with the process CPU clock instead of the wall clock (steadier on a loaded
machine; meaningful with one thread).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs as rr
from rnnrs.datasets import copy_task

H, N, M, I, O = 100, 128, 20, 9, 8


def rnnrs_step(ntm, opt, x, y, m):
    logits = ntm.forward(x, train=True)
    p = 1 / (1 + np.exp(-logits))
    dy = (m[..., None] * (p - y) / x.shape[1]).astype(np.float32)
    ntm.zero_grad()
    ntm.backward(dy)
    rr.clip_grad_norm_(ntm.grads, 10.0)
    opt.step(ntm.grads)


def torch_model(torch):
    nn, F = torch.nn, torch.nn.functional
    S = 3
    P = (M + S + 3) + (3 * M + S + 3)

    class TorchNTM(nn.Module):
        """The same equations as rnnrs.NTM (src/memory/ntm/)."""

        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(I + M, H)
            self.heads = nn.Linear(H, P)
            self.out = nn.Linear(H + M, O)
            self.read0 = nn.Parameter(torch.zeros(M))

        def address(self, q, mem, w_prev):
            k, beta, g = q[:, :M], F.softplus(q[:, M]), torch.sigmoid(q[:, M + 1])
            s, gamma = torch.softmax(q[:, M + 2 : M + 2 + S], 1), 1 + F.softplus(q[:, M + 2 + S])
            cos = (mem @ k.unsqueeze(2)).squeeze(2) / (k.norm(dim=1, keepdim=True) * mem.norm(dim=2) + 1e-8)
            wc = torch.softmax(beta.unsqueeze(1) * cos, 1)
            wg = g.unsqueeze(1) * wc + (1 - g.unsqueeze(1)) * w_prev
            wt = sum(s[:, j : j + 1] * torch.roll(wg, j - 1, 1) for j in range(S))
            return torch.softmax(gamma.unsqueeze(1) * torch.log(wt + 1e-12), 1)

        def forward(self, x):
            t_n, b = x.shape[:2]
            h = c = x.new_zeros(b, H)
            mem = x.new_full((b, N, M), 1e-6)
            w0 = x.new_zeros(b, N)
            w0[:, 0] = 1
            wr, ww = w0, w0
            r = self.read0.expand(b, M)
            ys = []
            for t in range(t_n):
                h, c = self.cell(torch.cat([x[t], r], 1), (h, c))
                p = self.heads(h)
                wr = self.address(p[:, : M + S + 3], mem, wr)
                qw = p[:, M + S + 3 :]
                ww = self.address(qw, mem, ww)
                r = (wr.unsqueeze(1) @ mem).squeeze(1)
                e = torch.sigmoid(qw[:, M + S + 3 : 2 * M + S + 3])
                a = torch.tanh(qw[:, 2 * M + S + 3 :])
                mem = mem * (1 - ww.unsqueeze(2) * e.unsqueeze(1)) + ww.unsqueeze(2) * a.unsqueeze(1)
                ys.append(self.out(torch.cat([h, r], 1)))
            return torch.stack(ys)

    return TorchNTM()


CLOCK = time.perf_counter


def best(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu-time", action="store_true", help="process CPU time instead of wall time")
    args = ap.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    rr.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"NTM training step, copy length 20 (41 steps), H={H}, N={N}, M={M}, 1 read + 1 write head, "
          f"{args.threads} thread(s); ms per sequence")
    print(f"{'batch':>6} {'rnnrs':>10} {'torch':>10} {'rnnrs/torch':>12}")
    for b in (1, 16):
        x, y, m = copy_task(b, 20, rng=0)
        ntm = rr.NTM(I, O, H, N, M, dtype=np.float32, seed=0)
        opt = rr.optim.Adam(ntm.params, lr=1e-3)
        t_rr = best(lambda: rnnrs_step(ntm, opt, x, y, m), args.reps) / b
        t_th = float("nan")
        if torch is not None:
            model = torch_model(torch)
            topt = torch.optim.Adam(model.parameters(), lr=1e-3)
            xt, yt, mt = (torch.from_numpy(a) for a in (x, y, m))

            def torch_step():
                logits = model(xt)
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none")
                        * mt.unsqueeze(2)).sum() / b
                topt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                topt.step()

            t_th = best(torch_step, max(3, args.reps // 4)) / b
        print(f"{b:6d} {1e3 * t_rr:10.3f} {1e3 * t_th:10.3f} {t_rr / t_th:12.3f}")
    if torch is None:
        print("(torch not installed: reference column skipped)")


if __name__ == "__main__":
    main()
