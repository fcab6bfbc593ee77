"""Sampling from a next-token language model: ``Embedding -> recurrent layers -> Linear``.

`generate(model, prime, length, temperature=..., top_k=..., seed=...)` primes
the recurrent state on ``prime`` with one call over the whole prompt, then
draws one token at a time, feeding each back in. The token loop runs in Rust
(`rnnrs._core.lm_generate`, GIL released, Ctrl-C interrupts it): the
embedding followed by the first layer's input weights becomes a lookup table,
so a step is one recurrent mat-vec per layer, the cell, the output mat-vec and
the draw. The draws are NumPy's: one ``default_rng(seed).random()`` per token
(none when greedy), used exactly as `rnnrs.reference.sampling.generate_loop`
(the same loop in Python over the layers' `step`) uses them.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from rnnrs import _core
from rnnrs.model import Sequential, is_recurrent
from rnnrs.modules import Embedding, Linear
from rnnrs.reference.sampling import sample_logits

__all__ = ["generate", "sample_logits"]


# The cells the Rust token loop runs: the full gate layout, no parameters of their own.
_GENERATE_MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "LSTM_NOFORGET", "LSTM_CIFG", "GRU", "MGU")


def _pieces(model):
    if not isinstance(model, Sequential) or len(model) < 3:
        raise TypeError("model: expected an rnnrs.Sequential(Embedding, recurrent layer(s), Linear)")
    mods = list(model)
    if not isinstance(mods[0], Embedding) or not isinstance(mods[-1], Linear):
        raise TypeError("model: expected an Embedding first and a Linear last")
    layers = mods[1:-1]
    for i, m in enumerate(layers, start=1):
        if not is_recurrent(m) or m.bidirectional:
            raise TypeError(f"model: module {i} must be a unidirectional recurrent layer, got {m!r}")
        mode = getattr(m, "_cell_mode", getattr(m, "mode", None))
        if mode not in _GENERATE_MODES:
            raise TypeError(f"model: module {i} is a {mode} layer; generate runs {', '.join(_GENERATE_MODES)} "
                            f"layers")
    if len({m.batch_first for m in layers}) != 1:
        raise TypeError("model: the recurrent layers must agree on batch_first")
    dtypes = {np.dtype(m.dtype) for m in mods}
    if len(dtypes) != 1:
        raise TypeError(f"model: every module must have the same dtype, got {sorted(d.name for d in dtypes)}")
    return mods[0], layers, mods[-1]


def _layer_args(layer):
    mode = getattr(layer, "_cell_mode", layer.mode)
    return (mode, list(layer._params.values()), layer.hidden_size, layer.num_layers, layer.bias, layer.proj_size)


def _state_args(state, dtype):
    h, c = state if isinstance(state, tuple) else (state, None)
    h = np.ascontiguousarray(h, dtype=dtype)
    return h, None if c is None else np.ascontiguousarray(c, dtype=dtype)


def generate(model, prime, length: int, *, temperature: float = 1.0, top_k: Optional[int] = None,
             seed: Optional[int] = None) -> np.ndarray:
    """``length`` new tokens (int64) sampled after the token ids ``prime``.

    Args:
        model: ``rnnrs.Sequential(Embedding, LSTM/GRU/RNN..., Linear)`` with
            unidirectional recurrent layers (stacked, projected and LSTM
            variants too), the Linear giving next-token logits.
        prime: the prompt: a non-empty 1-D sequence of token ids, giving a
            ``(length,)`` array; or ``(B, T)`` for ``B`` prompts of equal
            length generated together, giving ``(B, length)``.
        length: how many tokens to draw (>= 0).
        temperature: > 0 scales the logits (lower: more conservative); 0 is greedy.
        top_k: draw only among the ``top_k`` most likely tokens (None: all).
        seed: seeds ``numpy.random.default_rng``: the same seed, the same
            text. Token ``i`` of row ``b`` uses the ``(i * B + b)``-th draw.
    """
    emb, layers, head = _pieces(model)
    vocab = head.out_features
    prime = np.asarray(prime)
    if prime.ndim not in (1, 2) or prime.size == 0 or not np.issubdtype(prime.dtype, np.integer):
        raise ValueError(f"prime: expected a non-empty (T,) or (B, T) array of token ids, got {prime.dtype} "
                         f"{prime.shape}")
    if prime.min() < 0 or prime.max() >= emb.num_embeddings:
        raise ValueError(f"prime: token ids must be in [0, {emb.num_embeddings}), got {prime.min()}..{prime.max()}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length: expected an int >= 0, got {length!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)) \
            or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or not 1 <= top_k <= vocab):
        raise ValueError(f"top_k: expected None or an int in 1..{vocab}, got {top_k!r}")
    rows = prime.reshape(1, -1) if prime.ndim == 1 else prime  # (B, T)
    batch = rows.shape[0]
    batch_first = layers[0].batch_first
    logits, states = model(rows if batch_first else rows.T)  # the state after the prompt
    last = np.ascontiguousarray(logits[:, -1] if batch_first else logits[-1])  # (B, V)
    rng = np.random.default_rng(seed)
    uniforms = rng.random(length * batch) if temperature != 0 else np.empty(0)
    dtype = emb.dtype
    tokens = _core.lm_generate(
        emb.weight, [_layer_args(m) for m in layers], head.weight, head.bias,
        [_state_args(s, dtype) for s in states], last, int(length), float(temperature),
        None if top_k is None else int(top_k), uniforms)
    return tokens[0] if prime.ndim == 1 else tokens
