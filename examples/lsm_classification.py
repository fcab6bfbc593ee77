"""Classifying Japanese Vowels (9 speakers) with a liquid state machine, beside an ESN of the same size.

Each utterance (7-29 frames of 12 LPC coefficients, `rnnrs.datasets.japanese_vowels`) is fed to a
liquid of LIF neurons (`rnnrs.LSM`, 10x10x10 = 1000 neurons, Maass et al. 2002) as input currents,
each frame held for a few milliseconds; the readout (`rnnrs.Ridge` on one-hot labels) sees the mean
and the last value of the filtered spike trains. The ESN (`rnnrs.Reservoir`, 1000 tanh units) gets
the same readout on its states. Reported: test accuracy of both (chance 11 %).

    python examples/lsm_classification.py            # ~1 minute
    python examples/lsm_classification.py --quick    # seconds, smoke test
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs


def standardise(train, test):
    allx = np.concatenate(train)
    mu, sd = allx.mean(0), allx.std(0) + 1e-9
    return [(x - mu) / sd for x in train], [(x - mu) / sd for x in test]


def esn_accuracy(units, ridge, X_train, y_train, X_test, y_test, seed):
    res = rnnrs.Reservoir(units, spectral_radius=0.9, leak_rate=0.3, input_scaling=0.5, seed=seed)

    def pooled(X):
        return np.stack([np.concatenate([s.mean(0), s[-1]]) for s in res.run(X)])

    readout = rnnrs.Ridge(alpha=ridge).fit(pooled(X_train), np.eye(9)[y_train])
    return float(np.mean(readout.predict(pooled(X_test)).argmax(1) == y_test))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=int, default=10, help="liquid of grid^3 neurons")
    ap.add_argument("--steps-per-input", type=int, default=5, help="simulation steps (ms) per frame")
    ap.add_argument("--input-scaling", type=float, default=5.0)
    ap.add_argument("--ridge", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small liquid, seconds")
    args = ap.parse_args(argv)
    if args.quick:
        args.grid = 5
    X_train, y_train, X_test, y_test = rnnrs.datasets.japanese_vowels()
    X_train, X_test = standardise(X_train, X_test)
    units = args.grid ** 3
    t0 = time.perf_counter()
    lsm = rnnrs.LSM(shape=(args.grid,) * 3, input_scaling=args.input_scaling, steps_per_input=args.steps_per_input,
                    features="traces", tau_trace=30.0, ridge=args.ridge, seed=args.seed)
    lsm.fit(X_train, y_train)
    acc_lsm = lsm.score(X_test, y_test)
    t_lsm = time.perf_counter() - t0
    rate = lsm.last_spike_count_ / (units * sum(len(x) for x in X_test) * args.steps_per_input * 1e-3)
    t0 = time.perf_counter()
    acc_esn = esn_accuracy(units, args.ridge, X_train, y_train, X_test, y_test, args.seed)
    t_esn = time.perf_counter() - t0
    print(f"Japanese Vowels, {len(X_train)} train / {len(X_test)} test utterances, {units} units each")
    print(f"LSM (LIF, mean rate {rate:.1f} Hz): test accuracy {acc_lsm:.3f} ({t_lsm:.1f} s)")
    print(f"ESN (tanh)                 : test accuracy {acc_esn:.3f} ({t_esn:.1f} s)")
    return {"lsm": acc_lsm, "esn": acc_esn}


if __name__ == "__main__":
    main()
