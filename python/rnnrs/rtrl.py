"""Real-time recurrent learning (RTRL): gradients available at every step.

Forward-mode gradient computation for recurrent cells: the sensitivities
``M_t = dh_t/dtheta`` are carried forward, so the gradient of a loss at step t
is ``dloss/dh_t . M_t``, at once, without storing the past. Summed over a
sequence (weights fixed) it equals BPTT's gradient.

Methods
-------
``"exact"``  full sensitivities (Elman, LSTM, GRU and the layers below): O(n^2 P) time per step,
             O(n P) memory per sequence; the product ``J_t M_{t-1}`` is a GEMM.
``"snap1"``  SnAp-1: each parameter's sensitivity on its own unit only; O(P).
             Exact when the recurrence is diagonal.
``"uoro"``   UORO: an unbiased rank-one estimate, seeded; O(P).
``"diag"``   exact O(P) RTRL of the element-wise cells `IndRNN` and `DiagRNN`.

Cells: `Cell` (single-layer Elman/LSTM/GRU with PyTorch parameter names), a
single-layer unidirectional ``rnnrs.RNN/LSTM/GRU`` layer, `IndRNN`, `DiagRNN`, and
(`rnnrs.rtrl_cells`) these layers, single layer and unidirectional:

==========================  ===========================  ======================================
layer                       methods                      how
==========================  ===========================  ======================================
``rnnrs.Dilated``,          the wrapped cell's           d sensitivity sets, one per phase
one-layer ``DilatedRNN``    (exact, snap1, uoro)         ``t mod d``; the gradient sums them
``rnnrs.ClockworkRNN``      exact, snap1                 dense-Jacobian engine; only existing
                                                         ``weight_hh`` entries are parameters
``rnnrs.Jordan``            exact, snap1                 dense engine over y (h intermediate);
                                                         dloss_dh and h0 are y's
``rnnrs.LayerNormLSTM/GRU`` exact, snap1                 dense engine (LayerNorm mixes units)
``rnnrs.DeepTransitionRNN`` exact, snap1                 dense engine; the loss sees y
==========================  ===========================  ======================================

SnAp-1 on the dense engine keeps each parameter row's sensitivity on the unit(s) it feeds
directly (see ``docs/guides/rtrl.md``).
Arrays are time-major: x (T, B, I), dloss_dh (T, B, H).

Sensitivities can be large (exact RTRL on an LSTM with H=512 needs
~n*P*8 bytes per sequence); before allocating, their size is checked against
`set_memory_limit` (default 2 GiB) and a `MemoryError` stating it is raised.
"""

from __future__ import annotations


import warnings

import numpy as np

from rnnrs import _core
from rnnrs import functional as F
from rnnrs._gates import GATES

__all__ = [
    "RTRL",
    "Cell",
    "DiagRNN",
    "IndRNN",
    "OnlineLearner",
    "get_memory_limit",
    "gradient",
    "sensitivity_bytes",
    "set_memory_limit",
]

# The modes the gated-cell RTRL runs (gate counts from the one table, `rnnrs._gates`); cells with
# parameters of their own (see `rnnrs.functional`) keep them after the four torch ones, flat.
_GATES = {m: GATES[m] for m in ("RNN_TANH", "RNN_RELU", "LSTM", "GRU", "LSTM_NOFORGET", "LSTM_CIFG", "MGU",
                                 "LSTM_PEEPHOLE", "LEAKY")}
_LSTM_MODES = ("LSTM", "LSTM_NOFORGET", "LSTM_CIFG", "LSTM_PEEPHOLE")
_PT_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
_METHODS = ("exact", "snap1", "uoro", "diag")


def set_memory_limit(nbytes: int) -> None:
    """Sets the limit (bytes) on RTRL sensitivity memory (default 2 GiB)."""
    if not isinstance(nbytes, (int, np.integer)) or isinstance(nbytes, bool) or nbytes < 0:
        raise ValueError(f"nbytes: expected a non-negative integer, got {nbytes!r}")
    _core.rtrl_set_memory_limit(int(nbytes))


