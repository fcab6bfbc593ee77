"""Stateless recurrent layers: `rnn`, `lstm`, `gru` and their backward functions.

The classes in `rnnrs.nn` are thin wrappers around these. Each forward takes
an input, a dict of parameters with PyTorch's names (`weight_ih_l0`,
`weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `weight_hr_l0`, `..._reverse`)
and an optional initial state, and returns the outputs exactly as PyTorch
does. Sizes and options (hidden size, number of layers, directions, bias,
projection) are read from the parameters.

With ``train=True`` the forward also returns a `Context`, which the matching
backward turns into the input gradient, the initial-state gradient and the
parameter gradients; those are ADDED into ``grads`` (a dict of arrays with the
parameters' names, created as zeros when not given)::

    y, h_n, ctx = rnnrs.functional.gru(x, params, train=True)
    dx, dh0, grads = rnnrs.functional.gru_backward(ctx, dy)

Shapes are PyTorch's: ``x`` is ``(T, B, I)`` (``(B, T, I)`` with
``batch_first=True``, ``(T, I)`` unbatched), states ``(D*L, B, h_out)``
(``(D*L, h_out)`` unbatched). Arrays must have the parameters' dtype
(float32 or float64); pass ``cast=True`` to convert other numeric dtypes.

Variable-length batches: ``lengths`` (integers ``(B,)``, each in ``1..T``,
any order) gives each sequence's number of valid steps, with PyTorch's
``pack_padded_sequence(enforce_sorted=False)`` + ``pad_packed_sequence``
semantics: outputs are zero past each length, ``h_n``/``c_n`` hold each
sequence's state after its own last step, the reverse direction starts at
step ``lengths[b] - 1``, and the backward ignores ``dy`` at padded steps
(their input gradient is zero). Only the running sequences are computed at
each step, so padding costs nothing.
"""

from __future__ import annotations

import numpy as np

from rnnrs import _core
from rnnrs._gates import GATES

__all__ = [
    "Context",
    "check_lengths",
    "gru",
    "gru_backward",
    "lstm",
    "lstm_backward",
    "lstm_mode",
    "gru_mode",
    "mgu",
    "mgu_backward",
    "param_names",
    "rnn",
    "rnn_backward",
]

# Modes whose parameters have fewer than gates*H rows: gate blocks of
# (weight_ih and bias_ih, weight_hh, bias_hh); see `gru_mode`.
_BLOCKS = {"GRU1": (1, 3, 3), "GRU2": (1, 3, 1), "GRU3": (1, 1, 3)}
_GRU_GATES = {"full": "GRU", "gru1": "GRU1", "gru2": "GRU2", "gru3": "GRU3"}
# The core modes with a cell state c: the LSTM and its variants without forget-gate rows.
_LSTM_MODES = ("LSTM", "LSTM_NOFORGET", "LSTM_CIFG")
# Parameters a cell owns besides the weights and biases (the core's `cell::OwnParam`):
# mode -> ((name, rows), ...); per layer and direction ``{name}_l{k}[_reverse]`` of
# shape (rows, H), or (H,) for one row, after the other parameters of that direction.
_OWN_PARAMS: dict = {}

_LSTM_MODES += ("LSTM_PEEPHOLE",)
_OWN_PARAMS["LSTM_PEEPHOLE"] = (("weight_ch", 3),)
_OWN_PARAMS["LEAKY"] = (("alpha_logit", 1),)
_LSTM_MODES += ("LAYERNORM_LSTM",)
_OWN_PARAMS["LAYERNORM_LSTM"] = (("layernorm_i_weight", 4), ("layernorm_i_bias", 4), ("layernorm_h_weight", 4),
                                 ("layernorm_h_bias", 4), ("layernorm_c_weight", 1), ("layernorm_c_bias", 1))
_OWN_PARAMS["LAYERNORM_GRU"] = (("layernorm_i_weight", 3), ("layernorm_i_bias", 3), ("layernorm_h_weight", 3),
                                ("layernorm_h_bias", 3))


def own_param_shape(rows: int, hidden_size: int) -> tuple:
    """Shape of a cell-owned parameter of ``rows`` rows: ``(rows, H)``, or ``(H,)`` for one row."""
    return (hidden_size,) if rows == 1 else (rows, hidden_size)


