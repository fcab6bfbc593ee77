"""Training checkpoints: model, optimizer, scheduler, epoch and history in one
``.npz`` (no pickle), written atomically. Used by `rnnrs.train.fit`
(``checkpoint=``) and re-exported there as ``rnnrs.train.save_checkpoint`` /
``rnnrs.train.load_checkpoint``.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

import numpy as np

from rnnrs._npz import read_npz

__all__ = ["save_checkpoint", "load_checkpoint"]


def _as_saveable(key: str, value) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype == object:
        raise TypeError(f"checkpoint: {key!r} is not a plain number/string/array and cannot be saved without pickle")
    return a


def save_checkpoint(path, model, optimizer=None, *, epoch: int = 0, history: Optional[Mapping] = None,
                    scheduler=None) -> str:
    """Writes model parameters, optimizer state, epoch and history to an ``.npz``.

    Keys: ``model.<name>``, ``optim.<key>``, ``sched.<key>``, ``history.<key>``
    and ``epoch``. No pickle is involved. The file is written next to its
    destination and renamed, so an interrupted save never leaves half a file.
    Returns the path written (``.npz`` appended when missing).
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    arrays = {f"model.{k}": _as_saveable(k, v) for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"optim.{k}": _as_saveable(k, v) for k, v in optimizer.state_dict().items()})
    if scheduler is not None:
        arrays.update({f"sched.{k}": _as_saveable(k, v) for k, v in scheduler.state_dict().items()})
    for k, v in (history or {}).items():
        arrays[f"history.{k}"] = np.asarray(v, dtype=np.float64)
    arrays["epoch"] = np.int64(epoch)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_checkpoint(path, model, optimizer=None, *, scheduler=None) -> dict:
    """Restores a `save_checkpoint` file into ``model`` (and ``optimizer``,
    ``scheduler``); returns ``{"epoch": int, "history": dict}``.

    Never unpickles; a broken or foreign file raises `rnnrs.errors.FileFormatError`
    naming it. Continue training with
    ``fit(..., initial_epoch=ckpt["epoch"], history=ckpt["history"])``.
    """
    with read_npz(path, "an rnnrs training checkpoint (rnnrs.train.save_checkpoint)") as f:
        if "params" in f.files and "meta" in f.files:
            raise f.error("this is an ESN file (ESN.save): load it with rnnrs.ESN.load")
        parts: dict = {"model": {}, "optim": {}, "sched": {}, "history": {}}
        epoch = 0
        for key in f.files:
            if key == "epoch":
                e = f[key]
                if e.shape != () or not np.issubdtype(e.dtype, np.integer):
                    raise f.error(f"entry 'epoch' is {e.dtype} of shape {e.shape}, not an integer")
                epoch = int(e)
                continue
            group, _, name = key.partition(".")
            if group not in parts:
                raise f.error(f"unexpected entry {key!r}")
            parts[group][name] = f[key]
        if not parts["model"]:
            raise f.error("no model parameters in this file")
        if optimizer is not None and not parts["optim"]:
            raise f.error("the checkpoint holds no optimizer state")
        if scheduler is not None and not parts["sched"]:
            raise f.error("the checkpoint holds no scheduler state")
        try:
            model.load_state_dict(parts["model"])
            if optimizer is not None:
                optimizer.load_state_dict(parts["optim"])
            if scheduler is not None:
                scheduler.load_state_dict({k: v.item() for k, v in parts["sched"].items()})
        except KeyError as exc:  # missing/unexpected names: KeyError, as load_state_dict raises
            raise KeyError(f"{f.path}: the checkpoint does not fit this model ({exc.args[0]})") from exc
        except (ValueError, TypeError) as exc:
            raise f.error(f"its contents do not fit the given model/optimizer ({exc})") from exc
    history = {k: v.tolist() for k, v in parts["history"].items()}
    for k in ("epoch", "step"):
        if k in history:
            history[k] = [int(v) for v in history[k]]
    return {"epoch": epoch, "history": history}
