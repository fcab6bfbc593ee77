"""Recursive networks over trees: a plain recursive net and the Tree-LSTMs of Tai et al. (2015).

A batch of trees is a `Forest` (build it with `Forest.from_parents` or `Forest.from_children`);
its nodes are numbered tree after tree (tree ``b``'s node ``j`` is global node
``forest.offsets[b] + j``). Every node has an input vector (leaves their word or feature
vector; internal nodes may carry zeros), or a token id when the model has an embedding table.

Models (all with the module protocol of `rnnrs.modules`: ``forward(forest, x, train)``,
``backward(grad_h)``, ``params``/``grads`` dicts, ``zero_grad``, ``state_dict``):

- `RecursiveNN`: ``h = tanh(W_ih x + W_hh [h_1; ...; h_N] + b)``, absent children zeros
  (Pollack 1990; Socher et al. 2011 with ``arity=2``).
- `NaryTreeLSTM`: the N-ary Tree-LSTM, children in fixed slots, one forget gate per slot.
- `ChildSumTreeLSTM`: the Child-Sum Tree-LSTM, any number of unordered children, one forget
  gate per child.

The forward and backward passes run in Rust, batched by level: all nodes of one height across
the batch go through one GEMM. ``forward`` returns the hidden state of every node ``(N, H)``;
put a loss at any nodes (every phrase, the roots ``h[forest.roots]``, ...) and pass its
gradient ``(N, H)`` to ``backward``.

Example::

    import numpy as np, rnnrs as rr
    forest = rr.tree.Forest.from_parents([[-1, 0, 0], [1, -1, 1, 0, 0]])
    net = rr.tree.ChildSumTreeLSTM(input_size=4, hidden_size=8, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).normal(size=(forest.num_nodes, 4))
    h = net.forward(forest, x, train=True)        # (8, 8): every node
    dh = np.zeros_like(h); dh[forest.roots] = 1.0  # a loss at the roots
    dx = net.backward(dh)                          # net.grads filled
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from rnnrs import _core
from rnnrs.modules import _float_dtype, _Module, _positive_int

__all__ = ["ChildSumTreeLSTM", "Forest", "NaryTreeLSTM", "RecursiveNN"]


def _int_array(a, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what}: expected a 1-D array of integers, got {arr.dtype} with shape {arr.shape}")
    return arr.astype(np.int64)


class Forest:
    """A validated batch of trees: ordered children lists over globally numbered nodes.

    Attributes: ``num_trees``, ``num_nodes``, ``offsets`` (``num_trees + 1``: tree ``b`` owns
    nodes ``offsets[b]:offsets[b+1]``), ``roots`` (global index of every tree's root),
    ``num_levels`` (height of the tallest tree plus one), ``child_ptr``/``child_idx`` (CSR
    children lists; child order is the slot order of `NaryTreeLSTM` and `RecursiveNN`).
    Construction raises ValueError for an empty batch or tree, indices out of range, a node
    with two parents, a tree without exactly one root, or a cycle.
    """

    def __init__(self, offsets, child_ptr, child_idx):
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.child_ptr = np.ascontiguousarray(child_ptr, dtype=np.int64)
        self.child_idx = np.ascontiguousarray(child_idx, dtype=np.int64)
        roots, levels = _core.tree_check(self.offsets, self.child_ptr, self.child_idx)
        self.roots: np.ndarray = roots
        self.num_levels: int = levels

    @property
    def num_trees(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_nodes(self) -> int:
        return len(self.child_ptr) - 1

    def __repr__(self) -> str:
        return f"Forest(num_trees={self.num_trees}, num_nodes={self.num_nodes}, num_levels={self.num_levels})"

    @classmethod
    def from_parents(cls, parents: Sequence) -> Forest:
        """One array per tree: the parent index of every node (``-1`` for the root).

        A node's children are ordered by their node index (the first is the left child).
        """
        if isinstance(parents, np.ndarray) and parents.ndim == 1:
            raise ValueError("parents: expected a list of per-tree parent arrays, got one 1-D array (wrap it in a list)")
        if len(parents) == 0:
            raise ValueError("parents: expected at least one tree")
        offsets = [0]
        ptr_parts, idx_parts = [np.zeros(1, np.int64)], []
        for b, p in enumerate(parents):
            p = _int_array(p, f"parents[{b}]")
            n = len(p)
            if n == 0:
                raise ValueError(f"parents[{b}]: tree {b} is empty (a tree needs at least one node)")
            bad = (p < -1) | (p >= n)
            if bad.any():
                j = int(np.argmax(bad))
                raise ValueError(f"parents[{b}]: node {j} has parent {int(p[j])}, expected -1 (root) or 0..{n - 1}")
            nonroot = np.flatnonzero(p >= 0)
            kids = nonroot[np.argsort(p[nonroot], kind="stable")]
            counts = np.bincount(p[nonroot], minlength=n)
            ptr_parts.append(ptr_parts[-1][-1] + np.cumsum(counts))
            idx_parts.append(kids + offsets[-1])
            offsets.append(offsets[-1] + n)
        return cls(offsets, np.concatenate(ptr_parts), np.concatenate(idx_parts) if idx_parts else [])

    @classmethod
    def from_children(cls, children: Sequence) -> Forest:
        """One list per tree: for every node, the list of its children's indices (in slot order)."""
        if len(children) == 0:
            raise ValueError("children: expected at least one tree")
        offsets, ptr, idx = [0], [0], []
        for b, tree in enumerate(children):
            if len(tree) == 0:
                raise ValueError(f"children[{b}]: tree {b} is empty (a tree needs at least one node)")
            n = len(tree)
            for j, kids in enumerate(tree):
                kids = _int_array(kids, f"children[{b}][{j}]")
                if ((kids < 0) | (kids >= n)).any():
                    raise ValueError(f"children[{b}][{j}]: child indices must be in 0..{n - 1}, got {kids.tolist()}")
                idx.extend((kids + offsets[-1]).tolist())
                ptr.append(len(idx))
            offsets.append(offsets[-1] + n)
        return cls(offsets, ptr, idx)


class _TreeNet(_Module):
    _cell = ""

    def __init__(self, input_size: int, hidden_size: int, arity: int, num_embeddings: Optional[int],
                 dtype, seed: Optional[int]):
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.arity = _positive_int("arity", arity)
        self.num_embeddings = None if num_embeddings is None else _positive_int("num_embeddings", num_embeddings)
        self.dtype = _float_dtype(dtype)
        rng = np.random.default_rng(seed)
        h, d = self.hidden_size, self.input_size
        bound = 1.0 / math.sqrt(h)
        self.params = {}
        for name, shape in self._shapes(d, h).items():
            self.params[name] = rng.uniform(-bound, bound, shape).astype(self.dtype)
        if self.num_embeddings is not None:
            self.params["embedding"] = rng.normal(0.0, 1.0, (self.num_embeddings, d)).astype(self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._saved = None

    def _shapes(self, d: int, h: int) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        emb = "" if self.num_embeddings is None else f", num_embeddings={self.num_embeddings}"
        return (f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"arity={self.arity}{emb}, dtype={self.dtype})")

    def __call__(self, forest: Forest, x) -> np.ndarray:
        return self.forward(forest, x, train=False)

    def _weights(self) -> list:
        empty = np.zeros((0, 0), self.dtype)
        return [self.params["weight_ih"], self.params["weight_hh"], self.params.get("weight_hf", empty),
                self.params["bias"]]

    def _node_inputs(self, forest: Forest, x) -> tuple:
        if not isinstance(forest, Forest):
            raise TypeError(f"forest: expected an rnnrs.tree.Forest, got {type(forest).__name__}")
        n = forest.num_nodes
        ids = np.asarray(x)
        if self.num_embeddings is not None and ids.ndim == 1:
            if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(f"x: expected {n} integer token ids (one per node), got {ids.dtype} with shape {ids.shape}")
            if ((ids < 0) | (ids >= self.num_embeddings)).any():
                raise ValueError(f"x: token ids must be in 0..{self.num_embeddings - 1}")
            return np.ascontiguousarray(self.params["embedding"][ids]), ids
        x = self._input(x)
        if x.shape != (n, self.input_size):
            raise ValueError(f"x: expected shape ({n}, {self.input_size}) (nodes, input_size), got {x.shape}")
        return x, None

    def forward(self, forest: Forest, x, train: bool = True) -> np.ndarray:
        """Hidden state of every node, ``(forest.num_nodes, hidden_size)``.

        x: ``(num_nodes, input_size)`` node inputs in the model's dtype, or ``(num_nodes,)`` integer token
        ids when the model has an embedding table. With ``train`` keeps what `backward` needs.
        """
        xs, ids = self._node_inputs(forest, x)
        h, c, gates, forget = _core.tree_forward(
            forest.offsets, forest.child_ptr, forest.child_idx, self._weights(), xs,
            cell=self._cell, arity=self.arity, hidden_size=self.hidden_size)
        if train:
            self._saved = (forest, xs, ids, [h, c, gates, forget])
        return h

    def backward(self, grad_h) -> Optional[np.ndarray]:
        """Adds the parameter gradients of ``sum(grad_h * h)`` to ``grads``; returns the node inputs'
        gradient ``(num_nodes, input_size)`` (None with token ids: the embedding's gradient is in grads).
        """
        if self._saved is None:
            raise RuntimeError("backward: call forward(..., train=True) first")
        forest, xs, ids, cache = self._saved
        g = np.asarray(grad_h)
        if g.dtype != self.dtype:
            raise TypeError(f"grad_h: expected {self.dtype} like the model, got {g.dtype}")
        if g.shape != (forest.num_nodes, self.hidden_size):
            raise ValueError(f"grad_h: expected shape {(forest.num_nodes, self.hidden_size)}, got {g.shape}")
        dw_ih, dw_hh, dw_hf, db, dx = _core.tree_backward(
            forest.offsets, forest.child_ptr, forest.child_idx, self._weights(), xs, cache,
            np.ascontiguousarray(g), cell=self._cell, arity=self.arity, hidden_size=self.hidden_size)
        self.grads["weight_ih"] += dw_ih
        self.grads["weight_hh"] += dw_hh
        self.grads["bias"] += db
        if "weight_hf" in self.grads:
            self.grads["weight_hf"] += dw_hf
        if ids is not None:
            np.add.at(self.grads["embedding"], ids, dx)
            return None
        return dx


class RecursiveNN(_TreeNet):
    """Plain recursive network: ``h = tanh(W_ih x + W_hh [h_1; ...; h_arity] + b)`` at every node.

    Parameters: ``weight_ih (H, D)``, ``weight_hh (H, arity*H)``, ``bias (H,)`` (and ``embedding
    (num_embeddings, D)`` with token ids). Children fill slots in order; absent children are zeros.
    Init: U(-1/sqrt(H), 1/sqrt(H)); embedding N(0, 1); from ``numpy.random.default_rng(seed)``.
    """

    _cell = "recursive"

    def __init__(self, input_size: int, hidden_size: int, arity: int = 2, num_embeddings: Optional[int] = None,
                 dtype=np.float32, seed: Optional[int] = None):
        super().__init__(input_size, hidden_size, arity, num_embeddings, dtype, seed)

    def _shapes(self, d, h):
        return {"weight_ih": (h, d), "weight_hh": (h, self.arity * h), "bias": (h,)}


class NaryTreeLSTM(_TreeNet):
    """N-ary Tree-LSTM (Tai et al. 2015, eqs. 9-14), ``arity`` child slots, per-slot forget gates.

    Parameters: ``weight_ih (4H, D)`` rows ``[i; o; u; f]``, ``weight_hh ((3+arity)H, arity*H)`` rows
    ``[U_i; U_o; U_u; U_f^1; ...; U_f^arity]`` over ``[h_1; ...; h_arity]``, ``bias (4H,)``.
    ``c = i*u + sum_k f_k*c_k``, ``h = o*tanh(c)``; absent children contribute zeros.
    """

    _cell = "nary_lstm"

    def __init__(self, input_size: int, hidden_size: int, arity: int = 2, num_embeddings: Optional[int] = None,
                 dtype=np.float32, seed: Optional[int] = None):
        super().__init__(input_size, hidden_size, arity, num_embeddings, dtype, seed)

    def _shapes(self, d, h):
        return {"weight_ih": (4 * h, d), "weight_hh": ((3 + self.arity) * h, self.arity * h), "bias": (4 * h,)}


class ChildSumTreeLSTM(_TreeNet):
    """Child-Sum Tree-LSTM (Tai et al. 2015, eqs. 2-8): any number of children.

    Parameters: ``weight_ih (4H, D)`` rows ``[i; o; u; f]``, ``weight_hh (3H, H)`` rows
    ``[U_i; U_o; U_u]`` applied to the sum of the children's states, ``weight_hf (H, H)`` (``U_f``,
    applied to each child's own state for its forget gate), ``bias (4H,)``.
    """

    _cell = "child_sum_lstm"

    def __init__(self, input_size: int, hidden_size: int, num_embeddings: Optional[int] = None,
                 dtype=np.float32, seed: Optional[int] = None):
        super().__init__(input_size, hidden_size, 1, num_embeddings, dtype, seed)

    def _shapes(self, d, h):
        return {"weight_ih": (4 * h, d), "weight_hh": (3 * h, h), "weight_hf": (h, h), "bias": (4 * h,)}

    def __repr__(self) -> str:
        emb = "" if self.num_embeddings is None else f", num_embeddings={self.num_embeddings}"
        return f"ChildSumTreeLSTM(input_size={self.input_size}, hidden_size={self.hidden_size}{emb}, dtype={self.dtype})"