def get_memory_limit() -> int:
    """The limit (bytes) on RTRL sensitivity memory."""
    return _core.rtrl_get_memory_limit()


def _dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)


class _FlatParams:
    """A cell whose parameters are a dict of NumPy arrays, flattened in a fixed order."""

    mode: str
    input_size: int
    hidden_size: int
    dtype: np.dtype
    params: dict
    _names: tuple

    @property
    def n_params(self) -> int:
        return sum(self.params[k].size for k in self._names)

    def flat(self) -> np.ndarray:
        """The parameters as one contiguous vector (the order of `names`)."""
        return np.concatenate([np.ascontiguousarray(self.params[k], self.dtype).ravel() for k in self._names])

    def unflatten(self, vec: np.ndarray) -> dict:
        """Splits a flat (P,) vector into arrays named and shaped like `params`."""
        out, pos = {}, 0
        for k in self._names:
            shp = self.params[k].shape
            n = int(np.prod(shp))
            out[k] = np.asarray(vec[pos : pos + n]).reshape(shp)
            pos += n
        return out

    @property
    def names(self) -> tuple:
        return self._names


class Cell(_FlatParams):
    """A single-layer, unidirectional Elman/LSTM/GRU cell for RTRL.

    mode: "RNN_TANH", "RNN_RELU", "LSTM", "GRU", the LSTM variants
    "LSTM_NOFORGET" / "LSTM_CIFG" (gates i, g, o; see `rnnrs.LSTM`), "LSTM_PEEPHOLE" (its
    ``weight_ch_l0 (3, H)`` last in the flat vector), "LEAKY" (`rnnrs.LeakyRNN`, its
    ``alpha_logit_l0 (H,)`` last) or "MGU" (gates f, n; see `rnnrs.MGU`). ``params`` holds PyTorch's
    names and shapes (``weight_ih_l0 (G*H, I)``, ``weight_hh_l0 (G*H, H)``,
    ``bias_ih_l0``, ``bias_hh_l0``), initialised like PyTorch
    (uniform in +-1/sqrt(H)) unless given.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, dtype=np.float64, seed: int = 0,
                 params: dict | None = None):
        if mode not in _GATES:
            raise ValueError(f"mode: expected one of {sorted(_GATES)}, got {mode!r}")
        self.mode = mode
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.dtype = _dtype(dtype)
        rows = _GATES[mode] * hidden_size
        shapes = {"weight_ih_l0": (rows, input_size), "weight_hh_l0": (rows, hidden_size),
                  "bias_ih_l0": (rows,), "bias_hh_l0": (rows,)}
        for name, n in F._OWN_PARAMS.get(mode, ()):
            shapes[f"{name}_l0"] = F.own_param_shape(n, hidden_size)
        self._names = tuple(shapes)
        if params is None:
            rng = np.random.default_rng(seed)
            k = 1.0 / np.sqrt(hidden_size)
            params = {n: rng.uniform(-k, k, s) for n, s in shapes.items()}
        self.params = {}
        for n, s in shapes.items():
            if n not in params:
                raise ValueError(f"params: missing {n!r}")
            a = np.array(params[n], dtype=self.dtype)
            if a.shape != s:
                raise ValueError(f"params[{n!r}]: expected shape {s}, got {a.shape}")
            self.params[n] = a

    def __repr__(self):
        return f"Cell({self.mode!r}, input_size={self.input_size}, hidden_size={self.hidden_size}, dtype={self.dtype})"


class _ElemLayer(_FlatParams):
    """Shared code of the element-wise layers: forward, BPTT, gradients."""

    _core_name: str

    def _init(self, input_size, hidden_size, dtype, names, init):
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.dtype = _dtype(dtype)
        self._names = names
        self.params = {k: np.asarray(v, self.dtype) for k, v in init.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._cache = None

    @property
    def mode(self) -> str:
        return self._core_name

    def _x(self, x):
        x = np.ascontiguousarray(x, self.dtype)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"x: expected shape (seq_len, batch, {self.input_size}), got {x.shape}")
        return x

    def _h(self, h, batch, name):
        if h is None:
            return None
        h = np.ascontiguousarray(h, self.dtype)
        if h.shape != (batch, self.hidden_size):
            raise ValueError(f"{name}: expected shape ({batch}, {self.hidden_size}), got {h.shape}")
        return h

    def forward(self, x, h0=None, train: bool | None = None):
        """x (T, B, I), h0 (B, H) or None -> (y (T, B, H), h_n (B, H)).
        With ``train=True`` keeps what `backward` needs.

        ``train`` not given: inference, as before, with a DeprecationWarning:
        rnnrs's layers train in `forward` and infer in ``layer(x)`` (see the
        conventions guide), and this default will become ``train=True``.
        Call ``cell(x, h0)`` for inference."""
        if train is None:
            warnings.warn(f"{type(self).__name__}.forward(x) without train= infers today and will train "
                          "(train=True) like rnnrs's layers; pass train= explicitly, or call the cell "
                          "for inference", DeprecationWarning, stacklevel=2)
            train = False
        return self._run(x, h0, bool(train))

    def __call__(self, x, h0=None):
        """Inference: ``(y, h_n)``; keeps nothing."""
        return self._run(x, h0, False)

    def _run(self, x, h0, train: bool):
        x = self._x(x)
        h0 = self._h(h0, x.shape[1], "h0")
        y = _core.elem_forward(self._core_name, self.dtype.name, self.flat(), x, h0)
        self._cache = (x, h0, y, self.flat()) if train else None
        return y, y[-1].copy()

    def backward(self, dy, dh_n=None):
        """BPTT through the last ``forward(..., train=True)``: returns
        (dx (T, B, I), dh0 (B, H)) and adds the parameter gradients to `grads`."""
        if self._cache is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        x, h0, y, flat = self._cache
        dy = np.ascontiguousarray(dy, self.dtype)
        if dy.shape != y.shape:
            raise ValueError(f"dy: expected shape {y.shape}, got {dy.shape}")
        dh_n = self._h(dh_n, x.shape[1], "dh_n")
        dx, dh0, g = _core.elem_backward(self._core_name, self.dtype.name, flat, x, y, dy, h0, dh_n)
        for k, v in self.unflatten(g).items():
            self.grads[k] += v
        return dx, dh0

    def zero_grad(self) -> None:
        for v in self.grads.values():
            v[...] = 0


class IndRNN(_ElemLayer):
    """IndRNN layer: ``h_t = act(W x_t + u * h_{t-1} + b)`` (element-wise recurrence).

    params: ``weight_ih (H, I)``, ``weight_hh (H,)`` (the vector u), ``bias (H,)``.
    Usable with BPTT (`forward`/`backward`) and with exact O(P) RTRL (method "diag").
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "relu", dtype=np.float64,
                 seed: int = 0):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self._core_name = "INDRNN_TANH" if nonlinearity == "tanh" else "INDRNN_RELU"
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(_positive_int("input_size", input_size))
        h = _positive_int("hidden_size", hidden_size)
        init = {"weight_ih": rng.uniform(-k, k, (h, input_size)), "weight_hh": rng.uniform(0.0, 1.0, h),
                "bias": np.zeros(h)}
        self._init(input_size, hidden_size, dtype, ("weight_ih", "weight_hh", "bias"), init)


