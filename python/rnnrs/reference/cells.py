"""Reference math for the cells beyond PyTorch's: the peephole LSTM and the leaky-integrator RNN.

Plain NumPy, written next to the equations, in the conventions of `rnnrs.reference.layers`
(parameters with PyTorch-style names; a batch `x` `(B, I)` is projected as `x @ W.T`). Each cell is
one step forward returning `(h', c' or None, cache)` and one step backward returning
`(dx, dh, dc or None, grads by base name)`; `register_cell` plugs them into the stacked,
bidirectional, variable-length driver `rnn_forward` / `rnn_backward` of `layers`.
"""

from __future__ import annotations

import numpy as np

from rnnrs.reference.layers import _affine, _dsigmoid, _dtanh, _linear_grads, _split, register_cell, sigmoid

__all__ = ["layer_norm", "layer_norm_backward", "layernorm_gru_step_backward", "layernorm_gru_step_forward",
           "layernorm_lstm_step_backward", "layernorm_lstm_step_forward", "leaky_step_backward", "leaky_step_forward", "peephole_lstm_step_backward", "peephole_lstm_step_forward"]


# ---------------------------------------------------------------------------------------------
# Peephole LSTM (Gers & Schmidhuber 2000), mode "LSTM_PEEPHOLE".
# ---------------------------------------------------------------------------------------------


def peephole_lstm_step_forward(x, h, c, w):
    """One peephole-LSTM step; `w` holds weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr] and
    weight_ch (3, H) = rows (p_i, p_f, p_o). Returns (h', c', cache).

    [a_i, a_f, a_g, a_o] = x W_ih^T + b_ih + h W_hh^T + b_hh       (gates i, f, g, o as torch)
    i = sigmoid(a_i + p_i * c)      f = sigmoid(a_f + p_f * c)      g = tanh(a_g)
    c' = f * c + i * g
    o = sigmoid(a_o + p_o * c')                                    (the o peephole sees the NEW cell)
    m = o * tanh(c'),   h' = m W_hr^T with projection, else m
    """
    p_i, p_f, p_o = w["weight_ch"]
    a_i, a_f, a_g, a_o = _split(_affine(x, w["weight_ih"], w.get("bias_ih")) +
                                _affine(h, w["weight_hh"], w.get("bias_hh")), 4)
    i = sigmoid(a_i + p_i * c)
    f = sigmoid(a_f + p_f * c)
    g = np.tanh(a_g)
    c_new = f * c + i * g
    o = sigmoid(a_o + p_o * c_new)
    tanh_c = np.tanh(c_new)
    m = o * tanh_c
    w_hr = w.get("weight_hr")
    h_new = m if w_hr is None else m @ w_hr.T
    cache = {"x": x, "h": h, "c": c, "c_new": c_new, "i": i, "f": f, "g": g, "o": o, "tanh_c": tanh_c,
             "m": m, "p": w["weight_ch"], "w_ih": w["weight_ih"], "w_hh": w["weight_hh"], "w_hr": w_hr,
             "bias": "bias_ih" in w}
    return h_new, c_new, cache


