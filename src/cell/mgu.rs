//! Minimal gated unit (Zhou et al. 2016, "Minimal gated unit for recurrent
//! neural networks"), gates f, n, with the forget gate applied after the
//! recurrent product as in torch's GRU (one recurrent product per step):
//! `f = σ(x_f + W_hf h + b_hf)`, `n = tanh(x_n + f * (W_hn h + b_hn))`,
//! `h' = (1 - f) h + f n` (x_g = `W_ig x + b_ig`). The paper's
//! `tanh(W x + U (f*h) + b)` differs in where f multiplies.

use super::{BackIo, Cell, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Minimal gated unit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mgu;

impl<T: Float> Cell<T> for Mgu {
    const GATES: usize = 2;
    const HAS_C: bool = false;
    /// `W_hn h + b_hn`.
    const EXTRA: usize = 1;
    const SPLIT: bool = true;

    /// `b_hn` stays inside `f * (W_hn h + b_hn)`; the f part folds.
    fn split_bias(&self, h: usize, b_ih: &[T], b_hh: &[T], input_bias: &mut [T], rec_bias: &mut [T]) {
        for j in 0..2 * h {
            if j < h {
                input_bias[j] = b_ih[j] + b_hh[j];
                rec_bias[j] = T::ZERO;
            } else {
                input_bias[j] = b_ih[j];
                rec_bias[j] = b_hh[j];
            }
        }
    }

    fn forward(&self, s: StepIo<'_, T>) {
        let h = s.h;
        let b_hn = &s.rec_bias[h..2 * h];
        for ((((row, rr), hp), o), hn) in s
            .gates
            .chunks_exact_mut(2 * h)
            .zip(s.rec.chunks_exact(2 * h))
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.out.chunks_exact_mut(h))
            .zip(s.extra.chunks_exact_mut(h))
        {
            for j in 0..h {
                row[j] += rr[j];
            }
            sigmoid_inplace(&mut row[..h]);
            let (f, n) = row.split_at_mut(h);
            for j in 0..h {
                hn[j] = rr[h + j] + b_hn[j];
                n[j] += f[j] * hn[j];
            }
            tanh_inplace(n);
            for j in 0..h {
                o[j] = (T::ONE - f[j]) * hp[j] + f[j] * n[j];
            }
        }
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let h = s.h;
        for ((((((row, hn), hp), d), gx), gh), dhp) in s
            .gates
            .chunks_exact(2 * h)
            .zip(s.extra.chunks_exact(h))
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.dout.chunks_exact(h))
            .zip(s.dgx.chunks_exact_mut(2 * h))
            .zip(s.dgh.chunks_exact_mut(2 * h))
            .zip(s.dh_prev.chunks_exact_mut(h))
        {
            let (f, n) = row.split_at(h);
            for j in 0..h {
                let dn = d[j] * f[j] * (T::ONE - n[j] * n[j]);
                // f enters twice: the interpolation and the candidate.
                let df = (d[j] * (n[j] - hp[j]) + dn * hn[j]) * f[j] * (T::ONE - f[j]);
                dhp[j] = d[j] * (T::ONE - f[j]);
                gx[j] = df;
                gx[h + j] = dn;
                gh[j] = df;
                gh[h + j] = dn * f[j];
            }
        }
    }

    /// `h' = (1-f) h + f n`, `n = tanh(A_n + f B_n)`.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let (h, one) = (r.h, T::ONE);
        let (a, bv, sp) = (r.a, r.b, r.s_prev);
        for (v, &w) in a[..h].iter_mut().zip(bv.iter()) {
            *v += w;
        }
        sigmoid_inplace(&mut a[..h]);
        for k in 0..h {
            a[h + k] += a[k] * bv[h + k];
        }
        tanh_inplace(&mut a[h..]);
        for k in 0..h {
            let (fg, ng, bn, hp) = (a[k], a[h + k], bv[h + k], sp[k]);
            r.s_new[k] = (one - fg) * hp + fg * ng;
            let qn = fg * (one - ng * ng);
            let df = ((ng - hp) + qn * bn) * fg * (one - fg);
            r.alpha[k] = df;
            r.beta[k] = df;
            r.alpha[h + k] = qn;
            r.beta[h + k] = qn * fg;
            r.gamma[k] = one - fg;
        }
    }
}
