"""rnnrs.generate: seeded, greedy = arg-max of a teacher-forced run, top-k respected, clear errors."""

import numpy as np
import pytest
import rnnrs
from rnnrs.sampling import sample_logits


def char_model(vocab=11, seed=0):
    return rnnrs.Sequential(rnnrs.Embedding(vocab, 5, seed=seed), rnnrs.LSTM(5, 8, seed=seed + 1),
                            rnnrs.GRU(8, 6, seed=seed + 2), rnnrs.Linear(6, vocab, seed=seed + 3))


def test_greedy_generation_is_the_argmax_of_a_teacher_forced_run():
    model = char_model()
    prime = np.array([1, 4, 2])
    out = rnnrs.generate(model, prime, 12, temperature=0)
    logits, _ = model(np.concatenate([prime, out]).reshape(-1, 1))
    np.testing.assert_array_equal(out, logits[len(prime) - 1:-1, 0].argmax(axis=-1))


def test_seeded_sampling_is_reproducible_and_respects_top_k():
    model = char_model(seed=3)
    prime = np.array([0, 7])
    a = rnnrs.generate(model, prime, 40, temperature=1.5, seed=5)
    b = rnnrs.generate(model, prime, 40, temperature=1.5, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rnnrs.generate(model, prime, 40, temperature=1.5, seed=6))
    k = 2
    out = rnnrs.generate(model, prime, 30, temperature=2.0, top_k=k, seed=1)
    logits, _ = model(np.concatenate([prime, out]).reshape(-1, 1))
    top = np.argsort(logits[len(prime) - 1:-1, 0], axis=-1)[:, -k:]
    assert all(t in row for t, row in zip(out, top))


def test_sample_logits_matches_the_softmax_distribution():
    rng = np.random.default_rng(0)
    logits = np.array([0.0, 1.0, 2.0])
    draws = np.bincount([sample_logits(logits, rng, 1.0) for _ in range(6000)], minlength=3) / 6000
    p = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(draws, p, atol=0.03)


def test_generate_errors():
    model = char_model()
    for kw, match in (({"temperature": -1}, "temperature"), ({"top_k": 0}, "top_k"), ({"top_k": 99}, "top_k")):
        with pytest.raises(ValueError, match=match):
            rnnrs.generate(model, [1], 3, **kw)
    with pytest.raises(ValueError, match="prime"):
        rnnrs.generate(model, [11], 3)
    with pytest.raises(ValueError, match="prime"):
        rnnrs.generate(model, np.array([], dtype=int), 3)
    with pytest.raises(TypeError, match="model"):
        rnnrs.generate(rnnrs.Sequential(rnnrs.LSTM(2, 3), rnnrs.Linear(3, 2)), [1], 3)
