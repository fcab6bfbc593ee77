"""`ES2N`: the edge-of-stability echo-state network (Ceni & Gallicchio 2024).

Ceni, A. and Gallicchio, C. (2024), "Edge of stability echo state network", IEEE Transactions on
Neural Networks and Learning Systems, https://doi.org/10.1109/TNNLS.2024.3400045; ReservoirPy's
``ES2N`` node. The state update mixes a random orthogonal map ``O`` with the usual nonlinear one,

    x[t+1] = (1 - β) O x[t] + β f(W x[t] + Win u[t+1] + bias),

with proximity ``β`` in (0, 1] (β = 1: a plain ESN with leak 1). Because ``O`` is orthogonal the
linear part neither grows nor shrinks: for small β the Jacobian's spectrum sits near the unit
circle, the edge of stability, which gives long memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs.reservoir._checks import _as_sequences, _check_float_array, _relayout
from rnnrs.reservoir.init import orthogonal
from rnnrs.reservoir.reservoir import Reservoir

__all__ = ["ES2N"]

_F = {
    "tanh": np.tanh,
    "identity": lambda s: s,
    "sigmoid": lambda s: 1.0 / (1.0 + np.exp(-s)),
    "relu": lambda s: np.maximum(s, 0.0),
}


class ES2N:
    """Edge-of-stability reservoir: ``x' = (1-β) O x + β f(W x + Win u + bias)``.

    Parameters as `rnnrs.Reservoir` (``W``, ``Win`` and ``bias`` are drawn the same way, from the
    same ``seed``) plus ``proximity`` (β, scalar or one per unit, in (0, 1]); ``O`` is a
    Haar-random orthogonal matrix from the seed. Use `from_weights` to give all matrices.
    ``run(X)`` returns the states in the layout of X ((T, I), (B, T, I) or a list), each sequence
    from ``x0`` (zeros by default). float64, dense matrices.
    """

    def __init__(self, units: int, proximity: Any = 1.0, spectral_radius: float | None = 1.0,
                 input_scaling: Any = 1.0, connectivity: float = 0.1, input_connectivity: float = 0.1,
                 bias_scaling: float = 0.0, activation: str = "tanh", seed: int | None = None) -> None:  # fmt: skip
        self._base = Reservoir(units, spectral_radius=spectral_radius, input_scaling=input_scaling,
                               connectivity=connectivity, input_connectivity=input_connectivity,
                               bias_scaling=bias_scaling, activation=activation, seed=seed)  # fmt: skip
        self.units, self.activation, self.seed = self._base.units, activation, self._base.seed
        self.proximity = self._check_proximity(proximity)
        self.initialized = False

    def _check_proximity(self, proximity: Any) -> np.ndarray:
        beta = np.broadcast_to(np.asarray(proximity, dtype=np.float64), (self.units,)).copy()
        if not np.all((beta > 0) & (beta <= 1)):
            raise ValueError("proximity: every value must lie in (0, 1]")
        return beta

    def initialize(self, n_inputs: int) -> ES2N:
        """Draws ``W``, ``Win``, ``bias`` (as `rnnrs.Reservoir`) and ``O`` for ``n_inputs`` inputs."""
        self._base.initialize(n_inputs)
        self.W = np.asarray(self._base.W, dtype=np.float64)
        self.Win = np.asarray(self._base.Win, dtype=np.float64)
        self.bias = np.asarray(self._base.bias, dtype=np.float64)
        self.O = orthogonal(self.units, seed=np.random.SeedSequence([self.seed, 4]))
        self.initialized = True
        return self

    @classmethod
    def from_weights(cls, W: Any, Win: Any, O: Any, bias: Any = None, proximity: Any = 1.0,
                     activation: str = "tanh") -> ES2N:  # fmt: skip
        """An ES2N with given ``W`` (N, N), ``Win`` (N, I), ``O`` (N, N) and ``bias`` (N,)."""
        W = _check_float_array(W, "W")
        n = W.shape[0]
        if W.shape != (n, n):
            raise ValueError(f"W: expected a square matrix, got shape {W.shape}")
        O = _check_float_array(O, "O")
        if O.shape != (n, n):
            raise ValueError(f"O: expected shape ({n}, {n}), got {O.shape}")
        Win = _check_float_array(Win, "Win")
        if Win.shape[0] != n:
            raise ValueError(f"Win: expected {n} rows, got shape {Win.shape}")
        if activation not in _F:
            raise ValueError(f"activation: expected one of {tuple(_F)}, got {activation!r}")
        self = cls.__new__(cls)
        self.units, self.activation, self.seed = n, activation, 0
        self.proximity = self._check_proximity(proximity)
        self.W, self.Win, self.O = W, Win, O
        self.bias = np.zeros(n) if bias is None else _check_float_array(bias, "bias", ndim=(1,))
        if self.bias.shape != (n,):
            raise ValueError(f"bias: expected shape ({n},), got {self.bias.shape}")
        self.initialized = True
        return self

    def run(self, X: Any, x0: Any = None) -> np.ndarray | list[np.ndarray]:
        """States ``(T, units)`` per sequence, each from ``x0`` (zeros by default)."""
        seqs, layout = _as_sequences(X, "X", np.float64)
        if not self.initialized:
            self.initialize(seqs[0].shape[1])
        start = np.zeros(self.units) if x0 is None else _check_float_array(x0, "x0", ndim=(1,))
        if start.shape != (self.units,):
            raise ValueError(f"x0: expected shape ({self.units},), got {start.shape}")
        f, beta = _F[self.activation], self.proximity
        outs = []
        for s in seqs:
            if s.shape[1] != self.Win.shape[1]:
                raise ValueError(f"X: expected {self.Win.shape[1]} features per step, got {s.shape[1]}")
            drive = s @ self.Win.T + self.bias  # input projection of all steps at once
            x, states = start, np.empty((s.shape[0], self.units))
            for t in range(s.shape[0]):
                x = (1 - beta) * (self.O @ x) + beta * f(self.W @ x + drive[t])
                states[t] = x
            outs.append(states)
        return _relayout(outs, layout)

