//! A direction's forward time loop: chunks of steps, each chunk's input
//! projection formed just before its steps (see the parent module).

use super::{
    chunk_steps, cut, cut_ref, step_rows, step_split, whole_steps, Dims, DirForward, DirParams, ForwardWeight,
};
use crate::cell::{Cell, StepIo};
use crate::error::{checked_size, try_zeros};
use crate::layer::packing::Packing;
use crate::layer::workspace::{recycle, scratch};
use crate::linalg::mul_nt;
use crate::{Float, Result};

/// One step's buffers for a block of `n` batch rows (forward).
struct StepRows<'a, T> {
    n: usize,
    rec: &'a mut [T],
    gates: &'a mut [T],
    /// The input projection when the cell keeps it apart (`IN_GATES < GATES`; else empty).
    input: &'a [T],
    h_prev: &'a [T],
    /// Recurrent dropout: the mask rows and scratch for the masked state
    /// (both empty without dropout).
    mask: &'a [T],
    h_masked: &'a mut [T],
    c_prev: &'a [T],
    c_new: &'a mut [T],
    extra: &'a mut [T],
    /// Un-projected output (projection only; empty otherwise).
    m: &'a mut [T],
    h_new: &'a mut [T],
}

impl<'a, T: Float> StepRows<'a, T> {
    /// `gi`, `gr`: widths of the input projection and the recurrent product.
    fn split(self, at: usize, d: Dims, extra: usize, gi: usize, gr: usize) -> (Self, Self) {
        let (gh, h, ho) = (d.gh(), d.h, d.h_out);
        let (rec0, rec1) = cut(self.rec, at * gr);
        let (g0, g1) = cut(self.gates, at * gh);
        let (in0, in1) = cut_ref(self.input, at * gi);
        let (hp0, hp1) = cut_ref(self.h_prev, at * ho);
        let (mk0, mk1) = cut_ref(self.mask, at * ho);
        let (hm0, hm1) = cut(self.h_masked, at * ho);
        let (cp0, cp1) = cut_ref(self.c_prev, at * h);
        let (cn0, cn1) = cut(self.c_new, at * h);
        let (e0, e1) = cut(self.extra, at * h * extra);
        let (m0, m1) = cut(self.m, at * h);
        let (hn0, hn1) = cut(self.h_new, at * ho);
        (
            StepRows {
                n: at,
                rec: rec0,
                gates: g0,
                input: in0,
                h_prev: hp0,
                mask: mk0,
                h_masked: hm0,
                c_prev: cp0,
                c_new: cn0,
                extra: e0,
                m: m0,
                h_new: hn0,
            },
            StepRows {
                n: self.n - at,
                rec: rec1,
                gates: g1,
                input: in1,
                h_prev: hp1,
                mask: mk1,
                h_masked: hm1,
                c_prev: cp1,
                c_new: cn1,
                extra: e1,
                m: m1,
                h_new: hn1,
            },
        )
    }

    /// Recurrent product, fused gate pass and (optional) projection.
    /// `w_rec` is `W_hh^T`, `(h_out, G*H)`.
    fn forward<C: Cell<T>>(
        self,
        cell: &C,
        d: Dims,
        p: &DirParams<'_, T>,
        w_rec: &ForwardWeight<'_, T>,
        rec_bias: &[T],
        own: &[T],
    ) {
        let (h, ho) = (d.h, d.h_out);
        // Recurrent dropout masks the state only where it enters `W_hh`
        // (the cell still sees the true `h_prev`, e.g. GRU's `z * h_prev`).
        let h_rec: &[T] = if self.mask.is_empty() {
            self.h_prev
        } else {
            for ((o, &v), &m) in self.h_masked.iter_mut().zip(self.h_prev).zip(self.mask) {
                *o = v * m;
            }
            self.h_masked
        };
        w_rec.mul(self.rec, h_rec, self.n, false);
        // The cell writes the un-projected output `m` when projecting, else `h_new`.
        let (m, h_new) = (self.m, self.h_new);
        let out: &mut [T] = if p.w_hr.is_some() { &mut *m } else { &mut *h_new };
        let io = StepIo {
            h,
            own,
            gates: self.gates,
            rec: self.rec,
            rec_bias,
            input: self.input,
            h_prev: self.h_prev,
            c_prev: self.c_prev,
            c_new: self.c_new,
            out,
            extra: self.extra,
        };
        cell.forward(io);
        if let Some(w_hr) = p.w_hr {
            mul_nt(h_new, m, w_hr, self.n, h, ho, false);
        }
    }
}

