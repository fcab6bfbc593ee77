"""A vectorised NumPy exact RTRL: the fair baseline for `bench_rtrl.py`.

Not the readable per-parameter reference (`rnnrs.reference.rtrl`), but what a
NumPy user would write for speed: per step, the cell's partials for the whole
batch as arrays, the sensitivity update ``M <- J M + F`` as ONE batched matmul
(``np.matmul`` over (B, n, n) x (B, n, P), OpenBLAS/MKL underneath) plus the
Kronecker-structured immediate Jacobian ``F`` written by broadcasting, and the
gradient contraction as one ``einsum``. PyTorch layouts and names, modes
"RNN_TANH", "GRU", "LSTM"; float32 or float64 like the inputs.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _partials(mode, a, b, s, hidden):
    """Vectorised cell partials for a batch: (s_new (B, n), alpha (B, C, G, H),
    beta (B, C, G, H), gamma (B, C, C, H)), the diagonal blocks of ds'/dA,
    ds'/dB and the direct ds'/ds (see `rnnrs.reference.rtrl.cell_partials`)."""
    batch = a.shape[0]
    h = s[:, :hidden]
    if mode == "RNN_TANH":
        hn = np.tanh(a + b)
        d = (1 - hn * hn)[:, None, None, :]
        return hn, d, d, np.zeros((batch, 1, 1, hidden), a.dtype)
    if mode == "GRU":
        ar, az, an = np.split(a, 3, axis=1)
        br, bz, bn = np.split(b, 3, axis=1)
        r, z = _sigmoid(ar + br), _sigmoid(az + bz)
        n = np.tanh(an + r * bn)
        hn = (1 - z) * n + z * h
        dn = (1 - z) * (1 - n * n)
        dr = dn * bn * r * (1 - r)
        dz = (h - n) * z * (1 - z)
        alpha = np.stack([dr, dz, dn], axis=1)[:, None]
        beta = np.stack([dr, dz, dn * r], axis=1)[:, None]
        return hn, alpha, beta, z[:, None, None, :]
    if mode == "LSTM":
        c = s[:, hidden:]
        zi, zf, zg, zo = np.split(a + b, 4, axis=1)
        i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)
        cn = f * c + i * g
        tc = np.tanh(cn)
        hn = o * tc
        dc = np.stack([i * (1 - i) * g, f * (1 - f) * c, i * (1 - g * g), np.zeros_like(i)], axis=1)
        dh_dc = o * (1 - tc * tc)
        dh = dh_dc[:, None] * dc
        dh[:, 3] = o * (1 - o) * tc
        alpha = np.stack([dh, dc], axis=1)
        zero = np.zeros_like(f)
        gamma = np.stack([np.stack([zero, dh_dc * f], 1), np.stack([zero, f], 1)], axis=1)
        return np.concatenate([hn, cn], axis=1), alpha, alpha, gamma
    raise ValueError(f"mode: expected 'RNN_TANH', 'GRU' or 'LSTM', got {mode!r}")


def exact_rtrl(mode, x, dloss_dh, params):
    """Exact RTRL over x (T, B, I) with dloss_dh (T, B, H): the summed gradient
    (P,) in the layout of `rnnrs.rtrl.Cell.flat()`."""
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    b_ih, b_hh = params["bias_ih_l0"], params["bias_hh_l0"]
    steps, batch, inp = x.shape
    rows, hidden = w_hh.shape
    gates = rows // hidden
    comps = 2 if mode == "LSTM" else 1
    n = comps * hidden
    p = rows * (inp + hidden + 2)
    dt = x.dtype
    s = np.zeros((batch, n), dt)
    m = np.zeros((batch, n, p), dt)
    grad = np.zeros(p, dt)
    unit = np.arange(hidden)
    # Column blocks of theta: W_ih, W_hh, b_ih, b_hh.
    o_ih, o_hh, o_bi, o_bh = 0, rows * inp, rows * (inp + hidden), rows * (inp + hidden + 1)
    jac = np.zeros((batch, n, n), dt)
    for t in range(steps):
        h = s[:, :hidden]
        a = x[t] @ w_ih.T + b_ih
        b = h @ w_hh.T + b_hh
        s_new, alpha, beta, gamma = _partials(mode, a, b, s, hidden)
        # J = direct + ds'/dB W_hh on the h columns: (B, C, H) x (G, H, H) summed over gates.
        jac[...] = 0
        jac[:, :, :hidden] = np.einsum("bcgk,gkj->bckj", beta, w_hh.reshape(gates, hidden, hidden)).reshape(
            batch, n, hidden)
        for c in range(comps):
            for d in range(comps):
                jac[:, c * hidden + unit, d * hidden + unit] += gamma[:, c, d]
        m = np.matmul(jac, m)  # the one product per step
        # F: row (c, k) gets alpha[c, g, k] * x on the W_ih row g*H + k, etc.
        mv = m.reshape(batch, comps, hidden, p)
        for g in range(gates):
            r = g * hidden + unit
            cols_ih = o_ih + r[:, None] * inp + np.arange(inp)  # (H, I)
            cols_hh = o_hh + r[:, None] * hidden + np.arange(hidden)  # (H, H)
            for c in range(comps):
                blk = mv[:, c]  # (B, H, P)
                blk[:, unit[:, None], cols_ih] += alpha[:, c, g, :, None] * x[t][:, None, :]
                blk[:, unit[:, None], cols_hh] += beta[:, c, g, :, None] * h[:, None, :]
                blk[:, unit, o_bi + r] += alpha[:, c, g]
                blk[:, unit, o_bh + r] += beta[:, c, g]
        s = s_new
        grad += np.einsum("bk,bkp->p", dloss_dh[t], m[:, :hidden])
    return grad
