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

from rnnrs.reference.layers import (
    gru_step,
    gru_step_backward,
    gru_step_forward,
    lstm_step,
    lstm_step_backward,
    lstm_step_forward,
)

__all__ = ["decoder_step", "encode", "greedy", "loss", "loss_and_grads"]


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


# ---------------------------------------------------------------------------------------------
# Backward (BPTT through the decoder, the attention and the encoder), for the gradient tests.
# ---------------------------------------------------------------------------------------------


def _cell_fwd(cell, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """``(h', c', cache)``; the GRU carries ``c`` through untouched."""
    if cell == "lstm":
        return lstm_step_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
    h_new, cache = gru_step_forward(x, h, w_ih, w_hh, b_ih, b_hh)
    return h_new, c, cache


def _cell_bwd(cell, dh, dc, cache):
    """``(dx, dh_prev, dc_prev, grads)`` of one step."""
    if cell == "lstm":
        return lstm_step_backward(dh, dc, cache)
    dx, dh_prev, grads = gru_step_backward(dh, cache)
    return dx, dh_prev, np.zeros_like(dc), grads


def _scores(p, score, q, keys):
    """Attention energies ``e`` (B, S) and what their backward needs."""
    if score == "dot":
        return np.einsum("bh,bsh->bs", q, keys), None
    if score == "general":
        wk = keys @ p["attention.weight"].T                     # W k_j
        return np.einsum("bh,bsh->bs", q, wk), wk
    z = np.tanh((keys @ p["attention.key.weight"].T + p["attention.key.bias"])
                + (q @ p["attention.query.weight"].T)[:, None, :])
    return z @ p["attention.v"], z


def _attend_backward(p, score, q, keys, alpha, saved, da, g):
    """Backward of ``a = sum_j alpha_j k_j``, ``alpha = softmax(e)``: returns ``(dq, dkeys)``, adds to ``g``."""
    dalpha = np.einsum("bh,bsh->bs", da, keys)
    dkeys = alpha[:, :, None] * da[:, None, :]
    de = alpha * (dalpha - (alpha * dalpha).sum(axis=1, keepdims=True))   # masked: alpha = 0, de = 0
    if score == "dot":                                          # e_j = q . k_j
        dq = np.einsum("bs,bsh->bh", de, keys)
        dkeys += de[:, :, None] * q[:, None, :]
    elif score == "general":                                    # e_j = q . (W k_j)
        dq = np.einsum("bs,bsh->bh", de, saved)
        g["attention.weight"] += np.einsum("bs,bh,bsk->hk", de, q, keys)
        dkeys += de[:, :, None] * (q @ p["attention.weight"])[:, None, :]
    else:                                                       # e_j = v . tanh(W_k k_j + b_k + W_q q)
        z = saved
        g["attention.v"] += np.einsum("bs,bsa->a", de, z)
        dpre = de[:, :, None] * p["attention.v"] * (1 - z ** 2)  # (B, S, A)
        dq_pre = dpre.sum(axis=1)
        g["attention.query.weight"] += dq_pre.T @ q
        dq = dq_pre @ p["attention.query.weight"]
        g["attention.key.weight"] += np.einsum("bsa,bsh->ah", dpre, keys)
        g["attention.key.bias"] += dpre.sum(axis=(0, 1))
        dkeys += dpre @ p["attention.key.weight"]
    return dq, dkeys


def loss_and_grads(p, cell, context, src, src_lengths, tgt, tgt_lengths, bos, teacher_forcing=True):
    """``(loss, grads)``: the loss of `loss` and its gradient w.r.t. every parameter (dict like ``p``).

    Plain BPTT: the forward keeps each step's cell cache, attention weights
    and fed tokens (in free running the arg-max tokens are constants); the
    backward runs the decoder steps in reverse, through the readout, the cell
    and the context (fixed: into the encoder's final state; attention: into
    the query and every encoder output), then the encoder steps in reverse
    (a finished sequence's state passes its gradient through unchanged).
    """
    g = {k: np.zeros_like(v) for k, v in p.items()}
    b, s_max = src.shape
    t_max = tgt.shape[1]
    # Encoder forward, keeping the caches.
    h_size = p["encoder.weight_hh_l0"].shape[1]
    h, c = np.zeros((b, h_size)), np.zeros((b, h_size))
    keys = np.zeros((b, s_max, h_size))
    enc = []
    enc_w = [p[f"encoder.{n}_l0"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    for t in range(s_max):
        active = t < src_lengths
        tok = np.where(active, src[:, t], 0)
        x = p["src_embedding.weight"][tok] * active[:, None]
        h_new, c_new, cache = _cell_fwd(cell, x, h, c, *enc_w)
        h = np.where(active[:, None], h_new, h)
        c = np.where(active[:, None], c_new, c)
        keys[:, t] = np.where(active[:, None], h, 0.0)
        enc.append((active, tok, cache))
    h_last, c_last = h, c
    # Decoder forward.
    dec_w = [p[f"decoder.{n}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    s, c = _start(cell, context, h_last, c_last)
    tokens = np.full(b, bos)
    dec, total, prev_logits = [], 0.0, None
    n_valid = tgt_lengths.sum()
    for t in range(t_max):
        if t > 0:
            pred = prev_logits.argmax(axis=1)
            tokens = np.where((t - 1) < tgt_lengths, tgt[:, t - 1], pred) if teacher_forcing else pred
        q, alpha, saved = s, None, None
        if context == "none":
            a = np.zeros((b, 0))
        elif context == "fixed":
            a = h_last
        else:
            e, saved = _scores(p, context, q, keys)
            e = np.where(np.arange(s_max)[None, :] < src_lengths[:, None], e, -np.inf)
            alpha = np.exp(e - e.max(axis=1, keepdims=True))
            alpha /= alpha.sum(axis=1, keepdims=True)
            a = np.einsum("bs,bsh->bh", alpha, keys)
        x = np.concatenate([p["tgt_embedding.weight"][tokens], a], axis=1)
        s, c, cache = _cell_fwd(cell, x, s, c, *dec_w)
        feat = np.concatenate([s, a], axis=1)
        logits = feat @ p["out.weight"].T + p["out.bias"]
        prev_logits = logits
        m = logits.max(axis=1, keepdims=True)
        prob = np.exp(logits - m)
        prob /= prob.sum(axis=1, keepdims=True)
        valid = t < tgt_lengths
        target = np.where(valid, tgt[:, t], 0)
        total -= np.log(prob[np.arange(b), target])[valid].sum()
        # d loss / d logits = (softmax - onehot) / n_valid on valid rows.
        dlogits = prob.copy()
        dlogits[np.arange(b), target] -= 1
        dlogits *= valid[:, None] / n_valid
        dec.append((tokens, q, alpha, saved, cache, feat, dlogits))
    # Decoder backward.
    ds, dc = np.zeros_like(s), np.zeros_like(c)
    dkeys, dh_last = np.zeros_like(keys), np.zeros_like(h_last)
    emb = p["tgt_embedding.weight"].shape[1]
    for tokens, q, alpha, saved, cache, feat, dlogits in reversed(dec):
        g["out.weight"] += dlogits.T @ feat
        g["out.bias"] += dlogits.sum(axis=0)
        dfeat = dlogits @ p["out.weight"]
        ds = ds + dfeat[:, :h_size]
        da = dfeat[:, h_size:]
        dx, ds, dc, cg = _cell_bwd(cell, ds, dc, cache)
        for k, v in cg.items():
            g[f"decoder.{k}"] += v
        np.add.at(g["tgt_embedding.weight"], tokens, dx[:, :emb])
        da = da + dx[:, emb:]
        if context == "fixed":
            dh_last += da
        elif context not in ("none", "fixed"):
            dq, dk = _attend_backward(p, context, q, keys, alpha, saved, da, g)
            ds = ds + dq
            dkeys += dk
    # The decoder's initial state (Sutskever and attention start from the encoder's final state).
    dh, dc_enc = dh_last, np.zeros_like(c_last)
    if context != "fixed":
        dh = dh + ds
        if cell == "lstm":
            dc_enc = dc
    # Encoder backward.
    for t in reversed(range(s_max)):
        active, tok, cache = enc[t]
        act = active[:, None]
        dh = dh + np.where(act, dkeys[:, t], 0.0)               # keys[:, t] is h after step t (active rows)
        dx, dh_prev, dc_prev, cg = _cell_bwd(cell, dh * act, dc_enc * act, cache)
        for k, v in cg.items():
            g[f"encoder.{k}_l0"] += v
        np.add.at(g["src_embedding.weight"], tok, dx * act)
        dh = np.where(act, dh_prev, dh)                         # a finished sequence passes its gradient on
        dc_enc = np.where(act, dc_prev, dc_enc)
    return total / n_valid, g