class DiagRNN(_ElemLayer):
    """Diagonal linear recurrent unit (real LRU-style):
    ``h_t = sigmoid(decay_logit) * h_{t-1} + W x_t + b``.

    The decay is in (0, 1) for any parameter value, so the recurrence is stable.
    params: ``weight_ih (H, I)``, ``decay_logit (H,)``, ``bias (H,)``. Decays start
    uniform in [0.5, 0.95]. BPTT via `forward`/`backward`; exact O(P) RTRL ("diag").
    """

    _core_name = "DIAG"

    def __init__(self, input_size: int, hidden_size: int, dtype=np.float64, seed: int = 0):
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(_positive_int("input_size", input_size))
        h = _positive_int("hidden_size", hidden_size)
        a = rng.uniform(0.5, 0.95, h)
        init = {"weight_ih": rng.uniform(-k, k, (h, input_size)), "decay_logit": np.log(a / (1 - a)),
                "bias": np.zeros(h)}
        self._init(input_size, hidden_size, dtype, ("weight_ih", "decay_logit", "bias"), init)



def __getattr__(name: str):
    # Old spelling, kept working with a warning.
    if name == "LRU":
        import warnings

        warnings.warn("rnnrs.rtrl.LRU is deprecated; use rnnrs.rtrl.DiagRNN", DeprecationWarning, stacklevel=2)
        return DiagRNN
    raise AttributeError(f"module 'rnnrs.rtrl' has no attribute {name!r}")