/// The forward's working buffers beside what it keeps (`DirForward`).
struct Work<T> {
    /// A chunk's input projection when narrower than the gates (else empty).
    xin: Vec<T>,
    /// The recurrent product of one step `(B, gr)`.
    rec: Vec<T>,
    /// Recurrent dropout: the masked state of one step (empty without).
    h_masked: Vec<T>,
}

/// Allocates what the forward keeps (`DirForward`) and its working
/// buffers, the running states set from `h0`, `c0`.
#[allow(clippy::too_many_arguments)]
fn buffers<T: Float, C: Cell<T>>(
    d: Dims,
    pk: &Packing,
    h0: Option<&[T]>,
    c0: Option<&[T]>,
    mask: Option<&[T]>,
    reverse: bool,
    train: bool,
    chunk: usize,
    proj: bool,
) -> Result<(DirForward<T>, Work<T>)> {
    let (b, h, ho, gh) = (d.b, d.h, d.h_out, d.gh());
    let (bh, bho) = (b * h, b * ho);
    let rows = pk.rows();
    let (gi, gr) = (C::IN_GATES * h, C::REC_GATES * h);
    let apart = gi != gh;
    let xin = scratch(
        checked_size(&[if apart { chunk * b } else { 0 }, gi], "input projection")?,
        "input projection",
    )?;
    // Scratch buffers: every value is written before it is read (by the
    // steps, or gates by bias and projection), so they need no zeroing.
    let y = scratch(checked_size(&[rows, ho], "outputs")?, "outputs")?;
    let kept = |n: usize, what: &str| scratch::<T>(if train { n } else { 0 }, what);
    let prev = kept(checked_size(&[rows, ho], "hidden states")?, "hidden states")?;
    let gates =
        scratch(checked_size(&[if train { rows } else { chunk * b }, gh], "gate buffer")?, "gate buffer")?;
    let rec = try_zeros(checked_size(&[b, gr], "recurrent product")?, "recurrent product")?;
    let mask: Vec<T> = mask.map(<[T]>::to_vec).unwrap_or_default();
    let h_masked = try_zeros(if mask.is_empty() { 0 } else { bho }, "masked state")?;
    // The running states of all sequences (rows of ended ones stay as they
    // ended; the reverse direction's rows keep h0 until their last step).
    let mut h_last = try_zeros(bho, "h_n")?;
    if let Some(h0) = h0 {
        h_last.copy_from_slice(h0);
    }
    let mut c_last = try_zeros(if C::HAS_C { bh } else { 0 }, "c_n")?;
    if let (Some(c0), true) = (c0, C::HAS_C) {
        c_last.copy_from_slice(c0);
    }
    let c_rows = if !C::HAS_C {
        0
    } else if train {
        rows
    } else {
        b
    };
    let c_prev = kept(checked_size(&[if C::HAS_C { rows } else { 0 }, h], "cell states")?, "cell states")?;
    let c_new = scratch(checked_size(&[c_rows, h], "cell states")?, "cell states")?;
    let steps_rows = if train { rows } else { b };
    let extra = scratch(checked_size(&[steps_rows, h, C::EXTRA], "saved values")?, "saved values")?;
    let m = scratch(
        checked_size(&[if proj { steps_rows } else { 0 }, h], "projection input")?,
        "projection input",
    )?;
    let fw = DirForward { reverse, dims: d, y, h_last, c_last, prev, c_prev, c_new, gates, extra, m, mask };
    Ok((fw, Work { xin, rec, h_masked }))
}

