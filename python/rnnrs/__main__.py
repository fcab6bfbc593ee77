"""``python -m rnnrs``: a one-minute demo, ``info`` and ``bench``.

    python -m rnnrs            # demo: ESN on Mackey-Glass, LSTM on Japanese Vowels, a char-RNN sample
    python -m rnnrs --quick    # the same in a few seconds (smoke test)
    python -m rnnrs info       # version, SIMD path, threads, CPU
    python -m rnnrs bench      # rnnrs timings, beside PyTorch / ReservoirPy when they are installed
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Callable

import numpy as np

import rnnrs


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def info() -> dict:
    """What ``python -m rnnrs info`` prints, as a dict."""
    return {
        "rnnrs": rnnrs.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "simd": rnnrs._core.simd_path(),
        "threads": rnnrs.get_num_threads(),
        "cores": os.cpu_count(),
        "cpu": _cpu(),
        "platform": platform.platform(),
    }


class _Bar:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done, self.t0 = label, max(total, 1), 0, time.perf_counter()

    def step(self, n: int = 1, note: str = "") -> None:
        self.done = min(self.done + n, self.total)
        filled = int(30 * self.done / self.total)
        sys.stderr.write(f"\r  {self.label:<22} [{'#' * filled}{'.' * (30 - filled)}] "
                         f"{self.done}/{self.total} {note:<24}")
        sys.stderr.flush()

    def close(self) -> float:
        sys.stderr.write("\n")
        return time.perf_counter() - self.t0


def demo_esn(quick: bool) -> float:
    """ESN one-step-ahead forecast of Mackey-Glass; returns the test NRMSE."""
    from rnnrs.datasets import mackey_glass, to_forecasting

    print("1. Echo-state network forecasting the Mackey-Glass series (tau = 17)")
    n_train, n_test = (1000, 200) if quick else (4000, 1000)
    series = mackey_glass(n_train + n_test + 1, seed=0).reshape(-1, 1)
    series = 2 * (series - series.min()) / (series.max() - series.min()) - 1
    x, y = to_forecasting(series, forecast=1)
    bar = _Bar("fitting", 2)
    esn = rnnrs.ESN(units=200 if quick else 500, spectral_radius=1.25, leak_rate=0.3, ridge=1e-7, seed=0)
    esn.fit(x[:n_train], y[:n_train], warmup=100)
    bar.step(note="readout solved")
    pred = esn.predict(x).reshape(-1, 1)[n_train:]  # run through the training part: no cold start
    bar.step(note="predicted")
    secs = bar.close()
    nrmse = float(np.sqrt(np.mean((pred - y[n_train:]) ** 2)) / np.std(y[n_train:]))
    print(f"   {esn.units} units, {n_train} training steps: test NRMSE {nrmse:.2e} ({secs:.1f} s)\n")
    return nrmse


def demo_vowels(quick: bool) -> float:
    """LSTM speaker classification on Japanese Vowels; returns the test accuracy."""
    from rnnrs.datasets import japanese_vowels

    print("2. LSTM classifying the speaker of Japanese Vowels (9 speakers, 12 cepstrum coefficients)")
    x_tr, y_tr, x_te, y_te = japanese_vowels()
    mean = np.concatenate(x_tr).mean(0)
    std = np.concatenate(x_tr).std(0)
    # Lists of (T_i, 12) sequences: fit pads them and passes their lengths to the layers.
    xtr = [((s - mean) / std).astype(np.float32) for s in x_tr]
    xte = [((s - mean) / std).astype(np.float32) for s in x_te]
    model = rnnrs.Sequential(rnnrs.LSTM(12, 64, seed=0), rnnrs.LastStep(), rnnrs.Linear(64, 9, seed=1))
    opt = rnnrs.optim.Adam(model.params, lr=5e-3)
    epochs = 5 if quick else 40
    bar = _Bar("training", epochs)

    def report(epoch, logs):
        bar.step(note=f"loss {logs['train_loss']:.3f}")
        return False

    rnnrs.train.fit(model, (xtr, y_tr), "cross_entropy", opt, epochs=epochs, batch_size=32, seed=0,
                    clip_norm=5.0, progress=False, callbacks=[report])
    secs = bar.close()
    acc = float(np.mean(model.predict(xte) == y_te))
    print(f"   {epochs} epochs on {len(x_tr)} utterances of 7-29 frames (with lengths): "
          f"test accuracy {acc:.1%} on {len(x_te)} ({secs:.1f} s)\n")
    return acc


def demo_char_rnn(quick: bool) -> str:
    """A tiny character-level LSTM on Python's own help text; returns a sample."""
    from pydoc_data.topics import topics

    from rnnrs.train import batchify, fit

    print("3. Character-level LSTM on Python's help text, then a sample")
    text = "".join(topics[k] for k in sorted(topics))[: 20_000 if quick else 200_000]
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.int64)
    model = rnnrs.Sequential(rnnrs.Embedding(len(chars), 32, seed=0), rnnrs.LSTM(32, 128, seed=1),
                             rnnrs.Linear(128, len(chars), seed=2))
    opt = rnnrs.optim.Adam(model.params, lr=5e-3)
    streams = batchify(ids, 32)
    epochs = 1 if quick else 3
    bar = _Bar("training", epochs)

    def report(epoch, logs):
        bar.step(note=f"{logs['train_loss']:.2f} nats/char")
        return False

    fit(model, (streams[:-1], streams[1:]), "cross_entropy", opt, tbptt=32, clip_norm=5.0, epochs=epochs,
        progress=False, callbacks=[report])
    secs = bar.close()
    rng = np.random.default_rng(0)
    seed_text = "The "
    logits, state = model(np.array([index[c] for c in seed_text]).reshape(-1, 1))
    out = []
    for _ in range(60 if quick else 200):
        z = logits[-1, 0].astype(np.float64) / 0.7
        p = np.exp(z - z.max())
        nxt = int(rng.choice(len(chars), p=p / p.sum()))
        out.append(chars[nxt])
        logits, state = model(np.array([[nxt]]), state)
    sample = seed_text + "".join(out)
    print(f"   {len(ids)} characters, {epochs} epoch(s) ({secs:.1f} s). Sample:\n   " + sample.replace("\n", "\n   "))
    return sample


