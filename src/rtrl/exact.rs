//! Exact RTRL: the full sensitivity recursion `M_t = J_t M_{t-1} + F_t`.
//!
//! The part of `J_t` acting on the h-rows of M is, per sequence b,
//! `J^h[(k,c), j] = gamma[c][h][k] δ_kj + sum_g beta[c][g][k] W_hh[gH+k, j]`
//! (see `local.rs`), an `(n x H)` matrix formed in O(n H G). So each step is
//! one GEMM per sequence, `M'_b = J^h_b M^h_b` ((n x H) (H x P)), followed by
//! the LSTM's direct c-to-state terms and the immediate Jacobian `F_t`, which
//! is applied from its Kronecker structure (never built densely).
//!
//! Layout: `M[k][c][b][p]` (unit, state component, sequence, parameter): the
//! h-rows of sequence b form an `H x P` matrix with row stride `C*B*P`, and
//! each unit owns one contiguous block, updated in parallel (split along
//! outputs: results do not depend on the thread count).

use super::local::{add_immediate, Local};
use super::CellShape;
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op};
use rayon::prelude::*;

pub struct Exact<T> {
    batch: usize,
    p: usize,
    /// (H, C, B, P) sensitivities, and the buffer the next step is written to.
    m: Vec<T>,
    next: Vec<T>,
    /// (B, C*H, H) the state Jacobians restricted to h columns.
    jac: Vec<T>,
}

impl<T: Float> Exact<T> {
    pub fn new(sh: &CellShape, batch: usize) -> Result<Self> {
        let p = sh.n_params();
        let m = checked_size(&[sh.state_len(), batch, p], "exact RTRL sensitivities")?;
        let j = checked_size(&[batch, sh.state_len(), sh.hidden], "exact RTRL Jacobians")?;
        Ok(Exact {
            batch,
            p,
            m: try_zeros(m, "exact RTRL sensitivities")?,
            next: try_zeros(m, "exact RTRL sensitivities")?,
            jac: try_zeros(j, "exact RTRL Jacobians")?,
        })
    }

    pub fn reset(&mut self) {
        self.m.fill(T::ZERO);
    }

    /// Advances M from step t-1 to t. `s_prev` is the state before the step.
    pub fn step(&mut self, sh: &CellShape, params: &[T], x: &[T], s_prev: &[T], loc: &Local<T>) {
        let (h, c, g_n, i) = (sh.hidden, sh.kind.comps(), sh.kind.gates(), sh.input);
        let (bsz, p) = (self.batch, self.p);
        let (n, bp) = (c * h, bsz * p);
        let w_hh = &params[sh.off_whh()..sh.off_bih()];
        // J^h_b: rows (k, c) = sum_g beta[c][g][k] W_hh[gH+k, :] + gamma[c][h][k] e_k.
        for b in 0..bsz {
            for k in 0..h {
                for cc in 0..c {
                    let row = &mut self.jac[(b * n + k * c + cc) * h..(b * n + k * c + cc + 1) * h];
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
        // M'_b = J^h_b M^h_b: the only O(n^2 P) work, one GEMM per sequence
        // (threaded inside along its outputs).
        for b in 0..bsz {
            let jb = Op::new(&self.jac[b * n * h..(b + 1) * n * h], n, h);
            let mh = Op { data: &self.m[b * p..], rows: h, cols: p, ld: c * bp, trans: false };
            gemm(&mut self.next[b * p..], bp, jb, mh, T::ONE, false);
        }
        let old = &self.m;
        let update = |(k, blk): (usize, &mut [T])| {
            for b in 0..bsz {
                if c == 2 {
                    // The LSTM's direct dependence on its old cell state.
                    let oc = &old[(k * c + 1) * bp + b * p..(k * c + 1) * bp + (b + 1) * p];
                    for cc in 0..c {
                        let gm = loc.gamma[Local::<T>::gi(sh, b, cc, 1, k)];
                        for (d, &o) in blk[cc * bp + b * p..cc * bp + (b + 1) * p].iter_mut().zip(oc) {
                            *d += gm * o;
                        }
                    }
                }
                let x_b = &x[b * i..(b + 1) * i];
                let h_b = &s_prev[b * n..b * n + h];
                for cc in 0..c {
                    add_immediate(
                        sh,
                        loc,
                        b,
                        cc,
                        k,
                        x_b,
                        h_b,
                        &mut blk[cc * bp + b * p..cc * bp + (b + 1) * p],
                    );
                }
            }
        };
        // Threads only pay off above a few hundred thousand updates per step.
        if super::worth_threads(self.next.len()) {
            self.next.par_chunks_mut(c * bp).enumerate().for_each(update);
        } else {
            self.next.chunks_mut(c * bp).enumerate().for_each(update);
        }
        std::mem::swap(&mut self.m, &mut self.next);
    }

    /// grad += sum_b sum_k dloss_dh[b, k] M[k, h, b, :], split along parameters.
    pub fn accumulate(&self, sh: &CellShape, dloss_dh: &[T], grad: &mut [T]) {
        let (h, c, bsz, p) = (sh.hidden, sh.kind.comps(), self.batch, self.p);
        const CHUNK: usize = 2048;
        let m = &self.m;
        let add = |(ci, gch): (usize, &mut [T])| {
            let (lo, len) = (ci * CHUNK, gch.len());
            for k in 0..h {
                for b in 0..bsz {
                    let w = dloss_dh[b * h + k];
                    let base = (k * c * bsz + b) * p + lo;
                    for (gv, &mv) in gch.iter_mut().zip(&m[base..base + len]) {
                        *gv += w * mv;
                    }
                }
            }
        };
        if super::worth_threads(h * bsz * p) {
            grad.par_chunks_mut(CHUNK).enumerate().for_each(add);
        } else {
            grad.chunks_mut(CHUNK).enumerate().for_each(add);
        }
    }
}
