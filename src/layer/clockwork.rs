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
//! (one GEMM over the gathered inputs), the recurrent product of a step only
//! over the active modules' rows and the columns they read; backward the same.
//! Parameters in torch's order: `weight_ih (H, I)`, `weight_hh (H, H)`, and
//! with `bias` `bias_ih (H)`, `bias_hh (H)`.

use super::packing::Packing;
use super::varlen;
use crate::error::{checked_size, try_zeros};
use crate::linalg::{gemm, Op, Parallelism};
use crate::{Error, Float, Result};
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

    /// Per module: its first unit, its units and the first column it reads.
    fn blocks(&self) -> Vec<Block> {
        let mut out = Vec::with_capacity(self.module_sizes.len());
        let mut row = 0;
        for (i, (&k, &p)) in self.module_sizes.iter().zip(&self.periods).enumerate() {
            // The first module of the same period (periods are sorted).
            let first = self.periods[..i].iter().position(|&q| q == p).unwrap_or(i);
            let col = self.module_sizes[..first].iter().sum();
            out.push(Block { row, k, col, period: p });
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

/// One module: rows `row..row + k` of the state, reading columns `col..H`.
#[derive(Clone, Copy, Debug)]
struct Block {
    row: usize,
    k: usize,
    col: usize,
    period: usize,
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

    /// Rows over all active steps.
    fn rows(&self) -> usize {
        self.offsets[self.steps.len()]
    }
}

/// What `backward` needs: the packed input and every state (see `varlen`).
pub struct ClockworkCache<T> {
    cw: Clockwork,
    t: usize,
    b: usize,
    packing: Packing,
    /// Packed input `(rows, I)`.
    x: Vec<T>,
    /// `h0` (sorted) then every step's packed states.
    states: Vec<T>,
}

impl<T> ClockworkCache<T> {
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
    let mut out = try_zeros(checked_size(&[tk.rows(), w], "clockwork gather")?, "clockwork gather")?;
    for (j, &s) in tk.steps.iter().enumerate() {
        let o = pk.offset(s);
        out[tk.offsets[j] * w..tk.offsets[j + 1] * w].copy_from_slice(&src[o * w..(o + pk.size(s)) * w]);
    }
    Ok(Cow::Owned(out))
}

/// Columns `col..h` of the previous states at a module's active steps,
/// contiguous `(ticks.rows(), h - col)`; None when they are a strided view
/// of `states` already (period 1 without lengths).
fn gather_prev<T: Float>(
    states: &[T],
    pk: &Packing,
    tk: &Ticks,
    period: usize,
    h: usize,
    col: usize,
) -> Result<Option<Vec<T>>> {
    if period == 1 && pk.is_identity() {
        return Ok(None);
    }
    let cols = h - col;
    let mut out = try_zeros(checked_size(&[tk.rows(), cols], "clockwork gather")?, "clockwork gather")?;
    for (j, &s) in tk.steps.iter().enumerate() {
        let p0 = varlen::prev_row(pk, s);
        let dst = &mut out[tk.offsets[j] * cols..tk.offsets[j + 1] * cols];
        for (d, row) in dst.chunks_exact_mut(cols).zip(states[p0 * h..].chunks_exact(h)) {
            d.copy_from_slice(&row[col..]);
        }
    }
    Ok(Some(out))
}

/// `W_hh` with the entries no module reads set to zero, so that a run of
/// consecutive active modules is one product over the columns its first
/// (fastest) module reads: the slower modules' unread columns add zeros.
fn masked<T: Float>(blocks: &[Block], w_hh: &[T], h: usize) -> Result<Vec<T>> {
    let mut w = try_zeros(checked_size(&[h, h], "weight_hh")?, "weight_hh")?;
    w.copy_from_slice(w_hh);
    for blk in blocks {
        for row in w[blk.row * h..(blk.row + blk.k) * h].chunks_exact_mut(h) {
            row[..blk.col].fill(T::ZERO);
        }
    }
    Ok(w)
}

/// The runs of consecutive modules active at step `s`, each as one block:
/// its rows and the first column its first module reads.
fn active_runs(blocks: &[Block], s: usize) -> impl Iterator<Item = Block> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < blocks.len() && !s.is_multiple_of(blocks[i].period) {
            i += 1;
        }
        let first = *blocks.get(i)?;
        let mut k = 0;
        while i < blocks.len() && s.is_multiple_of(blocks[i].period) {
            k += blocks[i].k;
            i += 1;
        }
        Some(Block { row: first.row, k, col: first.col, period: first.period })
    })
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

