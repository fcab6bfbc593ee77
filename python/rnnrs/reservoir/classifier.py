"""`ESNClassifier`: sequence classification with a reservoir, as a scikit-learn classifier.

Each input sequence (any length) runs through the reservoir from the zero state and becomes one
feature vector:

* ``"last"``: the state at the last step;
* ``"mean"``: the mean state over the steps (after ``warmup``);
* ``"model_space"``: the *reservoir model space* of Bianchi, Scardapane, Løkse and Jenssen (2021),
  "Reservoir computing approaches for representation and classification of multivariate time
  series", IEEE TNNLS 32(5):2169-2179, https://doi.org/10.1109/TNNLS.2020.3001377. The states are
  projected on their first ``n_components`` principal components (fitted on the training states),
  and per sequence a ridge regression (``model_space_ridge``) predicts the next projected state
  from the current one, ``r[t+1] ≈ r[t] A + c``; the sequence is represented by ``[vec(A), c]``,
  ``n_components * (n_components + 1)`` numbers that describe its dynamics rather than one state.

The features go into a linear readout: ``"ridge"`` (one-hot targets, `rnnrs.Ridge` with ``ridge``;
the class with the largest output wins) or ``"logistic"`` (scikit-learn's multinomial
``LogisticRegression`` with inverse regularisation ``C`` on standardised features; gives
``predict_proba``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnrs.reservoir._checks import _as_sequences, _check_positive_int, _check_real, _is_sparse
from rnnrs.reservoir._sklearn import NotFittedError, _Base, _ClassifierMixin
from rnnrs.reservoir.readouts import Ridge
from rnnrs.reservoir.reservoir import Reservoir

__all__ = ["ESNClassifier"]

_FEATURES = ("last", "mean", "model_space")
_READOUTS = ("ridge", "logistic")


class ESNClassifier(_ClassifierMixin, _Base):
    """Echo-state network sequence classifier (one label per sequence), scikit-learn style.

    ``fit(X, y)``: X is a list of ``(T_i, I)`` sequences (lengths may differ) or a ``(B, T, I)``
    array, y one label per sequence. ``predict`` returns labels, ``decision_function`` the readout
    outputs (one column per class), ``predict_proba`` class probabilities (logistic readout only),
    ``score`` the accuracy, ``transform`` the feature vectors.

    Parameters: the reservoir's (see `rnnrs.Reservoir`: ``units``, ``spectral_radius``,
    ``leak_rate``, ``input_scaling``, ``connectivity``, ``input_connectivity``, ``bias_scaling``,
    ``activation``), and

    features : "last", "mean" or "model_space" (see the module notes).
    readout : "ridge" or "logistic".
    ridge : ridge regularisation of the "ridge" readout.
    C : inverse regularisation of the "logistic" readout.
    n_components : principal components kept for "model_space".
    model_space_ridge : regularisation of the per-sequence model-space regressions.
    warmup : leading states of each sequence left out of the "mean" feature.
    dtype : "float64" or "float32" (the reservoir's; features and readout are float64).
    seed : integer seed of the reservoir weights.

    Fitted attributes: ``reservoir_``, ``classes_``, ``n_features_in_``, ``readout_`` (a fitted
    `rnnrs.Ridge` or ``LogisticRegression``), and for "model_space" ``components_`` /
    ``state_mean_`` (the principal axes and the mean of the training states).
    """

    def __init__(
        self,
        units: int = 500,
        spectral_radius: float | None = 0.9,
        leak_rate: float = 0.1,
        input_scaling: Any = 1.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        bias_scaling: float = 0.0,
        activation: str = "tanh",
        features: str = "mean",
        readout: str = "ridge",
        ridge: float = 1e-3,
        C: float = 1.0,
        n_components: int = 30,
        model_space_ridge: float = 1.0,
        warmup: int = 0,
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
        self.activation = activation
        self.features = features
        self.readout = readout
        self.ridge = ridge
        self.C = C
        self.n_components = n_components
        self.model_space_ridge = model_space_ridge
        self.warmup = warmup
        self.dtype = dtype
        self.seed = seed

    # -- validation

    def _check_params(self) -> None:
        if self.features not in _FEATURES:
            raise ValueError(f"features: expected one of {_FEATURES}, got {self.features!r}")
        if self.readout not in _READOUTS:
            raise ValueError(f"readout: expected one of {_READOUTS}, got {self.readout!r}")
        _check_real(self.ridge, "ridge", 0.0)
        _check_real(self.C, "C", 0.0, low_open=True)
        _check_real(self.model_space_ridge, "model_space_ridge", 0.0, low_open=True)
        _check_positive_int(self.n_components, "n_components")
        _check_positive_int(self.warmup, "warmup", 0)
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")

    def _sequences(self, X: Any, reset: bool) -> list[np.ndarray]:
        if _is_sparse(X):
            raise TypeError("X: sparse input is not supported; pass a list of (T_i, I) arrays")
        seqs, _ = _as_sequences(X, "X", np.dtype(self.dtype))
        n_feat = seqs[0].shape[1]
        if any(s.shape[1] != n_feat for s in seqs):
            raise ValueError("X: every sequence must have the same number of features")
        if any(s.shape[0] == 0 for s in seqs):
            raise ValueError("X: every sequence needs at least one time step")
        if n_feat == 0:
            raise ValueError("X: 0 features per step while a minimum of 1 is required")
        if reset:
            self.n_features_in_ = n_feat
        elif n_feat != self.n_features_in_:
            raise ValueError(f"X has {n_feat} features per step, but {type(self).__name__} expects {self.n_features_in_}")
        if self.features == "model_space" and any(s.shape[0] < 2 for s in seqs):
            raise ValueError('X: features="model_space" needs sequences of at least 2 steps')
        return seqs

    def _check_fitted(self) -> None:
        if not hasattr(self, "readout_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first.")

    # -- features

    def _states(self, seqs: list[np.ndarray]) -> list[np.ndarray]:
        states = self.reservoir_.run(list(seqs))
        return [np.asarray(s, dtype=np.float64) for s in states]

    def _features(self, seqs: list[np.ndarray], fit: bool) -> np.ndarray:
        states = self._states(seqs)
        if self.features == "last":
            return np.stack([s[-1] for s in states])
        if self.features == "mean":
            return np.stack([s[self.warmup :].mean(axis=0) if s.shape[0] > self.warmup else s[-1] for s in states])
        if fit:
            self._fit_components(states)
        return np.stack([self._model_space(s) for s in states])

    def _fit_components(self, states: list[np.ndarray]) -> None:
        """Principal axes of all training states (eigenvectors of their covariance)."""
        all_states = np.concatenate(states)
        self.state_mean_ = all_states.mean(axis=0)
        centred = all_states - self.state_mean_
        evals, evecs = np.linalg.eigh(centred.T @ centred)
        k = min(int(self.n_components), all_states.shape[1])
        order = np.argsort(evals)[::-1][:k]
        comps = evecs[:, order]
        # Fix each axis' sign (largest entry positive) so the features do not depend on the solver.
        signs = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(k)])
        self.components_ = comps * np.where(signs == 0, 1.0, signs)

    def _model_space(self, states: np.ndarray) -> np.ndarray:
        """``[vec(A), c]`` of the ridge fit ``r[t+1] ≈ r[t] A + c`` (intercept not regularised)."""
        r = (states - self.state_mean_) @ self.components_
        return model_space_features(r, self.model_space_ridge)

    def transform(self, X: Any) -> np.ndarray:
        """The feature vector of every sequence, ``(n_sequences, n_features)``."""
        self._check_fitted()
        return self._features(self._sequences(X, reset=False), fit=False)

    # -- fit / predict

    def fit(self, X: Any, y: Any) -> ESNClassifier:
        """Runs the reservoir over every sequence and fits the readout on their feature vectors."""
        self._check_params()
        seqs = self._sequences(X, reset=True)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != len(seqs):
            raise ValueError(
                f"y: expected one label per sequence, shape ({len(seqs)},), got shape {y.shape}; "
                "for one target per time step use rnnrs.ESN"
            )
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y: needs at least 2 classes, got {len(self.classes_)}")
        self.reservoir_ = Reservoir(
            units=self.units,
            spectral_radius=self.spectral_radius,
            leak_rate=self.leak_rate,
            input_scaling=self.input_scaling,
            connectivity=self.connectivity,
            input_connectivity=self.input_connectivity,
            bias_scaling=self.bias_scaling,
            activation=self.activation,
            dtype=np.dtype(self.dtype),
            seed=self.seed,
        ).initialize(self.n_features_in_)
        feats = self._features(seqs, fit=True)
        if self.readout == "ridge":
            onehot = np.zeros((len(seqs), len(self.classes_)))
            onehot[np.arange(len(seqs)), y_idx] = 1.0
            self.readout_ = Ridge(alpha=float(self.ridge)).fit(feats, onehot)
        else:
            try:
                from sklearn.linear_model import LogisticRegression
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError('readout="logistic" needs scikit-learn: pip install scikit-learn') from exc
            self.feature_mean_ = feats.mean(axis=0)
            self.feature_scale_ = np.where(feats.std(axis=0) > 0, feats.std(axis=0), 1.0)
            self.readout_ = LogisticRegression(C=float(self.C), max_iter=5000).fit(self._standardise(feats), y_idx)
        return self

    def _standardise(self, feats: np.ndarray) -> np.ndarray:
        return (feats - self.feature_mean_) / self.feature_scale_

    def decision_function(self, X: Any) -> np.ndarray:
        """Readout outputs, ``(n_sequences, n_classes)``: the largest is the predicted class."""
        self._check_fitted()
        feats = self.transform(X)
        if self.readout == "ridge":
            return feats @ self.readout_.coef_ + self.readout_.intercept_
        scores = self.readout_.decision_function(self._standardise(feats))
        # Binary logistic regression gives one score (for the second class): make it two columns.
        return np.stack([-scores, scores], axis=1) if scores.ndim == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The predicted label of every sequence."""
        self._check_fitted()
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_sequences, n_classes)`` (``readout="logistic"`` only)."""
        self._check_fitted()
        if self.readout != "logistic":
            raise AttributeError('predict_proba needs readout="logistic" (a ridge readout gives no probabilities)')
        return self.readout_.predict_proba(self._standardise(self.transform(X)))


def model_space_features(r: np.ndarray, ridge: float) -> np.ndarray:
    """Reservoir model-space representation of one sequence of (reduced) states ``r`` (T, D):
    ``[vec(A), c]`` (row-major ``A``, then ``c``) of the ridge regression
    ``r[t+1] ≈ r[t] A + c`` over t = 0..T-2 with penalty ``ridge·|A|²`` (intercept free).
    Bianchi et al. (2021), eq. (6)."""
    x, y = r[:-1], r[1:]
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    a = np.linalg.solve(xc.T @ xc + ridge * np.eye(r.shape[1]), xc.T @ yc)
    c = my - mx @ a
    return np.concatenate([a.ravel(), c])
