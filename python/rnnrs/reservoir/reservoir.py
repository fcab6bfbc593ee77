"""Reservoir computing: reservoirs, readouts and the `ESN` estimator.

The state update is ReservoirPy's ``"internal"`` equation (per unit ``i``)::

    x[t+1] = (1 - lr) * x[t] + lr * f(W x[t] + Win (u[t+1] + n_in) + bias + Wfb (y[t] + n_fb)) + n_rc

with ``n_*`` seeded Gaussian noise scaled by its gain. Weights follow
ReservoirPy's initialisers: ``W`` sparse with density ``connectivity`` and
normal values (``"uniform"``/``"bernoulli"`` available), rescaled to
``spectral_radius`` (estimated by restarted Arnoldi, or given as
``radius``); ``Win`` and ``bias`` Bernoulli ±1 with density
``input_connectivity`` scaled by ``input_scaling`` / ``bias_scaling``.

The ridge readout accumulates ``XᵀX`` and ``XᵀY`` in float64 and solves by
Cholesky. Unlike ReservoirPy's ``Ridge`` (which appends a constant column to
the states and regularises its weight like any other), the intercept is fitted
by centring through the accumulated sums and is *not* regularised (the
scikit-learn convention). For the small ``ridge`` values used in practice the
two agree closely.
"""


from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs import _core
from rnnrs.reservoir._checks import _as_sequences, _check_float_array, _check_positive_int, _check_real, _seed_int

__all__ = ["Reservoir"]

_ACTIVATIONS = ("tanh", "identity", "sigmoid", "relu")
_DISTRIBUTIONS = ("uniform", "normal", "bernoulli")


