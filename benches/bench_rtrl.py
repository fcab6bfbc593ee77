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

    python benches/bench_rtrl.py [--quick] [--markdown] [--threads N]
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


def n_params(mode, n):
    return GATES[mode] * n * (INPUT + n + 2)


def state_len(mode, n):
    return 2 * n if mode == "LSTM" else n


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


def _problem(n, batch, steps, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((steps, batch, INPUT)).astype(dtype),
            rng.standard_normal((steps, batch, n)).astype(dtype))


def _make(mode, n, dtype=np.float32):
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
    """Steps/s of the vectorised NumPy exact RTRL (float32) on the same problem;
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
    """GFLOP/s of rnnrs's own float32 GEMM (the machine's GEMM throughput here)
    for the sensitivity product shape, on the same threads."""
    m, k, cols = state_len(mode, n), n, batch * n_params(mode, n)
    if m * cols * 4 > 600e6:
        return None
    return 2 * m * k * cols / _core.gemm_seconds(m, k, cols, "float32", 10) / 1e9


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
    ap.add_argument("--quick", action="store_true", help="n in (16, 64) only")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table (for the README)")
    ap.add_argument("--threads", type=int, default=0, help="rnnrs threads (default: all cores)")
    args = ap.parse_args()
    rnnrs.set_num_threads(args.threads)
    print(f"# threads: {rnnrs.get_num_threads()}; load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    table(args.quick, args.markdown)
