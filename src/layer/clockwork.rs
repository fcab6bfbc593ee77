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

use crate::error::{checked_size, try_zeros};
use crate::linalg::{gemm, Op, Parallelism};
use crate::{Error, Float, Result};

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

impl Block {
    /// Steps at which the module runs in a sequence of `t` steps.
    fn steps(&self, t: usize) -> usize {
        t.div_ceil(self.period)
    }
}

/// What `backward` needs: the input and every state (`h0` first).
pub struct ClockworkCache<T> {
    cw: Clockwork,
    t: usize,
    b: usize,
    x: Vec<T>,
    /// `(T + 1, B, H)`: `h0`, then the outputs.
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

/// Rows `step * b .. (step + 1) * b` of a `(T*B, w)` array for the module's
/// active steps, gathered into `(n * b, w)` (no copy for period 1).
fn gather<'a, T: Float>(
    src: &'a [T],
    blk: &Block,
    t: usize,
    b: usize,
    w: usize,
) -> Result<std::borrow::Cow<'a, [T]>> {
    if blk.period == 1 {
        return Ok(std::borrow::Cow::Borrowed(&src[..t * b * w]));
    }
    let n = blk.steps(t);
    let mut out = try_zeros(checked_size(&[n, b, w], "clockwork gather")?, "clockwork gather")?;
    for (j, dst) in out.chunks_exact_mut(b * w).enumerate() {
        let s = j * blk.period;
        dst.copy_from_slice(&src[s * b * w..(s + 1) * b * w]);
    }
    Ok(std::borrow::Cow::Owned(out))
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

/// `(y (T, B, H), h_n (B, H), cache if train)`.
pub type Run<T> = (Vec<T>, Vec<T>, Option<ClockworkCache<T>>);

/// Columns `col..w` of `gather`'s rows, contiguous; None for period 1 (use
/// the source as a strided view).
fn gather_cols<T: Float>(
    src: &[T],
    blk: &Block,
    t: usize,
    b: usize,
    w: usize,
    col: usize,
) -> Result<Option<Vec<T>>> {
    if blk.period == 1 {
        return Ok(None);
    }
    let (n, cols) = (blk.steps(t), w - col);
    let mut out = try_zeros(checked_size(&[n, b, cols], "clockwork gather")?, "clockwork gather")?;
    for (j, dst) in out.chunks_exact_mut(b * cols).enumerate() {
        let s = j * blk.period;
        for (d, row) in dst.chunks_exact_mut(cols).zip(src[s * b * w..(s + 1) * b * w].chunks_exact(w)) {
            d.copy_from_slice(&row[col..]);
        }
    }
    Ok(Some(out))
}

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
    cw.validate()?;
    cw.check_params(params)?;
    let (i_sz, h) = (cw.input_size, cw.hidden_size());
    if t == 0 {
        return Err(Error::shape("input", "the sequence is empty (T = 0)"));
    }
    if x.len() != checked_size(&[t, b, i_sz], "input")? {
        return Err(Error::shape("input", format!("expected ({t}, {b}, {i_sz}) values, got {}", x.len())));
    }
    if let Some(h0) = h0 {
        if h0.len() != b * h {
            return Err(Error::shape("h0", format!("expected (1, {b}, {h}), got {} values", h0.len())));
        }
    }
    // states: h0 then every step's h (the outputs are states 1..=T).
    let mut states = try_zeros(checked_size(&[t + 1, b, h], "output")?, "output")?;
    if let Some(h0) = h0 {
        states[..b * h].copy_from_slice(h0);
    }
    crate::par::install(|| run_forward(cw, params, x, t, b, &mut states))?;
    let h_n = states[t * b * h..].to_vec();
    if train {
        let y = states[b * h..].to_vec();
        Ok((y, h_n, Some(ClockworkCache { cw: cw.clone(), t, b, x: x.to_vec(), states })))
    } else {
        states.drain(..b * h);
        Ok((states, h_n, None))
    }
}

