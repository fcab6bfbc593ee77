"""Reference math for the cells with structure in time: the clockwork, dilated and deep-transition RNNs.

Plain NumPy, slow on purpose and written to be read next to the equations; time-major
``(T, B, I)`` arrays, parameters as dicts with torch-style names, arithmetic in the dtype of ``x``.

Clockwork RNN (Koutník et al. 2014). The hidden units are split into modules ``i`` of ``k_i``
units with non-decreasing periods ``T_i``. At step ``t`` (counted from 0) module ``i`` is active when
``t mod T_i == 0``::

    active:    h_t[i] = tanh(W_ih[i] x_t + b_ih[i] + b_hh[i] + (M * W_hh)[i] h_{t-1})
    inactive:  h_t[i] = h_{t-1}[i]

``M`` is the block upper triangular mask: module ``i`` reads module ``j`` only when ``T_j >= T_i``.

Dilated RNN (Chang et al. 2017): any cell with its recurrence skipping ``d - 1`` steps,
``h_t = cell(x_t, h_{t-d})`` (``h_0`` for ``t < d``), written here step by step, without the
reshape rnnrs uses.

Deep-transition / deep-output RNN (Pascanu et al. 2014): the transition is an MLP of ``depth`` tanh
layers, ``z_1 = tanh(W_ih x_t + b_ih + b_hh + W_hh h_{t-1})``, ``z_l = tanh(W_tr{l} z_{l-1} + b_tr{l}
[+ W_sh h_{t-1} for the last layer with the DT(S) shortcut])``, ``h_t = z_depth``; the output is an
MLP of ``output_depth`` tanh layers on ``h_t``, ``o_k = tanh(W_out{k} o_{k-1} + b_out{k})``.
"""

from __future__ import annotations

import numpy as np

from rnnrs.reference.layers import _cell_backward, _cell_forward


def clockwork_mask(module_sizes, periods) -> np.ndarray:
    """``M[r, c]`` = True when unit ``r``'s module reads unit ``c``'s module (its period >= r's)."""
    unit_period = np.repeat(np.asarray(periods), np.asarray(module_sizes))
    return unit_period[None, :] >= unit_period[:, None]


def clockwork_active(module_sizes, periods, t: int) -> np.ndarray:
    """``(H,)`` bool: the units whose module updates at step ``t``."""
    return np.repeat(np.array([t % p == 0 for p in periods]), np.asarray(module_sizes))


def clockwork_forward(x, params, h0, module_sizes, periods):
    """``x (T, B, I)``, ``h0 (B, H)``, params ``weight_ih_l0, weight_hh_l0[, bias_ih_l0, bias_hh_l0]``.

    Returns ``(y (T, B, H), h_n (B, H), cache)``.
    """
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"] * clockwork_mask(module_sizes, periods)
    b = params["bias_ih_l0"] + params["bias_hh_l0"] if "bias_ih_l0" in params else 0.0
    h = h0
    ys = []
    for t in range(x.shape[0]):
        active = clockwork_active(module_sizes, periods, t)
        z = x[t] @ w_ih.T + b + h @ w_hh.T
        h = np.where(active, np.tanh(z), h)
        ys.append(h)
    y = np.stack(ys)
    cache = {"x": x, "h0": h0, "y": y, "params": params, "module_sizes": module_sizes, "periods": periods}
    return y, h, cache


def clockwork_backward(cache, dy, dh_n=None):
    """BPTT: ``(dx, dh0, grads)``; masked entries of ``weight_hh`` get zero gradient."""
    x, y, h0, params = cache["x"], cache["y"], cache["h0"], cache["params"]
    sizes, periods = cache["module_sizes"], cache["periods"]
    mask = clockwork_mask(sizes, periods)
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"] * mask
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dx = np.zeros_like(x)
    carry = np.zeros_like(h0) if dh_n is None else dh_n
    for t in reversed(range(x.shape[0])):
        active = clockwork_active(sizes, periods, t)
        h_prev = h0 if t == 0 else y[t - 1]
        dh = dy[t] + carry
        dz = np.where(active, dh * (1 - y[t] ** 2), 0.0)  # inactive units pass dh straight back
        grads["weight_ih_l0"] += dz.T @ x[t]
        grads["weight_hh_l0"] += (dz.T @ h_prev) * mask
        if "bias_ih_l0" in grads:
            grads["bias_ih_l0"] += dz.sum(0)
            grads["bias_hh_l0"] += dz.sum(0)
        dx[t] = dz @ w_ih
        carry = np.where(active, 0.0, dh) + dz @ w_hh
    return dx, carry, grads


