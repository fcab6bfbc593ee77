//! One cell step together with its per-unit partial derivatives: what every
//! RTRL variant needs and BPTT code does not expose.
//!
//! With `A = W_ih x + b_ih` and `B = W_hh h + b_hh` (rows `g*H + k` for gate g
//! of unit k), the new state of unit k depends only on the rows of unit k and
//! on the old state of unit k:
//!
//! ```text
//! alpha[c][g][k] = ∂s'_{c,k} / ∂A_{g,k}
//! beta [c][g][k] = ∂s'_{c,k} / ∂B_{g,k}
//! gamma[c][d][k] = ∂s'_{c,k} / ∂s_{d,k}   (direct, not through B)
//! ```
//!
//! for state components c, d (h = 0, LSTM c = 1). The full Jacobian is then
//! `J[c,k; d,j] = gamma[c][d][k] δ_kj + [d = h] sum_g beta[c][g][k] W_hh[gH+k, j]`
//! and the immediate Jacobian has entries `alpha * x_j`, `alpha`, `beta * h_j`,
//! `beta` on the rows of unit k of W_ih, b_ih, W_hh, b_hh.

use super::{CellKind, CellShape};
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op};

/// Scratch and per-unit derivatives of one step, for a batch.
pub struct Local<T> {
    /// (B, G*H) pre-activations A and B.
    pub a: Vec<T>,
    pub b: Vec<T>,
    /// (B, C, G, H)
    pub alpha: Vec<T>,
    pub beta: Vec<T>,
    /// (B, C, C, H)
    pub gamma: Vec<T>,
}

impl<T: Float> Local<T> {
    pub fn new(sh: &CellShape, batch: usize) -> Result<Self> {
        let (c, r) = (sh.kind.comps(), sh.rows());
        let rows = checked_size(&[batch, r], "pre-activations")?;
        let coef = checked_size(&[batch, c, r], "local derivatives")?;
        let gam = checked_size(&[batch, c, c, sh.hidden], "local derivatives")?;
        Ok(Local {
            a: try_zeros(rows, "pre-activations")?,
            b: try_zeros(rows, "pre-activations")?,
            alpha: try_zeros(coef, "local derivatives")?,
            beta: try_zeros(coef, "local derivatives")?,
            gamma: try_zeros(gam, "local derivatives")?,
        })
    }

    /// Index into alpha/beta.
    #[inline(always)]
    pub fn ab(sh: &CellShape, b: usize, c: usize, g: usize, k: usize) -> usize {
        ((b * sh.kind.comps() + c) * sh.kind.gates() + g) * sh.hidden + k
    }
    /// Index into gamma.
    #[inline(always)]
    pub fn gi(sh: &CellShape, b: usize, c: usize, d: usize, k: usize) -> usize {
        let cc = sh.kind.comps();
        ((b * cc + c) * cc + d) * sh.hidden + k
    }
}

