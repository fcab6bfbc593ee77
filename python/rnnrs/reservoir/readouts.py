"""Linear readouts: ridge regression from streaming float64 statistics, RLS and LMS."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs import _core
from rnnrs.reservoir._checks import _check_float_array, _check_real

__all__ = ["LMS", "RLS", "Ridge"]


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
