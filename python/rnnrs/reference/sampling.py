"""Reference generation loop for a language model ``Embedding -> recurrent layers -> Linear``.

`generate_loop` is `rnnrs.generate` written as the plain Python loop a user
would write over the layers' `step` (it was rnnrs's implementation before the
loop moved to Rust): the ground truth of its sampling semantics, and the
baseline of ``benches/bench_generate.py``. One prompt (batch 1).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["generate_loop", "sample_logits"]


def sample_logits(logits, rng: np.random.Generator, temperature: float = 1.0, top_k: Optional[int] = None) -> int:
    """One draw from ``softmax(logits / temperature)`` restricted to the ``top_k`` largest logits.

    ``temperature == 0`` is the arg-max (greedy) and draws nothing. Computed
    in float64; the draw is ``rng.random()`` against the running sums of the
    probabilities (`searchsorted`, side="right"), so a seeded generator gives
    the same tokens every time.
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


def generate_loop(model, prime, length: int, *, temperature: float = 1.0, top_k: Optional[int] = None,
                  seed: Optional[int] = None) -> np.ndarray:
    """``length`` tokens after the 1-D prompt ``prime``, one `step` call per layer and token."""
    mods = list(model)
    emb, layers, head = mods[0], mods[1:-1], mods[-1]
    rng = np.random.default_rng(seed)
    prime = np.asarray(prime).reshape(-1, 1)
    logits, states = model(prime.T if layers[0].batch_first else prime)  # the state after the prompt
    states = list(states)
    token = sample_logits(logits[0, -1] if layers[0].batch_first else logits[-1, 0], rng, temperature, top_k)
    out = np.empty(length, dtype=np.int64)
    for i in range(length):
        out[i] = token
        if i + 1 == length:
            break
        x = emb.weight[token:token + 1]  # (1, E)
        for k, layer in enumerate(layers):
            x, states[k] = layer.step(x, states[k])
        token = sample_logits(head(x)[0], rng, temperature, top_k)
    return out
