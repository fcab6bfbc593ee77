//! Clockwork RNN (Koutník et al. 2014): forward and BPTT with the skipped
//! work really skipped.
//!
//! The hidden state is split into modules `i = 0..g` of `k_i` units with
//! periods `T_0 <= T_1 <= ...`. At step `t` (counted from 0) module `i` is
//! active when `t mod T_i == 0`; an active module computes
//!
//! ```text
//! h_t[i] = tanh(W_ih[i] x_t + b_ih[i] + b_hh[i] + W_hh[i, c_i..] h_{t-1}[c_i..])
//! ```
//!
//! and an inactive one keeps `h_t[i] = h_{t-1}[i]`. Module `i` reads only the
//! modules of equal or slower period, the columns `c_i..H` (`c_i` the first
//! unit of the first module with period `T_i`), so `W_hh` is block upper
//! triangular; its other entries are never read and get a zero gradient.
//!
//! Cost: the input projection of module `i` runs only over its active steps
//! (one GEMM over the gathered inputs). A module's value is constant between
//! its ticks, so its product with its column block of `W_hh` is computed once
//! per tick and reused by every step of its readers (forward); backward, the
//! readers' gradients of all the steps that read one value are summed first
//! and multiplied once. With periods 1, 2, 4, ... that is about 4x fewer
//! recurrent multiply-adds than one product per active module and step. The
//! weight and input gradients are one product per module over its steps.
//! Parameters in torch's order: `weight_ih (H, I)`, `weight_hh (H, H)`, and
//! with `bias` `bias_ih (H)`, `bias_hh (H)`.

use super::matmul::StepWeight;
use super::packing::Packing;
use super::{varlen, workspace};
use crate::error::checked_size;
use crate::linalg::{gemm, Op, Parallelism};
use crate::{Error, Float, Result};
use rayon::prelude::*;
use std::borrow::Cow;

mod backward;
pub use backward::{backward, ClockworkGrads};

/// Shape of a clockwork layer: module sizes and periods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clockwork {
    pub input_size: usize,
    /// Units per module (`k_i`), summing to the hidden size.
    pub module_sizes: Vec<usize>,
    /// Period of each module, non-decreasing, each >= 1.
    pub periods: Vec<usize>,
    pub bias: bool,
}

impl Clockwork {
    /// Checks the options (errors name the argument).
    pub fn validate(&self) -> Result<()> {
        if self.module_sizes.is_empty() {
            return Err(Error::value("module_sizes", "expected at least one module"));
        }
        if self.module_sizes.len() != self.periods.len() {
            return Err(Error::value(
                "periods",
                format!(
                    "expected one period per module ({}), got {}",
                    self.module_sizes.len(),
                    self.periods.len()
                ),
            ));
        }
        if let Some(k) = self.module_sizes.iter().position(|&s| s == 0) {
            return Err(Error::value("module_sizes", format!("module {k} has no units")));
        }
        if self.periods.contains(&0) {
            return Err(Error::value("periods", format!("expected periods >= 1, got {:?}", self.periods)));
        }
        if self.periods.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::value(
                "periods",
                format!("expected non-decreasing periods (fastest module first), got {:?}", self.periods),
            ));
        }
        checked_size(&[self.hidden_size(), self.hidden_size().max(self.input_size)], "weights")?;
        Ok(())
    }

    /// The hidden size H (all modules).
    pub fn hidden_size(&self) -> usize {
        self.module_sizes.iter().sum()
    }

    /// Per module: its first unit, its units, the modules it reads and the
    /// rows that read it.
    fn blocks(&self) -> Vec<Block> {
        let mut out = Vec::with_capacity(self.module_sizes.len());
        let mut row = 0;
        for (i, (&k, &p)) in self.module_sizes.iter().zip(&self.periods).enumerate() {
            // The first and past the last module of the same period (periods are sorted).
            let peers = self.periods[..i].iter().position(|&q| q == p).unwrap_or(i);
            let end = i + self.periods[i..].iter().take_while(|&&q| q == p).count();
            let readers = self.module_sizes[..end].iter().sum();
            out.push(Block { row, k, period: p, peers, readers });
            row += k;
        }
        out
    }

    /// Parameter names and shapes in torch's order.
    pub fn param_shapes(&self) -> Vec<(&'static str, Vec<usize>)> {
        let h = self.hidden_size();
        let mut v = vec![("weight_ih_l0", vec![h, self.input_size]), ("weight_hh_l0", vec![h, h])];
        if self.bias {
            v.push(("bias_ih_l0", vec![h]));
            v.push(("bias_hh_l0", vec![h]));
        }
        v
    }

    fn check_params<T>(&self, params: &[&[T]]) -> Result<()> {
        let shapes = self.param_shapes();
        if params.len() != shapes.len() {
            return Err(Error::value(
                "params",
                format!("expected {} arrays, got {}", shapes.len(), params.len()),
            ));
        }
        for (p, (name, shape)) in params.iter().zip(&shapes) {
            if p.len() != shape.iter().product::<usize>() {
                return Err(Error::shape(*name, format!("expected shape {shape:?}, {} values", p.len())));
            }
        }
        Ok(())
    }
}

