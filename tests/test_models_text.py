"""rnnrs.models: TextRNN and TextRCNN (gradients, lengths, training through fit)."""

import numpy as np
import pytest

import rnnrs as rr
from rnnrs.models import TextRCNN, TextRNN


def tokens(seed=0, t=6, n=4, vocab=9, pad=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(t, n))
    lengths = rng.integers(1, t + 1, size=n)
    lengths[0] = t
    for j, n_j in enumerate(lengths):
        x[n_j:, j] = pad
    return x, lengths


def check_gradients(model, x, y, stride=1):
    loss_fn = rr.train.sequence_cross_entropy
    model.zero_grad()
    logits, _ = model.forward(x, None, train=True)
    _, d = loss_fn(logits, y)
    model.backward(d)
    for name, p in model.params.items():
        g = model.grads[name]
        flat, gflat = p.reshape(-1), g.reshape(-1)
        for i in range(0, flat.size, stride):
            if name == "embedding.weight" and i // p.shape[1] == model.padding_idx:
                continue  # the padding row is frozen (no gradient), as in torch
            v = flat[i]
            flat[i] = v + 1e-6
            lp = loss_fn(model(x)[0], y)[0]
            flat[i] = v - 1e-6
            lm = loss_fn(model(x)[0], y)[0]
            flat[i] = v
            num = (lp - lm) / 2e-6
            assert abs(num - gflat[i]) < 1e-6 + 1e-4 * abs(num), f"{name}[{i}]: {gflat[i]} vs {num}"


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_textrnn_gradients(pooling, bidirectional):
    m = TextRNN(9, 3, embedding_dim=3, hidden_size=4, bidirectional=bidirectional, pooling=pooling, padding_idx=0,
                dtype=np.float64, seed=1)
    x, _ = tokens(1)
    check_gradients(m, x, np.array([0, 2, 1, 1]), stride=7)


def test_textrcnn_gradients():
    m = TextRCNN(9, 3, embedding_dim=3, hidden_size=4, projection_size=5, padding_idx=0, dtype=np.float64, seed=2)
    x, _ = tokens(2)
    check_gradients(m, x, np.array([1, 0, 2, 1]), stride=7)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_padding_does_not_change_the_model(pooling, bidirectional):
    m = TextRNN(9, 3, embedding_dim=3, hidden_size=4, bidirectional=bidirectional, pooling=pooling, padding_idx=0,
                dtype=np.float64, seed=3)
    x, lengths = tokens(3)
    batch = m(x)[0]
    for j, n in enumerate(lengths):
        alone = m(x[:n, j:j + 1])[0]
        np.testing.assert_allclose(batch[j], alone[0], rtol=1e-12)
    np.testing.assert_allclose(m(x, lengths=lengths)[0], batch)


def test_textrcnn_max_pool_reads_only_valid_steps():
    m = TextRCNN(9, 3, embedding_dim=3, hidden_size=4, projection_size=5, padding_idx=0, dtype=np.float64, seed=4)
    x, lengths = tokens(4)
    batch = m(x)[0]
    for j, n in enumerate(lengths):  # padding changes nothing (the layer runs with lengths)
        np.testing.assert_allclose(batch[j], m(x[:n, j:j + 1])[0][0], rtol=1e-12)
    probs = m.predict_proba(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert m.predict(x).shape == (4,)


def test_bad_input():
    m = TextRNN(9, 3, padding_idx=0)
    x, _ = tokens(0)
    with pytest.raises(TypeError, match="integer token"):
        m(x.astype(float))
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=np.array([7, 1, 1, 1]))
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=np.array([0, 1, 1, 1]))
    with pytest.raises(ValueError, match="pooling"):
        TextRNN(9, 3, pooling="attention")
    with pytest.raises(RuntimeError, match="backward"):
        m.backward(np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("cls", [TextRNN, TextRCNN])
def test_trains_through_fit(cls):
    # Class = whether token 1 occurs in the sequence (variable lengths, padding 0).
    rng = np.random.default_rng(0)
    t, n = 8, 256
    x = rng.integers(2, 6, size=(t, n))
    lengths = rng.integers(2, t + 1, size=n)
    y = rng.integers(0, 2, size=n)
    for j in range(n):
        if y[j]:
            x[rng.integers(0, lengths[j]), j] = 1
        x[lengths[j]:, j] = 0
    model = cls(6, 2, embedding_dim=8, hidden_size=16, padding_idx=0, seed=0)
    opt = rr.optim.Adam(model.params, lr=0.02)
    hist = rr.train.fit(model, (x, y), "cross_entropy", opt, epochs=8, batch_size=64, progress=False, seed=0)
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    assert (model.predict(x) == y).mean() > 0.95
    sd = model.state_dict()
    other = cls(6, 2, embedding_dim=8, hidden_size=16, padding_idx=0, seed=5)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_bidirectional_matches_the_builtin_bidirectional_layer():
    from rnnrs.models import Bidirectional, Concat

    bi = rr.LSTM(3, 4, bidirectional=True, dtype=np.float64, seed=0)
    fwd, bwd = rr.LSTM(3, 4, dtype=np.float64), rr.LSTM(3, 4, dtype=np.float64)
    for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        fwd.params[k][...] = bi.params[k]
        bwd.params[k][...] = bi.params[k + "_reverse"]
    comb = Bidirectional(fwd, bwd)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    dy = np.random.default_rng(1).standard_normal((5, 2, 8))
    y_ref, _ = bi.forward(x, train=True)
    dx_ref, _ = bi.backward(dy)
    y = comb.forward(x, train=True)
    dx = comb.backward(dy)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(comb.grads["1.weight_hh_l0"], bi.grads["weight_hh_l0_reverse"], rtol=1e-10)
    # Concat of a recurrent layer and a Linear inside a Sequential trains end to end.
    model = rr.Sequential(Concat(rr.GRU(3, 4, dtype=np.float64), rr.Linear(3, 2, dtype=np.float64)),
                          rr.Linear(6, 1, dtype=np.float64))
    out, _ = model.forward(x, train=True)
    assert out.shape == (5, 2, 1)
    assert model.backward(np.ones_like(out)).shape == x.shape
    assert "0.0.weight_ih_l0" in model.params and "0.1.weight" in model.grads