class _LayerCell(_FlatParams):
    """Adapter: a single-layer unidirectional rnnrs.RNN/LSTM/GRU layer seen as a `Cell`.
    Reads and writes the layer's own parameter arrays. (RTRL is always
    time-major, whatever the layer's ``batch_first``.)"""

    def __init__(self, layer):
        if getattr(layer, "num_layers", 1) != 1 or getattr(layer, "bidirectional", False):
            raise ValueError("cell: RTRL needs a single-layer, unidirectional layer")
        if getattr(layer, "proj_size", 0):
            raise ValueError("cell: RTRL does not support proj_size")
        # The core mode: an LSTM layer's variant, else the layer's mode.
        mode = getattr(layer, "_cell_mode", getattr(layer, "mode", None))
        if mode in ("LAYERNORM_LSTM", "LAYERNORM_GRU"):
            raise ValueError(f"cell: a {type(layer).__name__} has no RTRL (LayerNorm couples all units of a "
                             "layer); use BPTT")
        # A GRU gate variant runs as the GRU with its missing rows at zero
        # (the variant's rows are the last ones of each GRU parameter).
        self._padded = mode in ("GRU1", "GRU2", "GRU3")
        if self._padded:
            mode = "GRU"
        if mode not in _GATES:
            raise TypeError(f"cell: expected a Cell, IndRNN, DiagRNN or rnnrs.RNN/LSTM/GRU, got {type(layer).__name__}")
        self.mode = mode
        self.layer = layer
        self.params = layer.params
        for k in _PT_NAMES:
            if k not in self.params:
                raise ValueError(f"cell: the layer has no parameter {k!r} (bias=False is not supported)")
        self.input_size = int(layer.input_size)
        self.hidden_size = int(layer.hidden_size)
        self.dtype = _dtype(self.params["weight_ih_l0"].dtype)
        self._names = _PT_NAMES + tuple(f"{name}_l0" for name, _ in F._OWN_PARAMS.get(mode, ()))

    def _full_rows(self) -> int:
        return 3 * self.hidden_size

    def flat(self) -> np.ndarray:
        if not self._padded:
            return super().flat()
        parts = []
        for k in self._names:
            a = np.ascontiguousarray(self.params[k], self.dtype)
            pad = np.zeros((self._full_rows() - a.shape[0],) + a.shape[1:], self.dtype)
            parts.append(np.concatenate([pad, a]).ravel())
        return np.concatenate(parts)

    def unflatten(self, vec: np.ndarray) -> dict:
        if not self._padded:
            return super().unflatten(vec)
        out, pos = {}, 0
        for k in self._names:
            shp = self.params[k].shape
            full = (self._full_rows(),) + shp[1:]
            n = int(np.prod(full))
            out[k] = np.asarray(vec[pos : pos + n]).reshape(full)[full[0] - shp[0]:]
            pos += n
        return out


def _as_cell(cell) -> _FlatParams:
    if isinstance(cell, _FlatParams):
        return cell
    from rnnrs import rtrl_cells

    adapted = rtrl_cells.adapt(cell)
    if adapted is not None:
        return adapted
    if hasattr(cell, "params") and hasattr(cell, "hidden_size"):
        return _LayerCell(cell)
    raise TypeError(f"cell: expected a Cell, IndRNN, DiagRNN or rnnrs.RNN/LSTM/GRU, got {type(cell).__name__}")


