"""Truncated-BPTT training loop: `fit`, `evaluate` and `.npz` checkpoints.

Data layout
-----------
``data`` is a pair ``(inputs, targets)`` of time-major arrays:

- ``inputs``: ``(T, N, ...)``: N sequences of T steps (features, or token
  indices for a model starting with an `rnnrs.Embedding`);
- ``targets``: either per step, ``(T, N, ...)`` (sequence prediction,
  e.g. the next character), or per sequence, ``(N, ...)`` (many-to-one,
  e.g. a regression on the whole sequence; end the model with
  `rnnrs.LastStep` and a readout).

A batch is a group of ``batch_size`` sequences run in parallel (all N by
default). Sequences are independent, so with ``shuffle`` the batches are
drawn in a fresh seeded order every epoch; time is never reordered. A single
long stream (a text) is laid out as N parallel streams with `batchify` and
trained with the default ``batch_size=None``, so each stream is read in order
and its state is carried from chunk to chunk.

Truncated BPTT
--------------
``tbptt=k`` or ``(k1, k2)`` with ``1 <= k1 <= k2`` (Williams & Peng's
BPTT(k1, k2)): every ``k1`` steps the model takes one optimizer step whose
gradients flow back ``k2`` steps; the recurrent state is carried from one
window to the next as plain arrays (detached). ``tbptt=None`` is full BPTT
over each batch. With ``k2 > k1`` each window re-reads the ``k2 - k1`` steps
before it (their losses are not counted twice).

Variable lengths
----------------
``inputs`` may also be a list of N sequences ``(T_i, ...)`` of different
lengths: they are padded (`pad_sequences`) and every recurrent layer gets the
lengths, so padding is never computed; per-step ``targets`` are then a list
of ``(T_i, ...)`` arrays too, and per-sequence ones an array ``(N, ...)``
(with `rnnrs.LastStep`, which takes each sequence's last valid step). A
padded batch can be given as ``(inputs, targets, lengths)``. Per-step losses
leave the padded steps out (the built-in losses average over valid steps; a
callable's gradient is zeroed there). Many-to-one training with lengths
always backpropagates through whole sequences.

Losses are callables ``loss(output, target) -> (value, d_output)`` (like
`rnnrs.losses.mse`), or the names ``"cross_entropy"`` (logits ``(..., C)``
with class indices ``(...)``, see `sequence_cross_entropy`) and ``"mse"``.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from rnnrs import losses as _losses
from rnnrs.checkpoint import load_checkpoint, save_checkpoint
from rnnrs.clip import clip_grad_norm_
from rnnrs.model import Sequential, is_recurrent

__all__ = [
    "LOSSES", "ScheduledSampling", "batchify", "evaluate", "fit", "load_checkpoint", "pad_sequences",
    "save_checkpoint", "sequence_cross_entropy",
]

try:  # optional dependency: a progress bar
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None


# --- losses -----------------------------------------------------------------
def sequence_cross_entropy(logits, targets, mask=None):
    """Mean cross-entropy of logits ``(..., C)`` against class indices ``(...)``.

    Any leading layout, e.g. ``(T, B, C)`` with ``(T, B)``; returns
    ``(loss, d_logits)`` with ``d_logits`` shaped like ``logits``. ``mask``
    (booleans shaped like ``targets``, e.g. `rnnrs.losses.sequence_mask`)
    leaves the False positions out of the mean and the gradient.
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if logits.ndim < 1 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets: expected shape {logits.shape[:-1]} for logits {logits.shape}, got {targets.shape}")
    c = logits.shape[-1]
    m = None if mask is None else np.asarray(mask).reshape(-1)
    loss, grad = _losses.cross_entropy(logits.reshape(-1, c), targets.reshape(-1), mask=m)
    return loss, grad.reshape(logits.shape)


def _mse(output, target, mask=None):
    output = np.asarray(output)
    return _losses.mse(output, np.asarray(target, dtype=output.dtype), mask=mask)


