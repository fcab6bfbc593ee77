"""Neural Turing Machine (Graves, Wayne & Danihelka 2014) with a recurrent (LSTM, GRU, Elman) or feed-forward
controller, forward and BPTT in Rust.

The addressing is the paper's (content by cosine similarity with key strength ``β = softplus``,
interpolation gate, circular shift over ``-shift_range..shift_range`` by a softmax, sharpening
``γ = 1 + softplus``); writes erase then add (``e = sigmoid``, ``a = tanh``); reads come from the memory
before this step's write and feed both the output and the controller's next input. The exact equations
are in the Rust module ``src/memory/ntm/`` and, as plain NumPy, in ``rnnrs.reference.memory``.

Memory initialisation (Collier & Beel 2018, "Implementing Neural Turing Machines"): the default is a
small constant (``memory_init=1e-6``), which they found the most stable; ``memory_init="learned"`` makes
the initial memory a trained parameter ``memory0``. The initial reads ``read0`` are learned, every head's
initial weighting is one-hot on slot 0, and a recurrent controller starts at zero.

Controllers: ``controller="lstm"`` (default; also ``"gru"``, ``"rnn_tanh"``, ``"rnn_relu"``,
``"lstm_noforget"``, ``"lstm_cifg"``, the cells of ``rnnrs.RNN``/``LSTM``/``GRU`` with PyTorch's parameter
names) sees ``[x_t, r_{t-1}]`` and its own state; ``controller="ff"`` is a stack of dense layers
``a_k = act(W_k a_{k-1} + b_k)`` on ``[x_t, r_{t-1}]`` (``controller_size`` a list of layer sizes,
``activation`` "tanh", "relu" or "sigmoid"), with no state of its own, so that everything the network
remembers passes through the memory (easier to interpret; it learns the copy task more slowly).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from rnnrs import _core
from rnnrs._gates import GATES

__all__ = ["NTM"]


def _int(name: str, v, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {v!r}")
    return int(v)


# Gate blocks per unit of each recurrent controller (rows of weight_ih are gates * H).
_GATES = {m.lower(): GATES[m] for m in ("LSTM", "GRU", "RNN_TANH", "RNN_RELU", "LSTM_NOFORGET", "LSTM_CIFG")}
_ACTIVATIONS = ("tanh", "relu", "sigmoid")


class NTM:
    """Neural Turing Machine with a recurrent or feed-forward controller.

    Args:
        input_size, output_size: features in and out per step (the output is logits, no activation).
        controller_size: units of a recurrent controller; for ``controller="ff"`` an int (one layer) or a
            sequence of layer sizes (the last one feeds the heads and the output).
        memory_slots (N), memory_width (M): the memory matrix.
        read_heads, write_heads: any numbers (at least one head in total).
        shift_range: the shift weighting covers offsets ``-shift_range..shift_range``
            (needs ``2 * shift_range + 1 <= memory_slots``).
        memory_init: a float (constant initial memory, default 1e-6) or ``"learned"``.
        dtype: float32 or float64. seed: initialisation.
        controller: ``"lstm"`` (default), ``"gru"``, ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm_noforget"``,
            ``"lstm_cifg"`` or ``"ff"`` (feed-forward: ``h_t = act(W [x_t, r_{t-1}] + b)``, layer by layer;
            parameters ``controller.{k}.weight``/``controller.{k}.bias``).
        activation: the feed-forward controller's layer activation, ``"tanh"`` (default), ``"relu"`` or
            ``"sigmoid"`` (must stay "tanh" for a recurrent controller).

    Module protocol as rnnrs' layers: ``y = ntm(x)`` (inference), ``y = ntm.forward(x, train=True)``,
    ``dx = ntm.backward(dy)`` (ADDS to ``ntm.grads``), ``params``/``grads`` dicts (in place, so
    ``rnnrs.optim`` optimizers and ``rnnrs.clip_grad_norm_`` work on them), ``zero_grad``, ``state_dict``.
    ``x`` is ``(T, B, I)`` time-major (``batch_first=True``: ``(B, T, I)``) or one sequence ``(T, I)``.

    Example::

        ntm = rr.NTM(9, 8, controller_size=100, memory_slots=128, memory_width=20)
        # or rr.NTM(9, 8, controller="ff", controller_size=[100], activation="tanh", ...)
        y = ntm.forward(x, train=True)                      # x (T, B, 9) float32
        dy = 1 / (1 + np.exp(-y)) - target                  # BCE-with-logits gradient
        ntm.zero_grad(); ntm.backward(dy)
        rr.clip_grad_norm_(ntm.grads, 10.0); opt.step(ntm.grads)
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        controller_size: Union[int, Sequence[int]] = 100,
        memory_slots: int = 128,
        memory_width: int = 20,
        read_heads: int = 1,
        write_heads: int = 1,
        shift_range: int = 1,
        memory_init: Union[float, str] = 1e-6,
        dtype=np.float32,
        seed: Optional[int] = 0,
        controller: str = "lstm",
        activation: str = "tanh",
    ):
        self.input_size = _int("input_size", input_size, 1)
        self.output_size = _int("output_size", output_size, 1)
        kind = controller.lower() if isinstance(controller, str) else None
        if kind != "ff" and kind not in _GATES:
            raise ValueError(f"controller: expected 'ff' or one of {sorted(_GATES)}, got {controller!r}")
        self.controller = kind
        act = activation.lower() if isinstance(activation, str) else None
        if act not in _ACTIVATIONS:
            raise ValueError(f"activation: expected one of {_ACTIVATIONS}, got {activation!r}")
        if kind != "ff" and act != "tanh":
            raise ValueError(f"activation: only for controller='ff' (the {kind} cell has its own), got {activation!r}")
        self.activation = act
        if kind == "ff" and not isinstance(controller_size, (int, np.integer)):
            sizes = list(controller_size) if isinstance(controller_size, (list, tuple)) else [controller_size]
            if not sizes:
                raise ValueError("controller_size: expected one or more layer sizes, got an empty sequence")
            self.controller_sizes = tuple(_int("controller_size", v, 1) for v in sizes)
        else:
            self.controller_sizes = (_int("controller_size", controller_size, 1),)
        # Units of h_t, what the heads and the output see.
        self.controller_size = self.controller_sizes[-1]
        self.memory_slots = _int("memory_slots", memory_slots, 1)
        self.memory_width = _int("memory_width", memory_width, 1)
        self.read_heads = _int("read_heads", read_heads, 0)
        self.write_heads = _int("write_heads", write_heads, 0)
        self.shift_range = _int("shift_range", shift_range, 0)
        if self.read_heads + self.write_heads == 0:
            raise ValueError("read_heads: expected at least one read or write head")
        if 2 * self.shift_range + 1 > self.memory_slots:
            raise ValueError(
                f"shift_range: shifts -{self.shift_range}..{self.shift_range} need at least "
                f"{2 * self.shift_range + 1} memory slots, got memory_slots={self.memory_slots}"
            )
        if isinstance(memory_init, str):
            if memory_init != "learned":
                raise ValueError(f"memory_init: expected a number or 'learned', got {memory_init!r}")
            self.memory_init: Union[float, str] = "learned"
        else:
            v = float(memory_init)
            if not math.isfinite(v):
                raise ValueError(f"memory_init: expected a finite number or 'learned', got {memory_init!r}")
            self.memory_init = v
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dt}")
        self.dtype = dt
        self.params: Dict[str, np.ndarray] = OrderedDict(
            (k, np.zeros(s, dtype=dt)) for k, s in self._shapes().items()
        )
        self.grads: Dict[str, np.ndarray] = OrderedDict((k, np.zeros_like(v)) for k, v in self.params.items())
        self._ctx = None
        self.reset_parameters(seed)

    @property
    def head_size(self) -> int:
        """Head parameters per step: ``M + S + 3`` per read head, ``3M + S + 3`` per write head."""
        s = 2 * self.shift_range + 1
        m = self.memory_width
        return self.read_heads * (m + s + 3) + self.write_heads * (3 * m + s + 3)

    def _shapes(self) -> "OrderedDict[str, tuple]":
        h, rm = self.controller_size, self.read_heads * self.memory_width
        shapes: "OrderedDict[str, tuple]" = OrderedDict()
        if self.controller == "ff":
            fan_in = self.input_size + rm
            for k, size in enumerate(self.controller_sizes):
                shapes[f"controller.{k}.weight"] = (size, fan_in)
                shapes[f"controller.{k}.bias"] = (size,)
                fan_in = size
        else:
            g = _GATES[self.controller] * h
            shapes["controller.weight_ih_l0"] = (g, self.input_size + rm)
            shapes["controller.weight_hh_l0"] = (g, h)
            shapes["controller.bias_ih_l0"] = (g,)
            shapes["controller.bias_hh_l0"] = (g,)
        shapes.update(
            [
                ("heads.weight", (self.head_size, h)),
                ("heads.bias", (self.head_size,)),
                ("output.weight", (self.output_size, h + rm)),
                ("output.bias", (self.output_size,)),
                ("read0", (self.read_heads, self.memory_width)),
            ]
        )
        if self.memory_init == "learned":
            shapes["memory0"] = (self.memory_slots, self.memory_width)
        return shapes

    def reset_parameters(self, seed: Optional[int] = None) -> None:
        """torch's initialisation: U(±1/sqrt(H)) for a recurrent controller, U(±1/sqrt(fan_in)) for the
        feed-forward controller's, the head and the output layers; ``read0`` zero; a learned ``memory0``
        U(±0.1)."""
        rng = np.random.default_rng(seed)
        h = self.controller_size
        for name, p in self.params.items():
            if name.startswith("controller.") and self.controller == "ff":
                k = int(name.split(".")[1])
                fan_in = self.params[f"controller.{k}.weight"].shape[1]
                bound = 1 / math.sqrt(fan_in)
            elif name.startswith("controller."):
                bound = 1 / math.sqrt(h)
            elif name.startswith("heads."):
                bound = 1 / math.sqrt(h)
            elif name.startswith("output."):
                bound = 1 / math.sqrt(h + self.read_heads * self.memory_width)
            elif name == "memory0":
                bound = 0.1
            else:
                p.fill(0)
                continue
            p[...] = rng.uniform(-bound, bound, size=p.shape)

    def _param_list(self):
        for k, p in self.params.items():
            if p.dtype != self.dtype or not p.flags.c_contiguous:
                raise ValueError(f"params[{k!r}]: expected a C-contiguous {self.dtype} array")
        return list(self.params.values())

    def _options(self) -> dict:
        return dict(
            output_size=self.output_size,
            controller=self.controller,
            controller_size=list(self.controller_sizes),
            activation=self.activation,
            memory_slots=self.memory_slots,
            memory_width=self.memory_width,
            read_heads=self.read_heads,
            write_heads=self.write_heads,
            shift_range=self.shift_range,
            memory_init=None if self.memory_init == "learned" else self.memory_init,
        )

    def __call__(self, x, batch_first: bool = False) -> np.ndarray:
        return self.forward(x, train=False, batch_first=batch_first)

    def forward(self, x, train: bool = True, batch_first: bool = False) -> np.ndarray:
        """Outputs (logits) for every step, shaped like `x` with `output_size` features."""
        x = np.asarray(x)
        if x.dtype != self.dtype:
            raise TypeError(f"x: expected {self.dtype} like the NTM, got {x.dtype} (cast it first)")
        if x.ndim not in (2, 3):
            raise ValueError(f"x: expected (T, B, I) or (T, I), got shape {x.shape}")
        self._unbatched = x.ndim == 2
        self._batch_first = batch_first and not self._unbatched
        xt = x[:, None, :] if self._unbatched else (x.transpose(1, 0, 2) if self._batch_first else x)
        if xt.shape[0] == 0:
            raise ValueError("x: expected a sequence of at least one step, got an empty one")
        if xt.shape[1] == 0:
            raise ValueError("x: expected a batch of at least one sequence")
        if xt.shape[2] != self.input_size:
            raise ValueError(f"x: expected {self.input_size} features (input_size), got shape {x.shape}")
        y, ctx = _core.ntm_forward(
            np.ascontiguousarray(xt), self._param_list(), train=bool(train), **self._options()
        )
        self._ctx = ctx
        return self._out(y)

    def _out(self, y: np.ndarray) -> np.ndarray:
        if self._unbatched:
            return y[:, 0, :]
        return np.ascontiguousarray(y.transpose(1, 0, 2)) if self._batch_first else y

    def backward(self, dy) -> np.ndarray:
        """BPTT through the last ``forward(train=True)``: ADDS the parameter gradients to `grads` and
        returns the input gradient (shaped like that forward's `x`)."""
        if self._ctx is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        dy = np.asarray(dy)
        if dy.dtype != self.dtype:
            raise TypeError(f"dy: expected {self.dtype}, got {dy.dtype}")
        if self._unbatched:
            if dy.ndim != 2:
                raise ValueError(f"dy: expected (T, O) like the output, got shape {dy.shape}")
            dy = dy[:, None, :]
        elif self._batch_first:
            if dy.ndim != 3:
                raise ValueError(f"dy: expected (B, T, O) like the output, got shape {dy.shape}")
            dy = dy.transpose(1, 0, 2)
        dx, grads = _core.ntm_backward(self._ctx, self._param_list(), np.ascontiguousarray(dy))
        for g, acc in zip(grads, self.grads.values()):
            acc += g
        if self._unbatched:
            return dx[:, 0, :]
        return np.ascontiguousarray(dx.transpose(1, 0, 2)) if self._batch_first else dx

    def weightings(self) -> np.ndarray:
        """Weightings of every head after each step of the last training forward,
        ``(T, B, read_heads + write_heads, N)`` float64 (read heads first)."""
        if self._ctx is None:
            raise RuntimeError("weightings: call forward(x, train=True) first")
        return self._ctx.weightings()

    def zero_grad(self) -> None:
        """Sets every accumulated gradient to zero (in place)."""
        for g in self.grads.values():
            g.fill(0)

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Copies of the parameters."""
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray]) -> None:
        """Copies the arrays into the parameters (same objects). Names and shapes must match."""
        missing = set(self.params) - set(state_dict)
        unexpected = set(state_dict) - set(self.params)
        if missing or unexpected:
            raise ValueError(f"state_dict: missing keys {sorted(missing)}, unexpected keys {sorted(unexpected)}")
        for k, p in self.params.items():
            v = np.asarray(state_dict[k])
            if v.shape != p.shape:
                raise ValueError(f"state_dict[{k!r}]: expected shape {p.shape}, got {v.shape}")
            np.copyto(p, v, casting="same_kind")

    def __repr__(self) -> str:
        if self.controller == "ff":
            ctrl = f"controller='ff', controller_size={list(self.controller_sizes)}, activation={self.activation!r}"
        else:
            ctrl = f"controller={self.controller!r}, controller_size={self.controller_size}"
        return (
            f"NTM(input_size={self.input_size}, output_size={self.output_size}, {ctrl}, "
            f"memory_slots={self.memory_slots}, "
            f"memory_width={self.memory_width}, read_heads={self.read_heads}, write_heads={self.write_heads}, "
            f"shift_range={self.shift_range}, memory_init={self.memory_init!r}, dtype={self.dtype})"
        )
