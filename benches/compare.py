"""Speed of rnnrs's recurrent layers against the NumPy reference and PyTorch.

For each workload (T, B, I, H), mode, dtype, thread count and pass (forward =
inference, fwd+bwd = training forward + BPTT) prints the rnnrs time, the
achieved GFLOP/s (multiply-adds x 2 of the matrix products; backward counted
as twice the forward) and the time ratios rnnrs/NumPy-reference and
rnnrs/PyTorch (when `import torch` works; otherwise "-").

The NumPy reference is slow: it is timed once on the first `--ref-steps`
time steps and scaled linearly to T (marked "~" in the table).

A second table times variable-length batches (workload A's sizes, lengths
uniform in [25, 100]): rnnrs with ``lengths`` against rnnrs on the padded
full-length batch and against PyTorch's packed path
(``pack_padded_sequence(enforce_sorted=False)`` -> module -> ``pad_packed_sequence``).

    python benches/compare.py                 # everything (several minutes)
    python benches/compare.py --quick --workloads A,B --modes LSTM
    python benches/compare.py --simd avx2     # both libraries capped to AVX2
    python benches/compare.py --rounds 5      # median and spread of 5 rounds (noisy machines)

`--simd PATH` re-runs the benchmark in a subprocess with rnnrs
(`RNNRS_SIMD`) and PyTorch (`ATEN_CPU_CAPABILITY`, `MKL_ENABLE_INSTRUCTIONS`,
`ONEDNN_MAX_CPU_ISA`) capped to the same instruction set, so AVX2-class
hardware is measured on an AVX-512 machine (the variables must be set
before either library loads).

The "roof" column is the row's speed as a fraction of rnnrs's own GEMM on
the same path and threads: the time `rnnrs._core.gemm_seconds` takes for the
row's matrix products (per layer and direction the input projection
(T*B, I) x (I, G*H) and T recurrent products (B, H) x (H, G*H); backward
counted as twice the forward) divided by the row's time. 1.0 = as fast as
the bare GEMMs of the same shapes.

    python benches/compare.py --quick --workloads none --packed-modes LSTM --no-step   # packed table only

A third table times streaming: a T = 1 call and `layer.step` (B = 1, one
thread) against the per-step time of a 200-step call and PyTorch's T = 1 call.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

import numpy as np
import rnnrs
from rnnrs import _core
from rnnrs.reference import layers as ref

WORKLOADS = {
    #     T,   B,   I,   H, layers, bidirectional
    "A": (100, 64, 128, 256, 1, False),
    "B": (100, 1, 32, 64, 1, False),
    "C": (1000, 16, 64, 128, 1, False),
    "D": (50, 128, 512, 512, 1, False),
    "E": (100, 64, 128, 256, 2, True),
}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
CLASSES = {"LSTM": rnnrs.LSTM, "GRU": rnnrs.GRU, "RNN": rnnrs.RNN}
REF_MODE = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN_TANH"}

try:  # optional
    import torch
except Exception:  # noqa: BLE001 - any import failure means "no torch"
    torch = None


def forward_flops(mode, T, B, I, H, layers, bidir):
    d = 2 if bidir else 1
    total = 0
    for layer in range(layers):
        i = I if layer == 0 else d * H
        total += d * 2 * T * B * GATES[mode] * H * (i + H)
    return total


# Environment capping both libraries to one instruction set (see --simd).
SIMD_ENV = {
    "avx512": {"RNNRS_SIMD": "avx512", "ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
               "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "avx2": {"RNNRS_SIMD": "avx2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "scalar": {"RNNRS_SIMD": "scalar", "ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
               "ONEDNN_MAX_CPU_ISA": "SSE41"},
}
CHILD_MARK = "_RNNRS_COMPARE_SIMD_CHILD"


def rerun_capped(simd: str) -> int:
    """Runs this script again with both libraries capped to `simd`; returns its exit code."""
    env = dict(os.environ, **SIMD_ENV[simd], **{CHILD_MARK: "1"})
    return subprocess.call([sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env=env)


def layer_gemm_seconds(mode, dtype, T, B, I, H, layers, bidir, cache):
    """Time of the forward matrix products of a layer stack through rnnrs's GEMM (current threads)."""
    def gemm(m, k, n):
        key = (m, k, n, dtype, rnnrs.get_num_threads())
        if key not in cache:
            cache[key] = _core.gemm_seconds(m, k, n, np.dtype(dtype).name, 3)
        return cache[key]

    d = 2 if bidir else 1
    g = GATES[mode]
    total = 0.0
    for layer in range(layers):
        i = I if layer == 0 else d * H
        total += d * (gemm(T * B, i, g * H) + T * gemm(B, H, g * H))
    return total