/// One module: rows `row..row + k` of the state. It reads the modules
/// `peers..` (from the first module of its period on: the columns
/// `row_peers..H`) and is read by the modules of equal or faster period,
/// the rows `0..readers` (both ranges since periods are sorted).
#[derive(Clone, Copy, Debug)]
struct Block {
    row: usize,
    k: usize,
    period: usize,
    peers: usize,
    readers: usize,
}

/// A module's active steps in a (packed) batch, `s = 0, p, 2p, ...` while
/// rows are running, and where each one's rows start in the module's
/// gathered arrays (`offsets[j]` for the `j`-th; the last entry is the total).
struct Ticks {
    steps: Vec<usize>,
    offsets: Vec<usize>,
}

impl Ticks {
    fn new(pk: &Packing, period: usize) -> Ticks {
        let (mut steps, mut offsets) = (Vec::new(), vec![0]);
        let mut acc = 0;
        for s in (0..pk.steps()).step_by(period) {
            let n = pk.size(s);
            if n == 0 {
                break;
            }
            acc += n;
            steps.push(s);
            offsets.push(acc);
        }
        Ticks { steps, offsets }
    }

    /// Rows of each window (see `Loops`): `h0`'s, then each tick's.
    fn windows<'a>(&'a self, pk: &'a Packing) -> impl Iterator<Item = usize> + 'a {
        std::iter::once(pk.batch()).chain(self.steps.iter().map(|&s| pk.size(s)))
    }

    /// Rows over all active steps.
    fn rows(&self) -> usize {
        self.offsets[self.steps.len()]
    }
}

/// What `backward` needs: the packed input and every state (see `varlen`).
pub struct ClockworkCache<T: Float> {
    cw: Clockwork,
    t: usize,
    b: usize,
    packing: Packing,
    /// Packed input `(rows, I)`.
    x: Vec<T>,
    /// Per module its values `(rows of its windows, k)` (see `Ticks::windows`):
    /// `h0`'s (sorted), then the one set at each tick. All that backward
    /// reads of the states, so `y` goes to the caller without a copy.
    vals: Vec<Vec<T>>,
}

impl<T: Float> Drop for ClockworkCache<T> {
    fn drop(&mut self) {
        workspace::recycle(std::mem::take(&mut self.x));
        self.vals.drain(..).for_each(workspace::recycle);
    }
}

impl<T: Float> ClockworkCache<T> {
    /// `(T, B)` of the recorded run.
    pub fn seq_batch(&self) -> (usize, usize) {
        (self.t, self.b)
    }
    pub fn spec(&self) -> &Clockwork {
        &self.cw
    }
}

/// The rows of a packed `(rows, w)` array at a module's active steps,
/// `(ticks.rows(), w)` (no copy for period 1: every packed row).
fn gather<'a, T: Float>(
    src: &'a [T],
    pk: &Packing,
    tk: &Ticks,
    period: usize,
    w: usize,
) -> Result<Cow<'a, [T]>> {
    if period == 1 {
        return Ok(Cow::Borrowed(&src[..tk.rows() * w]));
    }
    let mut out = workspace::scratch(checked_size(&[tk.rows(), w], "clockwork gather")?, "clockwork gather")?;
    for (j, &s) in tk.steps.iter().enumerate() {
        let o = pk.offset(s);
        out[tk.offsets[j] * w..tk.offsets[j + 1] * w].copy_from_slice(&src[o * w..(o + pk.size(s)) * w]);
    }
    Ok(Cow::Owned(out))
}