def demo(quick: bool = False) -> dict:
    t0 = time.perf_counter()
    i = info()
    print(f"rnnrs {i['rnnrs']} demo ({i['threads']} threads, {i['simd']} kernels)\n")
    out = {"esn_nrmse": demo_esn(quick), "vowels_accuracy": demo_vowels(quick), "char_sample": demo_char_rnn(quick)}
    print(f"\ndone in {time.perf_counter() - t0:.0f} s. More: examples/ and the documentation.")
    return out


# --- bench -----------------------------------------------------------------------------------------


def _best(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench(repeats: int = 5) -> list:
    """Rows ``(task, rnnrs_ms, other_library, other_ms or None)``, measured in this run."""
    rows = []
    rng = np.random.default_rng(0)
    t, b, i, h = 100, 64, 128, 256
    x = rng.normal(size=(t, b, i)).astype(np.float32)
    lstm = rnnrs.LSTM(i, h, seed=0)
    ours = _best(lambda: lstm(x), repeats)
    theirs = None
    try:
        import torch

        torch.set_num_threads(rnnrs.get_num_threads())
        tl = torch.nn.LSTM(i, h)
        xt = torch.from_numpy(x)
        with torch.no_grad():
            theirs = _best(lambda: tl(xt), repeats)
    except ImportError:
        pass
    rows.append((f"LSTM forward T={t} B={b} I={i} H={h}", ours, "torch", theirs))

    def step():
        lstm.zero_grad()
        y, _ = lstm.forward(x)
        lstm.backward(np.ones_like(y), input_grad=False)

    ours = _best(step, repeats)
    theirs = None
    try:
        import torch

        tl = torch.nn.LSTM(i, h)
        xt = torch.from_numpy(x)

        def tstep():
            tl.zero_grad()
            y, _ = tl(xt)
            y.sum().backward()

        theirs = _best(tstep, repeats)
    except ImportError:
        pass
    rows.append(("LSTM forward+backward (same)", ours, "torch", theirs))

    u = rng.normal(size=(2000, 1))
    res = rnnrs.Reservoir(1000, spectral_radius=1.25, leak_rate=0.3, seed=0)
    res.run(u[:2])
    ours = _best(lambda: res.run(u), repeats)
    theirs = None
    try:
        import reservoirpy

        reservoirpy.verbosity(0)
        rp = reservoirpy.nodes.Reservoir(1000, sr=1.25, lr=0.3, seed=0)
        rp.run(u[:2])
        theirs = _best(lambda: rp.run(u), repeats)
    except ImportError:
        pass
    rows.append(("ESN run N=1000 T=2000", ours, "reservoirpy", theirs))
    return rows


def _print_bench(rows: list) -> None:
    i = info()
    print(f"rnnrs {i['rnnrs']} on {i['cpu']} ({i['threads']} threads, {i['simd']}); best of runs, ms")
    print(f"{'task':<36} {'rnnrs':>9} {'other':>22} {'ratio':>7}")
    for task, ours, lib, theirs in rows:
        other = f"{theirs * 1e3:9.2f} ({lib})" if theirs is not None else f"({lib} not installed)"
        ratio = f"{ours / theirs:7.2f}" if theirs else ""
        print(f"{task:<36} {ours * 1e3:9.2f} {other:>22} {ratio:>7}")


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rnnrs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="demo", choices=["demo", "info", "bench"])
    ap.add_argument("--quick", action="store_true", help="a few seconds instead of about a minute")
    ap.add_argument("--repeats", type=int, default=5, help="bench: timed runs per task (default 5)")
    args = ap.parse_args(argv)
    if args.command == "info":
        for k, v in info().items():
            print(f"{k:<9} {v}")
    elif args.command == "bench":
        _print_bench(bench(max(1, args.repeats if not args.quick else 1)))
    else:
        demo(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
