"""rnnrs.seq2seq against rnnrs.reference.seq2seq, finite differences (float64,
every parameter), decoding and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs as rr
from rnnrs.reference import seq2seq as ref
from rnnrs.seq2seq import RecurrentAutoencoder, ScheduledSampling, Seq2Seq

VARIANTS = [("sutskever", None), ("cho", None), ("attention", "dot"), ("attention", "general"),
            ("attention", "additive")]
CONTEXT = {"sutskever": "none", "cho": "fixed"}


def make(cell="lstm", form="attention", attention="additive", dtype=np.float64, seed=0, **kw):
    return Seq2Seq(7, 6, embedding_dim=3, hidden_size=4, cell=cell, form=form, attention=attention or "additive",
                   attention_dim=5, dtype=dtype, seed=seed, bos=0, eos=5, **kw)


def batch(seed=0, b=3, s=5, t=4):
    rng = np.random.default_rng(seed)
    sl = rng.integers(1, s + 1, size=b)
    sl[0] = s
    tl = rng.integers(1, t + 1, size=b)
    tl[0] = t
    src = rng.integers(0, 7, size=(b, s))
    tgt = rng.integers(0, 6, size=(b, t))
    # Padding holds garbage: it must never be read.
    for i in range(b):
        src[i, sl[i]:] = 99
        tgt[i, tl[i]:] = -3
    return src, sl, tgt, tl


def context(form, attention):
    return CONTEXT.get(form, attention)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("form,attention", VARIANTS)
@pytest.mark.parametrize("teacher", [True, False])
def test_forward_matches_reference(cell, form, attention, teacher):
    m = make(cell, form, attention)
    src, sl, tgt, tl = batch(1)
    loss, logits, att = m.forward(src, sl, tgt, tl, teacher_prob=1.0 if teacher else 0.0)
    rloss, rlogits, ratt = ref.loss(m.params, cell, context(form, attention), src, sl, tgt, tl, 0, teacher)
    np.testing.assert_allclose(loss, rloss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logits, rlogits, rtol=1e-10, atol=1e-12)
    if form == "attention":
        np.testing.assert_allclose(att, ratt, rtol=1e-10, atol=1e-12)
        assert np.all(att.sum(axis=2) > 0.999999)
    else:
        assert att is None


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("form,attention", VARIANTS)
def test_gradients_match_finite_differences(cell, form, attention):
    m = make(cell, form, attention, seed=3)
    src, sl, tgt, tl = batch(2)
    m.zero_grad()
    m.train_step(src, sl, tgt, tl)
    flat, grad = m._flat, m._gflat.copy()
    eps = 1e-6
    num = np.empty_like(flat)
    for i in range(flat.size):
        v = flat[i]
        flat[i] = v + eps
        lp = m.evaluate(src, sl, tgt, tl)
        flat[i] = v - eps
        lm = m.evaluate(src, sl, tgt, tl)
        flat[i] = v
        num[i] = (lp - lm) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)
    # grads are named views of the flat gradient, params of the flat parameters
    assert set(m.grads) == set(m.params)
    assert np.shares_memory(m.params["out.weight"], m._flat)


def test_free_running_gradient_matches_finite_differences():
    m = make("lstm", "attention", "dot", seed=4)
    src, sl, tgt, tl = batch(5)
    m.zero_grad()
    m.train_step(src, sl, tgt, tl, teacher_prob=0.0)
    g = m._gflat.copy()
    eps = 1e-6
    for i in range(0, m._flat.size, 7):
        v = m._flat[i]
        m._flat[i] = v + eps
        lp = m.forward(src, sl, tgt, tl, teacher_prob=0.0)[0]
        m._flat[i] = v - eps
        lm = m.forward(src, sl, tgt, tl, teacher_prob=0.0)[0]
        m._flat[i] = v
        assert abs((lp - lm) / (2 * eps) - g[i]) < 1e-6 + 1e-5 * abs(g[i])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(1, 4), s=st.integers(1, 6), t=st.integers(1, 5),
       variant=st.sampled_from(VARIANTS), cell=st.sampled_from(["lstm", "gru"]))
def test_hypothesis_shapes_match_reference(seed, b, s, t, variant, cell):
    form, attention = variant
    m = make(cell, form, attention, seed=seed)
    src, sl, tgt, tl = batch(seed, b, s, t)
    loss, logits, _ = m.forward(src, sl, tgt, tl)
    rloss, rlogits, _ = ref.loss(m.params, cell, context(form, attention), src, sl, tgt, tl, 0)
    assert logits.shape == (b, t, 6)
    np.testing.assert_allclose(loss, rloss, rtol=1e-10)
    np.testing.assert_allclose(logits, rlogits, rtol=1e-9, atol=1e-12)
    out = m.greedy(src, sl, max_len=4)
    rt, rl = ref.greedy(m.params, cell, context(form, attention), src, sl, 0, 5, 4)
    np.testing.assert_array_equal(out.tokens, rt)
    np.testing.assert_array_equal(out.lengths, rl)


def test_float32_agrees_with_float64():
    m64 = make("lstm", "attention", "additive", seed=7)
    m32 = make("lstm", "attention", "additive", dtype=np.float32, seed=7)
    m32.load_state_dict(m64.state_dict())
    src, sl, tgt, tl = batch(3)
    l64 = m64.train_step(src, sl, tgt, tl)
    l32 = m32.train_step(src, sl, tgt, tl)
    assert abs(l64 - l32) < 1e-5
    np.testing.assert_allclose(m32._gflat, m64._gflat, rtol=1e-3, atol=1e-5)
    assert m32.forward(src, sl, tgt, tl)[1].dtype == np.float32


def test_reverse_source_reverses_within_length():
    m = make("lstm", "sutskever", None, reverse_source=True, seed=2)
    plain = make("lstm", "sutskever", None, seed=2)
    src, sl, tgt, tl = batch(4)
    rev = src.copy()
    for i, n in enumerate(sl):
        rev[i, :n] = src[i, :n][::-1]
    np.testing.assert_array_equal(m.forward(src, sl, tgt, tl)[1], plain.forward(rev, sl, tgt, tl)[1])


def test_scheduled_sampling_is_seeded_and_between_modes():
    m = make("gru", "attention", "general", seed=1)
    src, sl, tgt, tl = batch(6, b=4, t=5)
    a = m.forward(src, sl, tgt, tl, teacher_prob=0.5, seed=11)[1]
    b = m.forward(src, sl, tgt, tl, teacher_prob=0.5, seed=11)[1]
    np.testing.assert_array_equal(a, b)
    ss = ScheduledSampling("linear", k=100, min_teacher=0.2)
    assert ss(0) == 1.0 and abs(ss(50) - 0.5) < 1e-12 and ss(1000) == 0.2
    assert abs(ScheduledSampling("exponential", k=0.9)(2) - 0.81) < 1e-12
    inv = ScheduledSampling("inverse_sigmoid", k=10)
    assert abs(inv(10) - 10 / (10 + np.e)) < 1e-12
    assert ss.seed(3) == ScheduledSampling("linear", k=100).seed(3)
    with pytest.raises(ValueError, match="schedule"):
        ScheduledSampling("cosine")


@pytest.mark.parametrize("form,attention", VARIANTS)
def test_decoding(form, attention):
    m = make("lstm", form, attention, seed=8)
    src, sl, _, _ = batch(7, b=4)
    g = m.greedy(src, sl, max_len=6)
    b1 = m.beam_search(src, sl, beam_width=1, max_len=6, length_penalty=0.0)
    np.testing.assert_array_equal(g.tokens, b1.tokens)
    np.testing.assert_allclose(g.scores, b1.scores, atol=1e-9)
    k1 = m.sample(src, sl, max_len=6, top_k=1, seed=3)
    np.testing.assert_array_equal(g.tokens, k1.tokens)
    s1 = m.sample(src, sl, max_len=6, temperature=2.0, seed=5)
    s2 = m.sample(src, sl, max_len=6, temperature=2.0, seed=5)
    np.testing.assert_array_equal(s1.tokens, s2.tokens)
    wide = m.beam_search(src, sl, beam_width=5, max_len=6, length_penalty=0.0)
    assert wide.tokens.shape == (4, 6)
    for i in range(4):  # the returned score is the sequence's log-probability under the model
        n = wide.lengths[i]
        assert 1 <= n <= 6
        seq = wide.tokens[i, :n]
        tgt = seq[None, :]
        loss = m.forward(src[i:i + 1, :sl[i]], sl[i:i + 1], tgt, np.array([n]))[0]
        assert abs(-loss * n - wide.scores[i]) < 1e-8
    if form == "attention":
        assert g.attention.shape == (4, 6, src.shape[1])
    else:
        assert g.attention is None


def test_beam_search_finds_at_least_the_greedy_likelihood_when_both_end():
    m = make("lstm", "attention", "dot", seed=9)
    src, sl, _, _ = batch(8, b=4)
    g = m.greedy(src, sl, max_len=8)
    b = m.beam_search(src, sl, beam_width=6, max_len=8, length_penalty=0.0)
    ended = (g.tokens[np.arange(4), g.lengths - 1] == 5) & (b.tokens[np.arange(4), b.lengths - 1] == 5)
    assert np.all(b.scores[ended] >= g.scores[ended] - 1e-9)


def test_bad_input_errors():
    m = make()
    src, sl, tgt, tl = batch(0)
    with pytest.raises(ValueError, match="src_lengths.*expected 3 lengths"):
        m.train_step(src, sl[:2], tgt, tl)
    with pytest.raises(ValueError, match="empty sequences"):
        m.train_step(src, np.array([5, 0, 1]), tgt, tl)
    with pytest.raises(ValueError, match="longer than the 5 steps"):
        m.train_step(src, np.array([6, 1, 1]), tgt, tl)
    bad = src.copy()
    bad[1, 0] = 7
    with pytest.raises(ValueError, match=r"src\[1, 0\] = 7 is not a token"):
        m.train_step(bad, sl, tgt, tl)
    with pytest.raises(ValueError, match="tgt: expected 3 sequences"):
        m.train_step(src, sl, tgt[:2], tl[:2])
    with pytest.raises(ValueError, match="non-empty"):
        m.train_step(src[:, :0], np.zeros(3, dtype=int), tgt, tl)
    with pytest.raises(TypeError, match="integer token array"):
        m.train_step(src.astype(float), sl, tgt, tl)
    with pytest.raises(ValueError, match="teacher_prob"):
        m.train_step(src, sl, tgt, tl, teacher_prob=1.5)
    with pytest.raises(ValueError, match="temperature"):
        m.sample(src, sl, temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        m.sample(src, sl, top_k=99)
    with pytest.raises(ValueError, match="beam_width"):
        m.beam_search(src, sl, beam_width=0)
    with pytest.raises(ValueError, match="max_len"):
        m.greedy(src, sl, max_len=0)
    with pytest.raises(ValueError, match="form"):
        Seq2Seq(5, 5, form="transformer")
    with pytest.raises(ValueError, match="attention"):
        Seq2Seq(5, 5, attention="cosine")
    with pytest.raises(ValueError, match="eos"):
        Seq2Seq(5, 5, eos=5)
    with pytest.raises(TypeError, match="dtype"):
        Seq2Seq(5, 5, dtype=np.int32)


def test_nonfinite_parameters_do_not_crash():
    m = make("lstm", "attention", "additive")
    m.params["out.weight"][0, 0] = np.nan
    src, sl, tgt, tl = batch(0)
    loss = m.train_step(src, sl, tgt, tl)
    assert np.isnan(loss)
    m.greedy(src, sl, max_len=4)
    m.beam_search(src, sl, max_len=4)
    m.sample(src, sl, max_len=4)


def test_autoencoder_encode_is_the_final_state():
    ae = RecurrentAutoencoder(6, embedding_dim=3, hidden_size=4, dtype=np.float64, seed=0, bos=1, eos=2)
    x = np.array([[3, 4, 5, 0], [5, 3, 0, 0]])
    lengths = np.array([4, 2])
    code = ae.encode(x, lengths)
    _, h, _ = ref.encode(ae.params, "lstm", x, lengths)
    np.testing.assert_allclose(code, h, rtol=1e-12)
    assert code.shape == (2, 4)


def test_autoencoder_learns_to_reconstruct():
    vocab = rr.datasets.CharVocab("0123456789")
    src_txt, _ = rr.datasets.digit_reversal(96, 2, 4, seed=0)
    x, xl = vocab.encode(src_txt)
    y, yl = vocab.encode(src_txt, eos=True)
    ae = RecurrentAutoencoder(len(vocab), embedding_dim=8, hidden_size=16, seed=0)
    opt = rr.optim.Adam(ae.params, lr=0.03)
    first = None
    for _ in range(40):
        ae.zero_grad()
        loss = ae.train_step(x, xl, y, yl)
        first = loss if first is None else first
        opt.step(ae.grads)
    assert loss < 0.5 * first


def test_results_do_not_depend_on_the_thread_count():
    before = rr.get_num_threads()
    try:
        out = []
        for threads in (1, 2):
            rr.set_num_threads(threads)
            m = Seq2Seq(9, 7, embedding_dim=16, hidden_size=48, attention="general", seed=0, bos=0, eos=6)
            src, sl, tgt, tl = batch(3, b=32, s=9, t=6)
            src, tgt = src % 9, tgt % 7
            loss = m.train_step(src, sl, tgt, tl)
            out.append((loss, m._gflat.copy(), m.beam_search(src, sl, beam_width=3, max_len=6).tokens))
        assert out[0][0] == out[1][0]
        np.testing.assert_array_equal(out[0][1], out[1][1])
        np.testing.assert_array_equal(out[0][2], out[1][2])
    finally:
        rr.set_num_threads(before)
