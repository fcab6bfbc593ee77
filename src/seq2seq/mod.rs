//! Sequence to sequence: an embedding + recurrent encoder, a recurrent
//! decoder with an optional context (fixed or attention) and a linear
//! readout, trained with a masked cross-entropy; forward AND backward of both
//! time loops run here (`encoder`, `decoder`), decoding in `decode`.
//!
//! The decoder step (one form for every variant):
//! `a_t = context(s_{t-1})`, `x_t = [E_tgt[y_{t-1}]; a_t]`,
//! `s_t = cell(x_t, s_{t-1})`, `logits_t = W_out [s_t; a_t] + b_out`.
//! - `Context::None` (Sutskever et al. 2014): no `a_t`; the decoder starts
//!   from the encoder's final state.
//! - `Context::Fixed` (Cho et al. 2014): `a_t` is the encoder's final hidden
//!   state at every step; the decoder starts from zeros.
//! - `Context::Attention(score)` (Bahdanau et al. 2015 with additive, Luong
//!   et al. 2015 with dot / general scores): `a_t` attends over the encoder
//!   outputs with `s_{t-1}` as query (positions past each source length are
//!   masked); the decoder starts from the encoder's final state.
//!
//! Source sequences are padded `(B, S)` token arrays with their lengths: the
//! encoder freezes each sequence's state after its last step, so the final
//! state is the one after `lengths[b]` steps. All parameters live in one flat
//! vector laid out by `Layout` (names and shapes follow PyTorch).

pub mod attention;
pub mod decode;
pub mod decoder;
pub mod encoder;
pub mod generate;

#[cfg(test)]
mod tests;

use crate::cell::Cell;
use crate::error::{Error, Result};
use crate::Float;
use std::ops::Range;

/// The recurrent cell of the encoder and the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    Lstm,
    Gru,
}

/// Attention score between the query `q` (decoder state) and a key `k`
/// (encoder output): `q.k`, `q^T W k`, or `v^T tanh(W_q q + W_k k + b)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    Dot,
    General,
    Additive,
}

/// What the decoder sees of the source besides its initial state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    None,
    Fixed,
    Attention(Score),
}

/// Sizes and variant of a model.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub cell: CellKind,
    pub context: Context,
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    pub emb: usize,
    pub hidden: usize,
    /// Width of the additive attention's hidden layer (unused otherwise).
    pub attn_dim: usize,
}

impl Config {
    /// Checks the sizes (all >= 1).
    pub fn new(
        cell: CellKind,
        context: Context,
        src_vocab: usize,
        tgt_vocab: usize,
        emb: usize,
        hidden: usize,
        attn_dim: usize,
    ) -> Result<Self> {
        for (name, v) in [
            ("src_vocab", src_vocab),
            ("tgt_vocab", tgt_vocab),
            ("embedding_dim", emb),
            ("hidden_size", hidden),
        ] {
            if v == 0 {
                return Err(Error::value(name, "expected an integer >= 1, got 0"));
            }
        }
        if context == Context::Attention(Score::Additive) && attn_dim == 0 {
            return Err(Error::value("attention_dim", "expected an integer >= 1, got 0"));
        }
        Ok(Config { cell, context, src_vocab, tgt_vocab, emb, hidden, attn_dim })
    }