CLOCK = time.perf_counter  # --cpu-time switches to time.process_time (all threads' CPU time)


def best_time(fn, budget: float, max_reps: int) -> float:
    """Minimum time of `fn()` over repeats within about `budget` seconds (after one warm-up)."""
    t0 = CLOCK()
    fn()
    first = CLOCK() - t0
    reps = max(1, min(max_reps, int(budget / max(first, 1e-9))))
    best = first
    for _ in range(reps):
        t0 = CLOCK()
        fn()
        best = min(best, CLOCK() - t0)
    return best


def rnnrs_fns(mode, dtype, T, B, I, H, layers, bidir):
    layer = CLASSES[mode](I, H, num_layers=layers, bidirectional=bidir, dtype=dtype, seed=0)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(dtype)
    y, _ = layer(x)
    dy = np.ones_like(y)

    def fwd():
        layer(x)

    def train():
        layer.forward(x, train=True)
        layer.backward(dy)

    return fwd, train


def reference_time(mode, dtype, T, B, I, H, layers, bidir, steps, budget):
    """(forward, fwd+bwd) seconds of the NumPy reference, scaled from `steps` steps to T."""
    steps = min(steps, T)
    rng = np.random.default_rng(0)
    p = ref.init_params(REF_MODE[mode], I, H, num_layers=layers, bidirectional=bidir, dtype=dtype, rng=rng)
    x = rng.standard_normal((steps, B, I)).astype(dtype)

    def fwd():
        return ref.rnn_forward(REF_MODE[mode], x, p, num_layers=layers, bidirectional=bidir)

    def train():
        y, _, _, cache = fwd()
        ref.rnn_backward(cache, np.ones_like(y))

    scale = T / steps
    return best_time(fwd, budget, 2) * scale, best_time(train, budget, 2) * scale


def torch_fns(mode, dtype, T, B, I, H, layers, bidir):
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[mode]
    m = cls(I, H, num_layers=layers, bidirectional=bidir).to(tdt)
    x = torch.randn(T, B, I, dtype=tdt)
    x_req = x.clone().requires_grad_(True)

    def fwd():
        with torch.no_grad():
            m(x)

    def train():
        y, _ = m(x_req)
        y.backward(torch.ones_like(y))

    return fwd, train


PACKED = (100, 64, 128, 256)  # T, B, I, H; lengths uniform in [25, T]


def packed_fns(mode, dtype, lengths):
    """(packed forward, packed fwd+bwd, padded forward, padded fwd+bwd) of rnnrs."""
    T, B, I, H = PACKED
    layer = CLASSES[mode](I, H, dtype=dtype, seed=0)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(dtype)
    dy = np.ones((T, B, H), dtype=dtype)

    def run(lens, train):
        if train:
            layer.forward(x, train=True, lengths=lens)
            layer.backward(dy)
        else:
            layer(x, lengths=lens)

    return [lambda lens=lens, tr=tr: run(lens, tr) for lens in (lengths, None) for tr in (False, True)]


def torch_packed_fns(mode, dtype, lengths):
    """(forward, fwd+bwd) of PyTorch's packed path on the same batch."""
    T, B, I, H = PACKED
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[mode]
    m = cls(I, H).to(tdt)
    x = torch.randn(T, B, I, dtype=tdt)
    x_req = x.clone().requires_grad_(True)
    lens = torch.as_tensor(lengths)
    pack = torch.nn.utils.rnn.pack_padded_sequence
    unpack = torch.nn.utils.rnn.pad_packed_sequence

    def fwd():
        with torch.no_grad():
            unpack(m(pack(x, lens, enforce_sorted=False))[0], total_length=T)

    def train():
        y, _ = unpack(m(pack(x_req, lens, enforce_sorted=False))[0], total_length=T)
        y.backward(torch.ones_like(y))

    return fwd, train


