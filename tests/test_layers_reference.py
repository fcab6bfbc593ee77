"""Hypothesis: random shapes and options, rnnrs against `rnnrs.reference`.

Forward outputs, final states, input/state gradients and every parameter
gradient; float64 to ~1e-10, float32 to ~1e-4 (against the float64 reference).
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_cases import MODES, make_case, run_reference, run_rnnrs


@st.composite
def cases(draw):
    mode = draw(st.sampled_from(MODES))
    H = draw(st.integers(1, 9))
    proj = draw(st.integers(0, H - 1)) if (mode == "LSTM" and H > 1 and draw(st.booleans())) else 0
    return {
        "mode": mode, "T": draw(st.integers(1, 7)), "B": draw(st.integers(1, 4)), "I": draw(st.integers(1, 6)), "H": H,
        "num_layers": draw(st.integers(1, 3)), "bidirectional": draw(st.booleans()), "bias": draw(st.booleans()),
        "proj_size": proj, "batch_first": draw(st.booleans()), "with_h0": draw(st.booleans()),
        "unbatched": draw(st.booleans()) and draw(st.booleans()), "seed": draw(st.integers(0, 2**31)),
    }


def compare(got, want, rtol, atol):
    names = ["y", "h_n", "c_n", "dx", "dh0", "dc0"]
    for name, g, w in zip(names, got[:6], want[:6]):
        if w is None:
            assert g is None, name
            continue
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)
    assert set(got[6]) == set(want[6])
    for name, w in want[6].items():
        np.testing.assert_allclose(got[6][name], w, rtol=rtol, atol=atol, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_float64_matches_reference(kw):
    c = make_case(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float64, **kw)
    compare(run_rnnrs(c), run_reference(c), rtol=1e-9, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(cases())
def test_float32_matches_reference(kw):
    c = make_case(kw.pop("mode"), kw.pop("T"), kw.pop("B"), kw.pop("I"), kw.pop("H"), dtype=np.float32, **kw)
    got = run_rnnrs(c)
    for a in got[:6]:
        assert a is None or a.dtype == np.float32
    compare(got, run_reference(c), rtol=2e-4, atol=2e-4)


def test_larger_shapes_match_reference():
    """Shapes that take the large-GEMM path and several inference chunks."""
    for mode in MODES:
        c = make_case(mode, 12, 20, 33, 40, num_layers=2, bidirectional=True, proj_size=0, seed=3)
        compare(run_rnnrs(c), run_reference(c), rtol=1e-9, atol=1e-10)
    c = make_case("LSTM", 9, 3, 17, 70, num_layers=2, bidirectional=True, proj_size=24, seed=4)
    compare(run_rnnrs(c), run_reference(c), rtol=1e-9, atol=1e-10)
