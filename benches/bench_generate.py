"""Character generation speed of `rnnrs.generate` (token loop in Rust) against hand-written loops.

The model of examples/char_rnn.py: Embedding(96, 64) -> LSTM(256) -> Linear(256, 96),
float32, one thread. Rows:

- ``rnnrs.generate``, batch 1 and batch 16 (characters/s counts every row);
- the hand-written Python loop over the layers' `step` (``rnnrs.reference.sampling.generate_loop``,
  what `generate` was before), the baseline;
- PyTorch (when ``import torch`` works): the usual ``torch.no_grad()`` loop, one
  ``nn.LSTM`` call on a (1, 1, 64) input per character and ``torch.multinomial``.

    python benches/bench_generate.py [--length 20000] [--threads 1]

The target of the project is >= 50 000 characters/s at batch 1 on one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
from rnnrs.reference.sampling import generate_loop


def model(vocab: int, embed: int, hidden: int):
    return rnnrs.Sequential(rnnrs.Embedding(vocab, embed, seed=0), rnnrs.LSTM(embed, hidden, seed=1),
                            rnnrs.Linear(hidden, vocab, seed=2))


def rate(fn, chars: int, repeats: int) -> float:
    best = min(_time(fn) for _ in range(repeats))
    return chars / best


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def torch_rate(m, length: int, repeats: int, threads: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    emb, lstm, head = list(m)
    e = torch.nn.Embedding(*emb.weight.shape)
    rnn = torch.nn.LSTM(lstm.input_size, lstm.hidden_size)
    lin = torch.nn.Linear(head.in_features, head.out_features)
    with torch.no_grad():
        e.weight.copy_(torch.from_numpy(emb.weight))
        for k, v in lstm.state_dict().items():
            getattr(rnn, k).copy_(torch.from_numpy(v))
        lin.weight.copy_(torch.from_numpy(head.weight))
        lin.bias.copy_(torch.from_numpy(head.bias))
    gen = torch.Generator().manual_seed(0)

    def run():
        with torch.no_grad():
            tok, state = torch.tensor([[1]]), None
            for _ in range(length):
                y, state = rnn(e(tok), state)
                p = torch.softmax(lin(y[0, 0]), dim=-1)
                tok = torch.multinomial(p, 1, generator=gen).view(1, 1)

    return rate(run, length, repeats)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=20000, help="characters per rnnrs run (default 20000)")
    ap.add_argument("--vocab", type=int, default=96)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rnnrs.set_num_threads(args.threads)
    m = model(args.vocab, args.embed, args.hidden)
    prime = np.array([1, 2, 3])
    n, slow = args.length, max(args.length // 20, 200)
    rows = [
        ("rnnrs.generate, batch 1, T=1.0", rate(lambda: rnnrs.generate(m, prime, n, seed=0), n, args.repeats)),
        ("rnnrs.generate, batch 1, T=0.8 top_k=10",
         rate(lambda: rnnrs.generate(m, prime, n, temperature=0.8, top_k=10, seed=0), n, args.repeats)),
        ("rnnrs.generate, batch 16, T=1.0",
         rate(lambda: rnnrs.generate(m, np.tile(prime, (16, 1)), n // 16, seed=0), n // 16 * 16, args.repeats)),
        ("Python loop over layer.step (baseline)",
         rate(lambda: generate_loop(m, prime, slow, seed=0), slow, 1)),
    ]
    t = torch_rate(m, slow, 1, args.threads)
    if t is not None:
        rows.append(("PyTorch no_grad loop, batch 1", t))
    print(f"char-RNN Embedding({args.vocab}, {args.embed}) -> LSTM({args.hidden}) -> Linear, float32, "
          f"{args.threads} thread(s)")
    base = rows[3][1]
    for name, r in rows:
        print(f"  {name:42s} {r:12,.0f} chars/s  ({r / base:6.1f}x the Python loop)")


if __name__ == "__main__":
    main()