def _check_method(cell: _FlatParams, method: str) -> str:
    if method not in _METHODS:
        raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
    if isinstance(cell, _ElemLayer):
        if method == "uoro":
            raise ValueError("method: element-wise cells use exact O(P) RTRL ('diag'); 'uoro' is not offered")
        return "diag"
    if method == "diag":
        raise ValueError("method: 'diag' is for element-wise cells (IndRNN, DiagRNN); use 'exact', 'snap1' or 'uoro'")
    return method


def sensitivity_bytes(cell, method: str = "exact", batch: int = 1) -> int:
    """Bytes of sensitivity memory `method` needs for `cell` and `batch` sequences
    (what the memory guard compares with the limit)."""
    c = _as_cell(cell)
    m = _check_method(c, method)
    if hasattr(c, "sensitivity_bytes"):  # the cells of `rnnrs.rtrl_cells`
        return int(c.sensitivity_bytes(m, _positive_int("batch", batch)))
    return int(_core.rtrl_sensitivity_bytes(c.mode, m, c.dtype.name, c.input_size, c.hidden_size,
                                            _positive_int("batch", batch)))


def _seq(a, name, dtype, shape3):
    a = np.ascontiguousarray(a, dtype)
    if a.ndim != 3 or any(s is not None and s != d for s, d in zip(shape3, a.shape)):
        want = tuple("?" if s is None else s for s in shape3)
        raise ValueError(f"{name}: expected shape {want}, got {a.shape}")
    return a


def _state_arg(a, name, dtype, batch, hidden):
    if a is None:
        return None
    a = np.ascontiguousarray(a, dtype)
    if a.shape != (batch, hidden):
        raise ValueError(f"{name}: expected shape ({batch}, {hidden}), got {a.shape}")
    return a


def gradient(cell, x, dloss_dh, h0=None, c0=None, method: str = "exact", seed: int = 0,
             memory_limit: int | None = None):
    """RTRL over a whole sequence in one call.

    x: (T, B, I); dloss_dh: (T, B, H), the gradient of the loss with respect to
    each hidden state h_t. Returns (grads, y, (h_n, c_n)): ``grads`` a dict
    named like the cell's parameters with the gradient summed over time and
    batch (for "exact"/"diag", BPTT's gradient for fixed weights), y (T, B, H),
    c_n None except for the LSTM.
    """
    c = _as_cell(cell)
    m = _check_method(c, method)
    x = _seq(x, "x", c.dtype, (None, None, c.input_size))
    t, b, _ = x.shape
    d = _seq(dloss_dh, "dloss_dh", c.dtype, (t, b, c.hidden_size))
    h0 = _state_arg(h0, "h0", c.dtype, b, c.hidden_size)
    if hasattr(c, "rtrl_gradient"):  # the cells of `rnnrs.rtrl_cells`
        return c.rtrl_gradient(m, x, d, h0, c0, int(seed), memory_limit)
    if m == "diag":
        if c0 is not None:
            raise ValueError("c0: only the LSTM has a cell state")
        g, y = _core.elem_rtrl_gradient(c.mode, c.dtype.name, c.flat(), x, d, h0)
        return c.unflatten(g), y, (y[-1].copy() if t else h0, None)
    c0 = _state_arg(c0, "c0", c.dtype, b, c.hidden_size)
    if c0 is not None and c.mode not in _LSTM_MODES:
        raise ValueError("c0: only the LSTM has a cell state")
    g, y, h_n, c_n = _core.rtrl_gradient(c.mode, m, c.dtype.name, c.flat(), x, d, h0, c0, int(seed), memory_limit)
    return c.unflatten(g), y, (h_n, c_n)


