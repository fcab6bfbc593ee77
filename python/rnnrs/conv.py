"""Recurrent convolution: 2-D convolution with backward (Rust), the recurrent convolutional layer
(RCL, Liang & Hu 2015) and ConvLSTM (Shi et al. 2015).

Layout is NCHW; convolutions are cross-correlations as in PyTorch, stride 1, 'same' zero padding
(odd kernel sizes). The convolutions and their gradients run in the Rust core (im2col on rnnrs's
GEMM, parallel over the output, so results do not depend on the thread count). ConvLSTM runs whole
in Rust (all layers and steps, forward and backward, gate math fused); RCL's time loop is NumPy.

Example::

    import numpy as np, rnnrs as rr
    video = rr.datasets.moving_shapes(8, length=10, size=16)       # (T, B, 1, H, W)
    net = rr.conv.ConvLSTM(1, 8, kernel_size=3, num_layers=2, seed=0)
    y, states = net.forward(video, train=True)                     # y: (T, B, 8, H, W)
    dx = net.backward(np.ones_like(y))                             # net.grads filled
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from rnnrs import _core
from rnnrs.modules import _float_dtype, _Module, _positive_int

__all__ = ["RCL", "ConvLSTM", "conv2d", "conv2d_backward", "local_response_norm"]


def _same(name: str, a, dtype) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected {dtype} like the input, got {a.dtype}")
    return np.ascontiguousarray(a)


def conv2d(x, weight, bias=None) -> np.ndarray:
    """``y[b, o] = sum_c x[b, c] (*) weight[o, c] + bias[o]``: x (B, C, H, W), weight (O, C, kh, kw) with odd
    kh, kw, bias (O,) or None; 'same' padding, stride 1; returns (B, O, H, W). All arrays one float dtype."""
    x = np.ascontiguousarray(x)
    w = _same("weight", weight, x.dtype)
    b = None if bias is None else _same("bias", bias, x.dtype)
    return _core.conv2d_forward(x, w, b)


def conv2d_backward(x, weight, grad_output, input_grad: bool = True):
    """Gradients of ``sum(grad_output * conv2d(x, weight, bias))``: ``(dx or None, dweight, dbias)``."""
    x = np.ascontiguousarray(x)
    w = _same("weight", weight, x.dtype)
    g = _same("grad_output", grad_output, x.dtype)
    return _core.conv2d_backward(x, w, g, need_input_grad=bool(input_grad))


def _window_sum(z: np.ndarray, before: int, after: int) -> np.ndarray:
    """``out[:, k] = sum(z[:, k - before : k + after + 1])`` over the channel axis (clamped)."""
    c = z.shape[1]
    pad = np.zeros((z.shape[0], 1) + z.shape[2:], z.dtype)
    cs = np.concatenate([pad, np.cumsum(z, axis=1)], axis=1)
    hi = np.minimum(np.arange(c) + after + 1, c)
    lo = np.maximum(np.arange(c) - before, 0)
    return cs[:, hi] - cs[:, lo]


def local_response_norm(x, size: int, alpha: float = 1e-3, beta: float = 0.75, k: float = 1.0,
                        grad_output=None):
    """Local response normalisation across channels, as ``torch.nn.LocalResponseNorm``:
    ``y_c = x_c / (k + alpha/size * sum_{c' in [c - size//2, c + (size-1)//2]} x_c'^2) ** beta``.

    With ``grad_output`` returns ``(y, dx)``, the gradient of ``sum(grad_output * y)``.
    """
    x = np.asarray(x)
    a, b = size // 2, (size - 1) // 2
    s = k + (alpha / size) * _window_sum(x * x, a, b)
    y = x * s ** -beta
    if grad_output is None:
        return y
    g = np.asarray(grad_output)
    # y_c depends on x_j for j in c's window, i.e. c in [j - b, j + a].
    inner = _window_sum(g * x * s ** (-beta - 1), b, a)
    return y, g * s ** -beta - (2 * alpha * beta / size) * x * inner


def _pair(name: str, v) -> Tuple[int, int]:
    kh, kw = (v, v) if np.isscalar(v) else tuple(v)
    for k in (kh, kw):
        if int(k) != k or k < 1 or k % 2 == 0:
            raise ValueError(f"{name}: expected odd positive kernel sizes ('same' padding), got {v!r}")
    return int(kh), int(kw)


class RCL(_Module):
    """Recurrent convolutional layer (Liang & Hu 2015) over a static input, unfolded ``steps`` times.

    ``z(t) = w_f * u + w_r * x(t-1) + b`` (no recurrent term at t = 0), ``x(t) = g(relu(z(t)))`` where g
    is the paper's local response normalisation (``lrn=True``; size ``out_channels // 8 + 1``,
    alpha 1e-3, beta 0.75) or the identity. Returns ``x(steps)`` ``(B, out_channels, H, W)``.
    Parameters: ``weight_f (O, C, k, k)``, ``weight_r (O, O, kr, kr)``, ``bias (O,)``; init
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from ``numpy.random.default_rng(seed)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, recurrent_kernel_size=3,
                 steps: int = 3, lrn: bool = True, dtype=np.float32, seed: Optional[int] = None):
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.steps = _positive_int("steps", steps, allow_zero=True)
        self.lrn = bool(lrn)
        self.lrn_size = self.out_channels // 8 + 1
        self.dtype = _float_dtype(dtype)
        kf, kr = _pair("kernel_size", kernel_size), _pair("recurrent_kernel_size", recurrent_kernel_size)
        rng = np.random.default_rng(seed)
        bf = 1.0 / math.sqrt(self.in_channels * kf[0] * kf[1])
        br = 1.0 / math.sqrt(self.out_channels * kr[0] * kr[1])
        o = self.out_channels
        self.params = {
            "weight_f": rng.uniform(-bf, bf, (o, self.in_channels) + kf).astype(self.dtype),
            "weight_r": rng.uniform(-br, br, (o, o) + kr).astype(self.dtype),
            "bias": rng.uniform(-bf, bf, o).astype(self.dtype),
        }
        self.grads = {n: np.zeros_like(p) for n, p in self.params.items()}
        self._saved = None

    def __repr__(self) -> str:
        return (f"RCL(in_channels={self.in_channels}, out_channels={self.out_channels}, steps={self.steps}, "
                f"lrn={self.lrn}, dtype={self.dtype})")

    def _g(self, r, grad=None):
        if not self.lrn:
            return r if grad is None else (r, grad)
        return local_response_norm(r, self.lrn_size, grad_output=grad)

    def forward(self, u, train: bool = True) -> np.ndarray:
        """u: (B, in_channels, H, W) -> x(steps): (B, out_channels, H, W)."""
        u = self._input(u, "u")
        if u.ndim != 4 or u.shape[1] != self.in_channels:
            raise ValueError(f"u: expected (B, {self.in_channels}, H, W), got shape {u.shape}")
        ff = conv2d(u, self.params["weight_f"], self.params["bias"])
        xs, zs = [], []
        x = None
        for t in range(self.steps + 1):
            z = ff if t == 0 else ff + conv2d(x, self.params["weight_r"])
            x = self._g(np.maximum(z, 0))
            zs.append(z)
            xs.append(x)
        if train:
            self._saved = (u, zs, xs)
        return x

    def backward(self, grad_output) -> np.ndarray:
        """Adds the parameter gradients of ``sum(grad_output * x(steps))``; returns du."""
        if self._saved is None:
            raise RuntimeError("backward: call forward(..., train=True) first")
        u, zs, xs = self._saved
        dx = _same("grad_output", grad_output, self.dtype)
        if dx.shape != xs[-1].shape:
            raise ValueError(f"grad_output: expected shape {xs[-1].shape}, got {dx.shape}")
        dff = np.zeros_like(zs[0])
        for t in range(self.steps, -1, -1):
            z = zs[t]
            _, dr = self._g(np.maximum(z, 0), dx)
            dz = np.ascontiguousarray(dr * (z > 0))
            dff += dz
            if t > 0:
                dprev, dw, _ = conv2d_backward(xs[t - 1], self.params["weight_r"], dz)
                self.grads["weight_r"] += dw
                dx = dprev
        du, dw, db = conv2d_backward(u, self.params["weight_f"], dff)
        self.grads["weight_f"] += dw
        self.grads["bias"] += db
        return du


