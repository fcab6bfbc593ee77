"""Plain NumPy reference for the training toolkit: clipping, losses with their
gradients, optimizer update rules and the Linear / Embedding maps.

Written from the PyTorch documentation and the papers (Adam: Kingma & Ba
2015, Algorithm 1; AdamW: Loshchilov & Hutter 2019; AMSGrad: Reddi et al.
2018; RMSprop: Hinton's lecture 6e; Adagrad: Duchi et al. 2011), computed
in float64, slow and readable. Functions never modify their arguments.
"""

from __future__ import annotations

import numpy as np

# --- gradient clipping -------------------------------------------------------


def vector_norm(x: np.ndarray, p: float) -> float:
    """The p-norm of all entries of x (max |x| for p = inf, NaN-propagating)."""
    a = np.abs(np.asarray(x, dtype=np.float64)).reshape(-1)
    if a.size == 0:
        return 0.0
    if np.isinf(p):
        return float(np.nan) if np.isnan(a).any() else float(a.max())
    return float(np.sum(a**p) ** (1.0 / p))


def clip_grad_norm(grads, max_norm: float, p: float = 2.0):
    """(total_norm, clipped copies): total = norm_p of the per-array norms,
    every array times min(max_norm / (total + 1e-6), 1)."""
    norms = [vector_norm(g, p) for g in grads]
    total = vector_norm(np.array(norms), p) if norms else 0.0
    coef = max_norm / (total + 1e-6)
    coef = coef if np.isnan(coef) else min(coef, 1.0)
    return total, [np.asarray(g, dtype=np.float64) * coef for g in grads]


def clip_grad_value(grads, clip_value: float):
    """Copies clamped to [-v, v] (NaN stays NaN)."""
    return [np.clip(np.asarray(g, dtype=np.float64), -clip_value, clip_value) for g in grads]


# --- losses --------------------------------------------------------------------


def _reduce(per_element: np.ndarray, reduction: str, divisor: float):
    if reduction == "none":
        return per_element
    total = per_element.sum()
    with np.errstate(invalid="ignore", divide="ignore"):  # mean over nothing: NaN, as torch
        return total / np.float64(divisor) if reduction == "mean" else total