def lstm_mode(forget_gate: bool = True, coupled: bool = False, peephole: bool = False) -> str:
    """The core mode of an LSTM variant: "LSTM" (gates i, f, g, o), "LSTM_NOFORGET"
    (``forget_gate=False``: gates i, g, o, ``c = c_prev + i*g``), "LSTM_CIFG" (``coupled=True``:
    gates i, g, o, ``f = 1 - i``) or "LSTM_PEEPHOLE" (``peephole=True``: gates i, f, g, o with
    diagonal peepholes ``weight_ch`` (3, H))."""
    for name, v in (("forget_gate", forget_gate), ("coupled", coupled), ("peephole", peephole)):
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name}: expected a bool, got {v!r}")
    if coupled and not forget_gate:
        raise ValueError("coupled: a coupled forget gate (f = 1 - i) needs forget_gate=True")
    if peephole and (coupled or not forget_gate):
        raise ValueError("peephole: peepholes are for the full LSTM (forget_gate=True, coupled=False)")
    if peephole:
        return "LSTM_PEEPHOLE"
    return "LSTM_CIFG" if coupled else ("LSTM" if forget_gate else "LSTM_NOFORGET")


def gru_mode(gates: str = "full") -> str:
    """The core mode of a GRU gate variant (Dey & Salem 2017): "GRU" (``gates="full"``),
    "GRU1" (r, z from h and bias), "GRU2" (from h only), "GRU3" (from the bias only)."""
    if not isinstance(gates, str) or gates not in _GRU_GATES:
        raise ValueError(f"gates: expected one of {list(_GRU_GATES)}, got {gates!r}")
    return _GRU_GATES[gates]


def blocks(mode: str) -> tuple[int, int, int]:
    """Gate blocks of (weight_ih and bias_ih, weight_hh, bias_hh) of a core mode."""
    g = GATES[mode]
    return _BLOCKS.get(mode, (g, g, g))


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def param_names(mode: str, num_layers: int = 1, bidirectional: bool = False, bias: bool = True,
                proj_size: int = 0) -> list[str]:
    """PyTorch's parameter names, in PyTorch's order."""
    names = []
    for layer in range(num_layers):
        for suffix in ("", "_reverse")[: 2 if bidirectional else 1]:
            s = f"_l{layer}{suffix}"
            names += [f"weight_ih{s}", f"weight_hh{s}"]
            if bias:
                names += [f"bias_ih{s}", f"bias_hh{s}"]
            if proj_size > 0 and mode in _LSTM_MODES:
                names.append(f"weight_hr{s}")
            names += [f"{own}{s}" for own, _ in _OWN_PARAMS.get(mode, ())]
    return names


class Context:
    """What a training forward keeps for the backward (opaque to users).

    It holds the parameter arrays the forward used, so the backward sees the
    same weights even if the caller has since assigned new arrays.
    """

    __slots__ = (
        "_ctx",
        "lengths",
        "batch_first",
        "dtype",
        "h_out",
        "hidden_size",
        "input_size",
        "mode",
        "names",
        "params",
        "rows",
        "unbatched",
    )

    def __init__(self, ctx, mode, names, params, dtype, batch_first, unbatched, h_out, hidden_size, rows,
                 input_size):
        self._ctx = ctx
        self.mode = mode
        self.names = names
        self.params = params
        self.dtype = dtype
        self.batch_first = batch_first
        self.unbatched = unbatched
        self.h_out = h_out
        self.hidden_size = hidden_size
        self.rows = rows
        self.input_size = input_size
        self.lengths = None

    @property
    def seq_len(self) -> int:
        return self._ctx.seq_len

    @property
    def batch_size(self) -> int:
        return self._ctx.batch_size