/// The time loops split the sorted batch into two blocks of rows (row `at`
/// starts the second), each run as a whole on its own buffers, when the
/// batch is large enough; `at` balances the steps the two blocks run. It
/// depends only on the lengths, never on the thread count, so results are
/// identical however many threads run the blocks.
fn split_rows(lens: &[usize]) -> Option<usize> {
    const MIN_ROWS: usize = 8;
    let b = lens.len();
    if b < 2 * MIN_ROWS {
        return None;
    }
    let total: usize = lens.iter().sum();
    let mut acc = 0;
    let at = lens
        .iter()
        .position(|&l| {
            acc += l;
            2 * acc >= total
        })
        .map_or(b / 2, |p| p + 1);
    Some(at.clamp(MIN_ROWS, b - MIN_ROWS))
}

/// `(y (T, B, H), h_n (B, H), cache if train)`.
pub type Run<T> = (Vec<T>, Vec<T>, Option<ClockworkCache<T>>);

/// Forward over `x` `(T, B, I)` from `h0` `(B, H)` (zeros when None).
/// Returns `(y (T, B, H), h_n (B, H), cache if train)`.
pub fn forward<T: Float>(
    cw: &Clockwork,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    h0: Option<&[T]>,
    train: bool,
) -> Result<Run<T>> {
    forward_with_lengths(cw, params, x, t, b, h0, None, train)
}

/// `forward` over a variable-length batch: `lengths` `(B,)` in `1..=T`, any
/// order (PyTorch's packed semantics): `y` is zero past each length, `h_n`
/// is each sequence's state after its own last step, and only the running
/// sequences are computed. Every sequence starts at step 0, so module `i`
/// updates at its steps `t` with `t mod T_i == 0` counted from its own start.
#[allow(clippy::too_many_arguments)]
pub fn forward_with_lengths<T: Float>(
    cw: &Clockwork,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    h0: Option<&[T]>,
    lengths: Option<&[usize]>,
    train: bool,
) -> Result<Run<T>> {
    cw.validate()?;
    cw.check_params(params)?;
    let (i_sz, h) = (cw.input_size, cw.hidden_size());
    let pk = varlen::check_forward(x, (t, b, i_sz), h0, h, lengths)?;
    let xp = varlen::pack(&pk, x, i_sz, "input")?;
    let mut first = varlen::sorted_rows(&pk, h0, h)?;
    // Every packed row of every step is written (scratch: not zeroed).
    let mut ys = workspace::scratch(checked_size(&[pk.rows(), h], "output")?, "output")?;
    let vals = crate::par::install(|| run_forward(cw, params, &xp, &pk, &mut first, &mut ys, train))?;
    let h_n = varlen::final_states(&pk, &first, &ys, h);
    let y = varlen::unpack(&pk, ys, h, "output")?;
    if !train {
        return Ok((y, h_n, None));
    }
    let x = match xp {
        Cow::Owned(v) => v,
        Cow::Borrowed(v) => {
            let mut kept = workspace::scratch(v.len(), "input")?;
            kept.copy_from_slice(v);
            kept
        }
    };
    Ok((y, h_n, Some(ClockworkCache { cw: cw.clone(), t, b, packing: pk, x, vals })))
}

/// `buf`, consecutive slots of `counts` rows of width `w`, cut into the
/// blocks of rows that start at `cuts` (`cuts[0] == 0`): `out[block][slot]`
/// holds the block's rows of that slot (possibly none). Lets each block of
/// a split run on its own rows of shared buffers.
fn cut_slots<'a, T>(
    buf: &'a mut [T],
    counts: impl Iterator<Item = usize>,
    w: usize,
    cuts: &[usize],
) -> Vec<Vec<&'a mut [T]>> {
    let mut out: Vec<Vec<&'a mut [T]>> = cuts.iter().map(|_| Vec::new()).collect();
    let mut rest = buf;
    for n in counts {
        let (mut slot, tail) = std::mem::take(&mut rest).split_at_mut(n * w);
        rest = tail;
        for (i, part) in out.iter_mut().enumerate() {
            let (start, end) = (cuts[i].min(n), cuts.get(i + 1).map_or(n, |&c| c.min(n)));
            let (mine, after) = std::mem::take(&mut slot).split_at_mut((end - start) * w);
            part.push(mine);
            slot = after;
        }
    }
    out
}

/// The first row of each block of a run's split (`[0]`: no split).
fn cuts(pk: &Packing) -> Vec<usize> {
    match split_rows(&varlen::sorted_lengths(pk)) {
        None => vec![0],
        Some(at) => vec![0, at],
    }
}

