"""Helpers shared by the layer tests: random parameters and inputs, and running
rnnrs and `rnnrs.reference` on the same case."""

from __future__ import annotations

import numpy as np
import rnnrs.functional as F
from rnnrs.reference import layers as ref

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


def make_case(mode, T, B, I, H, *, num_layers=1, bidirectional=False, bias=True, proj_size=0,
              batch_first=False, with_h0=True, unbatched=False, dtype=np.float64, seed=0):
    """A dict with params, x, h0/c0 (or None) and the output gradients dy, dh_n, dc_n."""
    rng = np.random.default_rng(seed)
    params = ref.init_params(mode, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                             proj_size=proj_size, dtype=np.float64, rng=rng)
    for name in params:
        if name.startswith("bias"):
            params[name] = params[name] + 0.2 * rng.standard_normal(params[name].shape)
    D = 2 if bidirectional else 1
    h_out = proj_size or H
    rows = D * num_layers
    if unbatched:
        x_shape, s_shape, c_shape = (T, I), (rows, h_out), (rows, H)
    else:
        x_shape = (B, T, I) if batch_first else (T, B, I)
        s_shape, c_shape = (rows, B, h_out), (rows, B, H)
    y_shape = x_shape[:-1] + (D * h_out,)

    def arr(shape):
        return rng.standard_normal(shape).astype(dtype)

    case = {
        "mode": mode, "params": {k: v.astype(dtype) for k, v in params.items()}, "x": arr(x_shape),
        "h0": arr(s_shape) if with_h0 else None, "c0": arr(c_shape) if (with_h0 and mode == "LSTM") else None,
        "dy": arr(y_shape), "dh_n": arr(s_shape), "dc_n": arr(c_shape) if mode == "LSTM" else None,
        "num_layers": num_layers, "bidirectional": bidirectional, "batch_first": batch_first,
    }
    return case


def run_rnnrs(c, params=None, x=None, h0=None, c0=None):
    """(y, h_n, c_n, dx, dh0, dc0, grads) from rnnrs.functional."""
    params = c["params"] if params is None else params
    x = c["x"] if x is None else x
    h0 = c["h0"] if h0 is None else h0
    c0 = c["c0"] if c0 is None else c0
    kw = {"batch_first": c["batch_first"], "train": True, "lengths": c.get("lengths")}
    mode = c["mode"]
    if mode == "LSTM":
        y, (h_n, c_n), ctx = F.lstm(x, params, None if h0 is None else (h0, c0), **kw)
        dx, (dh0, dc0), grads = F.lstm_backward(ctx, c["dy"], (c["dh_n"], c["dc_n"]))
        return y, h_n, c_n, dx, dh0, dc0, grads
    if mode == "GRU":
        y, h_n, ctx = F.gru(x, params, h0, **kw)
        dx, dh0, grads = F.gru_backward(ctx, c["dy"], c["dh_n"])
    else:
        nl = "tanh" if mode == "RNN_TANH" else "relu"
        y, h_n, ctx = F.rnn(x, params, h0, nonlinearity=nl, **kw)
        dx, dh0, grads = F.rnn_backward(ctx, c["dy"], c["dh_n"])
    return y, h_n, None, dx, dh0, None, grads


def run_reference(c):
    """The same tuple from rnnrs.reference (float64)."""
    p64 = {k: v.astype(np.float64) for k, v in c["params"].items()}

    def f64(a):
        return None if a is None else a.astype(np.float64)

    y, h_n, c_n, cache = ref.rnn_forward(c["mode"], f64(c["x"]), p64, f64(c["h0"]), f64(c["c0"]),
                                         num_layers=c["num_layers"], bidirectional=c["bidirectional"],
                                         batch_first=c["batch_first"], lengths=c.get("lengths"))
    dx, dh0, dc0, grads = ref.rnn_backward(cache, f64(c["dy"]), f64(c["dh_n"]), f64(c["dc_n"]))
    return y, h_n, c_n, dx, dh0, dc0, grads


def loss(c, y, h_n, c_n):
    """The scalar whose gradients the backward computes."""
    total = float(np.sum(y * c["dy"]) + np.sum(h_n * c["dh_n"]))
    if c_n is not None:
        total += float(np.sum(c_n * c["dc_n"]))
    return total
