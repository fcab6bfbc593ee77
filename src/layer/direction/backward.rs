//! A direction's BPTT: chunks of steps from the last to the first, each
//! chunk's weight, bias and input gradients formed right after its steps,
//! while its gate gradients are still in cache (see the parent module).

use super::{
    chunk_steps, cut, cut_ref, step_rows, step_split, whole_steps, Dims, DirForward, DirGrads, DirParams,
};
use crate::cell::{BackIo, Cell};
use crate::error::{checked_size, try_zeros};
use crate::layer::matmul::{StepWeight, WeightGrads};
use crate::layer::packing::Packing;
use crate::layer::workspace::{recycle, scratch, zeroed};
use crate::linalg::{gemm, mul_nn, Op, Parallelism};
use crate::{Float, Result};
use std::ops::Range;

/// Gradients a direction's backward returns (parameter gradients are
/// accumulated into the `DirGrads` given).
pub(crate) struct DirBackward<T> {
    /// `(T, B, I)`.
    pub dx: Vec<T>,
    /// `(B, h_out)`.
    pub dh0: Vec<T>,
    /// `(B, H)`, empty without a cell state.
    pub dc0: Vec<T>,
}

/// Column sums of `src` (rows of `n`) into `sum`, summed in row order.
fn column_sums<T: Float>(sum: &mut [T], src: &[T], n: usize) {
    sum.fill(T::ZERO);
    for row in src.chunks_exact(n.max(1)) {
        for (s, &v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// Column sums of the last `sum.len()` columns of `src` (rows of `width`), in row order.
fn column_sums_tail<T: Float>(sum: &mut [T], src: &[T], width: usize) {
    sum.fill(T::ZERO);
    let skip = width - sum.len();
    for row in src.chunks_exact(width.max(1)) {
        for (s, &v) in sum.iter_mut().zip(&row[skip..]) {
            *s += v;
        }
    }
}

/// Copies the last `dst`-row-width columns of each row of `src` (rows of `width`) into `dst`.
fn gather_tail<T: Float>(dst: &mut [T], src: &[T], width: usize) {
    let rows = src.len() / width.max(1);
    let w = dst.len() / rows.max(1);
    for (d, s) in dst.chunks_exact_mut(w.max(1)).zip(src.chunks_exact(width.max(1))) {
        d.copy_from_slice(&s[width - w..]);
    }
}

fn add_to<T: Float>(dst: &mut [T], src: &[T]) {
    for (g, &s) in dst.iter_mut().zip(src) {
        *g += s;
    }
}

/// The previous states of the packed rows of times `times` (starting at row
/// `r0`) times the recurrent dropout mask, into `out`.
fn mask_states<'a, T: Float>(
    out: &'a mut [T],
    prev: &[T],
    mask: &[T],
    pk: &Packing,
    times: std::ops::Range<usize>,
    r0: usize,
    ho: usize,
) -> &'a [T] {
    for t in times {
        let (len, at) = (pk.size(t) * ho, (pk.offset(t) - r0) * ho);
        for ((dst, &v), &m) in out[at..at + len].iter_mut().zip(&prev[at..at + len]).zip(mask) {
            *dst = v * m;
        }
    }
    out
}

/// A chunk's bias gradients: column sums of its gate gradients (one pass
/// when both biases see the same gate gradients). `widths` = `[gi, gd, gb,
/// gh]` as in [`backward`].
fn add_bias_grads<T: Float, C: Cell<T>>(
    grads: &mut DirGrads<'_, T>,
    bias_sum: &mut [T],
    dgx: &[T],
    dgh: &[T],
    [gi, gd, gb, gh]: [usize; 4],
) {
    if let Some(g) = grads.b_ih.as_deref_mut() {
        column_sums(&mut bias_sum[..gi], dgx, gi);
        add_to(g, &bias_sum[..gi]);
    }
    if let Some(g) = grads.b_hh.as_deref_mut() {
        if C::SPLIT {
            column_sums_tail(&mut bias_sum[..gb], dgh, gd);
        } else if grads.b_ih.is_none() {
            column_sums(bias_sum, dgx, gh);
        }
        add_to(g, &bias_sum[..gb]);
    }
}

/// Adds the two row blocks' own-parameter accumulators, in a fixed order.
fn add_own_grads<T: Float>(own: &mut [&mut [T]], down: &[Vec<T>; 2]) {
    let mut at = 0;
    for g in own.iter_mut() {
        for (j, v) in g.iter_mut().enumerate() {
            *v += down[0][at + j] + down[1][at + j];
        }
        at += g.len();
    }
}

/// One step's buffers for a block of `n` batch rows (backward).
struct BackRows<'a, T> {
    n: usize,
    /// This step's output gradient rows, `dy_ld` apart, starting at column `dy_off`.
    dy: &'a [T],
    dh: &'a mut [T],
    dh_next: &'a mut [T],
    /// Projection only: where this step's total `dh` is kept, and `dh W_hr`.
    dh_keep: &'a mut [T],
    dm: &'a mut [T],
    dc: &'a mut [T],
    gates: &'a [T],
    extra: &'a [T],
    h_prev: &'a [T],
    c_prev: &'a [T],
    c_new: &'a [T],
    dgx: &'a mut [T],
    dgh: &'a mut [T],
    /// When `dgh` is wider than the recurrent product (`DGH_GATES > REC_GATES`):
    /// where its last `REC_GATES` blocks are gathered (else empty).
    dg_rec: &'a mut [T],
    /// Recurrent dropout: mask rows and scratch for `dG W_hh` (empty without).
    mask: &'a [T],
    scratch: &'a mut [T],
    /// This block's accumulator of the own-parameter gradient.
    down: &'a mut [T],
}

