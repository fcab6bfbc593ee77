"""Reference math of variable-length batches: PyTorch's
``pack_padded_sequence(enforce_sorted=False)`` semantics.

A variable-length batch is defined as each sequence run alone on its own
first ``lengths[b]`` steps through `rnnrs.reference.layers.rnn_forward`;
`rnn_forward(..., lengths=...)` and `rnn_backward` of a `PackedCache` come here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnrs.reference.layers import _float_array, _to_user_layout, rnn_backward, rnn_forward


@dataclass
class PackedCache:
    """What `rnn_backward` needs from `packed_forward`: one plain cache per sequence. Opaque."""

    lengths: np.ndarray
    batch_first: bool
    x_shape: tuple[int, ...]
    y_features: int
    dtype: np.dtype
    param_names: list[str]
    sequences: list = field(default_factory=list)


def _check_lengths(lengths, T: int, B: int) -> np.ndarray:
    arr = np.asarray(lengths)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},), got {arr.shape}")
    if arr.size and (arr.min() < 1 or arr.max() > T):
        raise ValueError(f"lengths: expected values in 1..{T}, got {arr.tolist()}")
    return arr.astype(np.int64)


def packed_forward(mode, x, params, h0=None, c0=None, lengths=None, *, num_layers=1, bidirectional=False,
                   batch_first=False):
    """The definition of a variable-length batch: each sequence b run ALONE on its first lengths[b]
    steps (so the reverse direction starts at step lengths[b] - 1), its outputs zero-padded to T and its
    final states taken after its own last step. Arguments and results as `rnn_forward` (batched only).
    """
    x = _float_array("x", x)
    if x.ndim != 3:
        raise ValueError(f"lengths: only for batched 3-D input, got x of shape {x.shape}")
    xs = x.transpose(1, 0, 2) if batch_first else x  # time-major (T, B, I)
    T, B = xs.shape[:2]
    lengths = _check_lengths(lengths, T, B)
    kw = {"num_layers": num_layers, "bidirectional": bidirectional}
    ys, hs, cs, caches = [], [], [], []
    for b in range(B):
        n = int(lengths[b])
        hb = None if h0 is None else np.asarray(h0)[:, b:b + 1]
        cb = None if c0 is None else np.asarray(c0)[:, b:b + 1]
        y_b, h_b, c_b, cache_b = rnn_forward(mode, xs[:n, b:b + 1], params, hb, cb, **kw)
        ys.append(y_b[:, 0])
        hs.append(h_b[:, 0])
        cs.append(None if c_b is None else c_b[:, 0])
        caches.append(cache_b)
    y = np.zeros((T, B, ys[0].shape[-1]), dtype=x.dtype)
    for b in range(B):
        y[: lengths[b], b] = ys[b]
    h_n = np.stack(hs, axis=1)
    c_n = None if cs[0] is None else np.stack(cs, axis=1)
    cache = PackedCache(lengths, batch_first, x.shape, y.shape[-1], x.dtype, caches[0].param_names, caches)
    return _to_user_layout(y, batch_first, False), h_n, c_n, cache


def packed_backward(cache: PackedCache, dy, dh_n=None, dc_n=None):
    """BPTT of `packed_forward`: each sequence's own backward, dy past its length ignored (the input
    gradient is zero there), parameter gradients summed over the sequences."""
    dy = _float_array("dy", dy, cache.dtype)
    want = cache.x_shape[:-1] + (cache.y_features,)
    if dy.shape != want:
        raise ValueError(f"dy: expected shape {want} (like y), got {dy.shape}")
    dys = dy.transpose(1, 0, 2) if cache.batch_first else dy
    T, B = dys.shape[:2]
    dx = np.zeros((T, B, cache.x_shape[-1]), dtype=cache.dtype)
    dh0s, dc0s, grads = [], [], {}
    for b, seq in enumerate(cache.sequences):
        n = int(cache.lengths[b])
        dhb = None if dh_n is None else np.asarray(dh_n)[:, b:b + 1]
        dcb = None if dc_n is None else np.asarray(dc_n)[:, b:b + 1]
        dx_b, dh0_b, dc0_b, g = rnn_backward(seq, dys[:n, b:b + 1], dhb, dcb)
        dx[:n, b] = dx_b[:, 0]
        dh0s.append(dh0_b[:, 0])
        dc0s.append(None if dc0_b is None else dc0_b[:, 0])
        for name, value in g.items():
            grads[name] = grads.get(name, 0) + value
    dh0 = np.stack(dh0s, axis=1)
    dc0 = None if dc0s[0] is None else np.stack(dc0s, axis=1)
    return _to_user_layout(dx, cache.batch_first, False), dh0, dc0, {n: grads[n] for n in cache.param_names}