def peephole_lstm_step_backward(dh_new, dc_new, cache):
    """Backward of `peephole_lstm_step_forward`; returns (dx, dh, dc, grads).

    dm = dh' W_hr (projection) else dh'
    da_o = dm * tanh(c') * o (1 - o)
    dc'_total = dc' + dm * o * (1 - tanh(c')^2) + da_o * p_o          (c' also feeds o)
    da_i = dc'_total * g * i (1 - i),  da_f = dc'_total * c * f (1 - f),  da_g = dc'_total * i * (1 - g^2)
    dc = dc'_total * f + da_i * p_i + da_f * p_f                     (c also feeds i and f)
    dweight_ch = sums over the batch of [da_i * c, da_f * c, da_o * c']
    """
    p_i, p_f, p_o = cache["p"]
    w_hr = cache["w_hr"]
    dm = dh_new if w_hr is None else dh_new @ w_hr
    da_o = dm * cache["tanh_c"] * _dsigmoid(cache["o"])
    dc_total = dc_new + dm * cache["o"] * _dtanh(cache["tanh_c"]) + da_o * p_o
    da_i = dc_total * cache["g"] * _dsigmoid(cache["i"])
    da_f = dc_total * cache["c"] * _dsigmoid(cache["f"])
    da_g = dc_total * cache["i"] * _dtanh(cache["g"])
    dc = dc_total * cache["f"] + da_i * p_i + da_f * p_f
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=-1)
    dx, dh, grads = _linear_grads(da, da, cache)
    grads["weight_ch"] = np.stack([(da_i * cache["c"]).sum(0), (da_f * cache["c"]).sum(0),
                                   (da_o * cache["c_new"]).sum(0)])
    if w_hr is not None:
        grads["weight_hr"] = dh_new.T @ cache["m"]
    return dx, dh, dc, grads


register_cell("LSTM_PEEPHOLE", 4, True, peephole_lstm_step_forward, peephole_lstm_step_backward,
              own=(("weight_ch", 3),))


# ---------------------------------------------------------------------------------------------
# Leaky-integrator RNN with learned per-unit time constants, mode "LEAKY".
# ---------------------------------------------------------------------------------------------


def leaky_step_forward(x, h, c, w):
    """One leaky-integrator step; `w` holds weight_ih, weight_hh, [bias_ih, bias_hh] and
    alpha_logit (H,). Returns (h', None, cache).

    u  = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
    α  = sigmoid(alpha_logit)                       per unit
    h' = (1 - α) * h + α * u
    """
    u = np.tanh(_affine(x, w["weight_ih"], w.get("bias_ih")) + _affine(h, w["weight_hh"], w.get("bias_hh")))
    alpha = sigmoid(w["alpha_logit"])
    h_new = (1 - alpha) * h + alpha * u
    cache = {"x": x, "h": h, "u": u, "alpha": alpha, "w_ih": w["weight_ih"], "w_hh": w["weight_hh"],
             "bias": "bias_ih" in w}
    return h_new, None, cache


def leaky_step_backward(dh_new, dc_new, cache):
    """Backward of `leaky_step_forward`; returns (dx, dh, None, grads).

    da = dh' * α * (1 - u^2)                 (both affine maps see it)
    dh = da W_hh + dh' * (1 - α)              (the leak passes the old state straight on)
    dalpha_logit = sum over the batch of dh' * (u - h) * α (1 - α)
    """
    u, h, alpha = cache["u"], cache["h"], cache["alpha"]
    da = dh_new * alpha * _dtanh(u)
    dx, dh, grads = _linear_grads(da, da, cache)
    grads["alpha_logit"] = (dh_new * (u - h) * _dsigmoid(alpha)).sum(0)
    return dx, dh + dh_new * (1 - alpha), None, grads


register_cell("LEAKY", 1, False, leaky_step_forward, leaky_step_backward, own=(("alpha_logit", 1),))


# ---------------------------------------------------------------------------------------------
# Layer-normalised LSTM (Ba et al. 2016; PyTorch's benchmarks/fastrnns/custom_lstms.py), mode
# "LAYERNORM_LSTM".
# ---------------------------------------------------------------------------------------------

LAYERNORM_EPS = 1e-5


def layer_norm(v, gain, bias, eps=LAYERNORM_EPS):
    """torch.nn.LayerNorm over the last axis: gain * (v - mean) / sqrt(var + eps) + bias (biased var).
    Returns (y, v_hat, rstd) with v_hat the normalised v and rstd = 1 / sqrt(var + eps)."""
    mu = v.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((v - mu) ** 2).mean(-1, keepdims=True) + eps)
    v_hat = (v - mu) * rstd
    return gain * v_hat + bias, v_hat, rstd


