//! Decoding a batch: greedy, sampling (temperature, top-k; seeded) and beam
//! search (width, length normalisation `score / len^length_penalty`, end
//! token, max length), the decoder loop in Rust.

use super::attention::Memory;
use super::decoder::{self, argmax, Scratch, StepOut};
use super::{check_params, check_token, encoder, with_cell, Config, Context, Layout, Tokens};
use crate::cell::Cell;
use crate::error::{try_zeros, Error, Result};
use crate::Float;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// How the next token is chosen.
#[derive(Clone, Copy, Debug)]
pub enum Method {
    Greedy,
    /// Softmax of `logits / temperature` restricted to the `top_k` largest
    /// (0: all); draws from a generator seeded by `seed`.
    Sample {
        temperature: f64,
        top_k: usize,
        seed: u64,
    },
    /// Keeps `width` hypotheses per sequence; a sequence is done when
    /// `width` hypotheses have ended; the best by `log p / len^length_penalty`.
    Beam {
        width: usize,
        length_penalty: f64,
    },
}

/// Decoded sequences.
pub struct Decoded<T> {
    /// `(B, max_len)`, the end token included, padded with the end token.
    pub tokens: Vec<i64>,
    /// Tokens per sequence (the end token included when it was produced).
    pub lengths: Vec<usize>,
    /// Log-probability of each sequence (beam: length-normalised).
    pub scores: Vec<f64>,
    /// Attention weights `(B, max_len, S)` (empty without attention).
    pub attention: Vec<T>,
}

/// Decodes every source sequence of `src`, starting from `bos`.
pub fn decode<T: Float>(
    cfg: &Config,
    params: &[T],
    src: &Tokens<'_>,
    bos: i64,
    eos: i64,
    max_len: usize,
    method: Method,
) -> Result<Decoded<T>> {
    let l = check_params(cfg, params, "params")?;
    let bos = check_token("bos", bos, cfg.tgt_vocab)?;
    let eos = check_token("eos", eos, cfg.tgt_vocab)?;
    if max_len == 0 {
        return Err(Error::value("max_len", "expected an integer >= 1, got 0"));
    }
    match method {
        Method::Sample { temperature, top_k, .. } => {
            if !(temperature > 0.0 && temperature.is_finite()) {
                return Err(Error::value(
                    "temperature",
                    format!("expected a finite value > 0, got {temperature}"),
                ));
            }
            if top_k > cfg.tgt_vocab {
                return Err(Error::value(
                    "top_k",
                    format!("expected at most the vocabulary size {}, got {top_k}", cfg.tgt_vocab),
                ));
            }
        }
        Method::Beam { width, length_penalty } => {
            if width == 0 {
                return Err(Error::value("beam_width", "expected an integer >= 1, got 0"));
            }
            if !length_penalty.is_finite() {
                return Err(Error::value("length_penalty", "expected a finite number"));
            }
        }
        Method::Greedy => {}
    }
    crate::par::install(|| {
        with_cell!(cfg, c => {
            let enc = encoder::forward(cfg, &c, &l, params, src)?;
            let mem = Memory::new(cfg, &l, params, &enc.keys, &enc.h_last, &src.lengths, src.cols)?;
            let (s0, c0) = decoder::initial_state(cfg, &enc);
            match method {
                Method::Beam { width, length_penalty } => {
                    beam(cfg, &c, &l, params, &mem, &s0, &c0, bos, eos, max_len, width, length_penalty)
                }
                _ => pointwise(cfg, &c, &l, params, &mem, s0, c0, bos, eos, max_len, method),
            }
        })
    })
}

/// Buffers of one step for `rows` rows.
struct Bufs<T> {
    x: Vec<T>,
    gates: Vec<T>,
    extra: Vec<T>,
    s_new: Vec<T>,
    c_new: Vec<T>,
    o: Vec<T>,
    logits: Vec<T>,
    alpha: Vec<T>,
    z: Vec<T>,
}

