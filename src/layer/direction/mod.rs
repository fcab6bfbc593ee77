//! One direction of one layer: the time loop forward and its BPTT backward.
//!
//! Every per-step array is in the packed layout of `super::packing`: the
//! batch sorted by length, step `t`'s rows (the sequences still running)
//! one block, steps in time order; without lengths that is simply `(T, B, .)`.
//! A step computes only its running rows. The running states of all
//! sequences are kept in `(B, .)` buffers: a sequence's row stops changing
//! after its last step (its final state), and in the reverse direction a row
//! holds `h0` until the sequence's last step, where that direction starts.
//! Training keeps each step's previous state packed too, so the outputs,
//! the previous states and the gates of a chunk of steps are each one
//! contiguous block of rows: single GEMM operands.
//!
//! The time loop runs over chunks of a few steps (`CHUNK_ELEMS`): forward,
//! a chunk's input projection is formed just before its steps; backward, a
//! chunk's weight, bias and input gradients right after its steps, while its
//! gate gradients are still in cache. The weights are laid out for the
//! products once per call (`StepWeight`: packed for the AVX-512 float32
//! kernels, or transposed).

use super::matmul::{StepWeight, WeightGrads};
use super::packing::Packing;
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

/// Runs of fewer rows (steps x batch) than this use the forward weights as
/// they are (torch's layout, products in dot-product form) instead of laying
/// them out: the layout would cost more than the few products (a streaming
/// one-step call). Depends only on the shapes.
const LAYOUT_FROM_ROWS: usize = 8;

/// A forward weight `W` used as `x W^T`: laid out once per call
/// (`StepWeight`), or as it is for short runs (see `LAYOUT_FROM_ROWS`).
enum ForwardWeight<'a, T: Float> {
    Laid(StepWeight<'a, T>),
    /// `W` row-major `(n, k)`.
    AsIs {
        w: &'a [T],
        k: usize,
        n: usize,
    },
}

impl<'a, T: Float> ForwardWeight<'a, T> {
    /// `W` `(n, k)`; `rows` the rows of each product, `total` of the run.
    fn new(w: &'a [T], n: usize, k: usize, rows: usize, total: usize, what: &str) -> Result<Self> {
        if total < LAYOUT_FROM_ROWS {
            return Ok(ForwardWeight::AsIs { w, k, n });
        }
        Ok(ForwardWeight::Laid(StepWeight::new(Op::new(w, n, k).t(), rows, what)?))
    }
    /// `c (m, n) (+)= a (m, k) W^T`, serial.
    fn mul(&self, c: &mut [T], a: &[T], m: usize, accumulate: bool) {
        match self {
            ForwardWeight::Laid(w) => w.mul(c, a, m, accumulate),
            ForwardWeight::AsIs { w, k, n } => mul_nt(c, a, w, m, *k, *n, accumulate),
        }
    }
    /// As `mul`, one large product (on the pool unless `serial`).
    fn mul_big(&self, serial: bool, c: &mut [T], a: &[T], m: usize, accumulate: bool) {
        match self {
            ForwardWeight::Laid(w) => w.mul_big(serial, c, a, m, accumulate),
            ForwardWeight::AsIs { w, k, n } => mul_nt(c, a, w, m, *k, *n, accumulate),
        }
    }
}

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
    /// The cell's own parameters (`Cell::OWN` order; empty without).
    pub own: Vec<&'a [T]>,
}

impl<T: Float> DirParams<'_, T> {
    /// The cell's own parameters as the one slice a step reads.
    fn own_flat(&self) -> Vec<T> {
        self.own.concat()
    }
}

/// One direction's gradient accumulators (same shapes as the parameters).
pub(crate) struct DirGrads<'a, T> {
    pub w_ih: &'a mut [T],
    pub w_hh: &'a mut [T],
    pub b_ih: Option<&'a mut [T]>,
    pub b_hh: Option<&'a mut [T]>,
    pub w_hr: Option<&'a mut [T]>,
    pub own: Vec<&'a mut [T]>,
}