fn run_forward<T: Float>(
    cw: &Clockwork,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    states: &mut [T],
) -> Result<()> {
    let (i_sz, h) = (cw.input_size, cw.hidden_size());
    let w_ih = params[0];
    let blocks = cw.blocks();
    let w_hh = &masked(&blocks, params[1], h)?;
    // Input projections of each module's active steps, biases folded in.
    let mut proj: Vec<Vec<T>> = Vec::with_capacity(blocks.len());
    for blk in &blocks {
        let n = blk.steps(t);
        let xg = gather(x, blk, t, b, i_sz)?;
        let mut p = try_zeros(checked_size(&[n, b, blk.k], "input projection")?, "input projection")?;
        if cw.bias {
            let (bi, bh) = (&params[2][blk.row..blk.row + blk.k], &params[3][blk.row..blk.row + blk.k]);
            for row in p.chunks_exact_mut(blk.k) {
                for ((v, &u), &w) in row.iter_mut().zip(bi).zip(bh) {
                    *v = u + w;
                }
            }
        }
        let w = Op { data: &w_ih[blk.row * i_sz..], rows: blk.k, cols: i_sz, ld: i_sz, trans: false };
        gemm(Parallelism::Pool, &mut p, blk.k, Op::new(&xg, n * b, i_sz), w.t(), T::ONE, true);
        proj.push(p);
    }
    match split_rows(b) {
        None => step_loop(&blocks, w_hh, &proj, t, b, 0, h, states),
        Some(at) => {
            // Each half of the batch runs the whole time loop in its own buffer.
            let mut halves = [(0, at), (at, b - at)].map(|(r0, n)| (r0, n, Vec::new()));
            for (r0, n, buf) in halves.iter_mut() {
                *buf = try_zeros(checked_size(&[t + 1, *n, h], "states")?, "states")?;
                buf[..*n * h].copy_from_slice(&states[*r0 * h..(*r0 + *n) * h]);
            }
            let [(r0, _, s0), (r1, _, s1)] = &mut halves;
            let (a, c) = rayon::join(
                || step_loop(&blocks, w_hh, &proj, t, b, *r0, h, s0),
                || step_loop(&blocks, w_hh, &proj, t, b, *r1, h, s1),
            );
            a?;
            c?;
            for (r0, n, buf) in &halves {
                for s in 1..=t {
                    let dst = (s * b + r0) * h;
                    states[dst..dst + n * h].copy_from_slice(&buf[s * n * h..(s + 1) * n * h]);
                }
            }
            Ok(())
        }
    }
}

/// The time loop is split into two halves of the batch when it is large
/// enough (row `at` starts the second). The split depends only on the batch
/// size, never on the thread count, so results are identical however many
/// threads run the halves.
fn split_rows(b: usize) -> Option<usize> {
    const MIN_ROWS: usize = 8;
    (b >= 2 * MIN_ROWS).then(|| b.div_ceil(2))
}

/// The forward time loop over batch rows `r0..r0 + n` (of `b`), whose
/// states `(T + 1, n, H)` (`h0` first) are in `states`.
#[allow(clippy::too_many_arguments)]
fn step_loop<T: Float>(
    blocks: &[Block],
    w_hh: &[T],
    proj: &[Vec<T>],
    t: usize,
    b: usize,
    r0: usize,
    h: usize,
    states: &mut [T],
) -> Result<()> {
    let n = states.len() / ((t + 1) * h);
    let nh = n * h;
    for s in 0..t {
        crate::interrupt::check()?;
        let (prev, cur) = states[s * nh..(s + 2) * nh].split_at_mut(nh);
        cur.copy_from_slice(prev);
        for (blk, p) in blocks.iter().zip(proj) {
            if !s.is_multiple_of(blk.period) {
                continue;
            }
            // The module's rows of the state start as its input projection.
            let j = s / blk.period;
            let rows = &p[(j * b + r0) * blk.k..(j * b + r0 + n) * blk.k];
            for (zr, pr) in cur[blk.row..].chunks_mut(h).zip(rows.chunks_exact(blk.k)) {
                zr[..blk.k].copy_from_slice(pr);
            }
        }
        // z += h_prev[c..] W_hh[rows, c..]^T, one product per run of consecutive active modules.
        for run in active_runs(blocks, s) {
            let cols = h - run.col;
            let z = &mut cur[run.row..];
            let hp = Op { data: &prev[run.col..], rows: n, cols, ld: h, trans: false };
            let w = Op { data: &w_hh[run.row * h + run.col..], rows: run.k, cols, ld: h, trans: false };
            gemm(Parallelism::Serial, z, h, hp, w.t(), T::ONE, true);
            for zr in z.chunks_mut(h).take(n) {
                crate::kernels::tanh_inplace(&mut zr[..run.k]);
            }
        }
    }
    Ok(())
}

