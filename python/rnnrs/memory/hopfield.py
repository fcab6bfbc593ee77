"""Hopfield networks: the classical binary network (Hopfield 1982) and modern (dense) retrieval
(Ramsauer et al. 2020).

- `Hopfield`: ±1 units, Hebbian or Storkey learning, energy, synchronous or asynchronous updates to a
  fixed point. The weights are one dense float32 ``(N, N)`` array (4 N² bytes: 400 MB at N = 10 000):
  dense because Storkey weights are not a function of a few patterns, float32 because a sweep streams
  the whole matrix (fewer bytes, faster sweep); the fields are summed in float64 in the Rust core.
- `ModernHopfield`: one retrieval step ``ξ_new = softmax(β ξ Xᵀ) X`` as a layer with backward, its stored
  patterns ``X`` a trainable parameter; `modern_retrieve` is the stateless form.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import numpy as np

from rnnrs import _core

__all__ = ["Hopfield", "ModernHopfield", "modern_retrieve"]


def _binary(x, arg: str, n: int) -> Tuple[np.ndarray, bool]:
    """`x` as a C-contiguous int8 (rows, n) array of ±1 and whether it was one vector."""
    a = np.asarray(x)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{arg}: expected a numeric array of +1/-1 values, got dtype {a.dtype}")
    single = a.ndim == 1
    if single:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"{arg}: expected shape ({n},) or (rows, {n}), got {np.shape(x)}")
    bad = (a != 1) & (a != -1)
    if bad.any():
        values = np.unique(a[bad])[:5]
        raise ValueError(f"{arg}: expected binary patterns of +1 and -1 only, got values {values.tolist()}")
    return np.ascontiguousarray(a, dtype=np.int8), single


class Hopfield:
    """Classical binary Hopfield network of `n_units` ±1 units.

    Weights are symmetric with a zero diagonal; energy ``E(s) = -1/2 sᵀ W s``; a unit update is
    ``s_i <- sign(Σ_j W_ij s_j)``, keeping ``s_i`` when the field is exactly 0.

    rule: ``"hebbian"`` (``W += (1/N) Σ ξ ξᵀ``; capacity about 0.138 N) or ``"storkey"`` (Storkey 1997;
    incremental and local, higher capacity). `store` may be called repeatedly (incremental learning).

    Example::

        net = rr.hopfield.Hopfield(100, rule="storkey").store(patterns)   # patterns (P, 100) of ±1
        state, converged = net.update(noisy, mode="async", seed=0)
    """

    def __init__(self, n_units: int, rule: str = "hebbian"):
        if isinstance(n_units, bool) or int(n_units) != n_units or int(n_units) < 1:
            raise ValueError(f"n_units: expected an integer >= 1, got {n_units!r}")
        if rule not in ("hebbian", "storkey"):
            raise ValueError(f"rule: expected 'hebbian' or 'storkey', got {rule!r}")
        self.n_units = int(n_units)
        self.rule = rule
        try:
            self.weights = np.zeros((self.n_units, self.n_units), dtype=np.float32)
        except MemoryError as e:
            raise MemoryError(f"n_units: {self.n_units}² float32 weights do not fit in memory") from e
        self.n_patterns = 0
        #: Sweeps/updates each state of the last `update` took.
        self.last_steps: Optional[np.ndarray] = None

    def _weights(self) -> np.ndarray:
        w = self.weights
        if w.dtype != np.float32 or w.shape != (self.n_units, self.n_units) or not w.flags.c_contiguous:
            raise ValueError(f"weights: expected a C-contiguous float32 array of shape {(self.n_units,) * 2}")
        return w

    def store(self, patterns) -> "Hopfield":
        """Learns the rows of `patterns` (``(P, N)`` or one ``(N,)`` vector of ±1) with the network's rule."""
        p, _ = _binary(patterns, "patterns", self.n_units)
        learn = _core.hopfield_hebbian if self.rule == "hebbian" else _core.hopfield_storkey
        learn(self._weights(), p)
        self.n_patterns += p.shape[0]
        return self

    def energy(self, states) -> Union[float, np.ndarray]:
        """``-1/2 sᵀ W s`` of one state ``(N,)`` (a float) or of each row of ``(B, N)``."""
        s, single = _binary(states, "states", self.n_units)
        e = _core.hopfield_energy(self._weights(), s)
        return float(e[0]) if single else e

    def update(self, states, mode: str = "async", max_steps: int = 100, seed: int = 0):
        """Updates states until a fixed point or `max_steps`; returns ``(states, converged)``.

        mode: ``"async"`` updates one unit at a time in a fresh random order each sweep (SplitMix64
        Fisher-Yates seeded with ``seed + row``; it always reaches a fixed point) and counts sweeps;
        ``"sync"`` updates every unit at once and counts updates (it may end in a 2-cycle: then
        ``converged`` is False). `states` is ``(N,)`` (returns a vector and a bool) or ``(B, N)`` (rows
        run independently, in parallel; returns ``(B, N)`` and a ``(B,)`` bool array). Results are int8.
        The number of sweeps each row took is left in `last_steps`.
        """
        if mode not in ("async", "sync"):
            raise ValueError(f"mode: expected 'async' or 'sync', got {mode!r}")
        if isinstance(max_steps, bool) or int(max_steps) != max_steps or int(max_steps) < 1:
            raise ValueError(f"max_steps: expected an integer >= 1, got {max_steps!r}")
        if isinstance(seed, bool) or int(seed) != seed or int(seed) < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
        s, single = _binary(states, "states", self.n_units)
        out, conv, steps = _core.hopfield_run(self._weights(), s, mode, int(max_steps), int(seed) % 2**64)
        self.last_steps = steps
        return (out[0], bool(conv[0])) if single else (out, conv)

    recall = update

    def __repr__(self) -> str:
        return f"Hopfield(n_units={self.n_units}, rule={self.rule!r}, n_patterns={self.n_patterns})"


