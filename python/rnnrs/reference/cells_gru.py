"""Reference math for the GRU family beyond torch's GRU: the gate variants GRU1/GRU2/GRU3
(Dey & Salem 2017) and the minimal gated unit MGU (Zhou et al. 2016).

Plain NumPy, one step forward and one step backward per cell, written next to the equations.
`rnnrs.reference.layers` runs them over sequences (stacked, bidirectional, lengths) like its
own cells, with modes "GRU1", "GRU2", "GRU3" and "MGU".

Parameter layout (PyTorch names, rows are output units, batches are rows: ``x @ W.T``):

- GRU1/GRU2/GRU3: the gates r, z see fewer terms, so only the rows that exist are stored.
  ``w_ih`` is ``(H, I)`` and ``b_ih`` ``(H,)`` (the n rows) for all three; ``w_hh`` is
  ``(3H, H)`` (r, z, n) for GRU1/GRU2 and ``(H, H)`` (n) for GRU3; ``b_hh`` is ``(3H,)``
  (r, z, n) for GRU1/GRU3 and ``(H,)`` (n) for GRU2.
- MGU: the GRU's layout with two gate blocks f, n: ``w_ih (2H, I)``, ``w_hh (2H, H)``,
  ``b_ih``/``b_hh`` ``(2H,)``.
"""

from __future__ import annotations

import numpy as np

from rnnrs.reference.layers import _dsigmoid, _dtanh, sigmoid

# Gate blocks of (weight_ih and bias_ih, weight_hh, bias_hh) per mode.
BLOCKS = {"GRU1": (1, 3, 3), "GRU2": (1, 3, 1), "GRU3": (1, 1, 3), "MGU": (2, 2, 2)}
MODES = tuple(BLOCKS)


def _affine(a, w, b=None):
    out = a @ w.T
    return out if b is None else out + b