def _array(a, dtype: np.dtype, arg: str, cast: bool) -> np.ndarray:
    """`a` as a C-contiguous array of `dtype`, or TypeError naming `arg`.
    Lists and tuples are converted as NumPy does (``np.asarray(a, dtype)``)."""
    if isinstance(a, (list, tuple)):
        try:
            return np.ascontiguousarray(np.asarray(a, dtype=dtype))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{arg}: expected numbers convertible to {dtype.name}, got a {type(a).__name__} "
                            f"that does not convert ({exc})") from exc
    arr = np.asarray(a)
    if arr.dtype != dtype:
        if not cast:
            raise TypeError(
                f"{arg}: expected dtype {dtype.name} (the parameters' dtype), got {arr.dtype.name}; "
                "convert it or pass cast=True"
            )
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr):
            raise TypeError(f"{arg}: cannot cast dtype {arr.dtype.name} to {dtype.name}")
        arr = arr.astype(dtype)
    return np.ascontiguousarray(arr)


class _Layout:
    """Sizes and options of a layer, read from its parameter dict."""

    def __init__(self, mode: str, params: dict, num_layers, bidirectional):
        if mode not in GATES:
            raise ValueError(f"mode: expected one of {sorted(GATES)}, got {mode!r}")
        if not isinstance(params, dict) and not hasattr(params, "keys"):
            raise TypeError("params: expected a dict of arrays with PyTorch's names")
        if "weight_hh_l0" not in params or "weight_ih_l0" not in params:
            raise ValueError("params: missing weight_ih_l0 / weight_hh_l0")
        layers = 0
        while f"weight_ih_l{layers}" in params:
            layers += 1
        bidir = "weight_ih_l0_reverse" in params
        if num_layers is not None and num_layers != layers:
            raise ValueError(f"num_layers: {num_layers} given but params hold {layers} layers")
        if bidirectional is not None and bool(bidirectional) != bidir:
            raise ValueError(f"bidirectional: {bidirectional} given but params say {bidir}")
        w_hh = np.asarray(params["weight_hh_l0"])
        w_ih = np.asarray(params["weight_ih_l0"])
        if w_hh.ndim != 2 or w_ih.ndim != 2:
            raise ValueError("params: weight_ih_l0 and weight_hh_l0 must be 2-dimensional")
        gates = blocks(mode)[1]
        if w_hh.shape[0] % gates or w_hh.shape[0] == 0:
            raise ValueError(f"weight_hh_l0: first dimension {w_hh.shape[0]} is not a positive multiple of {gates}")
        self.mode = mode
        self.num_layers = layers
        self.bidirectional = bidir
        self.hidden_size = w_hh.shape[0] // gates
        self.h_out = w_hh.shape[1]
        self.input_size = w_ih.shape[1]
        self.bias = "bias_ih_l0" in params
        self.proj_size = np.asarray(params["weight_hr_l0"]).shape[0] if "weight_hr_l0" in params else 0
        self.rows = layers * (2 if bidir else 1)
        self.names = param_names(mode, layers, bidir, self.bias, self.proj_size)
        unexpected = sorted(set(params) - set(self.names))
        missing = [n for n in self.names if n not in params]
        if missing or unexpected:
            raise ValueError(f"params: missing {missing}, unexpected {unexpected}")
        dtype = np.asarray(params["weight_ih_l0"]).dtype
        if dtype not in _FLOATS:
            raise TypeError(f"params: expected float32 or float64 arrays, got {dtype.name}")
        self.dtype = dtype


def _time_major(x: np.ndarray, batch_first: bool, arg: str, size: int, what: str) -> tuple[np.ndarray, bool]:
    """`x` as a C-contiguous `(T, B, F)` array, and whether it was unbatched."""
    if x.ndim == 2:
        return np.ascontiguousarray(x[:, None, :]), True
    if x.ndim != 3:
        raise ValueError(f"{arg}: expected a 2-d (T, {what}) or 3-d (T, B, {what}) array, got shape {x.shape}")
    if batch_first:
        x = x.transpose(1, 0, 2)
    if x.shape[2] != size:
        raise ValueError(f"{arg}: expected {size} features in the last dimension, got shape {x.shape}")
    return np.ascontiguousarray(x), False


def _state(s, dtype, arg: str, unbatched: bool, cast: bool):
    """A state `(rows, B, width)` (or `(rows, width)` unbatched) as a contiguous 3-d array.

    Its shape is checked once, by `_core.rnn_forward` (errors name `arg`)."""
    if s is None:
        return None
    s = _array(s, dtype, arg, cast)
    return s[:, None, :] if unbatched and s.ndim == 2 else s