/// Gradients of a clockwork run.
pub struct ClockworkGrads<T> {
    /// `(T, B, I)`; empty without `input_grad`.
    pub dx: Vec<T>,
    /// `(B, H)`.
    pub dh0: Vec<T>,
}

/// BPTT through `cache`: `dy` `(T, B, H)`, `dh_n` `(B, H)` (zeros when None).
/// Parameter gradients are ADDED into `grads` (the shapes of `params`).
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
    let (t, b, h) = (cache.t, cache.b, cw.hidden_size());
    if grads.len() != params.len() || grads.iter().zip(params).any(|(g, p)| g.len() != p.len()) {
        return Err(Error::shape("grads", "expected one array per parameter, of the parameter's shape"));
    }
    if dy.len() != t * b * h {
        return Err(Error::shape("dy", format!("expected ({t}, {b}, {h}), got {} values", dy.len())));
    }
    if let Some(d) = dh_n {
        if d.len() != b * h {
            return Err(Error::shape("dh_n", format!("expected (1, {b}, {h}), got {} values", d.len())));
        }
    }
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
    let (t, b, h, i_sz) = (cache.t, cache.b, cw.hidden_size(), cw.input_size);
    let w_ih = params[0];
    let blocks = cw.blocks();
    let w_hh = &masked(&blocks, params[1], h)?;
    let bh = b * h;
    // Gradients w.r.t. each module's pre-activations at its active steps, `(n_i, B, k_i)`.
    let dz_for = |rows: usize| -> Result<Vec<Vec<T>>> {
        blocks
            .iter()
            .map(|blk| try_zeros(checked_size(&[blk.steps(t), rows, blk.k], "gradients")?, "gradients"))
            .collect()
    };
    let mut carry = try_zeros::<T>(bh, "dh0")?;
    if let Some(d) = dh_n {
        carry.copy_from_slice(d);
    }
    let dz = match split_rows(b) {
        None => {
            let mut dz = dz_for(b)?;
            back_loop(&blocks, w_hh, &cache.states, dy, t, b, 0, h, &mut carry, &mut dz)?;
            dz
        }
        Some(at) => {
            // As forward: each half of the batch runs the whole loop on its own buffers.
            let (c0, c1) = carry.split_at_mut(at * h);
            let (mut dz0, mut dz1) = (dz_for(at)?, dz_for(b - at)?);
            let st = &cache.states;
            let (a, c) = rayon::join(
                || back_loop(&blocks, w_hh, st, dy, t, b, 0, h, c0, &mut dz0),
                || back_loop(&blocks, w_hh, st, dy, t, b, at, h, c1, &mut dz1),
            );
            a?;
            c?;
            let mut dz = dz_for(b)?;
            for ((blk, d), (d0, d1)) in blocks.iter().zip(dz.iter_mut()).zip(dz0.iter().zip(&dz1)) {
                let k = blk.k;
                for ((dst, s0), s1) in
                    d.chunks_exact_mut(b * k).zip(d0.chunks_exact(at * k)).zip(d1.chunks_exact((b - at) * k))
                {
                    dst[..at * k].copy_from_slice(s0);
                    dst[at * k..].copy_from_slice(s1);
                }
            }
            dz
        }
    };
    // Weight, bias and input gradients: one product per module over its steps.
    let mut dx = if input_grad { try_zeros(checked_size(&[t, b, i_sz], "dx")?, "dx")? } else { Vec::new() };
    let mut tmp: Vec<T> = Vec::new();
    let (gw, rest) = grads.split_at_mut(1);
    let (gh, gb) = rest.split_at_mut(1);
    for (blk, dzm) in blocks.iter().zip(&dz) {
        let n = blk.steps(t) * b;
        let dzop = Op::new(dzm, n, blk.k);
        let xg = gather(&cache.x, blk, t, b, i_sz)?;
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
        // h_{s-1} (states[s]) at the active steps s, as a strided view for period 1.
        let hp = gather_cols(&cache.states, blk, t, b, h, blk.col)?;
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
                let bi = b * i_sz;
                for (j, src) in tmp.chunks_exact(bi).enumerate() {
                    let s = j * blk.period;
                    for (d, &v) in dx[s * bi..(s + 1) * bi].iter_mut().zip(src) {
                        *d += v;
                    }
                }
            }
        }
    }
    Ok(ClockworkGrads { dx, dh0: carry })
}

