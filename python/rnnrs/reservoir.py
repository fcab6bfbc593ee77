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

import json
from numbers import Integral, Real
from typing import Any

import numpy as np

from rnnrs import _core
from rnnrs._npz import read_npz
from rnnrs.errors import FileFormatError

__all__ = ["ESN", "LMS", "RLS", "Reservoir", "Ridge"]

_ACTIVATIONS = ("tanh", "identity", "sigmoid", "relu")
_DISTRIBUTIONS = ("uniform", "normal", "bernoulli")


# --------------------------------------------------------------------------- helpers


def _check_float_array(a: Any, name: str, dtype=np.float64, ndim: tuple[int, ...] = (2,)) -> np.ndarray:
    """`a` as a C-contiguous finite array of `dtype` with one of the `ndim`s."""
    try:
        arr = np.asarray(a)
    except Exception as exc:
        raise TypeError(f"{name}: expected an array-like of numbers ({exc})") from exc
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: argument must be a string or a number; cannot convert to float ({exc})") from exc
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported ({name})")
    if arr.ndim not in ndim:
        raise ValueError(
            f"{name}: expected {' or '.join(map(str, ndim))}-D data, got shape {arr.shape}. "
            "Reshape your data, e.g. x.reshape(-1, 1) for a single feature."
        )
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or infinity")
    return arr


def _check_positive_int(v: Any, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, Integral) or v < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {v!r}")
    return int(v)


def _check_real(v: Any, name: str, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    v = float(v)
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name}: expected a value {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name}: expected a value <= {high}, got {v}")
    return v


def _seed_int(seed: Any) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(0, 2**63))
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
    return int(seed) % 2**64


def _as_sequences(X: Any, name: str, dtype, n_features: int | None = None) -> tuple[list[np.ndarray], str]:
    """Sequences from a (T, I) array, a (B, T, I) array or a list of (T, I).

    Returns the list and the layout ("single", "batch", "list")."""
    if isinstance(X, (list, tuple)) and len(X) > 0 and all(np.ndim(x) == 2 for x in X):
        seqs = [_check_float_array(x, f"{name}[{k}]", dtype) for k, x in enumerate(X)]
        layout = "list"
    else:
        arr = _check_float_array(X, name, dtype, ndim=(2, 3))
        if arr.ndim == 3:
            seqs, layout = list(arr), "batch"
        else:
            seqs, layout = [arr], "single"
    if n_features is not None:
        for s in seqs:
            if s.shape[1] != n_features:
                raise ValueError(f"{name}: expected {n_features} features per step, got {s.shape[1]}")
    if not seqs:
        raise ValueError(f"{name}: no sequences given")
    return seqs, layout


# --------------------------------------------------------------------------- reservoir


