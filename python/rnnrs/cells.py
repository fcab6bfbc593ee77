"""Further recurrent cells on the layer machinery of `rnnrs.nn` (stacked, bidirectional,
``lengths``, BPTT, truncated BPTT, state_dict, exact RTRL and SnAp-1 through `rnnrs.rtrl`).

- `LeakyRNN`: leaky-integrator units with learned per-unit time constants;
- `LayerNormLSTM`: the layer-normalised LSTM of PyTorch's custom_lstms.py;
- `LayerNormGRU`: its GRU analogue.

The peephole LSTM is an option of `rnnrs.LSTM` (``peephole=True``).
"""

from __future__ import annotations

import numpy as np

from rnnrs import functional as F
from rnnrs.nn import GRU, LSTM, RNNBase

__all__ = ["LayerNormGRU", "LayerNormLSTM", "LeakyRNN", "leaky_rnn", "leaky_rnn_backward"]

_LEAKY = "LEAKY"
_LAYERNORM_LSTM = "LAYERNORM_LSTM"
_LAYERNORM_GRU = "LAYERNORM_GRU"


def leaky_rnn(x, params: dict, h0=None, *, num_layers: int | None = None, bidirectional: bool | None = None,
              batch_first: bool = False, train: bool = False, cast: bool = False, lengths=None,
              _rec_mask=None, _allow_empty=False):
    """Leaky-integrator RNN forward (see `LeakyRNN`); ``params`` as `LeakyRNN.params`
    (``alpha_logit_l{k}`` ``(H,)`` besides torch's names). Returns ``(y, h_n, ctx)``."""
    y, h_n, _, ctx = F._forward(_LEAKY, x, params, h0, None, num_layers, bidirectional, batch_first, train, cast,
                                _rec_mask, lengths, _allow_empty)
    return y, h_n, ctx


def leaky_rnn_backward(ctx, dy, dh_n=None, *, grads: dict | None = None, cast: bool = False,
                       input_grad: bool = True):
    """Backward of `leaky_rnn`: ``(dx, dh0, grads)``; gradients are ADDED into ``grads``."""
    dx, dh0, _, grads = F._backward(ctx, dy, dh_n, None, grads, cast, input_grad)
    return dx, dh0, grads


