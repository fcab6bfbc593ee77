"""Optimizers with PyTorch's update rules, updating NumPy arrays in place.

`params` is a list of arrays or a dict ``name -> array`` (e.g. a layer's
``params``); ``opt.step(grads)`` takes the gradients in the same structure
(``None`` entries are skipped, as torch skips parameters without a gradient).
The arithmetic runs in the Rust core, in parallel over blocks of elements,
with the GIL released. There is one parameter group; its hyper-parameters
are attributes of ``opt.hyper`` and ``opt.lr`` is what schedulers change.

``state_dict()`` is a flat dict of NumPy arrays and scalars, so
``np.savez(path, **opt.state_dict())`` and
``opt.load_state_dict(dict(np.load(path)))`` round-trip it.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from rnnrs import _core

Params = Union[np.ndarray, Sequence[np.ndarray], Mapping[str, np.ndarray]]

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def _named(params: Params, arg: str) -> Tuple[List[str], List[np.ndarray], bool]:
    """(names, arrays, is_dict) of a parameter or gradient container."""
    if isinstance(params, np.ndarray):
        return ["0"], [params], False
    if isinstance(params, Mapping):
        return [str(k) for k in params.keys()], list(params.values()), True
    if isinstance(params, (list, tuple)):
        return [str(i) for i in range(len(params))], list(params), False
    raise TypeError(
        f"{arg}: expected an array, a list of arrays or a dict of arrays, got {type(params).__name__}"
    )


def _check_param(name: str, p) -> None:
    if not isinstance(p, np.ndarray):
        raise TypeError(f"params[{name!r}]: expected a NumPy array, got {type(p).__name__}")
    if p.dtype not in (np.float32, np.float64):
        raise TypeError(f"params[{name!r}]: expected float32 or float64, got {p.dtype}")
    if not p.flags.c_contiguous or not p.flags.writeable:
        raise ValueError(f"params[{name!r}]: in-place updates need a C-contiguous, writeable array")


class Optimizer:
    """Base class: parameter bookkeeping, grouping and state (de)serialisation.

    Subclasses name their state buffers in `_buffers` (the Rust slot order)
    and implement `_update(dtype, indices, grads)` for one group of
    parameters sharing a dtype and a step count.
    """

    _buffers: Tuple[str, ...] = ()

    def __init__(self, params: Params, **hyper):
        names, arrays, self._is_dict = _named(params, "params")
        if not arrays:
            raise ValueError("params: the optimizer got an empty parameter list")
        seen = set()
        for name, p in zip(names, arrays):
            _check_param(name, p)
            if id(p) in seen:
                raise ValueError(f"params[{name!r}]: the same array appears twice")
            seen.add(id(p))
        self.names = names
        self.params = arrays
        self.hyper = hyper
        # Per parameter: {"step": int, buffer name: array}; empty until its first step.
        self.state: List[Dict[str, object]] = [{} for _ in arrays]

    @property
    def takes_dict(self) -> bool:
        """Whether `step` takes its gradients as a dict (the parameters were a
        dict) rather than a list in the parameters' order."""
        return self._is_dict

    def pack_grads(self, grads_in_order: Sequence[np.ndarray]) -> Params:
        """Gradients listed in the parameters' order (see `names`), in the
        container `step` takes."""
        grads = list(grads_in_order)
        if len(grads) != len(self.params):
            raise ValueError(f"grads_in_order: expected {len(self.params)} arrays, got {len(grads)}")
        return dict(zip(self.names, grads)) if self._is_dict else grads

    @property
    def lr(self) -> float:
        """The learning rate (what schedulers update)."""
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        value = float(value)
        if not value >= 0.0:
            raise ValueError(f"lr: expected a number >= 0, got {value}")
        self.hyper["lr"] = value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({len(self.params)} arrays, {args})"

    def _grads(self, grads: Params) -> List[Optional[np.ndarray]]:
        """Gradients in the parameters' order, checked and made contiguous."""
        if self._is_dict:
            if not isinstance(grads, Mapping):
                raise TypeError(
                    "grads: the parameters were a dict, so grads must be a dict with the same keys"
                )
            unknown = set(map(str, grads.keys())) - set(self.names)
            if unknown:
                raise ValueError(f"grads: unknown parameter names {sorted(unknown)}")
            by_name = {str(k): v for k, v in grads.items()}
            raw = [by_name.get(n) for n in self.names]
        else:
            _, raw, is_dict = _named(grads, "grads")
            if is_dict:
                raise TypeError(
                    "grads: the parameters were a list, so grads must be a list in the same order"
                )
            if len(raw) != len(self.params):
                raise ValueError(f"grads: expected {len(self.params)} arrays, got {len(raw)}")
        out: List[Optional[np.ndarray]] = []
        for name, p, g in zip(self.names, self.params, raw):
            if g is None:
                out.append(None)
                continue
            g = np.asarray(g)
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{name!r}]: expected shape {p.shape} like its parameter, got {g.shape}"
                )
            if not np.issubdtype(g.dtype, np.floating):
                raise TypeError(f"grads[{name!r}]: expected a float array, got {g.dtype}")
            g = np.ascontiguousarray(g, dtype=p.dtype)
            if np.may_share_memory(g, p):  # the update writes p while reading g
                g = g.copy()
            out.append(g)
        return out

    def _new_state(self, i: int) -> Dict[str, object]:
        """Fresh state of parameter i (zero buffers, step 0)."""
        p = self.params[i]
        st: Dict[str, object] = {"step": 0}
        for b in self._active_buffers():
            st[b] = np.zeros_like(p)
        return st

    def _active_buffers(self) -> Tuple[str, ...]:
        return self._buffers

    def step(self, grads: Params) -> None:
        """Applies one update with `grads` (same structure as the params)."""
        gs = self._grads(grads)
        groups: Dict[tuple, List[int]] = {}
        for i, g in enumerate(gs):
            if g is None:
                continue
            if not self.state[i]:
                self.state[i] = self._new_state(i)
            self.state[i]["step"] = int(self.state[i]["step"]) + 1
            key = (self.params[i].dtype.str, self._group_key(i))
            groups.setdefault(key, []).append(i)
        done: set = set()
        try:
            for (dtype, _), idx in groups.items():
                self._update(np.dtype(dtype), idx, [gs[i] for i in idx])
                done.update(idx)
        except BaseException:
            # Parameters whose update did not happen keep their step count.
            for idx in groups.values():
                for i in idx:
                    if i not in done:
                        self.state[i]["step"] = int(self.state[i]["step"]) - 1
            raise

    def _group_key(self, i: int):
        return self.state[i]["step"]

    def _update(self, dtype: np.dtype, idx: List[int], grads: List[np.ndarray]) -> None:
        raise NotImplementedError

    def _buffer_list(self, idx: List[int], name: str) -> list:
        """The buffer `name` of the parameters `idx` ([] when not in use)."""
        if name not in self._active_buffers():
            return []
        return [self.state[i][name] for i in idx]

    # -- serialisation -------------------------------------------------

    def state_dict(self) -> Dict[str, object]:
        """Flat dict: ``optimizer``, ``hyper.<name>``, ``state.<param>.<buffer>``.

        Arrays are copies; everything round-trips through ``np.savez``.
        """
        sd: Dict[str, object] = {"optimizer": type(self).__name__}
        for k, v in self.hyper.items():
            sd[f"hyper.{k}"] = v
        for name, st in zip(self.names, self.state):
            for k, v in st.items():
                if v is None:
                    continue
                sd[f"state.{name}.{k}"] = v.copy() if isinstance(v, np.ndarray) else v
        return sd

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
        """Restores hyper-parameters and state saved by `state_dict` (also after
        a ``np.savez`` / ``np.load`` round trip)."""
        kind = state_dict.get("optimizer")
        if kind is None or str(np.asarray(kind)) != type(self).__name__:
            raise ValueError(f"state_dict: expected the state of a {type(self).__name__}, got {kind!r}")
        hyper = dict(self.hyper)
        for key, v in state_dict.items():
            if key.startswith("hyper."):
                k = key[len("hyper.") :]
                if k not in hyper:
                    raise ValueError(f"state_dict: unknown hyper-parameter {k!r}")
                hyper[k] = _like(hyper[k], v, key)
        index = {n: i for i, n in enumerate(self.names)}
        state: List[Dict[str, object]] = [{} for _ in self.params]
        allowed = set(self._buffers) | {"step"}
        for key, v in state_dict.items():
            if not key.startswith("state."):
                continue
            name, _, buf = key[len("state.") :].rpartition(".")
            if name not in index:
                raise ValueError(f"state_dict: {key!r} names no parameter of this optimizer")
            if buf not in allowed:
                raise ValueError(f"state_dict: unknown state buffer {buf!r} in {key!r}")
            i = index[name]
            if buf == "step":
                step = _real_array(v, key)
                if step.shape != () or step.dtype.kind == "f" and not float(step).is_integer() or step < 0:
                    raise ValueError(f"state_dict: {key!r}: expected a step count >= 0, got {v!r}")
                state[i]["step"] = int(step)
            else:
                a = _real_array(v, key)
                if a.shape != self.params[i].shape:
                    raise ValueError(
                        f"state_dict: {key!r} has shape {a.shape}, its parameter {self.params[i].shape}"
                    )
                state[i][buf] = np.array(a, dtype=self.params[i].dtype, order="C", copy=True)
        self.hyper = hyper
        self.state = state
        # A parameter whose state lacks a buffer now in use gets it zero-filled.
        for i, st in enumerate(self.state):
            if st:
                st.setdefault("step", 0)
                for b in self._active_buffers():
                    if b not in st:
                        st[b] = np.zeros_like(self.params[i])


