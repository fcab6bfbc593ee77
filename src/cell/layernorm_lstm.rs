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
//! partials (`Cell::RTRL` is false); exact RTRL and SnAp-1 run on
//! `crate::rtrl::dense` (`LayerNormLstmRtrl` below).

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

/// The gates' two LayerNorms, `LN_i(W_ih x) + LN_h(W_hh h)` (the LSTM's and
/// the GRU's, `k` gate blocks each): `xi`, `xh` get the normalised products
/// (`rstd` their reciprocal standard deviations at `0` and `h`), and the
/// first `n` values of `row` the normalised sum with its gains and biases.
#[allow(clippy::too_many_arguments)]
pub(super) fn gate_norms<T: Float>(
    row: &mut [T],
    rec: &[T],
    xi: &mut [T],
    xh: &mut [T],
    rstd: &mut [T],
    (gi, bi, gh, bh): (&[T], &[T], &[T], &[T]),
    h: usize,
    n: usize,
) {
    xi.copy_from_slice(row);
    xh.copy_from_slice(rec);
    rstd[0] = normalize(xi);
    rstd[h] = normalize(xh);
    for j in 0..n {
        row[j] = gi[j] * xi[j] + bi[j] + gh[j] * xh[j] + bh[j];
    }
}

/// The gradient accumulators of the gates' two LayerNorms (gains and biases
/// of `LN_i`, then of `LN_h`, `k` blocks of H each): the start of a cell's
/// own-parameter gradient.
pub(super) struct GateNormGrads<'a, T> {
    dgi: &'a mut [T],
    dbi: &'a mut [T],
    dgh: &'a mut [T],
    dbh: &'a mut [T],
}

impl<'a, T: Float> GateNormGrads<'a, T> {
    /// Splits them off `down`; returns the rest (the cell's other own parameters').
    pub(super) fn split(down: &'a mut [T], k: usize, h: usize) -> (Self, &'a mut [T]) {
        let (dgi, rest) = down.split_at_mut(k * h);
        let (dbi, rest) = rest.split_at_mut(k * h);
        let (dgh, rest) = rest.split_at_mut(k * h);
        let (dbh, rest) = rest.split_at_mut(k * h);
        (GateNormGrads { dgi, dbi, dgh, dbh }, rest)
    }

    /// Back through both LayerNorms of one row: from the gradients w.r.t. the
    /// normalised sums (`da` input side, `db` recurrent side) to those w.r.t.
    /// `W_ih x` (`gx`) and `W_hh h` (`ghr`); adds the gains' and biases'.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward(
        &mut self,
        (da, db): (&[T], &[T]),
        (xi, xh): (&[T], &[T]),
        (ri, rh): (T, T),
        (gi, gh): (&[T], &[T]),
        gx: &mut [T],
        ghr: &mut [T],
    ) {
        normalize_backward(da, xi, ri, gi, self.dgi, self.dbi, gx);
        normalize_backward(db, xh, rh, gh, self.dgh, self.dbh, ghr);
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
            gate_norms(row, rec, xi, xh, rstd, (gi, bi, gh, bh), h, 4 * h);
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
        let (mut norms, rest) = GateNormGrads::split(s.down, 4, h);
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
            norms.backward((&dz, &dz), (xi, xh), (ri, rh), (gi, gh), gx, ghr);
        }
    }

    /// Never called: `RTRL` is false, so `crate::rtrl` refuses the cell.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let _ = r;
    }
}

// --- RTRL (`crate::rtrl::dense`) ---------------------------------------------

/// Columns `out[s*ld + r]` (r < n) of `E ∂LN(a)/∂a` for a LayerNorm
/// `γ â + β` over n values: with `Eg = E diag(γ)`,
/// `rstd (Eg[s, r] - mean_q Eg[s, q] - â_r mean_q Eg[s, q] â_q)`.
/// `e` is (S, n) with row stride `lde`.
#[allow(clippy::too_many_arguments)]
pub(super) fn layernorm_rows<T: Float>(
    e: &[T],
    lde: usize,
    gain: &[T],
    xhat: &[T],
    rstd: T,
    out: &mut [T],
    ld: usize,
    rows: usize,
) {
    let n = gain.len();
    let inv = T::ONE / T::from_f64(n as f64);
    for s in 0..rows {
        let er = &e[s * lde..s * lde + n];
        let (mut m1, mut m2) = (T::ZERO, T::ZERO);
        for q in 0..n {
            let v = er[q] * gain[q];
            m1 += v;
            m2 += v * xhat[q];
        }
        let (m1, m2) = (m1 * inv, m2 * inv);
        for q in 0..n {
            out[s * ld + q] = rstd * (er[q] * gain[q] - m1 - m2 * xhat[q]);
        }
    }
}