/// The backward time loop over batch rows `r0..r0 + n` (of `b`; `n` the rows
/// of `carry`): `carry` `(n, H)` enters as the gradient w.r.t. `h_T` and
/// leaves as the one w.r.t. `h0`; `dz[i]` `(n_i, n, k_i)` receives module
/// i's pre-activation gradients.
#[allow(clippy::too_many_arguments)]
fn back_loop<T: Float>(
    blocks: &[Block],
    w_hh: &[T],
    states: &[T],
    dy: &[T],
    t: usize,
    b: usize,
    r0: usize,
    h: usize,
    carry: &mut [T],
    dz: &mut [Vec<T>],
) -> Result<()> {
    let n = carry.len() / h;
    let (bh, nh) = (b * h, n * h);
    let mut run_dz: Vec<T> = Vec::new();
    for s in (0..t).rev() {
        crate::interrupt::check()?;
        // carry += dy_s: the gradient w.r.t. h_s; below it becomes the one w.r.t. h_{s-1}.
        let at = s * bh + r0 * h;
        for (c, &g) in carry.iter_mut().zip(&dy[at..at + nh]) {
            *c += g;
        }
        let h_s = &states[bh + at..bh + at + nh];
        for (blk, dzm) in blocks.iter().zip(dz.iter_mut()) {
            if !s.is_multiple_of(blk.period) {
                continue;
            }
            let j = s / blk.period;
            let dzs = &mut dzm[j * n * blk.k..(j + 1) * n * blk.k];
            for r in 0..n {
                let o = r * h + blk.row;
                for q in 0..blk.k {
                    let y = h_s[o + q];
                    dzs[r * blk.k + q] = carry[o + q] * (T::ONE - y * y);
                }
                carry[o..o + blk.k].fill(T::ZERO);
            }
        }
        // carry[c..] += dz W_hh[rows, c..], one product per run of consecutive active modules.
        for run in active_runs(blocks, s) {
            let w_run = run.k;
            run_dz.clear();
            run_dz.resize(n * w_run, T::ZERO);
            for (blk, dzm) in blocks.iter().zip(dz.iter()) {
                if !s.is_multiple_of(blk.period) || blk.row < run.row || blk.row >= run.row + run.k {
                    continue;
                }
                let j = s / blk.period;
                let dzs = &dzm[j * n * blk.k..(j + 1) * n * blk.k];
                for (dst, src) in run_dz.chunks_exact_mut(w_run).zip(dzs.chunks_exact(blk.k)) {
                    dst[blk.row - run.row..blk.row - run.row + blk.k].copy_from_slice(src);
                }
            }
            let cols = h - run.col;
            let w = Op { data: &w_hh[run.row * h + run.col..], rows: w_run, cols, ld: h, trans: false };
            gemm(Parallelism::Serial, &mut carry[run.col..], h, Op::new(&run_dz, n, w_run), w, T::ONE, true);
        }
    }
    Ok(())
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