impl<T: Float> Bufs<T> {
    fn new<C: Cell<T>>(cfg: &Config, rows: usize, s: usize) -> Result<Self> {
        let (h, att) = (cfg.hidden, matches!(cfg.context, Context::Attention(_)));
        Ok(Bufs {
            x: try_zeros(rows * cfg.dec_in(), "decoder inputs")?,
            gates: try_zeros(rows * C::GATES * h, "decoder gates")?,
            extra: try_zeros(rows * C::EXTRA * h, "decoder saved values")?,
            s_new: try_zeros(rows * h, "decoder states")?,
            c_new: try_zeros(if C::HAS_C { rows * h } else { 0 }, "decoder states")?,
            o: try_zeros(rows * cfg.out_in(), "readout inputs")?,
            logits: try_zeros(rows * cfg.tgt_vocab, "logits")?,
            alpha: try_zeros(if att { rows * s } else { 0 }, "attention")?,
            z: try_zeros(if att { rows * s * cfg.attn_dim } else { 0 }, "attention")?,
        })
    }

    fn out(&mut self) -> StepOut<'_, T> {
        StepOut {
            x: &mut self.x,
            gates: &mut self.gates,
            extra: &mut self.extra,
            s_new: &mut self.s_new,
            c_new: &mut self.c_new,
            o: &mut self.o,
            logits: &mut self.logits,
            alpha: &mut self.alpha,
            z: &mut self.z,
        }
    }
}

/// `log softmax(row)` in place.
fn log_softmax<T: Float>(row: &mut [T]) {
    let m = row.iter().fold(T::from_f64(f64::NEG_INFINITY), |m, &x| m.max(x));
    let lse = row.iter().fold(T::ZERO, |s, &x| s + (x - m).exp()).ln() + m;
    for x in row {
        *x -= lse;
    }
}

/// Greedy and sampling: each row independently, until all ended.
#[allow(clippy::too_many_arguments)]
fn pointwise<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    mem: &Memory<T>,
    mut s: Vec<T>,
    mut c: Vec<T>,
    bos: usize,
    eos: usize,
    max_len: usize,
    method: Method,
) -> Result<Decoded<T>> {
    let (b, v, sl) = (mem.lens.len(), cfg.tgt_vocab, mem.s);
    let att = matches!(cfg.context, Context::Attention(_));
    let mut bufs = Bufs::new::<C>(cfg, b, sl)?;
    let mut sc = Scratch::new(cfg, cell, l, p, b)?;
    let mut out = Decoded {
        tokens: vec![eos as i64; b * max_len],
        lengths: vec![max_len; b],
        scores: vec![0.0; b],
        attention: try_zeros(if att { b * max_len * sl } else { 0 }, "attention")?,
    };
    let mut rng = match method {
        Method::Sample { seed, .. } => Xoshiro256PlusPlus::seed_from_u64(seed),
        _ => Xoshiro256PlusPlus::seed_from_u64(0),
    };
    let mut tokens = vec![bos; b];
    let mut done = vec![false; b];
    let mut order: Vec<usize> = (0..v).collect();
    let mut probs = vec![0.0f64; v];
    for t in 0..max_len {
        decoder::step(cfg, cell, l, p, mem, &tokens, &s, &c, &mut sc, bufs.out());
        for r in 0..b {
            let row = &mut bufs.logits[r * v..(r + 1) * v];
            let tok = match method {
                Method::Sample { temperature, top_k, .. } => {
                    let k = if top_k == 0 { v } else { top_k };
                    order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                    if k < v {
                        order.select_nth_unstable_by(k - 1, |&i, &j| {
                            row[j].partial_cmp(&row[i]).unwrap_or(std::cmp::Ordering::Equal)
                        });
                    }
                    let m = order[..k].iter().fold(f64::NEG_INFINITY, |m, &i| m.max(row[i].to_f64()));
                    let mut sum = 0.0;
                    for (pp, &i) in probs.iter_mut().zip(&order[..k]) {
                        *pp = ((row[i].to_f64() - m) / temperature).exp();
                        sum += *pp;
                    }
                    let mut u = rng.random::<f64>() * sum;
                    let mut pick = order[k - 1];
                    for (pp, &i) in probs.iter().zip(&order[..k]) {
                        if u < *pp {
                            pick = i;
                            break;
                        }
                        u -= *pp;
                    }
                    pick
                }
                _ => argmax(row),
            };
            if done[r] {
                continue;
            }
            log_softmax(row);
            out.scores[r] += row[tok].to_f64();
            out.tokens[r * max_len + t] = tok as i64;
            if att {
                out.attention[(r * max_len + t) * sl..(r * max_len + t + 1) * sl]
                    .copy_from_slice(&bufs.alpha[r * sl..(r + 1) * sl]);
            }
            tokens[r] = tok;
            if tok == eos {
                done[r] = true;
                out.lengths[r] = t + 1;
            }
        }
        std::mem::swap(&mut s, &mut bufs.s_new);
        std::mem::swap(&mut c, &mut bufs.c_new);
        if done.iter().all(|&d| d) {
            break;
        }
    }
    Ok(out)
}

