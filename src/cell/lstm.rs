//! LSTM cell, gates i, f, g, o (torch order):
//! `c = f*c_prev + i*g`, `out = o*tanh(c)` (the layer projects `out` with
//! `W_hr` when `proj_size > 0`). `tanh(c)` is saved for the backward.

use super::Cell;
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Long short-term memory cell.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lstm;

impl<T: Float> Cell<T> for Lstm {
    const GATES: usize = 4;
    const HAS_C: bool = true;
    const EXTRA: usize = 1;
    const SPLIT: bool = false;

    fn forward(
        &self,
        h: usize,
        gates: &mut [T],
        rec: &[T],
        _rec_bias: &[T],
        _h_prev: &[T],
        c_prev: &[T],
        c_new: &mut [T],
        out: &mut [T],
        extra: &mut [T],
    ) {
        for (g, &r) in gates.iter_mut().zip(rec) {
            *g += r;
        }
        for ((((row, cp), cn), o), tc) in gates
            .chunks_exact_mut(4 * h)
            .zip(c_prev.chunks_exact(h))
            .zip(c_new.chunks_exact_mut(h))
            .zip(out.chunks_exact_mut(h))
            .zip(extra.chunks_exact_mut(h))
        {
            sigmoid_inplace(&mut row[..2 * h]);
            tanh_inplace(&mut row[2 * h..3 * h]);
            sigmoid_inplace(&mut row[3 * h..]);
            let (i, rest) = row.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (g, og) = rest.split_at(h);
            for j in 0..h {
                cn[j] = f[j] * cp[j] + i[j] * g[j];
            }
            tc.copy_from_slice(cn);
            tanh_inplace(tc);
            for j in 0..h {
                o[j] = og[j] * tc[j];
            }
        }
    }

    fn backward(
        &self,
        h: usize,
        gates: &[T],
        extra: &[T],
        _h_prev: &[T],
        c_prev: &[T],
        _c_new: &[T],
        dout: &[T],
        dc: &mut [T],
        dgx: &mut [T],
        _dgh: &mut [T],
        _dh_prev: &mut [T],
    ) {
        for (((((row, drow), cp), tc), dm), dcr) in gates
            .chunks_exact(4 * h)
            .zip(dgx.chunks_exact_mut(4 * h))
            .zip(c_prev.chunks_exact(h))
            .zip(extra.chunks_exact(h))
            .zip(dout.chunks_exact(h))
            .zip(dc.chunks_exact_mut(h))
        {
            let (i, rest) = row.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (g, o) = rest.split_at(h);
            let (di, rest) = drow.split_at_mut(h);
            let (df, rest) = rest.split_at_mut(h);
            let (dg, do_) = rest.split_at_mut(h);
            for j in 0..h {
                let dct = dcr[j] + dm[j] * o[j] * (T::ONE - tc[j] * tc[j]);
                do_[j] = dm[j] * tc[j] * o[j] * (T::ONE - o[j]);
                di[j] = dct * g[j] * i[j] * (T::ONE - i[j]);
                df[j] = dct * cp[j] * f[j] * (T::ONE - f[j]);
                dg[j] = dct * i[j] * (T::ONE - g[j] * g[j]);
                dcr[j] = dct * f[j];
            }
        }
    }
}
