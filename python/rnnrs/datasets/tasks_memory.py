"""Algorithmic tasks of the Neural Turing Machine paper (Graves, Wayne & Danihelka 2014), as seeded
generators.

Every generator returns time-major float32 arrays ``(x, y, mask)``: inputs ``(T, B, I)``, targets
``(T, B, O)`` of 0/1 bits and a ``(T, B)`` 0/1 mask of the steps where the output is scored (the answer
phase). Sequences of one batch may differ in length; each is padded with zeros at its end. `length`
arguments are an int or an inclusive ``(low, high)`` range drawn per sequence. `rng` is a seed or a
``numpy.random.Generator``. `bit_errors` scores logits the way the paper does (wrong bits per sequence).
"""

from __future__ import annotations

from typing import Tuple, Union

import numpy as np

Length = Union[int, Tuple[int, int]]

__all__ = ["associative_recall", "bit_errors", "copy_task", "priority_sort", "repeat_copy"]


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _pos(name: str, v) -> int:
    if isinstance(v, bool) or int(v) != v or int(v) < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    return int(v)


def _lengths(length: Length, batch: int, g: np.random.Generator, name: str = "length") -> np.ndarray:
    if isinstance(length, (tuple, list)):
        if len(length) != 2:
            raise ValueError(f"{name}: expected an int or a (low, high) pair, got {length!r}")
        lo, hi = _pos(f"{name}[0]", length[0]), _pos(f"{name}[1]", length[1])
        if lo > hi:
            raise ValueError(f"{name}: expected low <= high, got {length!r}")
        return g.integers(lo, hi + 1, size=batch)
    return np.full(batch, _pos(name, length))


def _bits(g: np.random.Generator, shape) -> np.ndarray:
    return g.integers(0, 2, size=shape).astype(np.float32)


def copy_task(batch_size: int, length: Length = (1, 20), bits: int = 8, rng=None):
    """Copy: ``L`` random bit vectors, a delimiter step, then the same ``L`` vectors are to be output.

    x: ``(2 Lmax + 1, B, bits + 1)`` (the last channel is the delimiter); y: ``(T, B, bits)``.
    """
    b, bits = _pos("batch_size", batch_size), _pos("bits", bits)
    g = _rng(rng)
    lens = _lengths(length, b, g)
    t = 2 * int(lens.max()) + 1
    x = np.zeros((t, b, bits + 1), np.float32)
    y = np.zeros((t, b, bits), np.float32)
    mask = np.zeros((t, b), np.float32)
    for j, n in enumerate(lens):
        seq = _bits(g, (n, bits))
        x[:n, j, :bits] = seq
        x[n, j, bits] = 1.0
        y[n + 1 : 2 * n + 1, j] = seq
        mask[n + 1 : 2 * n + 1, j] = 1.0
    return x, y, mask


def repeat_copy(batch_size: int, length: Length = (1, 10), repeats: Length = (1, 10), bits: int = 8,
                max_repeats: int = 10, rng=None):
    """Repeat copy: the sequence, then a delimiter step whose second extra channel carries
    ``repeats / max_repeats``; the answer is the sequence `repeats` times followed by an end marker
    (the last output channel).

    x: ``(T, B, bits + 2)``, y: ``(T, B, bits + 1)``, ``T = max(L + 2 + L R)``.
    """
    b, bits = _pos("batch_size", batch_size), _pos("bits", bits)
    max_repeats = _pos("max_repeats", max_repeats)
    g = _rng(rng)
    lens = _lengths(length, b, g)
    reps = _lengths(repeats, b, g, "repeats")
    t = int((lens + 2 + lens * reps).max())
    x = np.zeros((t, b, bits + 2), np.float32)
    y = np.zeros((t, b, bits + 1), np.float32)
    mask = np.zeros((t, b), np.float32)
    for j, (n, r) in enumerate(zip(lens, reps)):
        seq = _bits(g, (n, bits))
        x[:n, j, :bits] = seq
        x[n, j, bits] = 1.0
        x[n, j, bits + 1] = r / max_repeats
        y[n + 1 : n + 1 + n * r, j, :bits] = np.tile(seq, (r, 1))
        y[n + 1 + n * r, j, bits] = 1.0
        mask[n + 1 : n + 2 + n * r, j] = 1.0
    return x, y, mask


