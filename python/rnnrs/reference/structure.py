"""Reference math for the networks over structure: plain, readable, slow NumPy (the tests' ground truth).

Trees: one node at a time, children before parents (Tai et al. 2015 for the Tree-LSTMs).
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _postorder(children, root):
    order, stack = [], [root]
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(children[v])
    return order[::-1]


def tree_forward(cell: str, children: list, x: np.ndarray, params: dict, hidden_size: int, arity: int = 2):
    """Hidden state of every node of one tree.

    cell: 'recursive', 'nary_lstm' or 'child_sum_lstm'; children: per node, the list of its children
    (slot order); x: (N, D) node inputs; params: the model's arrays (names of `rnnrs.tree`).
    Returns h (N, H) (and c (N, H) for the LSTMs as a second value).
    """
    n, h = len(children), hidden_size
    parents = {c for kids in children for c in kids}
    root = next(v for v in range(n) if v not in parents)
    H = np.zeros((n, h))
    C = np.zeros((n, h))
    w_ih, w_hh, b = params["weight_ih"], params["weight_hh"], params["bias"]
    for v in _postorder(children, root):
        kids = children[v]
        xp = w_ih @ x[v] + b
        if cell == "recursive":
            hcat = np.zeros(arity * h)
            for s, k in enumerate(kids):
                hcat[s * h:(s + 1) * h] = H[k]
            H[v] = np.tanh(xp + w_hh @ hcat)
            continue
        if cell == "nary_lstm":
            hcat = np.zeros(arity * h)
            for s, k in enumerate(kids):
                hcat[s * h:(s + 1) * h] = H[k]
            pre = w_hh @ hcat
            i = _sigmoid(xp[:h] + pre[:h])
            o = _sigmoid(xp[h:2 * h] + pre[h:2 * h])
            u = np.tanh(xp[2 * h:3 * h] + pre[2 * h:3 * h])
            f = [_sigmoid(xp[3 * h:] + pre[(3 + s) * h:(4 + s) * h]) for s in range(len(kids))]
        elif cell == "child_sum_lstm":
            hsum = sum((H[k] for k in kids), np.zeros(h))
            pre = w_hh @ hsum
            i = _sigmoid(xp[:h] + pre[:h])
            o = _sigmoid(xp[h:2 * h] + pre[h:2 * h])
            u = np.tanh(xp[2 * h:3 * h] + pre[2 * h:3 * h])
            f = [_sigmoid(xp[3 * h:] + params["weight_hf"] @ H[k]) for k in kids]
        else:
            raise ValueError(f"cell: unknown {cell!r}")
        C[v] = i * u + sum((fk * C[k] for fk, k in zip(f, kids)), np.zeros(h))
        H[v] = o * np.tanh(C[v])
    return H if cell == "recursive" else (H, C)


def conv2d(x: np.ndarray, w: np.ndarray, b=None) -> np.ndarray:
    """Direct 'same' cross-correlation, NCHW, stride 1: y[n, o, i, j] = sum_c,p,q x_pad[n, c, i+p, j+q] w[o, c, p, q]."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + kh - 1, wd + kw - 1))
    xp[:, :, kh // 2:kh // 2 + h, kw // 2:kw // 2 + wd] = x
    y = np.zeros((n, o, h, wd))
    for p in range(kh):
        for q in range(kw):
            y += np.einsum("nchw,oc->nohw", xp[:, :, p:p + h, q:q + wd], w[:, :, p, q])
    if b is not None:
        y += b[None, :, None, None]
    return y


def convlstm_forward(x: np.ndarray, params: dict, num_layers: int, hidden: int, peephole: bool = False):
    """ConvLSTM (Shi et al. 2015) over x (T, B, C, H, W) from zero states, gates [i, f, g, o].

    Returns the last layer's h at every step (T, B, hidden, H, W).
    """
    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))

    inp = x
    for layer in range(num_layers):
        T, B, _, H, W = inp.shape
        h = np.zeros((B, hidden, H, W))
        c = np.zeros((B, hidden, H, W))
        out = []
        for t in range(T):
            a = (conv2d(inp[t], params[f"weight_ih_l{layer}"], params[f"bias_l{layer}"])
                 + conv2d(h, params[f"weight_hh_l{layer}"]))
            ai, af, ag, ao = np.split(a, 4, axis=1)
            if peephole:
                ai = ai + params[f"weight_ci_l{layer}"] * c
                af = af + params[f"weight_cf_l{layer}"] * c
            c = sig(af) * c + sig(ai) * np.tanh(ag)
            if peephole:
                ao = ao + params[f"weight_co_l{layer}"] * c
            h = sig(ao) * np.tanh(c)
            out.append(h)
        inp = np.stack(out)
    return inp


