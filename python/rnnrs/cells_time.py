"""Recurrent layers with structure in time: the clockwork RNN (Koutník et al. 2014).

They follow the protocol of `rnnrs.RNN`: ``layer(x)`` is inference; ``layer.forward(x, hx, train=True)``
keeps what ``layer.backward(dy, dh_n)`` needs; ``backward`` returns ``(dx, dh0)`` and ADDS the
parameter gradients into ``layer.grads``; ``params`` / ``state_dict()`` / ``load_state_dict()`` use
torch-style names. Input is ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``) or unbatched ``(T, I)``;
the layer's dtype (float32 default, or float64) must match the input's. Forward and BPTT run in the
Rust core with the GIL released; results do not depend on the thread count.

Example::

    import numpy as np, rnnrs as rr
    cw = rr.ClockworkRNN(16, 64, n_modules=4, seed=0)           # periods 1, 2, 4, 8
    x = np.random.default_rng(0).standard_normal((50, 8, 16)).astype(np.float32)
    y, h_n = cw.forward(x, train=True)                           # y: (50, 8, 64)
    dx, dh0 = cw.backward(np.ones_like(y))                       # cw.grads filled
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rnnrs import _core
from rnnrs.functional import check_lengths, step_by_call
from rnnrs.modules import _float_dtype, _Module

__all__ = ["ClockworkRNN", "DeepTransitionRNN", "Dilated", "DilatedRNN"]


def _int(name: str, v, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
    if v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
    return int(v)


def _ints(name: str, v, lo: int = 1) -> list[int]:
    if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)):
        raise TypeError(f"{name}: expected a sequence of ints, got {type(v).__name__}")
    return [_int(f"{name}[{k}]", e, lo) for k, e in enumerate(v)]


class _TimeLayer(_Module):
    """Shared input handling: layout (batch_first, unbatched), dtype, parameter attributes."""

    input_size: int
    hidden_size: int
    batch_first: bool

    def __getattr__(self, name):
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def named_parameters(self):
        """``(name, array)`` pairs in torch's order."""
        return iter(self.params.items())

    def parameters(self) -> list:
        """The parameter arrays in torch's order."""
        return list(self.params.values())

    def _time_major(self, x, what: str = "input", features: int | None = None):
        """``(x (T, B, F), unbatched)`` as a contiguous time-major array of the layer's dtype; F must be
        ``features`` (default ``input_size``)."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{what}: expected a numpy.ndarray, got {type(x).__name__}")
        if x.dtype != self.dtype:
            raise TypeError(f"{what}: expected dtype {self.dtype} like the layer, got {x.dtype} (cast it first)")
        if x.ndim == 2:
            x, unbatched = x[:, None, :], True
        elif x.ndim == 3:
            x, unbatched = (x.transpose(1, 0, 2) if self.batch_first else x), False
        else:
            raise ValueError(f"{what}: expected (T, B, F) or unbatched (T, F), got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{what}: the sequence is empty (T = 0)")
        want = self.input_size if features is None else features
        if x.shape[2] != want:
            raise ValueError(f"{what}: expected {want} features in the last axis, got shape {x.shape}")
        return np.ascontiguousarray(x), unbatched

    def _lengths(self, lengths, xt, unbatched: bool):
        """``lengths`` checked against the time-major input (a list, or None)."""
        if lengths is None:
            return None
        if unbatched:
            raise ValueError("lengths: only for batched input (T, B, I) or (B, T, I); an unbatched sequence is "
                             "simply cut to its length")
        return check_lengths(lengths, xt.shape[0], xt.shape[1]).tolist()

    def __call__(self, x, hx=None, lengths=None):
        """Inference: ``(y, h_n)``; keeps nothing."""
        return self.forward(x, hx, train=False, lengths=lengths)

    def forward(self, x, hx=None, train: bool = True, lengths=None):
        """``(y (T, B, H), h_n (1, B, H))`` from ``hx`` (``(1, B, H)``, zeros when None).

        ``lengths``: None, or the valid steps of each sequence (integers ``(B,)`` in ``1..T``, any order),
        with PyTorch's packed-sequence semantics: ``y`` is zero past each length, ``h_n`` is each sequence's
        state after its own last step, `backward` ignores ``dy`` at padded steps, and only the running
        sequences are computed.
        """
        xt, unbatched = self._time_major(x)
        h0 = self._state(hx, "hx", xt.shape[1], unbatched, self.hidden_size)
        y, h_n, ctx = self._core_forward(xt, list(self.params.values()), h0,
                                         lengths=self._lengths(lengths, xt, unbatched), train=bool(train),
                                         **self._options())
        if train:
            self._ctx = (ctx, unbatched)
        return self._user_layout(y, unbatched), (h_n[:, 0] if unbatched else h_n)

    def backward(self, dy, dh_n=None, input_grad: bool = True):
        """BPTT through the last ``forward(train=True)``: ``(dx or None, dh0)``; adds into ``grads``."""
        if self._ctx is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        ctx, unbatched = self._ctx
        dyt, dy_unbatched = self._time_major(dy, "dy", self.hidden_size)
        if dy_unbatched != unbatched:
            raise ValueError(f"dy: expected the layout of the forward input, got shape {dy.shape}")
        dh = self._state(dh_n, "dh_n", dyt.shape[1], unbatched, self.hidden_size)
        dx, dh0 = self._core_backward(ctx, list(self.params.values()), dyt, dh, grads=list(self.grads.values()),
                                      input_grad=bool(input_grad))
        dx = None if dx is None else self._user_layout(dx, unbatched)
        return dx, (dh0[:, 0] if unbatched else dh0)

    def _user_layout(self, y, unbatched: bool):
        if unbatched:
            return y[:, 0]
        return np.ascontiguousarray(y.transpose(1, 0, 2)) if self.batch_first else y

    def _state(self, s, name: str, batch: int, unbatched: bool, size: int):
        """A state ``(1, B, size)`` (``(1, size)`` unbatched) as ``(1, B, size)``, or None."""
        if s is None:
            return None
        if not isinstance(s, np.ndarray):
            raise TypeError(f"{name}: expected a numpy.ndarray, got {type(s).__name__}")
        if s.dtype != self.dtype:
            raise TypeError(f"{name}: expected dtype {self.dtype} like the layer, got {s.dtype}")
        want = (1, size) if unbatched else (1, batch, size)
        if s.shape != want:
            raise ValueError(f"{name}: expected shape {want}, got {s.shape}")
        return np.ascontiguousarray(s.reshape(1, batch, size))


class ClockworkRNN(_TimeLayer):
    """Clockwork RNN (Koutník et al. 2014): modules updating at different rates.

    The hidden state is split into modules of ``module_sizes`` units with non-decreasing ``periods``
    (default 1, 2, 4, ...). At step ``t`` (counted from 0 in each call) module ``i`` updates when
    ``t % periods[i] == 0``::

        h_t[i] = tanh(W_ih[i] x_t + b_ih[i] + b_hh[i] + W_hh[i, j] h_{t-1}[j] summed over periods[j] >= periods[i])

    and otherwise keeps ``h_t[i] = h_{t-1}[i]``. A module reads only the modules of equal or slower
    period, so ``weight_hh`` is block upper triangular; its other entries are initialised to 0, never
    read and get a zero gradient. The skipped work is skipped: the input projection of a module runs
    only at its active steps, and a module's recurrent products are computed once per update of the
    module, not at every step that reads it (the cost falls with the periods; benches/bench_cells_time.py
    compares it with the Elman RNN of the same size).

    Args:
        input_size: features of ``x``.
        hidden_size: total units H (split evenly over ``n_modules``), or a sequence of module sizes.
        n_modules: number of modules (default ``len(periods)``, or the number of module sizes).
        periods: one period per module, non-decreasing, each >= 1 (default ``2**i``).
        bias: with ``bias_ih_l0`` and ``bias_hh_l0`` (torch's two bias vectors).
        batch_first: input and output ``(B, T, F)``.
        dtype: float32 (default) or float64. seed: for the initialisation (uniform in
            ±1/sqrt(H), torch's default).

    Parameters: ``weight_ih_l0 (H, I)``, ``weight_hh_l0 (H, H)``, ``bias_ih_l0 (H,)``, ``bias_hh_l0 (H,)``.
    The period clock restarts at 0 in every call (a stream cut into calls should use a chunk length
    that is a multiple of the slowest period).

    ``forward(x, hx, train, lengths)`` takes ``lengths`` (valid steps per sequence, PyTorch's packed
    semantics: zero outputs past each length, each sequence's own final state, no gradient from padded
    steps). Every sequence is counted from its own step 0: module ``i`` updates at the steps ``t`` of a
    sequence with ``t % periods[i] == 0``, the same steps with or without padding after it.
    """

    recurrent = True  # `Sequential` passes it a state (see `rnnrs.model.is_recurrent`)
    takes_lengths = True

    def __init__(self, input_size: int, hidden_size, n_modules: int | None = None, periods=None, *,
                 bias: bool = True, batch_first: bool = False, dtype=np.float32, seed: int | None = None):
        self.input_size = _int("input_size", input_size)
        if isinstance(hidden_size, (int, np.integer)) and not isinstance(hidden_size, bool):
            h = _int("hidden_size", hidden_size)
            if n_modules is None:
                n_modules = len(periods) if periods is not None else None
            if n_modules is None:
                raise ValueError("n_modules: give n_modules, periods or a sequence of module sizes as hidden_size")
            n = _int("n_modules", n_modules)
            if h % n:
                raise ValueError(f"hidden_size: {h} units do not split evenly into {n} modules "
                                 "(give a sequence of module sizes instead)")
            sizes = [h // n] * n
        else:
            sizes = _ints("hidden_size", hidden_size)
            if not sizes:
                raise ValueError("hidden_size: expected at least one module")
            if n_modules is not None and _int("n_modules", n_modules) != len(sizes):
                raise ValueError(f"n_modules: {n_modules} does not match the {len(sizes)} module sizes")
        periods = [2**k for k in range(len(sizes))] if periods is None else _ints("periods", periods)
        if len(periods) != len(sizes):
            raise ValueError(f"periods: expected one period per module ({len(sizes)}), got {len(periods)}")
        if any(b < a for a, b in zip(periods, periods[1:])):
            raise ValueError(f"periods: expected non-decreasing periods (fastest module first), got {periods}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias: expected a bool, got {type(bias).__name__}")
        self.module_sizes, self.periods = sizes, periods
        self.hidden_size = sum(sizes)
        self.bias, self.batch_first = bias, bool(batch_first)
        self.dtype = _float_dtype(dtype)
        self._ctx = None
        self.reset_parameters(seed)

    @property
    def n_modules(self) -> int:
        return len(self.module_sizes)

    def mask(self) -> np.ndarray:
        """``(H, H)`` bool: the entries of ``weight_hh_l0`` that are read (block upper triangular)."""
        unit_period = np.repeat(np.asarray(self.periods), self.module_sizes)
        return unit_period[None, :] >= unit_period[:, None]

    def reset_parameters(self, seed: int | None = None) -> None:
        """Uniform in ±1/sqrt(H) (drawn in float64 and cast); unread ``weight_hh`` entries 0."""
        rng = np.random.default_rng(seed)
        h, k = self.hidden_size, 1.0 / math.sqrt(self.hidden_size)
        shapes = {"weight_ih_l0": (h, self.input_size), "weight_hh_l0": (h, h)}
        if self.bias:
            shapes.update(bias_ih_l0=(h,), bias_hh_l0=(h,))
        self.params = {n: rng.uniform(-k, k, s) for n, s in shapes.items()}
        self.params["weight_hh_l0"] *= self.mask()
        self.params = {n: np.ascontiguousarray(v, dtype=self.dtype) for n, v in self.params.items()}
        self.grads = {n: np.zeros_like(v) for n, v in self.params.items()}
        self._ctx = None

    def __repr__(self) -> str:
        return (f"ClockworkRNN({self.input_size}, {self.module_sizes}, periods={self.periods}, bias={self.bias}, "
                f"batch_first={self.batch_first}, dtype={self.dtype})")

    _core_forward = staticmethod(_core.clockwork_forward)
    _core_backward = staticmethod(_core.clockwork_backward)

    def _options(self) -> dict:
        return {"module_sizes": self.module_sizes, "periods": self.periods, "bias": self.bias}


def _state_parts(state):
    """A layer state as a list of arrays (``(h, c)`` for the LSTMs, ``[h]`` otherwise)."""
    return list(state) if isinstance(state, tuple) else [state]


class Dilated:
    """A recurrent layer of rnnrs (`RNN`, `LSTM`, `GRU` and their options) run with dilation ``d``
    (Chang et al. 2017): ``h_t`` depends on ``h_{t-d}`` instead of ``h_{t-1}``.

    A dilation-d layer is the plain layer over the ``d`` interleaved sub-sequences ``x_j, x_{j+d}, ...``,
    so it runs as one call of the layer on the input reshaped ``(T, B, I) -> (ceil(T/d), d*B, I)``
    (zero padded at the end; the padding and the user's ``lengths`` become the sub-sequences' lengths,
    so no padded step is computed and none reaches a gradient). Backward goes through the same call.

    States have the wrapped layer's shapes (``(D, B, H)``, or ``(h, c)`` for the LSTMs). The initial
    state starts every sub-sequence; the returned final state of sequence ``b`` is that of the
    sub-sequence holding its last step ``lengths[b] - 1`` (a reverse direction: the one holding step 0).
    Parameters, gradients and the state dict are the wrapped layer's (same arrays).
    """

    recurrent = True  # `Sequential` passes it a state (see `rnnrs.model.is_recurrent`)
    takes_lengths = True

    def __init__(self, layer, dilation: int):
        from rnnrs.nn import RNNBase

        if not isinstance(layer, RNNBase):
            raise TypeError(f"layer: expected an rnnrs recurrent layer (RNN, LSTM, GRU), got {type(layer).__name__}")
        if getattr(layer, "num_layers", 1) != 1:
            raise ValueError("layer: expected a one-layer recurrent layer (stack dilated layers with DilatedRNN)")
        self.layer = layer
        self.dilation = _int("dilation", dilation)
        self._run = None

    @property
    def params(self):
        return self.layer.params

    @property
    def grads(self):
        return self.layer.grads

    def zero_grad(self) -> None:
        self.layer.zero_grad()

    def __repr__(self) -> str:
        return f"Dilated({self.layer!r}, dilation={self.dilation})"

    def __call__(self, x, hx=None, lengths=None):
        """Inference: ``(y, state)``; keeps nothing."""
        return self.forward(x, hx, train=False, lengths=lengths)

    def _time_major(self, a, what):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{what}: expected a numpy.ndarray, got {type(a).__name__}")
        if a.ndim != 3:
            raise ValueError(f"{what}: expected a batch (T, B, F) or (B, T, F) with batch_first, got shape {a.shape}")
        return a.transpose(1, 0, 2) if self.layer.batch_first else a

    def _layer_layout(self, a):
        return np.ascontiguousarray(a.transpose(1, 0, 2) if self.layer.batch_first else a)

    def _phase_of_last(self, lengths, rows: int, batch: int):
        """``(rows, B)`` phase holding each sequence's final state (forward rows: last step's; reverse: 0)."""
        last = (lengths - 1) % self.dilation
        bidir = getattr(self.layer, "bidirectional", False)
        return np.stack([np.zeros_like(last) if bidir and r % 2 else last for r in range(rows)])

    def forward(self, x, hx=None, train: bool = True, lengths=None):
        """``(y, state)`` over ``x`` (the wrapped layer's layout); see the class docstring."""
        xt = self._time_major(x, "input")
        T, B, d = xt.shape[0], xt.shape[1], self.dilation
        if T == 0:
            raise ValueError("input: the sequence is empty (T = 0)")
        from rnnrs.functional import check_lengths

        full = np.full(B, T, np.int64)
        lens = full if lengths is None else check_lengths(lengths, T, B)
        S = -(-T // d)
        sub = np.maximum(0, -(-(lens[None, :] - np.arange(d)[:, None]) // d)).reshape(d * B)  # (d, B) -> d*B
        xp = np.zeros((S * d,) + xt.shape[1:], xt.dtype)
        xp[:T] = xt
        xs = self._layer_layout(xp.reshape(S, d * B, xt.shape[2]))
        big = None
        if hx is not None:
            big = [np.ascontiguousarray(np.tile(np.asarray(s), (1, d, 1))) if np.ndim(s) == 3 else s
                   for s in _state_parts(hx)]
            big = tuple(big) if isinstance(hx, tuple) else big[0]
        sub_lengths = None if np.all(sub == S) else sub
        y, state = self.layer.forward(xs, big, train=train, lengths=sub_lengths, _allow_empty=True)
        yt = y.transpose(1, 0, 2) if self.layer.batch_first else y
        yt = yt.reshape(S * d, B, yt.shape[2])[:T]
        parts = _state_parts(state)
        rows = parts[0].shape[0]
        phase = self._phase_of_last(lens, rows, B)
        pick = [p.reshape(rows, d, B, p.shape[2])[np.arange(rows)[:, None], phase, np.arange(B)[None, :]]
                for p in parts]
        if train:
            self._run = (T, B, S, phase, [p.shape for p in parts], isinstance(state, tuple))
        out = self._layer_layout(yt)
        return out, (tuple(pick) if isinstance(state, tuple) else pick[0])

    def backward(self, dy, dhx=None, input_grad: bool = True):
        """BPTT through the last ``forward(train=True)``: ``(dx or None, dstate)``; adds into ``grads``."""
        if self._run is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        (T, B, S, phase, shapes, is_tuple), self._run = self._run, None
        d = self.dilation
        dyt = self._time_major(dy, "dy")
        if dyt.shape[:2] != (T, B):
            raise ValueError(f"dy: expected the time and batch sizes of the output ({T}, {B}), got shape {dy.shape}")
        dyp = np.zeros((S * d,) + dyt.shape[1:], dyt.dtype)
        dyp[:T] = dyt
        dys = self._layer_layout(dyp.reshape(S, d * B, dyt.shape[2]))
        big = None
        if dhx is not None:
            big = []
            for k, (g, shape) in enumerate(zip(_state_parts(dhx), shapes)):
                rows, feat = shape[0], shape[2]
                g = np.asarray(g)
                if g.shape != (rows, B, feat):
                    raise ValueError(f"dhx: expected part {k} of shape {(rows, B, feat)}, got {g.shape}")
                z = np.zeros((rows, d, B, feat), g.dtype)
                z[np.arange(rows)[:, None], phase, np.arange(B)[None, :]] = g
                big.append(z.reshape(rows, d * B, feat))
            big = tuple(big) if is_tuple else big[0]
        dx, dstate = self.layer.backward(dys, big, input_grad=input_grad)
        if dx is not None:
            dxt = dx.transpose(1, 0, 2) if self.layer.batch_first else dx
            dx = self._layer_layout(dxt.reshape(S * d, B, dxt.shape[2])[:T])
        sums = [p.reshape(p.shape[0], d, B, p.shape[2]).sum(1) for p in _state_parts(dstate)]
        return dx, (tuple(sums) if is_tuple else sums[0])


def _cell_class(cell):
    from rnnrs import nn

    classes = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
    if isinstance(cell, str):
        if cell.upper() not in classes:
            raise ValueError(f"cell: expected one of {sorted(classes)} or a layer class, got {cell!r}")
        return classes[cell.upper()]
    if isinstance(cell, type) and issubclass(cell, nn.RNNBase):
        return cell
    raise TypeError(f"cell: expected a name ('RNN', 'LSTM', 'GRU') or an rnnrs layer class, got {cell!r}")


class DilatedRNN(_Module):
    """Dilated RNN (Chang et al. 2017): a stack of recurrent layers, layer ``k`` with dilation
    ``dilations[k]`` (its ``h_t`` depends on ``h_{t - dilations[k]}``; see `Dilated`).

    Args:
        cell: "RNN", "LSTM", "GRU" or an rnnrs layer class (e.g. a subclass of `rnnrs.nn.RNNBase`).
        input_size, hidden_size: as for the cell; layer k > 0 reads the outputs of layer k - 1.
        dilations: one positive int per layer (default [1, 2, 4, 8]).
        bidirectional, batch_first, dtype, seed: as for the cell (layer k is seeded ``seed + k``).
        **cell_options: passed to every layer (e.g. ``nonlinearity="relu"``, ``forget_bias=1.0``).

    Parameters carry torch's stacked names (``weight_ih_l{k}``, ``weight_hh_l{k}``, ...): with all
    dilations 1 the network is the cell's ``num_layers=len(dilations)`` layer and their state dicts
    are interchangeable. States stack the layers' like torch: ``(L*D, B, H)`` (``(h, c)`` for LSTM).
    ``forward(x, hx, train, lengths)`` takes the cells' variable-length ``lengths``.
    """

    recurrent = True  # `Sequential` passes it a state (see `rnnrs.model.is_recurrent`)
    takes_lengths = True

    def __init__(self, cell="LSTM", input_size: int = 1, hidden_size: int = 1, dilations=(1, 2, 4, 8), *,
                 bidirectional: bool = False, batch_first: bool = False, dtype=np.float32,
                 seed: int | None = None, **cell_options):
        cls = _cell_class(cell)
        self.dilations = _ints("dilations", dilations)
        if not self.dilations:
            raise ValueError("dilations: expected at least one layer")
        self.input_size = _int("input_size", input_size)
        self.hidden_size = _int("hidden_size", hidden_size)
        self.batch_first = bool(batch_first)
        self.dtype = _float_dtype(dtype)
        self.layers = []
        width = self.input_size
        for k, d in enumerate(self.dilations):
            layer = cls(width, self.hidden_size, bidirectional=bidirectional, batch_first=False, dtype=self.dtype,
                        seed=None if seed is None else int(seed) + k, **cell_options)
            self.layers.append(Dilated(layer, d))
            width = self.hidden_size * (2 if bidirectional else 1)
            if getattr(layer, "proj_size", 0):
                width = layer.proj_size * (2 if bidirectional else 1)
        self.params = {}
        self.grads = {}
        for k, lay in enumerate(self.layers):
            for name in lay.params:
                new = name.replace("_l0", f"_l{k}", 1)
                self.params[new] = lay.params[name]
                self.grads[new] = lay.grads[name]
        self._trained = False

    def __repr__(self) -> str:
        return (f"DilatedRNN({type(self.layers[0].layer).__name__}, {self.input_size}, {self.hidden_size}, "
                f"dilations={self.dilations}, dtype={self.dtype})")

    def __call__(self, x, hx=None, lengths=None):
        """Inference: ``(y, state)``; keeps nothing."""
        return self.forward(x, hx, train=False, lengths=lengths)

    def _split(self, hx, name):
        """The stacked state as one state per layer (None: zeros)."""
        if hx is None:
            return [None] * len(self.layers)
        parts = _state_parts(hx)
        rows = len(self.layers) * (2 if getattr(self.layers[0].layer, "bidirectional", False) else 1)
        per = rows // len(self.layers)
        out = []
        for p in parts:
            if not isinstance(p, np.ndarray) or p.ndim != 3 or p.shape[0] != rows:
                got = getattr(p, "shape", type(p).__name__)
                raise ValueError(f"{name}: expected states of shape ({rows}, B, H) (layers x directions), got {got}")
        for k in range(len(self.layers)):
            s = [np.ascontiguousarray(p[k * per:(k + 1) * per]) for p in parts]
            out.append(tuple(s) if isinstance(hx, tuple) else s[0])
        return out

    @staticmethod
    def _stack(states):
        if isinstance(states[0], tuple):
            return tuple(np.concatenate(p) for p in zip(*states))
        return np.concatenate(states)

    def forward(self, x, hx=None, train: bool = True, lengths=None):
        """``(y, state)``: ``y`` the last layer's outputs, ``state`` the layers' final states stacked."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"input: expected a numpy.ndarray, got {type(x).__name__}")
        if x.ndim != 3:
            raise ValueError(f"input: expected (T, B, I) (or (B, T, I) with batch_first), got shape {x.shape}")
        h = np.ascontiguousarray(x.transpose(1, 0, 2) if self.batch_first else x)
        states = []
        for lay, s in zip(self.layers, self._split(hx, "hx")):
            h, st = lay.forward(h, s, train=train, lengths=lengths)
            states.append(st)
        self._trained = bool(train)
        y = np.ascontiguousarray(h.transpose(1, 0, 2)) if self.batch_first else h
        return y, self._stack(states)

    def backward(self, dy, dhx=None, input_grad: bool = True):
        """BPTT through the last ``forward(train=True)``: ``(dx or None, dstate)``; adds into ``grads``."""
        if not self._trained:
            raise RuntimeError("backward: call forward(x, train=True) first")
        if not isinstance(dy, np.ndarray) or dy.ndim != 3:
            raise ValueError(f"dy: expected an array shaped like the output, got {getattr(dy, 'shape', dy)}")
        g = np.ascontiguousarray(dy.transpose(1, 0, 2) if self.batch_first else dy)
        dstates = [None] * len(self.layers)
        for k in reversed(range(len(self.layers))):
            need_dx = input_grad or k > 0
            g, dstates[k] = self.layers[k].backward(g, self._split(dhx, "dhx")[k], input_grad=need_dx)
        self._trained = False
        dx = None if g is None else (np.ascontiguousarray(g.transpose(1, 0, 2)) if self.batch_first else g)
        return dx, self._stack(dstates)


class DeepTransitionRNN(_TimeLayer):
    """Deep-transition and deep-output RNN (Pascanu et al. 2014: DT-RNN, DT(S)-RNN, DOT-RNN).

    The transition from ``h_{t-1}`` to ``h_t`` is an MLP of ``transition_depth`` tanh layers; the layer's
    output is an MLP of ``output_depth`` tanh layers on ``h_t``::

        z_1 = tanh(W_ih x_t + b_ih + b_hh + W_hh h_{t-1})
        z_l = tanh(W_tr{l} z_{l-1} + b_tr{l})          l = 2..transition_depth
              (+ W_sh h_{t-1} inside the last layer's tanh with shortcut=True: DT(S)-RNN)
        h_t = z_{transition_depth}
        o_0 = h_t,  o_k = tanh(W_out{k} o_{k-1} + b_out{k}),  y_t = o_{output_depth}

    ``transition_depth=1, output_depth=0`` is the Elman RNN (`rnnrs.RNN`, same parameter names). Every
    layer is H wide. Parameters: ``weight_ih_l0 (H, I)``, ``weight_hh_l0 (H, H)``, ``bias_ih_l0``,
    ``bias_hh_l0``, ``weight_tr{l}_l0 (H, H)`` and ``bias_tr{l}_l0`` for l = 2..transition_depth,
    ``weight_sh_l0 (H, H)`` with the shortcut, ``weight_out{k}_l0 (H, H)`` and ``bias_out{k}_l0`` for
    k = 1..output_depth (no biases with ``bias=False``). Init uniform in ±1/sqrt(H) (torch's default).

    ``forward`` returns ``(y, h_n)``: ``y (T, B, H)`` the output MLP's last layer, ``h_n (1, B, H)`` the
    final hidden state (the input of the next chunk). Forward and BPTT run in Rust: the input
    projection of all steps and every output layer and weight gradient as one GEMM; a step does the
    transition layers' products.

    ``forward(x, hx, train, lengths)`` takes ``lengths`` (valid steps per sequence, PyTorch's packed
    semantics: zero outputs past each length, ``h_n`` each sequence's state after its own last step, no
    gradient from padded steps; only the running sequences are computed).
    """

    recurrent = True  # `Sequential` passes it a state (see `rnnrs.model.is_recurrent`)
    takes_lengths = True


    def step(self, x_t, hx=None):
        """One time step for streaming use: ``(y_t, state)``, the same as the
        call on ``x_t`` with a time axis of 1, which is then dropped (the
        state ``h_t`` is all a step needs)."""
        return step_by_call(self, x_t, hx)
    def __init__(self, input_size: int, hidden_size: int, transition_depth: int = 2, output_depth: int = 0, *,
                 shortcut: bool = False, bias: bool = True, batch_first: bool = False, dtype=np.float32,
                 seed: int | None = None):
        self.input_size = _int("input_size", input_size)
        self.hidden_size = _int("hidden_size", hidden_size)
        self.transition_depth = _int("transition_depth", transition_depth)
        self.output_depth = _int("output_depth", output_depth, lo=0)
        for name, v in (("shortcut", shortcut), ("bias", bias), ("batch_first", batch_first)):
            if not isinstance(v, bool):
                raise TypeError(f"{name}: expected a bool, got {type(v).__name__}")
        if shortcut and self.transition_depth < 2:
            raise ValueError("shortcut: needs transition_depth >= 2 (with one layer it is weight_hh itself)")
        self.shortcut, self.bias, self.batch_first = shortcut, bias, batch_first
        self.dtype = _float_dtype(dtype)
        self._ctx = None
        self.reset_parameters(seed)

    def _shapes(self) -> dict:
        h = self.hidden_size
        shapes = {"weight_ih_l0": (h, self.input_size), "weight_hh_l0": (h, h)}
        if self.bias:
            shapes.update(bias_ih_l0=(h,), bias_hh_l0=(h,))
        for layer in range(2, self.transition_depth + 1):
            shapes[f"weight_tr{layer}_l0"] = (h, h)
            if self.bias:
                shapes[f"bias_tr{layer}_l0"] = (h,)
        if self.shortcut:
            shapes["weight_sh_l0"] = (h, h)
        for k in range(1, self.output_depth + 1):
            shapes[f"weight_out{k}_l0"] = (h, h)
            if self.bias:
                shapes[f"bias_out{k}_l0"] = (h,)
        return shapes

    def reset_parameters(self, seed: int | None = None) -> None:
        """Uniform in ±1/sqrt(H), drawn in float64 from ``default_rng(seed)`` and cast."""
        rng = np.random.default_rng(seed)
        k = 1.0 / math.sqrt(self.hidden_size)
        self.params = {n: np.ascontiguousarray(rng.uniform(-k, k, s), dtype=self.dtype)
                       for n, s in self._shapes().items()}
        self.grads = {n: np.zeros_like(v) for n, v in self.params.items()}
        self._ctx = None

    def __repr__(self) -> str:
        return (f"DeepTransitionRNN({self.input_size}, {self.hidden_size}, transition_depth={self.transition_depth}, "
                f"output_depth={self.output_depth}, shortcut={self.shortcut}, bias={self.bias}, dtype={self.dtype})")

    _core_forward = staticmethod(_core.deep_transition_forward)
    _core_backward = staticmethod(_core.deep_transition_backward)

    def _options(self) -> dict:
        return {"hidden_size": self.hidden_size, "transition_depth": self.transition_depth,
                "output_depth": self.output_depth, "shortcut": self.shortcut, "bias": self.bias}
