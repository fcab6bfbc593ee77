//! Exact RTRL: the full sensitivity recursion `M_t = J_t M_{t-1} + F_t`.
//!
//! The part of `J_t` acting on the h-rows of M is, per sequence b,
//! `J^h[(k,c), j] = gamma[c][h][k] δ_kj + sum_g beta[c][g][k] W_hh[gH+k, j]`
//! (see `local.rs`), an `(n x H)` matrix formed in O(n H G). So each step is
//! one GEMM per sequence, `M'_b = J^h_b M^h_b` ((n x H) (H x P)), followed by
//! the LSTM's direct c-to-state terms and the immediate Jacobian `F_t`, which
//! is applied from its Kronecker structure (never built densely).
//!
//! The step is fused by blocks of parameter columns: for each block (and
//! sequence) the GEMM writes the new sensitivities, and the c terms, `F_t`
//! and the gradient contraction `dL/dh · M` are applied while that block is
//! still in cache. Without the fusion those passes each stream all of M
//! (megabytes) through memory and cost as much as the GEMM itself.
//!
//! Layout, block-major: block j holds columns `[j W, j W + w_j)` of every row,
//! as `[k][c][b][w_j]` (unit, state component, sequence, column). Blocks are
//! independent, so threads take whole blocks (split along outputs: results do
//! not depend on the thread count), each with its own slice of the gradient.
//!
//! A whole sequence whose M outgrows the last-level cache is run blocked in
//! time (`run_sequence`): each column block goes through a chunk of steps
//! while in cache, since `J_t` and `F_t` do not depend on M.

use super::local::{self, param_blocks, Local};
use super::CellShape;
use crate::error::{checked_size, try_zeros, try_zeros_float, Result};
use crate::float::Float;
use crate::kernels::wide;
use crate::linalg::{gemm, Op, Parallelism};
use rayon::prelude::*;

/// Bytes of old and new sensitivity columns one (block, sequence) pass may
/// touch: small enough that they stay in the 1-2 MiB L2 between the GEMM and
/// the passes after it.
const BLOCK_BYTES: usize = 256 << 10;

/// Bytes of per-step data (Jacobians, local derivatives, previous states)
/// one time chunk of `run_sequence` keeps, and the most steps in a chunk.
const CHUNK_BYTES: usize = 16 << 20;
const MAX_CHUNK: usize = 256;

/// Sensitivities above this size (a quarter of a core's 512 KiB-1 MiB L2: M
/// and the next step's M no longer both stay in it beside the rest) make the
/// per-step recursion stream M through the outer caches or memory every
/// step; `gradient` then blocks in time. Below it, step by step is faster (it
/// re-packs each step's Jacobian once for all blocks instead of once per
/// block, and has no per-sequence copies). Measured (f64, 1 thread): time
/// blocking from this size on is 5-25 % faster (n = 8-16 at batch 16, n = 64
/// at batch 1; 0-4 % for the Elman cell at n = 8, batch 16, 139 KiB, and
/// n = 16, batch 4), and 6-8 % slower below it (n = 8 at batch 1).
const TIME_BLOCKING_BYTES: usize = 128 << 10;

pub struct Exact<T> {
    batch: usize,
    /// Width W of every column block but the last.
    width: usize,
    /// Most steps per time chunk of `run_sequence` (tests use small ones).
    pub(super) max_chunk: usize,
    /// Sensitivities (block-major, see above), and the buffer the next step
    /// is written to. Both come as untouched zero pages (`try_zeros_float`):
    /// a whole-sequence run never touches `next`, nor `m` when the sequence
    /// fits one time chunk.
    m: Vec<T>,
    next: Vec<T>,
    /// Whether `m` is known to be all zero (fresh or reset): not read then.
    m_zero: bool,
    /// (B, C*H, H) the state Jacobians restricted to h columns.
    jac: Vec<T>,
}

/// The column-block width for `p` parameters: what fits `BLOCK_BYTES` for one
/// sequence, and, from `SPLIT_MIN_PARAMS` parameters on, at least
/// `BALANCE_BLOCKS` blocks so that threads share the work evenly (below it a
/// step is too short to gain from threads and one block has the least
/// overhead). The width never depends on the thread count: a product split
/// into other column blocks may round differently (faer's aarch64 kernels
/// do, found under qemu), and results must not depend on the thread count.
fn block_width(sh: &CellShape, elem: usize) -> usize {
    let p = sh.n_params();
    let by_cache = BLOCK_BYTES / (2 * sh.state_len() * elem).max(1);
    let by_balance = if p < SPLIT_MIN_PARAMS { p } else { p.div_ceil(BALANCE_BLOCKS) };
    by_cache.min(by_balance).next_multiple_of(16).max(64).min(p)
}

