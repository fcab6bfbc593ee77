"""rnnrs.seq2seq gradients (Rust BPTT) against the plain NumPy BPTT of rnnrs.reference.seq2seq (float64)."""

import numpy as np
import pytest

from rnnrs.reference import seq2seq as ref
from rnnrs.seq2seq import Seq2Seq

VARIANTS = [("sutskever", None), ("cho", None), ("attention", "dot"), ("attention", "general"),
            ("attention", "additive")]
CONTEXT = {"sutskever": "none", "cho": "fixed"}


def batch(seed=0, b=3, s=5, t=4):
    rng = np.random.default_rng(seed)
    sl = rng.integers(1, s + 1, size=b)
    sl[0] = s
    tl = rng.integers(1, t + 1, size=b)
    tl[0] = t
    src = rng.integers(0, 7, size=(b, s))
    tgt = rng.integers(0, 6, size=(b, t))
    for i in range(b):  # padding holds garbage: never read
        src[i, sl[i]:] = 99
        tgt[i, tl[i]:] = -3
    return src, sl, tgt, tl


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("form,attention", VARIANTS)
@pytest.mark.parametrize("teacher", [True, False])
def test_rust_gradients_match_the_reference_bptt(cell, form, attention, teacher):
    m = Seq2Seq(7, 6, embedding_dim=3, hidden_size=4, cell=cell, form=form, attention=attention or "additive",
                attention_dim=5, dtype=np.float64, seed=4, bos=0, eos=5)
    src, sl, tgt, tl = batch(3)
    m.zero_grad()
    loss = m.train_step(src, sl, tgt, tl, teacher_prob=1.0 if teacher else 0.0)
    context = CONTEXT.get(form, attention)
    rloss, rgrads = ref.loss_and_grads(m.params, cell, context, src, sl, tgt, tl, 0, teacher)
    np.testing.assert_allclose(loss, rloss, rtol=1e-12)
    assert set(rgrads) == set(m.grads)
    for name, want in rgrads.items():
        np.testing.assert_allclose(m.grads[name], want, rtol=1e-10, atol=1e-12, err_msg=name)
        if name.startswith("out."):
            assert np.abs(want).max() > 0  # every test sees non-trivial gradients
