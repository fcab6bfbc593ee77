"""Smoke test of an installed (or unpacked) rnnrs wheel: it imports and computes.

Runs with any Python that finds rnnrs and NumPy; `make check-wheel-aarch64` runs it with an
aarch64 CPython under qemu-aarch64 on the unpacked aarch64 wheel. Prints where rnnrs was
imported from, the machine and the SIMD path, then checks an LSTM forward and backward
(float32 and float64) against `rnnrs.reference` and that 1 and 2 threads give the same bits.
Exits non-zero on any failure.

    python scripts/check_wheel.py [--simd neon]   # --simd: the path that must be active
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import rnnrs
import rnnrs.functional as F
from rnnrs import _core
from rnnrs.reference import layers as ref


def lstm_case(dtype, seed=0, T=5, B=4, I=24, H=32):
    """Parameters, input, initial state and output gradients of a 2-layer bidirectional LSTM."""
    rng = np.random.default_rng(seed)
    params = ref.init_params("LSTM", I, H, num_layers=2, bidirectional=True, rng=rng)
    x = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal((2, 4, B, H))
    dy, dh_n, dc_n = rng.standard_normal((T, B, 2 * H)), rng.standard_normal((4, B, H)), rng.standard_normal((4, B, H))
    cast = {k: v.astype(dtype) for k, v in params.items()}
    return params, cast, x, h0, c0, dy, dh_n, dc_n


def run_rnnrs(dtype):
    _, p, x, h0, c0, dy, dh_n, dc_n = lstm_case(dtype)
    c = dtype
    y, (h_n, c_n), ctx = F.lstm(x.astype(c), p, (h0.astype(c), c0.astype(c)), train=True)
    dx, (dh0, dc0), grads = F.lstm_backward(ctx, dy.astype(c), (dh_n.astype(c), dc_n.astype(c)))
    return {"y": y, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0, **grads}


def run_reference():
    p, _, x, h0, c0, dy, dh_n, dc_n = lstm_case(np.float64)
    y, h_n, c_n, cache = ref.rnn_forward("LSTM", x, p, h0, c0, num_layers=2, bidirectional=True)
    dx, dh0, dc0, grads = ref.rnn_backward(cache, dy, dh_n, dc_n)
    return {"y": y, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0, **grads}


def max_error(got: dict, want: dict, dtype) -> float:
    assert set(got) == set(want), sorted(set(got) ^ set(want))
    worst = 0.0
    for name, w in want.items():
        g = got[name]
        assert g.dtype == dtype and g.shape == w.shape, (name, g.dtype, g.shape, w.shape)
        worst = max(worst, float(np.max(np.abs(g - w) / (1.0 + np.abs(w)))))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simd", help="the SIMD path that must be active (e.g. neon)")
    args = parser.parse_args()

    path = _core.simd_path()
    print(f"rnnrs {rnnrs.__version__} from {rnnrs.__file__}")
    print(f"machine {platform.machine()}, numpy {np.__version__}, simd_path {path}, simd_paths {_core.simd_paths()}")
    if args.simd and path != args.simd:
        print(f"FAIL: SIMD path is {path!r}, expected {args.simd!r}")
        return 1

    want = run_reference()
    ok = True
    # float32 against the float64 reference; float64 to the last bits.
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        err = max_error(run_rnnrs(dtype), want, dtype)
        good = err <= tol
        ok &= good
        print(f"LSTM forward+backward {np.dtype(dtype).name}: max relative error {err:.2e} (<= {tol:.0e}) "
              f"{'ok' if good else 'FAIL'}")

    threads = _core.get_num_threads()
    outputs = []
    for n in (1, 2):
        _core.set_num_threads(n)
        outputs.append(run_rnnrs(np.float32))
    _core.set_num_threads(threads)
    same = all(np.array_equal(outputs[0][k], outputs[1][k]) for k in outputs[0])
    ok &= same
    print(f"1 and 2 threads, same bits: {'ok' if same else 'FAIL'}")
    print("wheel check: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
