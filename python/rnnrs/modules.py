"""Dense model pieces around recurrent layers: `Linear` and `Embedding`.

They follow the module protocol of rnnrs' layers, so a chain of modules can
run forward and backward uniformly:

- ``module(x)``: inference, keeps nothing;
- ``module.forward(x, train=True)``: keeps what ``backward`` needs;
- ``module.backward(dy)``: returns the input gradient (None for Embedding)
  and *adds* the parameter gradients to ``module.grads``;
- ``params`` / ``grads``: dicts ``name -> array`` with torch's names and
  shapes (the arrays are updated in place, so optimizers can hold them);
- ``zero_grad()``, ``state_dict()``, ``load_state_dict(sd)``.

Initialisation is torch's (Linear: U(-1/sqrt(in), 1/sqrt(in)) for weight and
bias; Embedding: N(0, 1), the padding row zero), drawn from
``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import numpy as np

from rnnrs import _core

__all__ = ["Linear", "Embedding"]


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def _positive_int(name: str, v, allow_zero: bool = False) -> int:
    if isinstance(v, bool) or int(v) != v or int(v) < (0 if allow_zero else 1):
        raise ValueError(f"{name}: expected an integer >= {0 if allow_zero else 1}, got {v!r}")
    return int(v)


class _Module:
    """Shared bookkeeping: params/grads dicts and their (de)serialisation."""

    params: Dict[str, np.ndarray]
    grads: Dict[str, np.ndarray]

    def __call__(self, x):
        return self.forward(x, train=False)

    def zero_grad(self) -> None:
        """Sets every accumulated gradient to zero (in place)."""
        for g in self.grads.values():
            g.fill(0)

    def to(self, dtype) -> "_Module":
        """Converts the parameters and gradients to ``dtype`` (float32 or
        float64) in place and returns the module, like torch's ``Module.to``.
        The arrays are replaced (optimizers built over the old ones no longer
        see them) and any saved training context is dropped."""
        dt = _float_dtype(dtype)
        if dt != self.dtype:
            self.params = {k: v.astype(dt) for k, v in self.params.items()}
            self.grads = {k: v.astype(dt) for k, v in self.grads.items()}
            self.dtype = dt
            self._saved = None
        return self

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Copies of the parameters under torch's names."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray]) -> None:
        """Copies the arrays into the parameters (same objects, so optimizers
        holding them keep working). Names and shapes must match."""
        missing = set(self.params) - set(state_dict)
        unexpected = set(state_dict) - set(self.params)
        if missing or unexpected:
            raise ValueError(
                f"state_dict: missing keys {sorted(missing)}, unexpected keys {sorted(unexpected)}"
            )
        for k, p in self.params.items():
            v = np.asarray(state_dict[k])
            if v.shape != p.shape:
                raise ValueError(f"state_dict[{k!r}]: expected shape {p.shape}, got {v.shape}")
            np.copyto(p, v, casting="same_kind")

    def _input(self, x, what: str = "x") -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != self.dtype:
            raise TypeError(f"{what}: expected {self.dtype} like the layer, got {x.dtype} (cast it first)")
        return np.ascontiguousarray(x)


class Linear(_Module):
    """``y = x W^T + b`` over the last axis of ``x`` (any leading dims).

    Parameters: ``weight`` ``(out_features, in_features)`` and ``bias``
    ``(out_features,)`` (absent with ``bias=False``). The products run in the
    Rust core (faer GEMM, thread count from ``rnnrs.set_num_threads``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype=np.float32,
        seed: Optional[int] = None,
    ):
        self.in_features = _positive_int("in_features", in_features, allow_zero=True)
        self.out_features = _positive_int("out_features", out_features, allow_zero=True)
        self.dtype = _float_dtype(dtype)
        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        self.params = {
            "weight": rng.uniform(-bound, bound, (self.out_features, self.in_features)).astype(self.dtype)
        }
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, self.out_features).astype(self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._saved = None

    @property
    def weight(self) -> np.ndarray:
        return self.params["weight"]

    @property
    def bias(self) -> Optional[np.ndarray]:
        return self.params.get("bias")

    def __repr__(self) -> str:
        return (
            f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={'bias' in self.params}, dtype={self.dtype})"
        )

    def forward(self, x, train: bool = True) -> np.ndarray:
        """``x (..., in_features) -> (..., out_features)``; with ``train`` keeps x."""
        x = self._input(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected a last axis of {self.in_features} features, got shape {x.shape}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        y = _core._linear_forward(x2, self.weight, self.bias)
        if train:  # inference leaves any saved training context alone
            self._saved = (x2, lead)
        return y.reshape(lead + (self.out_features,))

    def backward(self, dy) -> np.ndarray:
        """Gradient w.r.t. the input of the last ``forward(train=True)``; adds
        ``dy^T x`` to ``grads['weight']`` and ``dy`` summed to ``grads['bias']``."""
        if self._saved is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        x2, lead = self._saved
        dy = self._input(dy, "dy")
        if dy.shape != lead + (self.out_features,):
            raise ValueError(f"dy: expected shape {lead + (self.out_features,)}, got {dy.shape}")
        dx = _core._linear_backward(
            x2, self.weight, dy.reshape(-1, self.out_features), self.grads["weight"], self.grads.get("bias")
        )
        return dx.reshape(lead + (self.in_features,))


class Embedding(_Module):
    """A lookup table: integer indices ``(...)`` -> vectors ``(..., embedding_dim)``.

    ``weight`` is ``(num_embeddings, embedding_dim)``. The row ``padding_idx``
    (negative values count from the end, as torch) starts at zero and gets no
    gradient. ``backward`` scatter-adds ``dy`` into ``grads['weight']`` in
    index order (deterministic) and returns None (indices have no gradient).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: Optional[int] = None,
        dtype=np.float32,
        seed: Optional[int] = None,
    ):
        self.num_embeddings = _positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("embedding_dim", embedding_dim, allow_zero=True)
        self.dtype = _float_dtype(dtype)
        if padding_idx is not None:
            padding_idx = int(padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"padding_idx: must be within [-{self.num_embeddings}, {self.num_embeddings})"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        rng = np.random.default_rng(seed)
        w = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.params = {"weight": w}
        self.grads = {"weight": np.zeros_like(w)}
        self._saved = None

    @property
    def weight(self) -> np.ndarray:
        return self.params["weight"]

    def __repr__(self) -> str:
        return (
            f"Embedding({self.num_embeddings}, {self.embedding_dim}, padding_idx={self.padding_idx}, "
            f"dtype={self.dtype})"
        )

    def forward(self, indices, train: bool = True) -> np.ndarray:
        """``indices (...) -> (..., embedding_dim)``; with ``train`` keeps the indices."""
        idx = np.asarray(indices)
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"indices: expected an integer array, got {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            bad = idx[(idx < 0) | (idx >= self.num_embeddings)].reshape(-1)[0]
            raise ValueError(f"indices: index {bad} is out of range [0, {self.num_embeddings})")
        flat = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
        y = np.take(self.weight, flat, axis=0).reshape(idx.shape + (self.embedding_dim,))
        if train:
            self._saved = (flat, idx.shape)
        return y

    def backward(self, dy) -> None:
        """Adds the rows of ``dy`` to ``grads['weight']`` at their indices."""
        if self._saved is None:
            raise RuntimeError("backward: call forward(indices, train=True) first")
        flat, shape = self._saved
        dy = self._input(dy, "dy")
        if dy.shape != shape + (self.embedding_dim,):
            raise ValueError(f"dy: expected shape {shape + (self.embedding_dim,)}, got {dy.shape}")
        _core._embedding_backward(
            flat, dy.reshape(-1, self.embedding_dim), self.grads["weight"], self.padding_idx
        )
        return None