def _float_pair(query, patterns) -> Tuple[np.ndarray, np.ndarray]:
    q, x = np.asarray(query), np.asarray(patterns)
    for a, arg in ((q, "query"), (x, "patterns")):
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{arg}: expected float32 or float64, got {a.dtype}")
    if q.dtype != x.dtype:
        raise TypeError(f"query: expected {x.dtype} like the patterns, got {q.dtype}")
    return np.ascontiguousarray(q), np.ascontiguousarray(x)


def _beta(beta) -> float:
    b = float(beta)
    if not np.isfinite(b):
        raise ValueError(f"beta: expected a finite number, got {beta!r}")
    return b


def modern_retrieve(query, patterns, beta: float = 1.0, steps: int = 1) -> np.ndarray:
    """Modern Hopfield retrieval ``ξ <- softmax(β ξ Xᵀ) X`` applied `steps` times.

    query: ``(B, d)`` or ``(d,)``; patterns: ``(P, d)`` stored rows ``X``; same float dtype.
    """
    q, x = _float_pair(query, patterns)
    single = q.ndim == 1
    q = q[None, :] if single else q
    if isinstance(steps, bool) or int(steps) != steps or int(steps) < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    b = _beta(beta)
    for _ in range(int(steps)):
        q, _attn = _core.modern_hopfield_forward(q, x, b)
    return q[0] if single else q


class ModernHopfield:
    """Modern Hopfield retrieval as a trainable layer: ``y = softmax(β q Xᵀ) X``.

    The stored patterns ``X`` ``(P, d)`` are the parameter ``params["patterns"]``; `forward` takes
    queries ``(B, d)``; `backward(dy)` returns the query gradient, ADDS the patterns' gradient to
    ``grads["patterns"]`` and sets `grad_beta` (β itself is a fixed hyper-parameter). Follows the
    module protocol of rnnrs' layers (``params``/``grads`` dicts, `zero_grad`, `state_dict`).
    """

    def __init__(self, patterns, beta: float = 1.0):
        x = np.array(patterns, copy=True)
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"patterns: expected float32 or float64, got {x.dtype}")
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"patterns: expected a non-empty (P, d) array, got shape {x.shape}")
        self.beta = _beta(beta)
        self.dtype = x.dtype
        self.params: Dict[str, np.ndarray] = {"patterns": np.ascontiguousarray(x)}
        self.grads: Dict[str, np.ndarray] = {"patterns": np.zeros_like(x)}
        self.grad_beta = 0.0
        self._saved = None

    def __call__(self, query) -> np.ndarray:
        return self.forward(query, train=False)

    def forward(self, query, train: bool = True) -> np.ndarray:
        """One retrieval step for queries ``(B, d)``; keeps what `backward` needs when `train`."""
        q, x = _float_pair(query, self.params["patterns"])
        if q.ndim != 2:
            raise ValueError(f"query: expected shape (B, {x.shape[1]}), got {q.shape}")
        y, attn = _core.modern_hopfield_forward(q, x, self.beta)
        self._saved = (q, attn) if train else None
        self.attention = attn
        return y

    def backward(self, dy) -> np.ndarray:
        """Gradient w.r.t. the queries; accumulates ``grads["patterns"]`` and sets `grad_beta`."""
        if self._saved is None:
            raise RuntimeError("backward: call forward(query, train=True) first")
        q, attn = self._saved
        dy = np.ascontiguousarray(dy)
        if dy.dtype != self.dtype:
            raise TypeError(f"dy: expected {self.dtype}, got {dy.dtype}")
        dq, dx, dbeta = _core.modern_hopfield_backward(q, self.params["patterns"], self.beta, attn, dy)
        self.grads["patterns"] += dx
        self.grad_beta = dbeta
        return dq

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0)
        self.grad_beta = 0.0

    def state_dict(self) -> Dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict) -> None:
        v = np.asarray(state_dict["patterns"])
        if v.shape != self.params["patterns"].shape:
            raise ValueError(f"state_dict['patterns']: expected shape {self.params['patterns'].shape}, got {v.shape}")
        np.copyto(self.params["patterns"], v, casting="same_kind")