def check_lengths(lengths, t: int, b: int, *, allow_empty: bool = False) -> np.ndarray | None:
    """``lengths`` as an int64 array ``(b,)`` with values in ``1..t`` (``0..t``
    with ``allow_empty``), or a ValueError/TypeError naming ``lengths``."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"lengths: expected an integer array of shape ({b},), got dtype {arr.dtype}")
    if arr.shape != (b,):
        raise ValueError(f"lengths: expected shape ({b},) (one length per sequence), got {arr.shape}")
    arr = arr.astype(np.int64)
    low = 0 if allow_empty else 1
    bad = (arr < low) | (arr > t)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"lengths: lengths[{i}] = {arr[i]} is outside {low}..{t} (the sequence length T)")
    return arr


def _forward(mode, x, params, h0, c0, num_layers, bidirectional, batch_first, train, cast, rec_mask=None,
             lengths=None, allow_empty=False):
    lay = _Layout(mode, params, num_layers, bidirectional)
    dtype = lay.dtype
    x = _array(x, dtype, "input", cast)
    if x.ndim == 2 and x.shape[1] != lay.input_size:
        raise ValueError(f"input: expected {lay.input_size} features in the last dimension, got shape {x.shape}")
    xt, unbatched = _time_major(x, batch_first, "input", lay.input_size, "input_size")
    if xt.shape[0] == 0:
        raise ValueError("input: the sequence is empty (T = 0)")
    batch = xt.shape[1]
    if lengths is not None and unbatched:
        raise ValueError("lengths: only for batched input (T, B, I) or (B, T, I); an unbatched sequence is "
                         "simply cut to its length")
    lengths = check_lengths(lengths, xt.shape[0], batch, allow_empty=allow_empty)
    h0 = _state(h0, dtype, "h0", unbatched, cast)
    c0 = _state(c0, dtype, "c0", unbatched, cast) if mode in _LSTM_MODES else None
    # Recurrent dropout mask (D*L, B, h_out), same layout as h0 (private: see nn.RNNBase).
    rec_mask = _state(rec_mask, dtype, "rec_mask", unbatched, cast)
    plist = [_array(params[n], dtype, n, cast) for n in lay.names]
    y, h_n, c_n, ctx = _core.rnn_forward(
        mode, xt, plist, h0, c0, hidden_size=lay.hidden_size, num_layers=lay.num_layers,
        bidirectional=lay.bidirectional, bias=lay.bias, proj_size=lay.proj_size, train=train,
        rec_mask=rec_mask, lengths=None if lengths is None else lengths.tolist(),
    )
    if unbatched:
        y, h_n = y[:, 0, :], h_n[:, 0, :]
        c_n = None if c_n is None else c_n[:, 0, :]
    elif batch_first:
        y = np.ascontiguousarray(y.transpose(1, 0, 2))
    context = None
    if train:
        context = Context(ctx, mode, lay.names, plist, dtype, batch_first, unbatched, lay.h_out,
                          lay.hidden_size, lay.rows, lay.input_size)
        context.lengths = lengths
    return y, h_n, c_n, context


def _grad_arrays(ctx: Context, grads: dict | None) -> tuple[dict, list]:
    """The dict to accumulate into (created when None) and its arrays in order."""
    if grads is None:
        grads = {n: np.zeros_like(p) for n, p in zip(ctx.names, ctx.params)}
    out = []
    for n, p in zip(ctx.names, ctx.params):
        if n not in grads:
            grads[n] = np.zeros_like(p)
        g = grads[n]
        if not isinstance(g, np.ndarray) or g.dtype != ctx.dtype or g.shape != p.shape:
            raise ValueError(f"grads[{n!r}]: expected a {ctx.dtype.name} array of shape {p.shape}")
        if not (g.flags.c_contiguous and g.flags.writeable):
            raise ValueError(f"grads[{n!r}]: expected a C-contiguous, writeable array")
        out.append(g)
    return grads, out


def _backward(ctx, dy, dh_n, dc_n, grads, cast, input_grad=True):
    if not isinstance(ctx, Context):
        raise TypeError("ctx: expected the Context of a forward(..., train=True)")
    t = ctx.seq_len
    dtype = ctx.dtype
    dy = _array(dy, dtype, "dy", cast)
    d_out = dy.shape[-1] if dy.ndim else 0
    if ctx.unbatched:
        if dy.ndim != 2 or dy.shape[0] != t:
            raise ValueError(f"dy: expected shape ({t}, {d_out}) like the output, got {dy.shape}")
        dyt = np.ascontiguousarray(dy[:, None, :])
    else:
        if dy.ndim != 3:
            raise ValueError(f"dy: expected a 3-d array like the output, got shape {dy.shape}")
        dyt = np.ascontiguousarray(dy.transpose(1, 0, 2)) if ctx.batch_first else dy
    dh_n = _state(dh_n, dtype, "dh_n", ctx.unbatched, cast)
    if ctx.mode in _LSTM_MODES:
        dc_n = _state(dc_n, dtype, "dc_n", ctx.unbatched, cast)
    else:
        dc_n = None
    grads, glist = _grad_arrays(ctx, grads)
    dx, dh0, dc0 = _core.rnn_backward(ctx._ctx, ctx.params, dyt, dh_n, dc_n, grads=glist,
                                      input_grad=bool(input_grad))
    if ctx.unbatched:
        dx = None if dx is None else dx[:, 0, :]
        dh0 = dh0[:, 0, :]
        dc0 = None if dc0 is None else dc0[:, 0, :]
    elif ctx.batch_first and dx is not None:
        dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
    return dx, dh0, dc0, grads


def rnn(x, params: dict, h0=None, *, nonlinearity: str = "tanh", num_layers: int | None = None,
        bidirectional: bool | None = None, batch_first: bool = False, train: bool = False,
        cast: bool = False, lengths=None, _rec_mask=None, _allow_empty=False):
    """Elman RNN forward (`torch.nn.RNN`). Returns ``(y, h_n, ctx)``; ``ctx`` is None unless ``train``.

    ``nonlinearity`` is ``"tanh"`` or ``"relu"``; ``num_layers``/``bidirectional``
    are read from ``params`` and, when given, checked against them.
    ``lengths``: optional valid steps per sequence (see the module docstring).
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
    y, h_n, _, ctx = _forward(mode, x, params, h0, None, num_layers, bidirectional, batch_first, train, cast,
                              _rec_mask, lengths, _allow_empty)
    return y, h_n, ctx


