"""Next-frame prediction of bouncing squares with a ConvLSTM (`rnnrs.conv.ConvLSTM`, Shi et al. 2015).

Videos from `rnnrs.datasets.moving_shapes` (16x16 frames, two 4x4 squares bouncing at 1-2 pixels per
frame). A 2-layer ConvLSTM (3x3 kernels) reads frames 0..t and a 1x1 convolution + sigmoid predicts
frame t+1, trained with Adam on the MSE of every step. Reported: the test MSE next to the
copy-last-frame baseline (target: >= 30 % lower, within 10 minutes on 2 cores).

    python examples/convlstm_next_frame.py              # ~5 minutes budget
    python examples/convlstm_next_frame.py --quick      # seconds, smoke test
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
from rnnrs.conv import ConvLSTM, conv2d, conv2d_backward


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Predictor:
    """ConvLSTM -> 1x1 convolution -> sigmoid, over (T, B, 1, H, W)."""

    def __init__(self, hidden: int, layers: int, seed: int):
        self.rnn = ConvLSTM(1, hidden, kernel_size=3, num_layers=layers, seed=seed)
        rng = np.random.default_rng(seed + 1)
        self.head = {"weight": rng.normal(0, 0.3, (1, hidden, 1, 1)).astype(np.float32),
                     "bias": np.zeros(1, np.float32)}
        self.head_grads = {k: np.zeros_like(v) for k, v in self.head.items()}

    def params(self):
        return {**{f"rnn.{k}": v for k, v in self.rnn.params.items()},
                **{f"head.{k}": v for k, v in self.head.items()}}

    def grads(self):
        return {**{f"rnn.{k}": v for k, v in self.rnn.grads.items()},
                **{f"head.{k}": v for k, v in self.head_grads.items()}}

    def forward(self, x, train=False):
        h, _ = self.rnn.forward(x, train=train)
        T, B, C, H, W = h.shape
        flat = h.reshape(T * B, C, H, W)
        p = sigmoid(conv2d(flat, self.head["weight"], self.head["bias"]))
        self._saved = (flat, p, h.shape)
        return p.reshape(T, B, 1, H, W)

    def backward(self, dp):
        flat, p, shape = self._saved
        dz = (dp.reshape(p.shape) * p * (1 - p)).astype(np.float32)
        dflat, dw, db = conv2d_backward(flat, self.head["weight"], dz)
        self.head_grads["weight"] += dw
        self.head_grads["bias"] += db
        self.rnn.backward(dflat.reshape(shape))

    def zero_grad(self):
        self.rnn.zero_grad()
        for g in self.head_grads.values():
            g.fill(0)


def mse_next(model, video, batch=32):
    errs = []
    for s in range(0, video.shape[1], batch):
        v = video[:, s:s + batch]
        errs.append(np.mean((model.forward(v[:-1]) - v[1:]) ** 2) * v.shape[1])
    return float(np.sum(errs) / video.shape[1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=2000, help="training videos")
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--length", type=int, default=10)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds) for tests")
    args = ap.parse_args(argv)
    if args.quick:
        args.train, args.test, args.hidden, args.layers, args.minutes = 64, 32, 8, 1, 0.25

    train = rnnrs.datasets.moving_shapes(args.train, args.length, args.size, seed=args.seed)
    test = rnnrs.datasets.moving_shapes(args.test, args.length, args.size, seed=args.seed + 1)
    copy_last = float(np.mean((test[:-1] - test[1:]) ** 2))
    model = Predictor(args.hidden, args.layers, args.seed)
    opt = rnnrs.optim.Adam(model.params(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    print(f"moving shapes {args.size}x{args.size}, T={args.length}: {args.train} train / {args.test} test videos; "
          f"copy-last-frame test MSE {copy_last:.5f}")
    t0, step, epoch = time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < args.minutes * 60:
        perm = rng.permutation(args.train)
        for s in range(0, args.train, args.batch):
            v = train[:, perm[s:s + args.batch]]
            model.zero_grad()
            p = model.forward(v[:-1], train=True)
            model.backward(2.0 * (p - v[1:]) / p.size)
            grads = model.grads()
            rnnrs.clip_grad_norm_(grads, 1.0)
            opt.step(grads)
            step += 1
            if time.perf_counter() - t0 > args.minutes * 60:
                break
        epoch += 1
        print(f"epoch {epoch}: {step} updates, test MSE {mse_next(model, test):.5f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    mse = mse_next(model, test)
    gain = 1 - mse / copy_last
    print(f"\ntest MSE {mse:.5f} vs copy-last-frame {copy_last:.5f}: {100 * gain:.1f} % lower "
          f"({step} updates, {time.perf_counter() - t0:.0f} s)")
    return {"mse": mse, "copy_last": copy_last, "gain": gain}


if __name__ == "__main__":
    main()
