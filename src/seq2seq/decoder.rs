//! The decoder: one step (shared by training and decoding), the training
//! time loop with its input feeding (teacher forcing, free running,
//! scheduled sampling), the masked cross-entropy, and BPTT back through the
//! readout, the cell and the attention into the encoder outputs.

use super::attention::{self, Memory};
use super::encoder::Encoded;
use super::{add, add_column_sums, split_bias, Config, Context, Feed, Layout, Tokens};
use crate::cell::{BackIo, Cell, StepIo};
use crate::error::{try_zeros, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The decoder's initial state: the encoder's final one, or zeros (Cho).
pub fn initial_state<T: Float>(cfg: &Config, enc: &Encoded<T>) -> (Vec<T>, Vec<T>) {
    if cfg.init_from_encoder() {
        (enc.h_last.clone(), enc.c_last.clone())
    } else {
        (vec![T::ZERO; enc.h_last.len()], vec![T::ZERO; enc.c_last.len()])
    }
}

/// A step's outputs for `rows` sequences (all row-major, `rows` first).
pub struct StepOut<'a, T> {
    /// Decoder input `[E y; a]` `(rows, E + ctx)`.
    pub x: &'a mut [T],
    pub gates: &'a mut [T],
    pub extra: &'a mut [T],
    pub s_new: &'a mut [T],
    pub c_new: &'a mut [T],
    /// Readout input `[s; a]` `(rows, H + ctx)`.
    pub o: &'a mut [T],
    pub logits: &'a mut [T],
    /// Attention weights `(rows, S)` and additive `tanh` values `(rows, S, A)`.
    pub alpha: &'a mut [T],
    pub z: &'a mut [T],
}

/// Scratch of a step, sized for `rows` once.
pub struct Scratch<T> {
    rec: Vec<T>,
    qp: Vec<T>,
    ctx: Vec<T>,
    ib: Vec<T>,
    rb: Vec<T>,
}

impl<T: Float> Scratch<T> {
    pub fn new<C: Cell<T>>(cfg: &Config, cell: &C, l: &Layout, p: &[T], rows: usize) -> Result<Self> {
        let (ib, rb) = split_bias(cell, cfg.hidden, &p[l.dec_b_ih.clone()], &p[l.dec_b_hh.clone()]);
        Ok(Scratch {
            rec: try_zeros(rows * C::GATES * cfg.hidden, "recurrent product")?,
            qp: try_zeros(rows * cfg.attn_dim, "attention query")?,
            ctx: try_zeros(rows * cfg.hidden, "context")?,
            ib,
            rb,
        })
    }
}

/// One decoder step for `tokens.len()` rows from state `(s_prev, c_prev)`.
#[allow(clippy::too_many_arguments)]
pub fn step<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    mem: &Memory<T>,
    tokens: &[usize],
    s_prev: &[T],
    c_prev: &[T],
    sc: &mut Scratch<T>,
    out: StepOut<'_, T>,
) {
    let (rows, e, h, cx) = (tokens.len(), cfg.emb, cfg.hidden, cfg.ctx());
    let (din, dout, gh, v) = (cfg.dec_in(), cfg.out_in(), C::GATES * h, cfg.tgt_vocab);
    match cfg.context {
        Context::None => {}
        Context::Fixed => sc.ctx.copy_from_slice(&mem.h_last),
        Context::Attention(_) => {
            attention::forward(cfg, l, p, mem, s_prev, &mut sc.qp, out.alpha, out.z, &mut sc.ctx)
        }
    }
    let emb = &p[l.tgt_emb.clone()];
    for (r, &tok) in tokens.iter().enumerate() {
        let xr = &mut out.x[r * din..(r + 1) * din];
        xr[..e].copy_from_slice(&emb[tok * e..(tok + 1) * e]);
        xr[e..].copy_from_slice(&sc.ctx[r * cx..(r + 1) * cx]);
    }
    gemm(
        Parallelism::Pool,
        out.gates,
        gh,
        Op::new(out.x, rows, din),
        Op::new(&p[l.dec_w_ih.clone()], gh, din).t(),
        T::ONE,
        false,
    );
    for row in out.gates.chunks_exact_mut(gh) {
        add(row, &sc.ib);
    }
    gemm(
        Parallelism::Pool,
        &mut sc.rec,
        gh,
        Op::new(s_prev, rows, h),
        Op::new(&p[l.dec_w_hh.clone()], gh, h).t(),
        T::ONE,
        false,
    );
    cell.forward(StepIo {
        own: &[],
        h,
        gates: out.gates,
        rec: &sc.rec,
        rec_bias: &sc.rb,
        input: &[],
        h_prev: s_prev,
        c_prev,
        c_new: out.c_new,
        out: out.s_new,
        extra: out.extra,
    });
    for r in 0..rows {
        let or = &mut out.o[r * dout..(r + 1) * dout];
        or[..h].copy_from_slice(&out.s_new[r * h..(r + 1) * h]);
        or[h..].copy_from_slice(&sc.ctx[r * cx..(r + 1) * cx]);
    }
    gemm(
        Parallelism::Pool,
        out.logits,
        v,
        Op::new(out.o, rows, dout),
        Op::new(&p[l.out_w.clone()], v, dout).t(),
        T::ONE,
        false,
    );
    let b_out = &p[l.out_b.clone()];
    for row in out.logits.chunks_exact_mut(v) {
        add(row, b_out);
    }
}

