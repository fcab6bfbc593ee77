"""Exact RTRL on the time-blocked path (`rtrl.gradient` once the sensitivities
outgrow ~256 KiB: each column block of M goes through a chunk of steps while
in cache) against BPTT to 1e-10 in float64, and 1 vs 2 threads bit-identical.
The sizes are the smallest above that threshold (n = 16, batch 8)."""

import numpy as np
import pytest
import rnnrs
from rnnrs import rtrl
from test_rtrl import NAMES, assert_rel, problem, reference_bptt


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
def test_time_blocked_exact_rtrl_equals_bptt_on_any_thread_count(mode):
    cell, x, dy, h0, c0 = problem(mode, 3, 16, 5, 8, seed=7)
    state = (2 if mode == "LSTM" else 1) * 16
    assert state * 8 * cell.flat().size * 8 > 256 << 10  # above the time-blocking size
    _, g_ref = reference_bptt(cell, x, dy, h0, c0)
    before, out = rnnrs.get_num_threads(), []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            out.append(rtrl.gradient(cell, x, dy, h0=h0, c0=c0, method="exact")[0])
    finally:
        rnnrs.set_num_threads(before)
    for k in NAMES:
        assert_rel(out[0][k], g_ref[k], 1e-10, k)
        np.testing.assert_array_equal(out[0][k], out[1][k])
