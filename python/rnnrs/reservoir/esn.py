"""`ESN`: a reservoir and a ridge readout as a scikit-learn regressor."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from rnnrs._npz import read_npz
from rnnrs.errors import FileFormatError
from rnnrs.reservoir._checks import (
    _as_list,
    _as_sequences,
    _check_float_array,
    _check_positive_int,
    _check_real,
    _is_sparse,
    _relayout,
)
from rnnrs.reservoir._sklearn import NotFittedError, _Base, _Mixin
from rnnrs.reservoir.readouts import Ridge
from rnnrs.reservoir.reservoir import Reservoir

__all__ = ["ESN", "NotFittedError"]


class ESN(_Mixin, _Base):
    """Echo-state network: a reservoir and a ridge readout, scikit-learn style.

    ``fit(X, y, warmup=0)`` runs the reservoir over the input sequences
    (X: (T, I) rows are time steps of one sequence, (B, T, I) a batch, or a
    list of (T_b, I)), discards the first ``warmup`` states of every
    sequence and fits the readout ``y ≈ x @ coef_ + intercept_`` by ridge
    regression (``ridge``). ``predict`` runs from the zero state; ``generate``
    forecasts in closed loop; ``score`` is R².

    Parameters are the reservoir's (see `Reservoir`) plus ``ridge``,
    ``feedback`` (feed the targets back into the reservoir, teacher-forced
    during fit, the model's own predictions in predict), ``fit_intercept``
    and ``dtype`` ("float64" or "float32"). All are stored as given and
    validated in ``fit``.

    Defaults are ReservoirPy 0.4's (connectivities 0.1, normal ``W``,
    Bernoulli ``Win``, tanh) except ``units=100`` (required there),
    ``spectral_radius=1.25`` and ``leak_rate=0.3`` (its Mackey-Glass
    tutorial's; ReservoirPy: 1.0 and 1.0), ``bias_scaling=1.0``
    (ReservoirPy: no bias; without it closed-loop Mackey-Glass generation
    leaves the attractor) and ``ridge=1e-7`` (ReservoirPy: 0, which leaves
    the normal equations singular for redundant states); see the README
    table. `rnnrs.Reservoir` has ReservoirPy's defaults exactly.

    ``ESN`` maps every time step to an output (a regressor over sequences);
    to label whole sequences, use `rnnrs.ESNClassifier`.

    Fitted attributes: ``reservoir_``, ``coef_`` (units, outputs),
    ``intercept_``, ``n_features_in_``, ``n_outputs_``, ``state_`` (state after
    the last step of the last training sequence) and ``last_output_``.
    """

    def __init__(
        self,
        units: int = 100,
        spectral_radius: float | None = 1.25,
        leak_rate: float = 0.3,
        input_scaling: float = 1.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        bias_scaling: float = 1.0,
        ridge: float = 1e-7,
        feedback: bool = False,
        feedback_scaling: float = 1.0,
        activation: str = "tanh",
        noise_rc: float = 0.0,
        noise_in: float = 0.0,
        noise_fb: float = 0.0,
        sparse: bool = True,
        fit_intercept: bool = True,
        dtype: str = "float64",
        seed: int | None = 0,
    ) -> None:
        self.units = units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.connectivity = connectivity
        self.input_connectivity = input_connectivity
        self.bias_scaling = bias_scaling
        self.ridge = ridge
        self.feedback = feedback
        self.feedback_scaling = feedback_scaling
        self.activation = activation
        self.noise_rc = noise_rc
        self.noise_in = noise_in
        self.noise_fb = noise_fb
        self.sparse = sparse
        self.fit_intercept = fit_intercept
        self.dtype = dtype
        self.seed = seed

    # -- scikit-learn metadata

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # -- helpers

    def _dtype(self) -> np.dtype:
        dt = np.dtype(self.dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        return dt

    def _make_reservoir(self, n_inputs: int, n_outputs: int) -> Reservoir:
        return Reservoir(
            units=self.units,
            spectral_radius=self.spectral_radius,
            leak_rate=self.leak_rate,
            input_scaling=self.input_scaling,
            connectivity=self.connectivity,
            input_connectivity=self.input_connectivity,
            bias_scaling=self.bias_scaling,
            feedback_scaling=self.feedback_scaling,
            activation=self.activation,
            noise_rc=self.noise_rc,
            noise_in=self.noise_in,
            noise_fb=self.noise_fb,
            sparse=self.sparse,
            dtype=self._dtype(),
            seed=self.seed,
        ).initialize(n_inputs, n_outputs if self.feedback else 0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments first."
            )

    def _sequences(self, X: Any, reset: bool) -> tuple[list[np.ndarray], str]:
        if _is_sparse(X):
            raise TypeError("X: sparse input is not supported; pass a dense array")
        seqs, layout = _as_sequences(X, "X", self._dtype())
        n_feat = seqs[0].shape[1]
        if any(s.shape[1] != n_feat for s in seqs):
            raise ValueError("X: every sequence must have the same number of features")
        if reset:
            self.n_features_in_ = n_feat
        elif n_feat != self.n_features_in_:
            raise ValueError(
                f"X has {n_feat} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input."
            )
        if any(s.shape[0] == 0 for s in seqs):
            raise ValueError("X: every sequence needs at least one time step (0 sample(s) given)")
        if n_feat == 0:
            raise ValueError(f"X: 0 feature(s) (shape=({seqs[0].shape[0]}, 0)) while a minimum of 1 is required.")
        return seqs, layout

    def _targets(self, y: Any, seqs: list[np.ndarray]) -> tuple[list[np.ndarray], bool]:
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if _is_sparse(y):
            raise TypeError("y: sparse targets are not supported")
        if isinstance(y, (list, tuple)) and len(y) == len(seqs) and all(np.ndim(v) >= 1 for v in y):
            parts = [np.asarray(v) for v in y]
        else:
            arr = np.asarray(y)
            parts = list(arr) if (len(seqs) > 1 and arr.ndim >= 2 and arr.shape[0] == len(seqs)) else [arr]
        if _one_label_per_sequence(y, seqs):
            raise ValueError(
                f"y: one label per sequence ({len(seqs)} sequences); ESN predicts one output per time step. "
                "To classify whole sequences use rnnrs.ESNClassifier (last state, mean state or reservoir "
                "model space into a ridge or logistic readout)."
            )
        if len(parts) != len(seqs):
            raise ValueError(f"y: expected targets for {len(seqs)} sequences, got {len(parts)}")
        y_1d = parts[0].ndim == 1
        out = []
        for k, (p, s) in enumerate(zip(parts, seqs)):
            p2 = _check_float_array(p.reshape(-1, 1) if p.ndim == 1 else p, "y", self._dtype())
            if p2.shape[0] != s.shape[0]:
                raise ValueError(f"y: sequence {k} has {s.shape[0]} input steps but {p2.shape[0]} targets")
            out.append(p2)
        return out, y_1d

    # -- API

    def fit(self, X: Any, y: Any, warmup: int = 0) -> ESN:
        """Fits the readout on the reservoir states of X (after `warmup` steps)."""
        seqs, _ = self._sequences(X, reset=True)
        ys, y_1d = self._targets(y, seqs)
        warmup = _check_positive_int(warmup, "warmup", 0)
        if all(s.shape[0] <= warmup for s in seqs):
            raise ValueError(f"warmup: {warmup} steps leave no training data (sequences have {[len(s) for s in seqs]} steps)")
        if any(v.shape[1] != ys[0].shape[1] for v in ys):
            raise ValueError("y: every sequence must have the same number of outputs")
        self._prepare_fit(self.n_features_in_, ys[0].shape[1], y_1d)
        readout, last_state = self._partition_statistics(seqs, ys, warmup)
        return self._finish_fit(readout, last_state, ys[-1][-1])

    def _prepare_fit(self, n_features: int, n_outputs: int, y_1d: bool) -> None:
        """Validates the hyper-parameters and draws the reservoir (step 1 of fit)."""
        _check_real(self.ridge, "ridge", 0.0)
        self.n_features_in_ = n_features
        self.n_outputs_ = n_outputs
        self._y_1d = y_1d
        self.reservoir_ = self._make_reservoir(n_features, n_outputs)

    def _partition_statistics(
        self, seqs: list[np.ndarray], ys: list[np.ndarray], warmup: int
    ) -> tuple[Ridge, np.ndarray]:
        """Ridge statistics of some sequences and the last state of the last
        one (step 2; runs anywhere, e.g. on a Dask worker)."""
        readout = Ridge(alpha=float(self.ridge), fit_intercept=bool(self.fit_intercept))
        states = self.reservoir_.run(seqs, feedback=ys if self.feedback else None)
        for st_, t in zip(states, ys):
            if st_.shape[0] > warmup:
                readout.partial_fit(st_[warmup:], t[warmup:])
        return readout, states[-1][-1]

    def _finish_fit(self, readout: Ridge, last_state: np.ndarray, last_output: np.ndarray) -> ESN:
        """Solves the readout from summed statistics (step 3)."""
        readout.solve()
        self.readout_ = readout
        self.coef_, self.intercept_ = readout.coef_, readout.intercept_
        self.state_ = np.array(last_state, copy=True)
        self.last_output_ = np.array(last_output, copy=True)
        return self

    def run_reservoir(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Reservoir states for X from the zero state (teacher-free: with
        feedback, the readout's own predictions are fed back)."""
        self._check_fitted()
        seqs, layout = self._sequences(X, reset=False)
        out = [self._run_one(s)[1] for s in seqs]
        return _relayout(out, layout)

    def _run_one(self, s: np.ndarray, x0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        res = self.reservoir_
        if x0 is None:
            x0 = np.zeros(self.units, dtype=res.dtype)
        if self.feedback:
            y0 = np.zeros(self.n_outputs_, dtype=res.dtype)
            return res.run_with_readout(self.coef_, self.intercept_, x0, y0, s.shape[0], X=s)
        states = res.run(s, x0=x0)
        return states @ self.coef_.astype(res.dtype) + self.intercept_.astype(res.dtype), states

    def predict(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Readout outputs for X, run from the zero state: (T,) or (T, O) for
        one sequence, (B, T, O) for a batch, a list for a list."""
        self._check_fitted()
        seqs, layout = self._sequences(X, reset=False)
        if self.feedback:
            outs = [self._run_one(s)[0] for s in seqs]
        else:
            states = self.reservoir_.run(seqs)
            dt = self.reservoir_.dtype
            outs = [st @ self.coef_.astype(dt) + self.intercept_.astype(dt) for st in states]
        outs = [o.astype(np.float64) for o in outs]
        if self._y_1d:
            outs = [o[:, 0] for o in outs]
        return _relayout(outs, layout)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of the predictions (averaged uniformly over outputs)."""
        from rnnrs.metrics import rsquare

        pred = self.predict(X)
        seqs, _ = self._sequences(X, reset=False)
        ys, _ = self._targets(y, seqs)
        p = np.concatenate([np.asarray(v).reshape(len(t), -1) for v, t in zip(_as_list(pred, len(seqs)), ys)])
        return float(rsquare(np.concatenate(ys), p, sample_weight=sample_weight))

    def generate(self, n_steps: int, warmup: Any = None) -> np.ndarray:
        """Closed-loop forecast of `n_steps` steps, the output becoming the next input.

        warmup : optional (T0, I) inputs to run first (teacher-forced feedback
            ``warmup[1:]``); by default continue from the end of training
            (``state_``). Needs as many outputs as inputs.
        """
        self._check_fitted()
        n_steps = _check_positive_int(n_steps, "n_steps", 0)
        if self.n_outputs_ != self.n_features_in_:
            raise ValueError(
                f"generate: the readout has {self.n_outputs_} outputs but the reservoir {self.n_features_in_} inputs"
            )
        dt = self.reservoir_.dtype
        if warmup is None:
            x0, y0 = self.state_, None
        else:
            w = _check_float_array(warmup, "warmup", dt)
            if w.shape[1] != self.n_features_in_:
                raise ValueError(f"warmup: expected {self.n_features_in_} features per step, got {w.shape[1]}")
            fb = None
            if self.feedback:
                # In one-step forecasting the target at t is the input at t+1.
                fb = np.vstack([w[1:], w[-1:]])
            x0 = self.reservoir_.run(w, feedback=fb)[-1]
            y0 = None
        y_first = (np.asarray(x0, dtype=np.float64) @ self.coef_ + self.intercept_) if y0 is None else y0
        outs, _states = self.reservoir_.run_with_readout(self.coef_, self.intercept_, x0, y_first, n_steps)
        # The first output is the one at x0 (the forecast of the next step).
        result = np.vstack([np.asarray(y_first, dtype=np.float64).reshape(1, -1), outs[:-1].astype(np.float64)])
        return result[:, 0] if self._y_1d else result

    def reset(self) -> ESN:
        """Sets the stored state (``state_``) back to zeros."""
        self._check_fitted()
        self.state_ = np.zeros(self.units, dtype=self.reservoir_.dtype)
        return self

    # -- persistence

    def save(self, path: Any) -> None:
        """Saves parameters and fitted weights to a ``.npz`` file."""
        self._check_fitted()
        res = self.reservoir_
        np.savez(
            path,
            params=np.array(json.dumps(self.get_params())),
            W_indptr=res.W_indptr, W_indices=res.W_indices, W_data=res.W_data,
            Win=res.Win, bias=res.bias, Wfb=res.Wfb, leak=res.leak,
            coef=self.coef_, intercept=self.intercept_, state=self.state_, last_output=self.last_output_,
            meta=np.array([self.n_features_in_, self.n_outputs_, int(self._y_1d)]),
        )  # fmt: skip

    @classmethod
    def load(cls, path: Any) -> ESN:
        """Loads an ESN saved with `save` (a path, the file's bytes or a binary
        file). Never unpickles; a broken or foreign file raises
        `rnnrs.errors.FileFormatError` naming it."""
        keys = ("params", "meta", "W_indptr", "W_indices", "W_data", "Win", "bias", "Wfb", "leak", "coef",
                "intercept", "state", "last_output")
        with read_npz(path, "an ESN file (ESN.save)") as z:
            hint = ""
            if any(k.startswith("model.") for k in z.files):
                hint = "; this is a training checkpoint: load it with rnnrs.train.load_checkpoint"
            z.require(keys, hint)
            a = {k: z[k] for k in keys}
        try:
            params = json.loads(str(a["params"]))
            if not isinstance(params, dict):
                raise ValueError("the parameters are not a JSON object")
            est = cls(**params)
            meta = a["meta"]
            if meta.shape != (3,) or not np.issubdtype(meta.dtype, np.integer) or meta.min() < 0:
                raise ValueError(f"meta: expected 3 sizes, got {meta!r}")
            n_in, n_out, y1d = (int(v) for v in meta)
            if a["W_indptr"].shape != (est.units + 1,) or a["Win"].shape != (est.units, n_in):
                raise ValueError(f"W_indptr, Win: expected shapes ({est.units + 1},), ({est.units}, {n_in})")
            est.n_features_in_, est.n_outputs_, est._y_1d = n_in, n_out, bool(y1d)
            res = est._make_reservoir(n_in, n_out)
            res.W_indptr, res.W_indices = a["W_indptr"], a["W_indices"]
            res.W_data, res.Win, res.bias, res.Wfb, res.leak = (
                a["W_data"], a["Win"], a["bias"], a["Wfb"], a["leak"]
            )
            est.reservoir_ = res
            est.coef_, est.intercept_ = a["coef"], a["intercept"]
            est.state_, est.last_output_ = a["state"], a["last_output"]
            if est.state_.shape != (est.units,) or est.last_output_.shape != (n_out,):
                raise ValueError(f"state/last_output: expected shapes ({est.units},), ({n_out},)")
            # One step through everything validates the weights' shapes and the sparse structure.
            est.predict(np.zeros((1, n_in)))
        except (ValueError, TypeError, KeyError) as exc:
            raise FileFormatError(f"does not hold a valid ESN ({exc}); expected an ESN file (ESN.save)",
                                  path=z.path) from exc
        return est


def _one_label_per_sequence(y: Any, seqs: list[np.ndarray]) -> bool:
    """True when y holds one scalar (a class label or value) per sequence of
    several sequences, at least one of them longer than one step."""
    if len(seqs) < 2 or all(s.shape[0] == 1 for s in seqs):
        return False
    try:
        arr = np.asarray(y)
    except ValueError:
        return False
    return arr.dtype != object and arr.shape in ((len(seqs),), (len(seqs), 1))