def dilated_forward(mode, x, w, h0, c0, dilation: int):
    """One direction of one layer with dilation ``d``: ``h_t = cell(x_t, h_{t-d})``.

    ``mode`` a `rnnrs.reference.layers` mode ("RNN_TANH", "LSTM", "GRU", ...), ``w`` base-named weights
    (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``), ``h0`` ``(B, H)``, ``c0`` ``(B, H)`` or None.
    Returns ``(y (T, B, H), h_n, c_n, cache)``; the final state is that of step T - 1.
    """
    T, d = x.shape[0], dilation
    hs, cs, caches = [None] * T, [None] * T, [None] * T
    for t in range(T):
        h_prev, c_prev = (h0, c0) if t < d else (hs[t - d], cs[t - d])
        hs[t], cs[t], caches[t] = _cell_forward(mode, x[t], h_prev, c_prev, w)
    cache = {"mode": mode, "caches": caches, "w": w, "d": d, "h0": h0, "c0": c0}
    return np.stack(hs), hs[-1], cs[-1], cache


def dilated_backward(cache, dy, dh_n=None, dc_n=None):
    """BPTT of `dilated_forward`: the gradient at ``h_t`` flows to ``h_{t-d}``. ``(dx, dh0, dc0, grads)``."""
    mode, caches, w, d = cache["mode"], cache["caches"], cache["w"], cache["d"]
    T = dy.shape[0]
    dh = [dy[t].copy() for t in range(T)]
    dc = [None if cache["c0"] is None else np.zeros_like(cache["c0"]) for _ in range(T)]
    if dh_n is not None:
        dh[-1] += dh_n
    if dc_n is not None:
        dc[-1] = dc[-1] + dc_n
    dh0 = np.zeros_like(cache["h0"])
    dc0 = None if cache["c0"] is None else np.zeros_like(cache["c0"])
    grads = {k: np.zeros_like(v) for k, v in w.items()}
    dx = [None] * T
    for t in reversed(range(T)):
        dx[t], dhp, dcp, g = _cell_backward(mode, dh[t], dc[t], caches[t])
        for k, v in g.items():
            grads[k] += v
        if t >= d:
            dh[t - d] += dhp
            if dcp is not None:
                dc[t - d] = dc[t - d] + dcp
        else:
            dh0 += dhp
            if dcp is not None:
                dc0 += dcp
    return np.stack(dx), dh0, dc0, grads


def _p(params, name):
    return params.get(name + "_l0")


def deep_transition_forward(x, params, h0, depth: int, output_depth: int, shortcut: bool):
    """``x (T, B, I)``, ``h0 (B, H)``; params by name (``weight_ih_l0``, ``weight_tr2_l0``, ...).

    Returns ``(y (T, B, H), h_n, cache)``.
    """
    zero = 0.0
    b1 = params["bias_ih_l0"] + params["bias_hh_l0"] if "bias_ih_l0" in params else zero
    h, hs, zs = h0, [], []
    for t in range(x.shape[0]):
        z = np.tanh(x[t] @ params["weight_ih_l0"].T + b1 + h @ params["weight_hh_l0"].T)
        layers = [z]
        for layer in range(2, depth + 1):
            bias = _p(params, f"bias_tr{layer}")
            a = z @ params[f"weight_tr{layer}_l0"].T + (zero if bias is None else bias)
            if layer == depth and shortcut:
                a = a + h @ params["weight_sh_l0"].T
            z = np.tanh(a)
            layers.append(z)
        hs.append(h)
        zs.append(layers)
        h = z
    states = np.stack([layers[-1] for layers in zs])
    outs = [states]
    for k in range(1, output_depth + 1):
        bias = _p(params, f"bias_out{k}")
        outs.append(np.tanh(outs[-1] @ params[f"weight_out{k}_l0"].T + (zero if bias is None else bias)))
    cache = {"x": x, "h_prev": np.stack(hs), "zs": zs, "outs": outs, "params": params, "depth": depth,
             "shortcut": shortcut}
    return outs[-1], h, cache


