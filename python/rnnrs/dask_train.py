"""Synchronous data-parallel training on a Dask cluster (``rnnrs.dask.train``).

Every update of `rnnrs.train.fit` (full BPTT, ``tbptt=None``) becomes one
round on the cluster: the batch that ``fit`` would draw (same seed, same
order) is cut into one contiguous shard per worker; each worker rebuilds the
model from the current weights, runs forward and backward on its shard and
returns its gradient and loss; the driver adds the gradients in shard order
(a fixed order, whichever worker answers first), each weighted by its share
of the batch (the losses are means over the batch), then clips and applies one
optimizer step, and the new weights go out with the next round. The result
equals one-process ``fit`` up to the rounding of the split sums (about 1e-15
relative per step in float64; the test checks 1e-12 after several updates).

Fault tolerance: a shard's gradient is a pure function of (weights, shard),
so when a worker dies mid-round Dask reruns its task elsewhere (``retries``)
and the round completes with the same numbers: no update is lost or counted
twice. Checkpoints and resuming work as in ``fit`` (``checkpoint``,
``initial_epoch``, ``history``).

Communication per update: the weights to every worker and one gradient back
from each, ``2 · W · P · itemsize`` bytes for W workers and P parameters
(plus the data, sent once to every worker at the start).
"""

from __future__ import annotations

import copy
import time
from typing import Callable, Mapping, Optional

import numpy as np

from rnnrs.clip import clip_grad_norm_
from rnnrs.train import _batches, _check_data, _check_model, _loss_fn, _positive_int, save_checkpoint

__all__ = ["train"]


def _shard_gradient(skeleton, weights: Mapping, data, idx: np.ndarray, loss, per_step: bool, threads):
    """Runs on a worker: gradient and loss of the model with ``weights`` on
    the sequences ``idx`` of ``data`` (a copy of the model; nothing shared)."""
    import rnnrs

    if threads is not None:
        rnnrs.set_num_threads(threads)
    model = copy.deepcopy(skeleton)
    model.load_state_dict(weights)
    model.zero_grad()
    x, y = data
    xs, ys = x[:, idx], (y[:, idx] if per_step else y[idx])
    out, _ = model.forward(xs, None, train=True)
    value, dout = _loss_fn(loss)(out, ys)
    model.backward(dout, input_grad=False)
    return {k: np.array(g, copy=True) for k, g in model.grads.items()}, float(value)


def train(model, data, loss, optimizer, *, client, batch_size: Optional[int] = None, epochs: int = 1,
          clip_norm: Optional[float] = None, shuffle: bool = True, seed: Optional[int] = None,
          n_shards: Optional[int] = None, worker_threads: Optional[int] = None, retries: int = 3,
          callbacks=(), initial_epoch: int = 0, history: Optional[Mapping] = None,
          checkpoint: Optional[str] = None, on_update: Optional[Callable[[int, float], None]] = None) -> dict:
    """Trains ``model`` data-parallel on the workers of ``client``; returns
    the history (the keys of `rnnrs.train.fit`'s).

    Args:
        model: an `rnnrs.Sequential` (or a module like it) on the driver; its
            weights are updated in place.
        data: ``(inputs, targets)`` as for `rnnrs.train.fit` (time-major).
        loss: ``"mse"``, ``"cross_entropy"`` or a callable whose value is a
            mean over the batch (each shard's gradient is weighted by its size).
        optimizer: an `rnnrs.optim` optimizer on ``model.params`` (driver side).
        client: a ``dask.distributed.Client``.
        batch_size, epochs, clip_norm, shuffle, seed, callbacks,
            initial_epoch, history, checkpoint: as in `rnnrs.train.fit`
            (full BPTT only).
        n_shards: shards per batch (default: the number of workers).
        worker_threads: rnnrs threads on each worker (default: unchanged).
        retries: how often Dask reruns a shard whose worker died.
        on_update: ``f(step, loss)`` after every update (e.g. progress).
    """
    _check_model(model)
    x, y, per_step, lengths = _check_data(data, "data")
    if lengths is not None:
        raise ValueError("data: variable-length sequences (lengths) are not supported by rnnrs.dask.train yet; "
                         "pad them to one length or train with rnnrs.train.fit")
    _loss_fn(loss)  # validates the name before anything is sent
    if not hasattr(optimizer, "step"):
        raise TypeError(f"optimizer: expected an rnnrs.optim optimizer, got {type(optimizer).__name__}")
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size, allow_none=True)
    if clip_norm is not None and not float(clip_norm) > 0:
        raise ValueError(f"clip_norm: expected None or a number > 0, got {clip_norm!r}")
    workers = list(client.scheduler_info()["workers"])
    if not workers:
        raise ValueError("client: the cluster has no workers")
    n_shards = _positive_int("n_shards", n_shards if n_shards is not None else len(workers))
    callbacks = list(callbacks)

    data_f = client.scatter((x, y), broadcast=True, hash=False)
    skeleton = copy.deepcopy(model)
    skeleton.zero_grad()
    skeleton_f = client.scatter(skeleton, broadcast=True, hash=False)

    hist = {k: list(v) for k, v in (history or {}).items()}
    for k in ("epoch", "train_loss", "val_loss", "step", "time", "step_loss"):
        hist.setdefault(k, [])
    step = int(hist["step"][-1]) if hist["step"] else 0
    t0 = time.perf_counter()
    n = x.shape[1]
    for epoch in range(initial_epoch, epochs):
        rng = np.random.default_rng(None if seed is None else [int(seed), epoch])  # as fit draws batches
        total, weight = 0.0, 0
        for idx in _batches(n, batch_size, shuffle, rng):
            idx = np.arange(n) if idx is None else idx
            shards = [s for s in np.array_split(idx, n_shards) if len(s)]
            weights = model.state_dict()
            futures = [client.submit(_shard_gradient, skeleton_f, weights, data_f, s, loss, per_step,
                                     worker_threads, pure=False, retries=retries) for s in shards]
            results = client.gather(futures)
            # Fixed order: shard 0, 1, 2, ... each weighted by its share of the batch.
            model.zero_grad()
            value = 0.0
            for s, (grads, v) in zip(shards, results):
                share = len(s) / len(idx)
                for k, g in grads.items():
                    model.grads[k] += share * g
                value += share * v
            if clip_norm is not None:
                clip_grad_norm_(model.grads, clip_norm)
            optimizer.step(model.grads if getattr(optimizer, "takes_dict", True) else list(model.grads.values()))
            step += 1
            hist["step_loss"].append(value)
            total, weight = total + value * len(idx), weight + len(idx)
            if on_update is not None:
                on_update(step, value)
        elapsed = time.perf_counter() - t0
        for k, v in (("epoch", epoch + 1), ("train_loss", total / weight), ("val_loss", float("nan")),
                     ("step", step), ("time", elapsed)):
            hist[k].append(v)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch + 1, history=hist)
        logs = {"train_loss": total / weight, "val_loss": float("nan"), "step": step, "time": elapsed}
        if any([bool(cb(epoch + 1, logs)) for cb in callbacks]):
            break
    return hist
