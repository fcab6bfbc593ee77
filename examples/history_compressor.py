"""Neural history compressor (Schmidhuber 1992) on a stream of predictable chunks with rare surprises.

The stream is made of words ``[a, f_1 .. f_L, b(a)]``: a random key ``a`` (one of K), a fixed filler chunk
of L symbols, and an answer ``b`` determined by the key. Level 0 (an LSTM trained with truncated BPTT
over windows shorter than L) learns the filler but cannot bridge the L-step lag from a key to its
answer, so keys and answers are its surprises. Level 1 sees only those surprises (with time stamps):
for it the answer follows its key at lag 1, so the stack predicts the answers that level 0 cannot.
Printed: the compression ratio (inputs seen by level 1 / by level 0) and next-symbol accuracy and
log-loss at level 0's surprises, for level 0 alone, the stack, and level 0 after collapsing the stack
into it.

    python examples/history_compressor.py [--keys 4] [--filler 10] [--window 4] [--epochs 15]
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnrs as rr


def chunk_stream(n_words, keys, filler, rng):
    """Words [a, filler..., answer(a)] with a uniform key; symbols: keys, answers, filler."""
    out = []
    for a in rng.integers(0, keys, size=n_words):
        out += [a] + list(range(2 * keys, 2 * keys + filler)) + [keys + a]
    return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--filler", type=int, default=10)
    ap.add_argument("--window", type=int, default=4)
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    vocab = 2 * args.keys + args.filler
    train = chunk_stream(args.words, args.keys, args.filler, rng)
    test = chunk_stream(100, args.keys, args.filler, rng)
    hc = rr.HistoryCompressor(vocab, levels=2, hidden_size=32, window=args.window, threshold=0.5,
                              seed=args.seed).fit(train, epochs=args.epochs)
    print(f"stream of {len(train)} symbols; level 1 saw {len(hc.events_[1])} of them: "
          f"compression ratio {hc.compression_ratio_:.3f} (ideal 2/(L+2) = {2 / (args.filler + 2):.3f})")
    r = hc.score(test)
    print(f"\non a fresh stream ({r['surprises']} surprises of level 0 among {len(test) - 1} predictions):")
    print(f"{'':28}{'accuracy':>10}{'at surprises':>14}{'surprise NLL':>14}")
    print(f"{'level 0 alone':28}{r['level0_accuracy']:10.3f}{r['level0_surprise_accuracy']:14.3f}"
          f"{r['level0_surprise_nll']:14.3f}")
    print(f"{'stack (level 0 + level 1)':28}{r['stack_accuracy']:10.3f}{r['stack_surprise_accuracy']:14.3f}"
          f"{r['stack_surprise_nll']:14.3f}")
    print(f"(keys are random: the best possible accuracy at the surprises is (1 + 1/K)/2 = "
          f"{(1 + 1 / args.keys) / 2:.3f})")
    hc.collapse(train, epochs=args.epochs)
    c = hc.score(test)
    print(f"{'level 0 after collapse':28}{c['level0_accuracy']:10.3f}"
          f"  (surprises of the collapsed level 0: {c['surprises']}, accuracy there "
          f"{c['level0_surprise_accuracy']:.3f})")


if __name__ == "__main__":
    main()