def layer_norm_backward(dy, v_hat, rstd, gain):
    """Backward of `layer_norm`: (dv, dgain, dbias), gains and biases summed over the batch.

    dv = rstd * (d - mean(d) - v_hat * mean(d * v_hat)),  d = dy * gain
    """
    d = dy * gain
    dv = rstd * (d - d.mean(-1, keepdims=True) - v_hat * (d * v_hat).mean(-1, keepdims=True))
    return dv, (dy * v_hat).sum(0), dy.sum(0)


def layernorm_lstm_step_forward(x, h, c, w):
    """One layer-normalised LSTM step; `w` holds weight_ih (4H, I), weight_hh (4H, H) and the
    LayerNorm gains/biases layernorm_{i,h}_{weight,bias} (4, H) and layernorm_c_{weight,bias} (H,).

    z  = LN_i(x W_ih^T) + LN_h(h W_hh^T)          (over all 4H values; no linear biases)
    i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
    c' = LN_c(f * c + i * g)                       (over H; c' is the carried cell state)
    h' = o * tanh(c')
    """
    flat = {k: w[k].reshape(-1) for k in ("layernorm_i_weight", "layernorm_i_bias", "layernorm_h_weight",
                                          "layernorm_h_bias")}
    zi, xi, ri = layer_norm(x @ w["weight_ih"].T, flat["layernorm_i_weight"], flat["layernorm_i_bias"])
    zh, xh, rh = layer_norm(h @ w["weight_hh"].T, flat["layernorm_h_weight"], flat["layernorm_h_bias"])
    a_i, a_f, a_g, a_o = _split(zi + zh, 4)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c_new, xc, rc = layer_norm(f * c + i * g, w["layernorm_c_weight"], w["layernorm_c_bias"])
    tanh_c = np.tanh(c_new)
    cache = {"x": x, "h": h, "c": c, "i": i, "f": f, "g": g, "o": o, "tanh_c": tanh_c, "xi": xi, "ri": ri,
             "xh": xh, "rh": rh, "xc": xc, "rc": rc, "w": w, "flat": flat}
    return o * tanh_c, c_new, cache


def layernorm_lstm_step_backward(dh_new, dc_new, cache):
    """Backward of `layernorm_lstm_step_forward`; returns (dx, dh, dc, grads).

    da_o = dh' tanh(c') o (1 - o);  dc'_total = dc' + dh' o (1 - tanh(c')^2)
    du = LN_c backward of dc'_total;  da_i = du g i (1 - i),  da_f = du c f (1 - f),  da_g = du i (1 - g^2)
    dc = du f;  the input and recurrent parts get their own LayerNorm backward of da.
    """
    w, flat = cache["w"], cache["flat"]
    da_o = dh_new * cache["tanh_c"] * _dsigmoid(cache["o"])
    dc_total = dc_new + dh_new * cache["o"] * _dtanh(cache["tanh_c"])
    du, dgc, dbc = layer_norm_backward(dc_total, cache["xc"], cache["rc"], w["layernorm_c_weight"])
    da = np.concatenate([du * cache["g"] * _dsigmoid(cache["i"]), du * cache["c"] * _dsigmoid(cache["f"]),
                         du * cache["i"] * _dtanh(cache["g"]), da_o], axis=-1)
    dpi, dgi, dbi = layer_norm_backward(da, cache["xi"], cache["ri"], flat["layernorm_i_weight"])
    dph, dgh, dbh = layer_norm_backward(da, cache["xh"], cache["rh"], flat["layernorm_h_weight"])
    grads = {"weight_ih": dpi.T @ cache["x"], "weight_hh": dph.T @ cache["h"],
             "layernorm_i_weight": dgi.reshape(4, -1), "layernorm_i_bias": dbi.reshape(4, -1),
             "layernorm_h_weight": dgh.reshape(4, -1), "layernorm_h_bias": dbh.reshape(4, -1),
             "layernorm_c_weight": dgc, "layernorm_c_bias": dbc}
    return dpi @ w["weight_ih"], dph @ w["weight_hh"], du * cache["f"], grads