/// Index of the largest value (the first one on ties; NaN never wins).
pub fn argmax<T: Float>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] || (row[best].is_nan() && !x.is_nan()) {
            best = i;
        }
    }
    best
}

/// Everything the training forward saves (time-major, `(T, B, ...)`).
pub struct Trace<T> {
    pub t: usize,
    pub b: usize,
    pub tokens: Vec<usize>,
    pub x: Vec<T>,
    pub gates: Vec<T>,
    pub extra: Vec<T>,
    /// States `(T + 1, B, H)`.
    pub s: Vec<T>,
    pub c: Vec<T>,
    pub o: Vec<T>,
    pub logits: Vec<T>,
    pub alpha: Vec<T>,
    pub z: Vec<T>,
}

/// The training forward over `tgt.cols` steps; the input at step `t > 0` is
/// `tgt[:, t-1]` or the model's arg-max prediction, as `feed` says.
#[allow(clippy::too_many_arguments)]
pub fn forward<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    mem: &Memory<T>,
    s0: &[T],
    c0: &[T],
    tgt: &Tokens<'_>,
    feed: &Feed,
) -> Result<Trace<T>> {
    let (t_max, b, h, s) = (tgt.cols, tgt.rows, cfg.hidden, mem.s);
    let (din, dout, gh, v, a) = (cfg.dec_in(), cfg.out_in(), C::GATES * h, cfg.tgt_vocab, cfg.attn_dim);
    let has_c = C::HAS_C;
    let att = matches!(cfg.context, Context::Attention(_));
    let additive = cfg.context == Context::Attention(super::Score::Additive);
    let n = t_max * b;
    let mut tr = Trace {
        t: t_max,
        b,
        tokens: vec![0; n],
        x: try_zeros(n * din, "decoder inputs")?,
        gates: try_zeros(n * gh, "decoder gates")?,
        extra: try_zeros(n * C::EXTRA * h, "decoder saved values")?,
        s: try_zeros((t_max + 1) * b * h, "decoder states")?,
        c: try_zeros(if has_c { (t_max + 1) * b * h } else { 0 }, "decoder states")?,
        o: try_zeros(n * dout, "readout inputs")?,
        logits: try_zeros(n * v, "logits")?,
        alpha: try_zeros(if att { n * s } else { 0 }, "attention weights")?,
        z: try_zeros(if additive { n * s * a } else { 0 }, "attention values")?,
    };
    tr.s[..b * h].copy_from_slice(s0);
    if has_c {
        tr.c[..b * h].copy_from_slice(c0);
    }
    let mut sc = Scratch::new(cfg, cell, l, p, b)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(feed.seed);
    let bh = b * h;
    for t in 0..t_max {
        for bb in 0..b {
            tr.tokens[t * b + bb] = if t == 0 {
                feed.bos
            } else {
                // One draw per (step, row) in a fixed order: reproducible.
                let teacher = feed.teacher_prob >= 1.0
                    || (feed.teacher_prob > 0.0 && rng.random::<f64>() < feed.teacher_prob);
                if teacher && t - 1 < tgt.lengths[bb] {
                    tgt.at(bb, t - 1)
                } else {
                    argmax(&tr.logits[((t - 1) * b + bb) * v..((t - 1) * b + bb + 1) * v])
                }
            };
        }
        let (sp, sn) = tr.s.split_at_mut((t + 1) * bh);
        let (cp, cn): (&[T], &mut [T]) = if has_c {
            let (cp, cn) = tr.c.split_at_mut((t + 1) * bh);
            (&cp[t * bh..], &mut cn[..bh])
        } else {
            (&[], &mut [])
        };
        let ex = b * C::EXTRA * h;
        step(
            cfg,
            cell,
            l,
            p,
            mem,
            &tr.tokens[t * b..(t + 1) * b],
            &sp[t * bh..],
            cp,
            &mut sc,
            StepOut {
                x: &mut tr.x[t * b * din..(t + 1) * b * din],
                gates: &mut tr.gates[t * b * gh..(t + 1) * b * gh],
                extra: &mut tr.extra[t * ex..(t + 1) * ex],
                s_new: &mut sn[..bh],
                c_new: cn,
                o: &mut tr.o[t * b * dout..(t + 1) * b * dout],
                logits: &mut tr.logits[t * b * v..(t + 1) * b * v],
                alpha: if att { &mut tr.alpha[t * b * s..(t + 1) * b * s] } else { &mut [] },
                z: if additive { &mut tr.z[t * b * s * a..(t + 1) * b * s * a] } else { &mut [] },
            },
        );
    }
    Ok(tr)
}