class LeakyRNN(RNNBase):
    """Leaky-integrator RNN with learned per-unit time constants (one gate block)::

        h_t = (1 - α) * h_{t-1} + α * tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        α = sigmoid(alpha_logit)           (per unit, in (0, 1))

    Parameters per layer and direction: torch's ``weight_ih_l{k}`` ``(H, I)``,
    ``weight_hh_l{k}`` ``(H, H)``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` ``(H,)`` and
    ``alpha_logit_l{k}`` ``(H,)`` (with ``_reverse``). A unit with α near 0
    integrates slowly (time constant ≈ 1/α steps); α = 1 is the Elman RNN.

    ``alpha``: None (``alpha_logit`` drawn like every parameter, uniform in
    ±1/sqrt(H), so α ≈ 0.5), a number in (0, 1) or an array ``(H,)`` of them
    (every layer and direction starts there). ``learn_alpha=False`` keeps α
    fixed: ``alpha_logit`` stays in ``params`` and the state dict but not in
    ``parameters()`` / ``named_parameters()`` / ``grads``, so optimizers never
    touch it (RTRL's gradient still reports it; ignore it).

    Other arguments, the calls (``layer(x, h0)``, ``forward(..., train=True)``,
    ``backward``, ``lengths``, ``step``, ``tbptt``) and dropout as `rnnrs.RNN`.
    Exact RTRL and SnAp-1 via ``rnnrs.rtrl`` (mode "LEAKY").
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 alpha=None, learn_alpha: bool = True, dtype=np.float32, seed: int | None = None,
                 recurrent_init: str = "uniform", cast: bool = False, input_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0):
        if not isinstance(learn_alpha, (bool, np.bool_)):
            raise TypeError(f"learn_alpha: expected a bool, got {learn_alpha!r}")
        self.learn_alpha = bool(learn_alpha)
        self._alpha_init = None
        if alpha is not None:
            a = np.asarray(alpha, dtype=np.float64)
            if not (np.issubdtype(np.asarray(alpha).dtype, np.number)) or a.ndim > 1:
                raise TypeError(f"alpha: expected a number or an array ({hidden_size},) in (0, 1), got {alpha!r}")
            if a.ndim == 1 and a.shape != (hidden_size,):
                raise ValueError(f"alpha: expected shape ({hidden_size},), got {a.shape}")
            if not np.all((a > 0) & (a < 1)):
                raise ValueError(f"alpha: expected values in (0, 1) (open interval), got {alpha!r}")
            self._alpha_init = np.log(a) - np.log1p(-a)
        super().__init__(_LEAKY, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         dtype=dtype, seed=seed, recurrent_init=recurrent_init, cast=cast,
                         input_dropout=input_dropout, recurrent_dropout=recurrent_dropout)

    def _alpha_names(self) -> list:
        return [n for n in self._params if n.startswith("alpha_logit")]

    def reset_parameters(self, seed: int | None = None, *, recurrent_init: str = "uniform",
                         forget_bias: float | None = None) -> None:
        """As `rnnrs.RNN`'s, then ``alpha_logit`` from ``alpha`` when it was given."""
        super().reset_parameters(seed, recurrent_init=recurrent_init, forget_bias=forget_bias)
        for name in self._alpha_names():
            if self._alpha_init is not None:
                self._params[name][...] = self._alpha_init
            if not self.learn_alpha:
                del self.grads[name]

    @property
    def alpha(self) -> dict:
        """α = sigmoid(alpha_logit) of every layer and direction, by parameter name."""
        return {n: 1.0 / (1.0 + np.exp(-self._params[n].astype(np.float64))) for n in self._alpha_names()}

    def named_parameters(self):
        """``(name, array)`` pairs of the trained parameters (without ``alpha_logit`` when fixed)."""
        return iter([(n, p) for n, p in self._params.items() if n in self.grads])

    def parameters(self) -> list:
        """The trained parameter arrays (without ``alpha_logit`` when fixed)."""
        return [p for _, p in self.named_parameters()]

    def _run_with(self, params, x, h0, c0, train, rec_mask=None, lengths=None, allow_empty=False):
        y, h_n, ctx = leaky_rnn(x, params, h0, batch_first=self.batch_first, train=train, cast=self.cast,
                                _rec_mask=rec_mask, lengths=lengths, _allow_empty=allow_empty)
        return y, h_n, ctx

    def backward(self, dy, dhx=None, input_grad: bool = True):
        """As `rnnrs.RNN.backward`; a fixed α's gradient is dropped."""
        if self.learn_alpha:
            return super().backward(dy, dhx, input_grad)
        kept = self.grads
        try:
            # F._backward adds the missing alpha entries to this copy only.
            self.grads = dict(kept)
            return super().backward(dy, dhx, input_grad)
        finally:
            self.grads = kept

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if not self.learn_alpha:
            s = s.replace(", dtype=", ", learn_alpha=False, dtype=")
        return s


def _layernorm_init(params: dict) -> None:
    """LayerNorm gains to 1 and biases to 0, as torch.nn.LayerNorm starts."""
    for name, p in params.items():
        if name.startswith("layernorm_"):
            p[...] = 1.0 if "_weight_l" in name else 0.0