/// What a direction's forward leaves behind. Rows are in the packed layout
/// (`super::packing`); in inference mode only the outputs and the final
/// states are kept.
pub struct DirForward<T: Float> {
    reverse: bool,
    dims: Dims,
    /// Outputs of all steps, packed `(rows, h_out)`; taken as the layer output.
    y: Vec<T>,
    /// Final hidden state of every sequence `(B, h_out)` (sorted order).
    h_last: Vec<T>,
    /// Final cell state `(B, H)` (empty without one).
    c_last: Vec<T>,
    /// Training only: the state each step started from, packed `(rows, h_out)`.
    prev: Vec<T>,
    /// Training only (cells with `c`): each step's previous and new cell
    /// states, packed `(rows, H)`.
    c_prev: Vec<T>,
    c_new: Vec<T>,
    /// Training only: gate activations, packed `(rows, G*H)`.
    gates: Vec<T>,
    /// Training only: the cell's extra saved values, packed `(rows, EXTRA*H)`.
    extra: Vec<T>,
    /// Training with projection only: un-projected outputs, packed `(rows, H)`.
    m: Vec<T>,
    /// Recurrent dropout mask `(B, h_out)` applied to the previous state
    /// where it enters the recurrent product (empty: none).
    mask: Vec<T>,
}

impl<T: Float> DirForward<T> {
    /// Outputs of all steps, packed `(rows, h_out)`.
    pub fn outputs(&self) -> &[T] {
        &self.y
    }
    /// Takes the outputs (empty afterwards).
    pub fn take_outputs(&mut self) -> Vec<T> {
        std::mem::take(&mut self.y)
    }
    /// Final hidden state of every sequence `(B, h_out)`.
    pub fn h_n(&self) -> &[T] {
        &self.h_last
    }
    /// Final cell state `(B, H)` (empty without one).
    pub fn c_n(&self) -> &[T] {
        &self.c_last
    }
}