/// What the time loops share: the modules, each module's active steps, the
/// hidden size, and per module `j` its recurrent weight block
/// `W_hh[0..readers_j, row_j..row_j + k_j]` (the columns of `j`, the rows of
/// the modules that read it), laid out once per call for the step products
/// (`StepWeight`; transposed forward).
///
/// A module's value is constant between its ticks, so its products with
/// `W_hh` are computed once per tick, not at every step of its readers:
/// forward, `contrib[j] = h[j] W_hh[.., j]^T` right after module `j` ticks,
/// and a reader adds the current `contrib` of every module it reads;
/// backward, the readers' pre-activation gradients of the steps that read
/// one value of module `j` are summed first (`stash[j][w]`, one window per
/// value) and multiplied once, when the backward pass reaches the tick that
/// set the value. The weight gradient uses the same sums (`run_backward`).
struct Loops<'a, T: Float> {
    blocks: &'a [Block],
    ticks: &'a [Ticks],
    h: usize,
    weights: Vec<StepWeight<'a, T>>,
}

impl<'a, T: Float> Loops<'a, T> {
    /// `rows` the rows of a step product.
    fn new(
        blocks: &'a [Block],
        ticks: &'a [Ticks],
        w_hh: &'a [T],
        rows: usize,
        backward: bool,
    ) -> Result<Self> {
        let h: usize = blocks.iter().map(|b| b.k).sum();
        let weights = blocks
            .iter()
            .map(|blk| {
                let w = Op { data: &w_hh[blk.row..], rows: blk.readers, cols: blk.k, ld: h, trans: false };
                StepWeight::new(if backward { w } else { w.t() }, rows, "weight_hh")
            })
            .collect::<Result<_>>()?;
        Ok(Loops { blocks, ticks, h, weights })
    }

    /// The forward time loop over one block of rows (starting at sorted row
    /// `r0`): `rows[0]` its `h0`, `rows[s + 1]` its rows of step `s`;
    /// `vals[j][w]` (none when not training) receives its rows of module
    /// j's value of window `w`.
    fn forward(
        &self,
        proj: &[Vec<T>],
        r0: usize,
        rows: &mut [&mut [T]],
        vals: &mut [Vec<&mut [T]>],
    ) -> Result<()> {
        let h = self.h;
        let own = rows[0].len() / h;
        // `fresh[j]`: module j's latest value `(own, k_j)`; `contrib[j]` its product `(own, readers_j)`.
        let mut fresh: Vec<Vec<T>> = Vec::with_capacity(self.blocks.len());
        let mut contrib: Vec<Vec<T>> = Vec::with_capacity(self.blocks.len());
        for (blk, w) in self.blocks.iter().zip(&self.weights) {
            let mut f = vec![T::ZERO; own * blk.k];
            for (d, r) in f.chunks_exact_mut(blk.k).zip(rows[0].chunks_exact(h)) {
                d.copy_from_slice(&r[blk.row..blk.row + blk.k]);
            }
            let mut c = vec![T::ZERO; own * blk.readers];
            w.mul(&mut c, &f, own, false);
            if let Some(v) = vals.get_mut(fresh.len()) {
                v[0].copy_from_slice(&f);
            }
            fresh.push(f);
            contrib.push(c);
        }
        for s in 0..rows.len() - 1 {
            let n = rows[s + 1].len() / h;
            if n == 0 {
                break;
            }
            crate::interrupt::check()?;
            let more = rows.get(s + 2).is_some_and(|r| !r.is_empty());
            let (done, next) = rows.split_at_mut(s + 1);
            let (prev, cur) = (&done[s][..n * h], &mut *next[0]);
            // The modules between their ticks keep their state: copied by runs of consecutive ones.
            let mut i = 0;
            while i < self.blocks.len() {
                let start = self.blocks[i].row;
                let mut end = start;
                while i < self.blocks.len() && !s.is_multiple_of(self.blocks[i].period) {
                    end += self.blocks[i].k;
                    i += 1;
                }
                if end > start {
                    for (cr, hr) in cur.chunks_exact_mut(h).zip(prev.chunks_exact(h)) {
                        cr[start..end].copy_from_slice(&hr[start..end]);
                    }
                }
                i += 1;
            }
            for (i, blk) in self.blocks.iter().enumerate() {
                let cols = blk.row..blk.row + blk.k;
                if !s.is_multiple_of(blk.period) {
                    continue;
                }
                // z = input projection + the products of the modules it reads, then tanh.
                let z = &mut fresh[i][..n * blk.k];
                let at = self.ticks[i].offsets[s / blk.period] + r0;
                z.copy_from_slice(&proj[i][at * blk.k..(at + n) * blk.k]);
                for (c, read) in contrib.iter().zip(self.blocks).skip(blk.peers) {
                    for (zr, cr) in z.chunks_exact_mut(blk.k).zip(c.chunks_exact(read.readers)) {
                        zr.iter_mut().zip(&cr[cols.clone()]).for_each(|(a, &v)| *a += v);
                    }
                }
                crate::kernels::tanh_inplace(z);
                for (cr, zr) in cur.chunks_exact_mut(h).zip(z.chunks_exact(blk.k)) {
                    cr[cols.clone()].copy_from_slice(zr);
                }
                if let Some(v) = vals.get_mut(i) {
                    v[s / blk.period + 1].copy_from_slice(z);
                }
            }
            if more {
                for (j, blk) in self.blocks.iter().enumerate().filter(|(_, b)| s.is_multiple_of(b.period)) {
                    let c = &mut contrib[j][..n * blk.readers];
                    self.weights[j].mul(c, &fresh[j][..n * blk.k], n, false);
                }
            }
        }
        Ok(())
    }