/// The two blocks of sorted rows `(first row, its packing)` of a split.
fn halves(lens: &[usize], t: usize, at: usize) -> Result<[(usize, Packing); 2]> {
    let b = lens.len();
    Ok([(0, Packing::new(&lens[..at], t, at)?), (at, Packing::new(&lens[at..], t, b - at)?)])
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
    let mut states = varlen::new_states(&pk, h0, h)?;
    crate::par::install(|| run_forward(cw, params, &xp, &pk, &mut states))?;
    let h_n = varlen::final_states(&pk, &states, h);
    if train {
        let y = varlen::unpack(&pk, states[b * h..].to_vec(), h, "output")?;
        let x = xp.into_owned();
        Ok((y, h_n, Some(ClockworkCache { cw: cw.clone(), t, b, packing: pk, x, states })))
    } else {
        states.drain(..b * h);
        Ok((varlen::unpack(&pk, states, h, "output")?, h_n, None))
    }
}

/// What the time loops share: the modules, the masked `W_hh`, each module's
/// active steps in the whole batch and the hidden size.
struct Loops<'a, T> {
    blocks: &'a [Block],
    w_hh: &'a [T],
    ticks: &'a [Ticks],
    h: usize,
}

fn run_forward<T: Float>(
    cw: &Clockwork,
    params: &[&[T]],
    x: &[T],
    pk: &Packing,
    states: &mut [T],
) -> Result<()> {
    let (i_sz, h) = (cw.input_size, cw.hidden_size());
    let w_ih = params[0];
    let blocks = cw.blocks();
    let w_hh = &masked(&blocks, params[1], h)?;
    let ticks: Vec<Ticks> = blocks.iter().map(|blk| Ticks::new(pk, blk.period)).collect();
    // Input projections of each module's active steps, biases folded in.
    let mut proj: Vec<Vec<T>> = Vec::with_capacity(blocks.len());
    for (blk, tk) in blocks.iter().zip(&ticks) {
        let n = tk.rows();
        let xg = gather(x, pk, tk, blk.period, i_sz)?;
        let mut p = try_zeros(checked_size(&[n, blk.k], "input projection")?, "input projection")?;
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
        proj.push(p);
    }
    let loops = Loops { blocks: &blocks, w_hh, ticks: &ticks, h };
    let lens = varlen::sorted_lengths(pk);
    let Some(at) = split_rows(&lens) else {
        return loops.forward(&proj, pk, 0, states);
    };
    // Each block of rows runs the whole time loop in its own buffer.
    let [(r0, p0), (r1, p1)] = halves(&lens, pk.steps(), at)?;
    let mut s0 = varlen::new_states(&p0, Some(&states[..r1 * h]), h)?;
    let mut s1 = varlen::new_states(&p1, Some(&states[r1 * h..pk.batch() * h]), h)?;
    let (a, c) =
        rayon::join(|| loops.forward(&proj, &p0, r0, &mut s0), || loops.forward(&proj, &p1, r1, &mut s1));
    a?;
    c?;
    for s in 0..pk.steps() {
        for (r, hp, buf) in [(r0, &p0, &s0), (r1, &p1, &s1)] {
            let (n, dst, src) = (hp.size(s), varlen::cur_row(pk, s) + r, varlen::cur_row(hp, s));
            if n == 0 {
                continue;
            }
            states[dst * h..(dst + n) * h].copy_from_slice(&buf[src * h..(src + n) * h]);
        }
    }
    Ok(())
}

