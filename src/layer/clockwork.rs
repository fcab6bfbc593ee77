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

/// One module's parameter gradients: `weight_ih` rows `(k, I)`, `weight_hh`
/// block `(readers, k)` (its columns), the bias sum `(k)`.
struct ModuleGrads<T> {
    w_ih: Vec<T>,
    w_hh: Vec<T>,
    bias: Vec<T>,
}

/// Gradients of a clockwork run.
pub struct ClockworkGrads<T> {
    /// `(T, B, I)`; empty without `input_grad`.
    pub dx: Vec<T>,
    /// `(B, H)`.
    pub dh0: Vec<T>,
}

/// BPTT through `cache`: `dy` `(T, B, H)` (ignored past each length),
/// `dh_n` `(B, H)` (zeros when None). Parameter gradients are ADDED into
/// `grads` (the shapes of `params`).
pub fn backward<T: Float>(
    params: &[&[T]],
    cache: &ClockworkCache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    input_grad: bool,
) -> Result<ClockworkGrads<T>> {
    let cw = &cache.cw;
    cw.check_params(params)?;
    varlen::check_backward(params, grads, dy, dh_n, (cache.t, cache.b, cw.hidden_size()))?;
    crate::par::install(|| run_backward(params, cache, dy, dh_n, grads, input_grad))
}

