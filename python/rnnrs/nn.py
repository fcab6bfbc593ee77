"""Recurrent layer classes with PyTorch's interface: `RNN`, `LSTM`, `GRU`.

Parameters are NumPy arrays with PyTorch's names and shapes (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0`` and the
``_reverse`` ones), readable and assignable as attributes or through
``layer.params``; ``state_dict()``/``load_state_dict()`` exchange them with
PyTorch (``{k: v.numpy() for k, v in module.state_dict().items()}``).

- ``layer(x, hx)``: inference; keeps nothing but the running state.
- ``layer.forward(x, hx, train=True)``: keeps what ``backward`` needs.
- ``layer.backward(dy, dhx)``: returns the input and initial-state gradients
  and ADDS the parameter gradients into ``layer.grads`` (``zero_grad()``
  clears them).

Dropout (``dropout > 0``, ``num_layers > 1``) is applied as in PyTorch: on
the outputs of every layer but the last, in ``forward(..., train=True)``
only, with masks drawn from the layer's own generator (seeded by ``seed``).

Variational dropout (Gal & Ghahramani), also only in ``forward(..., train=True)``
and from its own seeded generator: ``input_dropout`` drops features of the
layer-0 input with one ``(B, I)`` mask per call, the same at every time step;
``recurrent_dropout`` drops units of ``h_{t-1}`` where it enters the recurrent
product ``W_hh h_{t-1}`` (not the output, not ``c``), one ``(B, h_out)`` mask
per layer and direction per call. Both are inverted (kept values scaled by
``1 / (1 - p)``).

Variable-length batches: ``layer(x, hx, lengths=lengths)`` and
``layer.forward(x, hx, train=True, lengths=lengths)`` take the valid length
of each sequence (integers ``(B,)`` in ``1..T``, any order), with PyTorch's
packed-sequence semantics (see `rnnrs.functional`): zero outputs past each
length, each sequence's own final state, the reverse direction starting at
its last valid step, and no gradient through padded steps. Only running
sequences are computed.

Truncated BPTT: call ``forward(chunk, state, train=True)``/``backward`` per
chunk, passing the returned state to the next chunk (it is a plain array, so
gradients never flow across chunks); `tbptt_chunks` and `RNNBase.tbptt`
do the iteration.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Callable, NamedTuple

import numpy as np

from rnnrs import _core
from rnnrs import functional as F

__all__ = ["GRU", "LSTM", "MGU", "RNN", "IncompatibleKeys", "RNNBase", "tbptt_chunks"]


def _split_name(name: str) -> tuple:
    """``(kind, layer, reverse)`` of a parameter name ``{kind}_l{layer}[_reverse]``."""
    kind, _, rest = name.rpartition("_l")
    layer, _, rev = rest.partition("_")
    return kind, int(layer), rev == "reverse"


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(..., strict=False)` did not match."""

    missing_keys: list
    unexpected_keys: list


def tbptt_chunks(x, k: int, *, batch_first: bool = False) -> Iterator[np.ndarray]:
    """Successive chunks of at most ``k`` time steps of ``x`` (views, in order).

    The time axis is 0 (``(T, B, I)`` or unbatched ``(T, I)``), or 1 for
    batched input with ``batch_first=True``.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0:
        raise ValueError(f"k: expected a positive int, got {k!r}")
    x = np.asarray(x)
    axis = 1 if (batch_first and x.ndim == 3) else 0
    n = x.shape[axis]
    for start in range(0, n, int(k)):
        yield x[start:start + k] if axis == 0 else x[:, start:start + k]


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal rows or columns (QR of a Gaussian)."""
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))  # unique, uniformly distributed
    return q if rows >= cols else q.T


class _DropoutRun:
    """A training run with dropout: one functional context per layer and the masks between them."""

    def __init__(self, runs, masks):
        self.runs = runs
        self.masks = masks