class Reservoir:
    """A pool of leaky-integrator units with sparse random recurrent weights.

    Parameters (ReservoirPy names in parentheses are accepted as aliases):

    units : number of units.
    spectral_radius (sr) : target spectral radius of ``W`` (default 1.0, as
        ReservoirPy); None keeps ``W`` unscaled.
    radius : the spectral radius of the unscaled ``W`` if known (skips the
        Arnoldi estimate).
    leak_rate (lr) : leak rate in (0, 1], scalar or one per unit.
    input_scaling : scalar or one per input.
    connectivity (rc_connectivity) : density of ``W`` in (0, 1].
    input_connectivity : density of ``Win`` and ``bias`` in (0, 1].
    bias_scaling : scale of the bias (default 0: no bias, as ReservoirPy).
    feedback_scaling, feedback_connectivity : ``Wfb`` (used when initialised
        with feedback outputs).
    activation : "tanh", "identity", "sigmoid" or "relu".
    w_distribution, win_distribution, bias_distribution : "normal",
        "uniform" (on [-1, 1)) or "bernoulli" (±1).
    noise_rc, noise_in, noise_fb : gains of Gaussian noise on the state, the
        input and the fed-back output.
    sparse : keep ``W`` in CSR form (True) or dense.
    dtype : float32 or float64.
    seed : integer seed; every weight and noise value derives from it.
    krylov_dim : Krylov subspace dimension of the spectral-radius estimate.
    """

    def __init__(
        self,
        units: int,
        spectral_radius: float | None = 1.0,
        leak_rate: float | np.ndarray = 1.0,
        input_scaling: float | np.ndarray = 1.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        bias_scaling: float = 0.0,
        feedback_scaling: float = 1.0,
        feedback_connectivity: float = 0.1,
        activation: str = "tanh",
        w_distribution: str = "normal",
        win_distribution: str = "bernoulli",
        bias_distribution: str = "bernoulli",
        noise_rc: float = 0.0,
        noise_in: float = 0.0,
        noise_fb: float = 0.0,
        sparse: bool = True,
        radius: float | None = None,
        dtype: Any = np.float64,
        seed: int | None = None,
        krylov_dim: int = 100,
        *,
        sr: float | None = None,
        lr: float | np.ndarray | None = None,
        rc_connectivity: float | None = None,
    ) -> None:
        if sr is not None:
            spectral_radius = sr
        if lr is not None:
            leak_rate = lr
        if rc_connectivity is not None:
            connectivity = rc_connectivity
        self.units = _check_positive_int(units, "units")
        self.spectral_radius = None if spectral_radius is None else _check_real(spectral_radius, "spectral_radius", 0.0)
        self.radius = None if radius is None else _check_real(radius, "radius", 0.0, low_open=True)
        lr_arr = np.asarray(leak_rate, dtype=np.float64)
        if lr_arr.ndim > 1 or (lr_arr.ndim == 1 and lr_arr.shape[0] != self.units):
            raise ValueError(f"leak_rate: expected a scalar or shape ({self.units},), got shape {lr_arr.shape}")
        if not np.all((lr_arr > 0) & (lr_arr <= 1)):
            raise ValueError("leak_rate: every leak rate must lie in (0, 1]")
        self.leak_rate = leak_rate
        isc = np.asarray(input_scaling, dtype=np.float64)
        if isc.ndim > 1 or not np.all(np.isfinite(isc)):
            raise ValueError("input_scaling: expected a finite scalar or one value per input")
        self.input_scaling = input_scaling
        for name, v in (
            ("connectivity", connectivity),
            ("input_connectivity", input_connectivity),
            ("feedback_connectivity", feedback_connectivity),
        ):
            v = _check_real(v, name)
            if not 0 < v <= 1:
                raise ValueError(f"{name}: expected a value in (0, 1], got {v}")
        self.connectivity = float(connectivity)
        self.input_connectivity = float(input_connectivity)
        self.feedback_connectivity = float(feedback_connectivity)
        self.bias_scaling = _check_real(bias_scaling, "bias_scaling")
        self.feedback_scaling = _check_real(feedback_scaling, "feedback_scaling")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation: expected one of {_ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        for name, v in (
            ("w_distribution", w_distribution),
            ("win_distribution", win_distribution),
            ("bias_distribution", bias_distribution),
        ):
            if v not in _DISTRIBUTIONS:
                raise ValueError(f"{name}: expected one of {_DISTRIBUTIONS}, got {v!r}")
        self.w_distribution, self.win_distribution, self.bias_distribution = (
            w_distribution,
            win_distribution,
            bias_distribution,
        )
        self.noise_rc = _check_real(noise_rc, "noise_rc", 0.0)
        self.noise_in = _check_real(noise_in, "noise_in", 0.0)
        self.noise_fb = _check_real(noise_fb, "noise_fb", 0.0)
        self.sparse = bool(sparse)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.seed = _seed_int(seed)
        self.krylov_dim = _check_positive_int(krylov_dim, "krylov_dim")
        self.initialized = False
        self._calls = 0

    # -- weights

    def initialize(self, n_inputs: int, n_feedback: int = 0) -> Reservoir:
        """Draws the weights for `n_inputs` inputs and `n_feedback` fed-back outputs."""
        n_inputs = _check_positive_int(n_inputs, "n_inputs")
        n_feedback = _check_positive_int(n_feedback, "n_feedback", 0)
        n, seed = self.units, self.seed
        indptr, indices, data = _core.sparse_random(n, n, self.connectivity, self.w_distribution, 1.0, seed, 0)
        self.W_radius = None
        if self.spectral_radius is not None:
            rho = self.radius
            if rho is None:
                rho, _res, _conv, _restarts = _core.spectral_radius(
                    indptr, indices, data, n, krylov_dim=self.krylov_dim, seed=seed
                )
            self.W_radius = float(rho)
            if rho > 0:
                data = data * (self.spectral_radius / rho)
        isc = np.asarray(self.input_scaling, dtype=np.float64)
        if isc.ndim == 1 and isc.shape[0] != n_inputs:
            raise ValueError(f"input_scaling: expected {n_inputs} values (one per input), got {isc.shape[0]}")
        win = _core.dense_random(n, n_inputs, self.input_connectivity, self.win_distribution, 1.0, seed, 1) * isc
        if self.bias_scaling != 0.0:
            bias = _core.dense_random(
                n, 1, self.input_connectivity, self.bias_distribution, self.bias_scaling, seed, 2
            )[:, 0]
        else:
            bias = np.zeros(n)
        if n_feedback > 0:
            wfb = _core.dense_random(
                n, n_feedback, self.feedback_connectivity, self.win_distribution, self.feedback_scaling, seed, 3
            )
        else:
            wfb = np.zeros((n, 0))
        dt = self.dtype
        self.W_indptr, self.W_indices = indptr, indices
        self.W_data = np.ascontiguousarray(data, dtype=dt)
        self.Win = np.ascontiguousarray(win, dtype=dt)
        self.bias = np.ascontiguousarray(bias, dtype=dt)
        self.Wfb = np.ascontiguousarray(wfb, dtype=dt)
        self.leak = np.ascontiguousarray(np.broadcast_to(np.asarray(self.leak_rate, dtype=np.float64), (n,)), dtype=dt)
        self.n_inputs, self.n_feedback = n_inputs, n_feedback
        self.__dict__.pop("_W_dense", None)
        self.initialized = True
        self._calls = 0
        return self

    @classmethod
    def from_weights(
        cls,
        W: Any,
        Win: Any,
        bias: Any = None,
        Wfb: Any = None,
        leak_rate: float | np.ndarray = 1.0,
        activation: str = "tanh",
        sparse: bool = True,
        dtype: Any = np.float64,
        seed: int | None = 0,
        **noise: float,
    ) -> Reservoir:
        """A reservoir with given weights: ``W`` (units, units) (e.g. from `rnnrs.reservoir.init`
        or another library), ``Win`` (units, inputs), optional ``bias`` (units,) and ``Wfb``
        (units, outputs). Zeros of ``W`` are dropped from its CSR form. ``noise_rc``,
        ``noise_in``, ``noise_fb`` may be given; ``seed`` seeds the noise only."""
        W = _check_float_array(W, "W")
        n = W.shape[0]
        if W.shape != (n, n):
            raise ValueError(f"W: expected a square matrix, got shape {W.shape}")
        Win = _check_float_array(Win, "Win")
        if Win.shape[0] != n:
            raise ValueError(f"Win: expected {n} rows (one per unit), got shape {Win.shape}")
        bias = np.zeros(n) if bias is None else _check_float_array(bias, "bias", ndim=(1,))
        if bias.shape != (n,):
            raise ValueError(f"bias: expected shape ({n},), got {bias.shape}")
        Wfb = np.zeros((n, 0)) if Wfb is None else _check_float_array(Wfb, "Wfb")
        if Wfb.shape[0] != n:
            raise ValueError(f"Wfb: expected {n} rows, got shape {Wfb.shape}")
        res = cls(n, spectral_radius=None, leak_rate=leak_rate, activation=activation, sparse=sparse, dtype=dtype,
                  seed=seed, **noise)  # fmt: skip
        rows, cols = np.nonzero(W)
        dt = res.dtype
        res.W_indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
        res.W_indices = cols.astype(np.int32)
        res.W_data = np.ascontiguousarray(W[rows, cols], dtype=dt)
        res.W_radius = None
        res.Win, res.bias, res.Wfb = (np.ascontiguousarray(a, dtype=dt) for a in (Win, bias, Wfb))
        res.leak = np.ascontiguousarray(np.broadcast_to(np.asarray(res.leak_rate, dtype=np.float64), (n,)), dtype=dt)
        res.n_inputs, res.n_feedback = Win.shape[1], Wfb.shape[1]
        res.initialized = True
        res._calls = 0
        return res

    @property
    def W(self) -> np.ndarray:
        """The recurrent matrix as a dense `(units, units)` array."""
        self._need_init()
        dense = np.zeros((self.units, self.units), dtype=self.dtype)
        rows = np.repeat(np.arange(self.units), np.diff(self.W_indptr))
        dense[rows, self.W_indices] = self.W_data
        return dense

    def _need_init(self) -> None:
        if not self.initialized:
            raise RuntimeError("Reservoir: call initialize(n_inputs) (or run) first")

    def _w_args(self) -> tuple:
        if self.sparse:
            return self.W_indptr, self.W_indices, self.W_data
        if not hasattr(self, "_W_dense"):
            self._W_dense = np.ascontiguousarray(self.W)
        return None, None, self._W_dense

    def _noise_seed(self) -> int:
        self._calls += 1
        return (self.seed * 1_000_003 + self._calls) % 2**64

    # -- running

    def run(
        self,
        X: Any,
        x0: np.ndarray | None = None,
        feedback: Any = None,
        y0: np.ndarray | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Reservoir states for the input sequences.

        X : (T, I) one sequence, (B, T, I) a batch, or a list of (T_b, I).
        x0 : initial state(s), (units,) or (B, units); zeros by default.
        feedback : with feedback, the teacher outputs in the layout of X; the
            state at step t receives ``feedback[t-1]`` (``y0`` at t = 0).

        Returns states in the layout of X ((T, units), (B, T, units) or a list).
        Sequences run in parallel; results equal running them one by one
        (without noise; noise streams are indexed by the sequence position).
        """
        seqs, layout = _as_sequences(X, "X", self.dtype)
        if not self.initialized:
            n_fb = 0
            if feedback is not None:
                fb_seqs, _ = _as_sequences(_targets_2d(feedback), "feedback", self.dtype)
                n_fb = fb_seqs[0].shape[1]
            self.initialize(seqs[0].shape[1], n_fb)
        for s in seqs:
            if s.shape[1] != self.n_inputs:
                raise ValueError(f"X: expected {self.n_inputs} features per step, got {s.shape[1]}")
        b, n = len(seqs), self.units
        lengths = [s.shape[0] for s in seqs]
        u = np.concatenate(seqs, axis=0) if b > 1 else seqs[0]
        x0a = self._initial(x0, b, n, "x0")
        if self.n_feedback > 0:
            if feedback is None:
                raise ValueError("feedback: this reservoir has output feedback; pass the teacher outputs")
            fb_seqs, _ = _as_sequences(_targets_2d(feedback), "feedback", self.dtype, self.n_feedback)
            if [f.shape[0] for f in fb_seqs] != lengths:
                raise ValueError("feedback: expected one output per input step of every sequence")
            teacher = np.concatenate(fb_seqs, axis=0)
            y0a = self._initial(y0, b, self.n_feedback, "y0")
        else:
            teacher = np.zeros((sum(lengths), 0), dtype=self.dtype)
            y0a = np.zeros((b, 0), dtype=self.dtype)
        states = _core.reservoir_run(
            self._core_args(), np.ascontiguousarray(u), lengths, x0a, np.ascontiguousarray(teacher), y0a
        )
        if layout == "single":
            return states
        if layout == "batch":
            return states.reshape(b, lengths[0], n)  # a view, no copy
        return np.split(states, np.cumsum(lengths)[:-1], axis=0)

    def _core_args(self) -> dict:
        """The reservoir as `_core.reservoir_run` / `reservoir_generate` take it."""
        indptr, indices, w = self._w_args()
        return {
            "indptr": indptr, "indices": indices, "w": w, "win": self.Win, "bias": self.bias,
            "leak": self.leak, "wfb": self.Wfb, "activation": self.activation,
            "noise": (self.noise_rc, self.noise_in, self.noise_fb, self._noise_seed()),
        }

    def _initial(self, v: Any, b: int, width: int, name: str) -> np.ndarray:
        if v is None:
            return np.zeros((b, width), dtype=self.dtype)
        a = _check_float_array(v, name, self.dtype, ndim=(1, 2))
        if a.ndim == 1:
            a = np.broadcast_to(a, (b, a.shape[0]))
        if a.shape != (b, width):
            raise ValueError(f"{name}: expected shape ({width},) or ({b}, {width}), got {a.shape}")
        return np.ascontiguousarray(a)

    def run_with_readout(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        x0: np.ndarray,
        y0: np.ndarray,
        n_steps: int,
        X: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Runs with the readout ``y = x @ coef + intercept`` in the loop.

        Without `X`, the output is the next input (closed-loop generation);
        with feedback, the output is also fed back. Returns (outputs, states).
        """
        self._need_init()
        n_steps = _check_positive_int(n_steps, "n_steps", 0)
        dt = self.dtype
        coef = np.ascontiguousarray(coef, dtype=dt)
        intercept = np.ascontiguousarray(intercept, dtype=dt)
        x0 = np.ascontiguousarray(x0, dtype=dt)
        y0 = np.ascontiguousarray(y0, dtype=dt)
        ext = None if X is None else _check_float_array(X, "X", dt)
        return _core.reservoir_generate(self._core_args(), coef, intercept, x0, y0, n_steps, ext)


def _targets_2d(y: Any) -> Any:
    """1-D targets (T,) as (T, 1); lists of 1-D sequences likewise."""
    if isinstance(y, (list, tuple)) and len(y) > 0 and np.ndim(y[0]) >= 1:
        return [np.asarray(v).reshape(len(v), -1) for v in y]
    arr = np.asarray(y)
    return arr.reshape(-1, 1) if arr.ndim == 1 else arr