/// Fewest column blocks per step (4 per thread on 2 cores), and the
/// parameter count from which a step is split at all.
const BALANCE_BLOCKS: usize = 8;
const SPLIT_MIN_PARAMS: usize = 2048;

impl<T: Float> Exact<T> {
    pub fn new(sh: &CellShape, batch: usize) -> Result<Self> {
        Self::with_width(sh, batch, block_width(sh, std::mem::size_of::<T>()))
    }

    /// With a given column-block width (tests use odd widths).
    pub(super) fn with_width(sh: &CellShape, batch: usize, width: usize) -> Result<Self> {
        let p = sh.n_params();
        let m = checked_size(&[sh.state_len(), batch, p], "exact RTRL sensitivities")?;
        let j = checked_size(&[batch, sh.state_len(), sh.hidden], "exact RTRL Jacobians")?;
        Ok(Exact {
            batch,
            width: width.clamp(1, p),
            max_chunk: MAX_CHUNK,
            m: try_zeros_float(m, "exact RTRL sensitivities")?,
            next: try_zeros_float(m, "exact RTRL sensitivities")?,
            m_zero: true,
            jac: try_zeros(j, "exact RTRL Jacobians")?,
        })
    }

    pub fn reset(&mut self) {
        if !self.m_zero {
            self.m.fill(T::ZERO);
            self.m_zero = true;
        }
    }

    /// Whether a whole sequence is faster blocked in time (`run_sequence`).
    pub fn prefers_time_blocking(&self) -> bool {
        self.m.len() * std::mem::size_of::<T>() > TIME_BLOCKING_BYTES
    }

    /// Elements of one block's storage (all rows): n * B * width.
    fn block_len(&self, sh: &CellShape) -> usize {
        sh.state_len() * self.batch * self.width
    }

    /// Advances M from step t-1 to t (`s_prev` is the state before the step)
    /// and, with `contract = Some((dloss_dh, grad))`, adds
    /// `sum_b dloss_dh[b] · M_t[b]` to `grad`.
    pub fn step(
        &mut self,
        sh: &CellShape,
        params: &[T],
        x: &[T],
        s_prev: &[T],
        loc: &Local<T>,
        contract: Option<(&[T], &mut [T])>,
    ) {
        form_jacobians(sh, params, loc, &mut self.jac);
        let (bsz, width, blk) = (self.batch, self.width, self.block_len(sh));
        let (old, jac) = (&self.m, &self.jac);
        let pass = |j: usize, dst: &mut [T], grad: Option<&mut [T]>, dloss: Option<&[T]>| {
            let lo = j * width;
            let w = dst.len() / (sh.state_len() * bsz);
            let src = &old[j * blk..j * blk + dst.len()];
            let mut grad = grad;
            // The passes around the GEMM are memory-bound element loops: at
            // the CPU's full vector width they cost a third of what SSE does.
            wide(
                #[inline(always)]
                || {
                    for b in 0..bsz {
                        advance_block(
                            sh,
                            bsz,
                            b,
                            b,
                            w,
                            lo,
                            &jac[b * sh.state_len() * sh.hidden..],
                            src,
                            dst,
                            x,
                            s_prev,
                            loc,
                        );
                        if let (Some(g), Some(d)) = (grad.as_deref_mut(), dloss) {
                            contract_block(sh, bsz, b, w, &d[b * sh.hidden..(b + 1) * sh.hidden], dst, g);
                        }
                    }
                },
            )
        };
        let parallel = super::worth_threads(self.next.len()) && self.next.len() > blk;
        match contract {
            Some((dloss, grad)) => {
                let task = |(j, (dst, g)): (usize, (&mut [T], &mut [T]))| pass(j, dst, Some(g), Some(dloss));
                if parallel {
                    self.next.par_chunks_mut(blk).zip(grad.par_chunks_mut(width)).enumerate().for_each(task);
                } else {
                    self.next.chunks_mut(blk).zip(grad.chunks_mut(width)).enumerate().for_each(task);
                }
            }
            None => {
                let task = |(j, dst): (usize, &mut [T])| pass(j, dst, None, None);
                if parallel {
                    self.next.par_chunks_mut(blk).enumerate().for_each(task);
                } else {
                    self.next.chunks_mut(blk).enumerate().for_each(task);
                }
            }
        }
        std::mem::swap(&mut self.m, &mut self.next);
        self.m_zero = false;
    }

