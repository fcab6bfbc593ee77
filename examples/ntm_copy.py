"""Neural Turing Machine on the copy task (Graves et al. 2014): 8-bit vectors, lengths 1-20.

Defaults follow Collier & Beel (2018): constant memory initialisation (1e-6), Adam (lr 1e-3, one
sequence per update), gradient norm clipping (10), LSTM controller of 100 units, memory 128 x 20, one read and one write head. Training
stops when fresh sequences of lengths 1-20 are copied with <= 0.1 wrong bits per sequence (or at the
time budget); then the error on longer sequences (30, 40, 60: generalisation beyond training) is
reported and the read/write weightings of one sequence are saved (and drawn as text).

    python examples/ntm_copy.py                       # 20-minute budget
    python examples/ntm_copy.py --minutes 2 --seed 3 --json    # one line of results (robustness runs)
    python examples/ntm_copy.py --controller ff       # feed-forward controller (learns copy more slowly)
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import rnnrs as rr
from rnnrs.datasets import bit_errors, copy_task


def bce_and_grad(logits, target, mask):
    """Mean over sequences of the summed binary cross-entropy of the scored bits, and its gradient."""
    b = logits.shape[1]
    p = 1.0 / (1.0 + np.exp(-logits))
    m = mask[..., None]
    loss = (m * (np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits))))).sum() / b
    return float(loss), (m * (p - target) / b).astype(logits.dtype)


def evaluate(ntm, length, n=100, seed=12345, batch=50):
    """Mean wrong bits per sequence on `n` fresh sequences."""
    g = np.random.default_rng(seed)
    errs = []
    for _ in range(max(1, n // batch)):
        x, y, m = copy_task(batch, length, rng=g)
        errs.append(bit_errors(ntm(x), y, m))
    return float(np.concatenate(errs).mean())


def draw(w, half=16):
    """One text row per step: '#' where the weighting exceeds 0.5, '+' above 0.1, for the slots
    -half..half-1 around slot 0 (the heads start at slot 0 and may move either way, circularly)."""
    w = np.roll(w, half, axis=1)[:, : 2 * half]
    return "\n".join("".join("#" if v > 0.5 else ("+" if v > 0.1 else ".") for v in row) for row in w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=10.0)
    ap.add_argument("--target", type=float, default=0.1, help="wrong bits per sequence to stop at")
    ap.add_argument("--eval-every", type=int, default=500, help="batches between evaluations")
    ap.add_argument("--save", default=None, help="save parameters and weightings to this .npz")
    ap.add_argument("--json", action="store_true", help="print one JSON line of results only")
    ap.add_argument("--controller", default="lstm",
                    help="'lstm' (default), 'gru', 'rnn_tanh', ... or 'ff' (feed-forward, no state of its own)")
    ap.add_argument("--controller-size", type=int, nargs="+", default=[100],
                    help="units (feed-forward: one size per layer)")
    ap.add_argument("--activation", default="tanh", help="the feed-forward controller's activation")
    args = ap.parse_args()

    size = args.controller_size if args.controller == "ff" else args.controller_size[0]
    activation = args.activation if args.controller == "ff" else "tanh"
    ntm = rr.NTM(9, 8, controller=args.controller, controller_size=size, activation=activation, memory_slots=128,
                 memory_width=20, read_heads=1, write_heads=1, shift_range=1, memory_init=1e-6, dtype=np.float32,
                 seed=args.seed)
    opt = rr.optim.Adam(ntm.params, lr=args.lr)
    rng = np.random.default_rng(args.seed + 1)
    say = (lambda *a: None) if args.json else print
    t0 = time.perf_counter()
    seen, step, err, nan = 0, 0, float("inf"), False
    history = []
    while time.perf_counter() - t0 < 60 * args.minutes:
        x, y, m = copy_task(args.batch, (1, 20), rng=rng)
        logits = ntm.forward(x, train=True)
        loss, dy = bce_and_grad(logits, y, m)
        if not math.isfinite(loss):
            nan = True
            say(f"non-finite loss at sequence {seen}")
            break
        ntm.zero_grad()
        ntm.backward(dy)
        rr.clip_grad_norm_(ntm.grads, args.clip)
        opt.step(ntm.grads)
        seen += args.batch
        step += 1
        if step % args.eval_every == 0:
            err = evaluate(ntm, (1, 20))
            elapsed = time.perf_counter() - t0
            history.append((seen, elapsed, err))
            say(f"{seen:8d} sequences  {elapsed:7.1f} s  loss {loss / 8:8.4f} bits/seq-bit  error {err:7.3f} bits/seq")
            if err <= args.target:
                break
    elapsed = time.perf_counter() - t0
    converged = err <= args.target
    gen = {L: evaluate(ntm, L, n=50) for L in (20, 30, 40, 60)} if not nan else {}
    result = dict(controller=args.controller, seed=args.seed, converged=converged, nan=nan, sequences=seen, seconds=round(elapsed, 1),
                  error=err, generalisation=gen)
    if args.json:
        print(json.dumps(result))
        return
    print(f"\n{'converged' if converged else 'NOT converged'} after {seen} sequences in {elapsed:.0f} s "
          f"(error {err:.3f} wrong bits per sequence on lengths 1-20)")
    for L, e in gen.items():
        print(f"  length {L:3d}: {e:7.2f} wrong bits per sequence (of {8 * L})")
    x, y, m = copy_task(1, 10, rng=np.random.default_rng(7))
    ntm.forward(x, train=True)
    w = ntm.weightings()[:, 0]  # (T, heads, N)
    print("\nread head weighting, one row per step (columns: slots -16..15):\n" + draw(w[:, 0]))
    print("\nwrite head weighting:\n" + draw(w[:, 1]))
    if args.save:
        np.savez(args.save, read=w[:, 0], write=w[:, 1], history=np.array(history), **ntm.state_dict())
        print(f"saved parameters and weightings to {args.save}")


if __name__ == "__main__":
    main()
