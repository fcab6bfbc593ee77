"""Reference sequence to sequence (plain NumPy): the encoder with frozen
states past each length, the decoder step with no / fixed / attention
context, the masked cross-entropy, and greedy decoding. Parameters are a
dict by the names of `rnnrs.seq2seq.Seq2Seq.params`.

Decoder step (every form):
    a_t      = context(s_{t-1})              (none | h_enc_last | attention)
    s_t      = cell([E_tgt y_{t-1}; a_t], s_{t-1})
    logits_t = W_out [s_t; a_t] + b_out
Attention over keys k_j = encoder outputs, j < len:
    dot      e_j = s . k_j
    general  e_j = s^T W k_j
    additive e_j = v^T tanh(W_q s + W_k k_j + b)
    alpha = softmax(e),  a = sum_j alpha_j k_j
"""

from __future__ import annotations

import numpy as np

from rnnrs.reference.layers import gru_step, lstm_step

__all__ = ["decoder_step", "encode", "greedy", "loss"]


def _cell(cell, x, h, c, w_ih, w_hh, b_ih, b_hh):
    if cell == "lstm":
        return lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
    return gru_step(x, h, w_ih, w_hh, b_ih, b_hh), c


def encode(p, cell, src, lengths):
    """Encoder outputs ``(B, S, H)`` (zero past each length) and final ``(h, c)``."""
    b, s = src.shape
    h_size = p["encoder.weight_hh_l0"].shape[1]
    h = np.zeros((b, h_size))
    c = np.zeros((b, h_size))
    keys = np.zeros((b, s, h_size))
    for t in range(s):
        active = t < lengths
        tok = np.where(active, src[:, t], 0)
        x = p["src_embedding.weight"][tok] * active[:, None]
        h_new, c_new = _cell(cell, x, h, c, p["encoder.weight_ih_l0"], p["encoder.weight_hh_l0"],
                             p["encoder.bias_ih_l0"], p["encoder.bias_hh_l0"])
        h = np.where(active[:, None], h_new, h)   # finished sequences keep their state
        c = np.where(active[:, None], c_new, c)
        keys[:, t] = np.where(active[:, None], h, 0.0)
    return keys, h, c


def _attend(p, score, q, keys, lengths):
    s = keys.shape[1]
    if score == "dot":
        e = np.einsum("bh,bsh->bs", q, keys)
    elif score == "general":
        e = np.einsum("bh,bsh->bs", q, keys @ p["attention.weight"].T)
    else:
        z = np.tanh((keys @ p["attention.key.weight"].T + p["attention.key.bias"])
                    + (q @ p["attention.query.weight"].T)[:, None, :])
        e = z @ p["attention.v"]
    mask = np.arange(s)[None, :] < lengths[:, None]
    e = np.where(mask, e, -np.inf)
    alpha = np.exp(e - e.max(axis=1, keepdims=True))
    alpha /= alpha.sum(axis=1, keepdims=True)
    return np.einsum("bs,bsh->bh", alpha, keys), alpha


def decoder_step(p, cell, context, tokens, s, c, keys, h_last, lengths):
    """One decoder step: returns ``(logits, s_new, c_new, alpha or None)``."""
    alpha = None
    if context == "none":
        a = np.zeros((len(tokens), 0))
    elif context == "fixed":
        a = h_last
    else:
        a, alpha = _attend(p, context, s, keys, lengths)
    x = np.concatenate([p["tgt_embedding.weight"][tokens], a], axis=1)
    s_new, c_new = _cell(cell, x, s, c, p["decoder.weight_ih"], p["decoder.weight_hh"], p["decoder.bias_ih"],
                         p["decoder.bias_hh"])
    logits = np.concatenate([s_new, a], axis=1) @ p["out.weight"].T + p["out.bias"]
    return logits, s_new, c_new, alpha


def _start(cell, context, h, c):
    if context == "fixed":
        return np.zeros_like(h), np.zeros_like(c)
    return h, (c if cell == "lstm" else np.zeros_like(c))


def loss(p, cell, context, src, src_lengths, tgt, tgt_lengths, bos, teacher_forcing=True):
    """``(mean cross-entropy, logits (B, T, V), attention (B, T, S) or None)``.

    ``teacher_forcing``: feed ``tgt[:, t-1]`` (True) or the arg-max of the
    previous logits (False, free running).
    """
    keys, h_last, c_last = encode(p, cell, src, src_lengths)
    s, c = _start(cell, context, h_last, c_last)
    b, t_max = tgt.shape
    tokens = np.full(b, bos)
    all_logits, all_alpha, total = [], [], 0.0
    for t in range(t_max):
        if t > 0:
            pred = all_logits[-1].argmax(axis=1)
            valid = (t - 1) < tgt_lengths
            tokens = np.where(valid, tgt[:, t - 1], pred) if teacher_forcing else pred
        logits, s, c, alpha = decoder_step(p, cell, context, tokens, s, c, keys, h_last, src_lengths)
        all_logits.append(logits)
        all_alpha.append(alpha)
        m = logits.max(axis=1, keepdims=True)
        logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
        for i in range(b):
            if t < tgt_lengths[i]:
                total -= logp[i, tgt[i, t]]
    logits = np.stack(all_logits, axis=1)
    att = None if all_alpha[0] is None else np.stack(all_alpha, axis=1)
    return total / tgt_lengths.sum(), logits, att


def greedy(p, cell, context, src, src_lengths, bos, eos, max_len):
    """Greedy decoding: tokens ``(B, max_len)`` padded with ``eos`` and lengths."""
    keys, h_last, c_last = encode(p, cell, src, src_lengths)
    s, c = _start(cell, context, h_last, c_last)
    b = src.shape[0]
    tokens = np.full(b, bos)
    out = np.full((b, max_len), eos)
    lengths = np.full(b, max_len)
    done = np.zeros(b, dtype=bool)
    for t in range(max_len):
        logits, s, c, _ = decoder_step(p, cell, context, tokens, s, c, keys, h_last, src_lengths)
        tokens = logits.argmax(axis=1)
        for i in range(b):
            if not done[i]:
                out[i, t] = tokens[i]
                if tokens[i] == eos:
                    done[i] = True
                    lengths[i] = t + 1
        if done.all():
            break
    return out, lengths