LOSSES = {"cross_entropy": sequence_cross_entropy, "mse": _mse}


def _masked_loss(loss_fn, output, target, mask):
    """``loss_fn`` with padded positions (``mask`` False, shaped like the leading axes) left out."""
    if mask is None:
        return loss_fn(output, target)
    if loss_fn in LOSSES.values():
        return loss_fn(output, target, mask=mask)
    value, grad = loss_fn(output, target)
    grad = np.asarray(grad)
    return value, grad * mask.reshape(mask.shape + (1,) * (grad.ndim - mask.ndim)).astype(grad.dtype)


def _valid(lengths, start: int, end: int):
    """Mask ``(end - start, N)`` of the valid steps among ``start..end`` (None without lengths)."""
    if lengths is None:
        return None
    return np.arange(start, end)[:, None] < lengths[None, :]


def _cut(lengths, start: int, end: int):
    """The lengths seen by the steps ``start..end`` (0 for sequences ended before ``start``)."""
    return None if lengths is None else np.clip(lengths - start, 0, end - start)


def _loss_fn(loss) -> Callable:
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {sorted(LOSSES)} or a callable, got {loss!r}")
        return LOSSES[loss]
    if not callable(loss):
        raise TypeError(f"loss: expected a callable (output, target) -> (loss, d_output), got {type(loss).__name__}")
    return loss


