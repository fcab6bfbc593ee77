"""Reservoirs with unsupervised plasticity: `IPReservoir` (intrinsic plasticity of each unit's
gain and bias) and `LocalPlasticityReservoir` (local synaptic rules on the recurrent weights).

`IPReservoir`:

Triesch (2005), "A gradient rule for the plasticity of a neuron's intrinsic excitability", ICANN;
Schrauwen, Wardermann, Verstraeten, Steil and Stroobandt (2008), "Improving reservoirs using
intrinsic plasticity", Neurocomputing 71(7-9):1159-1171; ReservoirPy's ``IPReservoir`` (same
update, same order of operations). Per step, with ``s`` the leaky pre-activation and ``y`` the
output of each unit,

    s[t+1] = (1 - lr) s[t] + lr (W y[t] + Win u[t+1] + bias)
    y[t+1] = f(a ⊙ s[t+1] + b)

and during ``fit`` the gain ``a`` and bias ``b`` follow the gradient of the KL divergence between
the output distribution and a target: for tanh a Gaussian N(mu, sigma²) (Schrauwen et al.),

    Δb = mu/σ² - (y/σ²)(2σ² + 1 - y² + mu y),   Δa = 1/a + Δb s,

for sigmoid an exponential of mean mu (Triesch), ``Δb = 1 - (2 + 1/mu) y + y²/mu``; then
``a += η Δa``, ``b += η Δb`` with ``η = learning_rate``. ``fit`` runs ``epochs`` passes over the
sequences, the state carried from one sequence to the next (as ReservoirPy); ``run`` starts every
sequence from zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs.reservoir._checks import (
    _as_sequences,
    _check_float_array,
    _check_positive_int,
    _check_real,
    _relayout,
    _seed_int,
)
from rnnrs.reservoir.init import bernoulli, uniform

__all__ = ["IPReservoir", "LocalPlasticityReservoir"]


class IPReservoir:
    """Intrinsic-plasticity reservoir (ReservoirPy's ``IPReservoir`` semantics and defaults:
    ``W`` uniform on [-1, 1) at density ``connectivity`` rescaled to ``spectral_radius`` when
    given, ``Win`` Bernoulli ±1 at density ``input_connectivity`` times ``input_scaling``,
    ``bias`` Bernoulli ±1 dense). float64, dense matrices, NumPy time loop.

    Attributes ``a`` (gains) and ``b`` (biases) start at 1 and 0 and are learned by ``fit(X)``
    (unsupervised: X only). ``run(X)`` returns the unit outputs ``y``.
    """

    def __init__(self, units: int, spectral_radius: float | None = None, leak_rate: Any = 1.0, mu: float = 0.0,
                 sigma: float = 1.0, learning_rate: float = 5e-4, epochs: int = 1, input_scaling: Any = 1.0,
                 input_connectivity: float = 0.1, connectivity: float = 0.1, activation: str = "tanh",
                 seed: int | None = None) -> None:  # fmt: skip
        self.units = _check_positive_int(units, "units")
        self.spectral_radius = spectral_radius
        self.input_scaling = input_scaling
        self.input_connectivity = _check_real(input_connectivity, "input_connectivity", 0.0, 1.0)
        self.connectivity = _check_real(connectivity, "connectivity", 0.0, 1.0)
        self.seed = _seed_int(seed)
        self._set_rule(leak_rate, mu, sigma, learning_rate, epochs, activation)
        self.initialized = False

    def _set_rule(self, leak_rate: Any, mu: float, sigma: float, learning_rate: float, epochs: int,
                  activation: str) -> None:  # fmt: skip
        self.leak_rate = np.broadcast_to(np.asarray(leak_rate, dtype=np.float64), (self.units,)).copy()
        if not np.all((self.leak_rate > 0) & (self.leak_rate <= 1)):
            raise ValueError("leak_rate: every leak rate must lie in (0, 1]")
        if activation not in ("tanh", "sigmoid"):
            raise ValueError(f"activation: intrinsic plasticity needs 'tanh' or 'sigmoid', got {activation!r}")
        self.activation = activation
        self.mu = _check_real(mu, "mu")
        self.sigma = _check_real(sigma, "sigma", 0.0, low_open=True)
        if activation == "sigmoid" and self.mu <= 0:
            raise ValueError("mu: the exponential target of sigmoid units needs mu > 0")
        self.learning_rate = _check_real(learning_rate, "learning_rate", 0.0)
        self.epochs = _check_positive_int(epochs, "epochs", 0)

    def initialize(self, n_inputs: int) -> IPReservoir:
        """Draws the weights for ``n_inputs`` inputs; ``a = 1``, ``b = 0``."""
        n_inputs = _check_positive_int(n_inputs, "n_inputs")
        streams = np.random.SeedSequence(self.seed).spawn(3)
        self.W = uniform(self.units, connectivity=self.connectivity, sr=self.spectral_radius, seed=streams[0])
        scale = np.asarray(self.input_scaling, dtype=np.float64)
        self.Win = bernoulli(self.units, n_inputs, connectivity=self.input_connectivity, seed=streams[1]) * scale
        self.bias = bernoulli(self.units, 1, connectivity=1.0, seed=streams[2])[:, 0]
        self.a, self.b = np.ones(self.units), np.zeros(self.units)
        self.initialized = True
        return self

    @classmethod
    def from_weights(cls, W: Any, Win: Any, bias: Any = None, leak_rate: Any = 1.0, mu: float = 0.0,
                     sigma: float = 1.0, learning_rate: float = 5e-4, epochs: int = 1,
                     activation: str = "tanh") -> IPReservoir:  # fmt: skip
        """An IP reservoir with given ``W`` (N, N), ``Win`` (N, I) and ``bias`` (N,)."""
        W = _check_float_array(W, "W")
        n = W.shape[0]
        if W.shape != (n, n):
            raise ValueError(f"W: expected a square matrix, got shape {W.shape}")
        Win = _check_float_array(Win, "Win")
        if Win.shape[0] != n:
            raise ValueError(f"Win: expected {n} rows, got shape {Win.shape}")
        self = cls.__new__(cls)
        self.units, self.seed = n, 0
        self._set_rule(leak_rate, mu, sigma, learning_rate, epochs, activation)
        self.W, self.Win = W, Win
        self.bias = np.zeros(n) if bias is None else _check_float_array(bias, "bias", ndim=(1,))
        if self.bias.shape != (n,):
            raise ValueError(f"bias: expected shape ({n},), got {self.bias.shape}")
        self.a, self.b = np.ones(n), np.zeros(n)
        self.initialized = True
        return self

    def _f(self, v: np.ndarray) -> np.ndarray:
        return np.tanh(v) if self.activation == "tanh" else 1.0 / (1.0 + np.exp(-v))

    def _gradients(self, s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.activation == "tanh":
            sig2 = self.sigma**2
            db = -(-(self.mu / sig2) + (y / sig2) * (2 * sig2 + 1 - y**2 + self.mu * y))
        else:
            db = 1 - (2 + 1 / self.mu) * y + y**2 / self.mu
        return 1 / self.a + db * s, db

    def _checked(self, X: Any) -> tuple[list[np.ndarray], str]:
        seqs, layout = _as_sequences(X, "X", np.float64)
        if not self.initialized:
            self.initialize(seqs[0].shape[1])
        for s in seqs:
            if s.shape[1] != self.Win.shape[1]:
                raise ValueError(f"X: expected {self.Win.shape[1]} features per step, got {s.shape[1]}")
        return seqs, layout

    def fit(self, X: Any, y: Any = None, warmup: int = 0) -> IPReservoir:
        """Learns the gains ``a`` and biases ``b`` over ``epochs`` passes of X (steps before
        ``warmup`` of each sequence are left out, as in ReservoirPy)."""
        seqs, _ = self._checked(X)
        warmup = _check_positive_int(warmup, "warmup", 0)
        lr, eta = self.leak_rate, self.learning_rate
        s, out = np.zeros(self.units), np.zeros(self.units)
        for _ in range(self.epochs):
            for seq in seqs:
                drive = seq[warmup:] @ self.Win.T + self.bias
                for d in drive:
                    s = (1 - lr) * s + lr * (self.W @ out + d)
                    out = self._f(self.a * s + self.b)
                    da, db = self._gradients(s, out)
                    self.a += eta * da
                    self.b += eta * db
        return self

    def run(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Unit outputs ``y`` (T, units) per sequence, each from the zero state."""
        seqs, layout = self._checked(X)
        lr, outs = self.leak_rate, []
        for seq in seqs:
            drive = seq @ self.Win.T + self.bias
            s, out, states = np.zeros(self.units), np.zeros(self.units), np.empty((seq.shape[0], self.units))
            for t, d in enumerate(drive):
                s = (1 - lr) * s + lr * (self.W @ out + d)
                out = self._f(self.a * s + self.b)
                states[t] = out
            outs.append(states)
        return _relayout(outs, layout)