class RTRL:
    """Online RTRL over a cell, one step at a time.

    ``RTRL(cell, method="exact" | "snap1" | "uoro" | "diag", batch=1, seed=0)``.
    The cell's parameters are read at every step, so they may be updated
    between steps (online learning).

    Use either ``h, g = rtrl.step(x_t, dloss_dh_t)`` when the loss gradient is
    known before the step, or ``h = rtrl.advance(x_t)`` then
    ``g = rtrl.grad(dloss_dh_t)`` when it depends on h_t (the usual case).
    ``g`` is this step's gradient estimate as a dict named like the cell's
    parameters; it is also added to ``rtrl.grads`` (the running sum since the
    last `reset` / `zero_grad`). Summed over a sequence with fixed weights,
    the exact estimates equal BPTT's gradient.
    """

    def __init__(self, cell, method: str = "exact", batch: int = 1, seed: int = 0,
                 memory_limit: int | None = None):
        self.cell = _as_cell(cell)
        self.method = _check_method(self.cell, method)
        self.seed = int(seed)
        self.memory_limit = memory_limit
        self.reset(batch)

    def reset(self, batch: int | None = None, h0=None, c0=None) -> None:
        """Starts new sequences: state h0/c0 ((B, H) or zeros), zero sensitivities and `grads`."""
        c = self.cell
        self.batch = _positive_int("batch", self.batch if batch is None else batch)
        if hasattr(c, "new_state"):  # the cells of `rnnrs.rtrl_cells`
            self._state = c.new_state(self.method, self.batch, self.seed, self.memory_limit)
        else:
            self._state = _core.RtrlState(c.mode, self.method, c.dtype.name, c.input_size, c.hidden_size,
                                          self.batch, self.seed, self.memory_limit)
        h0 = _state_arg(h0, "h0", c.dtype, self.batch, c.hidden_size)
        c0 = _state_arg(c0, "c0", c.dtype, self.batch, c.hidden_size)
        self._state.reset(h0, c0)
        self.grads = {k: np.zeros_like(v) for k, v in c.params.items()}

    def zero_grad(self) -> None:
        """Zeroes the running gradient sum `grads`."""
        for v in self.grads.values():
            v[...] = 0

    def truncate(self) -> None:
        """Forgets the sensitivities but keeps the state: the next step's
        gradient is that of truncated BPTT with truncation 1."""
        self._state.zero_sensitivities()

    @property
    def state(self):
        """(h (B, H), c (B, H) or None)."""
        return self._state.state()

    def _x(self, x_t):
        c = self.cell
        x_t = np.ascontiguousarray(x_t, c.dtype)
        if x_t.ndim == 1 and self.batch == 1:
            x_t = x_t[None]
        if x_t.shape != (self.batch, c.input_size):
            raise ValueError(f"x_t: expected shape ({self.batch}, {c.input_size}), got {x_t.shape}")
        return x_t

    def _d(self, d):
        c = self.cell
        d = np.ascontiguousarray(d, c.dtype)
        if d.ndim == 1 and self.batch == 1:
            d = d[None]
        if d.shape != (self.batch, c.hidden_size):
            raise ValueError(f"dloss_dh_t: expected shape ({self.batch}, {c.hidden_size}), got {d.shape}")
        return d

    def _record(self, g):
        gd = self.cell.unflatten(g)
        for k, v in gd.items():
            self.grads[k] += v
        return gd

    def advance(self, x_t) -> np.ndarray:
        """Advances the state and sensitivities with x_t (B, I); returns h_t (B, H)."""
        self._state.step(self.cell.flat(), self._x(x_t), None)
        return self._state.state()[0]

    def grad(self, dloss_dh_t) -> dict:
        """The gradient estimate ``dloss_dh_t . M_t`` of the current step (dict); also added to `grads`."""
        return self._record(self._state.gradient(self._d(dloss_dh_t)))

    def step(self, x_t, dloss_dh_t=None):
        """Advances one step and returns (h_t, g_t): g_t the gradient estimate
        of ``dloss_dh_t . M_t`` (dict, also added to `grads`), or None without dloss_dh_t."""
        d = None if dloss_dh_t is None else self._d(dloss_dh_t)
        g = self._state.step(self.cell.flat(), self._x(x_t), d)
        return self._state.state()[0], (None if g is None else self._record(g))


# --- online learning (rnnrs.online; re-exported here) ------------------------

from rnnrs.online import OnlineLearner  # noqa: E402
