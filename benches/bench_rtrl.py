"""RTRL speed: rnnrs against the NumPy reference (`rnnrs.reference.rtrl`) in the same run.

For each cell (Elman tanh, GRU, LSTM), hidden size n in 16, 32, 64, 128
(input 8), batch 1 and 16, and method (exact, snap1, uoro; plus the
element-wise IndRNN/DiagRNN with exact O(P) RTRL), prints time steps per
second, cell-steps per second (steps x batch) for a whole sequence in one
call, and for exact RTRL the achieved GFLOP/s of the sensitivity product
(2 * n_state * H * P * B per step, n_state = H, or 2H for the LSTM) and its
share of this machine's GEMM throughput for the same product shape (rnnrs's
own float32 GEMM, `rnnrs._core.gemm_seconds`, on the same threads). Times
are the best of repeated calls (the least disturbed by other load). The
reference's speed is measured on a few steps of the same problem.

For exact RTRL a second baseline runs in the same process: a *vectorised*
NumPy RTRL (`benches/rtrl_numpy.py`: per step one batched matmul ``J M`` on
NumPy's BLAS, the immediate Jacobian by broadcasting), the implementation a
NumPy user would write for speed; "vs np-vec" is rnnrs's speed over it. Its
BLAS gets as many threads as rnnrs (``--threads``; set before NumPy loads).

Two tables come first (``--only`` picks one of the three):

- ``small``: exact RTRL at small sizes, where per-step overhead dominates
  (Elman, GRU, LSTM; n = 8, 16, 32, with ``--quick`` n = 8, 16; batch 1
  and 16): rnnrs against the vectorised NumPy RTRL, each timed in
  alternation with the other (best of the alternating calls, so both see
  the same load). Target: >= 5x.
- ``gated``: exact RTRL on the gated cells and variants at n = 64 (batch 1
  and 16): GFLOP/s of the sensitivity product, the GFLOP/s of rnnrs's own
  GEMM of the same shape ``(n_state x H) (H x B*P)`` and dtype, and their
  ratio. Target: >= 70 %. A GRU gate variant runs as the GRU with its missing
  rows at zero (``rnnrs.rtrl`` pads it), so its product has the GRU's shape;
  "useful" is the share of its columns that belong to real parameters.

``--dtype`` (default float64) is the dtype of every table.

    python benches/bench_rtrl.py [--quick] [--markdown] [--threads N] [--dtype float32]
                                 [--only small|gated|main]
    pytest benches/bench_rtrl.py --benchmark-only      (pytest-benchmark rows)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--threads" in sys.argv[:-1]:  # NumPy's BLAS reads these when it loads
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, sys.argv[sys.argv.index("--threads") + 1])

import numpy as np
import pytest

import rnnrs
from rnnrs import _core, rtrl
from rnnrs.reference import rtrl as ref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtrl_numpy import exact_rtrl as numpy_exact_rtrl  # noqa: E402

INPUT = 8
GATES = {"RNN_TANH": 1, "GRU": 3, "LSTM": 4}
REF_ELEM = {"INDRNN_TANH": "indrnn_tanh", "DIAG": "diag"}
# The gated cells of the `gated` table: gate blocks in RTRL's layout, own
# parameters per unit (see `rnnrs.rtrl.Cell`); the GRU variants run in the GRU's layout.
GATED = {"RNN_TANH": (1, 0), "LSTM": (4, 0), "GRU": (3, 0), "LSTM_PEEPHOLE": (4, 3), "LSTM_NOFORGET": (3, 0),
         "LSTM_CIFG": (3, 0), "GRU1": (3, 0), "GRU2": (3, 0), "GRU3": (3, 0), "MGU": (2, 0), "LEAKY": (1, 1)}
LSTM_LIKE = ("LSTM", "LSTM_PEEPHOLE", "LSTM_NOFORGET", "LSTM_CIFG")
DTYPE = np.float64  # set by --dtype


def n_params(mode, n):
    gates, own = GATED.get(mode, (GATES.get(mode), 0))
    return gates * n * (INPUT + n + 2) + own * n


def state_len(mode, n):
    return 2 * n if mode in LSTM_LIKE else n


def useful_params(mode, n):
    """Parameters that exist in the cell (a GRU variant's padded rows excluded)."""
    if mode not in ("GRU1", "GRU2", "GRU3"):
        return n_params(mode, n)
    ih = n * (INPUT + 1)  # the n-gate rows of W_ih and b_ih only
    hh = {"GRU1": 3 * n * (n + 1), "GRU2": 3 * n * n + n, "GRU3": n * n + 3 * n}[mode]
    return ih + hh


def exact_flops(mode, n, batch):
    """The sensitivity product J^h M^h: (state x n) (n x P) per sequence."""
    return 2 * state_len(mode, n) * n * n_params(mode, n) * batch


def _timeit(fn, min_time=0.3, max_reps=50):
    """Best time of one call (seconds) over repeated calls for about `min_time`:
    the least disturbed by other load on the machine."""
    fn()  # warm-up
    best, reps, start = float("inf"), 0, time.perf_counter()
    while True:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        reps += 1
        if time.perf_counter() - start >= min_time or reps >= max_reps:
            return best


def _problem(n, batch, steps, dtype=None, seed=0):
    dtype = DTYPE if dtype is None else dtype
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((steps, batch, INPUT)).astype(dtype),
            rng.standard_normal((steps, batch, n)).astype(dtype))