/// `v` LayerNormed into `xhat`; returns `rstd` (as `normalize`).
pub(super) fn normalized<T: Float>(v: &[T], xhat: &mut [T]) -> T {
    xhat.copy_from_slice(v);
    normalize(xhat)
}

/// The layer-normalised LSTM as a dense RTRL cell (LayerNorm couples the
/// units, so the unit-local route does not apply). State `[h (H), c (H)]`;
/// parameters in the layer's order `[W_ih (4H, I), W_hh (4H, H), γ_i, β_i,
/// γ_h, β_h (4H each), γ_c, β_c (H each)]`. With `z` the 4H gate
/// pre-activations and `E = ∂s'/∂z` (through `c' = LN_c(f c + i g)`):
///
/// ```text
/// coef rows [0, 4H)   E ∂LN_i/∂a   (W_ih: a = W_ih x)
///           [4H, 8H)  E ∂LN_h/∂b   (W_hh: b = W_hh h)
///           [8H, 12H) E            (β_i, β_h)
///           [12H,16H) E ⊙ â        (γ_i)      [16H, 20H) E ⊙ b̂  (γ_h)
///           [20H,21H) ∂s'/∂γ_c     [21H, 22H) ∂s'/∂β_c
/// J = [coef(W_hh rows) W_hh | ∂s'/∂u diag(f)]   (u = f c + i g)
/// ```
///
/// SnAp-1 keeps a parameter row of unit k (gate row g*H + k, or γ_c/β_c row
/// k) on `(h_k, c_k)`.
#[derive(Clone, Debug)]
pub struct LayerNormLstmRtrl {
    layout: crate::rtrl::dense::DenseLayout,
    hidden: usize,
}

impl LayerNormLstmRtrl {
    pub fn new(input: usize, hidden: usize) -> crate::Result<Self> {
        use crate::rtrl::dense::{Block, DenseLayout};
        if input == 0 || hidden == 0 {
            return Err(crate::Error::value(
                if input == 0 { "input_size" } else { "hidden_size" },
                "expected a positive size",
            ));
        }
        let (i, h) = (input, hidden);
        let g = 4 * h;
        let one = i + h;
        let at = g * (i + h);
        let blocks = vec![
            Block { offset: 0, rows: g, cols: i, row0: 0, input: 0 },
            Block { offset: g * i, rows: g, cols: h, row0: g, input: i },
            Block { offset: at, rows: g, cols: 1, row0: 3 * g, input: one },
            Block { offset: at + g, rows: g, cols: 1, row0: 2 * g, input: one },
            Block { offset: at + 2 * g, rows: g, cols: 1, row0: 4 * g, input: one },
            Block { offset: at + 3 * g, rows: g, cols: 1, row0: 2 * g, input: one },
            Block { offset: at + 4 * g, rows: h, cols: 1, row0: 5 * g, input: one },
            Block { offset: at + 4 * g + h, rows: h, cols: 1, row0: 5 * g + h, input: one },
        ];
        let rows = 5 * g + 2 * h;
        let owners = (0..rows).map(|r| {
            let k = if r < 5 * g { r % h } else { (r - 5 * g) % h };
            vec![k, h + k]
        });
        let layout = DenseLayout {
            input,
            state: 2 * h,
            output: h,
            rows,
            inputs: i + h + 1,
            blocks,
            owners: owners.collect(),
        };
        layout.validate()?;
        Ok(LayerNormLstmRtrl { layout, hidden })
    }
}

impl<T: Float> crate::rtrl::dense::DenseCell<T> for LayerNormLstmRtrl {
    fn layout(&self) -> &crate::rtrl::dense::DenseLayout {
        &self.layout
    }