impl<T: Float> Loops<'_, T> {
    /// The forward time loop over the sorted rows `r0..` of the batch whose
    /// packing is `hp`, with their states buffer (see `varlen`).
    fn forward(&self, proj: &[Vec<T>], hp: &Packing, r0: usize, states: &mut [T]) -> Result<()> {
        let h = self.h;
        for s in 0..hp.steps() {
            let n = hp.size(s);
            if n == 0 {
                break;
            }
            crate::interrupt::check()?;
            let (p0, c0) = (varlen::prev_row(hp, s), varlen::cur_row(hp, s));
            let (head, tail) = states.split_at_mut(c0 * h);
            let (prev, cur) = (&head[p0 * h..(p0 + n) * h], &mut tail[..n * h]);
            for ((blk, p), tk) in self.blocks.iter().zip(proj).zip(self.ticks) {
                let cols = blk.row..blk.row + blk.k;
                if !s.is_multiple_of(blk.period) {
                    // A module between its ticks keeps its state.
                    for (zr, hr) in cur.chunks_exact_mut(h).zip(prev.chunks_exact(h)) {
                        zr[cols.clone()].copy_from_slice(&hr[cols.clone()]);
                    }
                    continue;
                }
                // An active module's rows start as its input projection.
                let at = tk.offsets[s / blk.period] + r0;
                for (zr, pr) in
                    cur.chunks_exact_mut(h).zip(p[at * blk.k..(at + n) * blk.k].chunks_exact(blk.k))
                {
                    zr[cols.clone()].copy_from_slice(pr);
                }
            }
            // z += h_prev[c..] W_hh[rows, c..]^T, one product per run of consecutive active modules.
            for run in active_runs(self.blocks, s) {
                let cols = h - run.col;
                let z = &mut cur[run.row..];
                let hp = Op { data: &prev[run.col..], rows: n, cols, ld: h, trans: false };
                let w =
                    Op { data: &self.w_hh[run.row * h + run.col..], rows: run.k, cols, ld: h, trans: false };
                gemm(Parallelism::Serial, z, h, hp, w.t(), T::ONE, true);
                for zr in z.chunks_mut(h).take(n) {
                    crate::kernels::tanh_inplace(&mut zr[..run.k]);
                }
            }
        }
        Ok(())
    }

    /// The backward time loop over the sorted rows `r0..` of the batch whose
    /// packing is `hp` (`tk` its modules' active steps): `carry` `(rows, H)`
    /// enters as the gradient w.r.t. each row's final state and leaves as the
    /// one w.r.t. `h0`; `dz[i]` (laid out by `tk[i]`) receives module i's
    /// pre-activation gradients.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        pk: &Packing,
        states: &[T],
        dy: &[T],
        hp: &Packing,
        tk: &[Ticks],
        r0: usize,
        carry: &mut [T],
        dz: &mut [Vec<T>],
    ) -> Result<()> {
        let h = self.h;
        let mut run_dz: Vec<T> = Vec::new();
        for s in (0..hp.steps()).rev() {
            let n = hp.size(s);
            if n == 0 {
                continue;
            }
            crate::interrupt::check()?;
            // carry += dy_s: the gradient w.r.t. h_s; below it becomes the one w.r.t. h_{s-1}.
            let at = pk.offset(s) + r0;
            for (c, &g) in carry[..n * h].iter_mut().zip(&dy[at * h..(at + n) * h]) {
                *c += g;
            }
            let row = varlen::cur_row(pk, s) + r0;
            let h_s = &states[row * h..(row + n) * h];
            for ((blk, dzm), tkm) in self.blocks.iter().zip(dz.iter_mut()).zip(tk) {
                if !s.is_multiple_of(blk.period) {
                    continue;
                }
                let j = tkm.offsets[s / blk.period];
                let dzs = &mut dzm[j * blk.k..(j + n) * blk.k];
                for ((d, c), y) in
                    dzs.chunks_exact_mut(blk.k).zip(carry.chunks_exact_mut(h)).zip(h_s.chunks_exact(h))
                {
                    let (c, y) = (&mut c[blk.row..blk.row + blk.k], &y[blk.row..blk.row + blk.k]);
                    for ((d, c), &y) in d.iter_mut().zip(c.iter_mut()).zip(y) {
                        *d = *c * (T::ONE - y * y);
                        *c = T::ZERO;
                    }
                }
            }
            // carry[c..] += dz W_hh[rows, c..], one product per run of consecutive active modules.
            for run in active_runs(self.blocks, s) {
                let dz_now: &[Vec<T>] = dz;
                let rows_of = |i: usize| {
                    let (blk, j) = (&self.blocks[i], tk[i].offsets[s / self.blocks[i].period]);
                    &dz_now[i][j * blk.k..(j + n) * blk.k]
                };
                // The run's modules: consecutive from its first one.
                let first = self.blocks.iter().position(|blk| blk.row == run.row).unwrap_or_default();
                let lhs: &[T] = if self.blocks[first].k == run.k {
                    rows_of(first)
                } else {
                    run_dz.clear();
                    run_dz.resize(n * run.k, T::ZERO);
                    let mut i = first;
                    while i < self.blocks.len() && self.blocks[i].row < run.row + run.k {
                        let (off, k) = (self.blocks[i].row - run.row, self.blocks[i].k);
                        for (dst, src) in run_dz.chunks_exact_mut(run.k).zip(rows_of(i).chunks_exact(k)) {
                            dst[off..off + k].copy_from_slice(src);
                        }
                        i += 1;
                    }
                    &run_dz
                };
                let cols = h - run.col;
                let w =
                    Op { data: &self.w_hh[run.row * h + run.col..], rows: run.k, cols, ld: h, trans: false };
                gemm(Parallelism::Serial, &mut carry[run.col..], h, Op::new(lhs, n, run.k), w, T::ONE, true);
            }
        }
        Ok(())
    }
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
    let w_hh = &masked(&blocks, params[1], h)?;
    let ticks: Vec<Ticks> = blocks.iter().map(|blk| Ticks::new(pk, blk.period)).collect();
    let loops = Loops { blocks: &blocks, w_hh, ticks: &ticks, h };
    let dy = varlen::pack(pk, dy, h, "dy")?;
    let mut carry = varlen::sorted_rows(pk, dh_n, h)?;
    // Gradients w.r.t. each module's pre-activations at its active steps (laid out by its ticks).
    let dz_for = |tk: &[Ticks]| -> Result<Vec<Vec<T>>> {
        blocks
            .iter()
            .zip(tk)
            .map(|(blk, tkm)| try_zeros(checked_size(&[tkm.rows(), blk.k], "gradients")?, "gradients"))
            .collect()
    };
    let mut dz = dz_for(&ticks)?;
    let lens = varlen::sorted_lengths(pk);
    match split_rows(&lens) {
        None => loops.backward(pk, &cache.states, &dy, pk, &ticks, 0, &mut carry, &mut dz)?,
        Some(at) => {
            // As forward: each block of rows runs the whole loop on its own buffers.
            let [(r0, p0), (r1, p1)] = halves(&lens, pk.steps(), at)?;
            let tk_of =
                |hp: &Packing| blocks.iter().map(|blk| Ticks::new(hp, blk.period)).collect::<Vec<_>>();
            let (t0, t1) = (tk_of(&p0), tk_of(&p1));
            let (mut dz0, mut dz1) = (dz_for(&t0)?, dz_for(&t1)?);
            let (c0, c1) = carry.split_at_mut(r1 * h);
            let st = &cache.states;
            let (a, c) = rayon::join(
                || loops.backward(pk, st, &dy, &p0, &t0, r0, c0, &mut dz0),
                || loops.backward(pk, st, &dy, &p1, &t1, r1, c1, &mut dz1),
            );
            a?;
            c?;
            for (i, blk) in blocks.iter().enumerate() {
                let k = blk.k;
                for j in 0..ticks[i].steps.len() {
                    let mut dst = ticks[i].offsets[j];
                    for (tkh, dzh) in [(&t0[i], &dz0[i]), (&t1[i], &dz1[i])] {
                        if j < tkh.steps.len() {
                            let (a, b) = (tkh.offsets[j], tkh.offsets[j + 1]);
                            dz[i][dst * k..(dst + b - a) * k].copy_from_slice(&dzh[a * k..b * k]);
                            dst += b - a;
                        }
                    }
                }
            }
        }
    }
    // Weight, bias and input gradients: one product per module over its steps.
    let mut dx =
        if input_grad { try_zeros(checked_size(&[pk.rows(), i_sz], "dx")?, "dx")? } else { Vec::new() };
    let mut tmp: Vec<T> = Vec::new();
    let (gw, rest) = grads.split_at_mut(1);
    let (gh, gb) = rest.split_at_mut(1);
    for ((blk, dzm), tk) in blocks.iter().zip(&dz).zip(&ticks) {
        let n = tk.rows();
        let dzop = Op::new(dzm, n, blk.k);
        let xg = gather(&cache.x, pk, tk, blk.period, i_sz)?;
        gemm(
            Parallelism::Pool,
            &mut gw[0][blk.row * i_sz..],
            i_sz,
            dzop.t(),
            Op::new(&xg, n, i_sz),
            T::ONE,
            true,
        );
        drop(xg);
        let cols = h - blk.col;
        let hp = gather_prev(&cache.states, pk, tk, blk.period, h, blk.col)?;
        let hp = match &hp {
            Some(g) => Op::new(g, n, cols),
            None => Op { data: &cache.states[blk.col..], rows: n, cols, ld: h, trans: false },
        };
        gemm(Parallelism::Pool, &mut gh[0][blk.row * h + blk.col..], h, dzop.t(), hp, T::ONE, true);
        if cw.bias {
            for g in gb.iter_mut() {
                let g = &mut g[blk.row..blk.row + blk.k];
                for row in dzm.chunks_exact(blk.k) {
                    for (a, &v) in g.iter_mut().zip(row) {
                        *a += v;
                    }
                }
            }
        }
        if input_grad {
            let w = Op { data: &w_ih[blk.row * i_sz..], rows: blk.k, cols: i_sz, ld: i_sz, trans: false };
            if blk.period == 1 {
                gemm(Parallelism::Pool, &mut dx, i_sz, dzop, w, T::ONE, true);
            } else {
                tmp.clear();
                tmp.resize(n * i_sz, T::ZERO);
                gemm(Parallelism::Pool, &mut tmp, i_sz, dzop, w, T::ONE, false);
                for (j, &s) in tk.steps.iter().enumerate() {
                    let o = pk.offset(s) * i_sz;
                    let src = &tmp[tk.offsets[j] * i_sz..tk.offsets[j + 1] * i_sz];
                    for (d, &v) in dx[o..o + src.len()].iter_mut().zip(src) {
                        *d += v;
                    }
                }
            }
        }
    }
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
        assert_eq!((bl[0].row, bl[0].col), (0, 0));
        // Modules 1 and 2 share period 2: both read from module 1's first unit.
        assert_eq!((bl[1].row, bl[1].col), (2, 2));
        assert_eq!((bl[2].row, bl[2].col), (3, 2));
    }

    #[test]
    fn runs_join_consecutive_active_modules() {
        let cw = Clockwork {
            input_size: 1,
            module_sizes: vec![1, 2, 3, 4],
            periods: vec![1, 2, 3, 6],
            bias: false,
        };
        let bl = cw.blocks();
        let runs = |s| active_runs(&bl, s).map(|r| (r.row, r.k, r.col)).collect::<Vec<_>>();
        assert_eq!(runs(0), [(0, 10, 0)]);
        assert_eq!(runs(1), [(0, 1, 0)]);
        assert_eq!(runs(3), [(0, 1, 0), (3, 3, 3)]);
        assert_eq!(runs(4), [(0, 3, 0)]);
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
        let cw = spec();
        let p = params(&cw);
        let (t, b) = (4, 2);
        let x: Vec<f64> = (0..t * b * 3).map(|i| (i as f64 * 0.3).cos()).collect();
        let dy: Vec<f64> = (0..t * b * 5).map(|i| (i as f64 * 0.71).sin()).collect();
        let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
        let (_, _, cache) = forward(&cw, &ps, &x, t, b, None, true).unwrap();
        let mut g: Vec<Vec<f64>> = p.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut gs: Vec<&mut [f64]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
        backward(&ps, cache.as_ref().unwrap(), &dy, None, &mut gs, true).unwrap();
        let eps = 1e-6;
        for k in 0..p.len() {
            for i in 0..p[k].len() {
                let mut q = p.clone();
                q[k][i] += eps;
                let fp = loss(&cw, &q, &x, t, b, &dy);
                q[k][i] -= 2.0 * eps;
                let fm = loss(&cw, &q, &x, t, b, &dy);
                let num = (fp - fm) / (2.0 * eps);
                assert!((num - g[k][i]).abs() < 1e-7, "param {k}[{i}]: {num} vs {}", g[k][i]);
            }
        }
        // weight_hh rows of module 1 (row 2) do not read module 0 (columns 0, 1).
        assert_eq!(g[1][2 * 5..2 * 5 + 2], [0.0, 0.0]);
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
