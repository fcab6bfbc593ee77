//! GRU cell, gates r, z, n (torch's formula, reset applied after the
//! recurrent product):
//! `r = σ(x_r + W_hr h + b_hr)`, `z = σ(x_z + W_hz h + b_hz)`,
//! `n = tanh(x_n + r * (W_hn h + b_hn))`, `h' = (1 - z) n + z h`.

use super::{BackIo, Cell, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace, wide};
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
        // Compiled for the active path's vectors (`wide`): same bits on every path.
        wide(
            #[inline(always)]
            move || {
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
            },
        );
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let h = s.h;
        // Compiled for the active path's vectors (`wide`): same bits on every path.
        wide(
            #[inline(always)]
            move || {
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
                        let (dr, dz, dn) = gate_grads(d[j], r[j], z[j], n[j], hn[j], hp[j]);
                        dhp[j] = d[j] * z[j];
                        gx[j] = dr;
                        gx[h + j] = dz;
                        gx[2 * h + j] = dn;
                        gh[j] = dr;
                        gh[h + j] = dz;
                        gh[2 * h + j] = dn * r[j];
                    }
                }
            },
        );
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

/// Gate variants of `GruVariant` (a const parameter), Dey & Salem 2017.
pub const GRU1: u8 = 1;
pub const GRU2: u8 = 2;
pub const GRU3: u8 = 3;

/// GRU with reduced gates (Dey & Salem 2017, "Gate-variants of gated
/// recurrent unit neural networks"): the candidate n keeps torch's form
/// `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`, `h' = (1 - z) n + z h`,
/// and the gates r, z drop terms:
///
/// - `GRU1`: `r = σ(W_hr h + b_hr)`, `z = σ(W_hz h + b_hz)` (no input);
/// - `GRU2`: `r = σ(W_hr h)`, `z = σ(W_hz h)` (no input, no bias);
/// - `GRU3`: `r = σ(b_hr)`, `z = σ(b_hz)` (bias only).
///
/// Only the rows that exist are stored and multiplied: `weight_ih` `(H, I)`
/// and `bias_ih` `(H)` (the n rows) for all three; `weight_hh` `(3H, H)`
/// (r, z, n) for GRU1/GRU2 and `(H, H)` (n) for GRU3; `bias_hh` `(3H)`
/// (r, z, n) for GRU1/GRU3 and `(H)` (n) for GRU2. The gate buffer holds
/// r, z, n; `dgh` holds the gradients of the r, z, n pre-activations (of
/// `W_hn h + b_hn` for n). RTRL sees a variant as the GRU with the missing
/// rows held at zero (`rtrl_row` is the GRU's).
#[derive(Clone, Copy, Debug, Default)]
pub struct GruVariant<const V: u8>;

impl<T: Float, const V: u8> Cell<T> for GruVariant<V> {
    const GATES: usize = 3;
    const HAS_C: bool = false;
    const EXTRA: usize = 1;
    const SPLIT: bool = true;
    const IN_GATES: usize = 1;
    const REC_GATES: usize = if V == GRU3 { 1 } else { 3 };
    const DGH_GATES: usize = 3;
    const BIAS_HH_GATES: usize = if V == GRU2 { 1 } else { 3 };

    /// `b_in` folds into the projection; `rec_bias` is `[b_hr, b_hz, b_hn]`
    /// (zero gate biases for GRU2).
    fn split_bias(&self, h: usize, b_ih: &[T], b_hh: &[T], input_bias: &mut [T], rec_bias: &mut [T]) {
        input_bias[..h].copy_from_slice(&b_ih[..h]);
        rec_bias[..3 * h].fill(T::ZERO);
        let nb = <Self as Cell<T>>::BIAS_HH_GATES * h;
        rec_bias[3 * h - nb..3 * h].copy_from_slice(&b_hh[..nb]);
    }

    fn forward(&self, s: StepIo<'_, T>) {
        let h = s.h;
        let rw = <Self as Cell<T>>::REC_GATES * h;
        let rb = s.rec_bias;
        for (((((row, rr), xn), hp), o), hn) in s
            .gates
            .chunks_exact_mut(3 * h)
            .zip(s.rec.chunks_exact(rw))
            .zip(s.input.chunks_exact(h))
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.out.chunks_exact_mut(h))
            .zip(s.extra.chunks_exact_mut(h))
        {
            // r, z: the recurrent rows (GRU1/GRU2) plus their biases.
            if V == GRU3 {
                row[..2 * h].copy_from_slice(&rb[..2 * h]);
            } else {
                for j in 0..2 * h {
                    row[j] = rr[j] + rb[j];
                }
            }
            sigmoid_inplace(&mut row[..2 * h]);
            let (rz, n) = row.split_at_mut(2 * h);
            let rn = &rr[rw - h..];
            for j in 0..h {
                hn[j] = rn[j] + rb[2 * h + j];
                n[j] = xn[j] + rz[j] * hn[j];
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
            .zip(s.dgx.chunks_exact_mut(h))
            .zip(s.dgh.chunks_exact_mut(3 * h))
            .zip(s.dh_prev.chunks_exact_mut(h))
        {
            let (r, rest) = row.split_at(h);
            let (z, n) = rest.split_at(h);
            for j in 0..h {
                let (dr, dz, dn) = gate_grads(d[j], r[j], z[j], n[j], hn[j], hp[j]);
                dhp[j] = d[j] * z[j];
                gx[j] = dn;
                gh[j] = dr;
                gh[h + j] = dz;
                gh[2 * h + j] = dn * r[j];
            }
        }
    }

    /// The GRU's partials: RTRL runs a variant in the GRU's full layout with
    /// the missing rows at zero, where the two maps agree.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        Cell::<T>::rtrl_row(&Gru, r)
    }
}