    pub fn gates(&self) -> usize {
        match self.cell {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }
    /// Width of the context `a_t` (0 without one).
    pub fn ctx(&self) -> usize {
        if self.context == Context::None {
            0
        } else {
            self.hidden
        }
    }
    /// Decoder input width `E + ctx`.
    pub fn dec_in(&self) -> usize {
        self.emb + self.ctx()
    }
    /// Readout input width `H + ctx`.
    pub fn out_in(&self) -> usize {
        self.hidden + self.ctx()
    }
    /// Width of the projected keys (`W k` for general, `W_k k + b` for additive).
    pub fn proj(&self) -> usize {
        match self.context {
            Context::Attention(Score::General) => self.hidden,
            Context::Attention(Score::Additive) => self.attn_dim,
            _ => 0,
        }
    }
    /// Whether the decoder starts from the encoder's final state.
    pub fn init_from_encoder(&self) -> bool {
        self.context != Context::Fixed
    }

    pub fn layout(&self) -> Layout {
        let (g, h, e, a) = (self.gates() * self.hidden, self.hidden, self.emb, self.attn_dim);
        let mut b = Builder::default();
        let src_emb = b.add("src_embedding.weight", &[self.src_vocab, e]);
        let tgt_emb = b.add("tgt_embedding.weight", &[self.tgt_vocab, e]);
        let enc_w_ih = b.add("encoder.weight_ih_l0", &[g, e]);
        let enc_w_hh = b.add("encoder.weight_hh_l0", &[g, h]);
        let enc_b_ih = b.add("encoder.bias_ih_l0", &[g]);
        let enc_b_hh = b.add("encoder.bias_hh_l0", &[g]);
        let dec_w_ih = b.add("decoder.weight_ih", &[g, self.dec_in()]);
        let dec_w_hh = b.add("decoder.weight_hh", &[g, h]);
        let dec_b_ih = b.add("decoder.bias_ih", &[g]);
        let dec_b_hh = b.add("decoder.bias_hh", &[g]);
        let empty = 0..0;
        let (att_w, att_q, att_b, att_v) = match self.context {
            Context::Attention(Score::General) => {
                (b.add("attention.weight", &[h, h]), empty.clone(), empty.clone(), empty)
            }
            Context::Attention(Score::Additive) => (
                b.add("attention.key.weight", &[a, h]),
                b.add("attention.query.weight", &[a, h]),
                b.add("attention.key.bias", &[a]),
                b.add("attention.v", &[a]),
            ),
            _ => (empty.clone(), empty.clone(), empty.clone(), empty),
        };
        let out_w = b.add("out.weight", &[self.tgt_vocab, self.out_in()]);
        let out_b = b.add("out.bias", &[self.tgt_vocab]);
        Layout {
            entries: b.entries,
            total: b.off,
            src_emb,
            tgt_emb,
            enc_w_ih,
            enc_w_hh,
            enc_b_ih,
            enc_b_hh,
            dec_w_ih,
            dec_w_hh,
            dec_b_ih,
            dec_b_hh,
            att_w,
            att_q,
            att_b,
            att_v,
            out_w,
            out_b,
        }
    }
}

#[derive(Default)]
struct Builder {
    off: usize,
    entries: Vec<(&'static str, Vec<usize>, Range<usize>)>,
}

impl Builder {
    fn add(&mut self, name: &'static str, shape: &[usize]) -> Range<usize> {
        let n: usize = shape.iter().product();
        let r = self.off..self.off + n;
        self.off += n;
        self.entries.push((name, shape.to_vec(), r.clone()));
        r
    }
}

/// Where each parameter sits in the flat parameter (and gradient) vector.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `(name, shape, range)` in order.
    pub entries: Vec<(&'static str, Vec<usize>, Range<usize>)>,
    pub total: usize,
    pub src_emb: Range<usize>,
    pub tgt_emb: Range<usize>,
    pub enc_w_ih: Range<usize>,
    pub enc_w_hh: Range<usize>,
    pub enc_b_ih: Range<usize>,
    pub enc_b_hh: Range<usize>,
    pub dec_w_ih: Range<usize>,
    pub dec_w_hh: Range<usize>,
    pub dec_b_ih: Range<usize>,
    pub dec_b_hh: Range<usize>,
    /// General: `W` (H, H); additive: `W_k` (A, H).
    pub att_w: Range<usize>,
    /// Additive: `W_q` (A, H).
    pub att_q: Range<usize>,
    /// Additive: `b` (A).
    pub att_b: Range<usize>,
    /// Additive: `v` (A).
    pub att_v: Range<usize>,
    pub out_w: Range<usize>,
    pub out_b: Range<usize>,
}

/// A padded batch of token sequences `(rows, cols)` with checked lengths.
#[derive(Clone, Debug)]
pub struct Tokens<'a> {
    pub data: &'a [i64],
    pub rows: usize,
    pub cols: usize,
    pub lengths: Vec<usize>,
}

impl<'a> Tokens<'a> {
    /// Checks `lengths` (one per row, `1 <= len <= cols`) and that every
    /// token inside its sequence is in `[0, vocab)`; padding is not read.
    pub fn new(
        arg: &str,
        data: &'a [i64],
        rows: usize,
        cols: usize,
        lengths: &[i64],
        vocab: usize,
    ) -> Result<Self> {
        if rows == 0 || cols == 0 {
            return Err(Error::shape(
                arg,
                format!("expected a non-empty (batch, time) array, got ({rows}, {cols})"),
            ));
        }
        if data.len() != rows * cols {
            return Err(Error::shape(arg, "internal: data does not match its shape"));
        }
        if lengths.len() != rows {
            return Err(Error::shape(
                format!("{arg}_lengths"),
                format!("expected {rows} lengths (one per sequence of {arg}), got {}", lengths.len()),
            ));
        }
        let mut lens = Vec::with_capacity(rows);
        for (b, &l) in lengths.iter().enumerate() {
            if l < 1 {
                return Err(Error::value(
                    format!("{arg}_lengths"),
                    format!("lengths[{b}] = {l}: empty sequences are not allowed (lengths must be >= 1)"),
                ));
            }
            if l as u64 > cols as u64 {
                return Err(Error::value(
                    format!("{arg}_lengths"),
                    format!("lengths[{b}] = {l} is longer than the {cols} steps of {arg}"),
                ));
            }
            let l = l as usize;
            for t in 0..l {
                let v = data[b * cols + t];
                if v < 0 || v as u64 >= vocab as u64 {
                    return Err(Error::value(
                        arg,
                        format!("{arg}[{b}, {t}] = {v} is not a token of the vocabulary of size {vocab}"),
                    ));
                }
            }
            lens.push(l);
        }
        Ok(Tokens { data, rows, cols, lengths: lens })
    }

