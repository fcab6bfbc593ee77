"""Character-level LSTM language model (in the spirit of Karpathy's min-char-rnn).

Trained on the text of Python's standard-library module ``pydoc_data.topics``
(every Python installation has it), with truncated BPTT over parallel streams:

    Embedding -> LSTM -> Linear -> softmax cross-entropy (next character)

It reports the validation loss in nats per character (a unigram model, which
ignores context, scores about 3.2), keeps the weights of the best validation
epoch, samples text with `rnnrs.generate` at two temperatures, and saves
a loss curve (``char_rnn_loss.png``) when matplotlib is installed.

    python examples/char_rnn.py --minutes 10        # the full run
    python examples/char_rnn.py --quick             # a few seconds, smoke test
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
from rnnrs.train import batchify, evaluate, fit


def load_corpus() -> str:
    from pydoc_data.topics import topics

    return "".join(topics[k] for k in sorted(topics))


def unigram_loss(train_ids: np.ndarray, val_ids: np.ndarray, vocab: int) -> float:
    """Cross-entropy (nats/char) of the training character frequencies on the validation text."""
    counts = np.bincount(train_ids, minlength=vocab) + 1.0  # add-one: every character has some probability
    logp = np.log(counts / counts.sum())
    return float(-logp[val_ids].mean())


def sample(model, chars: list, seed_text: str, length: int, temperature: float, seed: int) -> tuple[str, float]:
    """``length`` characters after ``seed_text`` from `rnnrs.generate`, and the characters per second."""
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in seed_text if c in index] or [0])
    t0 = time.perf_counter()
    out = rnnrs.generate(model, ids, length, temperature=temperature, seed=seed)
    rate = length / max(time.perf_counter() - t0, 1e-9)
    return seed_text + "".join(chars[i] for i in out), rate


def save_curve(history: dict, path: str, unigram: float) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, len(history["step_loss"]) + 1)
    ax.plot(steps, history["step_loss"], lw=0.6, alpha=0.6, label="train (per update)")
    ax.plot(history["step"], history["val_loss"], "o-", ms=3, label="validation")
    ax.axhline(unigram, color="grey", ls="--", lw=0.8, label="unigram")
    ax.set_xlabel("update")
    ax.set_ylabel("nats / char")
    ax.set_title("char-rnn on pydoc_data.topics")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="training time budget (default 10)")
    ap.add_argument("--hidden", type=int, default=256, help="LSTM hidden size (default 256)")
    ap.add_argument("--embed", type=int, default=64, help="embedding size (default 64)")
    ap.add_argument("--streams", type=int, default=64, help="parallel streams = batch size (default 64)")
    ap.add_argument("--bptt", type=int, default=64, help="TBPTT chunk length (default 64)")
    ap.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    ap.add_argument("--clip", type=float, default=5.0, help="gradient-norm clipping (default 5)")
    ap.add_argument("--epochs", type=int, default=10_000, help="epoch cap (default: the time budget decides)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds) for tests")
    ap.add_argument("--plot", default="char_rnn_loss.png", help="loss-curve PNG path ('' for none)")
    args = ap.parse_args(argv)
    if args.quick:
        # Bounded by epochs (the time cap is generous), so the result does not depend on the machine's load.
        args.minutes, args.epochs, args.hidden, args.embed, args.streams, args.bptt = 5.0, 4, 64, 16, 16, 32
        args.lr = 1e-2

    text = load_corpus()
    if args.quick:
        text = text[:60_000]
    chars = sorted(set(text))
    vocab = len(chars)
    ids = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = {ord(c): i for i, c in enumerate(chars)}
    ids = np.array([table[int(c)] for c in ids], dtype=np.int64)
    split = int(len(ids) * 0.9)
    train_ids, val_ids = ids[:split], ids[split:]
    unigram = unigram_loss(train_ids, val_ids, vocab)
    print(f"corpus: {len(ids)} characters, vocabulary {vocab}; train {len(train_ids)}, validation {len(val_ids)}")
    print(f"unigram baseline: {unigram:.3f} nats/char")

    model = rnnrs.Sequential(
        rnnrs.Embedding(vocab, args.embed, seed=args.seed),
        rnnrs.LSTM(args.embed, args.hidden, seed=args.seed + 1, forget_bias=1.0),
        rnnrs.Linear(args.hidden, vocab, seed=args.seed + 2),
    )
    optimizer = rnnrs.optim.Adam(model.params, lr=args.lr)
    train_streams = batchify(train_ids, args.streams)
    val_streams = batchify(val_ids, min(args.streams, 16))
    train_data = (train_streams[:-1], train_streams[1:])
    val_data = (val_streams[:-1], val_streams[1:])

    budget = args.minutes * 60.0
    t0 = time.perf_counter()

    def decay(epoch, logs):
        # Halve the learning rate for the last third of the budget: a cheap anneal.
        if logs["time"] > 2 * budget / 3 and optimizer.lr > args.lr / 2:
            optimizer.lr = args.lr / 2
        return False

    # The weights of the epoch with the best validation loss are kept at the end.
    history = fit(model, train_data, "cross_entropy", optimizer, tbptt=args.bptt, clip_norm=args.clip,
                  epochs=args.epochs, validation=val_data, progress=not args.quick, seed=args.seed,
                  callbacks=[decay], time_limit=budget, restore_best=True)
    wall = time.perf_counter() - t0
    val = evaluate(model, val_data, "cross_entropy", tbptt=256)
    print(f"\nvalidation loss: {val:.4f} nats/char (unigram {unigram:.3f}) after {len(history['step_loss'])} "
          f"updates, {len(history['epoch'])} epochs, {wall:.1f} s")
    for temperature in (args.temperature, 1.0):
        text, rate = sample(model, chars, "The ", 300 if not args.quick else 60, temperature, args.seed)
        print(f"--- sample (temperature {temperature}, {rate:.0f} characters/s) ---")
        print(text)
    print("---")
    if args.plot and not args.quick and save_curve(history, args.plot, unigram):
        print(f"loss curve saved to {args.plot}")
    return {"val_loss": val, "unigram": unigram, "seconds": wall, "history": history}


if __name__ == "__main__":
    main()