register_cell("LAYERNORM_LSTM", 4, True, layernorm_lstm_step_forward, layernorm_lstm_step_backward,
              own=(("layernorm_i_weight", 4), ("layernorm_i_bias", 4), ("layernorm_h_weight", 4),
                   ("layernorm_h_bias", 4), ("layernorm_c_weight", 1), ("layernorm_c_bias", 1)))


# ---------------------------------------------------------------------------------------------
# Layer-normalised GRU (the GRU analogue of the above), mode "LAYERNORM_GRU".
# ---------------------------------------------------------------------------------------------


def layernorm_gru_step_forward(x, h, c, w):
    """One layer-normalised GRU step; `w` holds weight_ih (3H, I), weight_hh (3H, H) and
    layernorm_{i,h}_{weight,bias} (3, H). Returns (h', None, cache).

    a = LN_i(x W_ih^T),  b = LN_h(h W_hh^T)          (over all 3H values each)
    r = sigmoid(a_r + b_r),  z = sigmoid(a_z + b_z),  n = tanh(a_n + r * b_n)
    h' = (1 - z) * n + z * h
    """
    gi, gh = w["layernorm_i_weight"].reshape(-1), w["layernorm_h_weight"].reshape(-1)
    a, xi, ri = layer_norm(x @ w["weight_ih"].T, gi, w["layernorm_i_bias"].reshape(-1))
    b, xh, rh = layer_norm(h @ w["weight_hh"].T, gh, w["layernorm_h_bias"].reshape(-1))
    a_r, a_z, a_n = _split(a, 3)
    b_r, b_z, b_n = _split(b, 3)
    r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
    n = np.tanh(a_n + r * b_n)
    cache = {"x": x, "h": h, "r": r, "z": z, "n": n, "b_n": b_n, "xi": xi, "ri": ri, "xh": xh, "rh": rh,
             "gi": gi, "gh": gh, "w": w}
    return (1 - z) * n + z * h, None, cache


def layernorm_gru_step_backward(dh_new, dc_new, cache):
    """Backward of `layernorm_gru_step_forward`; returns (dx, dh, None, grads).

    dn = dh' (1 - z) (1 - n^2),  dz = dh' (h - n) z (1 - z),  dr = dn b_n r (1 - r)
    input side gets (dr, dz, dn), recurrent side (dr, dz, dn r), each through its LayerNorm;
    dh also gets dh' z directly.
    """
    r, z, n, h, w = cache["r"], cache["z"], cache["n"], cache["h"], cache["w"]
    dn = dh_new * (1 - z) * _dtanh(n)
    dz = dh_new * (h - n) * _dsigmoid(z)
    dr = dn * cache["b_n"] * _dsigmoid(r)
    dpi, dgi, dbi = layer_norm_backward(np.concatenate([dr, dz, dn], -1), cache["xi"], cache["ri"], cache["gi"])
    dph, dgh, dbh = layer_norm_backward(np.concatenate([dr, dz, dn * r], -1), cache["xh"], cache["rh"], cache["gh"])
    grads = {"weight_ih": dpi.T @ cache["x"], "weight_hh": dph.T @ h,
             "layernorm_i_weight": dgi.reshape(3, -1), "layernorm_i_bias": dbi.reshape(3, -1),
             "layernorm_h_weight": dgh.reshape(3, -1), "layernorm_h_bias": dbh.reshape(3, -1)}
    return dpi @ w["weight_ih"], dph @ w["weight_hh"] + dh_new * z, None, grads


register_cell("LAYERNORM_GRU", 3, False, layernorm_gru_step_forward, layernorm_gru_step_backward,
              own=(("layernorm_i_weight", 3), ("layernorm_i_bias", 3), ("layernorm_h_weight", 3),
                   ("layernorm_h_bias", 3)))