    /// The backward time loop over one block of rows (starting at sorted row
    /// `r0`): `carry` (its rows of `H`) enters as the gradient w.r.t. each
    /// row's final state and leaves as the one w.r.t. `h0`; `dz[i][j]`
    /// receives module i's pre-activation gradients at its `j`-th tick and
    /// `stash[j][w]` the sums of the readers' ones over window `w` of module
    /// `j` (see `window`).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        pk: &Packing,
        vals: &[Vec<T>],
        dy: &[T],
        r0: usize,
        carry: &mut [T],
        dz: &mut [Vec<&mut [T]>],
        stash: &mut [Vec<&mut [T]>],
    ) -> Result<()> {
        let h = self.h;
        let own = carry.len() / h;
        // Per module: the gradient w.r.t. its current value `(own, k)`.
        let mut grad: Vec<Vec<T>> = self
            .blocks
            .iter()
            .map(|blk| {
                carry.chunks_exact(h).flat_map(|r| r[blk.row..blk.row + blk.k].iter().copied()).collect()
            })
            .collect();
        // Whether a window received a reader's gradient.
        let mut used: Vec<Vec<bool>> = stash.iter().map(|w| vec![false; w.len()]).collect();
        for s in (0..pk.steps()).rev() {
            let n = pk.size(s).saturating_sub(r0).min(own);
            if n == 0 {
                continue;
            }
            crate::interrupt::check()?;
            let at = pk.offset(s) + r0;
            let dys = &dy[at * h..(at + n) * h];
            // += dy_s: the gradient w.r.t. h_s (row by row: dy is read once, in order).
            for (r, dr) in dys.chunks_exact(h).enumerate() {
                for (g, blk) in grad.iter_mut().zip(self.blocks) {
                    let gr = &mut g[r * blk.k..(r + 1) * blk.k];
                    gr.iter_mut().zip(&dr[blk.row..blk.row + blk.k]).for_each(|(a, &v)| *a += v);
                }
            }
            for (j, blk) in self.blocks.iter().enumerate() {
                if !s.is_multiple_of(blk.period) {
                    continue;
                }
                let g = &mut grad[j][..n * blk.k];
                // The readers of the value this tick sets, then through tanh.
                let tick = s / blk.period;
                if used[j][tick + 1] {
                    self.weights[j].mul(g, &stash[j][tick + 1][..n * blk.readers], n, true);
                }
                // Module j's value set at this tick (window tick + 1).
                let at = pk.batch() + self.ticks[j].offsets[tick] + r0;
                let y = &vals[j][at * blk.k..(at + n) * blk.k];
                for ((d, g), &y) in dz[j][tick].iter_mut().zip(g.iter_mut()).zip(y) {
                    *d = *g * (T::ONE - y * y);
                    *g = T::ZERO;
                }
            }
            // Each active module's gradient into the window of every module it reads.
            for (i, blk) in self.blocks.iter().enumerate().filter(|(_, b)| s.is_multiple_of(b.period)) {
                let d = &*dz[i][s / blk.period];
                for (j, read) in self.blocks.iter().enumerate().skip(blk.peers) {
                    let w = window(s, read.period);
                    for (sr, dr) in stash[j][w].chunks_exact_mut(read.readers).zip(d.chunks_exact(blk.k)) {
                        sr[blk.row..blk.row + blk.k].iter_mut().zip(dr).for_each(|(a, &v)| *a += v);
                    }
                    used[j][w] = true;
                }
            }
        }
        // Window 0: the readers of h0.
        for (j, blk) in self.blocks.iter().enumerate() {
            if used[j][0] {
                self.weights[j].mul(&mut grad[j], &stash[j][0][..own * blk.readers], own, true);
            }
            for (cr, gr) in carry.chunks_exact_mut(h).zip(grad[j].chunks_exact(blk.k)) {
                cr[blk.row..blk.row + blk.k].copy_from_slice(gr);
            }
        }
        Ok(())
    }
}