def _make(mode, n, dtype=None):
    dtype = DTYPE if dtype is None else dtype
    if mode in ("GRU1", "GRU2", "GRU3"):
        return rnnrs.GRU(INPUT, n, gates=mode.lower(), dtype=dtype, seed=0)
    if mode == "INDRNN_TANH":
        return rtrl.IndRNN(INPUT, n, nonlinearity="tanh", dtype=dtype)
    if mode == "DIAG":
        return rtrl.DiagRNN(INPUT, n, dtype=dtype)
    return rtrl.Cell(mode, INPUT, n, dtype=dtype)


def rnnrs_steps_per_s(mode, method, n, batch, budget_flops=6e10):
    """Steps/s of one `rtrl.gradient` call over a sequence sized to the work."""
    cell = _make(mode, n)
    if method == "exact":
        steps = int(max(4, min(200, budget_flops / exact_flops(mode, n, batch))))
    else:
        steps = 2000 if batch == 1 else 500
    x, d = _problem(n, batch, steps)
    t = _timeit(lambda: rtrl.gradient(cell, x, d, method=method))
    return steps / t


def reference_steps_per_s(mode, method, n, batch):
    """Steps/s of the NumPy reference, timed on a few steps (None when its dense
    Jacobians would not fit in ~200 MB)."""
    if mode in REF_ELEM:
        cell = _make(mode, n, np.float64)
        x, d = _problem(n, batch, 50, np.float64)
        theta = cell.flat()
        return 50 / _timeit(lambda: ref.elem_rtrl(REF_ELEM[mode], theta, x, d), 0.2, 5)
    rows = GATES[mode] * n
    if rows * rows * n * 8 > 200e6 or (method == "exact" and batch * 2 * n * n_params(mode, n) * 8 > 400e6):
        return None
    cell = _make(mode, n, np.float64)
    steps = 3
    x, d = _problem(n, batch, steps, np.float64)
    rng = np.random.default_rng(0)
    t = _timeit(lambda: ref.rtrl_gradient(mode, x, d, cell.params, method=method, rng=rng), 0.2, 3)
    return steps / t


def numpy_vec_steps_per_s(mode, n, batch, budget_flops=3e9):
    """Steps/s of the vectorised NumPy exact RTRL on the same problem;
    its gradient is checked against rnnrs's first."""
    cell = _make(mode, n)
    steps = int(max(3, min(100, budget_flops / exact_flops(mode, n, batch))))
    x, d = _problem(n, batch, steps)
    g = numpy_exact_rtrl(mode, x, d, cell.params)
    mine = rtrl.gradient(cell, x, d, method="exact")[0]
    mine = np.concatenate([mine[k].ravel() for k in cell.names])
    scale = np.abs(mine).max() + 1e-6
    if np.abs(g - mine).max() > 1e-3 * scale:
        raise AssertionError(f"{mode} n={n} B={batch}: vectorised NumPy RTRL disagrees with rnnrs")
    return steps / _timeit(lambda: numpy_exact_rtrl(mode, x, d, cell.params), 0.3, 5)