def associative_recall(batch_size: int, items: Length = (2, 6), item_length: int = 3, bits: int = 6, rng=None):
    """Associative recall: items of `item_length` bit vectors, each after an item delimiter (channel
    `bits`); then a query delimiter (channel `bits + 1`), a copy of one item (not the last), another
    query delimiter, and the answer: the item that followed the queried one.

    x: ``(T, B, bits + 2)``, y: ``(T, B, bits)``.
    """
    b, bits, il = _pos("batch_size", batch_size), _pos("bits", bits), _pos("item_length", item_length)
    g = _rng(rng)
    counts = _lengths(items, b, g, "items")
    if counts.min() < 2:
        raise ValueError(f"items: expected at least 2 items (one to query, one to recall), got {items!r}")
    t = int(counts.max()) * (il + 1) + 2 + 2 * il
    x = np.zeros((t, b, bits + 2), np.float32)
    y = np.zeros((t, b, bits), np.float32)
    mask = np.zeros((t, b), np.float32)
    for j, k in enumerate(counts):
        seq = _bits(g, (k, il, bits))
        for i in range(k):
            s = i * (il + 1)
            x[s, j, bits] = 1.0
            x[s + 1 : s + 1 + il, j, :bits] = seq[i]
        q = int(g.integers(0, k - 1))
        s = k * (il + 1)
        x[s, j, bits + 1] = 1.0
        x[s + 1 : s + 1 + il, j, :bits] = seq[q]
        x[s + 1 + il, j, bits + 1] = 1.0
        y[s + 2 + il : s + 2 + 2 * il, j] = seq[q + 1]
        mask[s + 2 + il : s + 2 + 2 * il, j] = 1.0
    return x, y, mask


def priority_sort(batch_size: int, length: int = 20, outputs: int = 16, bits: int = 8, rng=None):
    """Priority sort: `length` bit vectors, each with a priority in [-1, 1] (channel `bits`), then a
    delimiter (channel `bits + 1`); the answer is the `outputs` highest-priority vectors, highest first.

    x: ``(length + 1 + outputs, B, bits + 2)``, y: ``(T, B, bits)``.
    """
    b, bits = _pos("batch_size", batch_size), _pos("bits", bits)
    n, k = _pos("length", length), _pos("outputs", outputs)
    if k > n:
        raise ValueError(f"outputs: expected at most length={n}, got {k}")
    g = _rng(rng)
    t = n + 1 + k
    x = np.zeros((t, b, bits + 2), np.float32)
    y = np.zeros((t, b, bits), np.float32)
    mask = np.zeros((t, b), np.float32)
    for j in range(b):
        seq = _bits(g, (n, bits))
        pri = g.uniform(-1, 1, size=n).astype(np.float32)
        x[:n, j, :bits] = seq
        x[:n, j, bits] = pri
        x[n, j, bits + 1] = 1.0
        y[n + 1 :, j] = seq[np.argsort(-pri, kind="stable")[:k]]
        mask[n + 1 :, j] = 1.0
    return x, y, mask


def bit_errors(logits: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Wrong bits per sequence ``(B,)``: outputs thresholded at 0.5 (logit 0) on the masked steps."""
    logits, target, mask = np.asarray(logits), np.asarray(target), np.asarray(mask)
    if logits.shape != target.shape or mask.shape != target.shape[:2]:
        raise ValueError(f"bit_errors: shapes {logits.shape}, {target.shape}, {mask.shape} do not match")
    wrong = ((logits > 0) != (target > 0.5)) * mask[..., None]
    return wrong.sum(axis=(0, 2))
