"""Chaining modules: `Sequential`, plus the small `LastStep` readout glue.

A `Sequential` runs its modules one after the other, forward and backward.
Two kinds of modules can be chained:

- recurrent layers (`rnnrs.RNN`, `rnnrs.LSTM`, `rnnrs.GRU`): their
  ``forward(x, hx, train)`` returns ``(y, state)``; `Sequential` passes ``y``
  on and collects the final states;
- plain modules (`rnnrs.Linear`, `rnnrs.Embedding`, `LastStep`, or anything
  with ``forward(x, train) -> y`` and ``backward(dy) -> dx``).

Recurrent state is explicit: ``model.forward(x, state=None, train=True)``
returns ``(out, state)`` where ``state`` is a tuple with one entry per
recurrent layer, in order (an LSTM's entry is its ``(h, c)`` pair). Passing
that tuple to the next call continues the sequences; it is made of plain
arrays, so no gradient flows from one call into the previous one (the state
is *detached*, which is what truncated BPTT needs). ``state=None`` starts
every recurrent layer from zeros.

Parameters and gradients are gathered with dotted names, the module's index
first (``"0.weight_ih_l0"``, ``"1.weight"``), as PyTorch's ``nn.Sequential``
names them, so ``model.params`` / ``model.grads`` work directly with
`rnnrs.optim` optimizers and `rnnrs.clip_grad_norm_`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np

from rnnrs.nn import RNNBase

__all__ = ["LastStep", "Sequential"]


def is_recurrent(module) -> bool:
    """True for modules whose ``forward`` takes and returns a recurrent state:
    the `RNNBase` layers, and any module that says so with a class attribute
    ``recurrent = True`` (the Jordan, clockwork, dilated and deep-transition
    RNNs; a user's own recurrent module may do the same, see `Sequential`)."""
    return isinstance(module, RNNBase) or getattr(module, "recurrent", False) is True


def _takes_lengths(module) -> bool:
    """Whether a recurrent module's forward takes ``lengths`` (``takes_lengths = True``)."""
    return isinstance(module, RNNBase) or getattr(module, "takes_lengths", False) is True


class LastStep:
    """Selects the last time step of a sequence output: ``(T, B, H) -> (B, H)``.

    With ``batch_first=True`` the time axis is 1 (``(B, T, H) -> (B, H)``).
    Use it between a recurrent layer and a readout for many-to-one tasks;
    ``backward`` puts the gradient back at the step it took (zeros elsewhere).
    It has no parameters.

    Variable-length batches: ``forward(x, lengths=lengths)`` (`Sequential`
    passes its ``lengths`` on) takes each sequence's last valid step,
    ``lengths[b] - 1``. With ``bidirectional=True`` the second half of the
    features (a bidirectional layer's reverse direction, whose final output
    is at step 0) is taken at step 0: the result is then the layer's final
    states of both directions, ``concat(h_n forward, h_n reverse)``.
    """

    takes_lengths = True

    def __init__(self, batch_first: bool = False, bidirectional: bool = False):
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.params: dict = {}
        self.grads: dict = {}
        self._saved = None

    def __repr__(self) -> str:
        return f"LastStep(batch_first={self.batch_first}, bidirectional={self.bidirectional})"

    def __call__(self, x, lengths=None):
        return self.forward(x, train=False, lengths=lengths)

    def _steps(self, shape, lengths):
        """(last step per sequence (B,), batch indices (B,))."""
        axis = 1 if self.batch_first else 0
        t, b = shape[axis], shape[1 - axis]
        if lengths is None:
            return np.full(b, t - 1), np.arange(b)
        from rnnrs.functional import check_lengths

        return check_lengths(lengths, t, b) - 1, np.arange(b)

    def _index(self, steps, batch):
        return (batch, steps) if self.batch_first else (steps, batch)

    def forward(self, x, train: bool = True, lengths=None) -> np.ndarray:
        """The last (valid) step of ``x``, a new array ``(B, H)``."""
        x = np.asarray(x)
        axis = 1 if self.batch_first else 0
        if x.ndim < 3 and lengths is not None:
            raise ValueError(f"lengths: needs a batched sequence (T, B, H), got shape {x.shape}")
        if x.ndim < axis + 1 or x.shape[axis] == 0:
            raise ValueError(f"x: expected a sequence with a non-empty time axis {axis}, got shape {x.shape}")
        if self.bidirectional and (x.ndim < 2 or x.shape[-1] % 2):
            raise ValueError(f"x: bidirectional needs an even number of features, got shape {x.shape}")
        if x.ndim == 2 or (x.ndim < 3 and self.batch_first):
            steps, out = None, np.array(x[:, -1] if self.batch_first else x[-1])
        else:
            steps, batch = self._steps(x.shape, lengths)
            out = np.array(x[self._index(steps, batch)])
        if self.bidirectional:
            half = x.shape[-1] // 2
            first = x[:, 0] if self.batch_first else x[0]
            out[..., half:] = first[..., half:]
        self._saved = (x.shape, steps) if train else None
        return out

    def backward(self, dy) -> np.ndarray:
        """Gradient w.r.t. the whole sequence: ``dy`` at the step taken, 0 elsewhere."""
        if self._saved is None:
            raise RuntimeError("backward: call forward(x, train=True) first")
        shape, steps = self._saved
        dy = np.asarray(dy)
        want = shape[:1] + shape[2:] if self.batch_first else shape[1:]
        if dy.shape != want:
            raise ValueError(f"dy: expected shape {want}, got {dy.shape}")
        dx = np.zeros(shape, dtype=dy.dtype)
        half = shape[-1] // 2 if self.bidirectional else shape[-1]
        if steps is None:
            last = (slice(None), -1) if self.batch_first else (-1,)
            dx[last][..., :half] = dy[..., :half]
        else:
            dx[self._index(steps, np.arange(len(steps))) + (slice(0, half),)] = dy[..., :half]
        if self.bidirectional:
            first = (slice(None), 0) if self.batch_first else (0,)
            dx[first][..., half:] += dy[..., half:]
        return dx

    def zero_grad(self) -> None:
        """Nothing to clear (no parameters)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: Mapping) -> None:
        if len(state_dict):
            raise ValueError(f"state_dict: LastStep has no parameters, got keys {sorted(state_dict)}")


class Sequential:
    """Modules applied in order; forward and backward run through all of them.

    >>> model = Sequential(rnnrs.LSTM(8, 32), rnnrs.Linear(32, 4))
    >>> out, state = model.forward(x, state=None, train=True)   # x: (T, B, 8)
    >>> dx = model.backward(dout)                                 # dout: like out
    >>> optimizer = rnnrs.optim.Adam(model.params, lr=1e-3)
    >>> optimizer.step(model.grads); model.zero_grad()

    ``model(x, state)`` is the inference forward (stores nothing).

    Modules: anything with ``forward(x, train=...)``, ``backward(dy)``,
    ``params``/``grads`` and ``zero_grad()``; recurrent modules (`RNNBase`
    layers, or any class with ``recurrent = True``) take and return a state
    and get one entry of ``state`` each (see the training guide).
    """

    def __init__(self, *modules):
        if not modules:
            raise ValueError("modules: Sequential needs at least one module")
        for i, m in enumerate(modules):
            for attr in ("forward", "backward", "params", "grads"):
                if not hasattr(m, attr):
                    raise TypeError(f"modules[{i}]: {type(m).__name__} has no {attr!r} (not an rnnrs module)")
        self.modules = list(modules)
        self._recurrent = [i for i, m in enumerate(self.modules) if is_recurrent(m)]
        self._trained = False

    # --- containers -------------------------------------------------------
    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, index: int):
        return self.modules[index]

    def __iter__(self):
        return iter(self.modules)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential({inner}\n)"

    @property
    def num_states(self) -> int:
        """How many recurrent layers (entries of the state tuple) there are."""
        return len(self._recurrent)

    @property
    def params(self) -> OrderedDict:
        """Live parameter arrays by dotted name (``"<index>.<name>"``)."""
        return OrderedDict((f"{i}.{k}", v) for i, m in enumerate(self.modules) for k, v in m.params.items())

    @property
    def grads(self) -> OrderedDict:
        """Live gradient arrays by dotted name, same keys and order as `params`."""
        return OrderedDict((f"{i}.{k}", v) for i, m in enumerate(self.modules) for k, v in m.grads.items())

    def named_parameters(self):
        """``(dotted name, array)`` pairs."""
        return iter(self.params.items())

    def parameters(self) -> list:
        """The parameter arrays in order (the same objects as in `params`)."""
        return list(self.params.values())

    def zero_grad(self) -> None:
        """Sets every module's accumulated gradients to zero."""
        for m in self.modules:
            m.zero_grad()

    def state_dict(self) -> OrderedDict:
        """Copies of the parameters by dotted name (PyTorch's ``nn.Sequential`` keys)."""
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Copies arrays into the parameters, checking names and shapes.

        The copy is in place, so optimizers holding the parameter arrays keep
        updating the model; errors name the dotted key.
        """
        params = self.params
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for k, p in params.items():
            v = np.asarray(state_dict[k])
            if v.shape != p.shape:
                raise ValueError(f"state_dict[{k!r}]: expected shape {p.shape}, got {v.shape}")
            if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer)):
                raise TypeError(f"state_dict[{k!r}]: expected a real numeric array, got dtype {v.dtype}")
            np.copyto(p, v, casting="unsafe")

    # --- running ----------------------------------------------------------
    def _check_state(self, state):
        if state is None:
            return (None,) * self.num_states
        if not isinstance(state, (tuple, list)) or len(state) != self.num_states:
            raise ValueError(f"state: expected None or a tuple of {self.num_states} recurrent states "
                             f"(one per recurrent layer), got {type(state).__name__}"
                             + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else ""))
        return tuple(state)

    def _run(self, x, state, train: bool, lengths=None):
        states = self._check_state(state)
        new_states = []
        out = x
        # Chunks of a padded batch (the trainer's windows) may hold length 0:
        # those sequences have ended, their state passes through.
        empty = lengths is not None and bool(np.any(np.asarray(lengths) == 0))
        for i, m in enumerate(self.modules):
            if is_recurrent(m):
                if lengths is None:
                    kw = {}
                elif not _takes_lengths(m):
                    raise ValueError(f"lengths: module {i} ({type(m).__name__}) does not take lengths; "
                                     f"give equal-length sequences")
                elif isinstance(m, RNNBase):
                    kw = {"lengths": lengths, "_allow_empty": empty}
                else:
                    kw = {"lengths": lengths}
                hx = states[len(new_states)]
                out, s = m.forward(out, hx, train=True, **kw) if train else m(out, hx, **kw)
                new_states.append(s)
            elif lengths is not None and getattr(m, "takes_lengths", False):
                out = m.forward(out, train=train, lengths=lengths)
            else:
                out = m.forward(out, train=train)
        return out, tuple(new_states)

    def __call__(self, x, state=None, lengths=None):
        """Inference forward: ``(out, state)``; keeps nothing for backward."""
        return self._run(x, state, False, lengths)

    def forward(self, x, state=None, train: bool = True, lengths=None):
        """Forward through every module: returns ``(out, state)``.

        ``state``: None (zeros) or the tuple returned by a previous call (one
        entry per recurrent layer; detached: it carries values, not
        gradients). With ``train`` (default) every module keeps what
        `backward` needs. ``lengths`` (valid steps per sequence, see
        `rnnrs.LSTM.forward`) goes to every recurrent layer and to modules
        with ``takes_lengths = True`` (such as `LastStep`, which then takes
        each sequence's last valid step).
        """
        out, new_state = self._run(x, state, train, lengths)
        self._trained = bool(train)
        return out, new_state

    def backward(self, dout, input_grad: bool = True):
        """Backpropagates ``dout`` (gradient w.r.t. ``out``) through all modules.

        Parameter gradients are *added* into ``grads``. Returns the gradient
        w.r.t. the input ``x`` (None when the first module is an
        `rnnrs.Embedding`, whose integer input has none, or with
        ``input_grad=False``: then a first recurrent layer skips computing it,
        as torch does for data that does not require grad). No gradient is
        returned for the initial state: a carried state is a constant.
        """
        if not self._trained:
            raise RuntimeError("backward: call forward(x, state, train=True) first")
        self._trained = False
        grad = dout
        for i in range(len(self.modules) - 1, -1, -1):
            m = self.modules[i]
            if grad is None:
                raise RuntimeError(f"backward: module {i} ({type(m).__name__}) receives no gradient because "
                                   f"module {i + 1} returned None (only the first module may take indices)")
            if is_recurrent(m):
                grad, _ = m.backward(grad, input_grad=input_grad or i > 0)
            else:
                grad = m.backward(grad)
        return grad if input_grad else None

    # --- prediction ---------------------------------------------------------
    def predict_proba(self, x, lengths=None, *, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities: the softmax of the outputs (logits) over the last axis.

        ``x`` is time-major ``(T, N, ...)`` (with ``lengths`` ``(N,)`` for a
        padded batch), or a list of N sequences ``(T_i, ...)`` of any lengths,
        which are padded and given their lengths. Runs in inference mode,
        ``batch_size`` sequences at a time (all at once by default).
        """
        from rnnrs.train import pad_sequences

        if isinstance(x, (list, tuple)):
            x, lengths = pad_sequences(x)
        x = np.asarray(x)
        n = x.shape[1]
        size = n if batch_size is None else int(batch_size)
        if size < 1:
            raise ValueError(f"batch_size: expected a positive int or None, got {batch_size!r}")
        parts = []
        for s in range(0, n, size):
            lb = None if lengths is None else np.asarray(lengths)[s:s + size]
            tb = x.shape[0] if lb is None else int(np.max(lb))
            out, _ = self(x[:tb, s:s + size], None, lb)
            z = out - out.max(axis=-1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=-1, keepdims=True)
            if p.ndim >= 3 and p.shape[0] < x.shape[0]:  # per-step outputs of a shorter batch
                p = np.concatenate([p, np.zeros((x.shape[0] - p.shape[0],) + p.shape[1:], p.dtype)])
            parts.append(p)
        axis = 0 if parts[0].ndim == 2 else 1
        return np.concatenate(parts, axis=axis)

    def predict(self, x, lengths=None, *, batch_size: int | None = None) -> np.ndarray:
        """Predicted classes: the arg-max of the outputs over the last axis (see `predict_proba`)."""
        return np.argmax(self.predict_proba(x, lengths, batch_size=batch_size), axis=-1)
