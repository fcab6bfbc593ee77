//! One direction of one layer: the time loop forward and its BPTT backward.
//!
//! Hidden states live in one buffer of `T + 1` slots of `(B, h_out)`:
//! forward direction: slot 0 = `h0`, slot `t + 1` = output at time `t`;
//! reverse direction: slot `T` = `h0`, slot `t` = output at time `t`.
//! So the outputs of all steps and the previous states of all steps are each
//! one contiguous `(T*B, h_out)` block, in time order, whose rows for a
//! chunk of steps are single GEMM operands.
//!
//! The time loop runs over chunks of a few steps (`CHUNK_ELEMS`): forward,
//! a chunk's input projection is formed just before its steps; backward, a
//! chunk's weight, bias and input gradients right after its steps, while its
//! gate gradients are still in cache. The weights are laid out for the
//! products once per call (`StepWeight`: packed for the AVX-512 float32
//! kernels, or transposed).

use super::matmul::{StepWeight, WeightGrads};
use super::workspace::{recycle, scratch, zeroed};
use crate::cell::{BackIo, Cell, StepIo};
use crate::error::{checked_size, try_zeros};
use crate::linalg::{gemm, mul_nn, mul_nt, Op, Parallelism};
use crate::{Float, Result};

/// The input projection runs over chunks of steps of at most this many gate
/// values (at least one step): a chunk is still in cache when its steps read
/// it, and inference memory stays O(B*H) however long the sequence. The
/// backward pass forms the weight and input gradients over the same chunks.
const CHUNK_ELEMS: usize = 1 << 18;

/// A chunk has at least this many rows (steps x batch), so that the weight
/// gradients (read and written once per chunk) are amortised over enough
/// multiply-adds even for large layers.
const CHUNK_MIN_ROWS: usize = 512;

