//! One direction of one layer: the time loop forward and its BPTT backward.
//!
//! Hidden states live in one buffer of `T + 1` slots of `(B, h_out)`:
//! forward direction: slot 0 = `h0`, slot `t + 1` = output at time `t`;
//! reverse direction: slot `T` = `h0`, slot `t` = output at time `t`.
//! So the outputs of all steps and the previous states of all steps are each
//! one contiguous `(T*B, h_out)` block, in time order, which the weight
//! gradients use as single large GEMM operands after the loop.

use super::matmul::{mul_nn, mul_nt};
use crate::cell::Cell;
use crate::error::{checked_size, try_zeros};
use crate::linalg::{gemm, Op};
use crate::{Float, Result};

/// Inference projects the inputs of at most this many gate values at a time,
/// so memory stays O(B*H) however long the sequence.
const INFERENCE_CHUNK_ELEMS: usize = 1 << 20;

/// Sizes of one direction's run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub t: usize,
    pub b: usize,
    /// Input features of this layer.
    pub i: usize,
    pub h: usize,
    pub h_out: usize,
    pub g: usize,
}

impl Dims {
    fn gh(&self) -> usize {
        self.g * self.h
    }
}

/// One direction's parameters (torch shapes, row-major).
pub(crate) struct DirParams<'a, T> {
    pub w_ih: &'a [T],
    pub w_hh: &'a [T],
    pub b_ih: Option<&'a [T]>,
    pub b_hh: Option<&'a [T]>,
    pub w_hr: Option<&'a [T]>,
}

/// One direction's gradient accumulators (same shapes as the parameters).
pub(crate) struct DirGrads<'a, T> {
    pub w_ih: &'a mut [T],
    pub w_hh: &'a mut [T],
    pub b_ih: Option<&'a mut [T]>,
    pub b_hh: Option<&'a mut [T]>,
    pub w_hr: Option<&'a mut [T]>,
}

/// What a direction's forward leaves behind. In inference mode only `hbuf`
/// (the outputs) and the last cell state are kept.
pub struct DirForward<T> {
    reverse: bool,
    train: bool,
    dims: Dims,
    hbuf: Vec<T>,
    /// Training: `T + 1` slots laid out like `hbuf`; inference: 2 slots.
    cbuf: Vec<T>,
    /// Training only: gate activations `(T, B, G*H)`.
    gates: Vec<T>,
    /// Training only: the cell's extra saved values `(T, B, EXTRA*H)`.
    extra: Vec<T>,
    /// Training with projection only: un-projected outputs `(T, B, H)`.
    m: Vec<T>,
}

impl<T: Float> DirForward<T> {
    fn slot_len(&self) -> usize {
        self.dims.b * self.dims.h_out
    }
    /// Outputs of all steps in time order, `(T, B, h_out)`.
    pub fn outputs(&self) -> &[T] {
        let (s, n) = (self.slot_len(), self.dims.t * self.slot_len());
        if self.reverse {
            &self.hbuf[..n]
        } else {
            &self.hbuf[s..s + n]
        }
    }
    /// The state each step started from, in time order, `(T, B, h_out)`.
    fn prev_states(&self) -> &[T] {
        let (s, n) = (self.slot_len(), self.dims.t * self.slot_len());
        if self.reverse {
            &self.hbuf[s..s + n]
        } else {
            &self.hbuf[..n]
        }
    }
    /// Final hidden state `(B, h_out)`.
    pub fn h_n(&self) -> &[T] {
        let (s, n) = (self.slot_len(), self.dims.t * self.slot_len());
        if self.reverse {
            &self.hbuf[..s]
        } else {
            &self.hbuf[n..n + s]
        }
    }
    /// Final cell state `(B, H)` (empty without one).
    pub fn c_n(&self) -> &[T] {
        let bh = self.dims.b * self.dims.h;
        if self.cbuf.is_empty() {
            return &[];
        }
        let slot = if self.train {
            if self.reverse {
                0
            } else {
                self.dims.t
            }
        } else {
            self.dims.t % 2
        };
        &self.cbuf[slot * bh..(slot + 1) * bh]
    }
}

/// `(slot a, slot b)` of a buffer of equal slots, one shared and one mutable.
fn two_slots<T>(buf: &mut [T], len: usize, read: usize, write: usize) -> (&[T], &mut [T]) {
    if read < write {
        let (lo, hi) = buf.split_at_mut(write * len);
        (&lo[read * len..(read + 1) * len], &mut hi[..len])
    } else {
        let (lo, hi) = buf.split_at_mut(read * len);
        (&hi[..len], &mut lo[write * len..(write + 1) * len])
    }
}