    fn step(&self, params: &[T], s: crate::rtrl::dense::DenseStep<'_, T>) {
        let (i, h, r) = (self.layout.input, self.hidden, self.layout.rows);
        let (g4, st) = (4 * h, 2 * h);
        let one = T::ONE;
        let (w_ih, rest) = params.split_at(g4 * i);
        let (w_hh, rest) = rest.split_at(g4 * h);
        let (gi, rest) = rest.split_at(g4);
        let (bi, rest) = rest.split_at(g4);
        let (gh, rest) = rest.split_at(g4);
        let (bh, rest) = rest.split_at(g4);
        let (gc, bc) = rest.split_at(h);
        let (hp, cp) = s.s_prev.split_at(h);
        s.inputs[..i].copy_from_slice(s.x);
        s.inputs[i..i + h].copy_from_slice(hp);
        s.inputs[i + h] = one;
        let mut a = vec![T::ZERO; g4];
        let mut b = vec![T::ZERO; g4];
        for q in 0..g4 {
            a[q] = w_ih[q * i..(q + 1) * i].iter().zip(s.x).fold(T::ZERO, |acc, (&w, &v)| acc + w * v);
            b[q] = w_hh[q * h..(q + 1) * h].iter().zip(hp).fold(T::ZERO, |acc, (&w, &v)| acc + w * v);
        }
        let (mut ah, mut bhat) = (vec![T::ZERO; g4], vec![T::ZERO; g4]);
        let ra = normalized(&a, &mut ah);
        let rb = normalized(&b, &mut bhat);
        let mut gate = vec![T::ZERO; g4];
        for q in 0..g4 {
            let z = gi[q] * ah[q] + bi[q] + gh[q] * bhat[q] + bh[q];
            gate[q] = if (2 * h..3 * h).contains(&q) { z.tanh() } else { z.sigmoid() };
        }
        let (ig, fg, gg, og) = (&gate[..h], &gate[h..2 * h], &gate[2 * h..3 * h], &gate[3 * h..]);
        let u: Vec<T> = (0..h).map(|k| fg[k] * cp[k] + ig[k] * gg[k]).collect();
        let mut uh = vec![T::ZERO; h];
        let ru = normalized(&u, &mut uh);
        let inv = one / T::from_f64(h as f64);
        let mut tc = vec![T::ZERO; h];
        for k in 0..h {
            let c = gc[k] * uh[k] + bc[k];
            tc[k] = c.tanh();
            s.s_new[k] = og[k] * tc[k];
            s.s_new[h + k] = c;
        }
        // dc'/du (H x H) and the factor dh'/dc' = o (1 - tanh^2).
        let dhdc: Vec<T> = (0..h).map(|k| og[k] * (one - tc[k] * tc[k])).collect();
        let lc = |m: usize, n: usize| {
            let d = if m == n { one } else { T::ZERO };
            gc[m] * ru * (d - inv - uh[m] * uh[n] * inv)
        };
        // E = ds'/dz (2H x 4H), written into coef rows [8H, 12H) (β_i, β_h).
        let e0 = 2 * g4;
        for m in 0..h {
            for n in 0..h {
                let l = lc(m, n);
                let du = [
                    gg[n] * ig[n] * (one - ig[n]),
                    cp[n] * fg[n] * (one - fg[n]),
                    ig[n] * (one - gg[n] * gg[n]),
                ];
                for (q, &d) in du.iter().enumerate() {
                    s.coef[(h + m) * r + e0 + q * h + n] = l * d;
                    s.coef[m * r + e0 + q * h + n] = dhdc[m] * l * d;
                }
                // J on c_prev: ds'/du diag(f).
                s.jac[(h + m) * st + h + n] = l * fg[n];
                s.jac[m * st + h + n] = dhdc[m] * l * fg[n];
            }
            s.coef[m * r + e0 + 3 * h + m] = tc[m] * og[m] * (one - og[m]);
            // γ_c, β_c.
            s.coef[(h + m) * r + 5 * g4 + m] = uh[m];
            s.coef[m * r + 5 * g4 + m] = dhdc[m] * uh[m];
            s.coef[(h + m) * r + 5 * g4 + h + m] = one;
            s.coef[m * r + 5 * g4 + h + m] = dhdc[m];
        }
        for sr in 0..st {
            let row = &mut s.coef[sr * r..(sr + 1) * r];
            for q in 0..g4 {
                let e = row[e0 + q];
                row[3 * g4 + q] = e * ah[q];
                row[4 * g4 + q] = e * bhat[q];
            }
        }
        let (e_src, _) = s.coef.split_at(st * r);
        let e_copy: Vec<T> = e_src.to_vec();
        layernorm_rows(&e_copy[e0..], r, gi, &ah, ra, s.coef, r, st);
        layernorm_rows(&e_copy[e0..], r, gh, &bhat, rb, &mut s.coef[g4..], r, st);
        // J on h_prev: coef(W_hh rows) W_hh.
        for sr in 0..st {
            for q in 0..g4 {
                let c = s.coef[sr * r + g4 + q];
                for (j, &w) in s.jac[sr * st..sr * st + h].iter_mut().zip(&w_hh[q * h..(q + 1) * h]) {
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
    fn layernorm_lstm_partials_and_gradient() {
        let cell = LayerNormLstmRtrl::new(2, 3).unwrap();
        let n = DenseCell::<f64>::layout(&cell).n_params();
        let p: Vec<f64> = (0..n).map(|q| 0.4 + ((q as f64 + 0.3) * 1.37).sin() * 0.8).collect();
        check_partials(&cell, &p, &[0.4, -0.9], &[0.2, -0.6, 0.3, 0.5, -0.1, 0.8], 0, 1e-6);
        check_gradient(&cell, &p, 7);
    }
}
