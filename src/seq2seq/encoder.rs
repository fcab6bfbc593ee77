//! The encoder: embedding lookup, one recurrent layer over the padded source,
//! each sequence's state frozen after its own last step (so the final state
//! is the one after `lengths[b]` steps and the outputs past it are zero), and
//! its backward (BPTT).

use super::{add, add_column_sums, split_bias, Config, Layout, Tokens};
use crate::cell::{BackIo, Cell, StepIo};
use crate::error::{try_zeros, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;

/// The encoder's outputs and what its backward needs.
pub struct Encoded<T> {
    /// Outputs `(B, S, H)`, zero past each length: the attention's keys.
    pub keys: Vec<T>,
    /// Final states `(B, H)` (`c_last` empty for cells without `c`).
    pub h_last: Vec<T>,
    pub c_last: Vec<T>,
    /// Time-major saved values: inputs `(S, B, E)`, gate activations,
    /// extras, states `(S + 1, B, H)`.
    x: Vec<T>,
    gates: Vec<T>,
    extra: Vec<T>,
    hs: Vec<T>,
    cs: Vec<T>,
}

/// Runs the encoder over `src`.
pub fn forward<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    src: &Tokens<'_>,
) -> Result<Encoded<T>> {
    let (b, s, e, h) = (src.rows, src.cols, cfg.emb, cfg.hidden);
    let gh = C::GATES * h;
    let emb = &p[l.src_emb.clone()];
    let mut x = try_zeros(s * b * e, "encoder inputs")?;
    for t in 0..s {
        for bb in 0..b {
            if t < src.lengths[bb] {
                let tok = src.at(bb, t);
                x[(t * b + bb) * e..(t * b + bb + 1) * e].copy_from_slice(&emb[tok * e..(tok + 1) * e]);
            }
        }
    }
    let (ib, rb) = split_bias(cell, h, &p[l.enc_b_ih.clone()], &p[l.enc_b_hh.clone()]);
    let mut gates = try_zeros(s * b * gh, "encoder gates")?;
    gemm(
        Parallelism::Pool,
        &mut gates,
        gh,
        Op::new(&x, s * b, e),
        Op::new(&p[l.enc_w_ih.clone()], gh, e).t(),
        T::ONE,
        false,
    );
    for row in gates.chunks_exact_mut(gh) {
        add(row, &ib);
    }
    let w_hh = &p[l.enc_w_hh.clone()];
    let has_c = C::HAS_C;
    let mut hs = try_zeros((s + 1) * b * h, "encoder states")?;
    let mut cs = try_zeros(if has_c { (s + 1) * b * h } else { 0 }, "encoder states")?;
    let mut extra = try_zeros(s * b * C::EXTRA * h, "encoder saved values")?;
    let mut rec = try_zeros(b * gh, "recurrent product")?;
    let bh = b * h;
    for t in 0..s {
        let (hp, hn) = hs.split_at_mut((t + 1) * bh);
        let (h_prev, h_new) = (&hp[t * bh..], &mut hn[..bh]);
        gemm(Parallelism::Pool, &mut rec, gh, Op::new(h_prev, b, h), Op::new(w_hh, gh, h).t(), T::ONE, false);
        let (c_prev, c_new): (&[T], &mut [T]) = if has_c {
            let (cp, cn) = cs.split_at_mut((t + 1) * bh);
            (&cp[t * bh..], &mut cn[..bh])
        } else {
            (&[], &mut [])
        };
        cell.forward(StepIo {
            own: &[],
            h,
            gates: &mut gates[t * b * gh..(t + 1) * b * gh],
            rec: &rec,
            rec_bias: &rb,
            input: &[],
            h_prev,
            c_prev,
            c_new,
            out: h_new,
            extra: &mut extra[t * b * C::EXTRA * h..(t + 1) * b * C::EXTRA * h],
        });
        // Finished sequences keep their state.
        for bb in 0..b {
            if t >= src.lengths[bb] {
                h_new[bb * h..(bb + 1) * h].copy_from_slice(&h_prev[bb * h..(bb + 1) * h]);
                if has_c {
                    c_new[bb * h..(bb + 1) * h].copy_from_slice(&c_prev[bb * h..(bb + 1) * h]);
                }
            }
        }
    }
    let mut keys = try_zeros(b * s * h, "encoder outputs")?;
    for bb in 0..b {
        for t in 0..src.lengths[bb] {
            let from = (t + 1) * bh + bb * h;
            keys[(bb * s + t) * h..(bb * s + t + 1) * h].copy_from_slice(&hs[from..from + h]);
        }
    }
    let h_last = hs[s * bh..].to_vec();
    let c_last = if has_c { cs[s * bh..].to_vec() } else { Vec::new() };
    Ok(Encoded { keys, h_last, c_last, x, gates, extra, hs, cs })
}

