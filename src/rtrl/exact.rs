//! Exact RTRL: the full sensitivity recursion `M_t = J_t M_{t-1} + F_t`.
//!
//! Layout: `M[k][c][b][p]` (unit, state component, sequence, parameter), so
//! that (i) the h-rows of all sequences form one `H x (B*P)` matrix with row
//! stride `C*B*P` and `W_hh M^h` is a single GEMM `(G*H x H) (H x B*P)` per
//! step, and (ii) each unit owns one contiguous block, updated in parallel
//! (split along outputs: results do not depend on the thread count).
//!
//! Per unit k, component c, sequence b (see `local.rs` for the coefficients):
//! `M'_{c,k} = sum_d gamma[c][d][k] M_{d,k} + sum_g beta[c][g][k] (W_hh M^h)_{gH+k} + F_{c,k}`.

use super::local::{add_immediate, Local};
use super::CellShape;
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op};
use rayon::prelude::*;

pub struct Exact<T> {
    batch: usize,
    p: usize,
    /// (H, C, B, P) sensitivities.
    m: Vec<T>,
    /// (G*H, B, P) product W_hh M^h.
    q: Vec<T>,
}

impl<T: Float> Exact<T> {
    pub fn new(sh: &CellShape, batch: usize) -> Result<Self> {
        let p = sh.n_params();
        let m = checked_size(&[sh.state_len(), batch, p], "exact RTRL sensitivities")?;
        let q = checked_size(&[sh.rows(), batch, p], "exact RTRL workspace")?;
        Ok(Exact {
            batch,
            p,
            m: try_zeros(m, "exact RTRL sensitivities")?,
            q: try_zeros(q, "exact RTRL workspace")?,
        })
    }

    pub fn reset(&mut self) {
        self.m.fill(T::ZERO);
    }

    /// Advances M from step t-1 to t. `s_prev` is the state before the step.
    pub fn step(&mut self, sh: &CellShape, params: &[T], x: &[T], s_prev: &[T], loc: &Local<T>) {
        let (h, c, g_n, i) = (sh.hidden, sh.kind.comps(), sh.kind.gates(), sh.input);
        let (bsz, p) = (self.batch, self.p);
        let bp = bsz * p;
        let w_hh = &params[sh.off_whh()..sh.off_bih()];
        // Q = W_hh M^h: the only O(n^2 P) work.
        let mh = Op { data: &self.m[..], rows: h, cols: bp, ld: c * bp, trans: false };
        gemm(&mut self.q, bp, Op::new(w_hh, sh.rows(), h), mh, T::ONE, false);
        let q = &self.q;
        let update = |(k, blk): (usize, &mut [T])| {
            for b in 0..bsz {
                // Direct state dependence (gamma), in place over the unit's components.
                if c == 1 {
                    let gm = loc.gamma[Local::<T>::gi(sh, b, 0, 0, k)];
                    for v in &mut blk[b * p..(b + 1) * p] {
                        *v *= gm;
                    }
                } else {
                    let gam = |cc: usize, d: usize| loc.gamma[Local::<T>::gi(sh, b, cc, d, k)];
                    let (ghh, ghc, gch, gcc) = (gam(0, 0), gam(0, 1), gam(1, 0), gam(1, 1));
                    let (hpart, cpart) = blk.split_at_mut(bp);
                    for (vh, vc) in hpart[b * p..(b + 1) * p].iter_mut().zip(&mut cpart[b * p..(b + 1) * p]) {
                        let (oh, oc) = (*vh, *vc);
                        *vh = ghh * oh + ghc * oc;
                        *vc = gch * oh + gcc * oc;
                    }
                }
                for cc in 0..c {
                    let dst = &mut blk[cc * bp + b * p..cc * bp + (b + 1) * p];
                    for g in 0..g_n {
                        let be = loc.beta[Local::<T>::ab(sh, b, cc, g, k)];
                        let qrow = &q[(g * h + k) * bp + b * p..(g * h + k) * bp + (b + 1) * p];
                        for (d, &qv) in dst.iter_mut().zip(qrow) {
                            *d += be * qv;
                        }
                    }
                    let x_b = &x[b * i..(b + 1) * i];
                    let h_b = &s_prev[b * c * h..b * c * h + h];
                    add_immediate(sh, loc, b, cc, k, x_b, h_b, dst);
                }
            }
        };
        // Threads only pay off above a few hundred thousand updates per step.
        if super::worth_threads(self.m.len() * (g_n + c)) {
            self.m.par_chunks_mut(c * bp).enumerate().for_each(update);
        } else {
            self.m.chunks_mut(c * bp).enumerate().for_each(update);
        }
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