impl<T: Float> Drop for DirForward<T> {
    fn drop(&mut self) {
        for v in [
            &mut self.y,
            &mut self.prev,
            &mut self.c_prev,
            &mut self.c_new,
            &mut self.gates,
            &mut self.extra,
            &mut self.m,
        ] {
            recycle(std::mem::take(v));
        }
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
    let (tn, b, h, ho, gh) = (d.t, d.b, d.h, d.h_out, d.gh());
    let bgh = checked_size(&[b, gh], "gate buffer")?;
    let (bh, bho) = (b * h, b * ho);
    let rows = pk.rows();
    let proj = p.w_hr.is_some();
    let chunk = chunk_steps(tn, b, bgh);
    // Widths of the input projection and of the recurrent product (less than
    // `gh` for cells with missing gate rows); the projection goes to its own
    // chunk buffer when narrower than the gates.
    let (gi, gr) = (C::IN_GATES * h, C::REC_GATES * h);
    let apart = gi != gh;
    let mut xin = scratch(
        checked_size(&[if apart { chunk * b } else { 0 }, gi], "input projection")?,
        "input projection",
    )?;
    // Scratch buffers: every value is written before it is read (by the
    // steps, or gates by bias and projection), so they need no zeroing.
    let mut y = scratch(checked_size(&[rows, ho], "outputs")?, "outputs")?;
    let kept = |n: usize, what: &str| scratch::<T>(if train { n } else { 0 }, what);
    let mut prev = kept(checked_size(&[rows, ho], "hidden states")?, "hidden states")?;
    let mut gates =
        scratch(checked_size(&[if train { rows } else { chunk * b }, gh], "gate buffer")?, "gate buffer")?;
    let mut rec = try_zeros(checked_size(&[b, gr], "recurrent product")?, "recurrent product")?;
    let mask: Vec<T> = mask.map(<[T]>::to_vec).unwrap_or_default();
    let mut h_masked = try_zeros(if mask.is_empty() { 0 } else { bho }, "masked state")?;
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
    let mut c_prev =
        kept(checked_size(&[if C::HAS_C { rows } else { 0 }, h], "cell states")?, "cell states")?;
    let mut c_new = scratch(checked_size(&[c_rows, h], "cell states")?, "cell states")?;
    let steps_rows = if train { rows } else { b };
    let mut extra = scratch(checked_size(&[steps_rows, h, C::EXTRA], "saved values")?, "saved values")?;
    let mut mbuf = scratch(
        checked_size(&[if proj { steps_rows } else { 0 }, h], "projection input")?,
        "projection input",
    )?;

    let zeros = try_zeros(gh, "bias")?;
    let mut input_bias = try_zeros(gi, "bias")?;
    let mut rec_bias = try_zeros(gh, "bias")?;
    let (b_ih, b_hh) = (p.b_ih.unwrap_or(&zeros[..gi]), p.b_hh.unwrap_or(&zeros[..C::BIAS_HH_GATES * h]));
    cell.split_bias(h, b_ih, b_hh, &mut input_bias, &mut rec_bias);
    // The per-step product `h_prev W_hh^T`: the weight is laid out for it
    // once per call (packed or transposed), not at every step.
    let w_rec = ForwardWeight::new(p.w_hh, gr, ho, step_rows(b), rows, "recurrent weights")?;
    // Likewise `x W_ih^T`, once per chunk.
    let w_in = ForwardWeight::new(p.w_ih, gi, d.i, chunk * b, rows, "input weights")?;
    let own = p.own_flat();

    let mut s0 = 0;
    while s0 < tn {
        let s1 = (s0 + chunk).min(tn);
        // The chunk's steps cover one contiguous range of times, so one
        // contiguous block of packed rows.
        let (tlo, thi) = if reverse { (tn - s1, tn - s0) } else { (s0, s1) };
        let (r0, r1) = (pk.offset(tlo), pk.offset(thi));
        let base = if train { 0 } else { r0 };
        if r1 > r0 {
            let g = if apart {
                &mut xin[..(r1 - r0) * gi]
            } else {
                &mut gates[(r0 - base) * gh..(r1 - base) * gh]
            };
            for row in g.chunks_exact_mut(gi.max(1)) {
                row.copy_from_slice(&input_bias);
            }
            w_in.mul_big(d.serial, g, &x[r0 * d.i..r1 * d.i], r1 - r0, true);
        }
        for s in s0..s1 {
            crate::interrupt::check()?;
            let t = if reverse { tn - 1 - s } else { s };
            // Only the first `n` (sorted) sequences are still running.
            let (n, o) = (pk.size(t), pk.offset(t));
            if n == 0 {
                continue;
            }
            if train {
                prev[o * ho..(o + n) * ho].copy_from_slice(&h_last[..n * ho]);
                if C::HAS_C {
                    c_prev[o * h..(o + n) * h].copy_from_slice(&c_last[..n * h]);
                }
            }
            let k = if train { o } else { 0 };
            {
                let h_prev: &[T] = if train { &prev[o * ho..(o + n) * ho] } else { &h_last[..n * ho] };
                let (c_prev, c_new): (&[T], &mut [T]) = if !C::HAS_C {
                    (&[], &mut [])
                } else if train {
                    (&c_prev[o * h..(o + n) * h], &mut c_new[o * h..(o + n) * h])
                } else {
                    (&c_last[..n * h], &mut c_new[..n * h])
                };
                let masked = if mask.is_empty() { 0 } else { n * ho };
                let rows = StepRows {
                    n,
                    rec: &mut rec[..n * gr],
                    gates: &mut gates[(o - base) * gh..(o - base + n) * gh],
                    input: if apart { &xin[(o - r0) * gi..(o - r0 + n) * gi] } else { &[] },
                    h_prev,
                    mask: &mask[..masked],
                    h_masked: &mut h_masked[..masked],
                    c_prev,
                    c_new,
                    extra: &mut extra[k * h * C::EXTRA..(k + n) * h * C::EXTRA],
                    m: if proj { &mut mbuf[k * h..(k + n) * h] } else { &mut [] },
                    h_new: &mut y[o * ho..(o + n) * ho],
                };
                match split_rows(n) {
                    None => rows.forward(cell, d, p, &w_rec, &rec_bias, &own),
                    Some(at) => {
                        let (r0, r1) = rows.split(at, d, C::EXTRA, if apart { gi } else { 0 }, gr);
                        if d.serial {
                            r0.forward(cell, d, p, &w_rec, &rec_bias, &own);
                            r1.forward(cell, d, p, &w_rec, &rec_bias, &own);
                        } else {
                            rayon::join(
                                || r0.forward(cell, d, p, &w_rec, &rec_bias, &own),
                                || r1.forward(cell, d, p, &w_rec, &rec_bias, &own),
                            );
                        }
                    }
                }
            }
            h_last[..n * ho].copy_from_slice(&y[o * ho..(o + n) * ho]);
            if C::HAS_C {
                c_last[..n * h].copy_from_slice(&c_new[k * h..(k + n) * h]);
            }
        }
        s0 = s1;
    }
    recycle(xin);
    if !train {
        for v in [&mut gates, &mut extra, &mut mbuf, &mut c_new] {
            recycle(std::mem::take(v));
        }
    }
    Ok(DirForward { reverse, dims: d, y, h_last, c_last, prev, c_prev, c_new, gates, extra, m: mbuf, mask })
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
    let (bh, bho, bgh) = (b * h, b * ho, b * gh);
    let rows = pk.rows();
    // Gate gradients live for one chunk of steps: the chunk's weight, bias
    // and input gradients are formed right after its steps, while it is in
    // cache. Chunks go from the last step to the first; the order in which
    // they add up depends only on the shapes and lengths.
    let chunk = chunk_steps(tn, b, bgh);
    // Widths of the input-side and recurrent-side gate gradients, of the
    // recurrent product, and of `bias_hh` (all `gh` but for cells with
    // missing gate rows).
    let (gi, gr) = (C::IN_GATES * h, C::REC_GATES * h);
    let (gd, gb) = (if C::SPLIT { C::DGH_GATES * h } else { 0 }, C::BIAS_HH_GATES * h);
    let gather = C::SPLIT && gd != gr;
    // Every value is written by the cell before the chunk's products read it.
    let mut dgx = scratch(checked_size(&[chunk * b, gi], "gate gradients")?, "gate gradients")?;
    let mut dgh = scratch(checked_size(&[chunk * b, gd], "gate gradients")?, "gate gradients")?;
    let mut dg_rec = scratch(
        checked_size(&[if gather { chunk * b } else { 0 }, gr], "gate gradients")?,
        "gate gradients",
    )?;
    let mut masked_prev = scratch(if fw.mask.is_empty() { 0 } else { chunk * bho }, "masked states")?;
    let proj = p.w_hr.is_some();
    let mut dh_all = zeroed(if proj { rows * ho } else { 0 }, "output gradients")?;
    // Running gradients w.r.t. every sequence's state: a row not yet
    // running (backward in time) keeps its `dh_n`; an ended one its `dh0`.
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
    let ex_w = h * C::EXTRA;
    let mut scratch_dh = try_zeros(if fw.mask.is_empty() { 0 } else { bho }, "dh")?;
    // The per-step product `dG W_hh` and the per-chunk `dG W_ih`, with the
    // weights laid out once.
    let w_rec = StepWeight::new(Op::new(p.w_hh, gr, ho), step_rows(b), "recurrent weights")?;
    // The input gradient (skipped when nobody needs it, e.g. for the data
    // entering the first layer): every row block is written by its chunk's `dG W_ih`.
    let w_in = if need_dx {
        Some(StepWeight::new(Op::new(p.w_ih, gi, d.i), chunk * b, "input weights")?)
    } else {
        None
    };
    let mut dx =
        try_zeros(if need_dx { checked_size(&[rows, d.i], "input gradient")? } else { 0 }, "input gradient")?;
    let mut bias_sum = try_zeros(gh, "bias gradient")?;
    // The own-parameter gradient: one accumulator per block of rows (see
    // `split_rows`), summed in a fixed order at the end, so the result does
    // not depend on the thread count.
    let own = p.own_flat();
    let mut down = [try_zeros(own.len(), "own gradient")?, try_zeros(own.len(), "own gradient")?];
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
            if n == 0 {
                continue;
            }
            let (c_prev, c_new): (&[T], &[T]) = if C::HAS_C {
                (&fw.c_prev[o * h..(o + n) * h], &fw.c_new[o * h..(o + n) * h])
            } else {
                (&[], &[])
            };
            let k = o - r0;
            let masked = if fw.mask.is_empty() { 0 } else { n * ho };
            let [down0, down1] = &mut down;
            let rows = BackRows {
                n,
                dy: &dy[o * dy_ld..(o + n) * dy_ld],
                dh: &mut dh[..n * ho],
                dh_next: &mut dh_next[..n * ho],
                dh_keep: if proj { &mut dh_all[o * ho..(o + n) * ho] } else { &mut [] },
                dm: &mut dm[..if proj { n * h } else { 0 }],
                dc: &mut dc[..if C::HAS_C { n * h } else { 0 }],
                gates: &fw.gates[o * gh..(o + n) * gh],
                extra: &fw.extra[o * ex_w..(o + n) * ex_w],
                h_prev: &fw.prev[o * ho..(o + n) * ho],
                c_prev,
                c_new,
                dgx: &mut dgx[k * gi..(k + n) * gi],
                dgh: &mut dgh[k * gd..(k + n) * gd],
                dg_rec: if gather { &mut dg_rec[k * gr..(k + n) * gr] } else { &mut [] },
                mask: &fw.mask[..masked],
                scratch: &mut scratch_dh[..masked],
                down: &mut down0[..],
            };
            match split_rows(n) {
                None => rows.backward(cell, d, p, &w_rec, dy_ld, dy_off, &own),
                Some(at) => {
                    let (r0, r1) = rows.split(
                        at,
                        d,
                        C::EXTRA,
                        dy_ld,
                        [gi, gd, if gather { gr } else { 0 }],
                        &mut down1[..],
                    );
                    if d.serial {
                        r0.backward(cell, d, p, &w_rec, dy_ld, dy_off, &own);
                        r1.backward(cell, d, p, &w_rec, dy_ld, dy_off, &own);
                    } else {
                        rayon::join(
                            || r0.backward(cell, d, p, &w_rec, dy_ld, dy_off, &own),
                            || r1.backward(cell, d, p, &w_rec, dy_ld, dy_off, &own),
                        );
                    }
                }
            }
            if n == b {
                std::mem::swap(&mut dh, &mut dh_next);
            } else {
                dh[..n * ho].copy_from_slice(&dh_next[..n * ho]);
            }
        }

