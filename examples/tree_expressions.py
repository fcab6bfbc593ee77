"""Learning to evaluate expression trees with a binary Tree-LSTM (`rnnrs.tree.NaryTreeLSTM`).

Random arithmetic expressions over the digits with +, -, * modulo 10 (`rnnrs.datasets.expression_trees`,
depth 1-4) are read bottom-up by a binary Tree-LSTM over token embeddings; a linear readout at every
node predicts the value of that node's sub-expression (a loss at every node, like sentiment at every
phrase). Reported: the accuracy of the root values on fresh test trees (target: >= 95 %; the
majority class scores ~20 %). ``--kind bool`` (T/F with and/or/xor) is solved perfectly in one epoch.

    python examples/tree_expressions.py            # ~2 minutes on 2 cores
    python examples/tree_expressions.py --quick    # seconds, smoke test (boolean trees)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
from rnnrs.tree import Forest, NaryTreeLSTM


def batches(data, idx):
    forest = Forest.from_parents([data.parents[i] for i in idx])
    tokens = np.concatenate([data.tokens[i] for i in idx])
    values = np.concatenate([data.values[i] for i in idx])
    return forest, tokens, values


def root_accuracy(tree, head, data) -> float:
    forest, tokens, values = batches(data, np.arange(len(data.parents)))
    logits = head(tree(forest, tokens))
    return float(np.mean(logits[forest.roots].argmax(1) == values[forest.roots]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["bool", "arith"], default="arith")
    ap.add_argument("--train", type=int, default=8000, help="training trees")
    ap.add_argument("--test", type=int, default=2000, help="test trees")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--embed", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds) for tests")
    args = ap.parse_args(argv)
    if args.quick:
        args.kind, args.train, args.test, args.epochs, args.hidden, args.batch = "bool", 2000, 300, 3, 32, 32

    train = rnnrs.datasets.expression_trees(args.train, args.kind, max_depth=4, seed=args.seed)
    test = rnnrs.datasets.expression_trees(args.test, args.kind, max_depth=4, seed=args.seed + 1)
    majority = float(np.mean(np.array([v[0] for v in test.values]) == np.bincount([v[0] for v in train.values]).argmax()))
    tree = NaryTreeLSTM(args.embed, args.hidden, arity=2, num_embeddings=len(train.vocab), seed=args.seed)
    head = rnnrs.Linear(args.hidden, train.num_classes, seed=args.seed + 1)
    params = {**{f"tree.{k}": v for k, v in tree.params.items()}, **{f"head.{k}": v for k, v in head.params.items()}}
    opt = rnnrs.optim.Adam(params, lr=args.lr)
    rng = np.random.default_rng(args.seed)
    print(f"{args.kind} expression trees: {args.train} train, {args.test} test; e.g. {train.to_string(0)} = "
          f"{train.vocab[train.values[0][0]] if args.kind == 'arith' else 'FT'[train.values[0][0]]}")
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        perm = rng.permutation(args.train)
        total = 0.0
        for s in range(0, args.train, args.batch):
            forest, tokens, values = batches(train, perm[s:s + args.batch])
            tree.zero_grad()
            head.zero_grad()
            h = tree.forward(forest, tokens, train=True)
            logits = head.forward(h, train=True)
            loss, dlogits = rnnrs.losses.cross_entropy(logits, values)
            tree.backward(head.backward(dlogits))
            grads = {**{f"tree.{k}": v for k, v in tree.grads.items()},
                     **{f"head.{k}": v for k, v in head.grads.items()}}
            rnnrs.clip_grad_norm_(grads, 5.0)
            opt.step(grads)
            total += float(loss) * len(values)
        acc = root_accuracy(tree, head, test)
        print(f"epoch {epoch + 1:>2}: train loss/node {total / sum(len(v) for v in train.values):.4f}, "
              f"test root accuracy {acc:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    acc = root_accuracy(tree, head, test)
    print(f"\ntest root accuracy {acc:.3f} (majority class {majority:.3f}), {time.perf_counter() - t0:.0f} s")
    return {"accuracy": acc, "majority": majority}


if __name__ == "__main__":
    main()