/// BPTT through the encoder: `dkeys` `(B, S, H)` is the gradient w.r.t. the
/// outputs, `dh_last`/`dc_last` w.r.t. the final state. ADDS into `g`.
#[allow(clippy::too_many_arguments)]
pub fn backward<C: Cell<T>, T: Float>(
    cfg: &Config,
    cell: &C,
    l: &Layout,
    p: &[T],
    g: &mut [T],
    enc: &Encoded<T>,
    src: &Tokens<'_>,
    dkeys: &[T],
    dh_last: &[T],
    dc_last: &[T],
) -> Result<()> {
    let (b, s, e, h) = (src.rows, src.cols, cfg.emb, cfg.hidden);
    let (gh, bh, ex) = (C::GATES * h, b * h, b * C::EXTRA * h);
    let w_hh = &p[l.enc_w_hh.clone()];
    let mut dh = dh_last.to_vec();
    let mut dc = dc_last.to_vec();
    let mut dc_old = dc.clone();
    let mut dgx = try_zeros(s * b * gh, "encoder gate gradients")?;
    let mut dgh = try_zeros(if C::SPLIT { s * b * gh } else { 0 }, "encoder gate gradients")?;
    let mut direct = try_zeros(if C::SPLIT { bh } else { 0 }, "dh")?;
    let mut dout = try_zeros(bh, "dh")?;
    let mut dh_new = try_zeros(bh, "dh")?;
    for t in (0..s).rev() {
        for bb in 0..b {
            let d = &mut dout[bb * h..(bb + 1) * h];
            d.copy_from_slice(&dh[bb * h..(bb + 1) * h]);
            if t < src.lengths[bb] {
                add(d, &dkeys[(bb * s + t) * h..(bb * s + t + 1) * h]);
            }
        }
        dc_old.copy_from_slice(&dc);
        let (c_prev, c_new): (&[T], &[T]) = if C::HAS_C {
            (&enc.cs[t * bh..(t + 1) * bh], &enc.cs[(t + 1) * bh..(t + 2) * bh])
        } else {
            (&[], &[])
        };
        let dgx_t = &mut dgx[t * b * gh..(t + 1) * b * gh];
        let dgh_t: &mut [T] = if C::SPLIT { &mut dgh[t * b * gh..(t + 1) * b * gh] } else { &mut [] };
        cell.backward(BackIo {
            own: &[],
            down: &mut [],
            h,
            gates: &enc.gates[t * b * gh..(t + 1) * b * gh],
            extra: &enc.extra[t * ex..(t + 1) * ex],
            h_prev: &enc.hs[t * bh..(t + 1) * bh],
            c_prev,
            c_new,
            dout: &dout,
            dc: &mut dc,
            dgx: dgx_t,
            dgh: dgh_t,
            dh_prev: &mut direct,
        });
        for bb in 0..b {
            if t >= src.lengths[bb] {
                dgx_t[bb * gh..(bb + 1) * gh].fill(T::ZERO);
                if C::SPLIT {
                    dgh_t[bb * gh..(bb + 1) * gh].fill(T::ZERO);
                }
            }
        }
        let dg_rec: &[T] = if C::SPLIT { dgh_t } else { dgx_t };
        gemm(Parallelism::Pool, &mut dh_new, h, Op::new(dg_rec, b, gh), Op::new(w_hh, gh, h), T::ONE, false);
        if C::SPLIT {
            add(&mut dh_new, &direct);
        }
        // Past its length a sequence's state passed through unchanged.
        for bb in 0..b {
            if t >= src.lengths[bb] {
                dh_new[bb * h..(bb + 1) * h].copy_from_slice(&dh[bb * h..(bb + 1) * h]);
                if C::HAS_C {
                    dc[bb * h..(bb + 1) * h].copy_from_slice(&dc_old[bb * h..(bb + 1) * h]);
                }
            }
        }
        std::mem::swap(&mut dh, &mut dh_new);
    }
    let n = s * b;
    let dg_rec: &[T] = if C::SPLIT { &dgh } else { &dgx };
    gemm(
        Parallelism::Pool,
        &mut g[l.enc_w_ih.clone()],
        e,
        Op::new(&dgx, n, gh).t(),
        Op::new(&enc.x, n, e),
        T::ONE,
        true,
    );
    gemm(
        Parallelism::Pool,
        &mut g[l.enc_w_hh.clone()],
        h,
        Op::new(dg_rec, n, gh).t(),
        Op::new(&enc.hs[..n * h], n, h),
        T::ONE,
        true,
    );
    add_column_sums(&mut g[l.enc_b_ih.clone()], &dgx);
    add_column_sums(&mut g[l.enc_b_hh.clone()], dg_rec);
    let mut dx = try_zeros(n * e, "encoder input gradients")?;
    gemm(
        Parallelism::Pool,
        &mut dx,
        e,
        Op::new(&dgx, n, gh),
        Op::new(&p[l.enc_w_ih.clone()], gh, e),
        T::ONE,
        false,
    );
    let gemb = &mut g[l.src_emb.clone()];
    for t in 0..s {
        for bb in 0..b {
            if t < src.lengths[bb] {
                let tok = src.at(bb, t);
                add(&mut gemb[tok * e..(tok + 1) * e], &dx[(t * b + bb) * e..(t * b + bb + 1) * e]);
            }
        }
    }
    Ok(())
}
