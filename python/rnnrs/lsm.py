"""Liquid state machine (Maass, Natschläger & Markram 2002): a spiking reservoir with a ridge readout.

The liquid is a network of leaky integrate-and-fire neurons on a 3-D grid, 80 % excitatory and
20 % inhibitory, connected with probability ``C * exp(-(D(a, b) / lambda)^2)`` (``C`` by the pair of
types, D the grid distance), with exponential synaptic currents and a refractory period; its
simulation (fixed time step, event-driven spike propagation along sparse synapses) runs in Rust,
sequences in parallel. Readout features per window of ``window`` steps are spike counts or
exponentially filtered spike trains; the readout is `rnnrs.Ridge`.

Example::

    import numpy as np, rnnrs as rr
    X_train, y_train, X_test, y_test = rr.datasets.japanese_vowels()
    lsm = rr.LSM(shape=(8, 8, 8), input_scaling=5.0, steps_per_input=5, ridge=1.0, seed=0)
    lsm.fit(X_train, y_train)                      # one label per sequence: a classifier
    print(lsm.score(X_test, y_test))               # accuracy
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from rnnrs import _core
from rnnrs.reservoir import Ridge

__all__ = ["LSM"]

# Connection probability scale C and mean weight (nA) by (pre, post) type, Maass et al. 2002.
_PAIRS = {("E", "E"): (0.3, 30.0), ("E", "I"): (0.2, 60.0), ("I", "E"): (0.4, -19.0), ("I", "I"): (0.1, -19.0)}


def _sequences(X: Any) -> list:
    if isinstance(X, np.ndarray) and X.ndim == 2:
        seqs = [X]
    elif isinstance(X, np.ndarray) and X.ndim == 3:
        seqs = list(X)
    elif isinstance(X, (list, tuple)) and len(X) > 0:
        seqs = list(X)
    else:
        raise ValueError("X: expected a (T, I) sequence, a (B, T, I) batch or a non-empty list of (T_b, I)")
    out = []
    for b, s in enumerate(seqs):
        a = np.asarray(s, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] == 0:
            raise ValueError(f"X[{b}]: expected a (T, I) array with T >= 1, got shape {a.shape}")
        if out and a.shape[1] != out[0].shape[1]:
            raise ValueError(f"X[{b}]: expected {out[0].shape[1]} channels like X[0], got {a.shape[1]}")
        out.append(a)
    return out


class LSM:
    """Liquid state machine with a ridge readout, scikit-learn style.

    Liquid: ``shape`` grid of LIF neurons (``tau_m``, ``v_thresh``, ``v_reset``, resting potential 0,
    input resistance 1, refractory ``refractory`` = (excitatory, inhibitory) in time units, synaptic
    time constants ``tau_syn`` = (excitatory, inhibitory), background current per neuron uniform in
    ``bias``), ``inhibitory_fraction`` inhibitory neurons, connection probability
    ``C exp(-(D/lam)^2)`` and gamma-distributed weights (mean as in Maass et al. 2002, SD 70 %)
    times ``weight_scaling`` (default 0.2: with exponential currents integrated exactly, the paper's
    weights drive the liquid into saturation at the refractory limit). Input: every channel connects to ``input_connectivity`` of the neurons
    with weights N(1, 0.5) times ``input_scaling``; ``input_mode`` 'current' injects ``u W_in`` as a
    current, 'spikes' treats nonzero inputs as spikes into the excitatory current. Each input step is
    held for ``steps_per_input`` simulation steps of ``dt``.

    Readout: features per window of ``window`` input steps, ``features='traces'`` (spike trains
    filtered with ``tau_trace``, sampled at the window's end) or ``'counts'``. ``fit(X, y)`` with one
    class label per sequence trains a classifier on the mean and the last window's features of every
    sequence (``predict`` returns labels, ``score`` accuracy); with ``y`` a list of per-window targets
    ``(windows_b, outputs)`` it fits a regression per window (``score`` is R²). Ridge penalty ``ridge``.
    """

    def __init__(self, shape: Sequence[int] = (10, 10, 10), inhibitory_fraction: float = 0.2, lam: float = 2.0,
                 weight_scaling: float = 0.2, input_connectivity: float = 0.3, input_scaling: float = 5.0,
                 input_mode: str = "current", dt: float = 1.0, tau_m: float = 30.0, v_thresh: float = 15.0,
                 v_reset: float = 13.5, refractory: Sequence[float] = (3.0, 2.0),
                 tau_syn: Sequence[float] = (3.0, 6.0), bias: Sequence[float] = (13.5, 14.5),
                 features: str = "traces", window: int = 1, tau_trace: float = 30.0, steps_per_input: int = 1,
                 ridge: float = 1.0, seed: int | None = 0) -> None:
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"shape: expected three positive grid sizes, got {shape!r}")
        for name, v, lo, hi in (("inhibitory_fraction", inhibitory_fraction, 0, 1),
                                ("input_connectivity", input_connectivity, 0, 1)):
            if not lo <= v <= hi:
                raise ValueError(f"{name}: expected a value in [{lo}, {hi}], got {v!r}")
        if not lam > 0:
            raise ValueError(f"lam: expected a positive length, got {lam!r}")
        if input_mode not in ("current", "spikes"):
            raise ValueError(f"input_mode: expected 'current' or 'spikes', got {input_mode!r}")
        if features not in ("traces", "counts"):
            raise ValueError(f"features: expected 'traces' or 'counts', got {features!r}")
        for name, v in (("window", window), ("steps_per_input", steps_per_input)):
            if int(v) != v or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        self.inhibitory_fraction, self.lam, self.weight_scaling = inhibitory_fraction, lam, weight_scaling
        self.input_connectivity, self.input_scaling, self.input_mode = input_connectivity, input_scaling, input_mode
        self.dt, self.tau_m, self.v_thresh, self.v_reset = dt, tau_m, v_thresh, v_reset
        self.refractory, self.tau_syn, self.bias = tuple(refractory), tuple(tau_syn), tuple(bias)
        self.features, self.window, self.tau_trace = features, int(window), tau_trace
        self.steps_per_input, self.ridge, self.seed = int(steps_per_input), ridge, seed
        self._build_liquid()
        self._inputs = None

    @property
    def units(self) -> int:
        return int(np.prod(self.shape))

    def _build_liquid(self) -> None:
        rng = np.random.default_rng(self.seed)
        n = self.units
        pos = np.stack(np.unravel_index(np.arange(n), self.shape), axis=1).astype(np.float64)
        exc = np.ones(n, bool)
        exc[rng.choice(n, int(round(self.inhibitory_fraction * n)), replace=False)] = False
        self.excitatory_ = exc
        ptr, cols, vals = [0], [], []
        kind = np.where(exc, "E", "I")
        for a in range(n):  # one presynaptic row at a time: memory O(N)
            d2 = np.sum((pos - pos[a]) ** 2, axis=1)
            c = np.array([_PAIRS[(kind[a], kb)][0] for kb in "EI"])[(~exc).astype(int)]
            mean = _PAIRS[(kind[a], "E")][1], _PAIRS[(kind[a], "I")][1]
            p = c * np.exp(-d2 / self.lam ** 2)
            p[a] = 0.0
            post = np.flatnonzero(rng.random(n) < p)
            m = np.where(exc[post], mean[0], mean[1])
            # Gamma with mean |m| and SD 0.7 |m| (shape 1/0.49), sign of the presynaptic type.
            w = np.sign(m) * rng.gamma(1 / 0.49, 0.49 * np.abs(m)) * self.weight_scaling
            cols.extend(post.tolist())
            vals.extend(w.tolist())
            ptr.append(len(cols))
        self.synapses_ = (np.array(ptr, np.int64), np.array(cols, np.int64), np.array(vals, np.float64))
        ref_steps = np.round(np.array(self.refractory) / self.dt).astype(np.int64)
        self.refractory_steps_ = np.where(exc, ref_steps[0], ref_steps[1])
        lo, hi = self.bias
        self.bias_ = rng.uniform(lo, hi, n)
        self.v0_ = rng.uniform(self.v_reset, self.v_thresh, n)
        self._rng_state = rng.bit_generator.state

    def _input_synapses(self, n_in: int):
        if self._inputs is None or len(self._inputs[0]) != n_in + 1:
            rng = np.random.default_rng(None if self.seed is None else self.seed + 1)
            ptr, cols, vals = [0], [], []
            for _ in range(n_in):
                post = np.flatnonzero(rng.random(self.units) < self.input_connectivity)
                cols.extend(post.tolist())
                vals.extend((rng.normal(1.0, 0.5, len(post)) * self.input_scaling).tolist())
                ptr.append(len(cols))
            self._inputs = (np.array(ptr, np.int64), np.array(cols, np.int64), np.array(vals, np.float64))
        return self._inputs

    def transform(self, X: Any) -> list:
        """Readout features of every sequence: a list of ``(windows_b, units)`` float64 arrays."""
        seqs = _sequences(X)
        n_in = seqs[0].shape[1]
        if hasattr(self, "n_features_in_") and n_in != self.n_features_in_:
            raise ValueError(f"X: expected {self.n_features_in_} channels (as in fit), got {n_in}")
        held = [np.repeat(s, self.steps_per_input, axis=0) for s in seqs]
        lengths = np.array([len(h) for h in held], np.int64)
        seq_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        u = np.ascontiguousarray(np.concatenate(held))
        window = self.window * self.steps_per_input
        constants = [self.dt, self.tau_m, 0.0, self.v_thresh, self.v_reset, 1.0, self.tau_syn[0], self.tau_syn[1],
                     self.tau_trace]
        feats, spikes = _core.lsm_run(constants, self.excitatory_, self.refractory_steps_, self.bias_, self.v0_,
                                      self.synapses_, self._input_synapses(n_in), u, seq_ptr, self.input_mode,
                                      self.features, window)
        self.last_spike_count_ = int(spikes)
        counts = -(-lengths // window)
        return np.split(feats, np.cumsum(counts)[:-1])

    @staticmethod
    def _pool(states: list) -> np.ndarray:
        return np.stack([np.concatenate([s.mean(axis=0), s[-1]]) for s in states])

    def fit(self, X: Any, y: Any) -> LSM:
        """Fits the ridge readout (a classifier for one label per sequence, else a per-window regression)."""
        states = self.transform(X)
        self.n_features_in_ = _sequences(X)[0].shape[1]
        y_arr = np.asarray(y) if not isinstance(y, (list, tuple)) or np.ndim(y[0]) == 0 else None
        self.readout_ = Ridge(alpha=float(self.ridge))
        if y_arr is not None and y_arr.ndim == 1:
            if len(y_arr) != len(states):
                raise ValueError(f"y: expected one label per sequence ({len(states)}), got {len(y_arr)}")
            self.classes_, idx = np.unique(y_arr, return_inverse=True)
            self.readout_.fit(self._pool(states), np.eye(len(self.classes_))[idx])
        else:
            ys = [np.asarray(t, np.float64) for t in y]
            if len(ys) != len(states) or any(t.ndim not in (1, 2) or len(t) != len(s) for t, s in zip(ys, states)):
                raise ValueError("y: expected one label per sequence, or one (windows_b, outputs) target per sequence")
            ys = [t.reshape(len(t), -1) for t in ys]
            self.classes_ = None
            self.readout_.fit(np.concatenate(states), np.concatenate(ys))
        return self

    def predict(self, X: Any):
        """Class labels (classifier) or a list of ``(windows_b, outputs)`` predictions."""
        if not hasattr(self, "readout_"):
            raise ValueError("LSM.predict: call fit() first")
        states = self.transform(X)
        if self.classes_ is not None:
            return self.classes_[np.argmax(self.readout_.predict(self._pool(states)), axis=1)]
        return [self.readout_.predict(s) for s in states]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy (classifier) or R² over all windows (regression)."""
        pred = self.predict(X)
        if self.classes_ is not None:
            return float(np.mean(pred == np.asarray(y)))
        from rnnrs.metrics import rsquare

        t = np.concatenate([np.asarray(v, np.float64).reshape(len(p), -1) for v, p in zip(y, pred)])
        return float(rsquare(t, np.concatenate([p.reshape(len(p), -1) for p in pred])))
