"""Reference math for PyTorch-compatible recurrent layers: Elman RNN, LSTM and GRU.

Plain NumPy, slow on purpose and written to be read next to the equations.
Conventions follow `torch.nn.RNN` / `LSTM` / `GRU` exactly:

- Parameters are a dict with PyTorch's `state_dict` names and shapes
  (`weight_ih_l0` is `(G*H, I)`, `weight_hh_l0` is `(G*H, h_out)`,
  `bias_ih_l0` / `bias_hh_l0` are `(G*H,)`, LSTM `weight_hr_l0` is `(P, H)`,
  the reverse direction adds the suffix `_reverse`). G is the number of gates:
  1 (Elman), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).
- Rows of weight matrices are output units, so a batch `x` of shape `(B, I)`
  is projected as `x @ W.T`.
- All arithmetic happens in the dtype of the input `x` (float32 or float64).

Layout of the module, one idea per function:

1. single cell step, forward (`elman_step`, `lstm_step`, `gru_step`, and the
   `*_step_forward` variants that also return what backward needs);
2. single cell step, backward (`*_step_backward`);
3. one direction over a whole sequence (`direction_forward`,
   `direction_backward`);
4. parameter helpers (`param_names`, `param_shapes`, `init_params`);
5. the stacked / bidirectional driver (`rnn_forward`, `rnn_backward`).

Variable-length batches (`lengths`) are defined in `rnnrs.reference.packed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnrs._gates import GATES as _CORE_GATES

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")

# Number of gate blocks stacked in weight_ih / weight_hh / biases.
# (`register_cell` adds to this copy of `rnnrs._gates.GATES`, the one table.)
GATES = dict(_CORE_GATES)
# The GRU family of `cells_gru` (GRU gate variants with fewer rows, MGU).
GRU_FAMILY = ("GRU1", "GRU2", "GRU3", "MGU")

# The LSTM and its variants without forget-gate rows (see `lstm_variant_step_forward`):
# they all carry a cell state c and may project.
LSTM_MODES = ("LSTM", "LSTM_NOFORGET", "LSTM_CIFG")
# Every mode the reference knows: PyTorch's and the LSTM variants.
ALL_MODES = MODES + LSTM_MODES[1:] + GRU_FAMILY


def _blocks(mode: str) -> tuple[int, int, int]:
    """Gate blocks of (weight_ih and bias_ih, weight_hh, bias_hh)."""
    if mode in GRU_FAMILY:
        from rnnrs.reference.cells_gru import BLOCKS

        return BLOCKS[mode]
    return (GATES[mode],) * 3

# Further cells, registered by `rnnrs.reference.cells` (`register_cell`): mode -> (step_forward,
# step_backward) with the signatures of `_cell_forward(x, h, c, w)` / `_cell_backward(dh', dc', cache)`,
# and the parameters a cell owns besides weight_ih/weight_hh/biases: mode -> ((base, rows), ...),
# shape (rows, H) or (H,) for one row, after the other parameters of each (layer, direction).
CELL_STEPS: dict = {}
OWN_PARAMS: dict = {}


def register_cell(mode: str, gates: int, has_c: bool, forward, backward, own=()) -> None:
    """Adds a cell to the reference driver (`rnn_forward`/`rnn_backward`, stacked, bidirectional, lengths)."""
    global LSTM_MODES, ALL_MODES
    GATES[mode] = gates
    CELL_STEPS[mode] = (forward, backward)
    OWN_PARAMS[mode] = tuple(own)
    if has_c and mode not in LSTM_MODES:
        LSTM_MODES = LSTM_MODES + (mode,)
    if mode not in ALL_MODES:
        ALL_MODES = ALL_MODES + (mode,)

# Per-layer parameter base names, in PyTorch's order (weight_hr only for LSTM with proj_size > 0).
_WEIGHTS = ("weight_ih", "weight_hh")
_BIASES = ("bias_ih", "bias_hh")
_PROJECTION = "weight_hr"


# ---------------------------------------------------------------------------------------------
# Activations and their derivatives written in terms of the activation's output.
# ---------------------------------------------------------------------------------------------


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-a)).

    Written with e = exp(-|a|) <= 1 so nothing overflows: 1 / (1 + e) for a >= 0, e / (1 + e) for a < 0.
    """
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0, e) / (1.0 + e)


