"""Sequences long and wide enough that the layers run their time loop in
several chunks of steps (input projection forward; weight, bias and input
gradients backward, chunk by chunk), against `rnnrs.reference`.

A chunk holds at least 512 rows (steps x batch) and about 2**18 gate values,
so with a batch of 64 these cases have chunks of 4 to 16 steps and a shorter
last chunk. float32 runs the AVX-512 packed kernels where the CPU has them.
"""

import numpy as np
import pytest
from layer_cases import make_case, run_reference, run_rnnrs

CASES = [
    # mode, T, B, I, H, options
    ("LSTM", 21, 64, 24, 256, {"bidirectional": True}),
    ("LSTM", 19, 64, 24, 256, {"proj_size": 48}),
    ("GRU", 21, 64, 24, 200, {}),
    ("RNN_TANH", 37, 64, 24, 256, {"num_layers": 2}),
]


def compare(got, want, rtol, atol):
    for name, g, w in zip(["y", "h_n", "c_n", "dx", "dh0", "dc0"], got[:6], want[:6]):
        if w is None:
            assert g is None, name
            continue
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)
    for name, w in want[6].items():
        np.testing.assert_allclose(got[6][name], w, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("mode,T,B,I,H,opts", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunked_time_loop_matches_reference(mode, T, B, I, H, opts, dtype):
    c = make_case(mode, T, B, I, H, dtype=dtype, seed=7, **opts)
    got = run_rnnrs(c)
    want = run_reference(c)
    if dtype == np.float64:
        compare(got, want, rtol=1e-9, atol=1e-9)
    else:
        # Sums over up to T*B = 2368 rows in float32.
        compare(got, want, rtol=1e-3, atol=1e-3)