    /// Exact RTRL over a whole sequence (`x` (T, B, I), `dloss_dh` (T, B, H)),
    /// blocked in time. A column block of M evolves on its own (`J_t` and
    /// `F_t` do not depend on M), so after a forward pass over a chunk of
    /// steps that keeps each step's Jacobians and local derivatives, every
    /// (column block, sequence) goes through all the chunk's steps while it
    /// stays in cache: M crosses memory once per chunk instead of once per
    /// step (per step, M is far larger than the caches for n >= 64).
    /// `state` (B, C, H) goes in and comes out advanced (`next` is scratch);
    /// `y` (T, B, H) gets the hidden states; the gradient is added to `grad`.
    /// The sensitivities after the last step are not stored (`gradient`, the
    /// caller, only wants the gradient; storing them would touch all of M
    /// once more): M is stale afterwards, `reset` before stepping on.
    #[allow(clippy::too_many_arguments)]
    pub fn run_sequence(
        &mut self,
        sh: &CellShape,
        params: &[T],
        x: &[T],
        dloss_dh: &[T],
        steps: usize,
        state: &mut Vec<T>,
        next: &mut Vec<T>,
        y: &mut [T],
        grad: &mut [T],
    ) -> Result<()> {
        let (bsz, n, h, i) = (self.batch, sh.state_len(), sh.hidden, sh.input);
        let per_step = checked_size(&[bsz, n, h + 1 + 2 * sh.kind.gates()], "RTRL chunk")?;
        let chunk = (CHUNK_BYTES / (per_step * std::mem::size_of::<T>()))
            .clamp(1, self.max_chunk.max(1))
            .min(steps.max(1));
        let mut locs = (0..chunk).map(|_| Local::new(sh, bsz)).collect::<Result<Vec<_>>>()?;
        let mut prevs = try_zeros(checked_size(&[chunk, bsz, n], "RTRL chunk")?, "RTRL chunk")?;
        let mut jacs = try_zeros(checked_size(&[chunk, bsz, n, h], "RTRL chunk")?, "RTRL chunk")?;
        let (bi, bh, width, blk) = (bsz * i, bsz * h, self.width, self.block_len(sh));
        let mut t0 = 0;
        while t0 < steps {
            crate::interrupt::check()?;
            let len = chunk.min(steps - t0);
            for s in 0..len {
                let t = t0 + s;
                prevs[s * bsz * n..(s + 1) * bsz * n].copy_from_slice(state);
                local::step(sh, params, &x[t * bi..(t + 1) * bi], state, next, bsz, &mut locs[s]);
                form_jacobians(sh, params, &locs[s], &mut jacs[s * bsz * n * h..(s + 1) * bsz * n * h]);
                std::mem::swap(state, next);
                for b in 0..bsz {
                    y[t * bh + b * h..t * bh + (b + 1) * h].copy_from_slice(&state[b * n..b * n + h]);
                }
            }
            let (locs, prevs, jacs) = (&locs, &prevs, &jacs);
            // M is read unless known zero, and written back unless this is the last chunk.
            let (load, store) = (t0 > 0 || !self.m_zero, t0 + len < steps);
            // One column block through the chunk, sequence by sequence; a
            // sequence's rows of the block ping-pong between two scratch buffers.
            let task = |(j, (mblk, g)): (usize, (&mut [T], &mut [T]))| {
                let w = g.len();
                let mut cur = vec![T::ZERO; n * w];
                let mut new = vec![T::ZERO; n * w];
                wide(
                    #[inline(always)]
                    || {
                        for b in 0..bsz {
                            if load {
                                for r in 0..n {
                                    let at = (r * bsz + b) * w;
                                    cur[r * w..(r + 1) * w].copy_from_slice(&mblk[at..at + w]);
                                }
                            } else {
                                cur.fill(T::ZERO);
                            }
                            for s in 0..len {
                                // A chunk can be seconds of work (n = 64): stop
                                // within it on Ctrl-C (the error is raised below).
                                if crate::interrupt::check().is_err() {
                                    return;
                                }
                                let t = t0 + s;
                                advance_block(
                                    sh,
                                    1,
                                    0,
                                    b,
                                    w,
                                    j * width,
                                    &jacs[(s * bsz + b) * n * h..],
                                    &cur,
                                    &mut new,
                                    &x[t * bi..(t + 1) * bi],
                                    &prevs[s * bsz * n..(s + 1) * bsz * n],
                                    &locs[s],
                                );
                                let d = &dloss_dh[t * bh + b * h..t * bh + (b + 1) * h];
                                contract_block(sh, 1, 0, w, d, &new, g);
                                std::mem::swap(&mut cur, &mut new);
                            }
                            if store {
                                for r in 0..n {
                                    let at = (r * bsz + b) * w;
                                    mblk[at..at + w].copy_from_slice(&cur[r * w..(r + 1) * w]);
                                }
                            }
                        }
                    },
                )
            };
            if super::worth_threads(self.m.len() * len) && self.m.len() > blk {
                self.m.par_chunks_mut(blk).zip(grad.par_chunks_mut(width)).enumerate().for_each(task);
            } else {
                self.m.chunks_mut(blk).zip(grad.chunks_mut(width)).enumerate().for_each(task);
            }
            crate::interrupt::check()?;
            t0 += len;
        }
        self.m_zero = false;
        Ok(())
    }