class Reservoir:
    """A pool of leaky-integrator units with sparse random recurrent weights.

    Parameters (ReservoirPy names in parentheses are accepted as aliases):

    units : number of units.
    spectral_radius (sr) : target spectral radius of ``W``; None keeps ``W`` unscaled.
    radius : the spectral radius of the unscaled ``W`` if known (skips the
        Arnoldi estimate).
    leak_rate (lr) : leak rate in (0, 1], scalar or one per unit.
    input_scaling : scalar or one per input.
    connectivity (rc_connectivity) : density of ``W`` in (0, 1].
    input_connectivity : density of ``Win`` and ``bias`` in (0, 1].
    bias_scaling : scale of the bias (0: no bias).
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
        spectral_radius: float | None = None,
        leak_rate: float | np.ndarray = 1.0,
        input_scaling: float | np.ndarray = 1.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        bias_scaling: float = 1.0,
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
        indptr, indices, w = self._w_args()
        states = _core.reservoir_run(
            indptr, indices, w, self.Win, self.bias, self.leak, self.Wfb, self.activation,
            self.noise_rc, self.noise_in, self.noise_fb, self._noise_seed(),
            np.ascontiguousarray(u), lengths, x0a, np.ascontiguousarray(teacher), y0a,
        )  # fmt: skip
        if layout == "single":
            return states
        if layout == "batch":
            return states.reshape(b, lengths[0], n)  # a view, no copy
        return np.split(states, np.cumsum(lengths)[:-1], axis=0)

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
        indptr, indices, w = self._w_args()
        return _core.reservoir_generate(
            indptr, indices, w, self.Win, self.bias, self.leak, self.Wfb, self.activation,
            self.noise_rc, self.noise_in, self.noise_fb, self._noise_seed(),
            coef, intercept, x0, y0, n_steps, ext,
        )  # fmt: skip


def _targets_2d(y: Any) -> Any:
    """1-D targets (T,) as (T, 1); lists of 1-D sequences likewise."""
    if isinstance(y, (list, tuple)) and len(y) > 0 and np.ndim(y[0]) >= 1:
        return [np.asarray(v).reshape(len(v), -1) for v in y]
    arr = np.asarray(y)
    return arr.reshape(-1, 1) if arr.ndim == 1 else arr


# --------------------------------------------------------------------------- readouts


class Ridge:
    """Ridge regression from streaming float64 statistics.

    ``partial_fit(X, y)`` adds a block to the count, the means and the centred
    co-moments ``Σ(x-μx)(x-μx)ᵀ``, ``Σ(x-μx)(y-μy)ᵀ`` (memory O(features²),
    independent of the number of samples; blocks are merged with Chan et
    al.'s pairwise update, which stays accurate when features have large
    means); ``merge(other)`` adds another instance's statistics (e.g. from
    another process or machine); ``solve()`` computes ``coef_`` (features,
    outputs) and ``intercept_`` by Cholesky. The intercept
    (``fit_intercept=True``) is not regularised. A matrix that is not
    positive definite (collinear features with ``alpha = 0``) raises
    RuntimeError naming the remedy (a larger ``alpha``).
    """

    def __init__(self, alpha: float = 1e-7, fit_intercept: bool = True) -> None:
        self.alpha = _check_real(alpha, "alpha", 0.0)
        self.fit_intercept = bool(fit_intercept)
        self.reset()

    def reset(self) -> Ridge:
        """Forgets all accumulated statistics."""
        self.cov_xx_: np.ndarray | None = None
        self.cov_xy_: np.ndarray | None = None
        self.mean_x_: np.ndarray | None = None
        self.mean_y_: np.ndarray | None = None
        self.n_samples_ = 0
        self._y_1d = False
        return self

    def partial_fit(self, X: Any, y: Any) -> Ridge:
        """Accumulates samples: X (n, features), y (n,) or (n, outputs)."""
        dt = np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64
        X = _check_float_array(X, "X", dt)
        y_arr = np.asarray(y)
        y1d = y_arr.ndim == 1
        y = _check_float_array(y_arr.reshape(-1, 1) if y1d else y_arr, "y", dt)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"y: expected {X.shape[0]} rows (as X), got {y.shape[0]}")
        f, o = X.shape[1], y.shape[1]
        if self.cov_xx_ is None:
            self.cov_xx_, self.cov_xy_ = np.zeros((f, f)), np.zeros((f, o))
            self.mean_x_, self.mean_y_ = np.zeros(f), np.zeros(o)
            self._y_1d = y1d
        elif self.cov_xy_.shape != (f, o):
            raise ValueError(
                f"X, y: expected {self.cov_xy_.shape[0]} features and {self.cov_xy_.shape[1]} outputs, got {f} and {o}"
            )
        n = _core.ridge_accumulate(
            self.cov_xx_, self.cov_xy_, self.mean_x_, self.mean_y_, float(self.n_samples_), X, y
        )
        self.n_samples_ = round(n)
        return self

    def merge(self, other: Ridge) -> Ridge:
        """Adds the statistics of another Ridge (same shapes) to this one."""
        if not isinstance(other, Ridge):
            raise TypeError(f"merge: expected a Ridge, got {type(other).__name__}")
        if other.cov_xx_ is None:
            return self
        if self.cov_xx_ is None:
            self.cov_xx_, self.cov_xy_ = other.cov_xx_.copy(), other.cov_xy_.copy()
            self.mean_x_, self.mean_y_ = other.mean_x_.copy(), other.mean_y_.copy()
            self.n_samples_, self._y_1d = other.n_samples_, other._y_1d
            return self
        if other.cov_xy_.shape != self.cov_xy_.shape:
            raise ValueError(f"merge: statistics of shape {other.cov_xy_.shape} do not match {self.cov_xy_.shape}")
        n = _core.ridge_merge(
            self.cov_xx_, self.cov_xy_, self.mean_x_, self.mean_y_, float(self.n_samples_),
            other.cov_xx_, other.cov_xy_, other.mean_x_, other.mean_y_, float(other.n_samples_),
        )  # fmt: skip
        self.n_samples_ = round(n)
        return self

    def solve(self) -> Ridge:
        """Computes ``coef_`` and ``intercept_`` from the statistics."""
        if self.cov_xx_ is None or self.n_samples_ == 0:
            raise ValueError("Ridge.solve: no samples accumulated; call partial_fit first")
        self.coef_, self.intercept_ = _core.ridge_solve(
            self.cov_xx_, self.cov_xy_, self.mean_x_, self.mean_y_, float(self.n_samples_), self.alpha,
            self.fit_intercept,
        )  # fmt: skip
        return self

    def fit(self, X: Any, y: Any) -> Ridge:
        """Forgets previous statistics, accumulates (X, y) and solves."""
        return self.reset().partial_fit(X, y).solve()

    def predict(self, X: Any) -> np.ndarray:
        """``X @ coef_ + intercept_``."""
        if not hasattr(self, "coef_"):
            raise ValueError("Ridge.predict: call solve() or fit() first")
        X = _check_float_array(X, "X")
        if X.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"X: expected {self.coef_.shape[0]} features, got {X.shape[1]}")
        out = X @ self.coef_ + self.intercept_
        return out[:, 0] if self._y_1d else out


class _Online:
    """Shared parts of RLS and LMS: weights with an optional intercept row."""

    fit_intercept: bool

    def _prepare(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        X = _check_float_array(X, "X")
        y_arr = np.asarray(y)
        if not hasattr(self, "coef_"):
            self._y_1d = y_arr.ndim == 1
        y = _check_float_array(y_arr.reshape(-1, 1) if y_arr.ndim == 1 else y_arr, "y")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"y: expected {X.shape[0]} rows (as X), got {y.shape[0]}")
        if self.fit_intercept:
            X = np.ascontiguousarray(np.hstack([X, np.ones((X.shape[0], 1))]))
        f, o = X.shape[1], y.shape[1]
        if not hasattr(self, "_w"):
            self._w = np.zeros((f, o))
            self._init_state(f)
        elif self._w.shape != (f, o):
            raise ValueError(f"X, y: expected {self._w.shape[0] - self.fit_intercept} features and {self._w.shape[1]} outputs")
        return X, y

    def _init_state(self, f: int) -> None:
        pass

    def _publish(self) -> None:
        if self.fit_intercept:
            self.coef_, self.intercept_ = self._w[:-1].copy(), self._w[-1].copy()
        else:
            self.coef_, self.intercept_ = self._w.copy(), np.zeros(self._w.shape[1])

    def predict(self, X: Any) -> np.ndarray:
        """``X @ coef_ + intercept_``."""
        if not hasattr(self, "coef_"):
            raise ValueError(f"{type(self).__name__}.predict: call partial_fit first")
        X = _check_float_array(X, "X")
        out = X @ self.coef_ + self.intercept_
        return out[:, 0] if self._y_1d else out


class RLS(_Online):
    """Recursive least squares with forgetting factor ``forgetting`` in (0, 1].

    Per sample: ``k = P x / (λ + xᵀ P x)``, ``W += k (y - Wᵀ x)ᵀ``,
    ``P = (P - k xᵀ P) / λ``, starting from ``P = I / alpha`` (ReservoirPy's
    convention). ``partial_fit`` returns the a-priori errors in ``errors_``.
    """

    def __init__(self, alpha: float = 1e-6, forgetting: float = 1.0, fit_intercept: bool = True) -> None:
        self.alpha = _check_real(alpha, "alpha", 0.0, low_open=True)
        self.forgetting = _check_real(forgetting, "forgetting", 0.0, 1.0, low_open=True)
        self.fit_intercept = bool(fit_intercept)

    def _init_state(self, f: int) -> None:
        self.P_ = np.eye(f) / self.alpha

    def partial_fit(self, X: Any, y: Any) -> RLS:
        """Updates the weights with each row of (X, y) in turn."""
        X, y = self._prepare(X, y)
        self.errors_ = _core.rls_update(self.P_, self._w, X, y, self.forgetting)
        self._publish()
        return self


class LMS(_Online):
    """Least mean squares: ``W += learning_rate * x (y - Wᵀ x)ᵀ`` per sample."""

    def __init__(self, learning_rate: float = 1e-3, fit_intercept: bool = True) -> None:
        self.learning_rate = _check_real(learning_rate, "learning_rate", 0.0, low_open=True)
        self.fit_intercept = bool(fit_intercept)

    def partial_fit(self, X: Any, y: Any) -> LMS:
        """Updates the weights with each row of (X, y) in turn."""
        X, y = self._prepare(X, y)
        self.errors_ = _core.lms_update(self._w, X, y, self.learning_rate)
        self._publish()
        return self


# --------------------------------------------------------------------------- estimator

try:  # scikit-learn is optional: the estimator works without it.
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import RegressorMixin as _Mixin
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover - exercised only without scikit-learn

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """Raised when predicting with an unfitted estimator."""

    class _Base:  # type: ignore[no-redef]
        """Minimal get_params / set_params following scikit-learn."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            import inspect

            sig = inspect.signature(cls.__init__)
            return [p for p in sig.parameters if p != "self"]

        def get_params(self, deep: bool = True) -> dict:
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params: Any) -> Any:
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"Invalid parameter {k!r} for estimator {type(self).__name__}")
                setattr(self, k, v)
            return self

    class _Mixin:  # type: ignore[no-redef]
        def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
            from rnnrs.metrics import rsquare

            return rsquare(y, self.predict(X))


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


def _is_sparse(a: Any) -> bool:
    return hasattr(a, "tocsr") or hasattr(a, "toarray") and not isinstance(a, np.ndarray)


def _as_list(v: Any, n: int) -> list:
    if isinstance(v, list):
        return v
    arr = np.asarray(v)
    return list(arr) if n > 1 else [arr]


def _relayout(parts: list[np.ndarray], layout: str) -> Any:
    if layout == "single":
        return parts[0]
    if layout == "batch":
        return np.stack(parts)
    return parts