/// Mean cross-entropy over the target tokens inside their lengths, and its
/// gradient w.r.t. the logits (time-major like the trace).
pub fn loss<T: Float>(cfg: &Config, tr: &Trace<T>, tgt: &Tokens<'_>) -> Result<(f64, Vec<T>)> {
    let (b, v) = (tr.b, cfg.tgt_vocab);
    let count: usize = tgt.lengths.iter().sum();
    let inv = T::from_f64(1.0 / count as f64);
    let mut d = try_zeros(tr.logits.len(), "logit gradients")?;
    let mut total = 0.0f64;
    for t in 0..tr.t {
        for bb in 0..b {
            if t >= tgt.lengths[bb] {
                continue;
            }
            let idx = (t * b + bb) * v;
            let row = &tr.logits[idx..idx + v];
            let m = row.iter().fold(T::from_f64(f64::NEG_INFINITY), |m, &x| m.max(x));
            let sum = row.iter().fold(T::ZERO, |s, &x| s + (x - m).exp());
            let y = tgt.at(bb, t);
            total += (sum.ln() + m - row[y]).to_f64();
            let dr = &mut d[idx..idx + v];
            for (dd, &x) in dr.iter_mut().zip(row) {
                *dd = (x - m).exp() / sum * inv;
            }
            dr[y] -= inv;
        }
    }
    Ok((total / count as f64, d))
}

/// Gradients the decoder's backward hands to the encoder side.
pub struct Backward<T> {
    /// W.r.t. the encoder outputs `(B, S, H)` and projected keys `(B, S, P)`.
    pub dkeys: Vec<T>,
    pub dproj: Vec<T>,
    /// W.r.t. the fixed context (Cho) `(B, H)`.
    pub dh_last: Vec<T>,
    /// W.r.t. the initial state.
    pub ds0: Vec<T>,
    pub dc0: Vec<T>,
}

/// BPTT through the decoder from `dlogits`; ADDS the decoder's, attention's
/// and readout's parameter gradients into `g`.
#[allow(clippy::too_many_arguments)]
pub fn backward<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    g: &mut [T],
    mem: &Memory<T>,
    tr: &Trace<T>,
    dlogits: &[T],
) -> Result<Backward<T>> {
    let (b, h, s, pw) = (tr.b, cfg.hidden, mem.s, cfg.proj());
    let bh = b * h;
    let d_o = readout_backward(cfg, l, p, g, tr, dlogits)?;
    let mut back = Backward {
        dkeys: try_zeros(b * s * h, "key gradients")?,
        dproj: try_zeros(b * s * pw, "key gradients")?,
        dh_last: try_zeros(if cfg.context == Context::Fixed { bh } else { 0 }, "context gradients")?,
        ds0: try_zeros(bh, "state gradients")?,
        dc0: try_zeros(if C::HAS_C { bh } else { 0 }, "state gradients")?,
    };
    let mut w = Work::new::<C>(cfg, tr)?;
    let run = Run { cfg, cell, l, p, mem, tr };
    for t in (0..tr.t).rev() {
        run.step_backward(g, &d_o, t, &mut w, &mut back);
    }
    back.ds0.copy_from_slice(&w.ds);
    back.dc0.copy_from_slice(&w.dc);
    input_weight_grads::<C, T>(cfg, l, g, tr, &w);
    Ok(back)
}

