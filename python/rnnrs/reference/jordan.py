"""Reference math for the Jordan network (Jordan 1986): plain NumPy forward and BPTT.

One layer, time-major, PyTorch-style ``(out, in)`` weights, batches as rows::

    h_t = act_h(x_t W_ih^T + b_h + y_{t-1} W_hy^T)
    y_t = act_y(h_t W_yh^T + b_y)              y_0 given (zeros by default)

Parameters: ``weight_ih (H, I)``, ``weight_hy (H, O)``, ``bias_h (H)``, ``weight_yh (O, H)``,
``bias_y (O)``. Stacking: layer k > 0 reads the outputs of layer k - 1 (`stacked_forward`).
Lengths: a sequence stops at its length (its y stays, outputs past it are zero).
"""

from __future__ import annotations

import numpy as np

from rnnrs.reference.layers import sigmoid

ACTS = {
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "sigmoid": (sigmoid, lambda y: y * (1 - y)),
    "identity": (lambda a: a, np.ones_like),
}


def forward(x, p, y0=None, act_h="tanh", act_y="tanh", lengths=None):
    """x (T, B, I); p a dict of the five parameters. Returns (y (T, B, O), y_n (B, O), cache)."""
    T, B, _ = x.shape
    O = p["weight_yh"].shape[0]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    fh, fy = ACTS[act_h][0], ACTS[act_y][0]
    y_prev = np.zeros((B, O), x.dtype) if y0 is None else y0.copy()
    ys, hs, prevs = np.zeros((T, B, O), x.dtype), [], []
    for t in range(T):
        run = (t < lengths)[:, None]  # the sequences still running
        h = fh(x[t] @ p["weight_ih"].T + p["bias_h"] + y_prev @ p["weight_hy"].T)
        y = fy(h @ p["weight_yh"].T + p["bias_y"])
        hs.append(h)
        prevs.append(y_prev)
        ys[t] = np.where(run, y, 0)
        y_prev = np.where(run, y, y_prev)
    return ys, y_prev, {"x": x, "p": p, "h": hs, "y": ys, "prev": prevs, "lengths": lengths,
                        "acts": (act_h, act_y)}


def backward(cache, dy, dy_n=None):
    """BPTT for loss L with dL/dy = dy (T, B, O), dL/dy_n = dy_n. Returns (dx, dy0, grads)."""
    x, p, lengths = cache["x"], cache["p"], cache["lengths"]
    dh_act, dy_act = ACTS[cache["acts"][0]][1], ACTS[cache["acts"][1]][1]
    T, B, _ = x.shape
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    g = np.zeros_like(cache["prev"][0]) if dy_n is None else dy_n.copy()  # dL/dy_t from the future
    dx = np.zeros_like(x)
    for t in reversed(range(T)):
        run = (t < lengths)[:, None]
        y = np.where(run, cache["y"][t], 0)
        dz = np.where(run, (dy[t] + g) * dy_act(y), 0)  # output pre-activation
        da = (dz @ p["weight_yh"]) * dh_act(cache["h"][t])  # hidden pre-activation
        da = np.where(run, da, 0)
        grads["weight_yh"] += dz.T @ cache["h"][t]
        grads["bias_y"] += dz.sum(0)
        grads["weight_ih"] += da.T @ x[t]
        grads["weight_hy"] += da.T @ cache["prev"][t]
        grads["bias_h"] += da.sum(0)
        dx[t] = da @ p["weight_ih"]
        g = np.where(run, da @ p["weight_hy"], g)  # a padded step passes g through
    return dx, g, grads


def stacked_forward(x, layers, y0=None, act_h="tanh", act_y="tanh", lengths=None):
    """Layers (a list of parameter dicts) one after the other; y0 (L, B, O) or None.
    Returns (y, y_n (L, B, O), caches)."""
    caches, finals = [], []
    for k, p in enumerate(layers):
        x, y_n, c = forward(x, p, None if y0 is None else y0[k], act_h, act_y, lengths)
        caches.append(c)
        finals.append(y_n)
    return x, np.stack(finals), caches


def stacked_backward(caches, dy, dy_n=None):
    """Backward of `stacked_forward`: (dx, dy0 (L, B, O), [grads per layer])."""
    L = len(caches)
    grads, dy0 = [None] * L, [None] * L
    for k in reversed(range(L)):
        dy, dy0[k], grads[k] = backward(caches[k], dy, None if dy_n is None else dy_n[k])
    return dy, np.stack(dy0), grads
