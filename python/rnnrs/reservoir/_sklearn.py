"""scikit-learn base classes when scikit-learn is installed, minimal stand-ins otherwise."""

from __future__ import annotations

from typing import Any

try:  # scikit-learn is optional: the estimator works without it.
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import ClassifierMixin as _ClassifierMixin
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

    class _ClassifierMixin:  # type: ignore[no-redef]
        def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
            import numpy as np

            return float(np.mean(np.asarray(self.predict(X)) == np.asarray(y)))
