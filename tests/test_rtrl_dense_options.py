"""The dense-cell RTRL engine's one option dict (`_core.DenseRtrlState`, `dense_rtrl_sensitivity_bytes`):
the same figures as the layer's own options give, and a clear error for a misspelt, missing or mistyped key."""

import numpy as np
import pytest

import rnnrs
from rnnrs import _core
from rnnrs.rtrl_cells import _JordanCell


def _jordan_cell():
    return _JordanCell(rnnrs.Jordan(3, 4, 2, dtype=np.float64, seed=0))


def test_spec_dict_reproduces_the_layer_figures():
    cell = _jordan_cell()
    spec = cell._spec()
    assert spec["input_size"] == 3
    st = _core.DenseRtrlState(cell.kind, "exact", "float64", 2, spec)
    assert st.n_params == cell.n_params
    assert _core.dense_rtrl_sensitivity_bytes(cell.kind, "exact", "float64", 2, spec) == cell.sensitivity_bytes(
        "exact", 2)


def test_bad_options_name_the_key():
    cell = _jordan_cell()
    spec = cell._spec()
    with pytest.raises(ValueError, match="hiden_size"):
        _core.DenseRtrlState(cell.kind, "exact", "float64", 2, {**spec, "hiden_size": 4})
    with pytest.raises(ValueError, match="input_size"):
        _core.dense_rtrl_sensitivity_bytes(cell.kind, "exact", "float64", 2,
                                           {k: v for k, v in spec.items() if k != "input_size"})
    with pytest.raises(TypeError, match="hidden_size"):
        _core.DenseRtrlState(cell.kind, "exact", "float64", 2, {**spec, "hidden_size": "four"})