/// The window of a module of period `p` read at step `s`: which of its
/// values `h_{s-1}` holds, 0 for `h0` (step 0), `m + 1` for the one set at
/// its `m`-th tick (step `m p`).
fn window(s: usize, p: usize) -> usize {
    if s == 0 {
        0
    } else {
        (s - 1) / p + 1
    }
}

/// The time loop over the packed input `x`, from the sorted `h0` into the
/// packed states `ys`; with `train`, returns each module's values at its
/// windows (`ClockworkCache::vals`).
fn run_forward<T: Float>(
    cw: &Clockwork,
    params: &[&[T]],
    x: &[T],
    pk: &Packing,
    h0: &mut [T],
    ys: &mut [T],
    train: bool,
) -> Result<Vec<Vec<T>>> {
    let (i_sz, h) = (cw.input_size, cw.hidden_size());
    let w_ih = params[0];
    let blocks = cw.blocks();
    let ticks: Vec<Ticks> = blocks.iter().map(|blk| Ticks::new(pk, blk.period)).collect();
    // Input projections of each module's active steps, biases folded in.
    let mut proj: Vec<Vec<T>> = Vec::with_capacity(blocks.len());
    for (blk, tk) in blocks.iter().zip(&ticks) {
        let n = tk.rows();
        let xg = gather(x, pk, tk, blk.period, i_sz)?;
        let mut p = workspace::zeroed(checked_size(&[n, blk.k], "input projection")?, "input projection")?;
        if cw.bias {
            let (bi, bh) = (&params[2][blk.row..blk.row + blk.k], &params[3][blk.row..blk.row + blk.k]);
            for row in p.chunks_exact_mut(blk.k) {
                for ((v, &u), &w) in row.iter_mut().zip(bi).zip(bh) {
                    *v = u + w;
                }
            }
        }
        let w = Op { data: &w_ih[blk.row * i_sz..], rows: blk.k, cols: i_sz, ld: i_sz, trans: false };
        gemm(Parallelism::Pool, &mut p, blk.k, Op::new(&xg, n, i_sz), w.t(), T::ONE, true);
        if let Cow::Owned(v) = xg {
            workspace::recycle(v);
        }
        proj.push(p);
    }
    let cuts = cuts(pk);
    let loops = Loops::new(&blocks, &ticks, params[1], pk.batch() / cuts.len(), false)?;
    let mut parts = cut_slots(h0, std::iter::once(pk.batch()), h, &cuts);
    for (part, steps) in parts.iter_mut().zip(cut_slots(ys, (0..pk.steps()).map(|s| pk.size(s)), h, &cuts)) {
        part.extend(steps);
    }
    // Every window row is written (scratch: not zeroed).
    let mut vals: Vec<Vec<T>> = Vec::new();
    if train {
        for (blk, tk) in blocks.iter().zip(&ticks) {
            let n = checked_size(&[tk.rows() + pk.batch(), blk.k], "states")?;
            vals.push(workspace::scratch(n, "states")?);
        }
    }
    let mut val_parts: Vec<Vec<Vec<&mut [T]>>> = cuts.iter().map(|_| Vec::new()).collect();
    for ((blk, v), tk) in blocks.iter().zip(vals.iter_mut()).zip(&ticks) {
        for (part, p) in val_parts.iter_mut().zip(cut_slots(v, tk.windows(pk), blk.k, &cuts)) {
            part.push(p);
        }
    }
    let done = match (&mut parts[..], &mut val_parts[..]) {
        ([one], [v]) => loops.forward(&proj, 0, one, v),
        ([a, b], [va, vb]) => {
            let (x, y) =
                rayon::join(|| loops.forward(&proj, cuts[0], a, va), || loops.forward(&proj, cuts[1], b, vb));
            x.and(y)
        }
        _ => Ok(()),
    };
    proj.into_iter().for_each(workspace::recycle);
    done.map(|()| vals)
}

#[cfg(test)]
mod tests;