    /// grad += sum_b dloss_dh[b] · M[b] for the current M (the same order of
    /// additions as the contraction fused into `step`).
    pub fn accumulate(&self, sh: &CellShape, dloss_dh: &[T], grad: &mut [T]) {
        let (bsz, width, blk) = (self.batch, self.width, self.block_len(sh));
        let add = |(src, g): (&[T], &mut [T])| {
            let w = g.len();
            wide(
                #[inline(always)]
                || {
                    for b in 0..bsz {
                        contract_block(sh, bsz, b, w, &dloss_dh[b * sh.hidden..(b + 1) * sh.hidden], src, g);
                    }
                },
            )
        };
        if super::worth_threads(self.m.len()) {
            self.m.par_chunks(blk).zip(grad.par_chunks_mut(width)).for_each(add);
        } else {
            self.m.chunks(blk).zip(grad.chunks_mut(width)).for_each(add);
        }
    }
}

/// One (block, sequence): `dst = J^h src^h + c terms + F_t` on the block's
/// `w` columns starting at parameter `lo`. `src`/`dst` hold the block's rows
/// as `[k][c][b][w]` for `bsz` sequences, this one at row position `b`; `seq`
/// indexes the step's batch data (`x`, `s_prev`, `loc`); `jac_b` starts at
/// that sequence's Jacobian.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn advance_block<T: Float>(
    sh: &CellShape,
    bsz: usize,
    b: usize,
    seq: usize,
    w: usize,
    lo: usize,
    jac_b: &[T],
    src: &[T],
    dst: &mut [T],
    x: &[T],
    s_prev: &[T],
    loc: &Local<T>,
) {
    let (h, c, i) = (sh.hidden, sh.kind.comps(), sh.input);
    let n = c * h;
    let row_stride = bsz * w;
    // dst rows (k, cc) of sequence b have stride B*w; src h-rows stride C*B*w.
    let jb = Op::new(&jac_b[..n * h], n, h);
    let mh = Op { data: &src[b * w..], rows: h, cols: w, ld: c * row_stride, trans: false };
    let row = |k: usize, cc: usize| ((k * c + cc) * bsz + b) * w;
    if c == 2 {
        // The LSTM's direct dependence on its old cell state, written first
        // so that the GEMM adds to it (no second pass over the new rows).
        for k in 0..h {
            let oc = &src[row(k, 1)..row(k, 1) + w];
            for cc in 0..c {
                let gm = loc.gamma[Local::<T>::gi(sh, seq, cc, 1, k)];
                for (d, &o) in dst[row(k, cc)..row(k, cc) + w].iter_mut().zip(oc) {
                    *d = gm * o;
                }
            }
        }
    }
    gemm(Parallelism::Serial, &mut dst[b * w..], row_stride, jb, mh, T::ONE, c == 2);
    // F_t: alpha ⊗ [x, 1] on the rows of W_ih / b_ih, beta ⊗ [h_prev, 1] on
    // W_hh / b_hh, delta on the own parameters; parameter row r = g*H + k
    // feeds unit k only.
    let x_b = &x[seq * i..(seq + 1) * i];
    let h_b = &s_prev[seq * n..seq * n + h];
    let one = [T::ONE];
    let blocks = param_blocks(sh, &loc.alpha, &loc.beta, &loc.delta, x_b, h_b, &one);
    let hi = lo + w;
    for (off, coef, inp, groups) in blocks {
        let rw = inp.len();
        let (start, end) = (off.max(lo), (off + groups * h * rw).min(hi));
        if start >= end {
            continue;
        }
        let (r0, r1) = ((start - off) / rw, (end - off).div_ceil(rw));
        // Row r = g*H + k of component cc has its coefficient at base[cc] + r;
        // the unit k is stepped along (no division per row).
        let base = [0, 1].map(|cc| Local::<T>::coef_at(sh, groups, seq, cc.min(c - 1), 0, 0));
        let mut k = r0 % h;
        if rw == 1 {
            // Bias-like rows (input 1): one column each, no inner loop.
            let u = inp[0];
            for r in r0..r1 {
                for (cc, &at) in base.iter().enumerate().take(c) {
                    dst[row(k, cc) + off + r - lo] += coef[at + r] * u;
                }
                k = if k + 1 == h { 0 } else { k + 1 };
            }
            continue;
        }
        for r in r0..r1 {
            // Columns of parameter row r inside this block.
            let (p0, p1) = ((off + r * rw).max(start), (off + (r + 1) * rw).min(end));
            let inp = &inp[p0 - off - r * rw..p1 - off - r * rw];
            for (cc, &at) in base.iter().enumerate().take(c) {
                let a = coef[at + r];
                let d = &mut dst[row(k, cc) + p0 - lo..row(k, cc) + p1 - lo];
                for (dv, &u) in d.iter_mut().zip(inp) {
                    *dv += a * u;
                }
            }
            k = if k + 1 == h { 0 } else { k + 1 };
        }
    }
}