impl<'a, T: Float> BackRows<'a, T> {
    /// `w`: the widths of `dgx`, `dgh` and `dg_rec`; the second block
    /// accumulates its own-parameter gradient into `down1`.
    #[allow(clippy::too_many_arguments)]
    fn split(
        self,
        at: usize,
        d: Dims,
        extra: usize,
        dy_ld: usize,
        w: [usize; 3],
        down1: &'a mut [T],
    ) -> (Self, Self) {
        let (gh, h, ho) = (d.gh(), d.h, d.h_out);
        let (dy0, dy1) = cut_ref(self.dy, at * dy_ld);
        let (dh0, dh1) = cut(self.dh, at * ho);
        let (dn0, dn1) = cut(self.dh_next, at * ho);
        let (k0, k1) = cut(self.dh_keep, at * ho);
        let (dm0, dm1) = cut(self.dm, at * h);
        let (dc0, dc1) = cut(self.dc, at * h);
        let (g0, g1) = cut_ref(self.gates, at * gh);
        let (e0, e1) = cut_ref(self.extra, at * h * extra);
        let (hp0, hp1) = cut_ref(self.h_prev, at * ho);
        let (cp0, cp1) = cut_ref(self.c_prev, at * h);
        let (cn0, cn1) = cut_ref(self.c_new, at * h);
        let (x0, x1) = cut(self.dgx, at * w[0]);
        let (y0, y1) = cut(self.dgh, at * w[1]);
        let (q0, q1) = cut(self.dg_rec, at * w[2]);
        let (mk0, mk1) = cut_ref(self.mask, at * ho);
        let (s0, s1) = cut(self.scratch, at * ho);
        (
            BackRows {
                n: at,
                dy: dy0,
                dh: dh0,
                dh_next: dn0,
                dh_keep: k0,
                dm: dm0,
                dc: dc0,
                gates: g0,
                extra: e0,
                h_prev: hp0,
                c_prev: cp0,
                c_new: cn0,
                dgx: x0,
                dgh: y0,
                dg_rec: q0,
                mask: mk0,
                scratch: s0,
                down: self.down,
            },
            BackRows {
                n: self.n - at,
                dy: dy1,
                dh: dh1,
                dh_next: dn1,
                dh_keep: k1,
                dm: dm1,
                dc: dc1,
                gates: g1,
                extra: e1,
                h_prev: hp1,
                c_prev: cp1,
                c_new: cn1,
                dgx: x1,
                dgh: y1,
                dg_rec: q1,
                mask: mk1,
                scratch: s1,
                down: down1,
            },
        )
    }