def gemm_gflops(mode, n, batch):
    """GFLOP/s of rnnrs's own GEMM (the machine's GEMM throughput here) for the
    sensitivity product shape and dtype, on the same threads."""
    m, k, cols = state_len(mode, n), n, batch * n_params(mode, n)
    size = np.dtype(DTYPE).itemsize
    if m * cols * size > 600e6:
        return None
    return 2 * m * k * cols / _core.gemm_seconds(m, k, cols, np.dtype(DTYPE).name, 10) / 1e9


def _best_alternating(fns, min_time=0.6, max_rounds=40):
    """Best time of one call of each function, the functions called in turn
    (a, b, a, b, ...) so that load from elsewhere falls on both alike."""
    for fn in fns:
        fn()  # warm-up
    best, start, rounds = [float("inf")] * len(fns), time.perf_counter(), 0
    while rounds < max_rounds and (rounds < 3 or time.perf_counter() - start < min_time):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
        rounds += 1
    return best


def _fmt(markdown):
    return (lambda c: "| " + " | ".join(c) + " |") if markdown else (lambda c: "".join(f"{v:>13}" for v in c))


def _emit(lines, line):
    print(line, flush=True)
    lines.append(line)


def _header(lines, head, markdown):
    fmt = _fmt(markdown)
    _emit(lines, fmt(head))
    if markdown:
        _emit(lines, "|" + "---|" * len(head))


def small_table(quick=False, markdown=False):
    """Exact RTRL at n <= 32 against the vectorised NumPy RTRL, timed alternately."""
    fmt, lines = _fmt(markdown), []
    print(f"\n## exact RTRL, small sizes, vs vectorised NumPy ({np.dtype(DTYPE).name})", flush=True)
    _header(lines, ["cell", "n", "B", "steps", "rnnrs st/s", "np-vec st/s", "vs np-vec"], markdown)
    for mode in GATES:
        for n in ([8, 16] if quick else [8, 16, 32]):
            for batch in (1, 16):
                cell = _make(mode, n)
                steps = int(max(8, min(200, 2e9 / exact_flops(mode, n, batch))))
                x, d = _problem(n, batch, steps)
                g = numpy_exact_rtrl(mode, x, d, cell.params)
                mine = rtrl.gradient(cell, x, d, method="exact")[0]
                mine = np.concatenate([mine[k].ravel() for k in cell.names])
                tol = (1e-9 if DTYPE == np.float64 else 1e-3) * (np.abs(mine).max() + 1e-6)
                if np.abs(g - mine).max() > tol:
                    raise AssertionError(f"{mode} n={n} B={batch}: vectorised NumPy RTRL disagrees with rnnrs")
                t_mine, t_np = _best_alternating([lambda: rtrl.gradient(cell, x, d, method="exact"),
                                                  lambda: numpy_exact_rtrl(mode, x, d, cell.params)])
                _emit(lines, fmt([mode, str(n), str(batch), str(steps), _num(steps / t_mine), _num(steps / t_np),
                                  f"{t_np / t_mine:.1f}x"]))
    return lines


def gated_table(quick=False, markdown=False, n=64):
    """Exact RTRL on every gated cell at n = 64: GFLOP/s of the sensitivity
    product against rnnrs's GEMM of the same shape and dtype."""
    fmt, lines = _fmt(markdown), []
    print(f"\n## exact RTRL at n = {n} against the same-shape GEMM ({np.dtype(DTYPE).name})", flush=True)
    _header(lines, ["cell", "n", "B", "steps/s", "GFLOP/s", "GEMM GFLOP/s", "% GEMM", "useful"], markdown)
    for batch in ((1,) if quick else (1, 16)):
        for mode in GATED:
            cell = _make(mode, n)
            flops = exact_flops(mode, n, batch)
            steps = int(max(4, min(200, 2e10 / flops)))
            x, d = _problem(n, batch, steps)
            t = _timeit(lambda: rtrl.gradient(cell, x, d, method="exact"), 0.5, 20)
            g = flops * steps / t / 1e9
            peak = gemm_gflops(mode, n, batch)
            useful = f"{100 * useful_params(mode, n) / n_params(mode, n):.0f}%"
            _emit(lines, fmt([mode, str(n), str(batch), _num(steps / t), f"{g:.1f}",
                              "-" if peak is None else f"{peak:.1f}", "-" if peak is None else f"{100 * g / peak:.0f}%",
                              useful]))
    return lines


