//! GRU cell, gates r, z, n (torch's formula, reset applied after the
//! recurrent product):
//! `r = σ(x_r + W_hr h + b_hr)`, `z = σ(x_z + W_hz h + b_hz)`,
//! `n = tanh(x_n + r * (W_hn h + b_hn))`, `h' = (1 - z) n + z h`.

use super::Cell;
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

    fn forward(
        &self,
        h: usize,
        gates: &mut [T],
        rec: &[T],
        rec_bias: &[T],
        h_prev: &[T],
        _c_prev: &[T],
        _c_new: &mut [T],
        out: &mut [T],
        extra: &mut [T],
    ) {
        let b_hn = &rec_bias[2 * h..];
        for ((((row, rr), hp), o), hn) in gates
            .chunks_exact_mut(3 * h)
            .zip(rec.chunks_exact(3 * h))
            .zip(h_prev.chunks_exact(h))
            .zip(out.chunks_exact_mut(h))
            .zip(extra.chunks_exact_mut(h))
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

    fn backward(
        &self,
        h: usize,
        gates: &[T],
        extra: &[T],
        h_prev: &[T],
        _c_prev: &[T],
        _c_new: &[T],
        dout: &[T],
        _dc: &mut [T],
        dgx: &mut [T],
        dgh: &mut [T],
        dh_prev: &mut [T],
    ) {
        for ((((((row, hn), hp), d), gx), gh), dhp) in gates
            .chunks_exact(3 * h)
            .zip(extra.chunks_exact(h))
            .zip(h_prev.chunks_exact(h))
            .zip(dout.chunks_exact(h))
            .zip(dgx.chunks_exact_mut(3 * h))
            .zip(dgh.chunks_exact_mut(3 * h))
            .zip(dh_prev.chunks_exact_mut(h))
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
}