def gru_variant_step_forward(variant, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of GRU1/GRU2/GRU3; returns (h_new, cache).

    a_n = x W_in^T + b_in                                  (the only input rows)
    GRU1: r = sigmoid(h W_hr^T + b_hr),  z = sigmoid(h W_hz^T + b_hz)
    GRU2: r = sigmoid(h W_hr^T),         z = sigmoid(h W_hz^T)
    GRU3: r = sigmoid(b_hr),             z = sigmoid(b_hz)
    h_n = h W_hn^T + b_hn
    n  = tanh(a_n + r * h_n)
    h' = (1 - z) * n + z * h
    """
    H = h.shape[-1]
    a_n = _affine(x, w_ih, b_ih)
    if variant == "GRU3":
        zeros = np.zeros_like(h)
        pre_r = zeros + (0 if b_hh is None else b_hh[:H])
        pre_z = zeros + (0 if b_hh is None else b_hh[H:2 * H])
        h_n = _affine(h, w_hh, None if b_hh is None else b_hh[2 * H:])
    else:
        rec = h @ w_hh.T
        pre_r, pre_z, h_n = rec[..., :H], rec[..., H:2 * H], rec[..., 2 * H:]
        if b_hh is not None and variant == "GRU1":
            pre_r, pre_z, h_n = pre_r + b_hh[:H], pre_z + b_hh[H:2 * H], h_n + b_hh[2 * H:]
        elif b_hh is not None:  # GRU2: b_hh holds only b_hn
            h_n = h_n + b_hh
    r, z = sigmoid(pre_r), sigmoid(pre_z)
    n = np.tanh(a_n + r * h_n)
    h_new = (1 - z) * n + z * h
    cache = {"variant": variant, "x": x, "h": h, "r": r, "z": z, "n": n, "h_n": h_n,
             "w_ih": w_ih, "w_hh": w_hh, "bias": b_ih is not None}
    return h_new, cache


def gru_variant_step_backward(dh_new, cache):
    """Backward of `gru_variant_step_forward`; returns (dx, dh, grads keyed by base name).

    da_n = dh' (1 - z)(1 - n^2)          -> W_in, b_in, and x
    da_z = dh' (h - n) z (1 - z)
    da_r = da_n h_n r (1 - r)
    dh_n = da_n r                        -> W_hn, b_hn
    dh   = dh' z + [da_r, da_z, dh_n] W_hh   (GRU3: dh_n W_hn only)
    GRU3's b_hr, b_hz get the batch sums of da_r, da_z.
    """
    r, z, n, h, variant = cache["r"], cache["z"], cache["n"], cache["h"], cache["variant"]
    da_n = dh_new * (1 - z) * _dtanh(n)
    da_z = dh_new * (h - n) * _dsigmoid(z)
    da_r = da_n * cache["h_n"] * _dsigmoid(r)
    dh_n = da_n * r
    da_rec = dh_n if variant == "GRU3" else np.concatenate([da_r, da_z, dh_n], axis=-1)
    dx = da_n @ cache["w_ih"]
    dh = dh_new * z + da_rec @ cache["w_hh"]
    grads = {"weight_ih": da_n.T @ cache["x"], "weight_hh": da_rec.T @ h}
    if cache["bias"]:
        grads["bias_ih"] = da_n.sum(axis=0)
        if variant == "GRU2":
            grads["bias_hh"] = dh_n.sum(axis=0)
        else:
            grads["bias_hh"] = np.concatenate([da_r, da_z, dh_n], axis=-1).sum(axis=0)
    return dx, dh, grads


def mgu_step_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One MGU step (forget gate applied after the recurrent product, as torch's GRU's reset gate).

    [i_f, i_n] = x W_ih^T + b_ih          [h_f, h_n] = h W_hh^T + b_hh
    f  = sigmoid(i_f + h_f)
    n  = tanh(i_n + f * h_n)
    h' = (1 - f) * h + f * n
    """
    H = h.shape[-1]
    a_ih, a_hh = _affine(x, w_ih, b_ih), _affine(h, w_hh, b_hh)
    f = sigmoid(a_ih[..., :H] + a_hh[..., :H])
    h_n = a_hh[..., H:]
    n = np.tanh(a_ih[..., H:] + f * h_n)
    h_new = (1 - f) * h + f * n
    cache = {"x": x, "h": h, "f": f, "n": n, "h_n": h_n, "w_ih": w_ih, "w_hh": w_hh, "bias": b_ih is not None}
    return h_new, cache


def mgu_step_backward(dh_new, cache):
    """Backward of `mgu_step_forward`; returns (dx, dh, grads).

    da_n = dh' f (1 - n^2)
    da_f = (dh' (n - h) + da_n h_n) f (1 - f)    (f enters the interpolation and the candidate)
    input rows get [da_f, da_n], recurrent rows [da_f, da_n f];  dh gets dh' (1 - f) directly
    """
    f, n, h = cache["f"], cache["n"], cache["h"]
    da_n = dh_new * f * _dtanh(n)
    da_f = (dh_new * (n - h) + da_n * cache["h_n"]) * _dsigmoid(f)
    da_ih = np.concatenate([da_f, da_n], axis=-1)
    da_hh = np.concatenate([da_f, da_n * f], axis=-1)
    dx = da_ih @ cache["w_ih"]
    dh = dh_new * (1 - f) + da_hh @ cache["w_hh"]
    grads = {"weight_ih": da_ih.T @ cache["x"], "weight_hh": da_hh.T @ h}
    if cache["bias"]:
        grads["bias_ih"] = da_ih.sum(axis=0)
        grads["bias_hh"] = da_hh.sum(axis=0)
    return dx, dh, grads


def step_forward(mode, x, h, w):
    """One step of `mode` with base-named weights `w`; returns (h_new, cache)."""
    args = (x, h, w["weight_ih"], w["weight_hh"], w.get("bias_ih"), w.get("bias_hh"))
    if mode == "MGU":
        return mgu_step_forward(*args)
    return gru_variant_step_forward(mode, *args)


def step_backward(mode, dh_new, cache):
    """Backward of `step_forward`; returns (dx, dh, grads)."""
    if mode == "MGU":
        return mgu_step_backward(dh_new, cache)
    return gru_variant_step_backward(dh_new, cache)
