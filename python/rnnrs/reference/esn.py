"""Plain NumPy reference for reservoir computing: the leaky state update,
ridge regression, RLS / LMS and the datasets' recurrences.

Dense matrices, explicit loops, one line per equation: slow on purpose.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = {
    "tanh": np.tanh,
    "identity": lambda s: s,
    "sigmoid": lambda s: 1.0 / (1.0 + np.exp(-s)),
    "relu": lambda s: np.maximum(s, 0.0),
}


def reservoir_run(W, Win, bias, leak, u, x0=None, activation="tanh", Wfb=None, teacher=None, y0=None):
    """States x[1..T] of ``x[t+1] = (1-lr) x[t] + lr f(W x[t] + Win u[t+1] + bias + Wfb y[t])``.

    u: (T, I); teacher: (T, O) targets, fed back one step late (y0 first).
    """
    f = ACTIVATIONS[activation]
    T = u.shape[0]
    n = W.shape[0]
    x = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64)
    states = np.zeros((T, n))
    for t in range(T):
        s = W @ x + Win @ u[t] + bias
        if Wfb is not None and Wfb.shape[1] > 0:
            y_prev = (np.zeros(Wfb.shape[1]) if y0 is None else y0) if t == 0 else teacher[t - 1]
            s = s + Wfb @ y_prev
        x = (1 - leak) * x + leak * f(s)
        states[t] = x
    return states


def closed_loop(W, Win, bias, leak, coef, intercept, x0, y0, n_steps, activation="tanh", Wfb=None):
    """Generation: input (and feedback) at each step is the previous output."""
    f = ACTIVATIONS[activation]
    x, y = np.asarray(x0, dtype=np.float64), np.asarray(y0, dtype=np.float64)
    outs, states = [], []
    for _ in range(n_steps):
        s = W @ x + Win @ y + bias
        if Wfb is not None and Wfb.shape[1] > 0:
            s = s + Wfb @ y
        x = (1 - leak) * x + leak * f(s)
        y = x @ coef + intercept
        outs.append(y)
        states.append(x)
    return np.array(outs), np.array(states)


def ridge(X, Y, alpha, fit_intercept=True):
    """Ridge regression by explicit centring and ``numpy.linalg.solve``:
    ``W = (Xcᵀ Xc + α I)⁻¹ Xcᵀ Yc``, ``b = mean(Y) - mean(X) W`` (intercept not
    regularised)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    if fit_intercept:
        mx, my = X.mean(0), Y.mean(0)
    else:
        mx, my = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
    Xc, Yc = X - mx, Y - my
    W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ Yc)
    return W, my - mx @ W


def rls(X, Y, alpha=1e-6, forgetting=1.0):
    """Recursive least squares from ``P = I / alpha``, ``W = 0``."""
    f = X.shape[1]
    P = np.eye(f) / alpha
    W = np.zeros((f, Y.shape[1]))
    for x, y in zip(X, Y):
        Px = P @ x
        k = Px / (forgetting + x @ Px)
        e = y - W.T @ x
        W = W + np.outer(k, e)
        P = (P - np.outer(k, Px)) / forgetting
    return W, P


def lms(X, Y, learning_rate):
    """Least mean squares from ``W = 0``."""
    W = np.zeros((X.shape[1], Y.shape[1]))
    for x, y in zip(X, Y):
        W = W + learning_rate * np.outer(x, y - W.T @ x)
    return W


def narma(u, order=10, a1=0.3, a2=0.05, b=1.5, c=0.1):
    """``y[t+1] = a1 y[t] + a2 y[t] Σ_{i<order} y[t-i] + b u[t-order+1] u[t] + c``."""
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    y = np.zeros_like(u)
    for t in range(order - 1, len(u) - 1):
        window = sum(y[t - i] for i in range(order))
        y[t + 1] = a1 * y[t] + a2 * y[t] * window + b * u[t - order + 1] * u[t] + c
    return y


def mackey_glass_rk4_step(xt, xtau, a=0.2, b=0.1, n=10, h=1.0):
    """One RK4 step of ``dx/dt = a x_tau / (1 + x_tau^n) - b x`` with x_tau frozen."""

    def rhs(x):
        return a * xtau / (1 + xtau**n) - b * x

    k1 = h * rhs(xt)
    k2 = h * rhs(xt + k1 / 2)
    k3 = h * rhs(xt + k2 / 2)
    k4 = h * rhs(xt + k3)
    return xt + (k1 + 2 * k2 + 2 * k3 + k4) / 6