fn run_backward<T: Float>(
    params: &[&[T]],
    cache: &ClockworkCache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    input_grad: bool,
) -> Result<ClockworkGrads<T>> {
    let cw = &cache.cw;
    let pk = &cache.packing;
    let (h, i_sz) = (cw.hidden_size(), cw.input_size);
    let w_ih = params[0];
    let blocks = cw.blocks();
    let ticks: Vec<Ticks> = blocks.iter().map(|blk| Ticks::new(pk, blk.period)).collect();
    let cuts = cuts(pk);
    let loops = Loops::new(&blocks, &ticks, params[1], pk.batch() / cuts.len(), true)?;
    let dy = varlen::pack(pk, dy, h, "dy")?;
    let mut carry = varlen::sorted_rows(pk, dh_n, h)?;
    let (gw, rest) = grads.split_at_mut(1);
    let (gh, rest) = rest.split_at_mut(1);
    // Gradients w.r.t. each module's pre-activations at its active steps, `(ticks rows, k)`.
    let mut dz: Vec<Vec<T>> = blocks
        .iter()
        .zip(&ticks)
        // Every tick's rows are written (scratch: not zeroed).
        .map(|(blk, tk)| workspace::scratch(checked_size(&[tk.rows(), blk.k], "gradients")?, "gradients"))
        .collect::<Result<_>>()?;
    // Per module, the readers' summed gradients of each window (`Loops`):
    // window 0 (h0) then one per tick, each `(rows of the tick, readers)`.
    let mut stash: Vec<Vec<T>> = blocks
        .iter()
        .zip(&ticks)
        .map(|(blk, tk)| {
            let n = checked_size(&[tk.rows() + pk.batch(), blk.readers], "gradients")?;
            workspace::zeroed(n, "gradients")
        })
        .collect::<Result<_>>()?;
    {
        // Each block of rows runs the whole loop on its own rows of `carry`, `dz` and `stash`.
        let mut dz_parts: Vec<Vec<Vec<&mut [T]>>> = cuts.iter().map(|_| Vec::new()).collect();
        let mut stash_parts: Vec<Vec<Vec<&mut [T]>>> = cuts.iter().map(|_| Vec::new()).collect();
        for (((blk, d), st), tk) in blocks.iter().zip(dz.iter_mut()).zip(stash.iter_mut()).zip(&ticks) {
            let counts = tk.steps.iter().map(|&s| pk.size(s));
            for (part, p) in dz_parts.iter_mut().zip(cut_slots(d, counts, blk.k, &cuts)) {
                part.push(p);
            }
            for (part, p) in stash_parts.iter_mut().zip(cut_slots(st, tk.windows(pk), blk.readers, &cuts)) {
                part.push(p);
            }
        }
        let mut carry_parts = cut_slots(&mut carry, std::iter::once(pk.batch()), h, &cuts);
        let (st, dy) = (&cache.vals, &*dy);
        match (&mut carry_parts[..], &mut dz_parts[..], &mut stash_parts[..]) {
            ([c], [d], [w]) => loops.backward(pk, st, dy, 0, c[0], d, w)?,
            ([c0, c1], [d0, d1], [w0, w1]) => {
                let (a, b) = rayon::join(
                    || loops.backward(pk, st, dy, cuts[0], c0[0], d0, w0),
                    || loops.backward(pk, st, dy, cuts[1], c1[0], d1, w1),
                );
                a.and(b)?;
            }
            _ => {}
        }
    }
    // Parameter gradients, one product per module over its steps (its
    // windows for W_hh); the modules in parallel, each product serial, so
    // the result does not depend on the thread count.
    let per_module = |j: usize| -> Result<ModuleGrads<T>> {
        let (blk, tk) = (&blocks[j], &ticks[j]);
        let (n, k) = (tk.rows(), blk.k);
        let mut out = ModuleGrads {
            w_ih: workspace::scratch(checked_size(&[k, i_sz], "weight_ih")?, "weight_ih")?,
            w_hh: workspace::scratch(checked_size(&[blk.readers, k], "weight_hh")?, "weight_hh")?,
            bias: vec![T::ZERO; k],
        };
        let xg = gather(&cache.x, pk, tk, blk.period, i_sz)?;
        let dzt = Op::new(&dz[j], n, k).t();
        gemm(Parallelism::Serial, &mut out.w_ih, i_sz, dzt, Op::new(&xg, n, i_sz), T::ONE, false);
        if let Cow::Owned(v) = xg {
            workspace::recycle(v);
        }
        // W_hh[0..readers, j] += stash^T (the value of j each window read).
        let rows = tk.rows() + pk.batch();
        let (stt, vals) = (Op::new(&stash[j], rows, blk.readers).t(), Op::new(&cache.vals[j], rows, k));
        gemm(Parallelism::Serial, &mut out.w_hh, k, stt, vals, T::ONE, false);
        if cw.bias {
            for row in dz[j].chunks_exact(k) {
                out.bias.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
            }
        }
        Ok(out)
    };
    let parts: Vec<Result<ModuleGrads<T>>> = (0..blocks.len()).into_par_iter().map(per_module).collect();
    for (blk, part) in blocks.iter().zip(parts) {
        let part = part?;
        let add = |dst: &mut [T], src: &[T]| dst.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
        add(&mut gw[0][blk.row * i_sz..(blk.row + blk.k) * i_sz], &part.w_ih);
        for (r, src) in part.w_hh.chunks_exact(blk.k).enumerate() {
            add(&mut gh[0][r * h + blk.row..r * h + blk.row + blk.k], src);
        }
        for g in rest.iter_mut() {
            add(&mut g[blk.row..blk.row + blk.k], &part.bias);
        }
        workspace::recycle(part.w_ih);
        workspace::recycle(part.w_hh);
    }
    stash.into_iter().for_each(workspace::recycle);
    // The input gradient, one product per module over its steps.
    // A first module of period 1 writes every row of dx (scratch: not zeroed), the others add.
    let first_writes = blocks[0].period == 1;
    let mut dx = match (input_grad, first_writes) {
        (false, _) => Vec::new(),
        (true, true) => workspace::scratch(checked_size(&[pk.rows(), i_sz], "dx")?, "dx")?,
        (true, false) => workspace::zeroed(checked_size(&[pk.rows(), i_sz], "dx")?, "dx")?,
    };
    for (m, ((blk, dzm), tk)) in blocks.iter().zip(&dz).zip(&ticks).enumerate() {
        let (n, k) = (tk.rows(), blk.k);
        if input_grad {
            let dzop = Op::new(dzm, n, k);
            let w = Op { data: &w_ih[blk.row * i_sz..], rows: k, cols: i_sz, ld: i_sz, trans: false };
            if blk.period == 1 {
                gemm(Parallelism::Pool, &mut dx, i_sz, dzop, w, T::ONE, !(m == 0 && first_writes));
            } else {
                let mut part = workspace::scratch(checked_size(&[n, i_sz], "dx")?, "dx")?;
                gemm(Parallelism::Pool, &mut part, i_sz, dzop, w, T::ONE, false);
                for (j, &s) in tk.steps.iter().enumerate() {
                    let o = pk.offset(s) * i_sz;
                    let src = &part[tk.offsets[j] * i_sz..tk.offsets[j + 1] * i_sz];
                    dx[o..o + src.len()].iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                }
                workspace::recycle(part);
            }
        }
    }
    dz.into_iter().for_each(workspace::recycle);
    let dx = if input_grad { varlen::unpack(pk, dx, i_sz, "dx")? } else { dx };
    let dh0 = if pk.is_identity() { carry } else { pk.unsort_rows(&carry, h) };
    Ok(ClockworkGrads { dx, dh0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Clockwork {
        Clockwork { input_size: 3, module_sizes: vec![2, 1, 2], periods: vec![1, 2, 2], bias: true }
    }

    fn params(cw: &Clockwork) -> Vec<Vec<f64>> {
        cw.param_shapes()
            .iter()
            .enumerate()
            .map(|(k, (_, s))| {
                (0..s.iter().product::<usize>())
                    .map(|i| ((i * 7 + k * 3) as f64 * 0.37).sin() * 0.5)
                    .collect()
            })
            .collect()
    }

    /// Loss `sum(y * dy)` for the finite-difference check.
    fn loss(cw: &Clockwork, p: &[Vec<f64>], x: &[f64], t: usize, b: usize, dy: &[f64]) -> f64 {
        let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
        let (y, _, _) = forward(cw, &ps, x, t, b, None, false).unwrap();
        y.iter().zip(dy).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn blocks_read_equal_or_slower_modules() {
        let bl = spec().blocks();
        let view = |b: &Block| (b.row, b.k, b.peers, b.readers);
        assert_eq!(view(&bl[0]), (0, 2, 0, 2));
        // Modules 1 and 2 share period 2: both read both, and every module reads them.
        assert_eq!(view(&bl[1]), (2, 1, 1, 5));
        assert_eq!(view(&bl[2]), (3, 2, 1, 5));
    }

    #[test]
    fn windows_name_the_value_a_step_reads() {
        // Step 0 reads h0; steps 1..=p the value set at step 0; steps p+1..=2p the one set at step p.
        assert_eq!((0..8).map(|s| window(s, 3)).collect::<Vec<_>>(), [0, 1, 1, 1, 2, 2, 2, 3]);
        assert_eq!((0..4).map(|s| window(s, 1)).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn slow_modules_keep_their_state_between_ticks() {
        let cw = spec();
        let p = params(&cw);
        let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
        let (t, b) = (5, 2);
        let x: Vec<f64> = (0..t * b * 3).map(|i| (i as f64 * 0.3).cos()).collect();
        let (y, h_n, _) = forward(&cw, &ps, &x, t, b, None, false).unwrap();
        let h = 5;
        for s in [1, 3] {
            for r in 0..b {
                let (now, before) = ((s * b + r) * h, ((s - 1) * b + r) * h);
                assert_eq!(y[now + 2..now + 5], y[before + 2..before + 5]);
                assert_ne!(y[now], y[before]);
            }
        }
        assert_eq!(h_n, y[(t - 1) * b * h..]);
    }

    #[test]
    fn weight_gradient_matches_finite_differences_and_masked_entries_are_zero() {
        let g = gradient_matches_finite_differences(&spec(), 4, 2);
        // weight_hh rows of module 1 (row 2) do not read module 0 (columns 0, 1).
        assert_eq!(g[1][2 * 5..2 * 5 + 2], [0.0, 0.0]);
    }

    #[test]
    fn gradient_matches_finite_differences_with_periods_that_do_not_divide() {
        // Module 2 ticks at 0, 3, 6: windows of module 1 (period 2) straddle its ticks.
        let cw = Clockwork {
            input_size: 2,
            module_sizes: vec![1, 2, 1, 2],
            periods: vec![1, 2, 3, 3],
            bias: true,
        };
        gradient_matches_finite_differences(&cw, 8, 3);
    }

    /// The parameter gradients against central differences; returns them.
    fn gradient_matches_finite_differences(cw: &Clockwork, t: usize, b: usize) -> Vec<Vec<f64>> {
        let p = params(cw);
        let (i_sz, h) = (cw.input_size, cw.hidden_size());
        let x: Vec<f64> = (0..t * b * i_sz).map(|i| (i as f64 * 0.3).cos()).collect();
        let dy: Vec<f64> = (0..t * b * h).map(|i| (i as f64 * 0.71).sin()).collect();
        let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
        let (_, _, cache) = forward(cw, &ps, &x, t, b, None, true).unwrap();
        let mut g: Vec<Vec<f64>> = p.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut gs: Vec<&mut [f64]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
        backward(&ps, cache.as_ref().unwrap(), &dy, None, &mut gs, true).unwrap();
        let eps = 1e-6;
        for k in 0..p.len() {
            for i in 0..p[k].len() {
                let mut q = p.clone();
                q[k][i] += eps;
                let fp = loss(cw, &q, &x, t, b, &dy);
                q[k][i] -= 2.0 * eps;
                let fm = loss(cw, &q, &x, t, b, &dy);
                let num = (fp - fm) / (2.0 * eps);
                assert!((num - g[k][i]).abs() < 1e-7, "param {k}[{i}]: {num} vs {}", g[k][i]);
            }
        }
        g
    }

    #[test]
    fn bad_options_are_errors() {
        let mut cw = spec();
        cw.periods = vec![2, 1, 4];
        assert!(matches!(cw.validate(), Err(Error::Value { arg, .. }) if arg == "periods"));
        cw.periods = vec![1, 0, 4];
        assert!(cw.validate().is_err());
        cw.periods = vec![1, 2];
        assert!(cw.validate().is_err());
    }
}