_RULES = ("oja", "anti-oja", "hebbian", "anti-hebbian", "bcm")


class LocalPlasticityReservoir:
    """Reservoir whose recurrent weights learn by a local rule (ReservoirPy's
    ``LocalPlasticityReservoir``: its update, defaults and weight laws).

    State update (ReservoirPy's form, the leak acting on the output ``x = f(s)``)::

        s[t+1] = (1 - lr) x[t] + lr (W x[t] + Win u[t+1] + bias),   x[t+1] = f(s[t+1])

    ``fit(X)`` changes every nonzero ``W[i, j]`` after each step by, with ``pre = s_j[t]``,
    ``post = s_i[t+1]`` and ``η = eta``:

    * ``"hebbian"``: ``η post pre`` (Hebb 1949); ``"anti-hebbian"``: its negative;
    * ``"oja"``: ``η post (pre - post W_ij)`` (Oja 1982, normalised Hebbian); ``"anti-oja"``: its
      negative (Babinec & Pospíchal 2007, anti-Oja learning in ESNs);
    * ``"bcm"``: ``η post (post - θ) pre`` with threshold ``bcm_theta`` (Bienenstock, Cooper and
      Munro 1982);

    then, with ``synapse_normalization``, divides each row of ``W`` by its L2 norm (synaptic
    scaling). Each sequence starts from the zero state; ``epochs`` passes. (ReservoirPy 0.4.2
    does not advance the state inside ``fit``, so there ``pre`` stays at the initial state; the
    two agree for one-step sequences and differ otherwise.) ``run(X)`` returns ``x``.
    """

    def __init__(self, units: int, local_rule: str = "oja", eta: float = 1e-3, bcm_theta: float = 0.0,
                 synapse_normalization: bool = False, epochs: int = 1, spectral_radius: float | None = 1.0,
                 leak_rate: Any = 1.0, input_scaling: Any = 1.0, input_connectivity: float = 0.1,
                 connectivity: float = 0.1, activation: str = "tanh", seed: int | None = None) -> None:  # fmt: skip
        self.units = _check_positive_int(units, "units")
        self.spectral_radius = spectral_radius
        self.input_scaling = input_scaling
        self.input_connectivity = _check_real(input_connectivity, "input_connectivity", 0.0, 1.0)
        self.connectivity = _check_real(connectivity, "connectivity", 0.0, 1.0)
        self.seed = _seed_int(seed)
        self._set_rule(local_rule, eta, bcm_theta, synapse_normalization, epochs, leak_rate, activation)
        self.initialized = False

    def _set_rule(self, local_rule: str, eta: float, bcm_theta: float, synapse_normalization: bool, epochs: int,
                  leak_rate: Any, activation: str) -> None:  # fmt: skip
        rule = str(local_rule).lower()
        if rule not in _RULES:
            raise ValueError(f"local_rule: expected one of {_RULES}, got {local_rule!r}")
        self.local_rule = rule
        self.eta = _check_real(eta, "eta")
        self.bcm_theta = _check_real(bcm_theta, "bcm_theta")
        self.synapse_normalization = bool(synapse_normalization)
        self.epochs = _check_positive_int(epochs, "epochs", 0)
        self.leak_rate = np.broadcast_to(np.asarray(leak_rate, dtype=np.float64), (self.units,)).copy()
        if not np.all((self.leak_rate > 0) & (self.leak_rate <= 1)):
            raise ValueError("leak_rate: every leak rate must lie in (0, 1]")
        from rnnrs.reference.esn import ACTIVATIONS

        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {tuple(ACTIVATIONS)}, got {activation!r}")
        self.activation, self._f = activation, ACTIVATIONS[activation]

    def initialize(self, n_inputs: int) -> LocalPlasticityReservoir:
        """Draws ``W`` (uniform, rescaled to ``spectral_radius``), ``Win`` and ``bias`` (Bernoulli)."""
        n_inputs = _check_positive_int(n_inputs, "n_inputs")
        streams = np.random.SeedSequence(self.seed).spawn(3)
        self.W = uniform(self.units, connectivity=self.connectivity, sr=self.spectral_radius, seed=streams[0])
        scale = np.asarray(self.input_scaling, dtype=np.float64)
        self.Win = bernoulli(self.units, n_inputs, connectivity=self.input_connectivity, seed=streams[1]) * scale
        self.bias = bernoulli(self.units, 1, connectivity=1.0, seed=streams[2])[:, 0]
        self.initialized = True
        return self

    @classmethod
    def from_weights(cls, W: Any, Win: Any, bias: Any = None, local_rule: str = "oja", eta: float = 1e-3,
                     bcm_theta: float = 0.0, synapse_normalization: bool = False, epochs: int = 1,
                     leak_rate: Any = 1.0, activation: str = "tanh") -> LocalPlasticityReservoir:  # fmt: skip
        """A plastic reservoir with given ``W`` (N, N), ``Win`` (N, I) and ``bias`` (N,)."""
        W = _check_float_array(W, "W")
        n = W.shape[0]
        if W.shape != (n, n):
            raise ValueError(f"W: expected a square matrix, got shape {W.shape}")
        Win = _check_float_array(Win, "Win")
        if Win.shape[0] != n:
            raise ValueError(f"Win: expected {n} rows, got shape {Win.shape}")
        self = cls.__new__(cls)
        self.units, self.seed = n, 0
        self._set_rule(local_rule, eta, bcm_theta, synapse_normalization, epochs, leak_rate, activation)
        self.W, self.Win = W.copy(), Win
        self.bias = np.zeros(n) if bias is None else _check_float_array(bias, "bias", ndim=(1,))
        if self.bias.shape != (n,):
            raise ValueError(f"bias: expected shape ({n},), got {self.bias.shape}")
        self.initialized = True
        return self

    def _increment(self, w: np.ndarray, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        eta, rule = self.eta, self.local_rule
        if rule == "hebbian":
            return eta * post * pre
        if rule == "anti-hebbian":
            return -eta * post * pre
        if rule == "oja":
            return eta * post * (pre - post * w)
        if rule == "anti-oja":
            return -eta * post * (pre - post * w)
        return eta * post * (post - self.bcm_theta) * pre  # bcm

    def _checked(self, X: Any) -> tuple[list[np.ndarray], str]:
        seqs, layout = _as_sequences(X, "X", np.float64)
        if not self.initialized:
            self.initialize(seqs[0].shape[1])
        for s in seqs:
            if s.shape[1] != self.Win.shape[1]:
                raise ValueError(f"X: expected {self.Win.shape[1]} features per step, got {s.shape[1]}")
        return seqs, layout

    def fit(self, X: Any, y: Any = None, warmup: int = 0) -> LocalPlasticityReservoir:
        """Adapts ``W`` by the local rule over ``epochs`` passes of X (steps before ``warmup`` of
        each sequence left out, as in ReservoirPy)."""
        seqs, _ = self._checked(X)
        warmup = _check_positive_int(warmup, "warmup", 0)
        rows, cols = np.nonzero(self.W)
        lr = self.leak_rate
        for _ in range(self.epochs):
            for seq in seqs:
                s, x = np.zeros(self.units), np.zeros(self.units)
                for d in seq[warmup:] @ self.Win.T + self.bias:
                    s_next = (1 - lr) * x + lr * (self.W @ x + d)
                    self.W[rows, cols] += self._increment(self.W[rows, cols], s[cols], s_next[rows])
                    if self.synapse_normalization:
                        norms = np.sqrt(np.sum(self.W**2, axis=1, keepdims=True))
                        self.W /= np.where(norms > 0, norms, 1.0)
                    s, x = s_next, self._f(s_next)
        if not np.all(np.isfinite(self.W)):
            raise FloatingPointError("fit: the recurrent weights diverged; lower eta or use synapse_normalization")
        return self

    def run(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Unit outputs ``x`` (T, units) per sequence, each from the zero state."""
        seqs, layout = self._checked(X)
        lr, outs = self.leak_rate, []
        for seq in seqs:
            x, states = np.zeros(self.units), np.empty((seq.shape[0], self.units))
            for t, d in enumerate(seq @ self.Win.T + self.bias):
                x = self._f((1 - lr) * x + lr * (self.W @ x + d))
                states[t] = x
            outs.append(states)
        return _relayout(outs, layout)