/// An ended hypothesis: its normalised score, its last step, the row it
/// extended at that step and its last token.
struct Ended {
    norm: f64,
    t: usize,
    parent: usize,
    tok: usize,
}

/// A beam step's choice: each new row's parent row, token and raw score.
struct Choice {
    parent: Vec<usize>,
    tok: Vec<usize>,
    scores: Vec<f64>,
}

/// What the search keeps of every step to trace the best hypotheses back:
/// each row's parent row and token, and the attention of the rows as they
/// were before the step's reordering.
struct History<T> {
    parents: Vec<Vec<usize>>,
    toks: Vec<Vec<usize>>,
    alphas: Vec<Vec<T>>,
}

/// `log p / len^length_penalty`.
fn normalised(raw: f64, len: usize, length_penalty: f64) -> f64 {
    raw / (len as f64).powf(length_penalty)
}

#[allow(clippy::too_many_arguments)]
fn beam<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    mem: &Memory<T>,
    s0: &[T],
    c0: &[T],
    bos: usize,
    eos: usize,
    max_len: usize,
    k: usize,
    length_penalty: f64,
) -> Result<Decoded<T>> {
    let (b, v, sl, h) = (mem.lens.len(), cfg.tgt_vocab, mem.s, cfg.hidden);
    let rows = b * k;
    let att = matches!(cfg.context, Context::Attention(_));
    let mem = mem.repeat(k);
    let rep = |x: &[T]| -> Vec<T> {
        if x.is_empty() {
            return Vec::new();
        }
        x.chunks_exact(h).flat_map(|r| std::iter::repeat_n(r, k).flatten().copied()).collect()
    };
    let (mut s, mut c) = (rep(s0), rep(c0));
    let mut bufs = Bufs::new::<C>(cfg, rows, sl)?;
    let mut sc = Scratch::new(cfg, cell, l, p, rows)?;
    let mut scores = vec![f64::NEG_INFINITY; rows];
    for bb in 0..b {
        scores[bb * k] = 0.0;
    }
    let mut tokens = vec![bos; rows];
    let mut hist = History { parents: Vec::new(), toks: Vec::new(), alphas: Vec::new() };
    let mut ended: Vec<Vec<Ended>> = (0..b).map(|_| Vec::new()).collect();
    let mut done = vec![false; b];
    let mut cand: Vec<(f64, usize, usize)> = Vec::with_capacity(k * v);
    let mut last_t = 0;
    for t in 0..max_len {
        last_t = t;
        decoder::step(cfg, cell, l, p, &mem, &tokens, &s, &c, &mut sc, bufs.out());
        for row in bufs.logits.chunks_exact_mut(v) {
            log_softmax(row);
        }
        let mut ch = Choice {
            parent: (0..rows).collect::<Vec<_>>(),
            tok: vec![eos; rows],
            scores: vec![f64::NEG_INFINITY; rows],
        };
        for bb in 0..b {
            if !done[bb] {
                let logp = &bufs.logits[..];
                done[bb] = extend(
                    bb,
                    k,
                    v,
                    eos,
                    t,
                    length_penalty,
                    &scores,
                    logp,
                    &mut cand,
                    &mut ended[bb],
                    &mut ch,
                );
            }
        }
        // Reorder the states by parent.
        for r in 0..rows {
            let pr = ch.parent[r];
            s[r * h..(r + 1) * h].copy_from_slice(&bufs.s_new[pr * h..(pr + 1) * h]);
            if C::HAS_C {
                c[r * h..(r + 1) * h].copy_from_slice(&bufs.c_new[pr * h..(pr + 1) * h]);
            }
        }
        hist.parents.push(ch.parent);
        hist.toks.push(ch.tok.clone());
        hist.alphas.push(if att { bufs.alpha.clone() } else { Vec::new() });
        tokens = ch.tok;
        scores = ch.scores;
        if done.iter().all(|&d| d) {
            break;
        }
    }
    let sl = if att { sl } else { 0 };
    best_paths(b, k, eos, max_len, sl, &scores, &done, &mut ended, &hist, last_t, length_penalty)
}

