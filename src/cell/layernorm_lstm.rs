//! Layer-normalised LSTM (Ba et al. 2016), the formula of PyTorch's
//! `benchmarks/fastrnns/custom_lstms.py` (`LayerNormLSTMCell`), gates i, f, g, o:
//!
//! ```text
//! z  = LN_i(W_ih x) + LN_h(W_hh h)          LayerNorm over all 4H values, no linear biases
//! i, f, o = σ(z_i, z_f, z_o),  g = tanh(z_g)
//! c' = LN_c(f c + i g)                       LayerNorm over H; c' is the carried cell state
//! h' = o tanh(c')
//! ```
//!
//! `LN(v) = γ (v - mean v) / sqrt(var v + 1e-5) + β` (biased variance, as
//! `torch.nn.LayerNorm`). The gains and biases are the cell's own parameters
//! `layernorm_{i,h}_{weight,bias}` `(4, H)` (torch's `(4H,)`) and
//! `layernorm_c_{weight,bias}` `(H,)`. The layer must run without linear
//! biases (they would be normalised away).
//!
//! LayerNorm couples the units of a layer, so the cell has no unit-local RTRL
//! partials (`Cell::RTRL` is false).

use super::{BackIo, Cell, OwnParam, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Layer-normalised LSTM cell.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerNormLstm;

/// LayerNorm's epsilon (torch's default).
const EPS: f64 = 1e-5;

/// Offsets (in units of H) of the own parameters: gains and biases of LN_i,
/// LN_h (4 rows each) and LN_c (1 row each).
const GAIN_I: usize = 0;
const BIAS_I: usize = 4;
const GAIN_H: usize = 8;
const BIAS_H: usize = 12;
const GAIN_C: usize = 16;
const BIAS_C: usize = 17;

/// Offsets (in units of H) of the saved values per row: the normalised
/// `W_ih x` and `W_hh h` (4 each), the normalised `f c + i g`, `tanh(c')`,
/// and the three reciprocal standard deviations (first value of a block each).
const X_I: usize = 0;
const X_H: usize = 4;
const X_C: usize = 8;
const TANH_C: usize = 9;
const RSTD: usize = 10;

/// `sum_j f(v_j)` in eight interleaved partial sums (the loop vectorises; fixed order).
#[inline(always)]
fn sum_by<T: Float>(v: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::ZERO; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += f(c[l]);
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &a in chunks.remainder() {
        sum += f(a);
    }
    sum
}

/// `sum_j a_j b_j` in eight interleaved partial sums (as `sum_by`).
#[inline(always)]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

/// `v` normalised in place (`(v - mean) / sqrt(var + eps)`); returns `1 / sqrt(var + eps)`.
pub(super) fn normalize<T: Float>(v: &mut [T]) -> T {
    let n = T::from_f64(v.len() as f64);
    let mean = sum_by(v, |a| a) / n;
    let var = sum_by(v, |a| (a - mean) * (a - mean)) / n;
    let rstd = T::ONE / (var + T::from_f64(EPS)).sqrt();
    for a in v.iter_mut() {
        *a = (*a - mean) * rstd;
    }
    rstd
}

/// Backward of `y = γ x̂ + β` with `x̂` the normalised input: adds to the gain
/// and bias gradients and writes `dx` (the gradient w.r.t. the LayerNorm's input).
pub(super) fn normalize_backward<T: Float>(
    dy: &[T],
    xh: &[T],
    rstd: T,
    gain: &[T],
    dgain: &mut [T],
    dbias: &mut [T],
    dx: &mut [T],
) {
    let n = T::from_f64(dy.len() as f64);
    for j in 0..dy.len() {
        dgain[j] += dy[j] * xh[j];
        dbias[j] += dy[j];
        dx[j] = dy[j] * gain[j];
    }
    let m1 = sum_by(dx, |d| d) / n;
    let m2 = dot(dx, xh) / n;
    for j in 0..dy.len() {
        dx[j] = rstd * (dx[j] - m1 - xh[j] * m2);
    }
}

impl<T: Float> Cell<T> for LayerNormLstm {
    const GATES: usize = 4;
    const HAS_C: bool = true;
    const EXTRA: usize = 13;
    /// The input and recurrent parts get different gradients (separate LayerNorms).
    const SPLIT: bool = true;
    const DIRECT: bool = false;
    const RTRL: bool = false;
    const OWN: &'static [OwnParam] = &[
        OwnParam { name: "layernorm_i_weight", rows: 4 },
        OwnParam { name: "layernorm_i_bias", rows: 4 },
        OwnParam { name: "layernorm_h_weight", rows: 4 },
        OwnParam { name: "layernorm_h_bias", rows: 4 },
        OwnParam { name: "layernorm_c_weight", rows: 1 },
        OwnParam { name: "layernorm_c_bias", rows: 1 },
    ];

    fn forward(&self, s: StepIo<'_, T>) {
        let (h, own) = (s.h, s.own);
        let p = |at: usize, rows: usize| &own[at * h..(at + rows) * h];
        let (gi, bi, gh, bh, gc, bc) =
            (p(GAIN_I, 4), p(BIAS_I, 4), p(GAIN_H, 4), p(BIAS_H, 4), p(GAIN_C, 1), p(BIAS_C, 1));
        for (((((row, rec), cp), cn), o), ex) in s
            .gates
            .chunks_exact_mut(4 * h)
            .zip(s.rec.chunks_exact(4 * h))
            .zip(s.c_prev.chunks_exact(h))
            .zip(s.c_new.chunks_exact_mut(h))
            .zip(s.out.chunks_exact_mut(h))
            .zip(s.extra.chunks_exact_mut(13 * h))
        {
            let (xi, rest) = ex.split_at_mut(X_H * h);
            let (xh, rest) = rest.split_at_mut((X_C - X_H) * h);
            let (xc, rest) = rest.split_at_mut(h);
            let (tc, rstd) = rest.split_at_mut(h);
            xi.copy_from_slice(row);
            xh.copy_from_slice(rec);
            rstd[0] = normalize(xi);
            rstd[h] = normalize(xh);
            for j in 0..4 * h {
                row[j] = gi[j] * xi[j] + bi[j] + gh[j] * xh[j] + bh[j];
            }
            sigmoid_inplace(&mut row[..2 * h]);
            tanh_inplace(&mut row[2 * h..3 * h]);
            sigmoid_inplace(&mut row[3 * h..]);
            for j in 0..h {
                xc[j] = row[h + j] * cp[j] + row[j] * row[2 * h + j];
            }
            rstd[2 * h] = normalize(xc);
            for j in 0..h {
                cn[j] = gc[j] * xc[j] + bc[j];
            }
            tc.copy_from_slice(cn);
            tanh_inplace(tc);
            for j in 0..h {
                o[j] = row[3 * h + j] * tc[j];
            }
        }
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let (h, one, own) = (s.h, T::ONE, s.own);
        let p = |at: usize, rows: usize| &own[at * h..(at + rows) * h];
        let (gi, gh, gc) = (p(GAIN_I, 4), p(GAIN_H, 4), p(GAIN_C, 1));
        let (dgi, rest) = s.down.split_at_mut(BIAS_I * h);
        let (dbi, rest) = rest.split_at_mut(4 * h);
        let (dgh, rest) = rest.split_at_mut(4 * h);
        let (dbh, rest) = rest.split_at_mut(4 * h);
        let (dgc, dbc) = rest.split_at_mut(h);
        // Scratch for one row: dL/dz (4H), dL/dc' and dL/d(f c + i g) (H each).
        let mut dz = vec![T::ZERO; 4 * h];
        let mut dcn = vec![T::ZERO; h];
        let mut du = vec![T::ZERO; h];
        for ((((((row, ex), cp), dm), dcr), gx), ghr) in s
            .gates
            .chunks_exact(4 * h)
            .zip(s.extra.chunks_exact(13 * h))
            .zip(s.c_prev.chunks_exact(h))
            .zip(s.dout.chunks_exact(h))
            .zip(s.dc.chunks_exact_mut(h))
            .zip(s.dgx.chunks_exact_mut(4 * h))
            .zip(s.dgh.chunks_exact_mut(4 * h))
        {
            let (xi, xh, xc) = (&ex[X_I * h..X_H * h], &ex[X_H * h..X_C * h], &ex[X_C * h..TANH_C * h]);
            let tc = &ex[TANH_C * h..RSTD * h];
            let (ri, rh, rc) = (ex[RSTD * h], ex[(RSTD + 1) * h], ex[(RSTD + 2) * h]);
            let (i, f, g, o) = (&row[..h], &row[h..2 * h], &row[2 * h..3 * h], &row[3 * h..]);
            for j in 0..h {
                dz[3 * h + j] = dm[j] * tc[j] * o[j] * (one - o[j]);
                dcn[j] = dcr[j] + dm[j] * o[j] * (one - tc[j] * tc[j]);
            }
            normalize_backward(&dcn, xc, rc, gc, dgc, dbc, &mut du);
            for j in 0..h {
                dz[j] = du[j] * g[j] * i[j] * (one - i[j]);
                dz[h + j] = du[j] * cp[j] * f[j] * (one - f[j]);
                dz[2 * h + j] = du[j] * i[j] * (one - g[j] * g[j]);
                dcr[j] = du[j] * f[j];
            }
            normalize_backward(&dz, xi, ri, gi, dgi, dbi, gx);
            normalize_backward(&dz, xh, rh, gh, dgh, dbh, ghr);
        }
    }

    /// Never called: `RTRL` is false, so `crate::rtrl` refuses the cell.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let _ = r;
    }
}