/// What every step of one forward reads: the cell, the weights as laid out
/// for the products, the recurrent bias and the widths.
struct Run<'a, 'p, T: Float, C> {
    cell: &'a C,
    d: Dims,
    p: &'a DirParams<'p, T>,
    w_rec: ForwardWeight<'p, T>,
    rec_bias: Vec<T>,
    own: Vec<T>,
    /// Widths of the input projection and of the recurrent product (less
    /// than `gh` for cells with missing gate rows); the projection goes to
    /// its own chunk buffer (`apart`) when narrower than the gates.
    gi: usize,
    gr: usize,
    apart: bool,
    train: bool,
    /// Steps run unsplit (see `whole_steps`).
    whole: bool,
}

impl<T: Float, C: Cell<T>> Run<'_, '_, T, C> {
    /// One step `t` of the (sorted) rows still running: `o` its first packed
    /// row, `r0` the chunk's first, `base` where the gate buffer starts.
    fn step(&self, fw: &mut DirForward<T>, work: &mut Work<T>, n: usize, o: usize, r0: usize, base: usize) {
        let (d, train) = (self.d, self.train);
        let (h, ho, gh, gi, gr) = (d.h, d.h_out, d.gh(), self.gi, self.gr);
        let proj = self.p.w_hr.is_some();
        if train {
            fw.prev[o * ho..(o + n) * ho].copy_from_slice(&fw.h_last[..n * ho]);
            if C::HAS_C {
                fw.c_prev[o * h..(o + n) * h].copy_from_slice(&fw.c_last[..n * h]);
            }
        }
        let k = if train { o } else { 0 };
        {
            let h_prev: &[T] = if train { &fw.prev[o * ho..(o + n) * ho] } else { &fw.h_last[..n * ho] };
            let (c_prev, c_new): (&[T], &mut [T]) = if !C::HAS_C {
                (&[], &mut [])
            } else if train {
                (&fw.c_prev[o * h..(o + n) * h], &mut fw.c_new[o * h..(o + n) * h])
            } else {
                (&fw.c_last[..n * h], &mut fw.c_new[..n * h])
            };
            let masked = if fw.mask.is_empty() { 0 } else { n * ho };
            let rows = StepRows {
                n,
                rec: &mut work.rec[..n * gr],
                gates: &mut fw.gates[(o - base) * gh..(o - base + n) * gh],
                input: if self.apart { &work.xin[(o - r0) * gi..(o - r0 + n) * gi] } else { &[] },
                h_prev,
                mask: &fw.mask[..masked],
                h_masked: &mut work.h_masked[..masked],
                c_prev,
                c_new,
                extra: &mut fw.extra[k * h * C::EXTRA..(k + n) * h * C::EXTRA],
                m: if proj { &mut fw.m[k * h..(k + n) * h] } else { &mut [] },
                h_new: &mut fw.y[o * ho..(o + n) * ho],
            };
            let (cell, p, w_rec, rec_bias, own) =
                (self.cell, self.p, &self.w_rec, &self.rec_bias[..], &self.own[..]);
            match step_split(n, self.whole) {
                None => rows.forward(cell, d, p, w_rec, rec_bias, own),
                Some(at) => {
                    let (r0, r1) = rows.split(at, d, C::EXTRA, if self.apart { gi } else { 0 }, gr);
                    if d.serial {
                        r0.forward(cell, d, p, w_rec, rec_bias, own);
                        r1.forward(cell, d, p, w_rec, rec_bias, own);
                    } else {
                        rayon::join(
                            || r0.forward(cell, d, p, w_rec, rec_bias, own),
                            || r1.forward(cell, d, p, w_rec, rec_bias, own),
                        );
                    }
                }
            }
        }
        fw.h_last[..n * ho].copy_from_slice(&fw.y[o * ho..(o + n) * ho]);
        if C::HAS_C {
            fw.c_last[..n * h].copy_from_slice(&fw.c_new[k * h..(k + n) * h]);
        }
    }
}