/// Runs one direction over the sequence `x` `(T, B, I)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<T: Float, C: Cell<T>>(
    cell: &C,
    d: Dims,
    p: &DirParams<'_, T>,
    x: &[T],
    h0: Option<&[T]>,
    c0: Option<&[T]>,
    reverse: bool,
    train: bool,
) -> Result<DirForward<T>> {
    let (tn, b, h, ho, gh) = (d.t, d.b, d.h, d.h_out, d.gh());
    let bgh = checked_size(&[b, gh], "gate buffer")?;
    let (bh, bho) = (b * h, b * ho);
    let proj = p.w_hr.is_some();
    let chunk = if train { tn } else { (INFERENCE_CHUNK_ELEMS / bgh.max(1)).clamp(1, tn.max(1)) };
    let mut hbuf = try_zeros(checked_size(&[tn + 1, bho], "hidden states")?, "hidden states")?;
    let mut gates = try_zeros(checked_size(&[chunk, bgh], "gate buffer")?, "gate buffer")?;
    let mut rec = try_zeros(bgh, "recurrent product")?;
    let c_slots = if !C::HAS_C {
        0
    } else if train {
        tn + 1
    } else {
        2
    };
    let mut cbuf = try_zeros(checked_size(&[c_slots, bh], "cell states")?, "cell states")?;
    let steps_kept = if train { tn } else { 1 };
    let mut extra = try_zeros(checked_size(&[steps_kept, bh, C::EXTRA], "saved values")?, "saved values")?;
    let mut mbuf = try_zeros(
        checked_size(&[if proj { steps_kept } else { 0 }, bh], "projection input")?,
        "projection input",
    )?;

    let zeros = try_zeros(gh, "bias")?;
    let mut input_bias = try_zeros(gh, "bias")?;
    let mut rec_bias = try_zeros(gh, "bias")?;
    cell.split_bias(h, p.b_ih.unwrap_or(&zeros), p.b_hh.unwrap_or(&zeros), &mut input_bias, &mut rec_bias);

    let h0_slot = if reverse { tn } else { 0 };
    if let Some(h0) = h0 {
        hbuf[h0_slot * bho..(h0_slot + 1) * bho].copy_from_slice(h0);
    }
    let c0_slot = if train && reverse { tn } else { 0 };
    if let (Some(c0), true) = (c0, C::HAS_C) {
        cbuf[c0_slot * bh..(c0_slot + 1) * bh].copy_from_slice(c0);
    }

    let mut s0 = 0;
    while s0 < tn {
        let s1 = (s0 + chunk).min(tn);
        // The chunk's steps cover one contiguous range of times.
        let (tlo, thi) = if reverse { (tn - s1, tn - s0) } else { (s0, s1) };
        let base = if train { 0 } else { tlo };
        {
            let g = &mut gates[(tlo - base) * bgh..(thi - base) * bgh];
            for row in g.chunks_exact_mut(gh.max(1)) {
                row.copy_from_slice(&input_bias);
            }
            let xs = &x[tlo * b * d.i..thi * b * d.i];
            gemm(g, gh, Op::new(xs, (thi - tlo) * b, d.i), Op::new(p.w_ih, gh, d.i).t(), T::ONE, true);
        }
        for s in s0..s1 {
            let t = if reverse { tn - 1 - s } else { s };
            let (prev, new) = if reverse { (t + 1, t) } else { (t, t + 1) };
            let (h_prev, h_new) = two_slots(&mut hbuf, bho, prev, new);
            mul_nt(&mut rec, h_prev, p.w_hh, b, ho, gh, false);
            let gt = &mut gates[(t - base) * bgh..(t - base + 1) * bgh];
            let (c_prev, c_new): (&[T], &mut [T]) = if !C::HAS_C {
                (&[], &mut [])
            } else if train {
                two_slots(&mut cbuf, bh, prev, new)
            } else {
                two_slots(&mut cbuf, bh, s % 2, (s + 1) % 2)
            };
            let k = if train { t } else { 0 };
            let ex = &mut extra[k * bh * C::EXTRA..(k + 1) * bh * C::EXTRA];
            match p.w_hr {
                None => cell.forward(h, gt, &rec, &rec_bias, h_prev, c_prev, c_new, h_new, ex),
                Some(w_hr) => {
                    let m = &mut mbuf[k * bh..(k + 1) * bh];
                    cell.forward(h, gt, &rec, &rec_bias, h_prev, c_prev, c_new, m, ex);
                    mul_nt(h_new, m, w_hr, b, h, ho, false);
                }
            }
        }
        s0 = s1;
    }
    if !train {
        gates = Vec::new();
        extra = Vec::new();
        mbuf = Vec::new();
    }
    Ok(DirForward { reverse, train, dims: d, hbuf, cbuf, gates, extra, m: mbuf })
}

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

