"""Date normalisation with an attention seq2seq model ("Friday, March 5, 2021" -> "2021-03-05").

Trains `rnnrs.seq2seq.Seq2Seq` (LSTM encoder and decoder, additive attention,
teacher forcing) on human-written dates in 12 formats and reports the
exact-match accuracy of greedy decoding on 1 000 held-out dates (days that
never occur in the training set, in any format), then prints a few
attention maps as text (``--plot file.png`` also saves them with matplotlib).

    python examples/date_translation.py            # target: exact match >= 99 %
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs as rr
from rnnrs.datasets import CharVocab, dates
from rnnrs.seq2seq import Seq2Seq


def held_out_split(n_train: int, n_test: int, seed: int):
    """Training pairs, and test pairs whose *day* never occurs in training."""
    src, tgt = dates(n_train, seed=seed)
    seen = set(tgt)
    pool_src, pool_tgt = dates(4 * n_test + 2000, seed=seed + 1)
    test = [(s, t) for s, t in zip(pool_src, pool_tgt) if t not in seen][:n_test]
    if len(test) < n_test:
        raise RuntimeError("not enough held-out dates; lower --train-size")
    return (src, tgt), ([s for s, _ in test], [t for _, t in test])


def exact_match(model, src_vocab, tgt_vocab, src, tgt, batch=500):
    correct = 0
    for i in range(0, len(src), batch):
        x, xl = src_vocab.encode(src[i:i + batch])
        out = model.greedy(x, xl, max_len=12)
        pred = tgt_vocab.decode(out.tokens, out.lengths)
        correct += sum(p == t for p, t in zip(pred, tgt[i:i + batch]))
    return correct / len(src)


def show_attention(model, src_vocab, tgt_vocab, text: str) -> None:
    x, xl = src_vocab.encode([text])
    out = model.greedy(x, xl, max_len=12)
    pred = tgt_vocab.decode(out.tokens, out.lengths)[0]
    att = out.attention[0, :len(pred), :len(text)]
    print(f"\n{text!r} -> {pred!r}   (rows: output characters, columns: input; # >= 0.5, + >= 0.2, . >= 0.05)")
    print("     " + text)
    for ch, row in zip(pred, att):
        print(f"  {ch}  " + "".join("#" if a >= 0.5 else "+" if a >= 0.2 else "." if a >= 0.05 else " " for a in row))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds: 4 000 pairs, 3 epochs, H=32")
    ap.add_argument("--train-size", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=0, help="rnnrs threads (0: default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", type=float, default=0.99, help="stop once held-out accuracy reaches this")
    ap.add_argument("--plot", default=None, help="save the attention maps to this image (needs matplotlib)")
    args = ap.parse_args(argv)
    if args.quick:
        args.train_size, args.epochs, args.hidden, args.lr = 4000, 3, 32, 1e-2
    if args.threads:
        rr.set_num_threads(args.threads)

    (src, tgt), (test_src, test_tgt) = held_out_split(args.train_size, 1000, args.seed)
    src_vocab = CharVocab(src + test_src)
    tgt_vocab = CharVocab("0123456789-")
    x_all, xl_all = src_vocab.encode(src)
    y_all, yl_all = tgt_vocab.encode(tgt, eos=True)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), embedding_dim=32, hidden_size=args.hidden,
                    form="attention", attention="additive", attention_dim=64,
                    bos=tgt_vocab.bos, eos=tgt_vocab.eos, seed=args.seed)
    opt = rr.optim.Adam(model.params, lr=args.lr)
    print(f"{model}\n{len(src)} training pairs, {len(test_src)} held-out dates; "
          f"{sum(p.size for p in model.params.values())} parameters, {rr.get_num_threads()} threads")

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(src))
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            sl, tl = xl_all[idx], yl_all[idx]
            x, y = x_all[idx, :sl.max()], y_all[idx, :tl.max()]
            model.zero_grad()
            total += model.train_step(x, sl, y, tl) * len(idx)
            rr.clip_grad_norm_(model.grads, 1.0)
            opt.step(model.grads)
        acc = exact_match(model, src_vocab, tgt_vocab, test_src, test_tgt)
        print(f"epoch {epoch:2d}  loss {total / len(src):.4f}  held-out exact match {acc:.2%}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        if acc >= args.target:
            break
    wall = time.perf_counter() - start
    print(f"\nexact match on {len(test_src)} held-out dates: {acc:.2%} after {wall:.0f} s of training")
    result = {"accuracy": acc, "seconds": wall, "loss": total / len(src)}

    examples = ["Friday, March 5, 2021", "03/05/21", "5 March 2021", "SATURDAY 17 JULY 1999"]
    examples = [e for e in examples if all(c in src_vocab.index for c in e)]
    for e in examples:
        show_attention(model, src_vocab, tgt_vocab, e)
    beams = model.beam_search(*src_vocab.encode(examples), beam_width=4, max_len=12)
    print("\nbeam search (width 4):", tgt_vocab.decode(beams.tokens, beams.lengths))

    if args.plot:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(examples), figsize=(5 * len(examples), 4))
        for ax, e in zip(np.atleast_1d(axes), examples):
            x, xl = src_vocab.encode([e])
            out = model.greedy(x, xl, max_len=12)
            pred = tgt_vocab.decode(out.tokens, out.lengths)[0]
            ax.imshow(out.attention[0, :len(pred), :len(e)], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks(range(len(e)), list(e))
            ax.set_yticks(range(len(pred)), list(pred))
        fig.tight_layout()
        fig.savefig(args.plot)
        print(f"attention maps saved to {args.plot}")
    return result


if __name__ == "__main__":
    main()
