"""Seeded tasks over structure: random expression trees (for `rnnrs.tree`) and moving-shapes video
(for `rnnrs.conv`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ExpressionTrees", "expression_trees", "moving_shapes"]

_BOOL_LEAVES = ["F", "T"]
_BOOL_OPS = {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}
_ARITH_OPS = {"+": lambda a, b: (a + b) % 10, "-": lambda a, b: (a - b) % 10, "*": lambda a, b: (a * b) % 10}


@dataclass
class ExpressionTrees:
    """Random binary expression trees.

    parents: per tree, the parent index of every node (-1 for the root; nodes in preorder, so a node's
    left child has the smaller index). tokens: per tree, the token id of every node (leaves constants,
    internal nodes operators). values: per tree, the value of every node's sub-expression (class ids:
    0/1 for 'bool', 0..9 for 'arith'). vocab: the token strings; num_classes: 2 or 10.
    """

    parents: list
    tokens: list
    values: list
    vocab: list
    num_classes: int

    def to_string(self, i: int) -> str:
        """Tree ``i`` in infix notation."""
        p, tok = self.parents[i], self.tokens[i]
        kids = [[] for _ in p]
        for v, q in enumerate(p):
            if q >= 0:
                kids[q].append(v)

        def rec(v):
            if not kids[v]:
                return self.vocab[tok[v]]
            a, b = kids[v]
            return f"({rec(a)} {self.vocab[tok[v]]} {rec(b)})"

        return rec(int(np.flatnonzero(p < 0)[0]))


def expression_trees(n: int, kind: str = "bool", min_depth: int = 1, max_depth: int = 4,
                     seed: int = 0) -> ExpressionTrees:
    """`n` random binary expression trees of depth ``min_depth..max_depth`` (a leaf alone has depth 0).

    kind 'bool': constants T/F with operators and, or, xor. kind 'arith': digits 0..9 with +, -, *
    modulo 10. Each internal node below the top is a leaf with probability 0.3 (so the trees are
    ragged), the top ``min_depth`` levels are always operators. Returns an `ExpressionTrees`.
    """
    if kind not in ("bool", "arith"):
        raise ValueError(f"kind: expected 'bool' or 'arith', got {kind!r}")
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if not (0 <= min_depth <= max_depth):
        raise ValueError(f"min_depth, max_depth: expected 0 <= min_depth <= max_depth, got {min_depth}, {max_depth}")
    rng = np.random.default_rng(seed)
    if kind == "bool":
        leaves, ops = _BOOL_LEAVES, list(_BOOL_OPS)
        fns = [lambda a, b, f=f: int(f(a, b)) for f in _BOOL_OPS.values()]
        leaf_value = [0, 1]
    else:
        leaves, ops = [str(d) for d in range(10)], list(_ARITH_OPS)
        fns = list(_ARITH_OPS.values())
        leaf_value = list(range(10))
    vocab = leaves + ops
    parents, tokens, values = [], [], []
    for _ in range(n):
        par, tok, val = [], [], []

        def grow(parent, depth):
            v = len(par)
            par.append(parent)
            tok.append(0)
            val.append(0)
            if depth == max_depth or (depth >= min_depth and rng.random() < 0.3):
                t = int(rng.integers(len(leaves)))
                tok[v], val[v] = t, leaf_value[t]
                return val[v]
            o = int(rng.integers(len(ops)))
            a = grow(v, depth + 1)
            b = grow(v, depth + 1)
            tok[v], val[v] = len(leaves) + o, fns[o](a, b)
            return val[v]

        grow(-1, 0)
        parents.append(np.array(par, np.int64))
        tokens.append(np.array(tok, np.int64))
        values.append(np.array(val, np.int64))
    return ExpressionTrees(parents, tokens, values, vocab, 2 if kind == "bool" else 10)


def moving_shapes(n: int, length: int = 10, size: int = 16, num_shapes: int = 2, shape_size: int = 4,
                  seed: int = 0) -> np.ndarray:
    """`n` videos of bouncing squares: float32 ``(length, n, 1, size, size)`` (T, B, C, H, W) in [0, 1].

    Each square (side ``shape_size``) starts at a random position with a random velocity of 1 or 2
    pixels per frame on each axis and bounces off the borders; overlapping squares add and are
    clipped to 1. Seeded.
    """
    for name, v in (("n", n), ("length", length), ("size", size), ("num_shapes", num_shapes),
                    ("shape_size", shape_size)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    if shape_size > size:
        raise ValueError(f"shape_size: expected at most size ({size}), got {shape_size}")
    rng = np.random.default_rng(seed)
    video = np.zeros((length, n, 1, size, size), np.float32)
    span = size - shape_size
    for b in range(n):
        for _ in range(num_shapes):
            pos = rng.integers(0, span + 1, size=2).astype(np.int64)
            vel = rng.choice([-2, -1, 1, 2], size=2)
            for t in range(length):
                y, x = pos
                video[t, b, 0, y:y + shape_size, x:x + shape_size] += 1.0
                for k in range(2):
                    nxt = pos[k] + vel[k]
                    if nxt < 0 or nxt > span:
                        vel[k] = -vel[k]
                        nxt = pos[k] + vel[k]
                    pos[k] = min(max(nxt, 0), span)
    np.clip(video, 0.0, 1.0, out=video)
    return video