class LayerNormLSTM(LSTM):
    """Layer-normalised LSTM (Ba et al. 2016), the formula of PyTorch's
    ``benchmarks/fastrnns/custom_lstms.py`` (``LayerNormLSTMCell``), gates i, f, g, o::

        z   = LN_i(W_ih x_t) + LN_h(W_hh h_{t-1})      LayerNorm over all 4H gate values
        i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)
        c_t = LN_c(f * c_{t-1} + i * g)                 LayerNorm over H (c_t is the carried state)
        h_t = o * tanh(c_t)

    ``LN(v) = γ (v - mean v) / sqrt(var v + 1e-5) + β`` as ``torch.nn.LayerNorm``
    (biased variance). No linear biases (the LayerNorms have them).
    Parameters per layer and direction: ``weight_ih_l{k}`` ``(4H, I)``,
    ``weight_hh_l{k}`` ``(4H, H)`` (uniform in ±1/sqrt(H)), the gains and
    biases ``layernorm_i_weight_l{k}``, ``layernorm_i_bias_l{k}``,
    ``layernorm_h_weight_l{k}``, ``layernorm_h_bias_l{k}`` ``(4, H)`` (torch's
    ``(4H,)`` reshaped, gate blocks as rows) and ``layernorm_c_weight_l{k}``,
    ``layernorm_c_bias_l{k}`` ``(H,)``; gains start at 1, biases at 0.

    Stacked, bidirectional, ``lengths``, dropout, BPTT, ``step`` and ``tbptt``
    as `rnnrs.LSTM`; states are pairs ``(h, c)``. No RTRL: LayerNorm couples
    all units of a layer, so the per-unit structure RTRL exploits is lost.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *, dtype=np.float32, seed: int | None = None,
                 recurrent_init: str = "uniform", cast: bool = False, input_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers, False, batch_first, dropout, bidirectional, 0,
                         dtype=dtype, seed=seed, recurrent_init=recurrent_init, cast=cast,
                         input_dropout=input_dropout, recurrent_dropout=recurrent_dropout)

    @property
    def _cell_mode(self) -> str:
        return _LAYERNORM_LSTM

    def reset_parameters(self, seed: int | None = None, *, recurrent_init: str = "uniform",
                         forget_bias: float | None = None) -> None:
        """Weights as `rnnrs.LSTM`'s; LayerNorm gains 1 and biases 0 (torch's init)."""
        super().reset_parameters(seed, recurrent_init=recurrent_init, forget_bias=forget_bias)
        _layernorm_init(self._params)

    def _run_with(self, params, x, h0, c0, train, rec_mask=None, lengths=None, allow_empty=False):
        state = None if h0 is None and c0 is None else (h0, c0)
        h0, c0 = F._split_lstm_state(state, "state")
        y, h_n, c_n, ctx = F._forward(_LAYERNORM_LSTM, x, params, h0, c0, None, None, self.batch_first, train,
                                      self.cast, rec_mask, lengths, allow_empty)
        return y, (h_n, c_n), ctx

    def extra_repr(self) -> str:
        return super().extra_repr().replace(", bias=False", "")


class LayerNormGRU(GRU):
    """Layer-normalised GRU (Ba et al. 2016): torch's GRU (gates r, z, n) with a
    LayerNorm on each of the input and recurrent products in place of the linear
    biases, the GRU analogue of `LayerNormLSTM`::

        a = LN_i(W_ih x_t),  b = LN_h(W_hh h_{t-1})   LayerNorm over all 3H values each
        r = σ(a_r + b_r),  z = σ(a_z + b_z)
        n = tanh(a_n + r * b_n)                       (the reset gate scales the normalised b_n)
        h_t = (1 - z) * n + z * h_{t-1}

    ``LN`` as in `LayerNormLSTM` (eps 1e-5, biased variance). Parameters per
    layer and direction: ``weight_ih_l{k}`` ``(3H, I)``, ``weight_hh_l{k}``
    ``(3H, H)`` and ``layernorm_{i,h}_{weight,bias}_l{k}`` ``(3, H)`` (gains 1,
    biases 0 at init). Stacked, bidirectional, ``lengths``, dropout, BPTT as
    `rnnrs.GRU`. No RTRL (LayerNorm couples the units).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *, dtype=np.float32, seed: int | None = None,
                 recurrent_init: str = "uniform", cast: bool = False, input_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers, False, batch_first, dropout, bidirectional,
                         dtype=dtype, seed=seed, recurrent_init=recurrent_init, cast=cast,
                         input_dropout=input_dropout, recurrent_dropout=recurrent_dropout)

    @property
    def _cell_mode(self) -> str:
        return _LAYERNORM_GRU

    def reset_parameters(self, seed: int | None = None, *, recurrent_init: str = "uniform",
                         forget_bias: float | None = None) -> None:
        """Weights as `rnnrs.GRU`'s; LayerNorm gains 1 and biases 0 (torch's init)."""
        super().reset_parameters(seed, recurrent_init=recurrent_init, forget_bias=forget_bias)
        _layernorm_init(self._params)

    def _run_with(self, params, x, h0, c0, train, rec_mask=None, lengths=None, allow_empty=False):
        y, h_n, _, ctx = F._forward(_LAYERNORM_GRU, x, params, h0, None, None, None, self.batch_first, train,
                                    self.cast, rec_mask, lengths, allow_empty)
        return y, h_n, ctx

    def extra_repr(self) -> str:
        return super().extra_repr().replace(", bias=False", "")