def rnn_backward(ctx: Context, dy, dh_n=None, *, grads: dict | None = None, cast: bool = False,
                 input_grad: bool = True):
    """Backward of `rnn`: ``(dx, dh0, grads)``; parameter gradients are added into ``grads``.

    With ``input_grad=False`` the input gradient is neither computed nor returned (``dx`` is None).
    """
    dx, dh0, _, grads = _backward(ctx, dy, dh_n, None, grads, cast, input_grad)
    return dx, dh0, grads


def lstm(x, params: dict, state=None, *, num_layers: int | None = None,
         bidirectional: bool | None = None, batch_first: bool = False, train: bool = False,
         cast: bool = False, forget_gate: bool = True, coupled: bool = False, peephole: bool = False,
         lengths=None, _rec_mask=None, _allow_empty=False):
    """LSTM forward (`torch.nn.LSTM`, with ``weight_hr_*`` for ``proj_size``).

    ``state`` is None or ``(h0, c0)``. Returns ``(y, (h_n, c_n), ctx)``.
    ``lengths``: optional valid steps per sequence (see the module docstring).
    ``forget_gate=False`` / ``coupled=True``: the variants without forget-gate
    rows (gates i, g, o; see `lstm_mode`). ``peephole=True``: diagonal
    peepholes (Gers & Schmidhuber 2000), ``params`` also holds
    ``weight_ch_l{k}`` (3, H) with rows p_i, p_f, p_o:
    ``i = σ(W_ii x + b_ii + W_hi h + b_hi + p_i*c_prev)``, ``f`` likewise with
    ``p_f*c_prev``, ``c = f*c_prev + i*g``, ``o = σ(... + p_o*c)``, ``h = o*tanh(c)``.
    """
    h0, c0 = _split_lstm_state(state, "state")
    mode = lstm_mode(forget_gate, coupled, peephole)
    y, h_n, c_n, ctx = _forward(mode, x, params, h0, c0, num_layers, bidirectional, batch_first, train, cast,
                                _rec_mask, lengths, _allow_empty)
    return y, (h_n, c_n), ctx