def deep_transition_backward(cache, dy, dh_n=None):
    """BPTT of `deep_transition_forward`: ``(dx, dh0, grads)``."""
    params, depth, outs, zs = cache["params"], cache["depth"], cache["outs"], cache["zs"]
    x, h_prev = cache["x"], cache["h_prev"]
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    g = dy
    for k in range(len(outs) - 1, 0, -1):  # the output MLP, top layer first
        da = g * (1 - outs[k] ** 2)
        grads[f"weight_out{k}_l0"] += np.einsum("tbi,tbj->ij", da, outs[k - 1])
        if f"bias_out{k}_l0" in grads:
            grads[f"bias_out{k}_l0"] += da.sum((0, 1))
        g = da @ params[f"weight_out{k}_l0"]
    dx = np.zeros_like(x)
    carry = np.zeros_like(h_prev[0]) if dh_n is None else dh_n
    for t in reversed(range(x.shape[0])):
        up = g[t] + carry
        carry = np.zeros_like(carry)
        for layer in range(depth, 0, -1):
            da = up * (1 - zs[t][layer - 1] ** 2)
            if layer == depth and cache["shortcut"]:
                grads["weight_sh_l0"] += da.T @ h_prev[t]
                carry += da @ params["weight_sh_l0"]
            if layer >= 2:
                grads[f"weight_tr{layer}_l0"] += da.T @ zs[t][layer - 2]
                if f"bias_tr{layer}_l0" in grads:
                    grads[f"bias_tr{layer}_l0"] += da.sum(0)
                up = da @ params[f"weight_tr{layer}_l0"]
            else:
                grads["weight_ih_l0"] += da.T @ x[t]
                grads["weight_hh_l0"] += da.T @ h_prev[t]
                if "bias_ih_l0" in grads:
                    grads["bias_ih_l0"] += da.sum(0)
                    grads["bias_hh_l0"] += da.sum(0)
                dx[t] = da @ params["weight_ih_l0"]
                carry += da @ params["weight_hh_l0"]
    return dx, carry, grads


def run_lengths(forward, backward, x, h0, dy, dh_n, lengths):
    """A variable-length batch the way its semantics are defined (PyTorch's packed sequences): sequence
    ``b`` run alone over its first ``lengths[b]`` steps, from its own step 0.

    ``forward(x_b, h0_b) -> (y_b, h_n_b, cache)`` and ``backward(cache, dy_b, dh_n_b) -> (dx_b, dh0_b, grads)``
    take one sequence (``x_b (L, 1, I)``, ``h0_b (1, H)``), e.g. `clockwork_forward` / `clockwork_backward`
    with the layer's options bound. Returns ``(y, h_n, dx, dh0, grads)`` for the batch: ``y`` and ``dx`` are
    zero past each length, ``dy`` there is never read, and the parameter gradients are summed.
    """
    T, B = x.shape[:2]
    y, dx = np.zeros(dy.shape, x.dtype), np.zeros_like(x)
    h_n, dh0 = np.zeros_like(h0), np.zeros_like(h0)
    grads = None
    for b, n in enumerate(lengths):
        yb, h_n[b:b + 1], cache = forward(x[:n, b:b + 1], h0[b:b + 1])
        dxb, dh0[b:b + 1], g = backward(cache, dy[:n, b:b + 1], dh_n[b:b + 1])
        y[:n, b], dx[:n, b] = yb[:, 0], dxb[:, 0]
        grads = g if grads is None else {k: grads[k] + v for k, v in g.items()}
    return y, h_n, dx, dh0, grads
