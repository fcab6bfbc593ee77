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
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::layer::matmul::mul_nt;

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
    /// (B, H) scratch: the h part of the previous state.
    h: Vec<T>,
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
            h: try_zeros(checked_size(&[batch, sh.hidden], "state")?, "state")?,
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
    // A = x W_ih^T + b_ih, B = h W_hh^T + b_hh. The h rows of the state have
    // stride C*H: gathered first, so the small-product loops apply (a general
    // GEMM call costs more than these products at batch 1).
    mul_nt(&mut loc.a, x, w_ih, batch, i, r, false);
    for (dst, src) in loc.h.chunks_exact_mut(h).zip(s_prev.chunks_exact(c * h)) {
        dst.copy_from_slice(&src[..h]);
    }
    mul_nt(&mut loc.b, &loc.h, w_hh, batch, h, r, false);
    let one = T::ONE;
    let relu = sh.kind == CellKind::RnnRelu;
    for bi in 0..batch {
        // Pre-activations are overwritten by the gate values (vectorised activations).
        let a = &mut loc.a[bi * r..(bi + 1) * r];
        let bv = &mut loc.b[bi * r..(bi + 1) * r];
        for (v, bias) in a.iter_mut().zip(b_ih) {
            *v += *bias;
        }
        for (v, bias) in bv.iter_mut().zip(b_hh) {
            *v += *bias;
        }
        let sp = &s_prev[bi * c * h..(bi + 1) * c * h];
        let sn = &mut s_new[bi * c * h..(bi + 1) * c * h];
        let ab = |c_: usize, g: usize, k: usize| Local::<T>::ab(sh, bi, c_, g, k);
        let gi = |c_: usize, d: usize, k: usize| Local::<T>::gi(sh, bi, c_, d, k);
        match sh.kind {
            CellKind::RnnTanh | CellKind::RnnRelu => {
                for (v, &w) in a.iter_mut().zip(bv.iter()) {
                    *v += w;
                }
                if relu {
                    crate::kernels::relu_inplace(a);
                } else {
                    tanh_inplace(a);
                }
                for k in 0..h {
                    let t = a[k];
                    let d = if relu {
                        if t > T::ZERO {
                            one
                        } else {
                            T::ZERO
                        }
                    } else {
                        one - t * t
                    };
                    sn[k] = t;
                    loc.alpha[ab(0, 0, k)] = d;
                    loc.beta[ab(0, 0, k)] = d;
                    loc.gamma[gi(0, 0, k)] = T::ZERO;
                }
            }
            CellKind::Lstm => {
                for (v, &w) in a.iter_mut().zip(bv.iter()) {
                    *v += w;
                }
                sigmoid_inplace(&mut a[..2 * h]);
                tanh_inplace(&mut a[2 * h..3 * h]);
                sigmoid_inplace(&mut a[3 * h..]);
                let tc = &mut loc.h[bi * h..(bi + 1) * h];
                for k in 0..h {
                    sn[h + k] = a[h + k] * sp[h + k] + a[k] * a[2 * h + k];
                    tc[k] = sn[h + k];
                }
                tanh_inplace(tc);
                for k in 0..h {
                    let (ig, fg, gg, og) = (a[k], a[h + k], a[2 * h + k], a[3 * h + k]);
                    let (c_old, tc) = (sp[h + k], tc[k]);
                    sn[k] = og * tc;
                    // dc'/dz_g for the gates i, f, g, o.
                    let dc = [ig * (one - ig) * gg, fg * (one - fg) * c_old, ig * (one - gg * gg), T::ZERO];
                    let dh_dc = og * (one - tc * tc);
                    for (g, &dcg) in dc.iter().enumerate() {
                        let dh = if g == 3 { og * (one - og) * tc } else { dh_dc * dcg };
                        loc.alpha[ab(0, g, k)] = dh;
                        loc.beta[ab(0, g, k)] = dh;
                        loc.alpha[ab(1, g, k)] = dcg;
                        loc.beta[ab(1, g, k)] = dcg;
                    }
                    loc.gamma[gi(0, 0, k)] = T::ZERO;
                    loc.gamma[gi(0, 1, k)] = dh_dc * fg;
                    loc.gamma[gi(1, 0, k)] = T::ZERO;
                    loc.gamma[gi(1, 1, k)] = fg;
                }
            }
            CellKind::Gru => {
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
                    sn[k] = (one - zg) * ng + zg * hp;
                    // h' = (1-z) n + z h;  n = tanh(A_n + r B_n).
                    let qn = (one - zg) * (one - ng * ng);
                    let dr = qn * bn * rg * (one - rg);
                    let dz = (hp - ng) * zg * (one - zg);
                    loc.alpha[ab(0, 0, k)] = dr;
                    loc.beta[ab(0, 0, k)] = dr;
                    loc.alpha[ab(0, 1, k)] = dz;
                    loc.beta[ab(0, 1, k)] = dz;
                    loc.alpha[ab(0, 2, k)] = qn;
                    loc.beta[ab(0, 2, k)] = qn * rg;
                    loc.gamma[gi(0, 0, k)] = zg;
                }
            }
        }
    }
}

/// The four blocks of the flat parameter vector as (offset, coefficient
/// table, input of each column): parameter row r of a block is
/// `coef(r) ⊗ input`, with `a_coef` for W_ih / b_ih (inputs x and 1) and
/// `b_coef` for W_hh / b_hh (inputs h_prev and 1). This is the Kronecker
/// structure of the immediate Jacobian that every RTRL variant exploits.
#[inline(always)]
pub fn param_blocks<'a, T: Float>(
    sh: &CellShape,
    a_coef: &'a [T],
    b_coef: &'a [T],
    x_b: &'a [T],
    h_b: &'a [T],
    one: &'a [T; 1],
) -> [(usize, &'a [T], &'a [T]); 4] {
    [(0, a_coef, x_b), (sh.off_whh(), b_coef, h_b), (sh.off_bih(), a_coef, one), (sh.off_bhh(), b_coef, one)]
}
