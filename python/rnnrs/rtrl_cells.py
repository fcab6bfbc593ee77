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
    for cls in (_ClockworkCell, _JordanCell, _LayerNormCell, _DeepTransitionCell):
        if cls.accepts(layer):
            return cls(layer)
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


class _DenseCell:
    """A layer run by the dense-Jacobian engine (``_core.DenseRtrlState``; ``src/rtrl/dense.rs``).

    Subclasses give the core cell name, its options and the flat parameter order; the loss sees
    the first ``hidden_size`` state entries (y for Jordan and a deep-output RNN, h otherwise).
    Methods: "exact" (``M_t = J_t M_{t-1} + F_t``) and "snap1" (each parameter row keeps its
    sensitivity on the unit(s) it feeds directly; see the cell's Rust docs).
    """

    kind: str
    has_c = False

    def __init__(self, layer):
        self.layer = layer
        self.dtype = np.dtype(layer.dtype)
        self.params = dict(self._param_items())
        self._names = tuple(self.params)

    @classmethod
    def accepts(cls, layer) -> bool:
        raise NotImplementedError

    def _param_items(self):
        return [(k, v) for k, v in self.layer.params.items()]

    def _options(self) -> dict:
        raise NotImplementedError

    @property
    def mode(self) -> str:
        return self.kind

    @property
    def names(self):
        return self._names

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.params.values())

    def flat(self):
        return np.concatenate([np.ascontiguousarray(self.layer.params[k], self.dtype).ravel() for k in self._names])

    def unflatten(self, vec):
        out, pos = {}, 0
        for k in self._names:
            shp = self.params[k].shape
            n = int(np.prod(shp))
            out[k] = np.asarray(vec[pos:pos + n]).reshape(shp)
            pos += n
        return out

    def _method(self, method):
        if method not in ("exact", "snap1"):
            raise ValueError(f"method: {type(self.layer).__name__} offers 'exact' and 'snap1' RTRL, got {method!r}")
        return method

    def _spec(self) -> dict:
        """The core's one option dict (``dense_spec`` in ``src/python/rtrl.rs``)."""
        return {"input_size": self.input_size, **self._options()}

    def _core_state(self, method, batch, memory_limit):
        return _core.DenseRtrlState(self.kind, self._method(method), self.dtype.name, batch, self._spec(),
                                    memory_limit=memory_limit)

    def sensitivity_bytes(self, method: str, batch: int) -> int:
        return int(_core.dense_rtrl_sensitivity_bytes(self.kind, self._method(method), self.dtype.name, batch,
                                                      self._spec()))

    def _initial(self, batch, h0, c0):
        """The engine's (B, S) initial state from h0 (what the loss sees, or the hidden state) and c0."""
        if c0 is not None and not self.has_c:
            raise ValueError(f"c0: only the LSTMs have a cell state, not {type(self.layer).__name__}")
        if h0 is None and c0 is None:
            return None
        from rnnrs.rtrl import _state_arg

        s = np.zeros((batch, self.state_len), self.dtype)
        if h0 is not None:
            s[:, self.h_at:self.h_at + self.hidden_size] = h0
        if c0 is not None:
            s[:, self.hidden_size:] = _state_arg(c0, "c0", self.dtype, batch, self.hidden_size)
        return s

    def _split(self, s):
        """(h, c or None) of an engine state: h the layer's recurrent hidden state."""
        h = np.ascontiguousarray(s[:, self.h_at:self.h_at + self.hidden_size])
        c = np.ascontiguousarray(s[:, self.hidden_size:]) if self.has_c else None
        return h, c

    def rtrl_gradient(self, method, x, dloss_dh, h0, c0, seed, memory_limit):
        del seed  # exact and SnAp-1 draw nothing
        st = self._core_state(method, x.shape[1], memory_limit)
        st.reset(self._initial(x.shape[1], h0, c0))
        g, y = st.run(self.flat(), x, dloss_dh)
        return self.unflatten(g), y, self._split(st.state())

    def new_state(self, method, batch, seed, memory_limit):
        del seed
        return _DenseState(self, self._core_state(method, batch, memory_limit))

    # the state layout: S entries, the loss sees [0, hidden_size), the recurrent h starts at h_at
    state_len: int
    h_at = 0


class _DenseState:
    """The engines' interface (reset, step, gradient, zero_sensitivities, state) over a dense cell."""

    def __init__(self, cell, core):
        self.cell, self.core = cell, core

    def reset(self, h0=None, c0=None):
        self.core.reset(self.cell._initial(self.cell_batch(), h0, c0))

    def cell_batch(self):
        return self.core.state().shape[0]

    def step(self, params, x, dloss_dh=None):
        return self.core.step(params, x, dloss_dh)

    def gradient(self, dloss_dh):
        return self.core.gradient(dloss_dh)

    def zero_sensitivities(self):
        self.core.zero_sensitivities()

    def state(self):
        """(what the loss sees (B, O), c (B, H) or None)."""
        s = self.core.state()
        c = np.ascontiguousarray(s[:, self.cell.hidden_size:]) if self.cell.has_c else None
        return np.ascontiguousarray(s[:, :self.cell.hidden_size]), c