def mse(input, target, reduction: str = "mean", grad_output=None):
    """(loss, d(sum(grad_output * loss))/d input) of (input - target)^2."""
    d = np.asarray(input, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    loss = _reduce(d * d, reduction, d.size)
    go = 1.0 if grad_output is None else np.asarray(grad_output, dtype=np.float64)
    grad = 2.0 * d * go
    if reduction == "mean":
        grad = grad / d.size
    return loss, grad


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log p = x - logsumexp(x), with the max subtracted first for stability."""
    m = np.max(x, axis=axis, keepdims=True)
    return x - (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)))


def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    grad_output=None,
):
    """(loss, gradient) of torch's cross_entropy for (N, C, ...) logits.

    Index targets (N, ...): per sample
        l = (1 - e) * w_t * (-log p_t) + e / C * sum_c w_c * (-log p_c),
    ignored samples give 0; mean divides by the sum of w_t over kept samples.
    Probability targets (shaped like the input), q' = (1 - e) q + e / C:
        l = -sum_c w_c q'_c log p_c; mean divides by the number of samples.
    The gradient of sum(g * l) w.r.t. the logits is g * (p * sum(a) - a)
    where a_c is the coefficient of -log p_c in l.
    """
    x = np.asarray(input, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
        target = np.asarray(target)[None]
    c = x.shape[1]
    x = np.moveaxis(x, 1, -1).reshape(-1, c)  # (samples, C)
    logp = log_softmax(x, axis=1)
    p = np.exp(logp)
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    e = label_smoothing
    t = np.asarray(target)
    if np.issubdtype(t.dtype, np.floating):
        q = np.moveaxis(t.astype(np.float64), 1, -1).reshape(-1, c) if t.ndim > 1 else t.reshape(-1, c)
        a = w * ((1 - e) * q + e / c)  # coefficients of -log p
        kept = np.ones(len(x), dtype=bool)
        divisor = float(len(x))
    else:
        t = t.reshape(-1)
        kept = t != ignore_index
        a = np.zeros_like(x)
        rows = np.nonzero(kept)[0]
        a[rows, t[rows]] += (1 - e) * w[t[rows]]
        a[rows] += e / c * w
        divisor = float(w[t[rows]].sum())
    per_sample = np.sum(a * -logp, axis=1)
    loss = _reduce(per_sample, reduction, divisor)
    if reduction == "none":
        g = np.ones(len(x)) if grad_output is None else np.asarray(grad_output, dtype=np.float64).reshape(-1)
    else:
        g0 = 1.0 if grad_output is None else float(np.asarray(grad_output))
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.full(len(x), g0 / np.float64(divisor) if reduction == "mean" else g0)
    with np.errstate(invalid="ignore"):  # inf scale times 0 when nothing is kept
        grad = g[:, None] * (p * a.sum(axis=1, keepdims=True) - a)
    grad[~kept] = 0.0
    shape = np.asarray(input).shape
    if len(shape) == 1:
        return (loss[0] if reduction == "none" else loss), grad.reshape(shape)
    moved = (shape[0],) + shape[2:] + (c,)
    grad = np.moveaxis(grad.reshape(moved), -1, 1)
    if reduction == "none":
        loss = loss.reshape((shape[0],) + shape[2:])
    return loss, grad


# --- optimizers ----------------------------------------------------------------
# Each `*_step` takes a parameter, its gradient and a state dict, and returns
# (new_param, new_state); state["step"] counts completed steps.


def sgd_step(p, g, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    g = -g if maximize else g
    g = g + weight_decay * p
    state = dict(state)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
        state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, state


def adam_step(
    p,
    g,
    state,
    lr,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    """Adam (L2 weight decay) or, with `decoupled`, AdamW."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    k = state.get("step", 0) + 1
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    new = {"step": k, "exp_avg": m, "exp_avg_sq": v}
    if amsgrad:
        v = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
        new["max_exp_avg_sq"] = v
    m_hat = m / (1 - b1**k)
    v_hat = v / (1 - b2**k)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), new


def rmsprop_step(
    p, g, state, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False
):
    g = -g if maximize else g
    g = g + weight_decay * p
    sq = alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g
    new = {"step": state.get("step", 0) + 1, "square_avg": sq}
    if centered:
        ga = alpha * state.get("grad_avg", 0.0) + (1 - alpha) * g
        new["grad_avg"] = ga
        avg = np.sqrt(sq - ga * ga) + eps
    else:
        avg = np.sqrt(sq) + eps
    if momentum > 0:
        buf = momentum * state.get("momentum_buffer", 0.0) + g / avg
        new["momentum_buffer"] = buf
        return p - lr * buf, new
    return p - lr * g / avg, new


def adagrad_step(
    p, g, state, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False
):
    g = -g if maximize else g
    g = g + weight_decay * p
    k = state.get("step", 0) + 1
    s = state.get("sum", initial_accumulator_value) + g * g
    clr = lr / (1 + (k - 1) * lr_decay)
    return p - clr * g / (np.sqrt(s) + eps), {"step": k, "sum": s}


# --- dense maps ----------------------------------------------------------------


def linear(x, weight, bias=None):
    y = np.asarray(x, dtype=np.float64) @ np.asarray(weight, dtype=np.float64).T
    return y if bias is None else y + bias


def linear_backward(x, weight, dy):
    """(dx, dW, db) of y = x W^T + b over any leading dims."""
    x2 = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(weight)[1])
    dy2 = np.asarray(dy, dtype=np.float64).reshape(-1, np.shape(weight)[0])
    dx = (dy2 @ weight).reshape(np.shape(x))
    return dx, dy2.T @ x2, dy2.sum(axis=0)


def embedding_backward(indices, dy, num_embeddings, padding_idx=None):
    """dW of W[indices]: rows of dy summed at their indices."""
    dim = np.shape(dy)[-1]
    dw = np.zeros((num_embeddings, dim))
    for i, row in zip(np.asarray(indices).reshape(-1), np.asarray(dy, dtype=np.float64).reshape(-1, dim)):
        if i != padding_idx:
            dw[i] += row
    return dw