# --- data -------------------------------------------------------------------
def batchify(tokens, n_streams: int) -> np.ndarray:
    """Lays a 1-D stream out as ``n_streams`` parallel streams, time-major.

    Returns ``(L, n_streams)`` with ``L = len(tokens) // n_streams`` (the tail
    is dropped); column j is the j-th contiguous piece of the stream. Use
    ``x, y = s[:-1], s[1:]`` for next-token prediction.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"tokens: expected a 1-D array, got shape {tokens.shape}")
    if isinstance(n_streams, bool) or not isinstance(n_streams, (int, np.integer)) or n_streams < 1:
        raise ValueError(f"n_streams: expected a positive int, got {n_streams!r}")
    length = tokens.shape[0] // n_streams
    if length < 2:
        raise ValueError(f"n_streams: {n_streams} streams leave fewer than 2 steps each of {tokens.shape[0]} tokens")
    return np.ascontiguousarray(tokens[: length * n_streams].reshape(n_streams, length).T)


def pad_sequences(sequences, value=0) -> tuple[np.ndarray, np.ndarray]:
    """Pads N sequences ``(T_i, ...)`` into a time-major batch ``(T_max, N, ...)``.

    Returns ``(batch, lengths)``; padded steps hold ``value``. Every sequence
    needs at least one step and the same trailing shape and kind of dtype.
    """
    seqs = [np.asarray(s) for s in sequences]
    if not seqs:
        raise ValueError("sequences: expected at least one sequence")
    for i, s in enumerate(seqs):
        if s.ndim < 1 or s.shape[0] == 0:
            raise ValueError(f"sequences[{i}]: expected a sequence of at least one step (T_i, ...), got shape "
                             f"{s.shape}")
        if s.shape[1:] != seqs[0].shape[1:]:
            raise ValueError(f"sequences[{i}]: expected steps of shape {seqs[0].shape[1:]} like sequences[0], "
                             f"got {s.shape[1:]}")
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    dtype = np.result_type(*seqs)
    out = np.full((int(lengths.max()), len(seqs)) + seqs[0].shape[1:], value, dtype=dtype)
    for i, s in enumerate(seqs):
        out[: s.shape[0], i] = s
    return out, lengths


def _is_sequence_list(v) -> bool:
    """A list of NumPy arrays (one sequence each), as opposed to one array-like."""
    return isinstance(v, list) and len(v) > 0 and all(isinstance(s, np.ndarray) and s.ndim >= 1 for s in v)


def _check_data(data, arg: str):
    """``(x, y, per_step, lengths)`` of ``(inputs, targets)`` or ``(inputs, targets, lengths)``."""
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise TypeError(f"{arg}: expected a pair (inputs, targets) or a triple (inputs, targets, lengths), "
                        f"got {type(data).__name__}")
    lengths = None
    if _is_sequence_list(data[0]):
        if len(data) == 3:
            raise ValueError(f"{arg}: a list of sequences carries its own lengths; pass (inputs, targets)")
        x, lengths = pad_sequences(data[0])
        if _is_sequence_list(data[1]):
            if [np.shape(s)[0] for s in data[1]] != lengths.tolist():
                raise ValueError(f"{arg}: per-step targets must have the inputs' lengths {lengths.tolist()}")
            y = pad_sequences(data[1])[0]
        else:
            y = np.asarray(data[1])
    else:
        x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim < 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{arg}: inputs must be time-major (T, N, ...) with T, N >= 1, got shape {x.shape}")
    t, n = x.shape[:2]
    if len(data) == 3:
        from rnnrs.functional import check_lengths

        lengths = check_lengths(data[2], t, n)
    per_step = y.ndim >= 2 and y.shape[:2] == (t, n)
    if not per_step and (y.ndim < 1 or y.shape[0] != n):
        raise ValueError(f"{arg}: targets must be per step (T, N, ...) = ({t}, {n}, ...) or per sequence "
                         f"(N, ...) = ({n}, ...), got shape {y.shape}")
    return x, y, per_step, lengths


def _check_tbptt(tbptt):
    if tbptt is None:
        return None
    if isinstance(tbptt, (int, np.integer)) and not isinstance(tbptt, bool):
        tbptt = (tbptt, tbptt)
    if (not isinstance(tbptt, (tuple, list)) or len(tbptt) != 2
            or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) for k in tbptt)):
        raise TypeError(f"tbptt: expected None, a chunk length k or a pair (k1, k2) of ints, got {tbptt!r}")
    k1, k2 = int(tbptt[0]), int(tbptt[1])
    if not 1 <= k1 <= k2:
        raise ValueError(f"tbptt: expected 1 <= k1 <= k2 (k1 steps per update, k2 steps of backprop), got {tbptt!r}")
    return k1, k2


def _check_model(model):
    for attr in ("forward", "backward", "params", "grads", "zero_grad", "state_dict", "num_states"):
        if not hasattr(model, attr):
            raise TypeError(f"model: expected an rnnrs.Sequential (forward(x, state, train) -> (out, state)); "
                            f"{type(model).__name__} has no {attr!r}")
    for i, m in enumerate(getattr(model, "modules", [])):
        if is_recurrent(m) and m.batch_first:
            raise ValueError(f"model: module {i} is batch_first; the trainer works on time-major (T, N, ...) data")


def _positive_int(name: str, v, allow_none: bool = False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name}: expected a positive int{' or None' if allow_none else ''}, got {v!r}")
    return int(v)


# --- scheduled sampling ------------------------------------------------------
class ScheduledSampling:
    """Scheduled sampling (Bengio et al., 2015) for next-token models.

    Teacher forcing (the default of `fit`) feeds the true previous token
    ``x[t] = y[t-1]``. With scheduled sampling, each input after the first of
    a training window is replaced, with probability ``1 - eps_i``, by the
    model's own prediction of it. The predictions come from a first
    teacher-forced inference pass over the window, then the model trains on
    the mixed inputs: the one-pass parallel variant of Duckworth et al.
    (2019), which fits chunked recurrent kernels.

    ``eps_i``, the teacher-forcing probability at update ``i``, follows
    ``schedule``: ``"inverse_sigmoid"``: ``k / (k + exp(i / k))`` (k >= 1);
    ``"exponential"``: ``k ** i`` (0 < k < 1); ``"linear"``:
    ``1 - i / k`` (k > 0); or a callable ``i -> eps``. It never goes below
    ``min_teacher``. ``to_input(outputs) -> inputs`` turns outputs into
    inputs (default: arg-max of logits, i.e. token indices; ``sample=True``
    samples from their softmax instead). Draws use
    ``numpy.random.default_rng([seed, i])``, so a run is reproducible and a
    resumed run continues the same schedule.
    """

    def __init__(self, schedule: Union[str, Callable[[int], float]] = "inverse_sigmoid", k: float = 1000.0,
                 min_teacher: float = 0.0, to_input: Optional[Callable] = None, sample: bool = False,
                 seed: int = 0):
        if isinstance(schedule, str):
            if schedule not in ("inverse_sigmoid", "exponential", "linear"):
                raise ValueError(f"schedule: expected 'inverse_sigmoid', 'exponential', 'linear' or a callable, "
                                 f"got {schedule!r}")
            k = float(k)
            ok = {"inverse_sigmoid": k >= 1.0, "exponential": 0.0 < k < 1.0, "linear": k > 0.0}[schedule]
            if not ok:
                raise ValueError(f"k: invalid value {k} for the {schedule!r} schedule")
        elif not callable(schedule):
            raise TypeError(f"schedule: expected a name or a callable, got {type(schedule).__name__}")
        if not 0.0 <= float(min_teacher) <= 1.0:
            raise ValueError(f"min_teacher: expected a probability in [0, 1], got {min_teacher!r}")
        if to_input is not None and not callable(to_input):
            raise TypeError("to_input: expected a callable outputs -> inputs")
        self.schedule, self.k, self.min_teacher = schedule, k, float(min_teacher)
        self.to_input, self.sample, self.seed = to_input, bool(sample), int(seed)

    def teacher_probability(self, step: int) -> float:
        """``eps_i``: the probability of feeding the true token at update ``step``."""
        if callable(self.schedule):
            eps = float(self.schedule(step))
        elif self.schedule == "inverse_sigmoid":
            eps = self.k / (self.k + math.exp(min(step / self.k, 700.0)))
        elif self.schedule == "exponential":
            eps = self.k ** step
        else:
            eps = 1.0 - step / self.k
        return min(1.0, max(self.min_teacher, eps))

    def _predicted_inputs(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.to_input is not None:
            return np.asarray(self.to_input(out))
        if not self.sample:
            return np.argmax(out, axis=-1)
        z = out - out.max(axis=-1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=-1, keepdims=True)
        u = rng.random(p.shape[:-1] + (1,))
        return np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1)

    def mix(self, model, x: np.ndarray, state, step: int) -> np.ndarray:
        """``x`` with inputs ``1..`` replaced by the model's predictions at the scheduled rate."""
        p_model = 1.0 - self.teacher_probability(step)
        if p_model <= 0.0 or x.shape[0] < 2:
            return x
        rng = np.random.default_rng([self.seed, int(step)])
        out, _ = model(x, state)
        pred = self._predicted_inputs(np.asarray(out[:-1]), rng)
        if pred.shape != x[1:].shape:
            raise ValueError(f"scheduled sampling: predicted inputs have shape {pred.shape}, the inputs "
                             f"{x[1:].shape}; pass to_input= mapping outputs to inputs")
        use = rng.random(x.shape[:2])[1:] < p_model
        mixed = np.array(x, copy=True)
        mixed[1:][use] = pred[use].astype(x.dtype, copy=False)
        return mixed


