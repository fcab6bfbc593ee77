"""rnnrs.tree: forests (validation), recursive net and Tree-LSTMs against the NumPy reference,
float64 gradients against finite differences, hypothesis over random forests, threads."""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.reference import structure as ref
from rnnrs.tree import ChildSumTreeLSTM, Forest, NaryTreeLSTM, RecursiveNN

CELLS = [
    (RecursiveNN, {}),
    (RecursiveNN, {"arity": 3}),
    (NaryTreeLSTM, {}),
    (NaryTreeLSTM, {"arity": 3}),
    (ChildSumTreeLSTM, {}),
]


def random_parents(rng, n, arity):
    """A random tree of n nodes with at most `arity` children per node, nodes shuffled."""
    parent = [-1]
    counts = [0]
    for v in range(1, n):
        free = [u for u in range(v) if counts[u] < arity]
        p = int(rng.choice(free))
        parent.append(p)
        counts[p] += 1
        counts.append(0)
    perm = rng.permutation(n)  # node v -> perm[v]
    out = np.empty(n, np.int64)
    for v, p in enumerate(parent):
        out[perm[v]] = -1 if p < 0 else perm[p]
    return out


def children_lists(forest):
    cp, ci, off = forest.child_ptr, forest.child_idx, forest.offsets
    trees = []
    for b in range(forest.num_trees):
        lo, hi = off[b], off[b + 1]
        trees.append([list(ci[cp[v]:cp[v + 1]] - lo) for v in range(lo, hi)])
    return trees


def reference_h(model, forest, x):
    cell = model._cell
    out = []
    for b, kids in enumerate(children_lists(forest)):
        lo, hi = forest.offsets[b], forest.offsets[b + 1]
        r = ref.tree_forward(cell, kids, x[lo:hi].astype(np.float64),
                             {k: v.astype(np.float64) for k, v in model.params.items()},
                             model.hidden_size, model.arity)
        out.append(r if cell == "recursive" else r[0])
    return np.concatenate(out)


def make_forest(seed, sizes, arity):
    rng = np.random.default_rng(seed)
    return Forest.from_parents([random_parents(rng, n, arity) for n in sizes])