def _dsigmoid(s: np.ndarray) -> np.ndarray:
    """d sigmoid(a) / da = s (1 - s) with s = sigmoid(a)."""
    return s * (1.0 - s)


def _dtanh(t: np.ndarray) -> np.ndarray:
    """d tanh(a) / da = 1 - t^2 with t = tanh(a)."""
    return 1.0 - t * t


def _affine(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """x @ w.T + b (b may be None: a layer built with bias=False)."""
    out = x @ w.T
    return out if b is None else out + b


def _split(a: np.ndarray, parts: int) -> list[np.ndarray]:
    """Split the gate axis (last) into `parts` equal blocks, PyTorch's gate order."""
    size = a.shape[-1] // parts
    return [a[..., k * size:(k + 1) * size] for k in range(parts)]


# ---------------------------------------------------------------------------------------------
# 1. Single cell step, forward.
# ---------------------------------------------------------------------------------------------


def elman_step_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """Elman step; returns (h_new, cache).

    a  = x W_ih^T + b_ih + h W_hh^T + b_hh
    h' = tanh(a)   or   relu(a) = max(a, 0)
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    a = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    cache = {"x": x, "h": h, "a": a, "h_new": h_new, "nonlinearity": nonlinearity,
             "w_ih": w_ih, "w_hh": w_hh, "bias": b_ih is not None}
    return h_new, cache


def elman_step(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu.

    x: (B, I), h: (B, H), w_ih: (H, I), w_hh: (H, H), b_ih / b_hh: (H,) or None. Returns h' (B, H).
    """
    return elman_step_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)[0]


def lstm_step_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """LSTM step; returns (h_new, c_new, cache).

    [a_i, a_f, a_g, a_o] = x W_ih^T + b_ih + h W_hh^T + b_hh
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c' = f * c + i * g
    m  = o * tanh(c')
    h' = m W_hr^T  with projection (proj_size > 0), else h' = m
    """
    a_i, a_f, a_g, a_o = _split(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh), 4)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    m = o * tanh_c
    h_new = m if w_hr is None else m @ w_hr.T
    cache = {"x": x, "h": h, "c": c, "i": i, "f": f, "g": g, "o": o, "tanh_c": tanh_c, "m": m,
             "w_ih": w_ih, "w_hh": w_hh, "w_hr": w_hr, "bias": b_ih is not None}
    return h_new, c_new, cache