# --- the loops ----------------------------------------------------------------
class _Step:
    """One optimizer update from a model output's gradient."""

    def __init__(self, model, optimizer, clip_norm):
        self.model, self.optimizer, self.clip_norm = model, optimizer, clip_norm

    def __call__(self, dout) -> None:
        self.model.zero_grad()
        if isinstance(self.model, Sequential):
            self.model.backward(dout, input_grad=False)  # the data's own gradient is never used here
        else:
            self.model.backward(dout)
        if self.clip_norm is not None:
            clip_grad_norm_(self.model.grads, self.clip_norm)
        grads = self.model.grads
        # An optimizer built on model.parameters() (a list) takes the gradients as a list.
        self.optimizer.step(grads if getattr(self.optimizer, "takes_dict", True) else list(grads.values()))


def _windows(t: int, k1: int, k2: int):
    """(start, loss_start, end) of every BPTT(k1, k2) window over t steps."""
    for loss_start in range(0, t, k1):
        end = min(loss_start + k1, t)
        yield max(0, end - k2), loss_start, end


def _run(model, x, state, train, lengths):
    """``model`` over ``x``; the lengths keyword only when there are lengths."""
    kw = {} if lengths is None else {"lengths": lengths}
    return model.forward(x, state, train=True, **kw) if train else model(x, state, **kw)