    /// Adds the output gradient, back through the projection and the cell,
    /// and `dh_next = direct part + dG_rec W_hh`.
    /// `w_rec` is `W_hh`, `(G*H, h_out)`.
    #[allow(clippy::too_many_arguments)]
    fn backward<C: Cell<T>>(
        self,
        cell: &C,
        d: Dims,
        p: &DirParams<'_, T>,
        w_rec: &StepWeight<'_, T>,
        dy_ld: usize,
        dy_off: usize,
        own: &[T],
    ) {
        let (h, ho) = (d.h, d.h_out);
        for (r, dhr) in self.dh.chunks_exact_mut(ho.max(1)).enumerate().take(self.n) {
            for (a, &v) in dhr.iter_mut().zip(&self.dy[r * dy_ld + dy_off..][..ho]) {
                *a += v;
            }
        }
        let dout: &[T] = match p.w_hr {
            None => self.dh,
            Some(w_hr) => {
                self.dh_keep.copy_from_slice(self.dh);
                mul_nn(self.dm, self.dh, w_hr, self.n, ho, h, false);
                self.dm
            }
        };
        cell.backward(BackIo {
            h,
            own,
            down: self.down,
            gates: self.gates,
            extra: self.extra,
            h_prev: self.h_prev,
            c_prev: self.c_prev,
            c_new: self.c_new,
            dout,
            dc: self.dc,
            dgx: self.dgx,
            dgh: self.dgh,
            dh_prev: self.dh_next,
        });
        let g_rec: &[T] = if !C::SPLIT {
            self.dgx
        } else if self.dg_rec.is_empty() {
            self.dgh
        } else {
            gather_tail(self.dg_rec, self.dgh, C::DGH_GATES * h);
            self.dg_rec
        };
        if self.mask.is_empty() {
            w_rec.mul(self.dh_next, g_rec, self.n, C::DIRECT);
        } else {
            // The state entered `W_hh` masked: so does its gradient from there.
            w_rec.mul(self.scratch, g_rec, self.n, false);
            for ((o, &v), &m) in self.dh_next.iter_mut().zip(self.scratch.iter()).zip(self.mask) {
                *o = if C::DIRECT { *o + v * m } else { v * m };
            }
        }
    }
}

/// The backward's working buffers and running gradients.
struct Work<T> {
    /// A chunk's gate gradients: input side, recurrent side (cells that
    /// split them), and the recurrent side's last `REC_GATES` blocks gathered
    /// when it is wider than the recurrent product (else empty).
    dgx: Vec<T>,
    dgh: Vec<T>,
    dg_rec: Vec<T>,
    /// Recurrent dropout: a chunk's masked previous states (else empty).
    masked_prev: Vec<T>,
    /// Projection only: every step's total `dh`, packed `(rows, h_out)`.
    dh_all: Vec<T>,
    /// Running gradients w.r.t. every sequence's state: a row not yet
    /// running (backward in time) keeps its `dh_n`; an ended one its `dh0`.
    dh: Vec<T>,
    dh_next: Vec<T>,
    dc: Vec<T>,
    /// Projection only: `dh W_hr` of one step.
    dm: Vec<T>,
    /// Recurrent dropout: `dG W_hh` of one step before the mask (else empty).
    scratch_dh: Vec<T>,
    /// The input gradient, packed `(rows, I)` (empty unless needed).
    dx: Vec<T>,
    bias_sum: Vec<T>,
    /// The own-parameter gradient: one accumulator per block of rows (see
    /// `split_rows`), summed in a fixed order at the end, so the result does
    /// not depend on the thread count.
    down: [Vec<T>; 2],
}

/// What every step and chunk of one backward reads: the cell, the weights as
/// laid out for the products, where this direction's `dy` is, and the widths.
struct Run<'a, 'p, T: Float, C> {
    cell: &'a C,
    d: Dims,
    p: &'a DirParams<'p, T>,
    fw: &'a DirForward<T>,
    pk: &'a Packing,
    /// The per-step product `dG W_hh` and the per-chunk `dG W_ih` (None when
    /// nobody needs the input gradient), with the weights laid out once.
    w_rec: StepWeight<'p, T>,
    w_in: Option<StepWeight<'p, T>>,
    own: Vec<T>,
    dy_ld: usize,
    dy_off: usize,
    /// Widths of the input-side and recurrent-side gate gradients, of the
    /// recurrent product, and of `bias_hh` (all `gh` but for cells with
    /// missing gate rows); `gather`: see `Work::dg_rec`.
    gi: usize,
    gr: usize,
    gd: usize,
    gb: usize,
    gather: bool,
    /// Steps run unsplit (see `whole_steps`).
    whole: bool,
}

