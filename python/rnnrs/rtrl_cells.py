"""RTRL adapters for the layers with structure beyond a unit-local cell (used by `rnnrs.rtrl`).

`rnnrs.rtrl.gradient`, `rnnrs.rtrl.RTRL` and `rnnrs.rtrl.sensitivity_bytes` accept these layers
directly (single layer, unidirectional); this module maps them onto the RTRL engines:

- `rnnrs.Dilated` (and a one-layer `rnnrs.DilatedRNN`): ``h_t`` depends on ``h_{t-d}``, so the
  sequence is ``d`` interleaved sub-sequences of the wrapped cell. Exact RTRL (and SnAp-1, UORO)
  keeps ``d`` sensitivity sets, one per phase ``t mod d``, each advanced every ``d``-th step; the
  gradient sums over them. This reuses the cell's own RTRL (no new cell math): a whole sequence
  runs as the cell over the sub-sequences side by side (batch ``d*B``), online RTRL keeps one
  engine per phase.
- `rnnrs.ClockworkRNN`, `rnnrs.Jordan`, `rnnrs.LayerNormLSTM`, `rnnrs.LayerNormGRU`,
  `rnnrs.DeepTransitionRNN`: the dense-Jacobian engine (``src/rtrl/dense.rs``), see `_DenseCell`.
"""

from __future__ import annotations

import numpy as np

from rnnrs import _core

__all__ = ["adapt"]


def adapt(layer):
    """The RTRL view of ``layer`` when it is one of this module's layers, else None."""
    from rnnrs.cells_time import Dilated, DilatedRNN

    if isinstance(layer, DilatedRNN):
        if len(layer.layers) != 1:
            raise ValueError(f"cell: RTRL needs a single layer; this DilatedRNN stacks {len(layer.layers)} "
                             "(run RTRL on one rnnrs.Dilated layer)")
        return _DilatedCell(layer.layers[0])
    if isinstance(layer, Dilated):
        return _DilatedCell(layer)
    return None


class _DilatedCell:
    """A `Dilated` layer for RTRL: the wrapped cell over ``d`` interleaved sub-sequences."""

    def __init__(self, layer):
        from rnnrs.rtrl import _LayerCell

        self.layer = layer
        self.dilation = int(layer.dilation)
        self.inner = _LayerCell(layer.layer)
        for k in ("mode", "input_size", "hidden_size", "dtype", "params", "_names"):
            setattr(self, k, getattr(self.inner, k))

    @property
    def names(self):
        return self._names

    @property
    def n_params(self) -> int:
        return self.inner.n_params

    def flat(self):
        return self.inner.flat()

    def unflatten(self, vec):
        return self.inner.unflatten(vec)

    def sensitivity_bytes(self, method: str, batch: int) -> int:
        one = _core.rtrl_sensitivity_bytes(self.mode, method, self.dtype.name, self.input_size,
                                           self.hidden_size, batch)
        return self.dilation * int(one)

    def rtrl_gradient(self, method, x, dloss_dh, h0, c0, seed, memory_limit):
        """The sub-sequences side by side: (T, B, F) -> (ceil(T/d), d*B, F), row ``phase*B + b``
        (zero padding at the end: padded steps come after every real one and carry a zero loss
        gradient, so they change nothing)."""
        from rnnrs import rtrl

        d, (t, b, _) = self.dilation, x.shape
        s = -(-t // d)

        def interleave(a):
            pad = np.zeros((s * d,) + a.shape[1:], a.dtype)
            pad[:t] = a
            return pad.reshape(s, d * b, a.shape[2])

        def tile(a):
            return None if a is None else np.tile(a, (d, 1))

        grads, y, (h_n, c_n) = rtrl.gradient(self.inner, interleave(x), interleave(dloss_dh), tile(h0), tile(c0),
                                             method=method, seed=seed, memory_limit=memory_limit)
        y = y.reshape(s * d, b, y.shape[2])[:t]
        last = (t - 1) % d  # the phase holding the last step

        def pick(a):
            return None if a is None else np.ascontiguousarray(a.reshape(d, b, a.shape[1])[last])

        return grads, y, (pick(h_n), pick(c_n))

    def new_state(self, method, batch, seed, memory_limit):
        from rnnrs.rtrl import _check_method

        _check_method(self.inner, method)
        states = [_core.RtrlState(self.mode, method, self.dtype.name, self.input_size, self.hidden_size, batch,
                                  seed + k, memory_limit) for k in range(self.dilation)]
        return _PhasedState(states)


class _PhasedState:
    """Online RTRL of a dilated layer: one engine per phase ``t mod d``; step t advances phase
    ``t mod d`` (the engines' interface: reset, step, gradient, zero_sensitivities, state)."""

    def __init__(self, states):
        self.states = states
        self.t = 0

    def _current(self):
        """The engine of the last step (phase 0 before any step: all hold the initial state)."""
        return self.states[(self.t - 1) % len(self.states) if self.t else 0]

    def reset(self, h0=None, c0=None):
        for s in self.states:
            s.reset(h0, c0)
        self.t = 0

    def step(self, params, x, dloss_dh=None):
        g = self.states[self.t % len(self.states)].step(params, x, dloss_dh)
        self.t += 1
        return g

    def gradient(self, dloss_dh):
        return self._current().gradient(dloss_dh)

    def zero_sensitivities(self):
        for s in self.states:
            s.zero_sensitivities()

    def state(self):
        return self._current().state()
