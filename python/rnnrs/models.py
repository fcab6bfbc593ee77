"""Ready text classifiers built from rnnrs' layers, `TextRNN` and `TextRCNN`, and the
combinators `Concat` and `Bidirectional` for building models from existing layers.

Both take time-major token indices ``(T, N)`` and return class logits
``(N, num_classes)``, and follow the module protocol of `rnnrs.train.fit`
(``forward(x, state, train) -> (logits, ())``, ``backward(dlogits)``,
``params``/``grads`` with dotted names, ``zero_grad``, ``state_dict``), so

>>> model = TextRNN(vocab_size=100, num_classes=3, padding_idx=0)
>>> opt = rnnrs.optim.Adam(model.params, lr=1e-2)
>>> rnnrs.train.fit(model, (x, y), "cross_entropy", opt, epochs=5, batch_size=32)

trains them (``x`` ``(T, N)`` ints, ``y`` ``(N,)`` class indices).

Lengths: sequences are padded at the end. Each sequence's length is the
``lengths`` argument of ``forward``, or, with ``padding_idx`` set, the
number of its non-padding tokens. Pooling and the last state only read the
valid steps, and the recurrent layer runs with ``lengths`` (PyTorch's packed
semantics: the reverse direction of a bidirectional layer starts at each
sequence's last valid step), so padding never changes a prediction.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping, Optional

import numpy as np

from rnnrs.model import is_recurrent
from rnnrs.modules import Embedding, Linear
from rnnrs.nn import LSTM

__all__ = ["Bidirectional", "Concat", "TextRCNN", "TextRNN"]


class _Composite:
    """Parameter bookkeeping over named child modules."""

    num_states = 0  # no recurrent state is carried between calls
    _children: "OrderedDict[str, object]"

    @property
    def params(self) -> "OrderedDict[str, np.ndarray]":
        return OrderedDict((f"{n}.{k}", v) for n, m in self._children.items() for k, v in m.params.items())

    @property
    def grads(self) -> "OrderedDict[str, np.ndarray]":
        return OrderedDict((f"{n}.{k}", v) for n, m in self._children.items() for k, v in m.grads.items())

    def zero_grad(self) -> None:
        for m in self._children.values():
            m.zero_grad()

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray]) -> None:
        params = self.params
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for k, p in params.items():
            v = np.asarray(state_dict[k])
            if v.shape != p.shape:
                raise ValueError(f"state_dict[{k!r}]: expected shape {p.shape}, got {v.shape}")
            np.copyto(p, v, casting="same_kind")

    def __call__(self, x, state=None, lengths=None):
        return self.forward(x, state, train=False, lengths=lengths)

    def predict_proba(self, x, lengths=None) -> np.ndarray:
        """Class probabilities ``(N, num_classes)``."""
        logits = self(x, lengths=lengths)[0].astype(np.float64)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x, lengths=None) -> np.ndarray:
        """Predicted class indices ``(N,)``."""
        return np.argmax(self(x, lengths=lengths)[0], axis=1)

    def _lengths(self, x: np.ndarray, lengths) -> np.ndarray:
        t, n = x.shape
        if lengths is None:
            if self.padding_idx is None:
                return np.full(n, t, dtype=np.int64)
            lengths = (x != self.padding_idx).sum(axis=0)
        lengths = np.asarray(lengths)
        if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"lengths: expected {n} integers (one per sequence), got shape {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > t:
            raise ValueError(f"lengths: expected values in [1, {t}] (no empty sequences), got "
                             f"[{lengths.min()}, {lengths.max()}]")
        return lengths.astype(np.int64)

    def _tokens(self, x, state) -> np.ndarray:
        if state not in (None, ()):
            raise ValueError("state: these models carry no state between calls; pass None")
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"x: expected integer token indices, got dtype {x.dtype}")
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"x: expected time-major tokens (T, N) with T, N >= 1, got shape {x.shape}")
        return x


def _valid_mask(lengths: np.ndarray, t: int) -> np.ndarray:
    return np.arange(t)[:, None] < lengths[None, :]  # (T, N)


class TextRNN(_Composite):
    """Embedding -> (Bi)LSTM -> pooling over time -> Linear.

    ``pooling``: ``"last"`` (each sequence's state after its last valid
    token; bidirectional: with the reverse direction's output at step 0),
    ``"max"`` or ``"mean"`` over the valid steps.
    """

    def __init__(self, vocab_size: int, num_classes: int, embedding_dim: int = 64, hidden_size: int = 64, *,
                 num_layers: int = 1, bidirectional: bool = True, pooling: str = "max",
                 padding_idx: Optional[int] = None, dtype=np.float32, seed: Optional[int] = None):
        if pooling not in ("last", "max", "mean"):
            raise ValueError(f"pooling: expected 'last', 'max' or 'mean', got {pooling!r}")
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**31, size=3)
        self.pooling, self.padding_idx = pooling, padding_idx
        self.bidirectional, self.hidden_size = bool(bidirectional), int(hidden_size)
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx, dtype=dtype,
                                   seed=int(seeds[0]))
        self.padding_idx = self.embedding.padding_idx
        self.rnn = LSTM(embedding_dim, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                        dtype=dtype, seed=int(seeds[1]))
        width = hidden_size * (2 if bidirectional else 1)
        self.fc = Linear(width, num_classes, dtype=dtype, seed=int(seeds[2]))
        self._children = OrderedDict([("embedding", self.embedding), ("rnn", self.rnn), ("fc", self.fc)])
        self._saved = None

    def __repr__(self) -> str:
        return f"TextRNN({self.embedding!r}, {self.rnn!r}, pooling={self.pooling!r}, {self.fc!r})"

    def _pool(self, y, lengths):
        t, n, d = y.shape
        if self.pooling == "last":
            h = self.hidden_size
            out = y[lengths - 1, np.arange(n)].copy()
            if self.bidirectional:
                out[:, h:] = y[0, :, h:]
            return out, None
        mask = _valid_mask(lengths, t)[:, :, None]
        if self.pooling == "mean":
            return (y * mask).sum(axis=0) / lengths[:, None].astype(y.dtype), None
        masked = np.where(mask, y, -np.inf)
        idx = masked.argmax(axis=0)  # (N, D)
        return np.take_along_axis(y, idx[None], axis=0)[0], idx

    def _unpool(self, dp, lengths, idx, shape):
        t, n, d = shape
        dy = np.zeros(shape, dtype=dp.dtype)
        if self.pooling == "last":
            h = self.hidden_size
            if self.bidirectional:
                dy[lengths - 1, np.arange(n), :h] = dp[:, :h]
                dy[0, :, h:] += dp[:, h:]
            else:
                dy[lengths - 1, np.arange(n)] = dp
        elif self.pooling == "mean":
            dy[...] = _valid_mask(lengths, t)[:, :, None] * (dp / lengths[:, None].astype(dp.dtype))[None]
        else:
            np.put_along_axis(dy, idx[None], dp[None], axis=0)
        return dy

    def forward(self, x, state=None, train: bool = True, lengths=None):
        """``x`` ``(T, N)`` tokens -> ``(logits (N, num_classes), ())``."""
        x = self._tokens(x, state)
        lengths = self._lengths(x, lengths)
        e = self.embedding.forward(x, train=train)
        y, _ = self.rnn.forward(e, train=True, lengths=lengths) if train else self.rnn(e, lengths=lengths)
        pooled, idx = self._pool(y, lengths)
        logits = self.fc.forward(pooled, train=train)
        if train:
            self._saved = (lengths, idx, y.shape)
        return logits, ()

    def backward(self, dlogits):
        """Backpropagates ``dlogits`` ``(N, num_classes)``; adds into ``grads``; returns None."""
        if self._saved is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        lengths, idx, shape = self._saved
        self._saved = None
        dp = self.fc.backward(dlogits)
        dy = self._unpool(dp, lengths, idx, shape)
        de, _ = self.rnn.backward(dy)
        self.embedding.backward(de)
        return None


class TextRCNN(_Composite):
    """Recurrent convolutional network for text (Lai et al. 2015).

    Each word is represented by ``[left context; embedding; right context]``
    (the forward and backward outputs of a bidirectional LSTM at that word),
    projected by ``tanh(W [.] + b)`` to ``projection_size`` features, max-pooled
    over the valid steps, and classified by a Linear layer.
    """

    def __init__(self, vocab_size: int, num_classes: int, embedding_dim: int = 64, hidden_size: int = 64,
                 projection_size: int = 64, *, padding_idx: Optional[int] = None, dtype=np.float32,
                 seed: Optional[int] = None):
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**31, size=4)
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx, dtype=dtype,
                                   seed=int(seeds[0]))
        self.padding_idx = self.embedding.padding_idx
        self.rnn = LSTM(embedding_dim, hidden_size, bidirectional=True, dtype=dtype, seed=int(seeds[1]))
        self.proj = Linear(embedding_dim + 2 * hidden_size, projection_size, dtype=dtype, seed=int(seeds[2]))
        self.fc = Linear(projection_size, num_classes, dtype=dtype, seed=int(seeds[3]))
        self.hidden_size, self.embedding_dim = int(hidden_size), int(embedding_dim)
        self._children = OrderedDict([("embedding", self.embedding), ("rnn", self.rnn), ("proj", self.proj),
                                      ("fc", self.fc)])
        self._saved = None

    def __repr__(self) -> str:
        return f"TextRCNN({self.embedding!r}, {self.rnn!r}, {self.proj!r}, {self.fc!r})"

    def forward(self, x, state=None, train: bool = True, lengths=None):
        """``x`` ``(T, N)`` tokens -> ``(logits (N, num_classes), ())``."""
        x = self._tokens(x, state)
        lengths = self._lengths(x, lengths)
        e = self.embedding.forward(x, train=train)
        y, _ = self.rnn.forward(e, train=True, lengths=lengths) if train else self.rnn(e, lengths=lengths)
        h = self.hidden_size
        rep = np.concatenate([y[:, :, :h], e, y[:, :, h:]], axis=2)  # [left; word; right]
        z = np.tanh(self.proj.forward(rep, train=train))
        mask = _valid_mask(lengths, x.shape[0])[:, :, None]
        idx = np.where(mask, z, -np.inf).argmax(axis=0)  # (N, P)
        pooled = np.take_along_axis(z, idx[None], axis=0)[0]
        logits = self.fc.forward(pooled, train=train)
        if train:
            self._saved = (z, idx)
        return logits, ()

    def backward(self, dlogits):
        """Backpropagates ``dlogits`` ``(N, num_classes)``; adds into ``grads``; returns None."""
        if self._saved is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        z, idx = self._saved
        self._saved = None
        dpool = self.fc.backward(dlogits)
        dz = np.zeros_like(z)
        np.put_along_axis(dz, idx[None], dpool[None], axis=0)
        drep = self.proj.backward(dz * (1 - z * z))
        h, e = self.hidden_size, self.embedding_dim
        dy = np.ascontiguousarray(np.concatenate([drep[:, :, :h], drep[:, :, h + e:]], axis=2))
        de, _ = self.rnn.backward(dy)
        self.embedding.backward(de + drep[:, :, h:h + e])
        return None


def _run(module, x, train: bool):
    """Output of a recurrent layer (its ``y``) or of a plain module."""
    if is_recurrent(module):
        return (module.forward(x, None, train=True) if train else module(x))[0]
    return module.forward(x, train=train)


def _back(module, dy):
    if is_recurrent(module):
        return module.backward(dy)[0]
    return module.backward(dy)


class Concat(_Composite):
    """Applies every module to the same input and concatenates their outputs
    on the last axis: ``Concat(rnnrs.LSTM(8, 16), rnnrs.GRU(8, 16))`` maps
    ``(T, N, 8)`` to ``(T, N, 32)``. A plain module for `rnnrs.Sequential`
    (``forward(x, train)``, ``backward(dy)``); recurrent members start from
    zeros at every call. Parameters are named ``"<index>.<name>"``.
    """

    def __init__(self, *modules):
        if not modules:
            raise ValueError("modules: Concat needs at least one module")
        for i, m in enumerate(modules):
            for attr in ("forward", "backward", "params", "grads"):
                if not hasattr(m, attr):
                    raise TypeError(f"modules[{i}]: {type(m).__name__} has no {attr!r}")
        self.modules = list(modules)
        self._children = OrderedDict((str(i), m) for i, m in enumerate(modules))
        self._widths = None

    def __repr__(self) -> str:
        return "Concat(" + ", ".join(repr(m) for m in self.modules) + ")"

    def __call__(self, x):
        return self.forward(x, train=False)

    def forward(self, x, train: bool = True) -> np.ndarray:
        outs = [_run(m, x, train) for m in self.modules]
        if train:
            self._widths = [o.shape[-1] for o in outs]
        return np.concatenate(outs, axis=-1)

    def backward(self, dy):
        """Splits ``dy`` by member and returns the summed input gradient."""
        if self._widths is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        bounds = np.cumsum([0] + self._widths)
        self._widths, dx = None, None
        for m, lo, hi in zip(self.modules, bounds[:-1], bounds[1:]):
            g = _back(m, np.ascontiguousarray(dy[..., lo:hi]))
            dx = g if dx is None else (dx if g is None else dx + g)
        return dx


class Bidirectional(Concat):
    """Runs ``forward_layer`` over the sequence and ``backward_layer`` over it
    reversed in time (its output reversed back), concatenating both:
    ``Bidirectional(rnnrs.GRU(8, 16), rnnrs.LSTM(8, 16))`` maps ``(T, N, 8)``
    to ``(T, N, 32)``, like torch's ``bidirectional=True`` when both are the
    same kind of layer. Time-major input; the whole time axis is used.
    """

    def __init__(self, forward_layer, backward_layer):
        super().__init__(forward_layer, _Reversed(backward_layer))

    def __repr__(self) -> str:
        return f"Bidirectional({self.modules[0]!r}, {self.modules[1].inner!r})"


class _Reversed:
    """A module run on the time-reversed input, its output reversed back."""

    def __init__(self, inner):
        self.inner = inner

    @property
    def params(self):
        return self.inner.params

    @property
    def grads(self):
        return self.inner.grads

    def zero_grad(self) -> None:
        self.inner.zero_grad()

    def __repr__(self) -> str:
        return f"Reversed({self.inner!r})"

    def forward(self, x, train: bool = True):
        return np.ascontiguousarray(_run(self.inner, np.ascontiguousarray(np.asarray(x)[::-1]), train)[::-1])

    def backward(self, dy):
        g = _back(self.inner, np.ascontiguousarray(np.asarray(dy)[::-1]))
        return None if g is None else np.ascontiguousarray(g[::-1])
