"""`NVAR`: the nonlinear vector autoregression of next-generation reservoir computing.

Gauthier, Bollt, Griffith and Barbosa (2021), "Next generation reservoir computing", Nature
Communications 12:5564, https://doi.org/10.1038/s41467-021-25801-2; ReservoirPy's ``NVAR`` node.

With ``k = delay``, ``s = strides`` and ``n = order``, the features at step t are

    lin[t]    = u[t] ⊕ u[t-s] ⊕ u[t-2s] ⊕ ... ⊕ u[t-(k-1)s]          (k·I numbers)
    nonlin[t] = every unique monomial of degree n of lin[t]            (C(k·I + n - 1, n) numbers)
    out[t]    = lin[t] ⊕ nonlin[t]

in ReservoirPy's order (inputs before ``t`` are zeros at the start; monomials in the order of
``itertools.combinations_with_replacement`` over the linear features). A ridge readout on these
features (its intercept plays the paper's constant feature) gives the NG-RC.
"""

from __future__ import annotations

import itertools
from math import comb
from typing import Any

import numpy as np

from rnnrs.reservoir._checks import _as_sequences, _check_float_array, _check_positive_int, _relayout

__all__ = ["NVAR"]


class NVAR:
    """Nonlinear vector autoregression features (NG-RC), ReservoirPy's ``NVAR`` semantics.

    delay : number of time points in the linear features (``k``; 1 = current input only).
    order : degree of the monomials (``n``).
    strides : spacing between the time points (``s``).

    Two ways to use it:

    * stateful, like a ReservoirPy node: ``run(X)`` / ``step(u)`` continue from the inputs seen so
      far (``reset()`` forgets them) — for closed-loop forecasting;
    * stateless, scikit-learn transformer style: ``fit(X)`` / ``transform(X)`` start every
      sequence from zero history (X: (T, I), (B, T, I) or a list of (T_b, I)).
    """

    def __init__(self, delay: int, order: int, strides: int = 1) -> None:
        self.delay = _check_positive_int(delay, "delay")
        self.order = _check_positive_int(order, "order")
        self.strides = _check_positive_int(strides, "strides")
        self.n_inputs: int | None = None

    # -- dimensions

    def initialize(self, n_inputs: int) -> NVAR:
        """Prepares the monomial table and a zero input history for ``n_inputs`` inputs."""
        self.n_inputs = _check_positive_int(n_inputs, "n_inputs")
        n_lin = self.delay * self.n_inputs
        if comb(n_lin + self.order - 1, self.order) > 50_000_000:
            raise ValueError(
                f"order, delay: {comb(n_lin + self.order - 1, self.order)} monomials of degree {self.order} "
                f"over {n_lin} linear features is too many; lower order or delay"
            )
        self.monomials_ = monomial_indices(n_lin, self.order)
        self.reset()
        return self

    @property
    def n_linear(self) -> int:
        """Number of linear features, ``delay * n_inputs``."""
        self._need_init()
        return self.delay * self.n_inputs

    @property
    def n_outputs(self) -> int:
        """Number of features: linear plus monomials."""
        self._need_init()
        return self.n_linear + len(self.monomials_)

    def _need_init(self) -> None:
        if self.n_inputs is None:
            raise RuntimeError("NVAR: call initialize(n_inputs), run or fit first")

    def reset(self) -> NVAR:
        """Forgets the input history (the next step starts from zeros)."""
        self._need_init()
        self.history_ = np.zeros((self.delay * self.strides, self.n_inputs))  # oldest first
        return self

    # -- features

    def _features(self, u: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features of the steps of ``u`` (T, I) after ``history``; returns them and the new history."""
        span = history.shape[0]
        ext = np.concatenate([history, u])
        t = u.shape[0]
        lin = np.concatenate([ext[span - j * self.strides : span - j * self.strides + t] for j in range(self.delay)], axis=1)
        nonlin = np.prod(lin[:, self.monomials_], axis=2) if len(self.monomials_) else np.zeros((t, 0))
        return np.concatenate([lin, nonlin], axis=1), ext[ext.shape[0] - span :]

    def run(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Features of the input steps, continuing from the stored history ((T, n_outputs) for
        (T, I); a batch or list runs its sequences one after the other, like one stream)."""
        seqs, layout = _as_sequences(X, "X", np.float64)
        if self.n_inputs is None:
            self.initialize(seqs[0].shape[1])
        outs = []
        for s in seqs:
            if s.shape[1] != self.n_inputs:
                raise ValueError(f"X: expected {self.n_inputs} features per step, got {s.shape[1]}")
            f, self.history_ = self._features(s, self.history_)
            outs.append(f)
        return _relayout(outs, layout)

    def step(self, u: Any) -> np.ndarray:
        """Features of one input vector ``u`` (I,), continuing the history."""
        u = _check_float_array(u, "u", ndim=(1,))
        return self.run(u.reshape(1, -1))[0]

    # -- scikit-learn transformer

    def fit(self, X: Any, y: Any = None) -> NVAR:
        """Records the number of inputs (nothing is learned)."""
        seqs, _ = _as_sequences(X, "X", np.float64)
        self.initialize(seqs[0].shape[1])
        self.n_features_in_ = self.n_inputs
        return self

    def transform(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Features of every sequence from zero history, in the layout of X."""
        self._need_init()
        seqs, layout = _as_sequences(X, "X", np.float64, self.n_inputs)
        zero = np.zeros((self.delay * self.strides, self.n_inputs))
        return _relayout([self._features(s, zero)[0] for s in seqs], layout)

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray | list[np.ndarray]:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters (scikit-learn protocol)."""
        return {"delay": self.delay, "order": self.order, "strides": self.strides}

    def set_params(self, **params: Any) -> NVAR:
        """Sets constructor parameters (scikit-learn protocol)."""
        merged = {**self.get_params(), **params}
        if set(merged) != {"delay", "order", "strides"}:
            raise ValueError(f"Invalid parameters for NVAR: {sorted(set(merged) - {'delay', 'order', 'strides'})}")
        self.__init__(**merged)
        return self


def monomial_indices(n_features: int, order: int) -> np.ndarray:
    """Indices of the unique monomials of degree ``order`` over ``n_features`` variables,
    ``(C(n_features + order - 1, order), order)``, in ``combinations_with_replacement`` order."""
    return np.array(list(itertools.combinations_with_replacement(range(n_features), order)), dtype=np.intp).reshape(
        -1, order
    )