class ConvLSTM(_Module):
    """ConvLSTM (Shi et al. 2015), stacked, over ``(T, B, C, H, W)`` inputs.

    Per layer: ``a = W_x * x_t + W_h * h_{t-1} + b`` (gates [i, f, g, o], PyTorch's order),
    ``i = sigmoid(a_i + w_ci . c_{t-1})``, ``f = sigmoid(a_f + w_cf . c_{t-1})``, ``g = tanh(a_g)``,
    ``c_t = f . c_{t-1} + i . g``, ``o = sigmoid(a_o + w_co . c_t)``, ``h_t = o . tanh(c_t)``, where ``*`` is
    the 'same' convolution and ``.`` the Hadamard product; the peephole terms are present with
    ``peephole=True`` (then ``frame_size=(H, W)`` is required: the peephole weights are
    ``(hidden_channels, H, W)`` as in the paper). Forward and backward run in the Rust core over all
    layers and steps: per step one product over the patches of ``[x_t, 1, h_{t-1}]`` (both
    convolutions and the bias), the gate math fused.

    Parameters per layer ``l``: ``weight_ih_l{l} (4Ch, C_l, k, k)``, ``weight_hh_l{l} (4Ch, Ch, k, k)``,
    ``bias_l{l} (4Ch,)`` and with peepholes ``weight_ci_l{l}``, ``weight_cf_l{l}``, ``weight_co_l{l}``.
    Init: U(-1/sqrt(Ch k k), 1/sqrt(Ch k k)), peepholes zero; from ``numpy.random.default_rng(seed)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size=3, num_layers: int = 1,
                 peephole: bool = False, frame_size: Optional[Sequence[int]] = None, dtype=np.float32,
                 seed: Optional[int] = None):
        self.in_channels = _positive_int("in_channels", in_channels)
        self.hidden_channels = _positive_int("hidden_channels", hidden_channels)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.peephole = bool(peephole)
        if self.peephole:
            if frame_size is None or len(frame_size) != 2:
                raise ValueError("frame_size: peephole=True needs the frame size (H, W) (per-pixel peephole weights)")
            self.frame_size = (_positive_int("frame_size", frame_size[0]), _positive_int("frame_size", frame_size[1]))
        else:
            self.frame_size = None
        self.dtype = _float_dtype(dtype)
        rng = np.random.default_rng(seed)
        ch, k = self.hidden_channels, self.kernel_size
        bound = 1.0 / math.sqrt(ch * k[0] * k[1])
        self.params = {}
        for layer in range(self.num_layers):
            cin = self.in_channels if layer == 0 else ch
            self.params[f"weight_ih_l{layer}"] = rng.uniform(-bound, bound, (4 * ch, cin) + k).astype(self.dtype)
            self.params[f"weight_hh_l{layer}"] = rng.uniform(-bound, bound, (4 * ch, ch) + k).astype(self.dtype)
            self.params[f"bias_l{layer}"] = rng.uniform(-bound, bound, 4 * ch).astype(self.dtype)
            if self.peephole:
                for gate in "ifo":
                    self.params[f"weight_c{gate}_l{layer}"] = np.zeros((ch,) + self.frame_size, self.dtype)
        self.grads = {n: np.zeros_like(p) for n, p in self.params.items()}
        self._saved = None

    def __repr__(self) -> str:
        return (f"ConvLSTM(in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, "
                f"kernel_size={self.kernel_size}, num_layers={self.num_layers}, peephole={self.peephole}, "
                f"dtype={self.dtype})")

    def __call__(self, x, state=None):
        return self.forward(x, state, train=False)

    def forward(self, x, state: Optional[List[Tuple[np.ndarray, np.ndarray]]] = None, train: bool = True):
        """x: (T, B, in_channels, H, W). state: optional list of (h0, c0) per layer, each (B, Ch, H, W).

        Returns ``(y, [(h_n, c_n) per layer])`` with y the last layer's h at every step (T, B, Ch, H, W).
        """
        x = self._input(x)
        if x.ndim != 5 or x.shape[2] != self.in_channels:
            raise ValueError(f"x: expected (T, B, {self.in_channels}, H, W), got shape {x.shape}")
        T, B, _, H, W = x.shape
        if T == 0:
            raise ValueError("x: expected at least one time step")
        if self.peephole and (H, W) != self.frame_size:
            raise ValueError(f"x: expected frames of size {self.frame_size} (frame_size), got {(H, W)}")
        shape = (B, self.hidden_channels, H, W)
        h0 = c0 = None
        if state is not None:
            if len(state) != self.num_layers:
                raise ValueError(f"state: expected {self.num_layers} (h0, c0) pairs, got {len(state)}")
            state = [(_same("h0", h, self.dtype), _same("c0", c, self.dtype)) for h, c in state]
            for h, c in state:
                if h.shape != shape or c.shape != shape:
                    raise ValueError(f"state: expected h0 and c0 of shape {shape}, got {h.shape} and {c.shape}")
            h0 = np.ascontiguousarray(np.stack([h for h, _ in state]))
            c0 = np.ascontiguousarray(np.stack([c for _, c in state]))
        y, h_n, c_n, tape = _core.convlstm_forward(
            x, self._flat_params(), h0, c0, hidden=self.hidden_channels, kernel=self.kernel_size,
            layers=self.num_layers, peephole=self.peephole, train=bool(train))
        if train:
            self._saved = (x.shape, tape)
        return y, [(h_n[layer], c_n[layer]) for layer in range(self.num_layers)]

    def _flat_params(self) -> List[np.ndarray]:
        """Per layer [weight_ih, weight_hh, bias, weight_ci, weight_cf, weight_co] (empty without peepholes)."""
        empty = np.empty(0, self.dtype)
        out = []
        for layer in range(self.num_layers):
            for name in ("weight_ih", "weight_hh", "bias", "weight_ci", "weight_cf", "weight_co"):
                p = self.params.get(f"{name}_l{layer}", empty)
                out.append(np.ascontiguousarray(p, dtype=self.dtype))
        return out

    def backward(self, grad_output, grad_state=None, input_grad: bool = True):
        """Adds the parameter gradients of ``sum(grad_output * y) + sum(dh_n * h_n + dc_n * c_n)`` to ``grads``.

        grad_output: (T, B, Ch, H, W); grad_state: optional list of (dh_n, dc_n) per layer. Returns
        ``(dx, [(dh0, dc0) per layer])``; ``dx`` is None with ``input_grad=False`` (which skips its
        computation, as when the input needs no gradient).
        """
        if self._saved is None:
            raise RuntimeError("backward: call forward(..., train=True) first")
        x_shape, tape = self._saved
        T, B, _, H, W = x_shape
        ch = self.hidden_channels
        dy = _same("grad_output", grad_output, self.dtype)
        if dy.shape != (T, B, ch, H, W):
            raise ValueError(f"grad_output: expected shape {(T, B, ch, H, W)}, got {dy.shape}")
        dh_n = dc_n = None
        if grad_state is not None:
            if len(grad_state) != self.num_layers:
                raise ValueError(f"grad_state: expected {self.num_layers} (dh_n, dc_n) pairs, got {len(grad_state)}")
            shape = (B, ch, H, W)
            pairs = [(_same("dh_n", h, self.dtype), _same("dc_n", c, self.dtype)) for h, c in grad_state]
            for h, c in pairs:
                if h.shape != shape or c.shape != shape:
                    raise ValueError(f"grad_state: expected arrays of shape {shape}, got {h.shape} and {c.shape}")
            dh_n = np.ascontiguousarray(np.stack([h for h, _ in pairs]))
            dc_n = np.ascontiguousarray(np.stack([c for _, c in pairs]))
        dx, dh0, dc0, grads = _core.convlstm_backward(
            list(x_shape), self._flat_params(), tape, dy, dh_n, dc_n, hidden=ch, kernel=self.kernel_size,
            layers=self.num_layers, peephole=self.peephole, input_grad=bool(input_grad))
        names = ("weight_ih", "weight_hh", "bias", "weight_ci", "weight_cf", "weight_co")
        for layer in range(self.num_layers):
            for k, name in enumerate(names):
                key = f"{name}_l{layer}"
                if key in self.grads:
                    self.grads[key] += grads[6 * layer + k]
        return dx, [(dh0[layer], dc0[layer]) for layer in range(self.num_layers)]