        // The chunk's share of the weight, bias and input gradients.
        let n = r1 - r0;
        if n == 0 {
            s1 = s0;
            continue;
        }
        let dgx_c = &dgx[..n * gi];
        let dgh_c = &dgh[..n * gd];
        let dg_rec_c: &[T] = if gather {
            &dg_rec[..n * gr]
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
            mask_states(&mut masked_prev[..n * ho], prev_c, &fw.mask, pk, tlo..thi, r0, ho)
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
        add_bias_grads::<T, C>(grads, &mut bias_sum, dgx_c, dgh_c, [gi, gd, gb, gh]);
        if let Some(w_in) = &w_in {
            w_in.mul_big(d.serial, &mut dx[r0 * d.i..r1 * d.i], dgx_c, n, false);
        }
        s1 = s0;
    }

    add_own_grads(&mut grads.own, &down);
    if let (Some(g), true) = (grads.w_hr.as_deref_mut(), rows > 0) {
        let (a, m) = (Op::new(&dh_all, rows, ho).t(), Op::new(&fw.m, rows, h));
        gemm(Parallelism::serial_if(d.serial), g, h, a, m, T::ONE, true);
    }
    recycle(masked_prev);
    recycle(dgx);
    recycle(dgh);
    recycle(dg_rec);
    recycle(dh_all);
    Ok(DirBackward { dx, dh0: dh, dc0: dc })
}
