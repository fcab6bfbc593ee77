"""Variable-length data around the layers: LastStep, Sequential, fit/evaluate with lists of
sequences, masked per-step losses, predict, early stopping with the best weights restored."""

import numpy as np
import pytest
import rnnrs
from rnnrs.train import evaluate, fit, pad_sequences

F64 = np.float64


def test_pad_sequences_and_errors():
    x, lengths = pad_sequences([np.ones((2, 3)), np.full((4, 3), 2.0)])
    assert x.shape == (4, 2, 3) and lengths.tolist() == [2, 4]
    assert not x[2:, 0].any() and (x[:, 1] == 2).all()
    with pytest.raises(ValueError, match="sequences\\[1\\]"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="sequences\\[0\\]"):
        pad_sequences([np.ones((0, 3))])


@pytest.mark.parametrize("batch_first", [False, True])
def test_last_step_picks_each_last_valid_step_and_backward_puts_it_back(batch_first):
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    lengths = np.array([2, 5, 1])
    xs = x.transpose(1, 0, 2) if batch_first else x
    step = rnnrs.LastStep(batch_first=batch_first, bidirectional=True)
    out = step.forward(xs, lengths=lengths)
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(out[b, :2], x[n - 1, b, :2])
        np.testing.assert_array_equal(out[b, 2:], x[0, b, 2:])
    dy = np.random.default_rng(1).standard_normal((3, 4))
    dx = step.backward(dy)
    # The adjoint: <out, dy> == <x, dx>.
    assert np.sum(out * dy) == pytest.approx(np.sum(xs * dx))
    plain = rnnrs.LastStep(batch_first=batch_first)
    np.testing.assert_array_equal(plain(xs), x[-1])


def test_sequential_with_lengths_matches_each_sequence_alone():
    model = rnnrs.Sequential(rnnrs.GRU(3, 6, bidirectional=True, dtype=F64, seed=0),
                             rnnrs.LastStep(bidirectional=True), rnnrs.Linear(12, 2, dtype=F64, seed=1))
    seqs = [np.random.default_rng(i).standard_normal((n, 3)) for i, n in enumerate([4, 9, 1])]
    x, lengths = pad_sequences(seqs)
    out, _ = model(x, lengths=lengths)
    for b, s in enumerate(seqs):
        alone, _ = model(s[:, None, :])
        np.testing.assert_allclose(out[b], alone[0], rtol=1e-12, atol=1e-13)
    # Predictions do not depend on which sequences share the batch.
    p_all = model.predict_proba(seqs)
    p_one = model.predict_proba(seqs[1:2])
    np.testing.assert_allclose(p_all[1], p_one[0], rtol=1e-12)
    np.testing.assert_allclose(p_all.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(seqs), p_all.argmax(axis=1))


def classification_task(n=60, seed=0):
    """Class = sign of the sum of the sequence's first feature; lengths 2..12."""
    rng = np.random.default_rng(seed)
    seqs = [rng.standard_normal((int(rng.integers(2, 13)), 2)) for _ in range(n)]
    labels = np.array([int(s[:, 0].sum() > 0) for s in seqs])
    return seqs, labels


def test_fit_takes_a_list_of_sequences_and_learns():
    seqs, labels = classification_task()
    model = rnnrs.Sequential(rnnrs.LSTM(2, 16, dtype=F64, seed=0), rnnrs.LastStep(),
                             rnnrs.Linear(16, 2, dtype=F64, seed=1))
    before = evaluate(model, (seqs, labels), "cross_entropy", metrics=["accuracy"])
    opt = rnnrs.optim.Adam(model.params, lr=1e-2)
    hist = fit(model, (seqs, labels), "cross_entropy", opt, epochs=25, batch_size=16, seed=0, progress=False,
               validation=(seqs, labels), metrics=["accuracy"])
    after = evaluate(model, (seqs, labels), "cross_entropy", metrics=["accuracy"])
    assert after["loss"] < 0.6 * before["loss"] and after["accuracy"] > 0.85
    assert hist["val_accuracy"][-1] == pytest.approx(after["accuracy"])


def test_per_step_targets_with_lengths_leave_padding_out():
    rng = np.random.default_rng(3)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 7, 5)]
    targets = [s.sum(axis=1, keepdims=True) for s in seqs]
    model = rnnrs.Sequential(rnnrs.RNN(2, 4, dtype=F64, seed=0), rnnrs.Linear(4, 1, dtype=F64, seed=1))
    x, lengths = pad_sequences(seqs)
    y, _ = pad_sequences(targets)
    y_garbage = y.copy()
    y_garbage[rnnrs.losses.sequence_mask(lengths) == 0] = 1e6
    # Loss over the valid steps only, whatever the padding holds; TBPTT windows give the same mean.
    full = evaluate(model, (x, y_garbage, lengths), "mse")
    assert full == pytest.approx(evaluate(model, (seqs, targets), "mse"), rel=1e-12)
    assert evaluate(model, (x, y_garbage, lengths), "mse", tbptt=2) == pytest.approx(full, rel=1e-10)
    want = np.mean(np.concatenate([(model(s[:, None, :])[0][:, 0] - t) ** 2 for s, t in zip(seqs, targets)]))
    assert full == pytest.approx(want, rel=1e-10)
    opt = rnnrs.optim.Adam(model.params, lr=1e-2)
    hist = fit(model, (x, y_garbage, lengths), "mse", opt, tbptt=3, epochs=30, progress=False)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert np.isfinite(hist["train_loss"]).all()


def test_early_stopping_restores_the_best_weights():
    seqs, labels = classification_task(40, seed=1)
    val = classification_task(20, seed=2)
    model = rnnrs.Sequential(rnnrs.GRU(2, 8, dtype=F64, seed=0), rnnrs.LastStep(),
                             rnnrs.Linear(8, 2, dtype=F64, seed=1))
    # A learning rate large enough that the validation loss turns up quickly.
    opt = rnnrs.optim.Adam(model.params, lr=0.3)
    hist = fit(model, (seqs, labels), "cross_entropy", opt, epochs=40, progress=False, validation=val,
               patience=3, restore_best=True)
    best = hist["best_epoch"]
    assert len(hist["epoch"]) <= 40 and len(hist["epoch"]) - best <= 3
    assert evaluate(model, val, "cross_entropy") == pytest.approx(min(hist["val_loss"]), rel=1e-12)
    with pytest.raises(ValueError, match="validation"):
        fit(model, (seqs, labels), "cross_entropy", opt, patience=2, progress=False)
    with pytest.raises(ValueError, match="monitor"):
        fit(model, (seqs, labels), "cross_entropy", opt, validation=val, monitor="val_accuracy", progress=False)
