"""The SIMD path override (RNNRS_SIMD): reported by rnnrs._core, bad values refused at import."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from rnnrs import _core

PATHS = ("avx512", "avx2", "neon", "scalar")


def test_active_path_is_supported_and_follows_the_variable():
    path = _core.simd_path()
    assert path in PATHS
    assert path in _core.simd_paths()
    assert "scalar" in _core.simd_paths()
    requested = os.environ.get("RNNRS_SIMD", "auto").strip().lower()
    if requested not in ("", "auto"):
        assert path == requested


def _run(code: str, simd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RNNRS_SIMD=simd)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", ["sse9", "avx1024"])
def test_unknown_path_is_refused_at_import(value):
    r = _run("import rnnrs", value)
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "RNNRS_SIMD" in r.stderr and value in r.stderr


def test_every_supported_path_runs_and_agrees():
    # A float64 LSTM forward on each path: same results up to the scalar
    # path's last-bit differences (vector paths give identical bits).
    code = (
        "import numpy as np, rnnrs\n"
        "from rnnrs import _core\n"
        "layer = rnnrs.LSTM(5, 7, dtype=np.float64, seed=0)\n"
        "x = np.random.default_rng(0).standard_normal((6, 3, 5))\n"
        "y, _ = layer(x)\n"
        "print(_core.simd_path(), ' '.join(v.hex() for v in y.ravel().tolist()))\n"
    )
    out = {}
    for path in _core.simd_paths():
        r = _run(code, path)
        assert r.returncode == 0, r.stderr
        name, values = r.stdout.split(" ", 1)
        assert name == path
        out[path] = np.array([float.fromhex(v) for v in values.split()])
    base = out["scalar"]
    for path, y in out.items():
        np.testing.assert_allclose(y, base, rtol=1e-13, atol=1e-15)
    vector = [y for p, y in out.items() if p != "scalar"]
    for y in vector[1:]:
        assert np.array_equal(y, vector[0])