def packed_table(args, budget, max_reps):
    T, B, I, H = PACKED
    lengths = np.random.default_rng(1).integers(25, T + 1, size=B)
    print(f"\n# variable lengths: T={T}, B={B}, I={I}, H={H}, lengths uniform in [25, {T}] "
          f"(mean {lengths.mean():.1f}); packed = rnnrs with lengths, padded = rnnrs on the full batch")
    print("| mode | dtype | thr | pass | packed ms | padded ms | packed/padded | torch packed ms | vs torch |")
    print("|" + "---|" * 9)
    for mode in args.packed_modes.split(","):
        for dname in args.dtypes.split(","):
            dtype = np.dtype(dname).type
            for nt in (int(n) for n in args.threads.split(",")):
                rnnrs.set_num_threads(nt)
                fns = packed_fns(mode, dtype, lengths)
                tfns = (None, None)
                if torch is not None:
                    torch.set_num_threads(nt)
                    tfns = torch_packed_fns(mode, dtype, lengths)
                for k, pname in enumerate(("forward", "fwd+bwd")):
                    packed = best_time(fns[k], budget, max_reps)
                    padded = best_time(fns[2 + k], budget, max_reps)
                    tt = best_time(tfns[k], budget, max_reps) if tfns[k] is not None else None
                    print(f"| {mode} | {dname} | {nt} | {pname} | {packed * 1e3:.2f} | {padded * 1e3:.2f} "
                          f"| {packed / padded:.2f} | {'-' if tt is None else f'{tt * 1e3:.2f}'} "
                          f"| {'-' if tt is None else f'{packed / tt:.2f}'} |", flush=True)


def step_table(args, budget, max_reps):
    """Streaming: one step (B = 1, one thread) against the per-step time of a 200-step call."""
    print("\n# streaming, LSTM, B = 1, I = 128, 1 thread: a T = 1 call and layer.step against the per-step "
          "time inside one 200-step call, and PyTorch's T = 1 call")
    print("| H | dtype | T=1 call us | step us | per step of T=200 us | step / per-step | torch T=1 us | vs torch |")
    print("|" + "---|" * 8)
    rnnrs.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    for h in (256, 512):
        for dname in args.dtypes.split(","):
            dtype = np.dtype(dname).type
            layer = rnnrs.LSTM(128, h, dtype=dtype, seed=0)
            x = np.random.default_rng(0).standard_normal((200, 1, 128)).astype(dtype)
            _, state = layer(x[:1])
            one = best_time(lambda: layer(x[:1], state), budget, 50 * max_reps)
            step = best_time(lambda: layer.step(x[0], state), budget, 50 * max_reps)
            per_step = best_time(lambda: layer(x), budget, max_reps) / 200
            tt = None
            if torch is not None:
                tdt = torch.float32 if dtype == np.float32 else torch.float64
                m = torch.nn.LSTM(128, h).to(tdt)
                xt = torch.randn(1, 1, 128, dtype=tdt)
                with torch.no_grad():
                    _, st = m(xt)

                    def tstep():
                        with torch.no_grad():
                            m(xt, st)

                    tt = best_time(tstep, budget, 50 * max_reps)
            print(f"| {h} | {dname} | {one * 1e6:.1f} | {step * 1e6:.1f} | {per_step * 1e6:.1f} "
                  f"| {step / per_step:.2f} | {'-' if tt is None else f'{tt * 1e6:.1f}'} "
                  f"| {'-' if tt is None else f'{step / tt:.2f}'} |", flush=True)


def main_table(args, budget, max_reps, round_no):
    """One round of the main table, printed as it runs; returns {row key: (ms, roof, vs torch)}.

    The GEMM reference of the roof column is re-timed in every round, so a
    round's roof and its row time come from the same minutes."""
    header = ("| load | mode | dtype | thr | pass | rnnrs ms | GFLOP/s | roof | vs NumPy | vs torch |")
    if args.rounds > 1:
        print(f"\n# round {round_no + 1} of {args.rounds}")
    print(header)
    print("|" + "---|" * 10)
    gemm_cache = {}
    out = {}
    for w in args.workloads.split(","):
        if w == "none":
            continue
        T, B, I, H, layers, bidir = WORKLOADS[w]
        for mode in args.modes.split(","):
            flops = forward_flops(mode, T, B, I, H, layers, bidir)
            for dname in args.dtypes.split(","):
                dtype = np.dtype(dname).type
                refs = (None, None)
                if not args.no_ref and round_no == 0:
                    refs = reference_time(mode, dtype, T, B, I, H, layers, bidir, args.ref_steps, budget)
                for nt in (int(n) for n in args.threads.split(",")):
                    rnnrs.set_num_threads(nt)
                    fns = rnnrs_fns(mode, dtype, T, B, I, H, layers, bidir)
                    roof_s = None
                    if not args.no_roof:
                        roof_s = layer_gemm_seconds(mode, dtype, T, B, I, H, layers, bidir, gemm_cache)
                    tfns = (None, None)
                    if torch is not None:
                        torch.set_num_threads(nt)
                        tfns = torch_fns(mode, dtype, T, B, I, H, layers, bidir)
                    for k, (pname, mult) in enumerate((("forward", 1), ("fwd+bwd", 3))):
                        t = best_time(fns[k], budget, max_reps)
                        gflops = mult * flops / t / 1e9
                        vs_ref = f"~{t / refs[k]:.3f}" if refs[k] else "-"
                        roof = mult * roof_s / t if roof_s else None
                        vs_torch = None
                        if tfns[k] is not None:
                            vs_torch = t / best_time(tfns[k], budget, max_reps)
                        out[(w, mode, dname, nt, pname)] = (t * 1e3, roof, vs_torch)
                        print(f"| {w} | {mode} | {dname} | {nt} | {pname} | {t * 1e3:.2f} | {gflops:.1f} "
                              f"| {_fmt(roof)} | {vs_ref} | {_fmt(vs_torch)} |", flush=True)
    return out


