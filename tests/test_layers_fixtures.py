"""Every PyTorch `rnn_layer` fixture: outputs, final states and all gradients.

The parameters go in through `load_state_dict`, as a PyTorch user would move
a model over; the loss is the fixtures' sum(y*dy) + sum(h_n*dh_n) [+ sum(c_n*dc_n)].
"""

import numpy as np
import pytest
import rnnrs
from torch_fixtures import fixture_params, load, tolerances

CASES = fixture_params("rnn_*.npz") + fixture_params("lstm_*.npz") + fixture_params("gru_*.npz")


def make_layer(meta):
    common = {
        "num_layers": meta["num_layers"], "bias": meta["bias"], "batch_first": meta["batch_first"],
        "bidirectional": meta["bidirectional"], "dtype": np.dtype(meta["dtype"]),
    }
    size = (meta["input_size"], meta["hidden_size"])
    if meta["mode"] == "LSTM":
        return rnnrs.LSTM(*size, proj_size=meta["proj_size"], **common)
    if meta["mode"] == "GRU":
        return rnnrs.GRU(*size, **common)
    return rnnrs.RNN(*size, nonlinearity=meta["nonlinearity"], **common)


@pytest.mark.parametrize("path", CASES)
def test_fixture(path):
    meta, a = load(path)
    assert meta["kind"] == "rnn_layer"
    rtol, atol = tolerances(meta)
    layer = make_layer(meta)
    layer.load_state_dict({n: a[n] for n in meta["param_names"]})
    assert list(layer.params) == meta["param_names"]
    lstm = meta["mode"] == "LSTM"
    hx = None
    if meta["has_h0"]:
        hx = (a["h0"], a["c0"]) if lstm else a["h0"]

    def close(got, key):
        assert got.shape == a[key].shape, key
        assert got.dtype == a[key].dtype, key
        np.testing.assert_allclose(got, a[key], rtol=rtol, atol=atol, err_msg=key)

    # Inference and training forward give the same outputs.
    for y, state in (layer(a["x"], hx), layer.forward(a["x"], hx, train=True)):
        close(y, "y")
        close(state[0] if lstm else state, "h_n")
        if lstm:
            close(state[1], "c_n")

    dstate = (a["dh_n"], a["dc_n"]) if lstm else a["dh_n"]
    dx, dh0 = layer.backward(a["dy"], dstate)
    close(dx, "grad_x")
    if meta["has_h0"]:
        close(dh0[0] if lstm else dh0, "grad_h0")
        if lstm:
            close(dh0[1], "grad_c0")
    for name in meta["param_names"]:
        close(layer.grads[name], f"grad/{name}")
