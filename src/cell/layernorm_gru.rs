//! Layer-normalised GRU (Ba et al. 2016), the GRU analogue of
//! `layernorm_lstm.rs`: torch's GRU with LayerNorms in place of the linear
//! biases, gates r, z, n:
//!
//! ```text
//! a = LN_i(W_ih x),  b = LN_h(W_hh h)        LayerNorm over all 3H values each
//! r = σ(a_r + b_r),  z = σ(a_z + b_z),  n = tanh(a_n + r b_n)
//! h' = (1 - z) n + z h
//! ```
//!
//! The gains and biases are the cell's own parameters
//! `layernorm_{i,h}_{weight,bias}` `(3, H)`. No RTRL (LayerNorm couples the
//! units).

use super::layernorm_lstm::{normalize, normalize_backward};
use super::{BackIo, Cell, OwnParam, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Layer-normalised GRU cell.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerNormGru;

/// Offsets (in units of H) of the own parameters.
const GAIN_I: usize = 0;
const BIAS_I: usize = 3;
const GAIN_H: usize = 6;
const BIAS_H: usize = 9;

/// Offsets (in units of H) of the saved values per row: the normalised
/// `W_ih x` and `W_hh h` (3 each), `b_n` (after its LayerNorm) and the two
/// reciprocal standard deviations (first value of a block each).
const X_I: usize = 0;
const X_H: usize = 3;
const B_N: usize = 6;
const RSTD: usize = 7;

impl<T: Float> Cell<T> for LayerNormGru {
    const GATES: usize = 3;
    const HAS_C: bool = false;
    const EXTRA: usize = 9;
    const SPLIT: bool = true;
    const RTRL: bool = false;
    const OWN: &'static [OwnParam] = &[
        OwnParam { name: "layernorm_i_weight", rows: 3 },
        OwnParam { name: "layernorm_i_bias", rows: 3 },
        OwnParam { name: "layernorm_h_weight", rows: 3 },
        OwnParam { name: "layernorm_h_bias", rows: 3 },
    ];

    fn forward(&self, s: StepIo<'_, T>) {
        let (h, own) = (s.h, s.own);
        let p = |at: usize| &own[at * h..(at + 3) * h];
        let (gi, bi, gh, bh) = (p(GAIN_I), p(BIAS_I), p(GAIN_H), p(BIAS_H));
        for ((((row, rec), hp), o), ex) in s
            .gates
            .chunks_exact_mut(3 * h)
            .zip(s.rec.chunks_exact(3 * h))
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.out.chunks_exact_mut(h))
            .zip(s.extra.chunks_exact_mut(9 * h))
        {
            let (xi, rest) = ex.split_at_mut(X_H * h);
            let (xh, rest) = rest.split_at_mut((B_N - X_H) * h);
            let (bn, rstd) = rest.split_at_mut(h);
            xi.copy_from_slice(row);
            xh.copy_from_slice(rec);
            rstd[0] = normalize(xi);
            rstd[h] = normalize(xh);
            for j in 0..2 * h {
                row[j] = gi[j] * xi[j] + bi[j] + gh[j] * xh[j] + bh[j];
            }
            sigmoid_inplace(&mut row[..2 * h]);
            let (rz, n) = row.split_at_mut(2 * h);
            for j in 0..h {
                bn[j] = gh[2 * h + j] * xh[2 * h + j] + bh[2 * h + j];
                n[j] = gi[2 * h + j] * xi[2 * h + j] + bi[2 * h + j] + rz[j] * bn[j];
            }
            tanh_inplace(n);
            for j in 0..h {
                o[j] = (T::ONE - rz[h + j]) * n[j] + rz[h + j] * hp[j];
            }
        }
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let (h, one, own) = (s.h, T::ONE, s.own);
        let (gi, gh) = (&own[GAIN_I * h..BIAS_I * h], &own[GAIN_H * h..BIAS_H * h]);
        let (dgi, rest) = s.down.split_at_mut(BIAS_I * h);
        let (dbi, rest) = rest.split_at_mut(3 * h);
        let (dgh, dbh) = rest.split_at_mut(3 * h);
        // Scratch for one row: the gradients w.r.t. the two normalised sums.
        let mut da = vec![T::ZERO; 3 * h];
        let mut db = vec![T::ZERO; 3 * h];
        for ((((((row, ex), hp), d), gx), ghr), dhp) in s
            .gates
            .chunks_exact(3 * h)
            .zip(s.extra.chunks_exact(9 * h))
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.dout.chunks_exact(h))
            .zip(s.dgx.chunks_exact_mut(3 * h))
            .zip(s.dgh.chunks_exact_mut(3 * h))
            .zip(s.dh_prev.chunks_exact_mut(h))
        {
            let (xi, xh, bn) = (&ex[X_I * h..X_H * h], &ex[X_H * h..B_N * h], &ex[B_N * h..RSTD * h]);
            let (ri, rh) = (ex[RSTD * h], ex[(RSTD + 1) * h]);
            let (r, z, n) = (&row[..h], &row[h..2 * h], &row[2 * h..]);
            for j in 0..h {
                let dn = d[j] * (one - z[j]) * (one - n[j] * n[j]);
                let dz = d[j] * (hp[j] - n[j]) * z[j] * (one - z[j]);
                let dr = dn * bn[j] * r[j] * (one - r[j]);
                dhp[j] = d[j] * z[j];
                da[j] = dr;
                da[h + j] = dz;
                da[2 * h + j] = dn;
                db[j] = dr;
                db[h + j] = dz;
                db[2 * h + j] = dn * r[j];
            }
            normalize_backward(&da, xi, ri, gi, dgi, dbi, gx);
            normalize_backward(&db, xh, rh, gh, dgh, dbh, ghr);
        }
    }

    /// Never called: `RTRL` is false, so `crate::rtrl` refuses the cell.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let _ = r;
    }
}