/// Runs one direction over the packed sequence `x` `(rows, I)`; `h0`, `c0`
/// and `mask` are `(B, .)` in the packing's (sorted) order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<T: Float, C: Cell<T>>(
    cell: &C,
    d: Dims,
    pk: &Packing,
    p: &DirParams<'_, T>,
    x: &[T],
    h0: Option<&[T]>,
    c0: Option<&[T]>,
    mask: Option<&[T]>,
    reverse: bool,
    train: bool,
) -> Result<DirForward<T>> {
    let (tn, b, h, gh) = (d.t, d.b, d.h, d.gh());
    let bgh = checked_size(&[b, gh], "gate buffer")?;
    let rows = pk.rows();
    let chunk = chunk_steps(tn, b, bgh);
    let (gi, gr) = (C::IN_GATES * h, C::REC_GATES * h);
    let apart = gi != gh;
    let (mut fw, mut work) = buffers::<T, C>(d, pk, h0, c0, mask, reverse, train, chunk, p.w_hr.is_some())?;

    let zeros = try_zeros(gh, "bias")?;
    let mut input_bias = try_zeros(gi, "bias")?;
    let mut rec_bias = try_zeros(gh, "bias")?;
    let (b_ih, b_hh) = (p.b_ih.unwrap_or(&zeros[..gi]), p.b_hh.unwrap_or(&zeros[..C::BIAS_HH_GATES * h]));
    cell.split_bias(h, b_ih, b_hh, &mut input_bias, &mut rec_bias);
    // The per-step product `h_prev W_hh^T`: the weight is laid out for it
    // once per call (packed or transposed), not at every step.
    let w_rec = ForwardWeight::new(p.w_hh, gr, d.h_out, step_rows(b), rows, "recurrent weights")?;
    // Likewise `x W_ih^T`, once per chunk.
    let w_in = ForwardWeight::new(p.w_ih, gi, d.i, chunk * b, rows, "input weights")?;
    let own = p.own_flat();
    let whole = whole_steps(d.serial, w_rec.rows_independent(), p.w_hr.is_some(), !own.is_empty());
    let run = Run { cell, d, p, w_rec, rec_bias, own, gi, gr, apart, train, whole };

    let mut s0 = 0;
    while s0 < tn {
        let s1 = (s0 + chunk).min(tn);
        // The chunk's steps cover one contiguous range of times, so one
        // contiguous block of packed rows.
        let (tlo, thi) = if reverse { (tn - s1, tn - s0) } else { (s0, s1) };
        let (r0, r1) = (pk.offset(tlo), pk.offset(thi));
        let base = if train { 0 } else { r0 };
        if r1 > r0 {
            // The chunk's input projection, starting from the bias.
            let g = if apart {
                &mut work.xin[..(r1 - r0) * gi]
            } else {
                &mut fw.gates[(r0 - base) * gh..(r1 - base) * gh]
            };
            w_in.mul_big_from_row(d.serial, g, &x[r0 * d.i..r1 * d.i], r1 - r0, &input_bias);
        }
        for s in s0..s1 {
            crate::interrupt::check()?;
            let t = if reverse { tn - 1 - s } else { s };
            // Only the first `n` (sorted) sequences are still running.
            let (n, o) = (pk.size(t), pk.offset(t));
            if n > 0 {
                run.step(&mut fw, &mut work, n, o, r0, base);
            }
        }
        s0 = s1;
    }
    recycle(work.xin);
    if !train {
        for v in [&mut fw.gates, &mut fw.extra, &mut fw.m, &mut fw.c_new] {
            recycle(std::mem::take(v));
        }
    }
    Ok(fw)
}