    pub fn at(&self, b: usize, t: usize) -> usize {
        self.data[b * self.cols + t] as usize
    }
}

/// How the decoder's inputs are chosen in training: the true previous token
/// with probability `teacher_prob` (1: teacher forcing, 0: free running, in
/// between: scheduled sampling), else the model's own arg-max prediction.
/// Draws come from a generator seeded by `seed`, in a fixed order.
#[derive(Clone, Copy, Debug)]
pub struct Feed {
    pub bos: usize,
    pub teacher_prob: f64,
    pub seed: u64,
}

/// Checks a flat parameter (or gradient) vector against the layout.
pub fn check_params<T>(cfg: &Config, params: &[T], arg: &str) -> Result<Layout> {
    let l = cfg.layout();
    if params.len() != l.total {
        return Err(Error::shape(
            arg,
            format!("expected {} values for this model, got {}", l.total, params.len()),
        ));
    }
    Ok(l)
}

pub(crate) fn check_token(arg: &str, v: i64, vocab: usize) -> Result<usize> {
    if v < 0 || v as u64 >= vocab as u64 {
        return Err(Error::value(arg, format!("expected a token in [0, {vocab}), got {v}")));
    }
    Ok(v as usize)
}

/// Runs `$body` with `$c` bound to the configured cell.
macro_rules! with_cell {
    ($cfg:expr, $c:ident => $body:expr) => {
        match $cfg.cell {
            $crate::seq2seq::CellKind::Lstm => {
                let $c = $crate::cell::Lstm::<{ $crate::cell::lstm::FULL }>;
                $body
            }
            $crate::seq2seq::CellKind::Gru => {
                let $c = $crate::cell::Gru;
                $body
            }
        }
    };
}
pub(crate) use with_cell;

/// What a forward pass over a batch returns for inspection.
pub struct Outputs<T> {
    /// Mean cross-entropy over the target tokens inside their lengths.
    pub loss: f64,
    /// `(B, T, V)`.
    pub logits: Vec<T>,
    /// `(B, T, S)` (empty without attention).
    pub attention: Vec<T>,
}

/// One training step's loss; ADDS the gradients of every parameter into
/// `grads` (same layout as `params`).
pub fn train_step<T: Float>(
    cfg: &Config,
    params: &[T],
    grads: &mut [T],
    src: &Tokens<'_>,
    tgt: &Tokens<'_>,
    feed: &Feed,
) -> Result<f64> {
    let l = check_params(cfg, params, "params")?;
    check_params(cfg, grads, "grads")?;
    check_batch(cfg, src, tgt, feed)?;
    with_cell!(cfg, c => run::<_, T>(cfg, &c, &l, params, Some(grads), src, tgt, feed).map(|o| o.loss))
}

/// The forward pass alone: loss, logits and attention weights.
pub fn forward<T: Float>(
    cfg: &Config,
    params: &[T],
    src: &Tokens<'_>,
    tgt: &Tokens<'_>,
    feed: &Feed,
) -> Result<Outputs<T>> {
    let l = check_params(cfg, params, "params")?;
    check_batch(cfg, src, tgt, feed)?;
    with_cell!(cfg, c => run::<_, T>(cfg, &c, &l, params, None, src, tgt, feed))
}

/// The encoder's final hidden state `(B, H)`: the fixed-size code of each
/// source sequence (the recurrent autoencoder's `encode`).
pub fn encode<T: Float>(cfg: &Config, params: &[T], src: &Tokens<'_>) -> Result<Vec<T>> {
    let l = check_params(cfg, params, "params")?;
    let enc = with_cell!(cfg, c => encoder::forward::<_, T>(cfg, &c, &l, params, src)?);
    Ok(enc.h_last)
}

fn check_batch(cfg: &Config, src: &Tokens<'_>, tgt: &Tokens<'_>, feed: &Feed) -> Result<()> {
    if src.rows != tgt.rows {
        return Err(Error::shape(
            "tgt",
            format!("expected {} sequences like src, got {}", src.rows, tgt.rows),
        ));
    }
    check_token("bos", feed.bos as i64, cfg.tgt_vocab)?;
    if !(0.0..=1.0).contains(&feed.teacher_prob) {
        return Err(Error::value(
            "teacher_prob",
            format!("expected a probability in [0, 1], got {}", feed.teacher_prob),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    grads: Option<&mut [T]>,
    src: &Tokens<'_>,
    tgt: &Tokens<'_>,
    feed: &Feed,
) -> Result<Outputs<T>> {
    crate::par::install(|| {
        let enc = encoder::forward(cfg, cell, l, p, src)?;
        let mem = attention::Memory::new(cfg, l, p, &enc.keys, &enc.h_last, &src.lengths, src.cols)?;
        let (s0, c0) = decoder::initial_state(cfg, &enc);
        let tr = decoder::forward(cfg, cell, l, p, &mem, &s0, &c0, tgt, feed)?;
        let (loss, dlogits) = decoder::loss(cfg, &tr, tgt)?;
        if let Some(g) = grads {
            let back = decoder::backward(cfg, cell, l, p, g, &mem, &tr, &dlogits)?;
            let mut dkeys = back.dkeys;
            mem.backward(cfg, l, p, g, &back.dproj, &mut dkeys);
            let mut dh = vec![T::ZERO; enc.h_last.len()];
            let mut dc = vec![T::ZERO; enc.c_last.len()];
            add(&mut dh, &back.dh_last);
            if cfg.init_from_encoder() {
                add(&mut dh, &back.ds0);
                add(&mut dc, &back.dc0);
            }
            encoder::backward(cfg, cell, l, p, g, &enc, src, &dkeys, &dh, &dc)?;
        }
        let (b, t, v, s) = (tgt.rows, tgt.cols, cfg.tgt_vocab, src.cols);
        let mut logits = crate::error::try_zeros(b * t * v, "logits")?;
        for tt in 0..t {
            for bb in 0..b {
                logits[(bb * t + tt) * v..(bb * t + tt + 1) * v]
                    .copy_from_slice(&tr.logits[(tt * b + bb) * v..(tt * b + bb + 1) * v]);
            }
        }
        let mut att = Vec::new();
        if matches!(cfg.context, Context::Attention(_)) {
            att = crate::error::try_zeros(b * t * s, "attention")?;
            for tt in 0..t {
                for bb in 0..b {
                    att[(bb * t + tt) * s..(bb * t + tt + 1) * s]
                        .copy_from_slice(&tr.alpha[(tt * b + bb) * s..(tt * b + bb + 1) * s]);
                }
            }
        }
        Ok(Outputs { loss, logits, attention: att })
    })
}

pub(crate) fn add<T: Float>(dst: &mut [T], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// `sum[j] += sum_r src[r, j]` over rows of width `sum.len()`.
pub(crate) fn add_column_sums<T: Float>(sum: &mut [T], src: &[T]) {
    let n = sum.len();
    if n == 0 {
        return;
    }
    for row in src.chunks_exact(n) {
        add(sum, row);
    }
}

/// The input-side and recurrent-side biases of a cell (`Cell::split_bias`).
pub(crate) fn split_bias<C: Cell<T>, T: Float>(
    cell: &C,
    h: usize,
    b_ih: &[T],
    b_hh: &[T],
) -> (Vec<T>, Vec<T>) {
    let mut ib = vec![T::ZERO; b_ih.len()];
    let mut rb = vec![T::ZERO; b_ih.len()];
    cell.split_bias(h, b_ih, b_hh, &mut ib, &mut rb);
    (ib, rb)
}