def lstm_backward(ctx: Context, dy, dstate=None, *, grads: dict | None = None, cast: bool = False,
                  input_grad: bool = True):
    """Backward of `lstm`: ``(dx, (dh0, dc0), grads)``; ``dstate`` is None or ``(dh_n, dc_n)``;
    ``dx`` is None with ``input_grad=False``."""
    dh_n, dc_n = _split_lstm_state(dstate, "dstate")
    dx, dh0, dc0, grads = _backward(ctx, dy, dh_n, dc_n, grads, cast, input_grad)
    return dx, (dh0, dc0), grads


def gru(x, params: dict, h0=None, *, num_layers: int | None = None, bidirectional: bool | None = None,
        batch_first: bool = False, train: bool = False, cast: bool = False, lengths=None, gates: str = "full",
        _rec_mask=None, _allow_empty=False):
    """GRU forward (`torch.nn.GRU`). Returns ``(y, h_n, ctx)``.

    ``lengths``: optional valid steps per sequence (see the module docstring).
    ``gates``: "full", or the gate variants "gru1", "gru2", "gru3" with fewer
    parameter rows (see `rnnrs.GRU`).
    """
    mode = gru_mode(gates)
    y, h_n, _, ctx = _forward(mode, x, params, h0, None, num_layers, bidirectional, batch_first, train, cast,
                              _rec_mask, lengths, _allow_empty)
    return y, h_n, ctx


def gru_backward(ctx: Context, dy, dh_n=None, *, grads: dict | None = None, cast: bool = False,
                 input_grad: bool = True):
    """Backward of `gru`: ``(dx, dh0, grads)``; ``dx`` is None with ``input_grad=False``."""
    dx, dh0, _, grads = _backward(ctx, dy, dh_n, None, grads, cast, input_grad)
    return dx, dh0, grads


def mgu(x, params: dict, h0=None, *, num_layers: int | None = None, bidirectional: bool | None = None,
        batch_first: bool = False, train: bool = False, cast: bool = False, lengths=None, _rec_mask=None,
        _allow_empty=False):
    """Minimal gated unit forward (see `rnnrs.MGU`; gates f, n). Returns ``(y, h_n, ctx)``."""
    y, h_n, _, ctx = _forward("MGU", x, params, h0, None, num_layers, bidirectional, batch_first, train, cast,
                              _rec_mask, lengths, _allow_empty)
    return y, h_n, ctx


def mgu_backward(ctx: Context, dy, dh_n=None, *, grads: dict | None = None, cast: bool = False,
                 input_grad: bool = True):
    """Backward of `mgu`: ``(dx, dh0, grads)``; ``dx`` is None with ``input_grad=False``."""
    dx, dh0, _, grads = _backward(ctx, dy, dh_n, None, grads, cast, input_grad)
    return dx, dh0, grads


def _split_lstm_state(state, arg):
    if state is None:
        return None, None
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"{arg}: expected None or a pair (h, c)")
    return state[0], state[1]


def step_by_call(layer, x_t, state=None):
    """One streaming step of a layer whose state is all it needs (no step
    index, no history of earlier states): ``layer(x_t[None], state)`` with the
    time axis dropped. ``x_t`` is ``(B, I)`` or ``(I,)``; returns
    ``(y_t, state)`` as the layer's call does."""
    if type(x_t) is not np.ndarray:
        x_t = np.asarray(x_t)
    if x_t.ndim not in (1, 2):
        raise ValueError(f"x_t: expected one step (B, I) or (I,), got shape {x_t.shape}")
    batched_first = x_t.ndim == 2 and getattr(layer, "batch_first", False)
    y, state = layer(x_t[:, None] if batched_first else x_t[None], state)
    return (y[:, 0] if batched_first else y[0]), state