def _train_batch(model, x, y, per_step, loss_fn, tb, update, sampling, step0, on_update, lengths=None):
    """Trains on one batch; returns (summed weighted loss, weight, updates).

    ``on_update(loss)`` runs after every update; when it returns True the
    batch stops there (the time limit).
    """
    t, n = x.shape[:2]
    k1, k2 = tb if tb is not None else (t, t)
    total, weight, step = 0.0, 0, step0
    if not per_step:
        # Many-to-one: the prefix only sets the state; gradients flow through the last k2 steps
        # (through whole sequences with lengths, which end at different steps).
        start = max(0, t - k2) if lengths is None else 0
        state = model(x[:start], None)[1] if start > 0 else None
        out, _ = _run(model, x[start:], state, True, lengths)
        value, dout = loss_fn(out, y)
        update(dout)
        on_update(float(value))
        return float(value) * n, n, 1
    pos, state = 0, None  # `state` is the state at step `pos`
    for start, loss_start, end in _windows(t, k1, k2):
        if start > pos:
            state = _run(model, x[pos:start], state, False, _cut(lengths, pos, start))[1]
            pos = start
        valid = _valid(lengths, loss_start, end)
        count = (end - loss_start) * n if valid is None else int(valid.sum())
        if count == 0:  # every sequence has ended: nothing to learn from this window
            continue
        xin = x[start:end] if sampling is None else sampling.mix(model, x[start:end], state, step)
        out, end_state = _run(model, xin, state, True, _cut(lengths, start, end))
        skip = loss_start - start
        value, g = _masked_loss(loss_fn, out[skip:], y[loss_start:end], valid)
        if skip:
            dout = np.zeros_like(out)
            dout[skip:] = g
        else:
            dout = g
        update(dout)
        step += 1
        total += float(value) * count
        weight += count
        if on_update(float(value)):
            break
        if max(0, min(end + k1, t) - k2) >= end:
            pos, state = end, end_state
    return total, weight, step - step0


def _correct(out, target, mask=None, wanted=True) -> int:
    """How many arg-max predictions of ``out`` (..., C) equal the class indices ``target``."""
    if not wanted:
        return 0
    out, target = np.asarray(out), np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer) or target.shape != out.shape[:-1]:
        raise ValueError(f"metrics: accuracy needs integer class targets of shape {out.shape[:-1]} for outputs "
                         f"{out.shape}, got {target.dtype} {target.shape}")
    hit = np.argmax(out, axis=-1) == target
    return int(hit.sum() if mask is None else (hit & mask).sum())


def _eval_batch(model, x, y, per_step, loss_fn, k, lengths=None, accuracy=False):
    """(summed weighted loss, weight, correct predictions) of one batch."""
    t, n = x.shape[:2]
    if not per_step:
        k = t if k is None or lengths is not None else k
        state, out = None, None
        for s in range(0, t, k):
            out, state = _run(model, x[s:s + k], state, False, lengths)
        value, _ = loss_fn(out, y)
        return float(value) * n, n, _correct(out, y, None, accuracy)
    k = t if k is None else k
    total, weight, correct, state = 0.0, 0, 0, None
    for s in range(0, t, k):
        e = min(s + k, t)
        out, state = _run(model, x[s:e], state, False, _cut(lengths, s, e))
        valid = _valid(lengths, s, e)
        count = (e - s) * n if valid is None else int(valid.sum())
        if count == 0:
            continue
        value, _ = _masked_loss(loss_fn, out, y[s:e], valid)
        total += float(value) * count
        weight += count
        correct += _correct(out, y[s:e], valid, accuracy)
    return total, weight, correct