/// grad (the block's `w` columns) += sum_k dloss_b[k] M[(k, h), b, :].
#[inline(always)]
fn contract_block<T: Float>(
    sh: &CellShape,
    bsz: usize,
    b: usize,
    w: usize,
    dloss_b: &[T],
    m: &[T],
    grad: &mut [T],
) {
    let c = sh.kind.comps();
    let row = |k: usize| (k * c * bsz + b) * w;
    let mut k = 0;
    // Four rows per sweep over the gradient: a quarter of its loads and stores.
    while k + 4 <= sh.hidden {
        let (d0, d1, d2, d3) = (dloss_b[k], dloss_b[k + 1], dloss_b[k + 2], dloss_b[k + 3]);
        let (r0, r1, r2, r3) = (
            &m[row(k)..row(k) + w],
            &m[row(k + 1)..row(k + 1) + w],
            &m[row(k + 2)..row(k + 2) + w],
            &m[row(k + 3)..row(k + 3) + w],
        );
        for ((((g, &a), &b1), &c2), &e) in grad.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *g = *g + d0 * a + d1 * b1 + d2 * c2 + d3 * e;
        }
        k += 4;
    }
    for k in k..sh.hidden {
        let d = dloss_b[k];
        for (g, &v) in grad.iter_mut().zip(&m[row(k)..row(k) + w]) {
            *g += d * v;
        }
    }
}

/// J^h_b rows (k, c) = sum_g beta[c][g][k] W_hh[gH+k, :] + gamma[c][h][k] e_k.
fn form_jacobians<T: Float>(sh: &CellShape, params: &[T], loc: &Local<T>, jac: &mut [T]) {
    let (h, c, g_n) = (sh.hidden, sh.kind.comps(), sh.kind.gates());
    let n = c * h;
    let w_hh = &params[sh.off_whh()..sh.off_bih()];
    wide(
        #[inline(always)]
        || {
            for (b, jb) in jac.chunks_mut(n * h).enumerate() {
                for k in 0..h {
                    for cc in 0..c {
                        let row = &mut jb[(k * c + cc) * h..(k * c + cc + 1) * h];
                        row.fill(T::ZERO);
                        for g in 0..g_n {
                            let be = loc.beta[Local::<T>::ab(sh, b, cc, g, k)];
                            for (r, &w) in row.iter_mut().zip(&w_hh[(g * h + k) * h..(g * h + k + 1) * h]) {
                                *r += be * w;
                            }
                        }
                        row[k] += loc.gamma[Local::<T>::gi(sh, b, cc, 0, k)];
                    }
                }
            }
        },
    )
}
