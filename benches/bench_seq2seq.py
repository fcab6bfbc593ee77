"""One training step of the date-translation seq2seq model, rnnrs vs PyTorch (when ``import torch`` works).

The model of examples/date_translation.py: character embeddings (32), LSTM
encoder (H=64) over padded sources with lengths, LSTM decoder with additive
(Bahdanau) attention (A=64), context fed into the decoder input and readout,
teacher forcing, masked cross-entropy, clip_grad_norm_(1.0), Adam. Batch 64
of dates (sources up to ~28 characters, targets 11 tokens).

PyTorch is written the way its tutorials do: ``nn.LSTM`` encoder over a
packed batch, an ``nn.LSTMCell`` decoder loop in Python with the attention
in tensor ops; same initial weights and data, so the first losses agree.

    python benches/bench_seq2seq.py --repeats 20 --threads 2

Prints the median and minimum time per step (ms) and, with torch, the ratio
rnnrs / torch (the project's target is <= 0.5).
"""

from __future__ import annotations

import argparse
import statistics
import time


import rnnrs
from rnnrs.datasets import CharVocab, dates
from rnnrs.seq2seq import Seq2Seq


def data(batch: int, seed: int):
    src, tgt = dates(batch, seed=seed)
    sv, tv = CharVocab(dates(5000, seed=99)[0] + src), CharVocab("0123456789-")
    x, xl = sv.encode(src)
    y, yl = tv.encode(tgt, eos=True)
    return sv, tv, x, xl, y, yl


def rnnrs_step_fn(args, sv, tv, x, xl, y, yl):
    model = Seq2Seq(len(sv), len(tv), 32, args.hidden, attention="additive", attention_dim=64, bos=tv.bos,
                    eos=tv.eos, seed=0)
    opt = rnnrs.optim.Adam(model.params, lr=1e-3)

    def step():
        model.zero_grad()
        loss = model.train_step(x, xl, y, yl)
        rnnrs.clip_grad_norm_(model.grads, 1.0)
        opt.step(model.grads)
        return loss

    return step, model.state_dict()


def torch_step_fn(args, sd, x, xl, y, yl, bos):
    import torch
    from torch import nn

    torch.set_num_threads(args.threads or rnnrs.get_num_threads())
    t = lambda k: torch.from_numpy(sd[k].copy())  # noqa: E731

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            h, e, a = args.hidden, 32, 64
            self.src_emb = nn.Embedding(sd["src_embedding.weight"].shape[0], e)
            self.tgt_emb = nn.Embedding(sd["tgt_embedding.weight"].shape[0], e)
            self.encoder = nn.LSTM(e, h, batch_first=True)
            self.cell = nn.LSTMCell(e + h, h)
            self.key = nn.Linear(h, a)
            self.query = nn.Linear(h, a, bias=False)
            self.v = nn.Parameter(torch.zeros(a))
            self.out = nn.Linear(2 * h, sd["out.bias"].shape[0])
            with torch.no_grad():
                self.src_emb.weight.copy_(t("src_embedding.weight"))
                self.tgt_emb.weight.copy_(t("tgt_embedding.weight"))
                for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                    getattr(self.encoder, n).copy_(t(f"encoder.{n}"))
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(self.cell, n).copy_(t(f"decoder.{n.replace('bias_', 'bias_')}"))
                self.key.weight.copy_(t("attention.key.weight"))
                self.key.bias.copy_(t("attention.key.bias"))
                self.query.weight.copy_(t("attention.query.weight"))
                self.v.copy_(t("attention.v"))
                self.out.weight.copy_(t("out.weight"))
                self.out.bias.copy_(t("out.bias"))

        def forward(self, src, src_len, tgt, tgt_len):
            packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_len, batch_first=True,
                                                       enforce_sorted=False)
            out, (h, c) = self.encoder(packed)
            keys, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
            h, c = h[0], c[0]
            mask = torch.arange(src.shape[1])[None, :] < src_len[:, None]
            proj = self.key(keys)
            prev = torch.full((src.shape[0],), bos, dtype=torch.long)
            losses = []
            for step in range(tgt.shape[1]):
                e = torch.tanh(proj + self.query(h)[:, None, :]) @ self.v
                alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
                ctx = torch.bmm(alpha[:, None, :], keys)[:, 0]
                h, c = self.cell(torch.cat([self.tgt_emb(prev), ctx], dim=1), (h, c))
                logits = self.out(torch.cat([h, ctx], dim=1))
                losses.append(nn.functional.cross_entropy(logits, tgt[:, step], reduction="none"))
                prev = tgt[:, step]  # teacher forcing
            valid = torch.arange(tgt.shape[1])[None, :] < tgt_len[:, None]
            return (torch.stack(losses, dim=1) * valid).sum() / valid.sum()

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs, xls, ys, yls = (torch.from_numpy(a) for a in (x, xl, y, yl))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = model(xs, xls, ys, yls)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(loss)

    return step


def timed(step, repeats: int):
    step()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        rnnrs.set_num_threads(args.threads)
    sv, tv, x, xl, y, yl = data(args.batch, seed=0)
    print(f"date seq2seq training step: batch {args.batch}, source length {x.shape[1]}, target length "
          f"{y.shape[1]}, H={args.hidden}, {rnnrs.get_num_threads()} threads")
    step, sd = rnnrs_step_fn(args, sv, tv, x, xl, y, yl)
    first = step()
    med, best = timed(step, args.repeats)
    print(f"  rnnrs  median {med:8.2f} ms   min {best:8.2f} ms   (first loss {first:.6f})")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("  torch  not installed: skipped")
        return
    tstep = torch_step_fn(args, sd, x, xl, y, yl, tv.bos)
    tfirst = tstep()
    tmed, tbest = timed(tstep, args.repeats)
    print(f"  torch  median {tmed:8.2f} ms   min {tbest:8.2f} ms   (first loss {tfirst:.6f})")
    print(f"  rnnrs / torch: median {med / tmed:.2f}, min {best / tbest:.2f}")


if __name__ == "__main__":
    main()