impl<T: Float, C: Cell<T>> Run<'_, '_, T, C> {
    /// Allocates the working buffers, the running gradients set from
    /// `dh_n`, `dc_n`.
    fn buffers(
        &self,
        chunk: usize,
        dh_n: Option<&[T]>,
        dc_n: Option<&[T]>,
        need_dx: bool,
    ) -> Result<Work<T>> {
        let (d, fw) = (self.d, self.fw);
        let (b, h, ho) = (d.b, d.h, d.h_out);
        let (bh, bho) = (b * h, b * ho);
        let rows = self.pk.rows();
        let proj = self.p.w_hr.is_some();
        // Every value is written by the cell before the chunk's products read it.
        let dgx = scratch(checked_size(&[chunk * b, self.gi], "gate gradients")?, "gate gradients")?;
        let dgh = scratch(checked_size(&[chunk * b, self.gd], "gate gradients")?, "gate gradients")?;
        let dg_rec = scratch(
            checked_size(&[if self.gather { chunk * b } else { 0 }, self.gr], "gate gradients")?,
            "gate gradients",
        )?;
        let masked_prev = scratch(if fw.mask.is_empty() { 0 } else { chunk * bho }, "masked states")?;
        let dh_all = zeroed(if proj { rows * ho } else { 0 }, "output gradients")?;
        let mut dh = try_zeros(bho, "dh")?;
        let dh_next = try_zeros(bho, "dh")?;
        if let Some(v) = dh_n {
            dh.copy_from_slice(v);
        }
        let mut dc = try_zeros(if C::HAS_C { bh } else { 0 }, "dc")?;
        if let (Some(v), true) = (dc_n, C::HAS_C) {
            dc.copy_from_slice(v);
        }
        let dm = try_zeros(if proj { bh } else { 0 }, "dm")?;
        let scratch_dh = try_zeros(if fw.mask.is_empty() { 0 } else { bho }, "dh")?;
        // Every row block of the input gradient is written by its chunk's `dG W_ih`.
        let dx = try_zeros(
            if need_dx { checked_size(&[rows, d.i], "input gradient")? } else { 0 },
            "input gradient",
        )?;
        let bias_sum = try_zeros(d.gh(), "bias gradient")?;
        let down = [try_zeros(self.own.len(), "own gradient")?, try_zeros(self.own.len(), "own gradient")?];
        Ok(Work {
            dgx,
            dgh,
            dg_rec,
            masked_prev,
            dh_all,
            dh,
            dh_next,
            dc,
            dm,
            scratch_dh,
            dx,
            bias_sum,
            down,
        })
    }

