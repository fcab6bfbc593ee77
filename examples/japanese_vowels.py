"""Speaker recognition on the UCI Japanese Vowels set with a bidirectional LSTM and lengths.

640 utterances of /ae/ by nine speakers, 12 LPC coefficients per frame, 7 to 29
frames long (Kudo, Toyama & Shimbo 1999; shipped with rnnrs, CC BY 4.0). The
variable-length sequences go to `fit` as a list: it pads them and passes the
lengths, so each direction starts and ends at each utterance's own ends and no
padding is ever computed:

    BiLSTM(12 -> 2x64) -> LastStep(bidirectional) -> Linear(128 -> 9)

`LastStep(bidirectional=True)` takes both directions' final states. Early
stopping on a validation split (restoring the best weights), then the test
accuracy on the standard 370 test utterances (published results: ~0.97-0.99).

    python examples/japanese_vowels.py            # the full run (under 2 minutes on 2 cores)
    python examples/japanese_vowels.py --quick    # a few seconds, smoke test
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rnnrs
from rnnrs.train import fit


def standardise(train, *others):
    """Every sequence scaled by the training frames' per-feature mean and std."""
    frames = np.concatenate(train)
    mu, sd = frames.mean(axis=0), frames.std(axis=0) + 1e-8
    return [[((s - mu) / sd).astype(np.float32) for s in group] for group in (train, *others)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--patience", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few epochs (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.patience = 12, 12

    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test = rnnrs.datasets.japanese_vowels()
    # A validation split of the training set for early stopping (every 6th utterance).
    val = np.arange(len(x_train)) % 6 == 0
    fit_x = [s for s, v in zip(x_train, val) if not v]
    val_x = [s for s, v in zip(x_train, val) if v]
    fit_x, val_x, test_x = standardise(fit_x, val_x, x_test)
    fit_y, val_y = y_train[~val], y_train[val]

    h = args.hidden
    model = rnnrs.Sequential(
        rnnrs.LSTM(12, h, bidirectional=True, seed=args.seed),
        rnnrs.LastStep(bidirectional=True),
        rnnrs.Linear(2 * h, 9, seed=args.seed + 1),
    )
    opt = rnnrs.optim.Adam(model.params, lr=3e-3)
    hist = fit(model, (fit_x, fit_y), "cross_entropy", opt, epochs=args.epochs, batch_size=16, seed=args.seed,
               clip_norm=5.0, validation=(val_x, val_y), metrics=["accuracy"], patience=args.patience,
               restore_best=True, monitor="val_loss", progress=False)
    accuracy = float(np.mean(model.predict(test_x) == y_test))
    seconds = time.perf_counter() - t0
    print(f"epochs: {hist['epoch'][-1]} (best {hist.get('best_epoch')}), "
          f"validation accuracy {hist['val_accuracy'][hist.get('best_epoch', len(hist['epoch'])) - 1]:.3f}")
    print(f"test accuracy: {accuracy:.4f} on {len(y_test)} utterances ({seconds:.1f} s)")
    return {"accuracy": accuracy, "seconds": seconds, "history": hist}


if __name__ == "__main__":
    main()
