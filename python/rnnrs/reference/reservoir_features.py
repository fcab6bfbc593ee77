"""Plain NumPy reference for reservoir feature maps and variants: NVAR (NG-RC) features, the
reservoir model space, the ES2N update. Explicit loops, one line per equation: slow on purpose."""

from __future__ import annotations

import itertools

import numpy as np


def nvar(u, delay, order, strides=1):
    """NVAR features step by step, as ReservoirPy's node: a window of the last ``delay·strides``
    inputs (newest first, zeros at the start); linear part = every ``strides``-th entry of the
    window flattened; nonlinear part = the product of each ``combinations_with_replacement`` of
    the linear features of size ``order``."""
    u = np.asarray(u, dtype=np.float64)
    window = np.zeros((delay * strides, u.shape[1]))
    out = []
    for x in u:
        window = np.roll(window, 1, axis=0)
        window[0] = x
        lin = window[::strides].ravel()
        nonlin = [np.prod([lin[i] for i in combo]) for combo in itertools.combinations_with_replacement(range(len(lin)), order)]
        out.append(np.concatenate([lin, nonlin]))
    return np.array(out)


def model_space(r, ridge):
    """``[vec(A), c]`` minimising ``Σ_t |r[t+1] - r[t] A - c|² + ridge·|A|²`` (intercept free),
    from the normal equations of the augmented design ``[r[t], 1]``."""
    r = np.asarray(r, dtype=np.float64)
    d = r.shape[1]
    design = np.hstack([r[:-1], np.ones((len(r) - 1, 1))])
    penalty = ridge * np.eye(d + 1)
    penalty[d, d] = 0.0  # the intercept is not penalised
    coef = np.linalg.solve(design.T @ design + penalty, design.T @ r[1:])
    return np.concatenate([coef[:d].ravel(), coef[d]])


def es2n_run(W, Win, O, bias, proximity, u):
    """``x[t+1] = (1 - β) O x[t] + β tanh(W x[t] + Win u[t+1] + bias)`` from zeros, one step at a time."""
    x = np.zeros(W.shape[0])
    out = []
    for ut in np.asarray(u, dtype=np.float64):
        x = (1 - proximity) * (O @ x) + proximity * np.tanh(W @ x + Win @ ut + bias)
        out.append(x)
    return np.array(out)