/// Computes `s_new` (B, C, H) from `s_prev` and `x` (B, I), filling `loc`.
pub fn step<T: Float>(
    sh: &CellShape,
    params: &[T],
    x: &[T],
    s_prev: &[T],
    s_new: &mut [T],
    batch: usize,
    loc: &mut Local<T>,
) {
    let (i, h, r, c) = (sh.input, sh.hidden, sh.rows(), sh.kind.comps());
    let w_ih = &params[..sh.off_whh()];
    let w_hh = &params[sh.off_whh()..sh.off_bih()];
    let b_ih = &params[sh.off_bih()..sh.off_bhh()];
    let b_hh = &params[sh.off_bhh()..];
    // A = x W_ih^T + b_ih, B = h W_hh^T + b_hh (h rows of the state have stride C*H).
    gemm(&mut loc.a, r, Op::new(x, batch, i), Op::new(w_ih, r, i).t(), T::ONE, false);
    let hprev = Op { data: s_prev, rows: batch, cols: h, ld: c * h, trans: false };
    gemm(&mut loc.b, r, hprev, Op::new(w_hh, r, h).t(), T::ONE, false);
    for bi in 0..batch {
        for (v, bias) in loc.a[bi * r..(bi + 1) * r].iter_mut().zip(b_ih) {
            *v += *bias;
        }
        for (v, bias) in loc.b[bi * r..(bi + 1) * r].iter_mut().zip(b_hh) {
            *v += *bias;
        }
    }
    let one = T::ONE;
    for bi in 0..batch {
        let a = &loc.a[bi * r..(bi + 1) * r];
        let bv = &loc.b[bi * r..(bi + 1) * r];
        let sp = &s_prev[bi * c * h..(bi + 1) * c * h];
        let sn = &mut s_new[bi * c * h..(bi + 1) * c * h];
        for k in 0..h {
            let ab = |c_: usize, g: usize| Local::<T>::ab(sh, bi, c_, g, k);
            match sh.kind {
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    let z = a[k] + bv[k];
                    let (hn, d) = if sh.kind == CellKind::RnnTanh {
                        let t = z.tanh();
                        (t, one - t * t)
                    } else if z > T::ZERO {
                        (z, one)
                    } else {
                        (T::ZERO, T::ZERO)
                    };
                    sn[k] = hn;
                    loc.alpha[ab(0, 0)] = d;
                    loc.beta[ab(0, 0)] = d;
                    loc.gamma[Local::<T>::gi(sh, bi, 0, 0, k)] = T::ZERO;
                }
                CellKind::Lstm => {
                    let z = |g: usize| a[g * h + k] + bv[g * h + k];
                    let (ig, fg, gg, og) = (z(0).sigmoid(), z(1).sigmoid(), z(2).tanh(), z(3).sigmoid());
                    let c_old = sp[h + k];
                    let c_new = fg * c_old + ig * gg;
                    let tc = c_new.tanh();
                    sn[k] = og * tc;
                    sn[h + k] = c_new;
                    // dc'/dz_g for the gates i, f, g, o.
                    let dc = [ig * (one - ig) * gg, fg * (one - fg) * c_old, ig * (one - gg * gg), T::ZERO];
                    let dh_dc = og * (one - tc * tc);
                    for (g, &dcg) in dc.iter().enumerate() {
                        let dh = if g == 3 { og * (one - og) * tc } else { dh_dc * dcg };
                        loc.alpha[ab(0, g)] = dh;
                        loc.beta[ab(0, g)] = dh;
                        loc.alpha[ab(1, g)] = dcg;
                        loc.beta[ab(1, g)] = dcg;
                    }
                    loc.gamma[Local::<T>::gi(sh, bi, 0, 0, k)] = T::ZERO;
                    loc.gamma[Local::<T>::gi(sh, bi, 0, 1, k)] = dh_dc * fg;
                    loc.gamma[Local::<T>::gi(sh, bi, 1, 0, k)] = T::ZERO;
                    loc.gamma[Local::<T>::gi(sh, bi, 1, 1, k)] = fg;
                }
                CellKind::Gru => {
                    let rg = (a[k] + bv[k]).sigmoid();
                    let zg = (a[h + k] + bv[h + k]).sigmoid();
                    let bn = bv[2 * h + k];
                    let ng = (a[2 * h + k] + rg * bn).tanh();
                    let hp = sp[k];
                    sn[k] = (one - zg) * ng + zg * hp;
                    // h' = (1-z) n + z h;  n = tanh(A_n + r B_n).
                    let qn = (one - zg) * (one - ng * ng);
                    let dr = qn * bn * rg * (one - rg);
                    let dz = (hp - ng) * zg * (one - zg);
                    loc.alpha[ab(0, 0)] = dr;
                    loc.beta[ab(0, 0)] = dr;
                    loc.alpha[ab(0, 1)] = dz;
                    loc.beta[ab(0, 1)] = dz;
                    loc.alpha[ab(0, 2)] = qn;
                    loc.beta[ab(0, 2)] = qn * rg;
                    loc.gamma[Local::<T>::gi(sh, bi, 0, 0, k)] = zg;
                }
            }
        }
    }
}

/// Adds the immediate Jacobian of unit k, state component `c`, sequence `b`
/// (the rows of unit k of each weight and bias) to `dst` (P), scaled by the
/// per-unit coefficients: `F = alpha ⊗ [x, 1]` on W_ih/b_ih and
/// `beta ⊗ [h_prev, 1]` on W_hh/b_hh.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn add_immediate<T: Float>(
    sh: &CellShape,
    loc: &Local<T>,
    b: usize,
    c: usize,
    k: usize,
    x_b: &[T],
    h_b: &[T],
    dst: &mut [T],
) {
    let (i, h) = (sh.input, sh.hidden);
    let (owhh, obih, obhh) = (sh.off_whh(), sh.off_bih(), sh.off_bhh());
    for g in 0..sh.kind.gates() {
        let row = g * h + k;
        let al = loc.alpha[Local::<T>::ab(sh, b, c, g, k)];
        let be = loc.beta[Local::<T>::ab(sh, b, c, g, k)];
        for (d, &xv) in dst[row * i..(row + 1) * i].iter_mut().zip(x_b) {
            *d += al * xv;
        }
        for (d, &hv) in dst[owhh + row * h..owhh + (row + 1) * h].iter_mut().zip(h_b) {
            *d += be * hv;
        }
        dst[obih + row] += al;
        dst[obhh + row] += be;
    }
}