class RNNBase:
    """Shared machinery of `RNN`, `LSTM` and `GRU` (use those)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, *, dtype=np.float32, seed: int | None = None,
                 recurrent_init: str = "uniform", forget_bias: float | None = None, cast: bool = False,
                 input_dropout: float = 0.0, recurrent_dropout: float = 0.0):
        for name, v, lo in (("input_size", input_size, 1), ("hidden_size", hidden_size, 1),
                            ("num_layers", num_layers, 1), ("proj_size", proj_size, 0)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size: only LSTM supports a projection")
        if proj_size >= hidden_size and proj_size:
            raise ValueError(f"proj_size: must be smaller than hidden_size ({hidden_size}), got {proj_size}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        for name, p in (("input_dropout", input_dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1), got {p!r}")
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype: expected float32 or float64, got {dt.name}")
        if recurrent_init not in ("uniform", "orthogonal"):
            raise ValueError(f"recurrent_init: expected 'uniform' or 'orthogonal', got {recurrent_init!r}")
        if forget_bias is not None and (mode != "LSTM" or not bias):
            raise ValueError("forget_bias: only for LSTM with bias=True")
        object.__setattr__(self, "_params", OrderedDict())
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.input_dropout = float(input_dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = int(proj_size)
        self.dtype = dt
        self.cast = bool(cast)
        self._ctx = None
        self._ctx_input_mask = None
        # A separate stream for dropout masks, so the init does not depend on it.
        self._dropout_rng = np.random.default_rng(None if seed is None else [int(seed), 1])
        # And one for the variational masks, so adding them changes no other stream.
        self._vardrop_rng = np.random.default_rng(None if seed is None else [int(seed), 2])
        # Testing hook: ``(input_mask, recurrent_mask)`` used by the next training
        # forward instead of drawn ones (either may be None).
        self._next_masks = None
        self.reset_parameters(seed, recurrent_init=recurrent_init, forget_bias=forget_bias)

    # --- parameters -------------------------------------------------------
    @property
    def _cell_mode(self) -> str:
        """The core's mode (differs from ``mode`` for the LSTM variants)."""
        return self.mode

    def _shapes(self) -> OrderedDict[str, tuple]:
        (gi, gr, gb), h = F.blocks(self._cell_mode), self.hidden_size
        h_out = self.proj_size or h
        d = 2 if self.bidirectional else 1
        own = dict(F._OWN_PARAMS.get(self._cell_mode, ()))
        shapes = OrderedDict()
        for name in F.param_names(self._cell_mode, self.num_layers, self.bidirectional, self.bias,
                                  self.proj_size):
            kind, layer, _ = _split_name(name)
            if kind in own:
                shapes[name] = F.own_param_shape(own[kind], h)
            elif kind == "weight_ih":
                shapes[name] = (gi * h, self.input_size if layer == 0 else d * h_out)
            elif kind == "weight_hh":
                shapes[name] = (gr * h, h_out)
            elif kind == "weight_hr":
                shapes[name] = (self.proj_size, h)
            else:
                shapes[name] = ((gi if kind == "bias_ih" else gb) * h,)
        return shapes

    def reset_parameters(self, seed: int | None = None, *, recurrent_init: str = "uniform",
                         forget_bias: float | None = None) -> None:
        """PyTorch's default init: every parameter uniform in ±1/sqrt(hidden_size).

        Drawn in float64 from ``np.random.default_rng(seed)`` and cast, so a
        seed gives the same values in both dtypes. ``recurrent_init="orthogonal"``
        makes each gate block of ``weight_hh`` orthogonal; ``forget_bias`` sets
        the LSTM forget-gate block of ``bias_ih`` to that value and of
        ``bias_hh`` to 0 (their sum is what the gate sees).
        """
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        h = self.hidden_size
        for name, shape in self._shapes().items():
            w = rng.uniform(-k, k, size=shape)
            if recurrent_init == "orthogonal" and name.startswith("weight_hh"):
                w = np.concatenate([_orthogonal(rng, h, shape[1]) for _ in range(shape[0] // h)])
            if forget_bias is not None and name.startswith("bias_"):
                w[h:2 * h] = forget_bias if name.startswith("bias_ih") else 0.0
            self._params[name] = np.ascontiguousarray(w, dtype=self.dtype)
        self.grads = OrderedDict((n, np.zeros_like(p)) for n, p in self._params.items())
        self._ctx = None

    @property
    def params(self) -> OrderedDict[str, np.ndarray]:
        """The parameter arrays by PyTorch name (live: in-place edits apply)."""
        return self._params

    def named_parameters(self) -> Iterator[tuple]:
        """``(name, array)`` pairs in PyTorch's order."""
        return iter(self._params.items())

    def parameters(self) -> list:
        """The parameter arrays in PyTorch's order."""
        return list(self._params.values())

    def zero_grad(self) -> None:
        """Sets every accumulated gradient to zero."""
        for g in self.grads.values():
            g.fill(0)

    def _checked(self, name: str, value) -> np.ndarray:
        want = self._shapes()[name]
        arr = np.asarray(value)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
        if arr.shape != want:
            raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
        return np.array(arr, dtype=self.dtype, order="C", copy=True)

    def __getattr__(self, name):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            # Copy into the existing array: optimizers hold references to it.
            np.copyto(params[name], self._checked(name, value))
        else:
            object.__setattr__(self, name, value)

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of the parameters by PyTorch name."""
        return OrderedDict((n, p.copy()) for n, p in self._params.items())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Loads parameters (NumPy arrays, or anything `np.asarray` takes, e.g.
        a PyTorch state_dict's tensors), checking names and shapes and casting
        to the layer's dtype. With ``strict``, missing or unexpected names raise
        KeyError; otherwise they are returned.
        """
        names = list(self._params)
        missing = [n for n in names if n not in state_dict]
        unexpected = [k for k in state_dict if k not in self._params]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        new = {n: self._checked(n, state_dict[n]) for n in names if n in state_dict}
        for n, value in new.items():  # in place: optimizers hold references to the arrays
            np.copyto(self._params[n], value)
        self._ctx = None
        return IncompatibleKeys(missing, unexpected)

    # --- running ----------------------------------------------------------
    def _split_hx(self, hx):
        return hx, None

    def _pack(self, h, c):
        return h

    def _draw(self, shape, p):
        keep = self._vardrop_rng.random(shape) >= p
        return keep.astype(self.dtype) / self.dtype.type(1.0 - p)

    def _variational_masks(self, x):
        """``(input_mask (B, I) or None, recurrent_mask (D*L, B, h_out) or None)`` for a training run."""
        if self._next_masks is not None:
            masks, self._next_masks = self._next_masks, None
            return masks
        if not (self.input_dropout or self.recurrent_dropout) or x.ndim not in (2, 3):
            return None, None
        batch = 1 if x.ndim == 2 else x.shape[0 if self.batch_first else 1]
        rows = self.num_layers * (2 if self.bidirectional else 1)
        h_out = self.proj_size or self.hidden_size
        im = self._draw((batch, self.input_size), self.input_dropout) if self.input_dropout else None
        rm = self._draw((rows, batch, h_out), self.recurrent_dropout) if self.recurrent_dropout else None
        return im, rm

    def _input_masked(self, a, mask):
        """``a`` (shaped like the input) times the ``(B, I)`` input mask, the same at every step."""
        if a.ndim == 2:
            return a * mask[0]
        return a * (mask[:, None, :] if self.batch_first else mask[None])

    def _run(self, x, hx, train, lengths=None, allow_empty=False):
        """``(y, state, ctx, input_mask)``."""
        im = rm = None
        if train:
            x = np.asarray(x)
            im, rm = self._variational_masks(x)
            if rm is not None and x.ndim == 2:
                rm = np.asarray(rm)[:, 0, :]  # unbatched: the states have no batch axis
            if im is not None:
                x = self._input_masked(x, np.asarray(im))
        if train and self.dropout > 0 and self.num_layers > 1:
            return (*self._run_dropout(x, hx, rm, lengths, allow_empty), im)
        h0, c0 = self._split_hx(hx)
        return (*self._run_with(self._params, x, h0, c0, train, rm, lengths, allow_empty), im)

    def _run_with(self, params, x, h0, c0, train, rec_mask=None, lengths=None, allow_empty=False):
        kw = {"batch_first": self.batch_first, "train": train, "cast": self.cast, "_rec_mask": rec_mask,
              "lengths": lengths, "_allow_empty": allow_empty}
        if self.mode == "LSTM":
            state = None if h0 is None and c0 is None else (h0, c0)
            y, (h_n, c_n), ctx = F.lstm(x, params, state, forget_gate=self.forget_gate, coupled=self.coupled,
                                        peephole=self.peephole, **kw)
        elif self.mode == "GRU":
            y, h_n, ctx = F.gru(x, params, h0, gates=self.gates, **kw)
            c_n = None
        elif self.mode == "MGU":
            y, h_n, ctx = F.mgu(x, params, h0, **kw)
            c_n = None
        else:
            nl = "tanh" if self.mode == "RNN_TANH" else "relu"
            y, h_n, ctx = F.rnn(x, params, h0, nonlinearity=nl, **kw)
            c_n = None
        return y, self._pack(h_n, c_n), ctx

    def _layer_dict(self, source: dict, k: int) -> dict:
        """The entries of layer ``k`` renamed as a one-layer stack (``_l{k}`` -> ``_l0``)."""
        out = {}
        for name, arr in source.items():
            base, idx, rev = _split_name(name)
            if idx == k:
                out[f"{base}_l0" + ("_reverse" if rev else "")] = arr
        return out

    def _run_dropout(self, x, hx, rec_mask=None, lengths=None, allow_empty=False):
        """Training forward with dropout between layers: one layer at a time."""
        d = 2 if self.bidirectional else 1
        h0, c0 = self._split_hx(hx)
        runs, masks, hs, cs = [], [], [], []
        inp = x
        for k in range(self.num_layers):
            rows = slice(k * d, (k + 1) * d)
            hk = None if h0 is None else np.asarray(h0)[rows]
            ck = None if c0 is None else np.asarray(c0)[rows]
            mk = None if rec_mask is None else np.asarray(rec_mask)[rows]
            y, state, ctx = self._run_with(self._layer_dict(self._params, k), inp, hk, ck, True, mk, lengths,
                                           allow_empty)
            runs.append(ctx)
            h, c = state if self.mode == "LSTM" else (state, None)
            hs.append(h)
            cs.append(c)
            if k + 1 < self.num_layers:
                keep = self._dropout_rng.random(y.shape) >= self.dropout
                mask = keep.astype(y.dtype) / y.dtype.type(1.0 - self.dropout)
                masks.append(mask)
                y = y * mask
            inp = y
        h_n = np.concatenate(hs, axis=0)
        c_n = np.concatenate(cs, axis=0) if self.mode == "LSTM" else None
        return inp, self._pack(h_n, c_n), _DropoutRun(runs, masks)

    def _backward_dropout(self, run, dy, dhx, input_grad=True):
        d = 2 if self.bidirectional else 1
        dh_n, dc_n = self._split_hx(dhx)
        dh0s, dc0s = [None] * self.num_layers, [None] * self.num_layers
        for k in reversed(range(self.num_layers)):
            rows = slice(k * d, (k + 1) * d)
            dh = None if dh_n is None else np.asarray(dh_n)[rows]
            grads = self._layer_dict(self.grads, k)
            if self.mode == "LSTM":
                dc = None if dc_n is None else np.asarray(dc_n)[rows]
                dx, (dh0s[k], dc0s[k]), _ = F.lstm_backward(run.runs[k], dy, (dh, dc), grads=grads, cast=self.cast,
                                                            input_grad=input_grad or k > 0)
            else:
                fn = F.gru_backward if self.mode == "GRU" else F.rnn_backward
                dx, dh0s[k], _ = fn(run.runs[k], dy, dh, grads=grads, cast=self.cast, input_grad=input_grad or k > 0)
            dy = dx * run.masks[k - 1] if k > 0 else dx
        dh0 = np.concatenate(dh0s, axis=0)
        return (dy, (dh0, np.concatenate(dc0s, axis=0))) if self.mode == "LSTM" else (dy, dh0)

    def __call__(self, x, hx=None, lengths=None, *, _allow_empty: bool = False):
        """Inference forward: ``y, h_n`` (``y, (h_n, c_n)`` for LSTM). Stores nothing.

        ``lengths``: optional valid steps per sequence (see `forward`).
        """
        if lengths is None and type(x) is np.ndarray and x.ndim == 3 and x.shape[int(self.batch_first)] == 1:
            # A T = 1 call (streaming): the one-step path, without the sequence machinery.
            fast = self._step_fast(x[:, 0] if self.batch_first else x[0], hx)
            if fast is not None:
                y, state = fast
                return (y[:, None] if self.batch_first else y[None]), state
        if lengths is None and hx is None:
            fast = self._seq_fast(x, False)
            if fast is not None:
                return fast[0], fast[1]
        y, state, _, _ = self._run(x, hx, False, lengths, _allow_empty)
        return y, state

    def _seq_fast(self, x, train: bool):
        """`__call__` / `forward` for the common case: a C-contiguous ``(T, B, I)``
        array of the layer's dtype, time-major, zero initial state, no lengths,
        no dropout. The core is called directly on the parameter arrays (as
        the general path ends up doing, without its per-call Python checks,
        which at batch 1 cost as much as a tenth of the run); the core checks
        the rest, naming ``input``. ``(y, state, ctx)``, or None when the
        general path must run."""
        if type(x) is not np.ndarray or x.ndim != 3 or self.batch_first or x.dtype != self.dtype \
                or not x.flags.c_contiguous or x.shape[0] == 0 or x.shape[2] != self.input_size \
                or type(self)._run_with is not RNNBase._run_with:
            return None
        if train and (self.input_dropout or self.recurrent_dropout or self._next_masks is not None
                      or (self.dropout > 0 and self.num_layers > 1)):
            return None
        mode, plist = self._cell_mode, list(self._params.values())
        y, h_n, c_n, ctx = _core.rnn_forward(
            mode, x, plist, None, None, hidden_size=self.hidden_size, num_layers=self.num_layers,
            bidirectional=self.bidirectional, bias=self.bias, proj_size=self.proj_size, train=train,
            rec_mask=None, lengths=None)
        context = None
        if train:
            context = F.Context(ctx, mode, list(self._params), plist, self.dtype, False, False,
                                self.proj_size or self.hidden_size, self.hidden_size,
                                self.num_layers * (2 if self.bidirectional else 1), self.input_size)
        return y, self._pack(h_n, c_n), context

    def forward(self, x, hx=None, train: bool = True, lengths=None, *, _allow_empty: bool = False):
        """Forward; with ``train`` (default) keeps what `backward` needs.

        ``x``: ``(T, B, I)``, ``(B, T, I)`` with ``batch_first``, or ``(T, I)``.
        ``hx``: initial state (``(h0, c0)`` for LSTM) or None for zeros.
        ``lengths``: None, or the valid steps of each sequence (integers
        ``(B,)`` in ``1..T``, any order): outputs are zero past each length,
        the returned state is each sequence's state after its own last step,
        the reverse direction starts at step ``lengths[b] - 1``, and
        `backward` ignores ``dy`` at padded steps.
        """
        # `_allow_empty` (internal: chunked runs) admits length 0: the state passes through.
        fast = self._seq_fast(x, bool(train)) if lengths is None and hx is None else None
        if fast is not None:
            self._ctx, self._ctx_input_mask = fast[2], None
            return fast[0], fast[1]
        y, state, ctx, im = self._run(x, hx, train, lengths, _allow_empty)
        self._ctx = ctx
        self._ctx_input_mask = im
        return y, state

    def backward(self, dy, dhx=None, input_grad: bool = True):
        """BPTT through the last ``forward(..., train=True)``.

        ``dy`` is the gradient w.r.t. the output ``y``; ``dhx`` w.r.t. the final
        state (``(dh_n, dc_n)`` for LSTM) or None. Returns ``(dx, dh0)``
        (``(dx, (dh0, dc0))`` for LSTM) and adds the parameter gradients into
        ``self.grads``. With ``input_grad=False`` the gradient w.r.t. the input
        is not computed (``dx`` is None), as for a torch input that does not
        require grad. The recorded run is released afterwards.
        """
        if self._ctx is None:
            raise RuntimeError("backward: call forward(..., train=True) first (each run supports one backward)")
        ctx, self._ctx = self._ctx, None
        im, self._ctx_input_mask = self._ctx_input_mask, None
        if dhx is None and im is None and type(ctx) is F.Context and type(dy) is np.ndarray and dy.ndim == 3 \
                and dy.dtype == ctx.dtype and dy.flags.c_contiguous and not ctx.batch_first and not ctx.unbatched \
                and type(self).backward is RNNBase.backward:
            # The common case without the general path's per-call Python work
            # (as `_seq_fast`); the core checks dy's shape, naming it.
            _, glist = F._grad_arrays(ctx, self.grads)
            dx, dh0, dc0 = _core.rnn_backward(ctx._ctx, ctx.params, dy, None, None, grads=glist,
                                              input_grad=bool(input_grad))
            return dx, ((dh0, dc0) if self.mode == "LSTM" else dh0)
        if isinstance(ctx, _DropoutRun):
            dx, dstate = self._backward_dropout(ctx, dy, dhx, input_grad)
        elif self.mode == "LSTM":
            dx, dstate, _ = F.lstm_backward(ctx, dy, dhx, grads=self.grads, cast=self.cast, input_grad=input_grad)
        else:
            fn = F.gru_backward if self.mode == "GRU" else F.rnn_backward
            dx, dstate, _ = fn(ctx, dy, dhx, grads=self.grads, cast=self.cast, input_grad=input_grad)
        if im is not None and dx is not None:
            dx = self._input_masked(dx, np.asarray(im))
        return dx, dstate

    def step(self, x_t, hx=None):
        """One time step for streaming use: ``(y_t, state)``, stores nothing.

        ``x_t`` is ``(B, I)`` (or ``(I,)`` unbatched) whatever ``batch_first``
        says; ``y_t`` is ``(B, h_out)`` (``(h_out,)``) and ``state`` is what
        the layer's call returns, to pass to the next step. The same as
        ``layer(x_t[None], hx)`` with the time axis dropped, with less
        per-call work (the Rust core is called directly on the parameter
        arrays). Unidirectional layers only (a reverse direction needs the
        whole sequence).
        """
        fast = self._step_fast(x_t, hx)
        if fast is not None:
            return fast
        if self.bidirectional:
            raise ValueError("step: a bidirectional layer needs the whole sequence; call layer(x) instead")
        if type(x_t) is not np.ndarray:
            x_t = np.asarray(x_t)
        if x_t.ndim not in (1, 2) or x_t.shape[-1] != self.input_size:
            raise ValueError(f"x_t: expected one step (B, {self.input_size}) or ({self.input_size},), "
                             f"got shape {x_t.shape}")
        unbatched = x_t.ndim == 1
        if x_t.dtype != self.dtype:
            if not self.cast:
                raise TypeError(f"x_t: expected dtype {self.dtype.name} (the layer's), got {x_t.dtype.name}; "
                                "convert it or pass cast=True")
            x_t = x_t.astype(self.dtype)
        # A view with a time axis of 1 (copied only when not C-contiguous).
        x = x_t[None, None] if unbatched else x_t[None]
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        h0, c0 = self._split_hx(hx)

        def state(s, arg):
            if s is None:
                return None
            if type(s) is not np.ndarray:
                s = np.asarray(s)
            if self.cast and s.dtype != self.dtype:
                s = s.astype(self.dtype)
            if unbatched and s.ndim == 2:
                s = s[:, None, :]
            elif unbatched:
                raise ValueError(f"{arg}: expected (num_layers, hidden) for an unbatched step, got {s.shape}")
            return s if s.flags.c_contiguous else np.ascontiguousarray(s)

        y, h_n, c_n, _ = _core.rnn_forward(
            self._cell_mode, x, list(self._params.values()), state(h0, "h0"), state(c0, "c0"),
            hidden_size=self.hidden_size, num_layers=self.num_layers, bias=self.bias, proj_size=self.proj_size)
        if unbatched:
            y, h_n = y[0, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        else:
            y = y[0]
        return y, self._pack(h_n, c_n)

    def _step_fast(self, x_t, hx):
        """`step` for the common streaming case: a ``(B, I)`` array of the
        layer's dtype (``cast=False``); the core checks the rest once, naming
        ``x_t``, ``h0``, ``c0``. None when the general path must run."""
        if type(x_t) is not np.ndarray or x_t.ndim != 2 or self.cast or self.bidirectional \
                or x_t.dtype != self.dtype or x_t.shape[1] != self.input_size:
            return None
        h0, c0 = self._split_hx(hx)
        y, h_n, c_n = _core.rnn_step(
            self._cell_mode, x_t, list(self._params.values()), h0, c0,
            hidden_size=self.hidden_size, num_layers=self.num_layers, bias=self.bias, proj_size=self.proj_size)
        return y, self._pack(h_n, c_n)

    def tbptt(self, x, k: int, dy_fn: Callable, hx=None, *, on_chunk: Callable | None = None, lengths=None):
        """Truncated BPTT over ``x`` in chunks of ``k`` steps.

        For each chunk: ``forward(chunk, state, train=True)``, then
        ``dy = dy_fn(y_chunk, index)`` and ``backward(dy)`` (gradients add into
        ``self.grads``), then ``on_chunk(index)`` if given (e.g. an optimizer
        step and `zero_grad`). The final state of a chunk starts the next one,
        detached. Returns the final state.

        With ``lengths`` (``(B,)``, in ``1..T``), each chunk runs with the
        lengths cut to it; a sequence that has ended keeps its final state
        through the later chunks, so the returned state is each sequence's
        state after its own last step.
        """
        state = hx
        if lengths is not None:
            x = np.asarray(x)
            t = x.shape[1 if (self.batch_first and x.ndim == 3) else 0]
            b = x.shape[0 if self.batch_first else 1] if x.ndim == 3 else 1
            lengths = F.check_lengths(lengths, t, b)
        for index, chunk in enumerate(tbptt_chunks(x, k, batch_first=self.batch_first)):
            chunk_t = chunk.shape[1 if (self.batch_first and chunk.ndim == 3) else 0]
            chunk_lengths = None if lengths is None else np.clip(lengths - index * int(k), 0, chunk_t)
            y, state, ctx, im = self._run(chunk, state, True, chunk_lengths, allow_empty=True)
            self._ctx, self._ctx_input_mask = ctx, im
            self.backward(dy_fn(y, index))
            if on_chunk is not None:
                on_chunk(index)
        return state

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0), ("input_dropout", 0.0),
                              ("recurrent_dropout", 0.0)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + f", dtype={self.dtype.name}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class RNN(RNNBase):
    """Elman RNN, as `torch.nn.RNN`: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Arguments as PyTorch's (``nonlinearity`` "tanh" or "relu") plus ``dtype``
    (float32 default, or float64), ``seed`` (init), ``recurrent_init``
    ("uniform" or "orthogonal") and ``cast`` (convert inputs of other dtypes
    instead of raising TypeError). ``dropout`` applies between layers in
    ``forward(..., train=True)``, as PyTorch's does in training mode;
    ``input_dropout`` and ``recurrent_dropout`` are variational dropout (see
    the module docstring), also only in training.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 *, dtype=np.float32, seed: int | None = None, recurrent_init: str = "uniform",
                 cast: bool = False, input_dropout: float = 0.0, recurrent_dropout: float = 0.0):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, 0, dtype=dtype, seed=seed,
                         recurrent_init=recurrent_init, cast=cast, input_dropout=input_dropout,
                         recurrent_dropout=recurrent_dropout)


class LSTM(RNNBase):
    """LSTM, as `torch.nn.LSTM` (gates i, f, g, o; ``proj_size`` adds ``weight_hr``).

    Extra arguments: ``dtype``, ``seed``, ``recurrent_init``, ``forget_bias``
    (value of the forget-gate block of ``bias_ih``; ``bias_hh``'s block is 0)
    and ``cast``; see `RNN`. States are pairs ``(h, c)``.

    Variants (Greff et al. 2017), both without forget-gate rows, so the
    weights have 3 gate blocks ``i, g, o`` (``weight_ih_l0`` is ``(3H, I)``):
    ``forget_gate=False``, the original LSTM (Hochreiter & Schmidhuber 1997),
    ``c_t = c_{t-1} + i*g``; ``coupled=True``, CIFG, the forget gate coupled
    to the input gate, ``c_t = (1 - i)*c_{t-1} + i*g``. Otherwise as the LSTM
    (``h_t = o*tanh(c_t)``, projection, dropout, exact RTRL and SnAp-1 through
    ``rnnrs.rtrl`` with mode "LSTM_NOFORGET" / "LSTM_CIFG").

    ``peephole=True`` (Gers & Schmidhuber 2000): gates i, f, g, o as the
    LSTM, plus diagonal peephole weights ``weight_ch_l{k}`` (and
    ``_reverse``) of shape ``(3, H)``, rows ``p_i, p_f, p_o`` (initialised
    like the other parameters)::

        i = σ(W_ii x + b_ii + W_hi h + b_hi + p_i * c_{t-1})
        f = σ(W_if x + b_if + W_hf h + b_hf + p_f * c_{t-1})
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        c_t = f * c_{t-1} + i * g
        o = σ(W_io x + b_io + W_ho h + b_ho + p_o * c_t)
        h_t = o * tanh(c_t)

    With projection, dropout, lengths, exact RTRL and SnAp-1 (``rnnrs.rtrl``,
    mode "LSTM_PEEPHOLE"; ``weight_ch_l0`` is part of the flat parameters).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, *, dtype=np.float32, seed: int | None = None,
                 recurrent_init: str = "uniform", forget_bias: float | None = None, cast: bool = False,
                 input_dropout: float = 0.0, recurrent_dropout: float = 0.0, forget_gate: bool = True,
                 coupled: bool = False, peephole: bool = False):
        F.lstm_mode(forget_gate, coupled, peephole)  # checks the combination
        if forget_bias is not None and (coupled or not forget_gate):
            raise ValueError("forget_bias: needs the forget gate (forget_gate=True, coupled=False)")
        self.forget_gate = bool(forget_gate)
        self.coupled = bool(coupled)
        self.peephole = bool(peephole)
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, dtype=dtype, seed=seed, recurrent_init=recurrent_init,
                         forget_bias=forget_bias, cast=cast, input_dropout=input_dropout,
                         recurrent_dropout=recurrent_dropout)

    @property
    def _cell_mode(self) -> str:
        return F.lstm_mode(self.forget_gate, self.coupled, self.peephole)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        for name, default in (("forget_gate", True), ("coupled", False), ("peephole", False)):
            if getattr(self, name) != default:
                s = s.replace(", dtype=", f", {name}={getattr(self, name)}, dtype=")
        return s

    def _split_hx(self, hx):
        if hx is None:
            return None, None
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("hx: expected None or a pair (h0, c0) for LSTM")
        return hx[0], hx[1]

    def _pack(self, h, c):
        return (h, c)


class GRU(RNNBase):
    """GRU, as `torch.nn.GRU`: gates r, z, n with ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``.

    Extra arguments: ``dtype``, ``seed``, ``recurrent_init``, ``cast``; see `RNN`.

    ``gates`` selects the gate variants of Dey & Salem 2017 ("Gate-variants of
    gated recurrent unit neural networks"); the candidate ``n`` and
    ``h_t = (1 - z)*n + z*h_{t-1}`` keep torch's form, and the gates drop terms:

    - ``"full"`` (default): torch's GRU, ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, z likewise;
    - ``"gru1"``: ``r = sigmoid(W_hr h + b_hr)``, ``z = sigmoid(W_hz h + b_hz)`` (no input);
    - ``"gru2"``: ``r = sigmoid(W_hr h)``, ``z = sigmoid(W_hz h)`` (no input, no bias);
    - ``"gru3"``: ``r = sigmoid(b_hr)``, ``z = sigmoid(b_hz)`` (bias only).

    Only the rows that exist are stored (and computed): for all three
    ``weight_ih_l{k}`` is ``(H, I)`` and ``bias_ih_l{k}`` ``(H,)`` (the n rows);
    ``weight_hh_l{k}`` is ``(3H, H)`` (r, z, n) for gru1/gru2 and ``(H, H)``
    (n) for gru3; ``bias_hh_l{k}`` is ``(3H,)`` (b_hr, b_hz, b_hn) for
    gru1/gru3 and ``(H,)`` (b_hn) for gru2. Stacking, bidirectional,
    ``lengths``, dropout and both dtypes work as for the GRU; ``rnnrs.rtrl``
    (exact, SnAp-1, UORO) runs a variant as the GRU with the missing rows at
    zero and returns gradients of the variant's own parameters.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 dtype=np.float32, seed: int | None = None, recurrent_init: str = "uniform",
                 cast: bool = False, input_dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 gates: str = "full"):
        F.gru_mode(gates)  # checks the name
        self.gates = gates
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, dtype=dtype, seed=seed, recurrent_init=recurrent_init, cast=cast,
                         input_dropout=input_dropout, recurrent_dropout=recurrent_dropout)

    @property
    def _cell_mode(self) -> str:
        return F.gru_mode(self.gates)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.gates != "full":
            s = s.replace(", dtype=", f", gates={self.gates!r}, dtype=")
        return s


class MGU(RNNBase):
    """Minimal gated unit (Zhou et al. 2016, "Minimal gated unit for recurrent
    neural networks"): one forget gate ``f`` and a candidate ``n``, gates f, n::

        f   = sigmoid(W_if x + b_if + W_hf h + b_hf)
        n   = tanh(W_in x + b_in + f * (W_hn h + b_hn))
        h_t = (1 - f) * h_{t-1} + f * n

    The forget gate multiplies the recurrent product, as PyTorch's GRU does
    with its reset gate (one recurrent product per step); the paper writes
    ``n = tanh(W x + U (f * h) + b)``. Parameters in the GRU's layout with two
    gate blocks: ``weight_ih_l{k}`` ``(2H, I)``, ``weight_hh_l{k}`` ``(2H, H)``,
    ``bias_ih_l{k}``/``bias_hh_l{k}`` ``(2H,)`` (f rows, then n rows).
    Arguments and behaviour (stacking, bidirectional, ``lengths``, dropout,
    dtypes, `step`, `tbptt`) as `GRU`; exact RTRL / SnAp-1 through
    ``rnnrs.rtrl`` (mode "MGU").
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 dtype=np.float32, seed: int | None = None, recurrent_init: str = "uniform",
                 cast: bool = False, input_dropout: float = 0.0, recurrent_dropout: float = 0.0):
        super().__init__("MGU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, dtype=dtype, seed=seed, recurrent_init=recurrent_init, cast=cast,
                         input_dropout=input_dropout, recurrent_dropout=recurrent_dropout)
