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

use super::local::Local;
use super::CellShape;
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use rayon::prelude::*;

pub struct Snap1<T> {
    batch: usize,
    p: usize,
    /// (B, C, P): sensitivity of each parameter on its own unit.
    m: Vec<T>,
}

impl<T: Float> Snap1<T> {
    pub fn new(sh: &CellShape, batch: usize) -> Result<Self> {
        let p = sh.n_params();
        let n = checked_size(&[batch, sh.kind.comps(), p], "SnAp-1 sensitivities")?;
        Ok(Snap1 { batch, p, m: try_zeros(n, "SnAp-1 sensitivities")? })
    }

    pub fn reset(&mut self) {
        self.m.fill(T::ZERO);
    }

    pub fn step(&mut self, sh: &CellShape, params: &[T], x: &[T], s_prev: &[T], loc: &Local<T>) {
        let (h, c, i, r) = (sh.hidden, sh.kind.comps(), sh.input, sh.rows());
        let p = self.p;
        let w_hh = &params[sh.off_whh()..sh.off_bih()];
        let update = |(b, mb): (usize, &mut [T])| {
            // Unit-diagonal Jacobian blocks Jd[c][d][k].
            let mut jd = vec![T::ZERO; c * c * h];
            for cc in 0..c {
                for d in 0..c {
                    for k in 0..h {
                        let mut v = loc.gamma[Local::<T>::gi(sh, b, cc, d, k)];
                        if d == 0 {
                            for g in 0..sh.kind.gates() {
                                v += loc.beta[Local::<T>::ab(sh, b, cc, g, k)] * w_hh[(g * h + k) * h + k];
                            }
                        }
                        jd[(cc * c + d) * h + k] = v;
                    }
                }
            }
            let x_b = &x[b * i..(b + 1) * i];
            let h_b = &s_prev[b * c * h..b * c * h + h];
            // (parameter range, coefficient table, input of each column) per block.
            let blocks: [(usize, &[T], &[T], usize); 4] = [
                (0, &loc.alpha, x_b, i),
                (sh.off_whh(), &loc.beta, h_b, h),
                (sh.off_bih(), &loc.alpha, &[], 1),
                (sh.off_bhh(), &loc.beta, &[], 1),
            ];
            for (off, coef, inp, width) in blocks {
                for row in 0..r {
                    let (g, k) = (row / h, row % h);
                    let base = off + row * width;
                    let input = |j: usize| if inp.is_empty() { T::ONE } else { inp[j] };
                    if c == 1 {
                        let (j0, a0) = (jd[k], coef[Local::<T>::ab(sh, b, 0, g, k)]);
                        for (j, v) in mb[base..base + width].iter_mut().enumerate() {
                            *v = j0 * *v + a0 * input(j);
                        }
                    } else {
                        let jj = |cc: usize, d: usize| jd[(cc * c + d) * h + k];
                        let (jhh, jhc, jch, jcc) = (jj(0, 0), jj(0, 1), jj(1, 0), jj(1, 1));
                        let ah = coef[Local::<T>::ab(sh, b, 0, g, k)];
                        let ac = coef[Local::<T>::ab(sh, b, 1, g, k)];
                        let (mh, mc) = mb.split_at_mut(p);
                        for j in 0..width {
                            let (oh, oc) = (mh[base + j], mc[base + j]);
                            let u = input(j);
                            mh[base + j] = jhh * oh + jhc * oc + ah * u;
                            mc[base + j] = jch * oh + jcc * oc + ac * u;
                        }
                    }
                }
            }
        };
        if super::worth_threads(self.m.len()) {
            self.m.par_chunks_mut(c * p).enumerate().for_each(update);
        } else {
            self.m.chunks_mut(c * p).enumerate().for_each(update);
        }
    }

    /// grad[p] += sum_b dloss_dh[b, k(p)] m_h[b, p] (sequences in order).
    pub fn accumulate(&self, sh: &CellShape, dloss_dh: &[T], grad: &mut [T]) {
        let (h, c, i, r, p) = (sh.hidden, sh.kind.comps(), sh.input, sh.rows(), self.p);
        for b in 0..self.batch {
            let mh = &self.m[b * c * p..b * c * p + p];
            let d = &dloss_dh[b * h..(b + 1) * h];
            for (off, width) in [(0, i), (sh.off_whh(), h), (sh.off_bih(), 1), (sh.off_bhh(), 1)] {
                for row in 0..r {
                    let w = d[row % h];
                    let base = off + row * width;
                    for (gv, &mv) in grad[base..base + width].iter_mut().zip(&mh[base..base + width]) {
                        *gv += w * mv;
                    }
                }
            }
        }
    }
}
