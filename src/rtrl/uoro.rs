//! UORO (Tallec & Ollivier, 2017): an unbiased rank-one estimate
//! `M_t ≈ s̃_t θ̃_t^T`, per sequence:
//!
//! ```text
//! ν ~ uniform {-1, +1}^n                      (seeded, fresh each step)
//! s̃_t = ρ0 J_t s̃_{t-1} + ρ1 ν
//! θ̃_t = θ̃_{t-1} / ρ0 + (ν^T F_t) / ρ1
//! ρ0 = sqrt((|θ̃_{t-1}| + ε) / (|J_t s̃_{t-1}| + ε)),  ρ1 = sqrt((|ν^T F_t| + ε) / (|ν| + ε))
//! ```
//!
//! E[s̃_t θ̃_t^T] = M_t for any positive ρ that is even in ν (these are), so
//! the gradient estimate `(dL/dh_t · s̃_t) θ̃_t` is unbiased. O(P) per step.

use super::local::{param_blocks, Local};
use super::CellShape;
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use crate::kernels::wide;
use crate::linalg::{gemm, Op, Parallelism};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

pub struct Uoro<T> {
    batch: usize,
    p: usize,
    seed: u64,
    rng: Xoshiro256PlusPlus,
    /// (B, C*H) state-side factor.
    s_tilde: Vec<T>,
    /// (B, P) parameter-side factor, and its squared norm per sequence.
    theta_tilde: Vec<T>,
    theta_norm2: Vec<T>,
    /// Scratch: (B, G*H) W_hh s̃^h; per sequence J s̃ and ν (C*H), and the
    /// per-row coefficients of ν^T F on the input and recurrent weights (G*H).
    ws: Vec<T>,
    js: Vec<T>,
    nu: Vec<T>,
    da: Vec<T>,
    db: Vec<T>,
    /// Likewise on the cell's own parameters (Q*H).
    dd: Vec<T>,
}

impl<T: Float> Uoro<T> {
    pub fn new(sh: &CellShape, batch: usize, seed: u64) -> Result<Self> {
        let p = sh.n_params();
        let (n, r) = (sh.state_len(), sh.rows());
        Ok(Uoro {
            batch,
            p,
            seed,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            s_tilde: try_zeros(checked_size(&[batch, n], "UORO state")?, "UORO state")?,
            theta_tilde: try_zeros(checked_size(&[batch, p], "UORO parameters")?, "UORO parameters")?,
            theta_norm2: try_zeros(batch, "UORO parameters")?,
            ws: try_zeros(checked_size(&[batch, r], "UORO workspace")?, "UORO workspace")?,
            js: try_zeros(n, "UORO workspace")?,
            nu: try_zeros(n, "UORO workspace")?,
            da: try_zeros(r, "UORO workspace")?,
            db: try_zeros(r, "UORO workspace")?,
            dd: try_zeros(sh.own_len(), "UORO workspace")?,
        })
    }

    /// Zero factors and the random stream restarted from the seed.
    pub fn reset(&mut self) {
        self.zero();
        self.rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
    }

    /// Zero factors; the random stream goes on.
    pub fn zero(&mut self) {
        self.s_tilde.fill(T::ZERO);
        self.theta_tilde.fill(T::ZERO);
        self.theta_norm2.fill(T::ZERO);
    }