def lstm_step(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """One LSTM step (gates i, f, g, o as in PyTorch); returns (h', c').

    c' = f * c + i * g,   h' = o * tanh(c')   (h' = W_hr (o * tanh(c')) with projection).
    x: (B, I), h: (B, h_out), c: (B, H), w_ih: (4H, I), w_hh: (4H, h_out), w_hr: (P, H) or None.
    """
    h_new, c_new, _ = lstm_step_forward(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
    return h_new, c_new


def gru_step_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """GRU step (PyTorch's formula: reset applied after the recurrent product); returns (h_new, cache).

    [i_r, i_z, i_n] = x W_ih^T + b_ih          [h_r, h_z, h_n] = h W_hh^T + b_hh
    r  = sigmoid(i_r + h_r)
    z  = sigmoid(i_z + h_z)
    n  = tanh(i_n + r * h_n)
    h' = (1 - z) * n + z * h
    """
    i_r, i_z, i_n = _split(_affine(x, w_ih, b_ih), 3)
    h_r, h_z, h_n = _split(_affine(h, w_hh, b_hh), 3)
    r = sigmoid(i_r + h_r)
    z = sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)
    h_new = (1 - z) * n + z * h
    cache = {"x": x, "h": h, "r": r, "z": z, "n": n, "h_n": h_n,
             "w_ih": w_ih, "w_hh": w_hh, "bias": b_ih is not None}
    return h_new, cache


def gru_step(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step; returns h' = (1 - z) * n + z * h with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).

    x: (B, I), h: (B, H), w_ih: (3H, I), w_hh: (3H, H), b_ih / b_hh: (3H,) or None (gates r, z, n).
    """
    return gru_step_forward(x, h, w_ih, w_hh, b_ih, b_hh)[0]


# ---------------------------------------------------------------------------------------------
# 2. Single cell step, backward. Each returns the input and state gradients plus a dict of
#    parameter gradients keyed by PyTorch base name (bias entries only when the cell has biases).
# ---------------------------------------------------------------------------------------------


def _linear_grads(da_ih, da_hh, cache) -> tuple[np.ndarray, np.ndarray, dict]:
    """Backward of a_ih = x W_ih^T + b_ih and a_hh = h W_hh^T + b_hh given dL/da_ih and dL/da_hh.

    dx = da_ih W_ih,  dh = da_hh W_hh,  dW_ih = da_ih^T x,  dW_hh = da_hh^T h,  db = sum over batch.
    """
    dx = da_ih @ cache["w_ih"]
    dh = da_hh @ cache["w_hh"]
    grads = {"weight_ih": da_ih.T @ cache["x"], "weight_hh": da_hh.T @ cache["h"]}
    if cache["bias"]:
        grads["bias_ih"] = da_ih.sum(axis=0)
        grads["bias_hh"] = da_hh.sum(axis=0)
    return dx, dh, grads


def elman_step_backward(dh_new, cache):
    """Backward of one Elman step; returns (dx, dh, grads).

    da = dh' * (1 - h'^2)  (tanh)   or   dh' * [a > 0]  (relu); both affine maps see the same da.
    """
    if cache["nonlinearity"] == "tanh":
        da = dh_new * _dtanh(cache["h_new"])
    else:
        da = dh_new * (cache["a"] > 0)
    return _linear_grads(da, da, cache)


def lstm_step_backward(dh_new, dc_new, cache):
    """Backward of one LSTM step; returns (dx, dh, dc, grads).

    dm   = dh' W_hr  (projection; dW_hr = dh'^T m)   else dm = dh'
    do   = dm * tanh(c')
    dc'  += dm * o * (1 - tanh(c')^2)       (dc' arrives from the next step)
    di   = dc' * g,  df = dc' * c,  dg = dc' * i,  dc = dc' * f
    da_* = d* * sigmoid'  (i, f, o)  and  dg * (1 - g^2)
    """
    w_hr = cache["w_hr"]
    dm = dh_new if w_hr is None else dh_new @ w_hr
    do = dm * cache["tanh_c"]
    dc_total = dc_new + dm * cache["o"] * _dtanh(cache["tanh_c"])
    di = dc_total * cache["g"]
    df = dc_total * cache["c"]
    dg = dc_total * cache["i"]
    dc = dc_total * cache["f"]
    da = np.concatenate(
        [di * _dsigmoid(cache["i"]), df * _dsigmoid(cache["f"]), dg * _dtanh(cache["g"]),
         do * _dsigmoid(cache["o"])],
        axis=-1,
    )
    dx, dh, grads = _linear_grads(da, da, cache)
    if w_hr is not None:
        grads["weight_hr"] = dh_new.T @ cache["m"]
    return dx, dh, dc, grads


def lstm_variant_step_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, coupled=False):
    """LSTM step without forget-gate rows (Greff et al. 2017); returns (h_new, c_new, cache).

    [a_i, a_g, a_o] = x W_ih^T + b_ih + h W_hh^T + b_hh          (3 gate blocks: i, g, o)
    i = sigmoid(a_i)   g = tanh(a_g)   o = sigmoid(a_o)
    c' = c + i * g                 no forget gate (the original LSTM, Hochreiter & Schmidhuber 1997)
    c' = (1 - i) * c + i * g       coupled=True: CIFG, the forget gate is f = 1 - i
    m  = o * tanh(c'),  h' = m W_hr^T with projection, else h' = m
    """
    a_i, a_g, a_o = _split(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh), 3)
    i, g, o = sigmoid(a_i), np.tanh(a_g), sigmoid(a_o)
    f = 1.0 - i if coupled else np.ones_like(i)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    m = o * tanh_c
    h_new = m if w_hr is None else m @ w_hr.T
    cache = {"x": x, "h": h, "c": c, "i": i, "f": f, "g": g, "o": o, "tanh_c": tanh_c, "m": m,
             "coupled": coupled, "w_ih": w_ih, "w_hh": w_hh, "w_hr": w_hr, "bias": b_ih is not None}
    return h_new, c_new, cache


def lstm_variant_step_backward(dh_new, dc_new, cache):
    """Backward of `lstm_variant_step_forward`; returns (dx, dh, dc, grads).

    dm = dh' W_hr (projection) else dh',  do = dm * tanh(c'),  dc' += dm * o * (1 - tanh(c')^2)
    di = dc' * g  (no forget gate)   or   dc' * (g - c)  (coupled: c' = c + i (g - c))
    dg = dc' * i,  dc = dc' * f  (f = 1, or 1 - i)
    """
    w_hr = cache["w_hr"]
    dm = dh_new if w_hr is None else dh_new @ w_hr
    do = dm * cache["tanh_c"]
    dc_total = dc_new + dm * cache["o"] * _dtanh(cache["tanh_c"])
    di = dc_total * (cache["g"] - cache["c"] if cache["coupled"] else cache["g"])
    dg = dc_total * cache["i"]
    dc = dc_total * cache["f"]
    da = np.concatenate([di * _dsigmoid(cache["i"]), dg * _dtanh(cache["g"]), do * _dsigmoid(cache["o"])],
                        axis=-1)
    dx, dh, grads = _linear_grads(da, da, cache)
    if w_hr is not None:
        grads["weight_hr"] = dh_new.T @ cache["m"]
    return dx, dh, dc, grads


def gru_step_backward(dh_new, cache):
    """Backward of one GRU step; returns (dx, dh, grads).

    dn = dh' (1 - z),   dz = dh' (h - n),   dh gets dh' z directly
    da_n = dn (1 - n^2)           -> input part i_n gets da_n, recurrent part h_n gets da_n * r
    dr   = da_n * h_n,  da_r = dr r (1 - r),  da_z = dz z (1 - z)  -> both input and recurrent parts
    """
    r, z, n, h = cache["r"], cache["z"], cache["n"], cache["h"]
    dn = dh_new * (1 - z)
    dz = dh_new * (h - n)
    da_n = dn * _dtanh(n)
    da_r = da_n * cache["h_n"] * _dsigmoid(r)
    da_z = dz * _dsigmoid(z)
    da_ih = np.concatenate([da_r, da_z, da_n], axis=-1)
    da_hh = np.concatenate([da_r, da_z, da_n * r], axis=-1)
    dx, dh, grads = _linear_grads(da_ih, da_hh, cache)
    return dx, dh + dh_new * z, grads


# Uniform view of the three cells for the sequence code: state is (h, c), c is None except LSTM.


def _cell_forward(mode, x, h, c, w):
    """One step of the cell of `mode` with base-named weights `w`; returns (h', c', cache)."""
    b_ih, b_hh = w.get("bias_ih"), w.get("bias_hh")
    if mode in CELL_STEPS:
        return CELL_STEPS[mode][0](x, h, c, w)
    if mode in GRU_FAMILY:
        from rnnrs.reference import cells_gru

        h_new, cache = cells_gru.step_forward(mode, x, h, w)
        return h_new, None, cache
    if mode == "LSTM":
        return lstm_step_forward(x, h, c, w["weight_ih"], w["weight_hh"], b_ih, b_hh, w.get("weight_hr"))
    if mode in LSTM_MODES:
        return lstm_variant_step_forward(x, h, c, w["weight_ih"], w["weight_hh"], b_ih, b_hh, w.get("weight_hr"),
                                         coupled=mode == "LSTM_CIFG")
    if mode == "GRU":
        h_new, cache = gru_step_forward(x, h, w["weight_ih"], w["weight_hh"], b_ih, b_hh)
    else:
        nonlinearity = "tanh" if mode == "RNN_TANH" else "relu"
        h_new, cache = elman_step_forward(x, h, w["weight_ih"], w["weight_hh"], b_ih, b_hh, nonlinearity)
    return h_new, None, cache


def _cell_backward(mode, dh_new, dc_new, cache):
    """Backward of `_cell_forward`; returns (dx, dh, dc, grads), dc None except LSTM."""
    if mode in CELL_STEPS:
        return CELL_STEPS[mode][1](dh_new, dc_new, cache)
    if mode in GRU_FAMILY:
        from rnnrs.reference import cells_gru

        dx, dh, grads = cells_gru.step_backward(mode, dh_new, cache)
        return dx, dh, None, grads
    if mode == "LSTM":
        return lstm_step_backward(dh_new, dc_new, cache)
    if mode in LSTM_MODES:
        return lstm_variant_step_backward(dh_new, dc_new, cache)
    if mode == "GRU":
        dx, dh, grads = gru_step_backward(dh_new, cache)
    else:
        dx, dh, grads = elman_step_backward(dh_new, cache)
    return dx, dh, None, grads


# ---------------------------------------------------------------------------------------------
# 3. One direction over a sequence (time-major: xs is (T, B, I)).
# ---------------------------------------------------------------------------------------------


def _time_order(T: int, reverse: bool) -> range:
    """Steps in the order the direction reads them: 0..T-1, or T-1..0 for the reverse direction."""
    return range(T - 1, -1, -1) if reverse else range(T)


def direction_forward(mode, xs, h0, c0, w, reverse=False):
    """Run one direction of one layer over the sequence.

    xs: (T, B, I); h0: (B, h_out); c0: (B, H) for LSTM else None; w: base-named weights.
    The reverse direction reads t = T-1..0; its output for step t is stored at ys[t].
    Returns (ys (T, B, h_out), h_last, c_last, step_caches indexed by t).
    """
    T, B = xs.shape[0], xs.shape[1]
    ys = np.empty((T, B, h0.shape[-1]), dtype=xs.dtype)
    caches: list[Any] = [None] * T
    h, c = h0, c0
    for t in _time_order(T, reverse):
        h, c, caches[t] = _cell_forward(mode, xs[t], h, c, w)
        ys[t] = h
    return ys, h, c, caches


def direction_backward(mode, dys, dh_last, dc_last, caches, w, reverse=False):
    """BPTT through one direction: walk the steps in the opposite order of `direction_forward`.

    At each step the state gradient is dh = dL/dh_t from the output (dys[t]) plus what flows back from
    the following step. Parameter gradients are summed over steps.
    Returns (dxs (T, B, I), dh0, dc0 (None unless LSTM), grads keyed by base name).
    """
    T = dys.shape[0]
    grads = {name: np.zeros_like(value) for name, value in w.items()}
    dxs: list[Any] = [None] * T
    dh, dc = dh_last, dc_last
    for t in reversed(_time_order(T, reverse)):
        dxs[t], dh, dc, step_grads = _cell_backward(mode, dh + dys[t], dc, caches[t])
        for name, g in step_grads.items():
            grads[name] += g
    return np.stack(dxs), dh, dc, grads


# ---------------------------------------------------------------------------------------------
# 4. Parameter names, shapes, initialisation (used by the driver's validation).
# ---------------------------------------------------------------------------------------------


def _check_mode(mode) -> str:
    if mode not in ALL_MODES:
        raise ValueError(f"mode: expected one of {', '.join(ALL_MODES)}, got {mode!r}")
    return mode


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _layer_bases(mode: str, bias: bool, proj_size: int) -> list[str]:
    """Base names of one (layer, direction) in PyTorch's order."""
    bases = list(_WEIGHTS) + (list(_BIASES) if bias else [])
    if mode in LSTM_MODES and proj_size > 0:
        bases.append(_PROJECTION)
    return bases + [base for base, _ in OWN_PARAMS.get(mode, ())]


def param_names(mode, num_layers=1, bidirectional=False, bias=True, proj_size=0) -> list[str]:
    """PyTorch `state_dict` names in torch's order.

    For each layer: weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr], then the same with
    `_reverse` when bidirectional, then the next layer.
    """
    _check_mode(mode)
    bases = _layer_bases(mode, bias, proj_size)
    directions = 2 if bidirectional else 1
    return [base + _suffix(layer, d) for layer in range(num_layers) for d in range(directions) for base in bases]


def param_shapes(mode, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True,
                 proj_size=0) -> dict[str, tuple[int, ...]]:
    """PyTorch shapes of every parameter, in `param_names` order."""
    _check_mode(mode)
    gi, gr, gb = (g * hidden_size for g in _blocks(mode))
    h_out = proj_size if (mode in LSTM_MODES and proj_size > 0) else hidden_size
    directions = 2 if bidirectional else 1
    shapes = {}
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else directions * h_out
        base_shapes = {"weight_ih": (gi, layer_input), "weight_hh": (gr, h_out),
                       "bias_ih": (gi,), "bias_hh": (gb,), "weight_hr": (proj_size, hidden_size)}
        for base, n in OWN_PARAMS.get(mode, ()):
            base_shapes[base] = (hidden_size,) if n == 1 else (n, hidden_size)
        for d in range(directions):
            for base in _layer_bases(mode, bias, proj_size):
                shapes[base + _suffix(layer, d)] = base_shapes[base]
    return shapes


def init_params(mode, input_size, hidden_size, *, num_layers=1, bidirectional=False, bias=True,
                proj_size=0, dtype=np.float64, rng) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation: every parameter uniform(-k, k), k = 1/sqrt(hidden_size).

    Drawn from `rng` (a `numpy.random.Generator`) in `param_names` order. Not bit-compatible with
    torch's generator, only the same distribution.
    """
    _check_mode(mode)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {np.dtype(dtype)}")
    _check_positive("input_size", input_size)
    _check_positive("hidden_size", hidden_size)
    _check_positive("num_layers", num_layers)
    if proj_size < 0 or (proj_size > 0 and mode not in LSTM_MODES):
        raise ValueError(f"proj_size: expected 0 (or > 0 for LSTM only), got {proj_size}")
    if proj_size >= hidden_size and proj_size > 0:
        raise ValueError(f"proj_size: expected < hidden_size ({hidden_size}), got {proj_size}")
    k = 1.0 / np.sqrt(hidden_size)
    shapes = param_shapes(mode, input_size, hidden_size, num_layers, bidirectional, bias, proj_size)
    return {name: rng.uniform(-k, k, size=shape).astype(dtype) for name, shape in shapes.items()}


def _check_positive(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


# ---------------------------------------------------------------------------------------------
# 5. The stacked / bidirectional driver.
# ---------------------------------------------------------------------------------------------


@dataclass
class ForwardCache:
    """What `rnn_backward` needs from `rnn_forward`. Treat as opaque."""

    mode: str
    num_layers: int
    directions: int
    hidden_size: int
    h_out: int
    batch_first: bool
    unbatched: bool
    dtype: np.dtype
    x_shape: tuple[int, ...]
    param_names: list[str]
    weights: dict = field(default_factory=dict)  # (layer, direction) -> base-named weights
    steps: dict = field(default_factory=dict)  # (layer, direction) -> per-step caches


def _infer_sizes(mode: str, params: Mapping[str, np.ndarray]) -> tuple[int, int, bool]:
    """(hidden_size, proj_size, bias) read from weight_hh_l0, weight_hr_l0 and bias_ih_l0."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
    if "weight_hh_l0" not in params:
        raise ValueError("params: missing 'weight_hh_l0'")
    w_hh = np.asarray(params["weight_hh_l0"])
    g = _blocks(mode)[1]
    if w_hh.ndim != 2 or w_hh.shape[0] == 0 or w_hh.shape[0] % g != 0:
        raise ValueError(f"params['weight_hh_l0']: expected shape ({g}*hidden_size, h_out) "
                         f"for mode {mode}, got {w_hh.shape}")
    hidden_size = w_hh.shape[0] // g
    proj_size = 0
    if mode in LSTM_MODES and "weight_hr_l0" in params:
        proj_size = np.shape(params["weight_hr_l0"])[0]
        if not 0 < proj_size < hidden_size:  # PyTorch's rule: 0 < proj_size < hidden_size
            raise ValueError(f"params['weight_hr_l0']: proj_size (its rows) must be in 1..{hidden_size - 1} "
                             f"(below hidden_size), got shape {np.shape(params['weight_hr_l0'])}")
    return hidden_size, proj_size, "bias_ih_l0" in params


def _check_params(params, expected: dict[str, tuple[int, ...]]) -> None:
    """Every expected name present with its shape, and nothing else."""
    for name, shape in expected.items():
        if name not in params:
            raise ValueError(f"params: missing {name!r}")
        got = np.shape(params[name])
        if got != shape:
            raise ValueError(f"params[{name!r}]: expected shape {shape}, got {got}")
    unexpected = sorted(set(params) - set(expected))
    if unexpected:
        raise ValueError(f"params: unexpected {unexpected} for this configuration "
                         f"(expected {list(expected)})")


def _float_array(name: str, a, dtype=None) -> np.ndarray:
    """`a` as a contiguous float array: of its own float dtype (dtype None) or converted to `dtype`."""
    arr = np.asarray(a)
    if dtype is None:
        if arr.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: expected a float32 or float64 array, got dtype {arr.dtype}")
        return np.ascontiguousarray(arr)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _state(name: str, s, expected: tuple[int, ...], unbatched: bool, dtype) -> np.ndarray:
    """Initial state as (D*L, B, size): zeros when None, else checked against the user-facing shape."""
    if s is None:
        return np.zeros(expected if not unbatched else expected[:1] + (1,) + expected[1:], dtype=dtype)
    arr = _float_array(name, s, dtype)
    if arr.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {arr.shape}")
    return arr[:, None, :] if unbatched else arr


def _direction_weights(params, layer: int, direction: int, bases: list[str], dtype) -> dict[str, np.ndarray]:
    """Parameters of one (layer, direction), keyed by base name ("weight_ih", ...), in the dtype of x."""
    return {base: _float_array(f"params[{base + _suffix(layer, direction)!r}]",
                               params[base + _suffix(layer, direction)], dtype)
            for base in bases}


def rnn_forward(mode, x, params, h0=None, c0=None, *, num_layers=1, bidirectional=False, batch_first=False,
                lengths=None):
    """Forward pass of a PyTorch-style stacked, optionally bidirectional RNN / LSTM / GRU.

    mode: one of MODES (LSTM_NOFORGET / LSTM_CIFG: the LSTM variants of `lstm_variant_step_forward`).
    params: PyTorch state_dict names and shapes; hidden size, proj_size and bias are read from them. x: (T, B, I), (B, T, I) if batch_first, or (T, I)
    unbatched. h0: (D*L, B, h_out) ((D*L, h_out) unbatched) or None for zeros; c0 likewise with H
    features, LSTM only.

    Row layer*D + direction of h_n / c_n is that direction's final state. The reverse direction reads
    t = T-1..0 and writes its output at step t into the last h_out features of y[t]; layer k > 0 reads
    concat(forward, reverse) of layer k-1.

    Returns (y, h_n, c_n, cache): y like x with D*h_out features, h_n like h0, c_n None unless LSTM,
    cache for `rnn_backward`.

    lengths: None, or the valid steps of each sequence ((B,) integers in 1..T, batched input only): see
    `packed_forward`.
    """
    if lengths is not None:
        from rnnrs.reference.packed import packed_forward  # packed.py builds on this module

        return packed_forward(mode, x, params, h0, c0, lengths, num_layers=num_layers,
                              bidirectional=bidirectional, batch_first=batch_first)
    mode = _check_mode(mode)
    _check_positive("num_layers", num_layers)
    directions = 2 if bidirectional else 1
    x = _float_array("x", x)
    dtype = x.dtype
    if x.ndim not in (2, 3):
        raise ValueError(f"x: expected 2-D (T, I) unbatched or 3-D (T, B, I) / (B, T, I) input, "
                         f"got shape {x.shape}")
    unbatched = x.ndim == 2
    xs = x[:, None, :] if unbatched else (x.transpose(1, 0, 2) if batch_first else x)  # time-major
    T, B, input_size = xs.shape
    if T == 0:
        raise ValueError(f"x: empty sequence (T = 0) in shape {x.shape}")

    hidden_size, proj_size, bias = _infer_sizes(mode, params)
    expected = param_shapes(mode, input_size, hidden_size, num_layers, bidirectional, bias, proj_size)
    w_ih_shape = np.shape(params.get("weight_ih_l0"))
    if len(w_ih_shape) == 2 and w_ih_shape[1] != input_size:
        raise ValueError(f"x: expected {w_ih_shape[1]} input features (weight_ih_l0's columns), "
                         f"got shape {x.shape}")
    _check_params(params, expected)
    h_out = proj_size or hidden_size

    rows = directions * num_layers
    batch = () if unbatched else (B,)
    h0 = _state("h0", h0, (rows, *batch, h_out), unbatched, dtype)
    if mode in LSTM_MODES:
        c0 = _state("c0", c0, (rows, *batch, hidden_size), unbatched, dtype)
    elif c0 is not None:
        raise ValueError(f"c0: only LSTM has a cell state, got c0 for mode {mode}")

    cache = ForwardCache(mode, num_layers, directions, hidden_size, h_out, batch_first, unbatched, dtype,
                         x.shape, list(expected))
    h_n = np.empty((rows, B, h_out), dtype=dtype)
    c_n = np.empty((rows, B, hidden_size), dtype=dtype) if mode in LSTM_MODES else None
    layer_input = xs
    for layer in range(num_layers):
        outputs = []
        for d in range(directions):
            row = layer * directions + d
            w = _direction_weights(params, layer, d, _layer_bases(mode, bias, proj_size), dtype)
            c_start = c0[row] if mode in LSTM_MODES else None
            ys, h_n[row], c_last, steps = direction_forward(mode, layer_input, h0[row], c_start, w, d == 1)
            if mode in LSTM_MODES:
                c_n[row] = c_last
            cache.weights[layer, d], cache.steps[layer, d] = w, steps
            outputs.append(ys)
        layer_input = np.concatenate(outputs, axis=-1)  # layer k+1 reads concat(forward, reverse)

    y = _to_user_layout(layer_input, batch_first, unbatched)
    if unbatched:
        h_n = h_n[:, 0]
        c_n = None if c_n is None else c_n[:, 0]
    return y, h_n, c_n, cache


def _to_user_layout(seq: np.ndarray, batch_first: bool, unbatched: bool) -> np.ndarray:
    """Time-major (T, B, F) back to what the user passed: (T, F) unbatched, (B, T, F) if batch_first."""
    if unbatched:
        return seq[:, 0]
    return np.ascontiguousarray(seq.transpose(1, 0, 2)) if batch_first else seq


def _state_grad(name: str, g, cache: ForwardCache, features: int) -> np.ndarray:
    """Incoming gradient of h_n / c_n as (D*L, B, features): zeros when None, else shape-checked."""
    rows = cache.num_layers * cache.directions
    batch = () if cache.unbatched else (cache.x_shape[0] if cache.batch_first else cache.x_shape[1],)
    return _state(name, g, (rows, *batch, features), cache.unbatched, cache.dtype)


def rnn_backward(cache, dy, dh_n=None, dc_n=None):
    """BPTT through `rnn_forward`, for loss L with dL/dy = dy, dL/dh_n = dh_n, dL/dc_n = dc_n.

    dy is shaped like y; dh_n / dc_n like h_n / c_n, or None for zeros (dc_n only for LSTM).
    Layers are processed top-down: the input gradient of layer k (summed over both directions, which
    read the same input) is the output gradient of layer k-1.
    Returns (dx like x, dh0 like h_n, dc0 like c_n or None, grads: dict keyed like params).
    """
    from rnnrs.reference.packed import PackedCache, packed_backward  # packed.py builds on this module

    if isinstance(cache, PackedCache):
        return packed_backward(cache, dy, dh_n, dc_n)
    if not isinstance(cache, ForwardCache):
        raise TypeError(f"cache: expected the cache returned by rnn_forward, got {type(cache).__name__}")
    D, H, h_out = cache.directions, cache.hidden_size, cache.h_out
    dy = _float_array("dy", dy, cache.dtype)
    y_shape = cache.x_shape[:-1] + (D * h_out,)
    if dy.shape != y_shape:
        raise ValueError(f"dy: expected shape {y_shape} (like y), got {dy.shape}")
    dh_n = _state_grad("dh_n", dh_n, cache, h_out)
    if cache.mode in LSTM_MODES:
        dc_n = _state_grad("dc_n", dc_n, cache, H)
    elif dc_n is not None:
        raise ValueError(f"dc_n: only LSTM has a cell state, got dc_n for mode {cache.mode}")

    # Gradient w.r.t. the top layer's output, time-major (T, B, D*h_out).
    d_out = dy[:, None, :] if cache.unbatched else (dy.transpose(1, 0, 2) if cache.batch_first else dy)
    dh0 = np.empty_like(dh_n)
    dc0 = np.empty_like(dc_n) if cache.mode in LSTM_MODES else None
    grads = {}
    for layer in reversed(range(cache.num_layers)):
        d_in = 0
        for d in range(D):
            row = layer * D + d
            w = cache.weights[layer, d]
            dc_last = dc_n[row] if cache.mode in LSTM_MODES else None
            dys = d_out[:, :, d * h_out:(d + 1) * h_out]
            dxs, dh0[row], dc_first, g = direction_backward(cache.mode, dys, dh_n[row], dc_last,
                                                           cache.steps[layer, d], w, d == 1)
            if cache.mode in LSTM_MODES:
                dc0[row] = dc_first
            d_in = d_in + dxs  # both directions read the same input sequence
            for base, value in g.items():
                grads[base + _suffix(layer, d)] = value
        d_out = d_in

    dx = _to_user_layout(d_out, cache.batch_first, cache.unbatched)
    if cache.unbatched:
        dh0 = dh0[:, 0]
        dc0 = None if dc0 is None else dc0[:, 0]
    return dx, dh0, dc0, {name: grads[name] for name in cache.param_names}
