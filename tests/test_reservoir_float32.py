"""Float32 reservoirs: vector kernels with the float64 contract's order (a
sequence inside a batch gives the bits of the sequence alone), ridge
statistics in float64, and forecasting quality close to float64."""

from __future__ import annotations

import numpy as np
import rnnrs as rr
from rnnrs.datasets import mackey_glass
from rnnrs.metrics import nrmse


def _mg(n: int) -> np.ndarray:
    s = mackey_glass(n, seed=0)
    return 2 * (s - s.min()) / (s.max() - s.min()) - 1


def test_float32_batch_equals_single_runs_bitwise_for_any_thread_count():
    res = rr.Reservoir(120, spectral_radius=1.1, leak_rate=0.4, connectivity=0.2, seed=3, dtype=np.float32)
    res.initialize(2)
    u = np.random.default_rng(0).normal(size=(19, 30, 2)).astype(np.float32)
    try:
        outs = []
        for threads in (1, 2):
            rr.set_num_threads(threads)
            outs.append(res.run(u))
        single = np.stack([res.run(u[b]) for b in range(len(u))])
    finally:
        rr.set_num_threads(0)
    assert outs[0].dtype == np.float32
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], single)
    ref = rr.Reservoir(120, spectral_radius=1.1, leak_rate=0.4, connectivity=0.2, seed=3).initialize(2).run(
        u[0].astype(np.float64)
    )
    np.testing.assert_allclose(single[0], ref, atol=1e-4)


def test_float32_mackey_glass_nrmse_within_10_percent_of_float64():
    s = _mg(1300)
    scores = {}
    for dtype in ("float64", "float32"):
        esn = rr.ESN(units=300, spectral_radius=1.25, leak_rate=0.3, ridge=1e-6, seed=1, dtype=dtype)
        esn.fit(s[:1000], s[1:1001], warmup=100)
        assert esn.coef_.dtype == np.float64  # ridge statistics and solution in float64
        scores[dtype] = nrmse(s[1001:1201], esn.predict(s[:1200])[1000:])
    assert scores["float64"] < 0.05
    assert scores["float32"] <= 1.1 * scores["float64"], scores
