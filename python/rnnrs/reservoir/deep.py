"""`DeepESN`: stacked (deep) or parallel (grouped) reservoirs with one ridge readout.

Gallicchio, Micheli and Pedroni (2017), "Deep reservoir computing: a critical experimental
analysis", Neurocomputing 268:87-99, https://doi.org/10.1016/j.neucom.2016.12.089. In the deep
mode layer 1 is driven by the input and layer l > 1 by the states of layer l - 1; in the grouped
mode (Gallicchio et al.'s "GroupedESN") every layer is driven by the input. The readout sees the
states of all layers, concatenated. Each layer is an `rnnrs.Reservoir` (Rust kernels), with its
own seed derived from ``seed`` and the layer index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs.reservoir._checks import _check_positive_int, _relayout
from rnnrs.reservoir._sklearn import NotFittedError, _Base, _Mixin
from rnnrs.reservoir.esn import ESN
from rnnrs.reservoir.readouts import Ridge
from rnnrs.reservoir.reservoir import Reservoir

__all__ = ["DeepESN"]


def _per_layer(value: Any, layers: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != layers:
            raise ValueError(f"{name}: expected {layers} values (one per layer), got {len(value)}")
        return list(value)
    return [value] * layers


class DeepESN(_Mixin, _Base):
    """Deep or grouped echo-state network, scikit-learn regressor over sequences (as `rnnrs.ESN`).

    layers : number of reservoirs. mode : "deep" (stacked) or "grouped" (parallel).
    units, spectral_radius, leak_rate, connectivity : one value for all layers or a list with one
        per layer.
    input_scaling, input_connectivity : of the external input (layer 1 in deep mode, every layer
        in grouped mode); inter_scaling, inter_connectivity : of the layer-to-layer weights.
    bias_scaling, activation, ridge, fit_intercept, dtype, seed : as `rnnrs.ESN`.

    ``fit(X, y, warmup)``, ``predict(X)``, ``score(X, y)`` (R²), ``run_reservoir(X)`` (the
    concatenated states). Fitted: ``reservoirs_`` (one `rnnrs.Reservoir` per layer), ``coef_``
    (sum of units, outputs), ``intercept_``.
    """

    def __init__(self, units: Any = 100, layers: int = 3, mode: str = "deep", spectral_radius: Any = 0.9,
                 leak_rate: Any = 1.0, input_scaling: float = 1.0, input_connectivity: float = 0.1,
                 inter_scaling: float = 1.0, inter_connectivity: float = 0.1, connectivity: Any = 0.1,
                 bias_scaling: float = 0.0, activation: str = "tanh", ridge: float = 1e-7,
                 fit_intercept: bool = True, dtype: str = "float64", seed: int | None = 0) -> None:  # fmt: skip
        self.units = units
        self.layers = layers
        self.mode = mode
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.input_connectivity = input_connectivity
        self.inter_scaling = inter_scaling
        self.inter_connectivity = inter_connectivity
        self.connectivity = connectivity
        self.bias_scaling = bias_scaling
        self.activation = activation
        self.ridge = ridge
        self.fit_intercept = fit_intercept
        self.dtype = dtype
        self.seed = seed

    # ESN's input and target handling is shared (same layouts, same errors).
    _dtype = ESN._dtype
    _sequences = ESN._sequences
    _targets = ESN._targets
    score = ESN.score

    def _make_layers(self, n_inputs: int) -> list[Reservoir]:
        n = _check_positive_int(self.layers, "layers")
        if self.mode not in ("deep", "grouped"):
            raise ValueError(f"mode: expected 'deep' or 'grouped', got {self.mode!r}")
        units = _per_layer(self.units, n, "units")
        sr = _per_layer(self.spectral_radius, n, "spectral_radius")
        lr = _per_layer(self.leak_rate, n, "leak_rate")
        conn = _per_layer(self.connectivity, n, "connectivity")
        base = 0 if self.seed is None else int(self.seed)
        out, fan_in = [], n_inputs
        for k in range(n):
            first = k == 0 or self.mode == "grouped"
            res = Reservoir(
                units[k], spectral_radius=sr[k], leak_rate=lr[k], connectivity=conn[k],
                input_scaling=self.input_scaling if first else self.inter_scaling,
                input_connectivity=self.input_connectivity if first else self.inter_connectivity,
                bias_scaling=self.bias_scaling, activation=self.activation, dtype=self._dtype(),
                seed=None if self.seed is None else int(np.random.SeedSequence([base, k]).generate_state(1)[0]),
            )  # fmt: skip
            out.append(res.initialize(n_inputs if first else fan_in))
            fan_in = units[k]
        return out

    def _run(self, seqs: list[np.ndarray]) -> list[np.ndarray]:
        """Concatenated states of every layer, per sequence."""
        per_layer, drive = [], seqs
        for res in self.reservoirs_:
            states = res.run(list(drive))
            per_layer.append(states)
            if self.mode == "deep":
                drive = states
        return [np.concatenate([layer[b] for layer in per_layer], axis=1) for b in range(len(seqs))]

    def fit(self, X: Any, y: Any, warmup: int = 0) -> DeepESN:
        """Runs all layers over X and fits the ridge readout on their concatenated states."""
        seqs, _ = self._sequences(X, reset=True)
        ys, self._y_1d = self._targets(y, seqs)
        warmup = _check_positive_int(warmup, "warmup", 0)
        if all(s.shape[0] <= warmup for s in seqs):
            raise ValueError(f"warmup: {warmup} steps leave no training data")
        self.reservoirs_ = self._make_layers(self.n_features_in_)
        readout = Ridge(alpha=float(self.ridge), fit_intercept=bool(self.fit_intercept))
        for st, t in zip(self._run(seqs), ys):
            if st.shape[0] > warmup:
                readout.partial_fit(st[warmup:], t[warmup:])
        readout.solve()
        self.coef_, self.intercept_ = readout.coef_, readout.intercept_
        self.n_outputs_ = self.coef_.shape[1]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first.")

    def run_reservoir(self, X: Any) -> Any:
        """Concatenated states of all layers, in the layout of X."""
        self._check_fitted()
        seqs, layout = self._sequences(X, reset=False)
        return _relayout(self._run(seqs), layout)

    def predict(self, X: Any) -> Any:
        """Readout outputs for X (each sequence from the zero state), in the layout of X."""
        self._check_fitted()
        seqs, layout = self._sequences(X, reset=False)
        outs = [st.astype(np.float64) @ self.coef_ + self.intercept_ for st in self._run(seqs)]
        return _relayout([o[:, 0] if self._y_1d else o for o in outs], layout)