@pytest.mark.parametrize("cls,opts", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_reference(cls, opts, dtype):
    arity = opts.get("arity", 2) if cls is not ChildSumTreeLSTM else 4
    forest = make_forest(1, [1, 7, 12, 3], arity)
    model = cls(3, 5, dtype=dtype, seed=2, **opts)
    x = np.random.default_rng(3).normal(size=(forest.num_nodes, 3)).astype(dtype)
    h = model(forest, x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(h, reference_h(model, forest, x), rtol=tol, atol=tol)
    assert h.dtype == dtype


@pytest.mark.parametrize("cls,opts", CELLS)
def test_gradients_match_finite_differences(cls, opts):
    arity = opts.get("arity", 2) if cls is not ChildSumTreeLSTM else 3
    forest = make_forest(4, [6, 1, 4], arity)
    model = cls(2, 3, dtype=np.float64, seed=5, **opts)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(forest.num_nodes, 2))
    w = rng.normal(size=(forest.num_nodes, 3))  # a loss at every node
    names = list(model.params)

    def f(x, *ps):
        for n, p in zip(names, ps):
            model.params[n][...] = p
        return float(np.sum(w * model(forest, x)))

    originals = [model.params[n].copy() for n in names]
    model.forward(forest, x, train=True)
    dx = model.backward(w)
    analytic = [dx] + [model.grads[n].copy() for n in names]
    err = rnnrs.gradcheck(f, [x] + originals, analytic, eps=1e-6, rtol=1e-6, atol=1e-8)
    assert err <= 1e-6


def test_token_ids_use_the_embedding():
    forest = Forest.from_children([[[1, 2], [], []], [[]]])
    model = NaryTreeLSTM(4, 3, num_embeddings=7, dtype=np.float64, seed=0)
    ids = np.array([0, 5, 6, 5])
    h = model.forward(forest, ids, train=True)
    np.testing.assert_allclose(h, model(forest, model.params["embedding"][ids]))
    assert model.backward(np.ones_like(h)) is None
    g = model.grads["embedding"]
    assert g[5].any() and g[6].any() and not g[1].any()
    with pytest.raises(ValueError, match="token ids"):
        model(forest, np.array([0, 1, 2, 7]))


def test_roots_and_levels():
    forest = Forest.from_parents([[-1, 0, 0, 1], [1, -1]])
    assert forest.num_nodes == 6 and forest.num_trees == 2
    np.testing.assert_array_equal(forest.roots, [0, 5])
    assert forest.num_levels == 3
    # Parent arrays and children lists describe the same forest.
    same = Forest.from_children([[[1, 2], [3], [], []], [[], [0]]])
    np.testing.assert_array_equal(same.child_idx, forest.child_idx)


@pytest.mark.parametrize(
    "parents,match",
    [
        ([[1, 0]], "no root"),
        ([[-1, 2, 1]], "cycle"),
        ([[-1, -1]], "2 roots"),
        ([[-1, 5]], "parent 5"),
        ([[-1, 0], []], "empty"),
        ([], "at least one tree"),
        ([[0]], "own child|no root"),
    ],
)
def test_bad_trees_raise(parents, match):
    with pytest.raises(ValueError, match=match):
        Forest.from_parents(parents)


def test_bad_children_lists_raise():
    with pytest.raises(ValueError, match="two parents"):
        Forest.from_children([[[1, 2], [2], []]])
    with pytest.raises(ValueError, match="child indices"):
        Forest.from_children([[[3]]])


def test_bad_model_inputs_raise():
    forest = Forest.from_children([[[1, 2, 3], [], [], []]])
    model = RecursiveNN(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="at most 2"):
        model(forest, np.zeros((4, 2)))
    with pytest.raises(TypeError, match="float64"):
        model(forest, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        model(forest, np.zeros((3, 2)))
    with pytest.raises(RuntimeError, match="forward"):
        RecursiveNN(2, 3).backward(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="input_size"):
        RecursiveNN(0, 3)


def test_nan_input_does_not_crash():
    forest = make_forest(0, [5], 2)
    model = NaryTreeLSTM(2, 3, dtype=np.float64)
    x = np.full((5, 2), np.nan)
    h = model.forward(forest, x, train=True)
    assert np.isnan(h).all()
    model.backward(np.ones_like(h))


@pytest.mark.parametrize("cls", [RecursiveNN, NaryTreeLSTM, ChildSumTreeLSTM])
def test_one_and_two_threads_bit_identical(cls):
    forest = make_forest(8, [50] * 40, 2)
    model = cls(64, 64, dtype=np.float32, seed=1)
    x = np.random.default_rng(2).normal(size=(forest.num_nodes, 64)).astype(np.float32)
    dh = np.random.default_rng(3).normal(size=(forest.num_nodes, 64)).astype(np.float32)
    before = rnnrs.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            model.zero_grad()
            h = model.forward(forest, x, train=True)
            dx = model.backward(dh)
            runs.append([h, dx] + [g.copy() for g in model.grads.values()])
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    cell=st.sampled_from(["recursive", "nary_lstm", "child_sum_lstm"]),
    hidden=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_hypothesis_random_forests_match_reference(sizes, cell, hidden, seed):
    cls = {"recursive": RecursiveNN, "nary_lstm": NaryTreeLSTM, "child_sum_lstm": ChildSumTreeLSTM}[cell]
    forest = make_forest(seed, sizes, 2 if cell != "child_sum_lstm" else 5)
    model = cls(2, hidden, dtype=np.float64, seed=seed)
    x = np.random.default_rng(seed).normal(size=(forest.num_nodes, 2))
    np.testing.assert_allclose(model(forest, x), reference_h(model, forest, x), rtol=1e-12, atol=1e-12)


def test_example_quick_learns(capsys):
    import pathlib
    import runpy

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "tree_expressions.py"
    result = runpy.run_path(str(path), run_name="example")["main"](["--quick"])
    assert result["accuracy"] >= 0.9 > result["majority"] + 0.3