    pub fn step(&mut self, sh: &CellShape, params: &[T], x: &[T], s_prev: &[T], loc: &Local<T>) {
        let (h, c, i, r, p) = (sh.hidden, sh.kind.comps(), sh.input, sh.rows(), self.p);
        let n = c * h;
        let w_hh = &params[sh.off_whh()..sh.off_bih()];
        // W_hh s̃^h for all sequences at once.
        let sh_op = Op { data: &self.s_tilde[..], rows: self.batch, cols: h, ld: n, trans: false };
        gemm(Parallelism::Pool, &mut self.ws, r, sh_op, Op::new(w_hh, r, h).t(), T::ONE, false);
        let eps = T::from_f64(1e-7);
        let norm2 = |v: &[T]| v.iter().fold(T::ZERO, |s, &a| s + a * a);
        let this = &mut *self;
        wide(
            #[inline(always)]
            || {
                for b in 0..this.batch {
                    for v in this.nu.iter_mut() {
                        *v = if this.rng.next_u64() >> 63 == 1 { T::ONE } else { -T::ONE };
                    }
                    let st = &mut this.s_tilde[b * n..(b + 1) * n];
                    // J s̃ = gamma s̃ + beta (W_hh s̃^h).
                    for cc in 0..c {
                        for k in 0..h {
                            let mut v = T::ZERO;
                            for d in 0..c {
                                v += loc.gamma[Local::<T>::gi(sh, b, cc, d, k)] * st[d * h + k];
                            }
                            for g in 0..sh.kind.gates() {
                                v += loc.beta[Local::<T>::ab(sh, b, cc, g, k)] * this.ws[b * r + g * h + k];
                            }
                            this.js[cc * h + k] = v;
                        }
                    }
                    // ν^T F is, per parameter row, da ⊗ [x, 1] (W_ih, b_ih) and
                    // db ⊗ [h_prev, 1] (W_hh, b_hh); its norm follows from the factors.
                    for row in 0..r {
                        let (g, k) = (row / h, row % h);
                        let (mut sa, mut sb) = (T::ZERO, T::ZERO);
                        for cc in 0..c {
                            sa += this.nu[cc * h + k] * loc.alpha[Local::<T>::ab(sh, b, cc, g, k)];
                            sb += this.nu[cc * h + k] * loc.beta[Local::<T>::ab(sh, b, cc, g, k)];
                        }
                        this.da[row] = sa;
                        this.db[row] = sb;
                    }
                    let q = sh.kind.own_rows();
                    for row in 0..q * h {
                        let (g, k) = (row / h, row % h);
                        let mut sd = T::ZERO;
                        for cc in 0..c {
                            sd += this.nu[cc * h + k] * loc.delta[Local::<T>::coef_at(sh, q, b, cc, g, k)];
                        }
                        this.dd[row] = sd;
                    }
                    let x_b = &x[b * i..(b + 1) * i];
                    let h_b = &s_prev[b * n..b * n + h];
                    let (x2, h2) = (norm2(x_b) + T::ONE, norm2(h_b) + T::ONE);
                    let nu_f2 =
                        this.da.iter().zip(&this.db).fold(T::ZERO, |s, (&a, &d)| s + a * a * x2 + d * d * h2)
                            + norm2(&this.dd);
                    let rho0 = ((this.theta_norm2[b].sqrt() + eps) / (norm2(&this.js).sqrt() + eps)).sqrt();
                    let rho1 = ((nu_f2.sqrt() + eps) / (T::from_f64(n as f64).sqrt() + eps)).sqrt();
                    for ((s, &j), &v) in st.iter_mut().zip(&this.js).zip(&this.nu) {
                        *s = rho0 * j + rho1 * v;
                    }
                    // θ̃ = θ̃ / ρ0 + (ν^T F) / ρ1, keeping its squared norm for the next step.
                    let (inv0, inv1) = (T::ONE / rho0, T::ONE / rho1);
                    let tt = &mut this.theta_tilde[b * p..(b + 1) * p];
                    let one = [T::ONE];
                    let blocks = param_blocks(sh, &this.da, &this.db, &this.dd, x_b, h_b, &one);
                    let mut n2 = T::ZERO;
                    for (off, coef, inp, _) in blocks {
                        let width = inp.len();
                        for (row, &cf) in coef.iter().enumerate() {
                            n2 += scale_add_norm2(
                                &mut tt[off + row * width..off + (row + 1) * width],
                                inv0,
                                cf * inv1,
                                inp,
                            );
                        }
                    }
                    this.theta_norm2[b] = n2;
                }
            },
        )
    }

    /// grad += sum_b (dloss_dh[b] · s̃^h[b]) θ̃[b].
    pub fn accumulate(&self, sh: &CellShape, dloss_dh: &[T], grad: &mut [T]) {
        let (h, n, p) = (sh.hidden, sh.state_len(), self.p);
        wide(
            #[inline(always)]
            || {
                for b in 0..self.batch {
                    let w: T = dloss_dh[b * h..(b + 1) * h]
                        .iter()
                        .zip(&self.s_tilde[b * n..b * n + h])
                        .map(|(&a, &s)| a * s)
                        .sum();
                    for (g, &t) in grad.iter_mut().zip(&self.theta_tilde[b * p..(b + 1) * p]) {
                        *g += w * t;
                    }
                }
            },
        )
    }
}

/// `t = t * s + f * u` element-wise; returns the new sum of squares of `t`
/// (eight partial sums, so the loop vectorises; fixed order).
fn scale_add_norm2<T: Float>(t: &mut [T], s: T, f: T, u: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let mut tc = t.chunks_exact_mut(8);
    let mut uc = u.chunks_exact(8);
    for (tv, uv) in (&mut tc).zip(&mut uc) {
        for l in 0..8 {
            tv[l] = tv[l] * s + f * uv[l];
            acc[l] += tv[l] * tv[l];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (tv, &uv) in tc.into_remainder().iter_mut().zip(uc.remainder()) {
        *tv = *tv * s + f * uv;
        sum += *tv * *tv;
    }
    sum
}