/// The readout does not feed back into the recurrence: its backward runs
/// over all steps at once. Adds the readout's gradients into `g`; returns
/// the gradient w.r.t. the readout inputs `[s; a]` `(T·B, H + ctx)`.
fn readout_backward<T: Float>(
    cfg: &Config,
    l: &Layout,
    p: &[T],
    g: &mut [T],
    tr: &Trace<T>,
    dlogits: &[T],
) -> Result<Vec<T>> {
    let (n, dout, v) = (tr.t * tr.b, cfg.out_in(), cfg.tgt_vocab);
    let mut d_o = try_zeros(n * dout, "readout gradients")?;
    gemm(
        Parallelism::Pool,
        &mut d_o,
        dout,
        Op::new(dlogits, n, v),
        Op::new(&p[l.out_w.clone()], v, dout),
        T::ONE,
        false,
    );
    gemm(
        Parallelism::Pool,
        &mut g[l.out_w.clone()],
        dout,
        Op::new(dlogits, n, v).t(),
        Op::new(&tr.o, n, dout),
        T::ONE,
        true,
    );
    add_column_sums(&mut g[l.out_b.clone()], dlogits);
    Ok(d_o)
}

/// The decoder backward's running state gradients and the per-step
/// gradients the weight gradients read at the end.
struct Work<T> {
    /// W.r.t. the state after the current step (before it, once swapped),
    /// the cell state, and their scratch.
    ds: Vec<T>,
    dc: Vec<T>,
    ds_prev: Vec<T>,
    dsum: Vec<T>,
    dctx: Vec<T>,
    direct: Vec<T>,
    /// Per step: gate gradients, decoder-input gradients and (additive
    /// attention) query gradients.
    dgx: Vec<T>,
    dgh: Vec<T>,
    dx: Vec<T>,
    dqp: Vec<T>,
}

impl<T: Float> Work<T> {
    fn new<C: Cell<T>>(cfg: &Config, tr: &Trace<T>) -> Result<Self> {
        let (b, h) = (tr.b, cfg.hidden);
        let (n, bh, gh) = (tr.t * b, b * h, C::GATES * h);
        let additive = cfg.context == Context::Attention(super::Score::Additive);
        Ok(Work {
            ds: try_zeros(bh, "state gradients")?,
            dc: try_zeros(if C::HAS_C { bh } else { 0 }, "state gradients")?,
            ds_prev: try_zeros(bh, "state gradients")?,
            dsum: try_zeros(bh, "state gradients")?,
            dctx: try_zeros(b * cfg.ctx(), "context gradients")?,
            direct: try_zeros(if C::SPLIT { bh } else { 0 }, "state gradients")?,
            dgx: try_zeros(n * gh, "gate gradients")?,
            dgh: try_zeros(if C::SPLIT { n * gh } else { 0 }, "gate gradients")?,
            dx: try_zeros(n * cfg.dec_in(), "input gradients")?,
            dqp: try_zeros(if additive { n * cfg.attn_dim } else { 0 }, "query gradients")?,
        })
    }
}

/// What every step of a decoder backward reads.
struct Run<'a, C, T> {
    cfg: &'a Config,
    cell: &'a C,
    l: &'a Layout,
    p: &'a [T],
    mem: &'a Memory<T>,
    tr: &'a Trace<T>,
}