/// Steps per chunk (see `CHUNK_ELEMS`); depends only on the shapes.
fn chunk_steps(tn: usize, b: usize, bgh: usize) -> usize {
    (CHUNK_ELEMS / bgh.max(1)).max(CHUNK_MIN_ROWS.div_ceil(b.max(1))).clamp(1, tn.max(1))
}

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
    /// Run everything on the calling thread (small work, or one thread).
    pub serial: bool,
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
pub struct DirForward<T: Float> {
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
    /// Recurrent dropout mask `(B, h_out)` applied to the previous state
    /// where it enters the recurrent product (empty: none).
    mask: Vec<T>,
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
    /// The outputs, taking the buffer (no copy but a shift of one slot).
    pub fn into_outputs(mut self) -> Vec<T> {
        let (s, n) = (self.slot_len(), self.dims.t * self.slot_len());
        let mut hbuf = std::mem::take(&mut self.hbuf);
        if self.reverse {
            hbuf.truncate(n);
        } else {
            hbuf.drain(..s);
        }
        hbuf
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

impl<T: Float> Drop for DirForward<T> {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.hbuf));
        recycle(std::mem::take(&mut self.cbuf));
        recycle(std::mem::take(&mut self.gates));
        recycle(std::mem::take(&mut self.extra));
        recycle(std::mem::take(&mut self.m));
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

/// Per-step work is split into two blocks of batch rows when the batch is
/// large enough (row `at` starts the second block). The split depends only on
/// the batch size, never on the thread count, so results are identical
/// however many threads run the blocks.
fn split_rows(b: usize) -> Option<usize> {
    const MIN_ROWS: usize = 8;
    (b >= 2 * MIN_ROWS).then(|| b.div_ceil(2))
}

/// Rows of each per-step product (the smaller block when split).
fn step_rows(b: usize) -> usize {
    split_rows(b).map_or(b, |at| b - at)
}

fn cut<T>(s: &mut [T], at: usize) -> (&mut [T], &mut [T]) {
    s.split_at_mut(at.min(s.len()))
}

fn cut_ref<T>(s: &[T], at: usize) -> (&[T], &[T]) {
    s.split_at(at.min(s.len()))
}

/// One step's buffers for a block of `n` batch rows (forward).
struct StepRows<'a, T> {
    n: usize,
    rec: &'a mut [T],
    gates: &'a mut [T],
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
    fn split(self, at: usize, d: Dims, extra: usize) -> (Self, Self) {
        let (gh, h, ho) = (d.gh(), d.h, d.h_out);
        let (rec0, rec1) = cut(self.rec, at * gh);
        let (g0, g1) = cut(self.gates, at * gh);
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
        w_rec: &StepWeight<'_, T>,
        rec_bias: &[T],
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
            gates: self.gates,
            rec: self.rec,
            rec_bias,
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
    /// Recurrent dropout: mask rows and scratch for `dG W_hh` (empty without).
    mask: &'a [T],
    scratch: &'a mut [T],
}

impl<'a, T: Float> BackRows<'a, T> {
    fn split(self, at: usize, d: Dims, extra: usize, dy_ld: usize) -> (Self, Self) {
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
        let (x0, x1) = cut(self.dgx, at * gh);
        let (y0, y1) = cut(self.dgh, at * gh);
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
                mask: mk0,
                scratch: s0,
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
                mask: mk1,
                scratch: s1,
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
        let g_rec: &[T] = if C::SPLIT { self.dgh } else { self.dgx };
        if self.mask.is_empty() {
            w_rec.mul(self.dh_next, g_rec, self.n, C::SPLIT);
        } else {
            // The state entered `W_hh` masked: so does its gradient from there.
            w_rec.mul(self.scratch, g_rec, self.n, false);
            for ((o, &v), &m) in self.dh_next.iter_mut().zip(self.scratch.iter()).zip(self.mask) {
                *o = if C::SPLIT { *o + v * m } else { v * m };
            }
        }
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
    mask: Option<&[T]>,
    reverse: bool,
    train: bool,
) -> Result<DirForward<T>> {
    let (tn, b, h, ho, gh) = (d.t, d.b, d.h, d.h_out, d.gh());
    let bgh = checked_size(&[b, gh], "gate buffer")?;
    let (bh, bho) = (b * h, b * ho);
    let proj = p.w_hr.is_some();
    let chunk = chunk_steps(tn, b, bgh);
    // Scratch buffers: every value is written before it is read (the
    // initial-state slots below, gates by bias and projection, the rest by
    // the steps), so they need no zeroing.
    let mut hbuf = scratch(checked_size(&[tn + 1, bho], "hidden states")?, "hidden states")?;
    let mut gates =
        scratch(checked_size(&[if train { tn } else { chunk }, bgh], "gate buffer")?, "gate buffer")?;
    let mut rec = try_zeros(bgh, "recurrent product")?;
    let mask: Vec<T> = mask.map(<[T]>::to_vec).unwrap_or_default();
    let mut h_masked = try_zeros(if mask.is_empty() { 0 } else { bho }, "masked state")?;
    let c_slots = if !C::HAS_C {
        0
    } else if train {
        tn + 1
    } else {
        2
    };
    let mut cbuf = scratch(checked_size(&[c_slots, bh], "cell states")?, "cell states")?;
    let steps_kept = if train { tn } else { 1 };
    let mut extra = scratch(checked_size(&[steps_kept, bh, C::EXTRA], "saved values")?, "saved values")?;
    let mut mbuf = scratch(
        checked_size(&[if proj { steps_kept } else { 0 }, bh], "projection input")?,
        "projection input",
    )?;

    let zeros = try_zeros(gh, "bias")?;
    let mut input_bias = try_zeros(gh, "bias")?;
    let mut rec_bias = try_zeros(gh, "bias")?;
    cell.split_bias(h, p.b_ih.unwrap_or(&zeros), p.b_hh.unwrap_or(&zeros), &mut input_bias, &mut rec_bias);
    // The per-step product `h_prev W_hh^T`: the weight is laid out for it
    // once per call (packed or transposed), not at every step.
    let w_rec = StepWeight::new(Op::new(p.w_hh, gh, ho).t(), step_rows(b), "recurrent weights")?;
    // Likewise `x W_ih^T`, once per chunk.
    let w_in = StepWeight::new(Op::new(p.w_ih, gh, d.i).t(), chunk * b, "input weights")?;

    let h0_slot = if reverse { tn } else { 0 };
    let h0_dst = &mut hbuf[h0_slot * bho..(h0_slot + 1) * bho];
    match h0 {
        Some(h0) => h0_dst.copy_from_slice(h0),
        None => h0_dst.fill(T::ZERO),
    }
    let c0_slot = if train && reverse { tn } else { 0 };
    if C::HAS_C {
        let c0_dst = &mut cbuf[c0_slot * bh..(c0_slot + 1) * bh];
        match c0 {
            Some(c0) => c0_dst.copy_from_slice(c0),
            None => c0_dst.fill(T::ZERO),
        }
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
            w_in.mul_big(d.serial, g, &x[tlo * b * d.i..thi * b * d.i], (thi - tlo) * b, true);
        }
        for s in s0..s1 {
            let t = if reverse { tn - 1 - s } else { s };
            let (prev, new) = if reverse { (t + 1, t) } else { (t, t + 1) };
            let (h_prev, h_new) = two_slots(&mut hbuf, bho, prev, new);
            let (c_prev, c_new): (&[T], &mut [T]) = if !C::HAS_C {
                (&[], &mut [])
            } else if train {
                two_slots(&mut cbuf, bh, prev, new)
            } else {
                two_slots(&mut cbuf, bh, s % 2, (s + 1) % 2)
            };
            let k = if train { t } else { 0 };
            let rows = StepRows {
                n: b,
                rec: &mut rec,
                gates: &mut gates[(t - base) * bgh..(t - base + 1) * bgh],
                h_prev,
                mask: &mask,
                h_masked: &mut h_masked,
                c_prev,
                c_new,
                extra: &mut extra[k * bh * C::EXTRA..(k + 1) * bh * C::EXTRA],
                m: if proj { &mut mbuf[k * bh..(k + 1) * bh] } else { &mut [] },
                h_new,
            };
            match split_rows(b) {
                None => rows.forward(cell, d, p, &w_rec, &rec_bias),
                Some(at) => {
                    let (r0, r1) = rows.split(at, d, C::EXTRA);
                    if d.serial {
                        r0.forward(cell, d, p, &w_rec, &rec_bias);
                        r1.forward(cell, d, p, &w_rec, &rec_bias);
                    } else {
                        rayon::join(
                            || r0.forward(cell, d, p, &w_rec, &rec_bias),
                            || r1.forward(cell, d, p, &w_rec, &rec_bias),
                        );
                    }
                }
            }
        }
        s0 = s1;
    }
    if !train {
        recycle(std::mem::take(&mut gates));
        recycle(std::mem::take(&mut extra));
        recycle(std::mem::take(&mut mbuf));
    }
    Ok(DirForward { reverse, train, dims: d, hbuf, cbuf, gates, extra, m: mbuf, mask })
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

/// Column sums of `src` (rows of `n`) into `sum`, summed in row order.
fn column_sums<T: Float>(sum: &mut [T], src: &[T], n: usize) {
    sum.fill(T::ZERO);
    for row in src.chunks_exact(n.max(1)) {
        for (s, &v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
}

fn add_to<T: Float>(dst: &mut [T], src: &[T]) {
    for (g, &s) in dst.iter_mut().zip(src) {
        *g += s;
    }
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
    serial: bool,
    need_dx: bool,
) -> Result<DirBackward<T>> {
    let d = Dims { serial, ..fw.dims };
    let (tn, b, h, ho, gh) = (d.t, d.b, d.h, d.h_out, d.gh());
    let (bh, bho, bgh) = (b * h, b * ho, b * gh);
    let rows = tn * b;
    // Gate gradients live for one chunk of steps: the chunk's weight, bias
    // and input gradients are formed right after its steps, while it is in
    // cache. Chunks go from the last step to the first; the order in which
    // they add up depends only on the shapes.
    let chunk = chunk_steps(tn, b, bgh);
    let n_dg = checked_size(&[chunk, bgh], "gate gradients")?;
    // Every value is written by the cell before the chunk's products read it.
    let mut dgx = scratch(n_dg, "gate gradients")?;
    let mut dgh = scratch(if C::SPLIT { n_dg } else { 0 }, "gate gradients")?;
    let mut masked_prev = scratch(if fw.mask.is_empty() { 0 } else { chunk * bho }, "masked states")?;
    let proj = p.w_hr.is_some();
    let mut dh_all = zeroed(if proj { rows * ho } else { 0 }, "output gradients")?;
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
    let mut scratch_dh = try_zeros(if fw.mask.is_empty() { 0 } else { bho }, "dh")?;
    // The per-step product `dG W_hh` and the per-chunk `dG W_ih`, with the
    // weights laid out once.
    let w_rec = StepWeight::new(Op::new(p.w_hh, gh, ho), step_rows(b), "recurrent weights")?;
    // The input gradient (skipped when nobody needs it, e.g. for the data
    // entering the first layer): every row block is written by its chunk's `dG W_ih`.
    let w_in = if need_dx {
        Some(StepWeight::new(Op::new(p.w_ih, gh, d.i), chunk * b, "input weights")?)
    } else {
        None
    };
    let mut dx =
        try_zeros(if need_dx { checked_size(&[rows, d.i], "input gradient")? } else { 0 }, "input gradient")?;
    let mut bias_sum = try_zeros(gh, "bias gradient")?;
    let (mut wgrads, mut wgrads_rec) = (WeightGrads::new(), WeightGrads::new());

    let mut s1 = tn;
    while s1 > 0 {
        let s0 = s1.saturating_sub(chunk);
        // The chunk's steps cover one contiguous range of times.
        let (tlo, thi) = if fw.reverse { (tn - s1, tn - s0) } else { (s0, s1) };
        for s in (s0..s1).rev() {
            let t = if fw.reverse { tn - 1 - s } else { s };
            let (prev, new) = if fw.reverse { (t + 1, t) } else { (t, t + 1) };
            let (c_prev, c_new): (&[T], &[T]) = if C::HAS_C {
                (&fw.cbuf[prev * bh..(prev + 1) * bh], &fw.cbuf[new * bh..(new + 1) * bh])
            } else {
                (&[], &[])
            };
            let k = t - tlo;
            let rows = BackRows {
                n: b,
                dy: &dy[t * b * dy_ld..(t + 1) * b * dy_ld],
                dh: &mut dh,
                dh_next: &mut dh_next,
                dh_keep: if proj { &mut dh_all[t * bho..(t + 1) * bho] } else { &mut [] },
                dm: &mut dm,
                dc: &mut dc,
                gates: &fw.gates[t * bgh..(t + 1) * bgh],
                extra: &fw.extra[t * ex_w..(t + 1) * ex_w],
                h_prev: &hs[prev * bho..(prev + 1) * bho],
                c_prev,
                c_new,
                dgx: &mut dgx[k * bgh..(k + 1) * bgh],
                dgh: if C::SPLIT { &mut dgh[k * bgh..(k + 1) * bgh] } else { &mut [] },
                mask: &fw.mask,
                scratch: &mut scratch_dh,
            };
            match split_rows(b) {
                None => rows.backward(cell, d, p, &w_rec, dy_ld, dy_off),
                Some(at) => {
                    let (r0, r1) = rows.split(at, d, C::EXTRA, dy_ld);
                    if d.serial {
                        r0.backward(cell, d, p, &w_rec, dy_ld, dy_off);
                        r1.backward(cell, d, p, &w_rec, dy_ld, dy_off);
                    } else {
                        rayon::join(
                            || r0.backward(cell, d, p, &w_rec, dy_ld, dy_off),
                            || r1.backward(cell, d, p, &w_rec, dy_ld, dy_off),
                        );
                    }
                }
            }
            std::mem::swap(&mut dh, &mut dh_next);
        }

        // The chunk's share of the weight, bias and input gradients.
        let n = (thi - tlo) * b;
        let dgx_c = &dgx[..n * gh];
        let dg_rec: &[T] = if C::SPLIT { &dgh[..n * gh] } else { dgx_c };
        let x_c = &x[tlo * b * d.i..thi * b * d.i];
        // `dW_hh` reads the states as they entered the product: masked, if so.
        let prev_c = &fw.prev_states()[tlo * bho..thi * bho];
        let prev_c: &[T] = if fw.mask.is_empty() {
            prev_c
        } else {
            let out = &mut masked_prev[..n * ho];
            for (o, hp) in out.chunks_exact_mut(bho).zip(prev_c.chunks_exact(bho)) {
                for ((o, &v), &m) in o.iter_mut().zip(hp).zip(&fw.mask) {
                    *o = v * m;
                }
            }
            out
        };
        if C::SPLIT {
            wgrads.add(d.serial, dgx_c, n, gh, &mut [(&mut *grads.w_ih, x_c, d.i)])?;
            wgrads_rec.add(d.serial, dg_rec, n, gh, &mut [(&mut *grads.w_hh, prev_c, ho)])?;
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
        // Bias gradients: the chunk's column sums (one pass when both biases
        // see the same gate gradients).
        if let Some(g) = grads.b_ih.as_deref_mut() {
            column_sums(&mut bias_sum, dgx_c, gh);
            add_to(g, &bias_sum);
        }
        if let Some(g) = grads.b_hh.as_deref_mut() {
            if C::SPLIT || grads.b_ih.is_none() {
                column_sums(&mut bias_sum, dg_rec, gh);
            }
            add_to(g, &bias_sum);
        }
        if let Some(w_in) = &w_in {
            w_in.mul_big(d.serial, &mut dx[tlo * b * d.i..thi * b * d.i], dgx_c, n, false);
        }
        s1 = s0;
    }

    if let Some(g) = grads.w_hr.as_deref_mut() {
        let (a, m) = (Op::new(&dh_all, rows, ho).t(), Op::new(&fw.m, rows, h));
        gemm(Parallelism::serial_if(d.serial), g, h, a, m, T::ONE, true);
    }
    recycle(masked_prev);
    recycle(dgx);
    recycle(dgh);
    recycle(dh_all);
    Ok(DirBackward { dx, dh0: dh, dc0: dc })
}