def _single_layer(layer, what: str):
    if getattr(layer, "num_layers", 1) != 1:
        raise ValueError(f"cell: RTRL needs a single-layer {what} (got num_layers={layer.num_layers})")
    if getattr(layer, "bidirectional", False):
        raise ValueError(f"cell: RTRL needs a unidirectional {what} (got bidirectional=True)")


class _ClockworkCell(_DenseCell):
    """`rnnrs.ClockworkRNN`: only the entries of ``weight_hh_l0`` that exist are parameters (module
    i's rows read a suffix of h); the flat vector holds them module by module."""

    kind = "CLOCKWORK"

    @classmethod
    def accepts(cls, layer):
        from rnnrs.cells_time import ClockworkRNN

        return isinstance(layer, ClockworkRNN)

    def __init__(self, layer):
        super().__init__(layer)
        self.input_size, self.hidden_size = layer.input_size, layer.hidden_size
        self.state_len = self.hidden_size
        sizes, periods = list(layer.module_sizes), list(layer.periods)
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        # module i reads the units of period >= periods[i]: from the first module of its period on
        self._modules = [(int(starts[i]), int(sizes[i]), int(starts[periods.index(periods[i])]))
                         for i in range(len(sizes))]

    def _options(self):
        return {"module_sizes": list(self.layer.module_sizes), "periods": list(self.layer.periods),
                "bias": bool(self.layer.bias)}

    def flat(self):
        p = {k: np.ascontiguousarray(v, self.dtype) for k, v in self.layer.params.items()}
        parts = [p["weight_ih_l0"].ravel()]
        parts += [p["weight_hh_l0"][u0:u0 + n, first:].ravel() for u0, n, first in self._modules]
        if self.layer.bias:
            parts += [p["bias_ih_l0"], p["bias_hh_l0"]]
        return np.concatenate(parts)

    def unflatten(self, vec):
        h, i = self.hidden_size, self.input_size
        out = {"weight_ih_l0": np.asarray(vec[:h * i]).reshape(h, i).copy()}
        w, pos = np.zeros((h, h), vec.dtype), h * i
        for u0, n, first in self._modules:
            w[u0:u0 + n, first:] = np.asarray(vec[pos:pos + n * (h - first)]).reshape(n, h - first)
            pos += n * (h - first)
        out["weight_hh_l0"] = w
        if self.layer.bias:
            out["bias_ih_l0"] = np.asarray(vec[pos:pos + h]).copy()
            out["bias_hh_l0"] = np.asarray(vec[pos + h:pos + 2 * h]).copy()
        return out


class _JordanCell(_DenseCell):
    """`rnnrs.Jordan` (one layer): the state is y (O values; ``hidden_size`` here means O, the size of
    ``dloss_dh``, ``h0`` and the returned states); the hidden h is an intermediate."""

    kind = "JORDAN"

    @classmethod
    def accepts(cls, layer):
        from rnnrs.jordan import Jordan

        return isinstance(layer, Jordan)

    def __init__(self, layer):
        _single_layer(layer, "Jordan network")
        super().__init__(layer)
        self.input_size, self.hidden_size = layer.input_size, layer.output_size
        self.state_len = layer.output_size

    def _options(self):
        return {"hidden_size": self.layer.hidden_size, "output_size": self.layer.output_size,
                "hidden_activation": self.layer.hidden_activation,
                "output_activation": self.layer.output_activation}


class _LayerNormCell(_DenseCell):
    """`rnnrs.LayerNormLSTM` (state [h, c]) and `rnnrs.LayerNormGRU` (state h), one layer."""

    @classmethod
    def accepts(cls, layer):
        from rnnrs.cells import LayerNormGRU, LayerNormLSTM

        return isinstance(layer, (LayerNormLSTM, LayerNormGRU))

    def __init__(self, layer):
        from rnnrs.cells import LayerNormLSTM

        _single_layer(layer, type(layer).__name__)
        self.has_c = isinstance(layer, LayerNormLSTM)
        self.kind = "LAYERNORM_LSTM" if self.has_c else "LAYERNORM_GRU"
        super().__init__(layer)
        self.input_size, self.hidden_size = layer.input_size, layer.hidden_size
        self.state_len = self.hidden_size * (2 if self.has_c else 1)

    def _options(self):
        return {"hidden_size": self.hidden_size}


class _DeepTransitionCell(_DenseCell):
    """`rnnrs.DeepTransitionRNN`: the loss sees the output MLP's y; with an output MLP the engine's
    state is [y, h] (``h0`` and the returned state are the hidden h, as the layer's ``hx``)."""

    kind = "DEEP_TRANSITION"

    @classmethod
    def accepts(cls, layer):
        from rnnrs.cells_time import DeepTransitionRNN

        return isinstance(layer, DeepTransitionRNN)

    def __init__(self, layer):
        super().__init__(layer)
        self.input_size, self.hidden_size = layer.input_size, layer.hidden_size
        deep_out = layer.output_depth > 0
        self.state_len = self.hidden_size * (2 if deep_out else 1)
        self.h_at = self.hidden_size if deep_out else 0

    def _options(self):
        lay = self.layer
        return {"hidden_size": lay.hidden_size, "transition_depth": lay.transition_depth,
                "output_depth": lay.output_depth, "shortcut": lay.shortcut, "bias": lay.bias}
