"""Jordan network (Jordan 1986): a recurrent network whose recurrence runs through its output.

``rnnrs.Jordan`` computes, per layer k (layer 0 reads the input, layer k > 0 the outputs of layer
k - 1)::

    h_t = act_h(W_ih x_t + b_h + W_hy y_{t-1})
    y_t = act_y(W_yh h_t + b_y)            y_0 given or zero

The Rust core runs the input projection of all steps as one GEMM and two products per step;
the backward pass is BPTT with the weight gradients as GEMMs over all steps.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from rnnrs import _core
from rnnrs import functional as F
from rnnrs.nn import RNNBase

__all__ = ["Jordan"]

_ACTS = ("tanh", "sigmoid", "identity")
_BASES = ("weight_ih", "weight_hy", "bias_h", "weight_yh", "bias_y")


class Jordan:
    """Jordan network: ``h_t = act_h(W_ih x_t + b_h + W_hy y_{t-1})``, ``y_t = act_y(W_yh h_t + b_y)``.

    Arguments: ``input_size`` I, ``hidden_size`` H, ``output_size`` O (the size of y, which is
    both the output and the recurrent state), ``num_layers`` (layer k > 0 reads the outputs of
    layer k - 1), ``hidden_activation`` and ``output_activation`` ("tanh", "sigmoid" or
    "identity"), ``batch_first``, ``dtype`` (float32 or float64), ``seed`` (init: uniform in
    ±1/sqrt(H), as PyTorch's layers), ``cast`` (convert inputs of other dtypes instead of
    raising TypeError).

    Parameters per layer k, PyTorch-style ``(out, in)`` shapes: ``weight_ih_l{k}`` (H, I_k),
    ``weight_hy_l{k}`` (H, O) (the recurrence from y_{t-1}), ``bias_h_l{k}`` (H),
    ``weight_yh_l{k}`` (O, H), ``bias_y_l{k}`` (O).

    - ``layer(x, y0=None, lengths=None)``: inference, ``(y, y_n)``; ``x`` is ``(T, B, I)``
      (``(B, T, I)`` with ``batch_first``, or ``(T, I)``), ``y0``/``y_n`` are ``(L, B, O)``.
    - ``forward(x, y0=None, train=True, lengths=None)`` keeps what `backward` needs;
      ``backward(dy, dy_n=None)`` returns ``(dx, dy0)`` and ADDS the parameter gradients into
      ``layer.grads``.
    - ``lengths`` (``(B,)`` integers in 1..T): PyTorch's packed semantics as for `rnnrs.RNN`
      (zero outputs past each length, each sequence's own final y, no gradient from padding).

    Not offered: bidirectional layers and dropout. RTRL (exact and SnAp-1) runs on a
    one-layer Jordan network through `rnnrs.rtrl`, with y as the recurrent state.
    """

    recurrent = True  # `Sequential` passes it a state (see `rnnrs.model.is_recurrent`)
    takes_lengths = True

    def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int = 1, *,
                 hidden_activation: str = "tanh", output_activation: str = "tanh", batch_first: bool = False,
                 dtype=np.float32, seed: int | None = None, cast: bool = False):
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size),
                        ("num_layers", num_layers)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        for name, v in (("hidden_activation", hidden_activation), ("output_activation", output_activation)):
            if v not in _ACTS:
                raise ValueError(f"{name}: expected one of {_ACTS}, got {v!r}")
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype: expected float32 or float64, got {dt.name}")
        object.__setattr__(self, "_params", OrderedDict())
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.output_size, self.num_layers = int(output_size), int(num_layers)
        self.hidden_activation, self.output_activation = hidden_activation, output_activation
        self.batch_first, self.dtype, self.cast = bool(batch_first), dt, bool(cast)
        self._ctx = None
        self.reset_parameters(seed)

    # --- parameters -------------------------------------------------------
    def _shapes(self) -> OrderedDict:
        h, o = self.hidden_size, self.output_size
        shapes = OrderedDict()
        for k in range(self.num_layers):
            i = self.input_size if k == 0 else o
            for base, shape in zip(_BASES, ((h, i), (h, o), (h,), (o, h), (o,))):
                shapes[f"{base}_l{k}"] = shape
        return shapes

    def reset_parameters(self, seed: int | None = None) -> None:
        """Every parameter uniform in ±1/sqrt(hidden_size), drawn in float64 from ``default_rng(seed)``."""
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        for name, shape in self._shapes().items():
            self._params[name] = np.ascontiguousarray(rng.uniform(-k, k, size=shape), dtype=self.dtype)
        self.grads = OrderedDict((n, np.zeros_like(p)) for n, p in self._params.items())
        self._ctx = None

    # Parameter bookkeeping as for rnnrs.RNN/LSTM/GRU (same names, checks and messages): the attributes
    # and dict `params` live, in-place updates, `state_dict` copies, `load_state_dict` checking names
    # and shapes and returning (missing, unexpected).
    params = RNNBase.params
    parameters = RNNBase.parameters
    named_parameters = RNNBase.named_parameters
    zero_grad = RNNBase.zero_grad
    _checked = RNNBase._checked
    __getattr__ = RNNBase.__getattr__
    __setattr__ = RNNBase.__setattr__
    state_dict = RNNBase.state_dict
    load_state_dict = RNNBase.load_state_dict

    # --- running ----------------------------------------------------------
    def _array(self, a, arg):
        arr = np.asarray(a)
        if arr.dtype != self.dtype:
            if not self.cast:
                raise TypeError(f"{arg}: expected dtype {self.dtype.name} (the layer's), got {arr.dtype.name}; "
                                "convert it or pass cast=True")
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr):
                raise TypeError(f"{arg}: cannot cast dtype {arr.dtype.name} to {self.dtype.name}")
            arr = arr.astype(self.dtype)
        return arr

    def _layer_params(self, k):
        return [self._params[f"{b}_l{k}"] for b in _BASES]

    def _run(self, x, y0, train, lengths):
        x = self._array(x, "input")
        if x.ndim == 2:
            if lengths is not None:
                raise ValueError("lengths: only for batched input (T, B, I) or (B, T, I)")
            xt, unbatched = x[:, None, :], True
        elif x.ndim == 3:
            xt, unbatched = (x.transpose(1, 0, 2) if self.batch_first else x), False
        else:
            raise ValueError(f"input: expected a 2-d (T, I) or 3-d (T, B, I) array, got shape {x.shape}")
        if xt.shape[2] != self.input_size:
            raise ValueError(f"input: expected {self.input_size} features in the last dimension, got shape {x.shape}")
        if xt.shape[0] == 0:
            raise ValueError("input: the sequence is empty (T = 0)")
        t, b = xt.shape[:2]
        lengths = F.check_lengths(lengths, t, b)
        want = (self.num_layers, self.output_size) if unbatched else (self.num_layers, b, self.output_size)
        if y0 is not None:
            y0 = self._array(y0, "y0")
            if y0.shape != want:
                raise ValueError(f"y0: expected shape {want}, got {y0.shape}")
            if unbatched:
                y0 = y0[:, None, :]
        inp = np.ascontiguousarray(xt)
        ctxs, finals = [], []
        for k in range(self.num_layers):
            y0k = None if y0 is None else np.ascontiguousarray(y0[k])
            inp, y_n, ctx = _core.jordan_forward(
                inp, self._layer_params(k), y0k, hidden_activation=self.hidden_activation,
                output_activation=self.output_activation, lengths=None if lengths is None else lengths.tolist(),
                train=train)
            ctxs.append(ctx)
            finals.append(y_n)
        y_n = np.stack(finals)
        if unbatched:
            y, y_n = inp[:, 0], y_n[:, 0]
        else:
            y = np.ascontiguousarray(inp.transpose(1, 0, 2)) if self.batch_first else inp
        return y, y_n, (ctxs, unbatched, b) if train else None

    def __call__(self, x, y0=None, lengths=None):
        """Inference forward: ``(y, y_n)``; stores nothing."""
        y, y_n, _ = self._run(x, y0, False, lengths)
        return y, y_n

    def step(self, x_t, y0=None):
        """One time step for streaming use: ``(y_t, state)``, the same as the
        call on ``x_t`` with a time axis of 1, which is then dropped."""
        return F.step_by_call(self, x_t, y0)

    def forward(self, x, y0=None, train: bool = True, lengths=None):
        """Forward ``(y, y_n)``; with ``train`` keeps what `backward` needs."""
        y, y_n, ctx = self._run(x, y0, train, lengths)
        self._ctx = ctx
        return y, y_n

    def backward(self, dy, dy_n=None, input_grad: bool = True):
        """BPTT through the last ``forward(..., train=True)``: ``dy`` like ``y``, ``dy_n`` like
        ``y_n`` or None. Returns ``(dx or None, dy0)`` and adds the parameter gradients into
        ``self.grads``."""
        if self._ctx is None:
            raise RuntimeError("backward: call forward(..., train=True) first (each run supports one backward)")
        (ctxs, unbatched, b), self._ctx = self._ctx, None
        dy = self._array(dy, "dy")
        t = ctxs[0].seq_len
        want = (t, self.output_size) if unbatched else ((b, t, self.output_size) if self.batch_first
                                                        else (t, b, self.output_size))
        if dy.shape != want:
            raise ValueError(f"dy: expected shape {want} like the output, got {dy.shape}")
        dyt = dy[:, None, :] if unbatched else (dy.transpose(1, 0, 2) if self.batch_first else dy)
        dyt = np.ascontiguousarray(dyt)
        if dy_n is not None:
            dy_n = self._array(dy_n, "dy_n")
            wn = (self.num_layers, self.output_size) if unbatched else (self.num_layers, b, self.output_size)
            if dy_n.shape != wn:
                raise ValueError(f"dy_n: expected shape {wn} like y_n, got {dy_n.shape}")
            if unbatched:
                dy_n = dy_n[:, None, :]
        dy0s = [None] * self.num_layers
        for k in reversed(range(self.num_layers)):
            grads = [self.grads[f"{base}_l{k}"] for base in _BASES]
            dnk = None if dy_n is None else np.ascontiguousarray(dy_n[k])
            dyt, dy0s[k] = _core.jordan_backward(ctxs[k], self._layer_params(k), dyt, dnk, grads=grads,
                                                 input_grad=input_grad or k > 0)
        dy0 = np.stack(dy0s)
        dx = dyt
        if unbatched:
            dx, dy0 = (None if dx is None else dx[:, 0]), dy0[:, 0]
        elif self.batch_first and dx is not None:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx, dy0

    def __repr__(self) -> str:
        s = f"Jordan({self.input_size}, {self.hidden_size}, {self.output_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("hidden_activation", "tanh"), ("output_activation", "tanh"), ("batch_first", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s + f", dtype={self.dtype.name})"