def rows(quick=False):
    sizes = [16, 64] if quick else [16, 32, 64, 128]
    for mode in GATES:
        for n in sizes:
            for batch in (1, 16):
                for method in ("exact", "snap1", "uoro"):
                    yield mode, method, n, batch
    for mode in REF_ELEM:
        for n in sizes:
            for batch in (1, 16):
                yield mode, "diag", n, batch


def _num(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def table(quick=False, markdown=False):
    print(f"\n## all cells and methods ({np.dtype(DTYPE).name})", flush=True)
    head = ["cell", "n", "B", "method", "steps/s", "cell-steps/s", "GFLOP/s", "% GEMM", "ref steps/s", "speedup",
            "np-vec st/s", "vs np-vec"]
    lines = []
    fmt = (lambda c: "| " + " | ".join(c) + " |") if markdown else (lambda c: "".join(f"{v:>13}" for v in c))
    lines.append(fmt(head))
    if markdown:
        lines.append("|" + "---|" * len(head))
    print(lines[0], flush=True)
    if markdown:
        print(lines[1], flush=True)
    for mode, method, n, batch in rows(quick):
        if method == "exact" and exact_flops(mode, n, batch) > 60e9:
            continue  # minutes per step: out of a benchmark's reach
        try:
            sps = rnnrs_steps_per_s(mode, method, n, batch)
        except MemoryError:
            line = fmt([mode, str(n), str(batch), method, "MemoryError", "", "", "", "", "", "", ""])
            print(line, flush=True)
            lines.append(line)
            continue
        gf = pct = vec = vs = ""
        if method == "exact" and mode in GATES and n <= 64:
            v = numpy_vec_steps_per_s(mode, n, batch)
            vec, vs = _num(v), f"{sps / v:.1f}x"
        if method == "exact":
            g = exact_flops(mode, n, batch) * sps / 1e9
            gf = f"{g:.1f}"
            peak = gemm_gflops(mode, n, batch)
            pct = f"{100 * g / peak:.0f}%" if peak else ""
        r = reference_steps_per_s(mode, method, n, batch)
        line = fmt([mode, str(n), str(batch), method, _num(sps), _num(sps * batch), gf, pct,
                    "-" if r is None else _num(r), "-" if r is None else f"{sps / r:.0f}x", vec, vs])
        print(line, flush=True)
        lines.append(line)
    return lines


# --- pytest-benchmark rows (a representative subset) -------------------------------


@pytest.mark.parametrize("mode,method,n,batch", [("RNN_TANH", "exact", 64, 1), ("LSTM", "exact", 32, 16),
                                                 ("GRU", "snap1", 64, 16), ("GRU", "uoro", 64, 16),
                                                 ("INDRNN_TANH", "diag", 64, 16)])
def test_rtrl_gradient(benchmark, mode, method, n, batch):
    cell = _make(mode, n)
    x, d = _problem(n, batch, 20 if method == "exact" else 200)
    benchmark(rtrl.gradient, cell, x, d, method=method)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer sizes (small: n 8, 16; main: n 16, 64)")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table (for the README)")
    ap.add_argument("--threads", type=int, default=0, help="rnnrs threads (default: all cores)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ap.add_argument("--only", choices=("small", "gated", "main"), help="one table only")
    args = ap.parse_args()
    rnnrs.set_num_threads(args.threads)
    DTYPE = np.dtype(args.dtype).type
    print(f"# threads: {rnnrs.get_num_threads()}; dtype {args.dtype}; SIMD path {_core.simd_path()}; "
          f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    if args.only in (None, "small"):
        small_table(args.quick, args.markdown)
    if args.only in (None, "gated"):
        gated_table(args.quick, args.markdown)
    if args.only in (None, "main"):
        table(args.quick, args.markdown)
