"""One training step of model A, rnnrs vs PyTorch (when ``import torch`` works).

Model A: LSTM (T=100, B=64, I=128, H=256) -> Linear(256, C) -> cross-entropy on
every step -> clip_grad_norm_(1.0) -> Adam. A step is zero_grad, forward,
loss, backward, clipping and the optimizer update, on the same data and
initial weights in both libraries, with the same thread count.

    python benches/bench_train_step.py --repeats 10
    python benches/bench_train_step.py --threads 2 --classes 64

Prints the median and the minimum time per step (ms) and, with torch, the
ratio rnnrs / torch (the project's target is <= 0.7).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import rnnrs


def rnnrs_step_fn(x, targets, args):
    model = rnnrs.Sequential(rnnrs.LSTM(args.input, args.hidden, seed=0), rnnrs.Linear(args.hidden, args.classes,
                                                                                      seed=1))
    opt = rnnrs.optim.Adam(model.params, lr=1e-3)

    def step():
        model.zero_grad()
        logits, _ = model.forward(x, None, train=True)
        loss, dlogits = rnnrs.train.sequence_cross_entropy(logits, targets)
        model.backward(dlogits, input_grad=False)  # as torch: the data does not require grad
        rnnrs.clip_grad_norm_(model.grads, 1.0)
        opt.step(model.grads)
        return float(loss)

    return step, model.state_dict()


def torch_step_fn(x, targets, state_dict, args):
    import torch

    torch.set_num_threads(args.threads or rnnrs.get_num_threads())
    lstm = torch.nn.LSTM(args.input, args.hidden)
    lin = torch.nn.Linear(args.hidden, args.classes)
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            p.copy_(torch.from_numpy(state_dict[f"0.{name}"]))
        for name, p in lin.named_parameters():
            p.copy_(torch.from_numpy(state_dict[f"1.{name}"]))
    params = list(lstm.parameters()) + list(lin.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    xt, tt = torch.from_numpy(x), torch.from_numpy(targets)

    def step():
        opt.zero_grad(set_to_none=False)
        y, _ = lstm(xt)
        logits = lin(y)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, args.classes), tt.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return float(loss)

    return step


def timed(step, warmup: int, repeats: int):
    losses = [step() for _ in range(warmup)]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)
    return times, losses


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10, help="timed steps (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--threads", type=int, default=0, help="threads for both libraries (0: rnnrs' default)")
    ap.add_argument("--seq", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--input", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--classes", type=int, default=128, help="readout classes (default 128)")
    ap.add_argument("--no-torch", action="store_true", help="time rnnrs only")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")
    if args.threads:
        rnnrs.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.seq, args.batch, args.input)).astype(np.float32)
    targets = rng.integers(0, args.classes, size=(args.seq, args.batch)).astype(np.int64)
    print(f"model A: LSTM T={args.seq} B={args.batch} I={args.input} H={args.hidden} + Linear({args.hidden}, "
          f"{args.classes}) + CE + clip + Adam; threads={rnnrs.get_num_threads()}")

    step, sd = rnnrs_step_fn(x, targets, args)
    results = {"rnnrs": timed(step, args.warmup, args.repeats)}
    if not args.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not importable: timing rnnrs alone")
        else:
            results["torch"] = timed(torch_step_fn(x, targets, sd, args), args.warmup, args.repeats)
    for name, (times, losses) in results.items():
        print(f"{name:>6}: median {1e3 * statistics.median(times):8.1f} ms/step, min {1e3 * min(times):8.1f} ms, "
              f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    if "torch" in results:
        ratio = statistics.median(results["rnnrs"][0]) / statistics.median(results["torch"][0])
        print(f"ratio rnnrs / torch (median): {ratio:.2f}")


if __name__ == "__main__":
    main()
