"""Sequence classification with reservoirs: the UCI Japanese Vowels speakers (9 classes).

    python examples/esn_japanese_vowels.py [--quick]

270 training and 370 test utterances, 7-29 frames of 12 LPC cepstrum coefficients each; one
label per utterance. rnnrs.ESNClassifier turns each sequence into one feature vector (mean
state, last state, or the reservoir model space of Bianchi et al. 2021) and fits a ridge or
logistic readout. When ReservoirPy is importable, its tutorial models ("Classification with
Reservoir Computing", tutorials/5: sequence-to-vector on the last state, and transduction with
one label per time step) run on the same data in the same process, so the figures are side by
side; the accuracies that tutorial reports are printed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rnnrs as rr

# ReservoirPy's "Classification with Reservoir Computing" tutorial (tutorials/5), as published.
RESERVOIRPY_REPORTED = {"sequence-to-vector (last state)": 0.87297, "transduction (per-step labels)": 0.92826}


def reservoirpy_models(X_train, y_train, X_test, y_test) -> dict:
    """ReservoirPy's two tutorial models on the same data (same hyper-parameters as the tutorial)."""
    import reservoirpy as rpy
    from reservoirpy.nodes import Input, Reservoir, Ridge

    rpy.set_seed(42)
    onehot = np.eye(9)
    out = {}
    # Sequence-to-vector: last state of each utterance into a ridge readout.
    reservoir, readout = Reservoir(500, sr=0.9, lr=0.1), Ridge(ridge=1e-6)

    def last_state(x: np.ndarray) -> np.ndarray:
        # Every utterance from the zero state, as the tutorial's reservoir.reset() (without it
        # the state would carry over from the previous utterance, often the same speaker's).
        states = reservoir.run(x)
        reservoir.reset()
        return states[-1:]

    readout.fit(np.concatenate([last_state(x) for x in X_train]), onehot[y_train])
    pred = [np.argmax(readout.run(last_state(x))) for x in X_test]
    out["sequence-to-vector (last state)"] = float(np.mean(np.array(pred) == y_test))
    # Transduction: a label at every step; the accuracy counts steps, as the tutorial does.
    source, reservoir, readout = Input(), Reservoir(500, sr=0.05), Ridge(ridge=1e-1)
    model = [source >> reservoir, source] >> readout
    model.fit(X_train, [np.repeat(onehot[c][None], len(x), axis=0) for x, c in zip(X_train, y_train)], warmup=2)
    steps = []
    for x in X_test:  # each utterance from the zero state
        reservoir.reset()
        steps.append(model.run(x))
    hits = np.concatenate([np.argmax(s, axis=1) == c for s, c in zip(steps, y_test)])
    out["transduction (per-step labels)"] = float(np.mean(hits))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two rnnrs models with 200 units, no ReservoirPy")
    args = parser.parse_args(argv)
    X_train, y_train, X_test, y_test = rr.datasets.japanese_vowels()
    units = 200 if args.quick else 500
    configs = {
        "mean state, ridge (defaults)": rr.ESNClassifier(units=units, seed=0),
        "last state, ridge": rr.ESNClassifier(units=units, features="last", seed=0),
    }
    if not args.quick:
        configs["reservoir model space, ridge"] = rr.ESNClassifier(units=units, features="model_space", seed=0)
        configs["mean state, logistic"] = rr.ESNClassifier(units=units, readout="logistic", seed=0)
    results = {}
    print(f"{'model':42s} {'test accuracy':>13s} {'fit+predict':>12s}")
    for name, clf in configs.items():
        t = time.perf_counter()
        acc = clf.fit(X_train, y_train).score(X_test, y_test)
        results[name] = acc
        print(f"rnnrs  {name:35s} {acc:13.4f} {time.perf_counter() - t:10.2f} s")
    try:
        import reservoirpy  # noqa: F401
    except ImportError:
        reservoirpy = None
    if reservoirpy is not None and not args.quick:
        t = time.perf_counter()
        for name, acc in reservoirpy_models(X_train, y_train, X_test, y_test).items():
            results["reservoirpy " + name] = acc
            print(f"ReservoirPy {name:30s} {acc:13.4f}")
        print(f"(ReservoirPy models: {time.perf_counter() - t:.2f} s in total)")
    for name, acc in RESERVOIRPY_REPORTED.items():
        print(f"ReservoirPy tutorial reports, {name}: {acc:.4f}")
    return results


if __name__ == "__main__":
    main()
