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
//! `layernorm_{i,h}_{weight,bias}` `(3, H)`. No unit-local RTRL partials (LayerNorm
//! couples the units); exact RTRL and SnAp-1 run on `crate::rtrl::dense`
//! (`LayerNormGruRtrl` below).

use super::layernorm_lstm::{gate_norms, GateNormGrads};
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
            gate_norms(row, rec, xi, xh, rstd, (gi, bi, gh, bh), h, 2 * h);
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
        let (mut norms, _) = GateNormGrads::split(s.down, 3, h);
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
            norms.backward((&da, &db), (xi, xh), (ri, rh), (gi, gh), gx, ghr);
        }
    }

    /// Never called: `RTRL` is false, so `crate::rtrl` refuses the cell.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let _ = r;
    }
}

// --- RTRL (`crate::rtrl::dense`) ---------------------------------------------

/// The layer-normalised GRU as a dense RTRL cell (see `LayerNormLstmRtrl`).
/// State h; parameters in the layer's order `[W_ih (3H, I), W_hh (3H, H),
/// γ_i, β_i, γ_h, β_h (3H each)]`. With `A = γ_i â + β_i`, `B = γ_h b̂ + β_h`
/// and the unit-local `EA = ∂h'/∂A`, `EB = ∂h'/∂B` (H x 3H):
///
/// ```text
/// coef rows [0, 3H)  EA ∂LN_i/∂a (W_ih)    [3H, 6H)   EB ∂LN_h/∂b (W_hh)
///           [6H, 9H) EA (β_i)              [9H, 12H)  EA ⊙ â (γ_i)
///           [12H,15H) EB (β_h)             [15H, 18H) EB ⊙ b̂ (γ_h)
/// J = coef(W_hh rows) W_hh + diag(z)
/// ```
///
/// SnAp-1 keeps a parameter row of unit k (row g*H + k) on h_k.
#[derive(Clone, Debug)]
pub struct LayerNormGruRtrl {
    layout: crate::rtrl::dense::DenseLayout,
    hidden: usize,
}

impl LayerNormGruRtrl {
    pub fn new(input: usize, hidden: usize) -> crate::Result<Self> {
        use crate::rtrl::dense::{Block, DenseLayout};
        if input == 0 || hidden == 0 {
            return Err(crate::Error::value(
                if input == 0 { "input_size" } else { "hidden_size" },
                "expected a positive size",
            ));
        }
        let (i, h) = (input, hidden);
        let g = 3 * h;
        let (one, at) = (i + h, g * (i + h));
        let blocks = vec![
            Block { offset: 0, rows: g, cols: i, row0: 0, input: 0 },
            Block { offset: g * i, rows: g, cols: h, row0: g, input: i },
            Block { offset: at, rows: g, cols: 1, row0: 3 * g, input: one },
            Block { offset: at + g, rows: g, cols: 1, row0: 2 * g, input: one },
            Block { offset: at + 2 * g, rows: g, cols: 1, row0: 5 * g, input: one },
            Block { offset: at + 3 * g, rows: g, cols: 1, row0: 4 * g, input: one },
        ];
        let rows = 6 * g;
        let layout = DenseLayout {
            input,
            state: h,
            output: h,
            rows,
            inputs: i + h + 1,
            blocks,
            owners: (0..rows).map(|r| vec![r % h]).collect(),
        };
        layout.validate()?;
        Ok(LayerNormGruRtrl { layout, hidden })
    }
}

impl<T: Float> crate::rtrl::dense::DenseCell<T> for LayerNormGruRtrl {
    fn layout(&self) -> &crate::rtrl::dense::DenseLayout {
        &self.layout
    }

    fn step(&self, params: &[T], s: crate::rtrl::dense::DenseStep<'_, T>) {
        use super::layernorm_lstm::{layernorm_rows, normalized};
        let (i, h, r) = (self.layout.input, self.hidden, self.layout.rows);
        let (g3, one) = (3 * h, T::ONE);
        let (w_ih, rest) = params.split_at(g3 * i);
        let (w_hh, rest) = rest.split_at(g3 * h);
        let (gi, rest) = rest.split_at(g3);
        let (bi, rest) = rest.split_at(g3);
        let (gh, bh) = rest.split_at(g3);
        let hp = s.s_prev;
        s.inputs[..i].copy_from_slice(s.x);
        s.inputs[i..i + h].copy_from_slice(hp);
        s.inputs[i + h] = one;
        let mut a = vec![T::ZERO; g3];
        let mut b = vec![T::ZERO; g3];
        for q in 0..g3 {
            a[q] = w_ih[q * i..(q + 1) * i].iter().zip(s.x).fold(T::ZERO, |acc, (&w, &v)| acc + w * v);
            b[q] = w_hh[q * h..(q + 1) * h].iter().zip(hp).fold(T::ZERO, |acc, (&w, &v)| acc + w * v);
        }
        let (mut ah, mut bhat) = (vec![T::ZERO; g3], vec![T::ZERO; g3]);
        let ra = normalized(&a, &mut ah);
        let rb = normalized(&b, &mut bhat);
        let av: Vec<T> = (0..g3).map(|q| gi[q] * ah[q] + bi[q]).collect();
        let bv: Vec<T> = (0..g3).map(|q| gh[q] * bhat[q] + bh[q]).collect();
        let (ea0, eb0) = (2 * g3, 4 * g3);
        for k in 0..h {
            let rg = (av[k] + bv[k]).sigmoid();
            let zg = (av[h + k] + bv[h + k]).sigmoid();
            let n = (av[2 * h + k] + rg * bv[2 * h + k]).tanh();
            s.s_new[k] = (one - zg) * n + zg * hp[k];
            let dn = (one - zg) * (one - n * n);
            let dr = dn * bv[2 * h + k] * rg * (one - rg);
            let dz = (hp[k] - n) * zg * (one - zg);
            let row = &mut s.coef[k * r..(k + 1) * r];
            for (q, v) in [(k, dr), (h + k, dz), (2 * h + k, dn)] {
                row[ea0 + q] = v;
                row[3 * g3 + q] = v * ah[q];
            }
            for (q, v) in [(k, dr), (h + k, dz), (2 * h + k, dn * rg)] {
                row[eb0 + q] = v;
                row[5 * g3 + q] = v * bhat[q];
            }
            s.jac[k * h + k] = zg;
        }
        let e: Vec<T> = s.coef.to_vec();
        layernorm_rows(&e[ea0..], r, gi, &ah, ra, s.coef, r, h);
        layernorm_rows(&e[eb0..], r, gh, &bhat, rb, &mut s.coef[g3..], r, h);
        for k in 0..h {
            for q in 0..g3 {
                let c = s.coef[k * r + g3 + q];
                for (j, &w) in s.jac[k * h..(k + 1) * h].iter_mut().zip(&w_hh[q * h..(q + 1) * h]) {
                    *j += c * w;
                }
            }
        }
    }
}

#[cfg(test)]
mod rtrl_tests {
    use super::*;
    use crate::rtrl::dense::tests::{check_gradient, check_partials};
    use crate::rtrl::dense::DenseCell;

    #[test]
    fn layernorm_gru_partials_and_gradient() {
        let cell = LayerNormGruRtrl::new(2, 3).unwrap();
        let n = DenseCell::<f64>::layout(&cell).n_params();
        let p: Vec<f64> = (0..n).map(|q| 0.4 + ((q as f64 + 0.3) * 1.37).sin() * 0.8).collect();
        check_partials(&cell, &p, &[0.4, -0.9], &[0.2, -0.6, 0.3], 0, 1e-6);
        check_gradient(&cell, &p, 7);
    }
}