/// Sequence `bb`'s beam step: its live rows extended by every token, the
/// `2k` best kept in a fixed order (score, then row, then token: no tie is
/// broken by chance); of those, ends (`eos`) ranked in the first `k` join
/// `ended`, the others fill the sequence's `k` new rows of `ch`. Returns
/// whether the sequence is done (`k` ended, or nothing left alive).
#[allow(clippy::too_many_arguments)]
fn extend<T: Float>(
    bb: usize,
    k: usize,
    v: usize,
    eos: usize,
    t: usize,
    length_penalty: f64,
    scores: &[f64],
    logp: &[T],
    cand: &mut Vec<(f64, usize, usize)>,
    ended: &mut Vec<Ended>,
    ch: &mut Choice,
) -> bool {
    cand.clear();
    for kk in 0..k {
        let r = bb * k + kk;
        if scores[r] == f64::NEG_INFINITY {
            continue;
        }
        for (j, &lp) in logp[r * v..(r + 1) * v].iter().enumerate() {
            let sc = scores[r] + lp.to_f64();
            // NaN scores (non-finite logits) rank last.
            cand.push((if sc.is_nan() { f64::NEG_INFINITY } else { sc }, r, j));
        }
    }
    let keep = (2 * k).min(cand.len());
    let by_score = |a: &(f64, usize, usize), b: &(f64, usize, usize)| {
        b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
    };
    if keep < cand.len() {
        cand.select_nth_unstable_by(keep - 1, by_score);
    }
    cand[..keep].sort_by(by_score);
    let mut live = 0;
    for (rank, &(sc, r, j)) in cand[..keep].iter().enumerate() {
        if j == eos {
            if rank < k {
                ended.push(Ended { norm: normalised(sc, t + 1, length_penalty), t, parent: r, tok: j });
            }
        } else if live < k {
            let dst = bb * k + live;
            ch.parent[dst] = r;
            ch.tok[dst] = j;
            ch.scores[dst] = sc;
            live += 1;
        }
    }
    ended.len() >= k || live == 0
}

/// Each sequence's best hypothesis (by normalised score, then the shorter),
/// traced back through the history; unfinished sequences compete with the
/// rows still alive after the last step `last_t`. `sl`: the attention's
/// source length (0 without attention).
#[allow(clippy::too_many_arguments)]
fn best_paths<T: Float>(
    b: usize,
    k: usize,
    eos: usize,
    max_len: usize,
    sl: usize,
    scores: &[f64],
    done: &[bool],
    ended: &mut [Vec<Ended>],
    hist: &History<T>,
    last_t: usize,
    length_penalty: f64,
) -> Result<Decoded<T>> {
    let att = sl > 0;
    let mut out = Decoded {
        tokens: vec![eos as i64; b * max_len],
        lengths: vec![0; b],
        scores: vec![f64::NEG_INFINITY; b],
        attention: try_zeros(b * max_len * sl, "attention")?,
    };
    for bb in 0..b {
        // Unfinished sequences compete with what is still alive.
        if !done[bb] || ended[bb].is_empty() {
            for kk in 0..k {
                let r = bb * k + kk;
                if scores[r] > f64::NEG_INFINITY {
                    let (pr, tk) = (hist.parents[last_t][r], hist.toks[last_t][r]);
                    ended[bb].push(Ended {
                        norm: normalised(scores[r], last_t + 1, length_penalty),
                        t: last_t,
                        parent: pr,
                        tok: tk,
                    });
                }
            }
        }
        let Some(best) = ended[bb].iter().max_by(|a, b| {
            a.norm.partial_cmp(&b.norm).unwrap_or(std::cmp::Ordering::Equal).then(b.t.cmp(&a.t))
        }) else {
            continue;
        };
        out.scores[bb] = best.norm;
        out.lengths[bb] = best.t + 1;
        let (mut r, mut tk) = (best.parent, best.tok);
        for t in (0..=best.t).rev() {
            out.tokens[bb * max_len + t] = tk as i64;
            if att {
                out.attention[(bb * max_len + t) * sl..(bb * max_len + t + 1) * sl]
                    .copy_from_slice(&hist.alphas[t][r * sl..(r + 1) * sl]);
            }
            if t > 0 {
                tk = hist.toks[t - 1][r];
                r = hist.parents[t - 1][r];
            }
        }
    }
    Ok(out)
}
