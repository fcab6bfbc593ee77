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

use super::local::Local;
use super::CellShape;
use crate::error::{checked_size, try_zeros, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

pub struct Uoro<T> {
    batch: usize,
    p: usize,
    seed: u64,
    rng: Xoshiro256PlusPlus,
    /// (B, C*H) state-side factor.
    s_tilde: Vec<T>,
    /// (B, P) parameter-side factor.
    theta_tilde: Vec<T>,
    /// Scratch: (B, G*H) W_hh s̃^h, and the (P) vector ν^T F of one sequence.
    ws: Vec<T>,
    nu_f: Vec<T>,
}

impl<T: Float> Uoro<T> {
    pub fn new(sh: &CellShape, batch: usize, seed: u64) -> Result<Self> {
        let p = sh.n_params();
        Ok(Uoro {
            batch,
            p,
            seed,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            s_tilde: try_zeros(checked_size(&[batch, sh.state_len()], "UORO state")?, "UORO state")?,
            theta_tilde: try_zeros(checked_size(&[batch, p], "UORO parameters")?, "UORO parameters")?,
            ws: try_zeros(checked_size(&[batch, sh.rows()], "UORO workspace")?, "UORO workspace")?,
            nu_f: try_zeros(p, "UORO workspace")?,
        })
    }

    /// Zero factors and the random stream restarted from the seed.
    pub fn reset(&mut self) {
        self.s_tilde.fill(T::ZERO);
        self.theta_tilde.fill(T::ZERO);
        self.rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
    }

    /// Zero factors; the random stream goes on.
    pub fn zero(&mut self) {
        self.s_tilde.fill(T::ZERO);
        self.theta_tilde.fill(T::ZERO);
    }

    pub fn step(&mut self, sh: &CellShape, params: &[T], x: &[T], s_prev: &[T], loc: &Local<T>) {
        let (h, c, i, r, p) = (sh.hidden, sh.kind.comps(), sh.input, sh.rows(), self.p);
        let n = c * h;
        let w_hh = &params[sh.off_whh()..sh.off_bih()];
        // W_hh s̃^h for all sequences at once.
        let sh_op = Op { data: &self.s_tilde[..], rows: self.batch, cols: h, ld: n, trans: false };
        gemm(&mut self.ws, r, sh_op, Op::new(w_hh, r, h).t(), T::ONE, false);
        let eps = T::from_f64(1e-7);
        let mut js = vec![T::ZERO; n];
        let mut nu = vec![T::ZERO; n];
        let mut da = vec![T::ZERO; r];
        let mut db = vec![T::ZERO; r];
        for b in 0..self.batch {
            for v in nu.iter_mut() {
                *v = if self.rng.next_u64() >> 63 == 1 { T::ONE } else { -T::ONE };
            }
            let st = &mut self.s_tilde[b * n..(b + 1) * n];
            // J s̃ = gamma s̃ + beta (W_hh s̃^h).
            for cc in 0..c {
                for k in 0..h {
                    let mut v = T::ZERO;
                    for d in 0..c {
                        v += loc.gamma[Local::<T>::gi(sh, b, cc, d, k)] * st[d * h + k];
                    }
                    for g in 0..sh.kind.gates() {
                        v += loc.beta[Local::<T>::ab(sh, b, cc, g, k)] * self.ws[b * r + g * h + k];
                    }
                    js[cc * h + k] = v;
                }
            }
            // ν^T F: per-row coefficients, then their Kronecker products with the inputs.
            for row in 0..r {
                let (g, k) = (row / h, row % h);
                let (mut sa, mut sb) = (T::ZERO, T::ZERO);
                for cc in 0..c {
                    sa += nu[cc * h + k] * loc.alpha[Local::<T>::ab(sh, b, cc, g, k)];
                    sb += nu[cc * h + k] * loc.beta[Local::<T>::ab(sh, b, cc, g, k)];
                }
                da[row] = sa;
                db[row] = sb;
            }
            let x_b = &x[b * i..(b + 1) * i];
            let h_b = &s_prev[b * n..b * n + h];
            let (owhh, obih, obhh) = (sh.off_whh(), sh.off_bih(), sh.off_bhh());
            for row in 0..r {
                for (d, &xv) in self.nu_f[row * i..(row + 1) * i].iter_mut().zip(x_b) {
                    *d = da[row] * xv;
                }
                for (d, &hv) in self.nu_f[owhh + row * h..owhh + (row + 1) * h].iter_mut().zip(h_b) {
                    *d = db[row] * hv;
                }
                self.nu_f[obih + row] = da[row];
                self.nu_f[obhh + row] = db[row];
            }
            let tt = &mut self.theta_tilde[b * p..(b + 1) * p];
            let norm = |v: &[T]| v.iter().map(|&a| a * a).sum::<T>().sqrt();
            let rho0 = ((norm(tt) + eps) / (norm(&js) + eps)).sqrt();
            let rho1 = ((norm(&self.nu_f) + eps) / (norm(&nu) + eps)).sqrt();
            for ((s, &j), &v) in st.iter_mut().zip(&js).zip(&nu) {
                *s = rho0 * j + rho1 * v;
            }
            let (inv0, inv1) = (T::ONE / rho0, T::ONE / rho1);
            for (t, &f) in tt.iter_mut().zip(&self.nu_f) {
                *t = *t * inv0 + f * inv1;
            }
        }
    }

    /// grad += sum_b (dloss_dh[b] · s̃^h[b]) θ̃[b].
    pub fn accumulate(&self, sh: &CellShape, dloss_dh: &[T], grad: &mut [T]) {
        let (h, n, p) = (sh.hidden, sh.state_len(), self.p);
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
    }
}
