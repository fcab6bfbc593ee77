//! One cell step together with its per-unit partial derivatives: what every
//! RTRL variant needs and BPTT code does not expose. The matrix products are
//! done here; the cell (`crate::cell`, `Cell::rtrl_row`) gives the new state
//! and the partials
//!
//! ```text
//! alpha[c][g][k] = ∂s'_{c,k} / ∂A_{g,k}
//! beta [c][g][k] = ∂s'_{c,k} / ∂B_{g,k}
//! gamma[c][d][k] = ∂s'_{c,k} / ∂s_{d,k}   (direct, not through B)
//! ```
//!
//! with `A = W_ih x + b_ih` and `B = W_hh h + b_hh` (rows `g*H + k` for gate g
//! of unit k), for state components c, d (h = 0, LSTM c = 1). The full
//! Jacobian is then
//! `J[c,k; d,j] = gamma[c][d][k] δ_kj + [d = h] sum_g beta[c][g][k] W_hh[gH+k, j]`
//! and the immediate Jacobian has entries `alpha * x_j`, `alpha`, `beta * h_j`,
//! `beta` on the rows of unit k of W_ih, b_ih, W_hh, b_hh.

use super::CellShape;
use crate::cell::{with_cell, Cell, RtrlRow};
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use crate::linalg::mul_nt;

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
    /// (B, C, Q, H): the partials w.r.t. the cell's own parameters.
    pub delta: Vec<T>,
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
            delta: try_zeros(
                checked_size(&[batch, c, sh.own_len()], "local derivatives")?,
                "local derivatives",
            )?,
            h: try_zeros(checked_size(&[batch, sh.hidden], "state")?, "state")?,
        })
    }

    /// Index into alpha/beta.
    #[inline(always)]
    pub fn ab(sh: &CellShape, b: usize, c: usize, g: usize, k: usize) -> usize {
        ((b * sh.kind.comps() + c) * sh.kind.gates() + g) * sh.hidden + k
    }
    /// Index of (sequence b, component c, group g, unit k) into a coefficient
    /// table of `groups` groups of H (alpha/beta: G gates; delta: Q own rows).
    #[inline(always)]
    pub fn coef_at(sh: &CellShape, groups: usize, b: usize, c: usize, g: usize, k: usize) -> usize {
        ((b * sh.kind.comps() + c) * groups + g) * sh.hidden + k
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
    let b_hh = &params[sh.off_bhh()..sh.off_own()];
    let own = &params[sh.off_own()..];
    let cq = c * sh.own_len();
    // A = x W_ih^T + b_ih, B = h W_hh^T + b_hh. The h rows of the state have
    // stride C*H: gathered first, so the small-product loops apply (a general
    // GEMM call costs more than these products at batch 1).
    mul_nt(&mut loc.a, x, w_ih, batch, i, r, false);
    for (dst, src) in loc.h.chunks_exact_mut(h).zip(s_prev.chunks_exact(c * h)) {
        dst.copy_from_slice(&src[..h]);
    }
    mul_nt(&mut loc.b, &loc.h, w_hh, batch, h, r, false);
    let (cg, cc) = (c * r, c * c * h);
    with_cell!(sh.kind, cell => {
        for bi in 0..batch {
            let a = &mut loc.a[bi * r..(bi + 1) * r];
            let bv = &mut loc.b[bi * r..(bi + 1) * r];
            for (v, bias) in a.iter_mut().zip(b_ih) {
                *v += *bias;
            }
            for (v, bias) in bv.iter_mut().zip(b_hh) {
                *v += *bias;
            }
            // The gathered h rows were consumed by the product above: scratch now.
            Cell::<T>::rtrl_row(
                &cell,
                RtrlRow {
                    h,
                    own,
                    delta: &mut loc.delta[bi * cq..(bi + 1) * cq],
                    a,
                    b: bv,
                    s_prev: &s_prev[bi * c * h..(bi + 1) * c * h],
                    s_new: &mut s_new[bi * c * h..(bi + 1) * c * h],
                    alpha: &mut loc.alpha[bi * cg..(bi + 1) * cg],
                    beta: &mut loc.beta[bi * cg..(bi + 1) * cg],
                    gamma: &mut loc.gamma[bi * cc..(bi + 1) * cc],
                    scratch: &mut loc.h[bi * h..(bi + 1) * h],
                },
            );
        }
    });
}

/// The blocks of the flat parameter vector as (offset, coefficient table,
/// input of each column, groups of H rows): parameter row r = g*H + k of a
/// block is `coef(g, k) ⊗ input`, with `a_coef` for W_ih / b_ih (inputs x
/// and 1), `b_coef` for W_hh / b_hh (inputs h_prev and 1), each of G groups,
/// and `d_coef` for the cell's own parameters (input 1, Q groups; empty
/// without). This is the Kronecker structure of the immediate Jacobian that
/// every RTRL variant exploits.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn param_blocks<'a, T: Float>(
    sh: &CellShape,
    a_coef: &'a [T],
    b_coef: &'a [T],
    d_coef: &'a [T],
    x_b: &'a [T],
    h_b: &'a [T],
    one: &'a [T; 1],
) -> [(usize, &'a [T], &'a [T], usize); 5] {
    let (g, q) = (sh.kind.gates(), sh.kind.own_rows());
    [
        (0, a_coef, x_b, g),
        (sh.off_whh(), b_coef, h_b, g),
        (sh.off_bih(), a_coef, one, g),
        (sh.off_bhh(), b_coef, one, g),
        (sh.off_own(), d_coef, one, q),
    ]
}
