//! GRU cell, gates r, z, n (torch's formula, reset applied after the
//! recurrent product):
//! `r = σ(x_r + W_hr h + b_hr)`, `z = σ(x_z + W_hz h + b_hz)`,
//! `n = tanh(x_n + r * (W_hn h + b_hn))`, `h' = (1 - z) n + z h`.

use super::{BackIo, Cell, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Gated recurrent unit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gru;

impl<T: Float> Cell<T> for Gru {
    const GATES: usize = 3;
    const HAS_C: bool = false;
    const EXTRA: usize = 1;
    const SPLIT: bool = true;

    /// `b_hn` stays inside `r * (W_hn h + b_hn)`; the r and z parts fold.
    fn split_bias(&self, h: usize, b_ih: &[T], b_hh: &[T], input_bias: &mut [T], rec_bias: &mut [T]) {
        for j in 0..3 * h {
            if j < 2 * h {
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
        let b_hn = &s.rec_bias[2 * h..];
        for ((((row, rr), hp), o), hn) in s
            .gates
            .chunks_exact_mut(3 * h)
            .zip(s.rec.chunks_exact(3 * h))
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.out.chunks_exact_mut(h))
            .zip(s.extra.chunks_exact_mut(h))
        {
            for j in 0..2 * h {
                row[j] += rr[j];
            }
            sigmoid_inplace(&mut row[..2 * h]);
            let (rz, n) = row.split_at_mut(2 * h);
            let r = &rz[..h];
            for j in 0..h {
                hn[j] = rr[2 * h + j] + b_hn[j];
                n[j] += r[j] * hn[j];
            }
            tanh_inplace(n);
            let z = &rz[h..];
            for j in 0..h {
                o[j] = (T::ONE - z[j]) * n[j] + z[j] * hp[j];
            }
        }
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let h = s.h;
        for ((((((row, hn), hp), d), gx), gh), dhp) in s
            .gates
            .chunks_exact(3 * h)
            .zip(s.extra.chunks_exact(h))
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.dout.chunks_exact(h))
            .zip(s.dgx.chunks_exact_mut(3 * h))
            .zip(s.dgh.chunks_exact_mut(3 * h))
            .zip(s.dh_prev.chunks_exact_mut(h))
        {
            let (r, rest) = row.split_at(h);
            let (z, n) = rest.split_at(h);
            for j in 0..h {
                let dn = d[j] * (T::ONE - z[j]) * (T::ONE - n[j] * n[j]);
                let dz = d[j] * (hp[j] - n[j]) * z[j] * (T::ONE - z[j]);
                let dr = dn * hn[j] * r[j] * (T::ONE - r[j]);
                dhp[j] = d[j] * z[j];
                gx[j] = dr;
                gx[h + j] = dz;
                gx[2 * h + j] = dn;
                gh[j] = dr;
                gh[h + j] = dz;
                gh[2 * h + j] = dn * r[j];
            }
        }
    }

    /// `h' = (1-z) n + z h`, `n = tanh(A_n + r B_n)`: the n gate sees `B_n`
    /// scaled by r, and h' depends directly on h through z.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let (h, one) = (r.h, T::ONE);
        let (a, bv, sp) = (r.a, r.b, r.s_prev);
        for (v, &w) in a[..2 * h].iter_mut().zip(bv.iter()) {
            *v += w;
        }
        sigmoid_inplace(&mut a[..2 * h]);
        for k in 0..h {
            a[2 * h + k] += a[k] * bv[2 * h + k];
        }
        tanh_inplace(&mut a[2 * h..]);
        for k in 0..h {
            let (rg, zg, ng, bn) = (a[k], a[h + k], a[2 * h + k], bv[2 * h + k]);
            let hp = sp[k];
            r.s_new[k] = (one - zg) * ng + zg * hp;
            let qn = (one - zg) * (one - ng * ng);
            let dr = qn * bn * rg * (one - rg);
            let dz = (hp - ng) * zg * (one - zg);
            r.alpha[k] = dr;
            r.beta[k] = dr;
            r.alpha[h + k] = dz;
            r.beta[h + k] = dz;
            r.alpha[2 * h + k] = qn;
            r.beta[2 * h + k] = qn * rg;
            r.gamma[k] = zg;
        }
    }
}