/// Adds `src` column sums (rows of `n`) onto `dst` in row order.
fn add_column_sums<T: Float>(dst: &mut [T], src: &[T], n: usize) -> Result<()> {
    let mut sum: Vec<T> = try_zeros(n, "bias gradient")?;
    for row in src.chunks_exact(n.max(1)) {
        for (s, &v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
    for (g, s) in dst.iter_mut().zip(sum) {
        *g += s;
    }
    Ok(())
}

/// BPTT through one direction. `dy` is the whole layer output gradient
/// `(T, B, dy_ld)`; this direction's part starts at column `dy_off`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<T: Float, C: Cell<T>>(
    cell: &C,
    p: &DirParams<'_, T>,
    fw: &DirForward<T>,
    x: &[T],
    dy: &[T],
    dy_ld: usize,
    dy_off: usize,
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
    grads: &mut DirGrads<'_, T>,
) -> Result<DirBackward<T>> {
    let d = fw.dims;
    let (tn, b, h, ho, gh) = (d.t, d.b, d.h, d.h_out, d.gh());
    let (bh, bho, bgh) = (b * h, b * ho, b * gh);
    let rows = tn * b;
    let n_dg = checked_size(&[rows, gh], "gate gradients")?;
    let mut dgx = try_zeros(n_dg, "gate gradients")?;
    let mut dgh = try_zeros(if C::SPLIT { n_dg } else { 0 }, "gate gradients")?;
    let proj = p.w_hr.is_some();
    let mut dh_all = try_zeros(if proj { rows * ho } else { 0 }, "output gradients")?;
    let mut dh = try_zeros(bho, "dh")?;
    let mut dh_next = try_zeros(bho, "dh")?;
    if let Some(v) = dh_n {
        dh.copy_from_slice(v);
    }
    let mut dc = try_zeros(if C::HAS_C { bh } else { 0 }, "dc")?;
    if let (Some(v), true) = (dc_n, C::HAS_C) {
        dc.copy_from_slice(v);
    }
    let mut dm = try_zeros(if proj { bh } else { 0 }, "dm")?;
    let (ex_w, hs) = (bh * C::EXTRA, &fw.hbuf);

    for s in (0..tn).rev() {
        let t = if fw.reverse { tn - 1 - s } else { s };
        let (prev, new) = if fw.reverse { (t + 1, t) } else { (t, t + 1) };
        for (bb, dhr) in dh.chunks_exact_mut(ho.max(1)).enumerate().take(b) {
            let src = &dy[(t * b + bb) * dy_ld + dy_off..][..ho];
            for (a, &v) in dhr.iter_mut().zip(src) {
                *a += v;
            }
        }
        let h_prev = &hs[prev * bho..(prev + 1) * bho];
        let (c_prev, c_new): (&[T], &[T]) = if C::HAS_C {
            (&fw.cbuf[prev * bh..(prev + 1) * bh], &fw.cbuf[new * bh..(new + 1) * bh])
        } else {
            (&[], &[])
        };
        let dout: &[T] = match p.w_hr {
            None => &dh,
            Some(w_hr) => {
                dh_all[t * bho..(t + 1) * bho].copy_from_slice(&dh);
                mul_nn(&mut dm, &dh, w_hr, b, ho, h, false);
                &dm
            }
        };
        let gx = &mut dgx[t * bgh..(t + 1) * bgh];
        let gh_t: &mut [T] = if C::SPLIT { &mut dgh[t * bgh..(t + 1) * bgh] } else { &mut [] };
        cell.backward(
            h,
            &fw.gates[t * bgh..(t + 1) * bgh],
            &fw.extra[t * ex_w..(t + 1) * ex_w],
            h_prev,
            c_prev,
            c_new,
            dout,
            &mut dc,
            gx,
            gh_t,
            &mut dh_next,
        );
        let g_rec: &[T] = if C::SPLIT { &dgh[t * bgh..(t + 1) * bgh] } else { &dgx[t * bgh..(t + 1) * bgh] };
        mul_nn(&mut dh_next, g_rec, p.w_hh, b, gh, ho, C::SPLIT);
        std::mem::swap(&mut dh, &mut dh_next);
    }

    // Weight gradients over all steps at once.
    let dg_rec: &[T] = if C::SPLIT { &dgh } else { &dgx };
    gemm(grads.w_ih, d.i, Op::new(&dgx, rows, gh).t(), Op::new(x, rows, d.i), T::ONE, true);
    gemm(grads.w_hh, ho, Op::new(dg_rec, rows, gh).t(), Op::new(fw.prev_states(), rows, ho), T::ONE, true);
    if let Some(g) = grads.b_ih.as_deref_mut() {
        add_column_sums(g, &dgx, gh)?;
    }
    if let Some(g) = grads.b_hh.as_deref_mut() {
        add_column_sums(g, dg_rec, gh)?;
    }
    if let Some(g) = grads.w_hr.as_deref_mut() {
        gemm(g, h, Op::new(&dh_all, rows, ho).t(), Op::new(&fw.m, rows, h), T::ONE, true);
    }
    let mut dx = try_zeros(checked_size(&[rows, d.i], "input gradient")?, "input gradient")?;
    gemm(&mut dx, d.i, Op::new(&dgx, rows, gh), Op::new(p.w_ih, gh, d.i), T::ONE, false);
    Ok(DirBackward { dx, dh0: dh, dc0: dc })
}