    /// One step back through the `n` running rows from packed row `o`
    /// (`k` rows into the chunk's gate gradients).
    fn step(&self, w: &mut Work<T>, dy: &[T], n: usize, o: usize, k: usize) {
        let (d, fw) = (self.d, self.fw);
        let (b, h, ho, gh) = (d.b, d.h, d.h_out, d.gh());
        let (gi, gr, gd) = (self.gi, self.gr, self.gd);
        let (proj, ex_w) = (self.p.w_hr.is_some(), h * C::EXTRA);
        let (dy_ld, dy_off) = (self.dy_ld, self.dy_off);
        let (c_prev, c_new): (&[T], &[T]) = if C::HAS_C {
            (&fw.c_prev[o * h..(o + n) * h], &fw.c_new[o * h..(o + n) * h])
        } else {
            (&[], &[])
        };
        let masked = if fw.mask.is_empty() { 0 } else { n * ho };
        let [down0, down1] = &mut w.down;
        let rows = BackRows {
            n,
            dy: &dy[o * dy_ld..(o + n) * dy_ld],
            dh: &mut w.dh[..n * ho],
            dh_next: &mut w.dh_next[..n * ho],
            dh_keep: if proj { &mut w.dh_all[o * ho..(o + n) * ho] } else { &mut [] },
            dm: &mut w.dm[..if proj { n * h } else { 0 }],
            dc: &mut w.dc[..if C::HAS_C { n * h } else { 0 }],
            gates: &fw.gates[o * gh..(o + n) * gh],
            extra: &fw.extra[o * ex_w..(o + n) * ex_w],
            h_prev: &fw.prev[o * ho..(o + n) * ho],
            c_prev,
            c_new,
            dgx: &mut w.dgx[k * gi..(k + n) * gi],
            dgh: &mut w.dgh[k * gd..(k + n) * gd],
            dg_rec: if self.gather { &mut w.dg_rec[k * gr..(k + n) * gr] } else { &mut [] },
            mask: &fw.mask[..masked],
            scratch: &mut w.scratch_dh[..masked],
            down: &mut down0[..],
        };
        let (cell, p, w_rec, own) = (self.cell, self.p, &self.w_rec, &self.own[..]);
        match step_split(n, self.whole) {
            None => rows.backward(cell, d, p, w_rec, dy_ld, dy_off, own),
            Some(at) => {
                let widths = [gi, gd, if self.gather { gr } else { 0 }];
                let (r0, r1) = rows.split(at, d, C::EXTRA, dy_ld, widths, &mut down1[..]);
                if d.serial {
                    r0.backward(cell, d, p, w_rec, dy_ld, dy_off, own);
                    r1.backward(cell, d, p, w_rec, dy_ld, dy_off, own);
                } else {
                    rayon::join(
                        || r0.backward(cell, d, p, w_rec, dy_ld, dy_off, own),
                        || r1.backward(cell, d, p, w_rec, dy_ld, dy_off, own),
                    );
                }
            }
        }
        if n == b {
            std::mem::swap(&mut w.dh, &mut w.dh_next);
        } else {
            w.dh[..n * ho].copy_from_slice(&w.dh_next[..n * ho]);
        }
    }

    /// A chunk's share of the weight, bias and input gradients: times
    /// `times`, packed rows `r0..r1`.
    #[allow(clippy::too_many_arguments)]
    fn chunk_grads(
        &self,
        w: &mut Work<T>,
        grads: &mut DirGrads<'_, T>,
        wgrads: &mut WeightGrads,
        wgrads_rec: &mut WeightGrads,
        x: &[T],
        times: Range<usize>,
        r0: usize,
        r1: usize,
    ) -> Result<()> {
        let (d, fw) = (self.d, self.fw);
        let (ho, gh) = (d.h_out, d.gh());
        let (gi, gr, gd, gb) = (self.gi, self.gr, self.gd, self.gb);
        let n = r1 - r0;
        let dgx_c = &w.dgx[..n * gi];
        let dgh_c = &w.dgh[..n * gd];
        let dg_rec_c: &[T] = if self.gather {
            &w.dg_rec[..n * gr]
        } else if C::SPLIT {
            dgh_c
        } else {
            dgx_c
        };
        let x_c = &x[r0 * d.i..r1 * d.i];
        // `dW_hh` reads the states as they entered the product: masked, if so.
        let prev_c = &fw.prev[r0 * ho..r1 * ho];
        let prev_c: &[T] = if fw.mask.is_empty() {
            prev_c
        } else {
            mask_states(&mut w.masked_prev[..n * ho], prev_c, &fw.mask, self.pk, times, r0, ho)
        };
        if C::SPLIT {
            wgrads.add(d.serial, dgx_c, n, gi, &mut [(&mut *grads.w_ih, x_c, d.i)])?;
            wgrads_rec.add(d.serial, dg_rec_c, n, gr, &mut [(&mut *grads.w_hh, prev_c, ho)])?;
        } else {
            // Both weight gradients read the same gate gradients: one pass.
            wgrads.add(
                d.serial,
                dgx_c,
                n,
                gh,
                &mut [(&mut *grads.w_ih, x_c, d.i), (&mut *grads.w_hh, prev_c, ho)],
            )?;
        }
        add_bias_grads::<T, C>(grads, &mut w.bias_sum, dgx_c, dgh_c, [gi, gd, gb, gh]);
        if let Some(w_in) = &self.w_in {
            w_in.mul_big(d.serial, &mut w.dx[r0 * d.i..r1 * d.i], dgx_c, n, false);
        }
        Ok(())
    }
}

