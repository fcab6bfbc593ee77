"""Fully online learning with RTRL: `OnlineLearner` (also ``rnnrs.rtrl.OnlineLearner``).

Every step consumes one input and updates all weights with the gradient of
this step's loss, carried forward by an `rnnrs.rtrl.RTRL` method; nothing
of the past is stored (except the last ``delay`` inputs when targets arrive
late).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from typing import Callable

import numpy as np

from rnnrs import functional, losses, modules, optim
from rnnrs.rtrl import RTRL, _as_cell, _ElemLayer

__all__ = ["OnlineLearner"]


def _mse(out, target):
    """`rnnrs.losses.mse` (mean over all elements); the target is reshaped like the output."""
    return losses.mse(out, np.asarray(target, out.dtype).reshape(out.shape))


def _cross_entropy(out, target):
    """`rnnrs.losses.cross_entropy` with class indices, one per row of the output."""
    return losses.cross_entropy(out, np.asarray(target).reshape(-1))


_LOSSES = {"mse": _mse, "cross_entropy": _cross_entropy}
_OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
               "adagrad": optim.Adagrad}
# Default learning rates per optimizer. Adam's 1e-3 (PyTorch's and Keras's
# default): with 1e-2, exact RTRL on a GRU(32) predicting a noisy sum of sines
# drifts up (MSE 0.11 -> 0.24 over 6 000 steps) where 1e-3 settles near 0.04.
_DEFAULT_LR = {"sgd": 1e-2, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}


class _GrowthMonitor:
    """Warns once when the smoothed loss climbs well above its best value:
    the usual sign of a learning rate too high for online updates."""

    WARMUP = 200        # steps before judging
    ALPHA = 0.01        # smoothing of the loss (about 100 steps)
    FACTOR = 2.0        # "well above": this many times the best smoothed loss

    def __init__(self):
        self.n = 0
        self.ema = None
        self.best = math.inf
        self.warned = False

    def update(self, loss: float, lr) -> None:
        self.n += 1
        self.ema = loss if self.ema is None else (1 - self.ALPHA) * self.ema + self.ALPHA * loss
        if self.n < self.WARMUP:
            return
        self.best = min(self.best, self.ema)
        if not self.warned and self.ema > self.FACTOR * self.best and self.ema - self.best > 1e-12:
            self.warned = True
            warnings.warn(
                f"OnlineLearner: the smoothed loss grew from {self.best:.4g} to {self.ema:.4g} "
                f"(step {self.n}); the learning rate{'' if lr is None else f' ({lr:g})'} may be too high "
                f"for online updates: try a smaller lr", RuntimeWarning, stacklevel=3)


class OnlineLearner:
    """Fully online learning: every `step` consumes one input, updates all weights.

    ``OnlineLearner(cell, readout, loss="cross_entropy", optimizer="adam", lr=None,
    method="exact", batch=1, seed=0, clip=1.0, delay=0)``.

    cell: an `rnnrs.rtrl.Cell`, `IndRNN`, `DiagRNN` or a single-layer
    unidirectional ``rnnrs.RNN/LSTM/GRU``.

    readout: a module with ``forward(h)``, ``backward(dout) -> dh`` and
    ``params``/``grads`` dicts, typically ``rnnrs.Linear(hidden, out)``; or an
    int, the number of outputs of a linear readout built here (seeded by
    ``seed``). A readout of another float dtype than the cell is converted to
    the cell's dtype (``readout.to(dtype)``; an error if an optimizer instance
    already holds its arrays).

    loss: "mse" (`rnnrs.losses.mse`, mean over all elements), "cross_entropy"
    (`rnnrs.losses.cross_entropy` with class indices) or a callable
    ``(out, target) -> (loss, dout)``.

    optimizer: one of ``rnnrs.optim``'s optimizers, given as a name ("sgd",
    "adam", "adamw", "rmsprop", "adagrad"; default "adam") or a class
    (``rnnrs.optim.Adam``), built over `params` with learning rate ``lr``
    (default: 1e-3 for Adam, AdamW and RMSprop, 1e-2 for SGD and Adagrad); or
    an instance already built over (some of) the cell's and readout's
    arrays, in which case ``lr`` is not given (arrays it does not hold stay
    fixed). If the smoothed loss grows to twice its best value after a
    warm-up, a `RuntimeWarning` says the learning rate may be too high; a
    step whose loss or gradient is not finite updates nothing and warns.

    method: an RTRL method, or "tbptt1" for truncated BPTT with truncation 1
    (the gradient through the last step only). clip: the per-step gradient
    is rescaled to at most this global norm (None: no clipping).

    delay: targets arrive this many steps after their input. ``step(x_t,
    y)`` then takes the target ``y`` of the input given ``delay`` steps
    earlier (None during the first ``delay`` steps, when there is none): the
    learner keeps the last ``delay`` inputs, runs the RTRL cell ``delay``
    steps behind, so the gradient is the exact RTRL gradient of the delayed
    loss, and computes the current prediction by running the cell ahead over
    the kept inputs without sensitivities.

    ``learner.step(x_t, y) -> loss``: one input (B, I) (or (I,) with batch 1)
    and the target that is due (None: no update; the loss returned is then
    None). ``learner.predict(x_t)``: the same step without a target: the
    state moves on, no weight changes; returns the output. The output for
    the latest input is in ``learner.output``.
    """

    def __init__(self, cell, readout, loss="cross_entropy", optimizer=None, method: str = "exact",
                 batch: int = 1, seed: int = 0, clip: float | None = 1.0, lr: float | None = None,
                 delay: int = 0):
        if isinstance(loss, str):
            if loss not in _LOSSES:
                raise ValueError(f"loss: expected one of {sorted(_LOSSES)} or a callable, got {loss!r}")
            loss = _LOSSES[loss]
        if not callable(loss):
            raise TypeError("loss: expected a name or a callable (out, target) -> (loss, dout)")
        if isinstance(delay, bool) or not isinstance(delay, (int, np.integer)) or delay < 0:
            raise ValueError(f"delay: expected an integer >= 0 (steps between an input and its target), got {delay!r}")
        self.delay = int(delay)
        self.truncated = method == "tbptt1"
        self.rtrl = RTRL(cell, "snap1" if self.truncated and not isinstance(_as_cell(cell), _ElemLayer)
                         else ("diag" if self.truncated else method), batch=batch, seed=seed)
        self.cell = self.rtrl.cell
        self.readout = self._readout(readout, seed, optimizer)
        self.loss: Callable = loss
        self.params = {**{f"cell.{k}": v for k, v in self.cell.params.items()},
                       **{f"readout.{k}": v for k, v in self.readout.params.items()}}
        self.optimizer = self._optimizer(optimizer, lr)
        # Where each of the optimizer's arrays finds its gradient (learner name, by identity).
        by_id = {id(v): k for k, v in self.params.items()}
        self._opt_names = []
        for i, p in enumerate(self.optimizer.params):
            if id(p) not in by_id:
                raise ValueError(f"optimizer: its array #{i} is not a parameter of the cell or the readout")
            self._opt_names.append(by_id[id(p)])
        self.clip = clip
        self.output = None
        self._pending: deque = deque()
        self._monitor = _GrowthMonitor()

    def _readout(self, readout, seed, optimizer):
        dtype = self.cell.dtype
        if isinstance(readout, (int, np.integer)) and not isinstance(readout, bool):
            if readout < 1:
                raise ValueError(f"readout: expected a module or a number of outputs >= 1, got {readout}")
            return modules.Linear(self.cell.hidden_size, int(readout), dtype=dtype, seed=seed)
        for name in ("forward", "backward", "params", "grads"):
            if not hasattr(readout, name):
                raise TypeError(f"readout: expected a module with forward/backward/params/grads "
                                f"(e.g. rnnrs.Linear) or a number of outputs, got {type(readout).__name__} "
                                f"without {name!r}")
        ro_dtype = np.dtype(getattr(readout, "dtype", dtype))
        if ro_dtype != dtype:
            if not hasattr(readout, "to") or isinstance(optimizer, optim.Optimizer):
                raise TypeError(f"readout: its dtype {ro_dtype} differs from the cell's {dtype}; "
                                f"build it with dtype={dtype.name}")
            readout.to(dtype)
        return readout

    def _optimizer(self, optimizer, lr):
        if isinstance(optimizer, optim.Optimizer):
            if lr is not None:
                raise ValueError("lr: give the learning rate to the optimizer instance, not to OnlineLearner")
            return optimizer
        if optimizer is None:
            optimizer = "adam"
        if isinstance(optimizer, str):
            if optimizer.lower() not in _OPTIMIZERS:
                raise ValueError(f"optimizer: expected one of {sorted(_OPTIMIZERS)}, an rnnrs.optim optimizer "
                                 f"class or instance, got {optimizer!r}")
            optimizer = _OPTIMIZERS[optimizer.lower()]
        if isinstance(optimizer, type) and issubclass(optimizer, optim.Optimizer):
            if lr is None:
                name = next((k for k, v in _OPTIMIZERS.items() if v is optimizer), "adam")
                lr = _DEFAULT_LR[name]
            self.lr = lr
            return optimizer(self.params, lr=lr)
        raise TypeError(f"optimizer: expected a name, an rnnrs.optim optimizer class or instance, "
                        f"got {type(optimizer).__name__}")

    # --- steps ---------------------------------------------------------------

    def step(self, x_t, y_t) -> float | None:
        """One online step on input x_t (B, I) and the target that is due (see
        ``delay``); returns the loss, or None when there was no target."""
        x_t = self.rtrl._x(x_t)
        if self.delay == 0:
            out = self.readout.forward(self._advance(x_t))
            loss = None if y_t is None else self._learn(out, y_t)
            self.output = out
            return loss
        self._pending.append(x_t)
        loss = None
        if len(self._pending) > self.delay:
            out = self.readout.forward(self._advance(self._pending.popleft()))
            if y_t is not None:
                loss = self._learn(out, y_t)
        elif y_t is not None:
            raise ValueError(f"y_t: with delay={self.delay} the first {self.delay} steps have no input that "
                             f"a target could belong to; pass None")
        self.output = self.readout.forward(self._run_ahead())
        return loss

    def _advance(self, x_t) -> np.ndarray:
        if self.truncated:
            self.rtrl.truncate()
        return self.rtrl.advance(x_t)

    def predict(self, x_t) -> np.ndarray:
        """The output for x_t (B, O) without updating any weight; the
        recurrent state (and the RTRL sensitivities) move on as in `step`."""
        self.step(x_t, None)
        return self.output

    def _learn(self, out, y_t) -> float:
        """Loss, RTRL gradient and one optimizer step for this step's output."""
        loss, dout = self.loss(out, y_t)
        for v in self.readout.grads.values():
            v[...] = 0
        dh = self.readout.backward(dout)
        self.rtrl.zero_grad()
        g = self.rtrl.grad(dh)
        grads = {**{f"cell.{k}": v for k, v in g.items()},
                 **{f"readout.{k}": v for k, v in self.readout.grads.items()}}
        norm = math.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in grads.values()))
        if not (math.isfinite(float(loss)) and math.isfinite(norm)):
            warnings.warn(f"OnlineLearner: the loss ({float(loss)}) or its gradient is not finite; "
                          f"this step updates nothing", RuntimeWarning, stacklevel=3)
            return float(loss)
        if self.clip is not None and norm > self.clip:
            # Per-step gradient clipping (by global norm) keeps online updates stable.
            s = self.clip / norm
            grads = {k: v * s for k, v in grads.items()}
        ordered = [grads[k] for k in self._opt_names]
        self.optimizer.step(self.optimizer.pack_grads(ordered))
        self._monitor.update(float(loss), getattr(self, "lr", None))
        return float(loss)

    def _run_ahead(self) -> np.ndarray:
        """h after the kept inputs, from the (lagged) RTRL state, without sensitivities."""
        h, c = self.rtrl.state
        if not self._pending:
            return h
        xs = np.stack(self._pending)
        cell = self.cell
        if isinstance(cell, _ElemLayer):
            return cell(xs, h)[1]
        # A layer runs in its own mode (RTRL may run a GRU variant in the padded GRU layout).
        mode = getattr(getattr(cell, "layer", None), "_cell_mode", cell.mode)
        _, h_n, _, _ = functional._forward(mode, xs, cell.params, h[None], None if c is None else c[None],
                                           1, False, False, False, False)
        return h_n[0]