def _like(template, value, key: str = "value"):
    """`value` (possibly a 0-d / 1-d array from np.load) as `template`'s type,
    or a ValueError naming `key` and what was expected."""
    if not isinstance(template, (bool, tuple, int, float)):
        return value
    a = _real_array(value, key)
    if isinstance(template, tuple):
        if a.size != len(template):
            raise ValueError(f"state_dict: {key!r}: expected {len(template)} numbers, got shape {a.shape}")
        return tuple(float(x) for x in a.reshape(-1))
    if a.shape != ():
        raise ValueError(f"state_dict: {key!r}: expected a number, got shape {a.shape}")
    return bool(a) if isinstance(template, bool) else float(a)


def _real_array(value, key: str) -> np.ndarray:
    """`value` as a real (bool, integer or float) array, or a ValueError naming `key`."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"state_dict: {key!r}: expected real numbers, got {type(value).__name__} of dtype {a.dtype}")
    return a


def _nonneg(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0.0:
        raise ValueError(f"{name}: expected a number >= 0, got {value}")
    return value


def _betas(betas) -> Tuple[float, float]:
    b = tuple(float(x) for x in betas)
    if len(b) != 2 or not all(0.0 <= x < 1.0 for x in b):
        raise ValueError(f"betas: expected two numbers in [0, 1), got {betas!r}")
    return b  # type: ignore[return-value]


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD``.

    With momentum, the first step sets the buffer to the gradient (no
    dampening), later steps ``buf = momentum*buf + (1-dampening)*g``;
    Nesterov uses ``g + momentum*buf``. ``weight_decay`` adds ``wd*p`` to g.
    """

    _buffers = ("momentum_buffer",)

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov: Nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(
            params,
            lr=_nonneg("lr", lr),
            momentum=_nonneg("momentum", momentum),
            dampening=float(dampening),
            weight_decay=_nonneg("weight_decay", weight_decay),
            nesterov=bool(nesterov),
            maximize=bool(maximize),
        )

    def _active_buffers(self):
        return self._buffers if self.hyper["momentum"] != 0 else ()

    def _new_state(self, i):
        return {"step": 0}  # the momentum buffer is born at the first step

    def _group_key(self, i):
        return "momentum_buffer" in self.state[i]

    def _update(self, dtype, idx, grads):
        h = self.hyper
        with_buf = h["momentum"] != 0
        first = with_buf and "momentum_buffer" not in self.state[idx[0]]
        if first:
            for i in idx:
                self.state[i]["momentum_buffer"] = np.zeros_like(self.params[i])
        bufs = [self.state[i]["momentum_buffer"] for i in idx] if with_buf else []
        _core._sgd_step(
            [self.params[i] for i in idx],
            grads,
            bufs,
            first=first,
            lr=h["lr"],
            momentum=h["momentum"],
            dampening=h["dampening"],
            nesterov=h["nesterov"],
            weight_decay=h["weight_decay"],
            maximize=h["maximize"],
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba), ``torch.optim.Adam``, with optional AMSGrad.

    ``weight_decay`` is L2 (added to the gradient); see `AdamW` for the
    decoupled form. Update: ``p -= lr/(1-b1^k) * m / (sqrt(v)/sqrt(1-b2^k) + eps)``
    with ``v`` replaced by its running maximum under amsgrad.
    """

    _buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr=_nonneg("lr", lr),
            betas=_betas(betas),
            eps=_nonneg("eps", eps),
            weight_decay=_nonneg("weight_decay", weight_decay),
            amsgrad=bool(amsgrad),
            maximize=bool(maximize),
        )

    def _active_buffers(self):
        return self._buffers if self.hyper["amsgrad"] else self._buffers[:2]

    def _update(self, dtype, idx, grads):
        h = self.hyper
        _core._adam_step(
            [self.params[i] for i in idx],
            grads,
            self._buffer_list(idx, "exp_avg"),
            self._buffer_list(idx, "exp_avg_sq"),
            self._buffer_list(idx, "max_exp_avg_sq"),
            step=int(self.state[idx[0]]["step"]),
            lr=h["lr"],
            beta1=h["betas"][0],
            beta2=h["betas"][1],
            eps=h["eps"],
            weight_decay=h["weight_decay"],
            amsgrad=h["amsgrad"],
            maximize=h["maximize"],
            decoupled=self._decoupled,
        )


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter), ``torch.optim.AdamW``: decoupled weight
    decay ``p *= 1 - lr*weight_decay`` before the Adam update (default 0.01)."""

    _decoupled = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop (Hinton), ``torch.optim.RMSprop``: ``v = alpha*v + (1-alpha)*g^2``,
    ``p -= lr * g / (sqrt(v) + eps)``; ``centered`` subtracts the squared mean
    gradient from v; ``momentum`` keeps a buffer of the scaled steps."""

    _buffers = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr=_nonneg("lr", lr),
            alpha=_nonneg("alpha", alpha),
            eps=_nonneg("eps", eps),
            weight_decay=_nonneg("weight_decay", weight_decay),
            momentum=_nonneg("momentum", momentum),
            centered=bool(centered),
            maximize=bool(maximize),
        )

    def _active_buffers(self):
        out = ["square_avg"]
        if self.hyper["momentum"] > 0:
            out.append("momentum_buffer")
        if self.hyper["centered"]:
            out.append("grad_avg")
        return tuple(out)

    def _update(self, dtype, idx, grads):
        h = self.hyper
        _core._rmsprop_step(
            [self.params[i] for i in idx],
            grads,
            self._buffer_list(idx, "square_avg"),
            self._buffer_list(idx, "momentum_buffer"),
            self._buffer_list(idx, "grad_avg"),
            lr=h["lr"],
            alpha=h["alpha"],
            eps=h["eps"],
            weight_decay=h["weight_decay"],
            momentum=h["momentum"],
            centered=h["centered"],
            maximize=h["maximize"],
        )


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), ``torch.optim.Adagrad``: ``sum += g^2``,
    ``p -= lr / (1 + (k-1)*lr_decay) * g / (sqrt(sum) + eps)``."""

    _buffers = ("sum",)

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr=_nonneg("lr", lr),
            lr_decay=_nonneg("lr_decay", lr_decay),
            weight_decay=_nonneg("weight_decay", weight_decay),
            initial_accumulator_value=_nonneg("initial_accumulator_value", initial_accumulator_value),
            eps=_nonneg("eps", eps),
            maximize=bool(maximize),
        )

    def _new_state(self, i):
        p = self.params[i]
        return {"step": 0, "sum": np.full_like(p, self.hyper["initial_accumulator_value"])}

    def _update(self, dtype, idx, grads):
        h = self.hyper
        _core._adagrad_step(
            [self.params[i] for i in idx],
            grads,
            self._buffer_list(idx, "sum"),
            step=int(self.state[idx[0]]["step"]),
            lr=h["lr"],
            lr_decay=h["lr_decay"],
            weight_decay=h["weight_decay"],
            eps=h["eps"],
            maximize=h["maximize"],
        )