/// The gradients of the GRU's gate pre-activations (r, z, n) from the
/// gradient `d` of its output, for every gate variant: `hn` is the
/// recurrent candidate term `W_hn h + b_hn`, `hp` the previous state.
#[inline(always)]
fn gate_grads<T: Float>(d: T, r: T, z: T, n: T, hn: T, hp: T) -> (T, T, T) {
    let dn = d * (T::ONE - z) * (T::ONE - n * n);
    let dz = d * (hp - n) * z * (T::ONE - z);
    let dr = dn * hn * r * (T::ONE - r);
    (dr, dz, dn)
}

#[cfg(test)]
mod tests {
    use crate::cell::Mode;
    use crate::layer::{backward, forward_with, RnnSpec, States};

    fn det(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * 0.7548776662 + seed).sin() * 0.8).collect()
    }

    /// A variant's parameter in the GRU's full layout: its rows are the last
    /// ones of the 3H, the others zero.
    fn padded(p: &[f64], full: usize) -> Vec<f64> {
        let mut v = vec![0.0; full - p.len()];
        v.extend_from_slice(p);
        v
    }

    /// Runs `spec` forward and backward: (y, h_n, dx, dh0, grads).
    #[allow(clippy::type_complexity)]
    fn run(
        spec: &RnnSpec,
        params: &[Vec<f64>],
        lengths: &[usize],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
        let (t, b) = (4, 3);
        let rows = spec.num_layers * spec.num_directions();
        let (x, h0) = (det(t * b * spec.input_size, 1.0), det(rows * b * spec.hidden_size, 2.0));
        let p: Vec<&[f64]> = params.iter().map(|v| v.as_slice()).collect();
        let s = States { h0: Some(&h0), lengths: Some(lengths), ..Default::default() };
        let (out, cache) = forward_with(spec, &p, &x, t, b, s, true).unwrap();
        let dy = det(out.y.len(), 3.0);
        let dh_n = det(out.h_n.len(), 4.0);
        let mut grads: Vec<Vec<f64>> = params.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut g: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gr = backward(&p, &cache.unwrap(), &dy, Some(&dh_n), None, &mut g, true).unwrap();
        (out.y, out.h_n, gr.dx, gr.dh0, grads)
    }

    #[test]
    fn variants_equal_the_gru_with_their_missing_rows_at_zero() {
        for mode in [Mode::Gru1, Mode::Gru2, Mode::Gru3] {
            let spec = RnnSpec {
                mode,
                input_size: 3,
                hidden_size: 5,
                num_layers: 2,
                bidirectional: true,
                bias: true,
                proj_size: 0,
            };
            let shapes = spec.param_shapes();
            let params: Vec<Vec<f64>> =
                shapes.iter().enumerate().map(|(k, (_, s))| det(s.iter().product(), k as f64)).collect();
            let full = RnnSpec { mode: Mode::Gru, ..spec.clone() };
            let full_shapes = full.param_shapes();
            let fp: Vec<Vec<f64>> =
                params.iter().zip(&full_shapes).map(|(p, (_, s))| padded(p, s.iter().product())).collect();
            let lengths = [4, 2, 3];
            let (y, h_n, dx, dh0, g) = run(&spec, &params, &lengths);
            let (y2, h_n2, dx2, dh02, g2) = run(&full, &fp, &lengths);
            let close = |a: &[f64], b: &[f64], what: &str| {
                assert_eq!(a.len(), b.len(), "{what}");
                for (u, v) in a.iter().zip(b) {
                    assert!((u - v).abs() <= 1e-12, "{mode:?} {what}: {u} vs {v}");
                }
            };
            close(&y, &y2, "y");
            close(&h_n, &h_n2, "h_n");
            close(&dx, &dx2, "dx");
            close(&dh0, &dh02, "dh0");
            for ((a, b), (name, _)) in g.iter().zip(&g2).zip(&shapes) {
                // The variant's rows are the last ones of the GRU's.
                close(a, &b[b.len() - a.len()..], name);
            }
        }
    }
}