/// BPTT through one direction. `x` and `dy` are packed like the forward's
/// rows; `dy` is the whole layer output gradient `(rows, dy_ld)`, this
/// direction's part starting at column `dy_off`. `dh_n`, `dc_n` and the
/// returned `dh0`, `dc0` are `(B, .)` in the packing's order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<T: Float, C: Cell<T>>(
    cell: &C,
    p: &DirParams<'_, T>,
    fw: &DirForward<T>,
    pk: &Packing,
    x: &[T],
    dy: &[T],
    dy_ld: usize,
    dy_off: usize,
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
    grads: &mut DirGrads<'_, T>,
    serial: bool,
    need_dx: bool,
) -> Result<DirBackward<T>> {
    let d = Dims { serial, ..fw.dims };
    let (tn, b, h, ho, gh) = (d.t, d.b, d.h, d.h_out, d.gh());
    let rows = pk.rows();
    // Gate gradients live for one chunk of steps. Chunks go from the last
    // step to the first; the order in which they add up depends only on the
    // shapes and lengths.
    let chunk = chunk_steps(tn, b, b * gh);
    let (gi, gr) = (C::IN_GATES * h, C::REC_GATES * h);
    let (gd, gb) = (if C::SPLIT { C::DGH_GATES * h } else { 0 }, C::BIAS_HH_GATES * h);
    let gather = C::SPLIT && gd != gr;
    let w_rec = StepWeight::new(Op::new(p.w_hh, gr, ho), step_rows(b), "recurrent weights")?;
    // The input gradient is skipped when nobody needs it (e.g. for the data
    // entering the first layer).
    let w_in = if need_dx {
        Some(StepWeight::new(Op::new(p.w_ih, gi, d.i), chunk * b, "input weights")?)
    } else {
        None
    };
    let own = p.own_flat();
    let whole = whole_steps(d.serial, w_rec.rows_independent(), p.w_hr.is_some(), !own.is_empty());
    let run = Run { cell, d, p, fw, pk, w_rec, w_in, own, dy_ld, dy_off, gi, gr, gd, gb, gather, whole };
    let mut w = run.buffers(chunk, dh_n, dc_n, need_dx)?;
    let (mut wgrads, mut wgrads_rec) = (WeightGrads::new(), WeightGrads::new());

    let mut s1 = tn;
    while s1 > 0 {
        let s0 = s1.saturating_sub(chunk);
        // The chunk's steps cover one contiguous range of times (packed rows `r0..r1`).
        let (tlo, thi) = if fw.reverse { (tn - s1, tn - s0) } else { (s0, s1) };
        let (r0, r1) = (pk.offset(tlo), pk.offset(thi));
        for s in (s0..s1).rev() {
            crate::interrupt::check()?;
            let t = if fw.reverse { tn - 1 - s } else { s };
            let (n, o) = (pk.size(t), pk.offset(t));
            if n > 0 {
                run.step(&mut w, dy, n, o, o - r0);
            }
        }
        if r1 > r0 {
            run.chunk_grads(&mut w, grads, &mut wgrads, &mut wgrads_rec, x, tlo..thi, r0, r1)?;
        }
        s1 = s0;
    }

    add_own_grads(&mut grads.own, &w.down);
    if let (Some(g), true) = (grads.w_hr.as_deref_mut(), rows > 0) {
        let (a, m) = (Op::new(&w.dh_all, rows, ho).t(), Op::new(&fw.m, rows, h));
        gemm(Parallelism::serial_if(d.serial), g, h, a, m, T::ONE, true);
    }
    for v in [w.masked_prev, w.dgx, w.dgh, w.dg_rec, w.dh_all] {
        recycle(v);
    }
    Ok(DirBackward { dx: w.dx, dh0: w.dh, dc0: w.dc })
}
