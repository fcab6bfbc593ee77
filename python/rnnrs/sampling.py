"""Sampling from a next-token language model: ``Embedding -> recurrent layers -> Linear``.

`generate(model, prime, length, temperature=..., top_k=..., seed=...)` primes
the recurrent state on ``prime`` with one call over the whole prompt, then
draws one token at a time, feeding each back in with the layers' `step`
(no re-run of the prompt, nothing stored for training). The loop is in
Python around the Rust step calls; a loop fully in Rust is future work.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from rnnrs.model import Sequential, is_recurrent
from rnnrs.modules import Embedding, Linear

__all__ = ["generate", "sample_logits"]


def sample_logits(logits, rng: np.random.Generator, temperature: float = 1.0, top_k: Optional[int] = None) -> int:
    """One draw from ``softmax(logits / temperature)`` restricted to the ``top_k`` largest logits.

    ``temperature == 0`` is the arg-max (greedy). Computed in float64; the
    draw is ``rng.random()`` against the cumulative probabilities, so a
    seeded generator gives the same tokens every time.
    """
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None and top_k < z.size:
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"), z.size - 1))


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
    return mods[0], layers, mods[-1]


def generate(model, prime, length: int, *, temperature: float = 1.0, top_k: Optional[int] = None,
             seed: Optional[int] = None) -> np.ndarray:
    """``length`` new tokens (int64 array) sampled after the token ids ``prime``.

    Args:
        model: ``rnnrs.Sequential(Embedding, LSTM/GRU/RNN..., Linear)`` with
            unidirectional recurrent layers, the Linear giving next-token logits.
        prime: a non-empty 1-D sequence of token ids (the prompt).
        length: how many tokens to draw (>= 0).
        temperature: > 0 scales the logits (lower: more conservative); 0 is greedy.
        top_k: draw only among the ``top_k`` most likely tokens (None: all).
        seed: seeds ``numpy.random.default_rng``: the same seed, the same text.
    """
    emb, layers, head = _pieces(model)
    vocab = head.out_features
    prime = np.asarray(prime)
    if prime.ndim != 1 or prime.size == 0 or not np.issubdtype(prime.dtype, np.integer):
        raise ValueError(f"prime: expected a non-empty 1-D array of token ids, got {prime.dtype} {prime.shape}")
    if prime.min() < 0 or prime.max() >= emb.num_embeddings:
        raise ValueError(f"prime: token ids must be in [0, {emb.num_embeddings}), got {prime.min()}..{prime.max()}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length: expected an int >= 0, got {length!r}")
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or not 1 <= top_k <= vocab):
        raise ValueError(f"top_k: expected None or an int in 1..{vocab}, got {top_k!r}")
    rng = np.random.default_rng(seed)
    logits, states = model(prime.reshape(-1, 1))  # (T, 1, V): the state after the prompt
    states = list(states)
    token = sample_logits(logits[-1, 0], rng, temperature, top_k)
    out = np.empty(length, dtype=np.int64)
    weight = emb.weight
    for i in range(length):
        out[i] = token
        if i + 1 == length:
            break
        x = weight[token:token + 1]  # (1, E)
        for k, layer in enumerate(layers):
            x, states[k] = layer.step(x, states[k])
        token = sample_logits(head(x)[0], rng, temperature, top_k)
    return out
