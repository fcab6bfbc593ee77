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
//!
//! The types both passes share live here; the forward time loop is in
//! `forward.rs`, the backward one in `backward.rs`.

mod backward;
mod forward;

pub(crate) use backward::{backward, DirBackward};
pub(crate) use forward::forward;

use super::matmul::{fill_rows, StepWeight};
use super::workspace::recycle;
use crate::linalg::{mul_nt, Op};
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
    /// Whether the product gives the same bits for any split of its rows.
    fn rows_independent(&self) -> bool {
        match self {
            ForwardWeight::Laid(w) => w.rows_independent(),
            ForwardWeight::AsIs { .. } => false,
        }
    }
    /// `c (m, n) = a (m, k) W^T + row` (`row` added to every row, e.g. a
    /// bias), one large product (on the pool unless `serial`); see
    /// `StepWeight::mul_big_from_row`.
    fn mul_big_from_row(&self, serial: bool, c: &mut [T], a: &[T], m: usize, row: &[T]) {
        match self {
            ForwardWeight::Laid(w) => w.mul_big_from_row(serial, c, a, m, row),
            ForwardWeight::AsIs { w, k, n } => {
                fill_rows(c, row, m, *n);
                mul_nt(c, a, w, m, *k, *n, true);
            }
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
/// however many threads run the blocks (see `step_split` for when a step
/// runs unsplit).
fn split_rows(b: usize) -> Option<usize> {
    const MIN_ROWS: usize = 8;
    (b >= 2 * MIN_ROWS).then(|| b.div_ceil(2))
}

/// The split a step actually uses: none when the blocks would run one after
/// the other and splitting cannot change a value (`whole_steps`), else
/// `split_rows`.
fn step_split(n: usize, whole: bool) -> Option<usize> {
    if whole {
        None
    } else {
        split_rows(n)
    }
}

/// Whether a direction's steps run over all rows at once: when they run
/// serially anyway and every row's values are the same either way. That
/// holds when the recurrent product gives the same bits for any row split
/// (the packed float32 kernels; not the plain loops or faer, whose choice
/// depends on the row count), there is no projection (also a small product)
/// and the cell has no own parameters (their gradient is accumulated per
/// block); the cells work row by row. One product over all rows reads the
/// weight once instead of twice and wastes fewer rows in partial micro-tiles
/// (6-row tiles on AVX2: 64 rows are 11 tiles, two blocks of 32 are 12).
fn whole_steps(serial: bool, rows_independent: bool, proj: bool, own_params: bool) -> bool {
    serial && rows_independent && !proj && !own_params
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