def _batches(n: int, batch_size: Optional[int], shuffle: bool, rng):
    size = n if batch_size is None else min(batch_size, n)
    order = rng.permutation(n) if shuffle and size < n else None
    for s in range(0, n, size):
        yield None if order is None and size == n else (order[s:s + size] if order is not None
                                                        else np.arange(s, min(s + size, n)))


def _take(x, y, per_step, idx, lengths=None):
    """The batch ``idx`` (None: everything): ``(x, y, lengths)``, cut to its longest sequence."""
    if idx is not None:
        x, y = x[:, idx], (y[:, idx] if per_step else y[idx])
        lengths = None if lengths is None else lengths[idx]
    if lengths is not None:
        t = int(lengths.max())
        x, y = x[:t], (y[:t] if per_step else y)
    return x, y, lengths


_METRICS = ("accuracy",)


def evaluate(model, data, loss="mse", *, tbptt=None, batch_size: Optional[int] = None, metrics=None):
    """Mean loss of ``model`` on ``data`` in inference mode (nothing stored).

    Per-step losses are averaged over every (valid) step of every sequence,
    carrying the state across chunks of ``tbptt`` steps (only to bound
    memory; the result does not depend on it up to rounding). ``data`` as in
    `fit` (arrays, a list of variable-length sequences, or with lengths).

    With ``metrics`` (a list of names; ``"accuracy"``: the fraction of
    arg-max predictions equal to integer targets) returns a dict
    ``{"loss": ..., "accuracy": ...}`` instead of the loss alone.
    """
    _check_model(model)
    loss_fn = _loss_fn(loss)
    metrics = _check_metrics(metrics)
    x, y, per_step, lengths = _check_data(data, "data")
    tb = _check_tbptt(tbptt)
    batch_size = _positive_int("batch_size", batch_size, allow_none=True)
    total, weight, correct = 0.0, 0, 0
    for idx in _batches(x.shape[1], batch_size, False, None):
        xb, yb, lb = _take(x, y, per_step, idx, lengths)
        s, w, c = _eval_batch(model, xb, yb, per_step, loss_fn, None if tb is None else tb[0], lb,
                              metrics is not None and "accuracy" in metrics)
        total, weight, correct = total + s, weight + w, correct + c
    if metrics is None:
        return total / weight
    out = {"loss": total / weight}
    if "accuracy" in metrics:
        out["accuracy"] = correct / weight
    return out


def _check_metrics(metrics):
    if metrics is None:
        return None
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    for m in metrics:
        if m not in _METRICS:
            raise ValueError(f"metrics: expected names among {list(_METRICS)}, got {m!r}")
    return metrics


