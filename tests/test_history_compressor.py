"""Neural history compressor: compression, better prediction of level 0's surprises, collapse, errors."""

import numpy as np
import pytest

import rnnrs as rr


def chunk_stream(n_words, keys, filler, rng):
    out = []
    for a in rng.integers(0, keys, size=n_words):
        out += [a] + list(range(2 * keys, 2 * keys + filler)) + [keys + a]
    return np.array(out)


def test_stack_compresses_and_predicts_surprises():
    rng = np.random.default_rng(0)
    keys, filler = 3, 6
    train, test = chunk_stream(60, keys, filler, rng), chunk_stream(30, keys, filler, rng)
    hc = rr.HistoryCompressor(2 * keys + filler, levels=2, hidden_size=16, window=4, seed=0).fit(train, epochs=4)
    # Level 1 sees the keys and answers only (2 of every 8 symbols), at their positions in the stream.
    assert set(hc.events_[1]) <= set(hc.events_[0])
    assert hc.compression_ratio_ < 0.35
    r = hc.score(test)
    assert r["surprises"] > 0
    assert r["stack_surprise_accuracy"] > r["level0_surprise_accuracy"] + 0.15, r
    assert r["stack_surprise_nll"] < r["level0_surprise_nll"], r
    p = hc.predict_proba(test)
    assert p.shape == (len(test) - 1, 2 * keys + filler)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    before = r["level0_accuracy"]
    hc.collapse(train, epochs=1)
    assert np.isfinite(hc.score(test)["level0_accuracy"]) and before > 0


def test_errors():
    with pytest.raises(ValueError, match="vocab_size"):
        rr.HistoryCompressor(1)
    with pytest.raises(ValueError, match="threshold"):
        rr.HistoryCompressor(4, threshold=0.0)
    with pytest.raises(ValueError, match="cell"):
        rr.HistoryCompressor(4, cell="tree")
    hc = rr.HistoryCompressor(4)
    with pytest.raises(RuntimeError, match="fit"):
        hc.predict_proba(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="stream"):
        hc.fit(np.array([0, 1, 7]))
    with pytest.raises(ValueError, match="stream"):
        hc.fit(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="stream"):
        hc.fit(np.array([1]))