def _fmt(v):
    return "-" if v is None else f"{v:.2f}"


def _median_spread(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return "-"
    n = len(vals)
    med = vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])
    return f"{med:.2f} ({vals[0]:.2f}-{vals[-1]:.2f})"


def summary_table(rounds):
    """Median and spread (min-max) over the rounds of every row's time, roof and torch ratio."""
    print(f"\n# median (min-max) over {len(rounds)} interleaved rounds")
    print("| load | mode | dtype | thr | pass | rnnrs ms | roof | vs torch |")
    print("|" + "---|" * 8)
    for key in rounds[0]:
        cols = list(zip(*(r[key] for r in rounds if key in r)))
        w, mode, dname, nt, pname = key
        print(f"| {w} | {mode} | {dname} | {nt} | {pname} | {_median_spread(cols[0])} | "
              f"{_median_spread(cols[1])} | {_median_spread(cols[2])} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (noisier, much faster)")
    ap.add_argument("--workloads", default="A,B,C,D,E")
    ap.add_argument("--modes", default="LSTM,GRU,RNN")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--ref-steps", type=int, default=10, help="time steps the NumPy reference runs (scaled)")
    ap.add_argument("--no-ref", action="store_true", help="skip the NumPy reference")
    ap.add_argument("--packed-modes", default="LSTM,GRU",
                    help="modes of the variable-length table ('none' to skip it)")
    ap.add_argument("--no-step", action="store_true", help="skip the streaming (one-step) table")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with process CPU time instead of wall time (steadier on a loaded machine; "
                         "meaningful for 1 thread, where CPU time = busy time)")
    ap.add_argument("--simd", choices=sorted(SIMD_ENV),
                    help="cap rnnrs and PyTorch to this instruction set (runs in a subprocess)")
    ap.add_argument("--no-roof", action="store_true", help="skip the GEMM roofline column")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the main table this many times (interleaved) and print each row's "
                         "median and spread (min-max)")
    args = ap.parse_args()
    if args.simd and os.environ.get(CHILD_MARK) != "1":
        sys.exit(rerun_capped(args.simd))
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    budget, max_reps = (0.2, 3) if args.quick else (1.0, 20)

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"# machine: {cpu}, {os.cpu_count()} logical CPUs; numpy {np.__version__}; "
          f"torch {torch.__version__ if torch else 'not installed'}")
    print(f"# clock: {'process CPU time' if args.cpu_time else 'wall time'}; load average at start: "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    tcap = "-"
    if torch is not None:
        try:
            tcap = torch.backends.cpu.get_cpu_capability()
        except Exception:  # noqa: BLE001 - older torch
            tcap = "?"
    print(f"# simd: rnnrs path {_core.simd_path()} (supported: {', '.join(_core.simd_paths())}); "
          f"torch capability {tcap}; MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS', '-')}, "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')}")
    print("# roof = rnnrs's GEMM time for the row's matrix products / row time (same path, threads)")
    print("# times in ms (best of repeats); ratios = rnnrs time / other time (< 1: rnnrs faster);")
    print(f"# '~' = NumPy reference timed on {args.ref_steps} steps and scaled to T")
    before = rnnrs.get_num_threads()
    try:
        rounds = [main_table(args, budget, max_reps, r) for r in range(args.rounds)]
        if args.rounds > 1:
            summary_table(rounds)
        if args.packed_modes != "none":
            packed_table(args, budget, max_reps)
        if not args.no_step:
            step_table(args, budget, max_reps)
    finally:
        rnnrs.set_num_threads(before)


if __name__ == "__main__":
    main()