impl<C: Cell<T>, T: Float> Run<'_, C, T> {
    /// Step `t` backward: the readout's gradient `d_o` joins the state's,
    /// then through the cell, the recurrent and input weights, and the
    /// context (fixed, or the attention into the encoder side, `back`).
    fn step_backward(&self, g: &mut [T], d_o: &[T], t: usize, w: &mut Work<T>, back: &mut Backward<T>) {
        let (cfg, tr, l, p) = (self.cfg, self.tr, self.l, self.p);
        let (b, h, s, e, cx) = (tr.b, cfg.hidden, self.mem.s, cfg.emb, cfg.ctx());
        let (din, dout, gh) = (cfg.dec_in(), cfg.out_in(), C::GATES * h);
        let a = cfg.attn_dim;
        let additive = cfg.context == Context::Attention(super::Score::Additive);
        let (bh, ex) = (b * h, b * C::EXTRA * h);
        for r in 0..b {
            let dor = &d_o[(t * b + r) * dout..(t * b + r + 1) * dout];
            let row = r * h..(r + 1) * h;
            for ((sum, &d), &v) in w.dsum[row.clone()].iter_mut().zip(&w.ds[row]).zip(&dor[..h]) {
                *sum = d + v;
            }
            w.dctx[r * cx..(r + 1) * cx].copy_from_slice(&dor[h..]);
        }
        let (c_prev, c_new): (&[T], &[T]) = if C::HAS_C {
            (&tr.c[t * bh..(t + 1) * bh], &tr.c[(t + 1) * bh..(t + 2) * bh])
        } else {
            (&[], &[])
        };
        let dgx_t = &mut w.dgx[t * b * gh..(t + 1) * b * gh];
        let dgh_t: &mut [T] = if C::SPLIT { &mut w.dgh[t * b * gh..(t + 1) * b * gh] } else { &mut [] };
        let s_prev = &tr.s[t * bh..(t + 1) * bh];
        self.cell.backward(BackIo {
            own: &[],
            down: &mut [],
            h,
            gates: &tr.gates[t * b * gh..(t + 1) * b * gh],
            extra: &tr.extra[t * ex..(t + 1) * ex],
            h_prev: s_prev,
            c_prev,
            c_new,
            dout: &w.dsum,
            dc: &mut w.dc,
            dgx: dgx_t,
            dgh: dgh_t,
            dh_prev: &mut w.direct,
        });
        let dg_rec: &[T] = if C::SPLIT { dgh_t } else { dgx_t };
        let (w_hh, w_ih) = (&p[l.dec_w_hh.clone()], &p[l.dec_w_ih.clone()]);
        gemm(
            Parallelism::Pool,
            &mut w.ds_prev,
            h,
            Op::new(dg_rec, b, gh),
            Op::new(w_hh, gh, h),
            T::ONE,
            false,
        );
        if C::SPLIT {
            add(&mut w.ds_prev, &w.direct);
        }
        let dx_t = &mut w.dx[t * b * din..(t + 1) * b * din];
        gemm(Parallelism::Pool, dx_t, din, Op::new(dgx_t, b, gh), Op::new(w_ih, gh, din), T::ONE, false);
        for r in 0..b {
            add(&mut w.dctx[r * cx..(r + 1) * cx], &dx_t[r * din + e..(r + 1) * din]);
        }
        match cfg.context {
            Context::None => {}
            Context::Fixed => add(&mut back.dh_last, &w.dctx),
            Context::Attention(_) => {
                let sa = b * s;
                attention::backward(
                    cfg,
                    l,
                    p,
                    g,
                    self.mem,
                    s_prev,
                    &tr.alpha[t * sa..(t + 1) * sa],
                    if additive { &tr.z[t * sa * a..(t + 1) * sa * a] } else { &[] },
                    &w.dctx,
                    &mut w.ds_prev,
                    &mut back.dkeys,
                    &mut back.dproj,
                    if additive { &mut w.dqp[t * b * a..(t + 1) * b * a] } else { &mut [] },
                );
            }
        }
        std::mem::swap(&mut w.ds, &mut w.ds_prev);
    }
}

/// The decoder's weight, bias, query and embedding gradients of all steps
/// at once, from the per-step gradients of a finished backward.
fn input_weight_grads<C: Cell<T>, T: Float>(
    cfg: &Config,
    l: &Layout,
    g: &mut [T],
    tr: &Trace<T>,
    w: &Work<T>,
) {
    let (h, e, a) = (cfg.hidden, cfg.emb, cfg.attn_dim);
    let (n, din, gh) = (tr.t * tr.b, cfg.dec_in(), C::GATES * h);
    let additive = cfg.context == Context::Attention(super::Score::Additive);
    let dg_rec: &[T] = if C::SPLIT { &w.dgh } else { &w.dgx };
    let states = &tr.s[..n * h];
    gemm(
        Parallelism::Pool,
        &mut g[l.dec_w_ih.clone()],
        din,
        Op::new(&w.dgx, n, gh).t(),
        Op::new(&tr.x, n, din),
        T::ONE,
        true,
    );
    gemm(
        Parallelism::Pool,
        &mut g[l.dec_w_hh.clone()],
        h,
        Op::new(dg_rec, n, gh).t(),
        Op::new(states, n, h),
        T::ONE,
        true,
    );
    add_column_sums(&mut g[l.dec_b_ih.clone()], &w.dgx);
    add_column_sums(&mut g[l.dec_b_hh.clone()], dg_rec);
    if additive {
        gemm(
            Parallelism::Pool,
            &mut g[l.att_q.clone()],
            h,
            Op::new(&w.dqp, n, a).t(),
            Op::new(states, n, h),
            T::ONE,
            true,
        );
    }
    let gemb = &mut g[l.tgt_emb.clone()];
    for (i, &tok) in tr.tokens.iter().enumerate() {
        add(&mut gemb[tok * e..(tok + 1) * e], &w.dx[i * din..i * din + e]);
    }
}
