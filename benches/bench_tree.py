"""Binary Tree-LSTM forward + backward, nodes per second: rnnrs (level-batched) vs PyTorch.

Batches of random binary trees of 50 nodes each (every node has an input vector; a loss at every
node). rnnrs runs `rnnrs.tree.NaryTreeLSTM` (all nodes of one height across the batch in one GEMM).
The PyTorch reference (when ``import torch`` works) is the straightforward recursive implementation:
one module call per node, children first, then autograd backward. Same weights, same data, same
thread count. The issue's target is rnnrs >= 20x PyTorch's nodes/s.

    python benches/bench_tree.py                      # B=64 trees, D=H=64
    python benches/bench_tree.py --batch 256 --hidden 128 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import rnnrs
from rnnrs.tree import Forest, NaryTreeLSTM


def random_parents(rng, n):
    parent, counts = [-1], [0]
    for v in range(1, n):
        free = [u for u in range(v) if counts[u] < 2]
        p = int(rng.choice(free))
        parent.append(p)
        counts[p] += 1
        counts.append(0)
    return np.array(parent, np.int64)


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def torch_step_fn(parents, x, dh, model, threads):
    import torch

    torch.set_num_threads(threads)
    h_size = model.hidden_size

    class Cell(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w_ih = torch.nn.Parameter(torch.from_numpy(model.params["weight_ih"].copy()))
            self.w_hh = torch.nn.Parameter(torch.from_numpy(model.params["weight_hh"].copy()))
            self.b = torch.nn.Parameter(torch.from_numpy(model.params["bias"].copy()))

        def forward(self, x, kids):  # kids: list of (h, c) of up to two children
            zero = torch.zeros(h_size)
            hcat = torch.cat([kids[s][0] if s < len(kids) else zero for s in range(2)])
            xp = self.w_ih @ x + self.b
            pre = self.w_hh @ hcat
            i = torch.sigmoid(xp[:h_size] + pre[:h_size])
            o = torch.sigmoid(xp[h_size:2 * h_size] + pre[h_size:2 * h_size])
            u = torch.tanh(xp[2 * h_size:3 * h_size] + pre[2 * h_size:3 * h_size])
            c = i * u
            for s, (_, ck) in enumerate(kids):
                c = c + torch.sigmoid(xp[3 * h_size:] + pre[(3 + s) * h_size:(4 + s) * h_size]) * ck
            return o * torch.tanh(c), c

    cell = Cell()
    xt, dht = torch.from_numpy(x), torch.from_numpy(dh)
    children = []
    offset = 0
    for p in parents:
        kids = [[] for _ in p]
        for v, q in enumerate(p):
            if q >= 0:
                kids[q].append(v)
        children.append((offset, kids, int(np.flatnonzero(p < 0)[0])))
        offset += len(p)

    def step():
        cell.zero_grad()
        outs = []

        def rec(off, kids, v):
            state = cell(xt[off + v], [rec(off, kids, k) for k in kids[v]])
            outs.append((off + v, state[0]))
            return state

        for off, kids, root in children:
            rec(off, kids, root)
        idx = torch.tensor([i for i, _ in outs])
        h = torch.stack([s for _, s in outs])
        (h * dht[idx]).sum().backward()

    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64, help="trees per batch")
    ap.add_argument("--nodes", type=int, default=50, help="nodes per tree")
    ap.add_argument("--hidden", type=int, default=64, help="input and hidden size")
    ap.add_argument("--threads", type=int, default=0, help="0: rnnrs's default")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if args.threads:
        rnnrs.set_num_threads(args.threads)
    threads = rnnrs.get_num_threads()
    rng = np.random.default_rng(0)
    parents = [random_parents(rng, args.nodes) for _ in range(args.batch)]
    forest = Forest.from_parents(parents)
    n = forest.num_nodes
    x = rng.normal(size=(n, args.hidden)).astype(np.float32)
    dh = rng.normal(size=(n, args.hidden)).astype(np.float32)
    model = NaryTreeLSTM(args.hidden, args.hidden, arity=2, seed=0)

    def rnnrs_step():
        model.zero_grad()
        model.forward(forest, x, train=True)
        model.backward(dh)

    print(f"binary Tree-LSTM, {args.batch} trees x {args.nodes} nodes, D=H={args.hidden}, float32, "
          f"{threads} threads, {forest.num_levels} levels")
    t_rnnrs = timed(rnnrs_step, args.repeats)
    print(f"rnnrs  : {n / t_rnnrs:>12,.0f} nodes/s  ({t_rnnrs * 1e3:.2f} ms per forward+backward)")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch  : not installed (pip install torch to compare)")
        return
    t_torch = timed(torch_step_fn(parents, x, dh, model, threads), max(1, args.repeats // 2))
    print(f"torch  : {n / t_torch:>12,.0f} nodes/s  ({t_torch * 1e3:.2f} ms, one module call per node)")
    print(f"rnnrs / torch nodes/s: {t_torch / t_rnnrs:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