def local_response_norm(x: np.ndarray, size: int, alpha: float = 1e-3, beta: float = 0.75, k: float = 1.0):
    """Across channels, torch's LocalResponseNorm: window [c - size//2, c + (size-1)//2]."""
    y = np.empty_like(x, dtype=np.float64)
    C = x.shape[1]
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1)
        s = k + alpha / size * np.sum(x[:, lo:hi] ** 2, axis=1)
        y[:, c] = x[:, c] / s ** beta
    return y


def rcl_forward(u: np.ndarray, params: dict, steps: int, lrn: bool) -> np.ndarray:
    """Recurrent convolutional layer (Liang & Hu 2015): x(t) = g(relu(w_f*u + w_r*x(t-1) + b)), x(-1) absent."""
    ff = conv2d(u, params["weight_f"], params["bias"])
    size = params["weight_f"].shape[0] // 8 + 1
    x = None
    for t in range(steps + 1):
        z = ff if t == 0 else ff + conv2d(x, params["weight_r"])
        x = np.maximum(z, 0)
        if lrn:
            x = local_response_norm(x, size)
    return x


def lsm_run(u: np.ndarray, excitatory, refractory, bias, v0, w_rec: np.ndarray, w_in: np.ndarray, constants,
            input_mode: str, window: int):
    """Liquid state machine, one sequence, dense matrices: spike counts per window (windows, N).

    w_rec (N, N) [pre, post], w_in (I, N); constants (dt, tau_m, v_rest, v_thresh, v_reset, R, tau_e, tau_i,
    tau_trace) as in `rnnrs._core.lsm_run`. Spikes at step t reach their targets at t + 1.
    """
    dt, tau_m, v_rest, v_th, v_reset, R, tau_e, tau_i, _ = constants
    n = len(v0)
    v = np.array(v0, dtype=np.float64)
    ie, ii, refr = np.zeros(n), np.zeros(n), np.zeros(n, np.int64)
    fired = np.zeros(n, bool)
    steps = len(u)
    counts = np.zeros((-(-steps // window), n))
    am = np.exp(-dt / tau_m)
    for t in range(steps):
        ie *= np.exp(-dt / tau_e)
        ii *= np.exp(-dt / tau_i)
        for j in np.flatnonzero(fired):
            if excitatory[j]:
                ie += w_rec[j]
            else:
                ii += w_rec[j]
        iext = np.zeros(n)
        for j in np.flatnonzero(u[t]):
            if input_mode == "spikes":
                ie += u[t, j] * w_in[j]
            else:
                iext += u[t, j] * w_in[j]
        fired = np.zeros(n, bool)
        for k in range(n):
            if refr[k] > 0:
                refr[k] -= 1
                v[k] = v_reset
                continue
            v[k] = v_rest + (v[k] - v_rest) * am + (1 - am) * R * (ie[k] + ii[k] + iext[k] + bias[k])
            if v[k] >= v_th:
                v[k] = v_reset
                refr[k] = refractory[k]
                fired[k] = True
        counts[t // window] += fired
    return counts
