//! SnAp-1 (Menick et al., 2021): keep, for each parameter, only its
//! sensitivity on the state of the unit it feeds directly (h_k, and c_k for
//! the LSTM), i.e. the sparsity pattern of the immediate Jacobian. The
//! recursion then uses only the unit-diagonal block of J_t:
//!
//! `m'_c[p] = sum_d Jd[c][d][k(p)] m_d[p] + F_c[p]`,
//! `Jd[c][d][k] = gamma[c][d][k] + [d = h] sum_g beta[c][g][k] W_hh[gH+k, k]`.
//!
//! O(P) per step and sequence; exact when every J_t is unit-diagonal
//! (diagonal W_hh blocks).

use super::local::{param_blocks, Local};
use super::CellShape;
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use crate::kernels::wide;
use rayon::prelude::*;

pub struct Snap1<T> {
    batch: usize,
    p: usize,
    /// (B, C, P): sensitivity of each parameter on its own unit.
    m: Vec<T>,
    /// (B, C, C, H) scratch: the unit-diagonal Jacobian blocks of each sequence.
    jd: Vec<T>,
}

impl<T: Float> Snap1<T> {
    pub fn new(sh: &CellShape, batch: usize) -> Result<Self> {
        let p = sh.n_params();
        let c = sh.kind.comps();
        let n = checked_size(&[batch, c, p], "SnAp-1 sensitivities")?;
        let jd = checked_size(&[batch, c, c, sh.hidden], "SnAp-1 Jacobians")?;
        Ok(Snap1 {
            batch,
            p,
            m: try_zeros(n, "SnAp-1 sensitivities")?,
            jd: try_zeros(jd, "SnAp-1 Jacobians")?,
        })
    }

    pub fn reset(&mut self) {
        self.m.fill(T::ZERO);
    }

    pub fn step(&mut self, sh: &CellShape, params: &[T], x: &[T], s_prev: &[T], loc: &Local<T>) {
        let (h, c, i) = (sh.hidden, sh.kind.comps(), sh.input);
        let p = self.p;
        let w_hh = &params[sh.off_whh()..sh.off_bih()];
        let update = |(b, (mb, jd)): (usize, (&mut [T], &mut [T]))| {
            wide(
                #[inline(always)]
                || {
                    // Unit-diagonal Jacobian blocks Jd[c][d][k].
                    for cc in 0..c {
                        for d in 0..c {
                            for k in 0..h {
                                let mut v = loc.gamma[Local::<T>::gi(sh, b, cc, d, k)];
                                if d == 0 {
                                    for g in 0..sh.kind.gates() {
                                        v += loc.beta[Local::<T>::ab(sh, b, cc, g, k)]
                                            * w_hh[(g * h + k) * h + k];
                                    }
                                }
                                jd[(cc * c + d) * h + k] = v;
                            }
                        }
                    }
                    let x_b = &x[b * i..(b + 1) * i];
                    let h_b = &s_prev[b * c * h..b * c * h + h];
                    let one = [T::ONE];
                    let blocks = param_blocks(sh, &loc.alpha, &loc.beta, &loc.delta, x_b, h_b, &one);
                    let (mh, mc) = mb.split_at_mut(p);
                    for (off, coef, inp, groups) in blocks {
                        let width = inp.len();
                        for row in 0..groups * h {
                            let (g, k) = (row / h, row % h);
                            let cols = off + row * width..off + (row + 1) * width;
                            if c == 1 {
                                let (j0, a0) = (jd[k], coef[Local::<T>::coef_at(sh, groups, b, 0, g, k)]);
                                for (v, &u) in mh[cols].iter_mut().zip(inp) {
                                    *v = j0 * *v + a0 * u;
                                }
                            } else {
                                let jj = |cc: usize, d: usize| jd[(cc * c + d) * h + k];
                                let (jhh, jhc, jch, jcc) = (jj(0, 0), jj(0, 1), jj(1, 0), jj(1, 1));
                                let ah = coef[Local::<T>::coef_at(sh, groups, b, 0, g, k)];
                                let ac = coef[Local::<T>::coef_at(sh, groups, b, 1, g, k)];
                                for ((vh, vc), &u) in mh[cols.clone()].iter_mut().zip(&mut mc[cols]).zip(inp)
                                {
                                    let (oh, oc) = (*vh, *vc);
                                    *vh = jhh * oh + jhc * oc + ah * u;
                                    *vc = jch * oh + jcc * oc + ac * u;
                                }
                            }
                        }
                    }
                },
            )
        };
        if super::worth_threads(self.m.len()) {
            let tasks = self.m.par_chunks_mut(c * p).zip(self.jd.par_chunks_mut(c * c * h));
            tasks.enumerate().for_each(update);
        } else {
            self.m.chunks_mut(c * p).zip(self.jd.chunks_mut(c * c * h)).enumerate().for_each(update);
        }
    }
    /// grad[p] += sum_b dloss_dh[b, k(p)] m_h[b, p] (sequences in order).
    pub fn accumulate(&self, sh: &CellShape, dloss_dh: &[T], grad: &mut [T]) {
        let (h, c, i, r, p) = (sh.hidden, sh.kind.comps(), sh.input, sh.rows(), self.p);
        wide(
            #[inline(always)]
            || {
                for b in 0..self.batch {
                    let mh = &self.m[b * c * p..b * c * p + p];
                    let d = &dloss_dh[b * h..(b + 1) * h];
                    let q = sh.own_len();
                    let blocks =
                        [(0, i, r), (sh.off_whh(), h, r), (sh.off_bih(), 1, r), (sh.off_bhh(), 1, r)];
                    for (off, width, rows) in blocks.into_iter().chain([(sh.off_own(), 1, q)]) {
                        for row in 0..rows {
                            let w = d[row % h];
                            let base = off + row * width;
                            for (gv, &mv) in grad[base..base + width].iter_mut().zip(&mh[base..base + width])
                            {
                                *gv += w * mv;
                            }
                        }
                    }
                }
            },
        )
    }
}