class _Progress:
    """A tqdm bar when available, otherwise a line every ~10 % of the epoch."""

    def __init__(self, enabled: bool, total: int, desc: str):
        self.enabled, self.total, self.desc, self.count = enabled, total, desc, 0
        self.bar = _tqdm(total=total, desc=desc, leave=False, file=sys.stderr) if enabled and _tqdm else None
        self.every = max(1, total // 10)

    def update(self, loss: float) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        elif self.enabled and (self.count % self.every == 0 or self.count == self.total):
            print(f"{self.desc}: {self.count}/{self.total} updates, loss {loss:.4f}", flush=True)

    def close(self, summary: str) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.enabled:
            print(summary, flush=True)


def _updates_per_epoch(t: int, n: int, batch_size, tb, per_step) -> int:
    batches = math.ceil(n / (n if batch_size is None else min(batch_size, n)))
    if not per_step or tb is None:
        return batches
    return batches * math.ceil(t / tb[0])


def fit(model, data, loss, optimizer, *, tbptt=None, clip_norm: Optional[float] = None, epochs: int = 1,
        batch_size: Optional[int] = None, shuffle: bool = True, validation=None, progress: bool = True,
        seed: Optional[int] = None, callbacks: Sequence[Callable] = (), scheduler=None,
        scheduled_sampling: Optional[ScheduledSampling] = None, initial_epoch: int = 0,
        history: Optional[Mapping] = None, checkpoint: Optional[str] = None,
        time_limit: Optional[float] = None, metrics=None, patience: Optional[int] = None,
        restore_best: bool = False, monitor: str = "val_loss") -> dict:
    """Trains ``model`` with truncated BPTT; returns the history.

    Args:
        model: an `rnnrs.Sequential` (or any module with ``forward(x, state,
            train)``, ``backward``, ``params``, ``grads``, ``zero_grad``).
        data: ``(inputs, targets)``, time-major; see the module docstring.
        loss: ``"cross_entropy"``, ``"mse"`` or ``f(output, target) -> (loss,
            d_output)``.
        optimizer: an `rnnrs.optim` optimizer built on ``model.params``.
        tbptt: None (full BPTT), ``k`` or ``(k1, k2)``.
        clip_norm: clip the global gradient norm to this before each update.
        epochs: train until this epoch count (counting ``initial_epoch``).
        batch_size: sequences per batch (None: all of them, one batch).
        shuffle: draw batches in a new seeded order each epoch (sequences are
            independent; steps within a sequence are never reordered).
        validation: optional ``(inputs, targets)`` scored after each epoch.
        progress: a tqdm bar (plain prints without tqdm); False is silent.
        seed: seeds the shuffling (per epoch, so a resumed run matches).
        callbacks: ``f(epoch, logs)`` after each epoch; returning True stops.
        scheduler: an `rnnrs.optim` LR scheduler, stepped after each epoch.
        scheduled_sampling: a `ScheduledSampling` (default: teacher forcing).
        initial_epoch, history: continue a run (see `load_checkpoint`).
        checkpoint: path of an ``.npz`` checkpoint written after each epoch.
        time_limit: stop after the first update that ends past this many
            seconds (then validate and return).
        metrics: names scored on the validation data after each epoch
            (``"accuracy"``), stored as ``val_<name>`` in the history.
        patience: early stopping: stop when ``monitor`` has not improved for
            this many epochs (needs ``validation``).
        restore_best: at the end, load the weights of the epoch with the best
            ``monitor`` value (needs ``validation``).
        monitor: ``"val_loss"`` (lower is better) or ``"val_<metric>"``
            (higher is better).

    Returns:
        ``{"epoch", "train_loss", "val_loss", "step", "time", "step_loss"}``:
        per-epoch lists (``val_loss`` NaN without validation; ``step`` is the
        cumulative update count) and the loss of every update, plus
        ``val_<metric>`` lists and ``best_epoch`` (with ``restore_best`` or
        ``patience``).
    """
    _check_model(model)
    loss_fn = _loss_fn(loss)
    metrics = _check_metrics(metrics) or []
    x, y, per_step, lengths = _check_data(data, "data")
    if validation is not None:
        validation = _check_data(validation, "validation")
        validation = (validation[0], validation[1]) + (() if validation[3] is None else (validation[3],))
    if monitor != "val_loss" and monitor.removeprefix("val_") not in metrics:
        raise ValueError(f"monitor: expected 'val_loss' or 'val_<metric>' of metrics {metrics}, got {monitor!r}")
    if patience is not None:
        patience = _positive_int("patience", patience)
    if (patience is not None or restore_best) and validation is None:
        raise ValueError("patience / restore_best: need validation data")
    if not hasattr(optimizer, "step"):
        raise TypeError(f"optimizer: expected an rnnrs.optim optimizer, got {type(optimizer).__name__}")
    tb = _check_tbptt(tbptt)
    epochs = _positive_int("epochs", epochs)
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
        raise ValueError(f"initial_epoch: expected an int >= 0, got {initial_epoch!r}")
    batch_size = _positive_int("batch_size", batch_size, allow_none=True)
    if clip_norm is not None and not float(clip_norm) > 0:
        raise ValueError(f"clip_norm: expected None or a number > 0, got {clip_norm!r}")
    if time_limit is not None and not float(time_limit) > 0:
        raise ValueError(f"time_limit: expected None or a number of seconds > 0, got {time_limit!r}")
    if scheduled_sampling is not None:
        if not isinstance(scheduled_sampling, ScheduledSampling):
            raise TypeError("scheduled_sampling: expected a rnnrs.train.ScheduledSampling")
        if not per_step:
            raise ValueError("scheduled_sampling: needs per-step targets (next-token prediction)")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks: expected callables f(epoch, logs), got {type(cb).__name__}")
    hist = {k: list(v) for k, v in (history or {}).items()}
    for k in ("epoch", "train_loss", "val_loss", "step", "time", "step_loss") + tuple(f"val_{m}" for m in metrics):
        hist.setdefault(k, [])
    sign = 1.0 if monitor == "val_loss" else -1.0  # lower is better after the sign
    best, best_state, waited = math.inf, None, 0
    step = int(hist["step"][-1]) if hist["step"] else 0
    update = _Step(model, optimizer, clip_norm)
    t0 = time.perf_counter()
    out_of_time = False
    for epoch in range(initial_epoch, epochs):
        rng = np.random.default_rng(None if seed is None else [int(seed), epoch])
        bar = _Progress(progress, _updates_per_epoch(*x.shape[:2], batch_size, tb, per_step),
                        f"epoch {epoch + 1}/{epochs}")

        def on_update(value) -> bool:
            bar.update(value)
            hist["step_loss"].append(value)
            return time_limit is not None and time.perf_counter() - t0 > time_limit

        total, weight = 0.0, 0
        for idx in _batches(x.shape[1], batch_size, shuffle, rng):
            xb, yb, lb = _take(x, y, per_step, idx, lengths)
            s, w, n_up = _train_batch(model, xb, yb, per_step, loss_fn, tb, update, scheduled_sampling, step,
                                      on_update, lb)
            total, weight, step = total + s, weight + w, step + n_up
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                out_of_time = True  # checked after every update, the batch stopped early
                break
        train_loss = total / weight
        scores = {"loss": float("nan")}
        if validation is not None:
            scores = evaluate(model, validation, loss_fn, tbptt=tb, batch_size=batch_size, metrics=metrics)
        val_loss = scores["loss"]
        for m in metrics:
            hist[f"val_{m}"].append(scores.get(m, float("nan")))
        if scheduler is not None:
            scheduler.step()
        elapsed = time.perf_counter() - t0
        for k, v in (("epoch", epoch + 1), ("train_loss", train_loss), ("val_loss", val_loss), ("step", step),
                     ("time", elapsed)):
            hist[k].append(v)
        bar.close(f"epoch {epoch + 1}/{epochs}: train loss {train_loss:.4f}"
                  + (f", validation loss {val_loss:.4f}" if validation is not None else "")
                  + f" ({elapsed:.1f} s)")
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch + 1, history=hist, scheduler=scheduler)
        logs = {"train_loss": train_loss, "val_loss": val_loss, "step": step, "time": elapsed}
        logs.update({f"val_{m}": scores.get(m) for m in metrics})
        stop = [bool(cb(epoch + 1, logs)) for cb in callbacks]
        if validation is not None and (patience is not None or restore_best):
            value = sign * float(logs[monitor])
            if value < best:
                best, waited = value, 0
                best_state = model.state_dict()
                hist["best_epoch"] = epoch + 1
            else:
                waited += 1
            if patience is not None and waited >= patience:
                stop.append(True)
        if any(stop) or out_of_time:
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return hist
