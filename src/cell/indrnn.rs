//! IndRNN (Li et al., 2018): h_t = act(W x_t + u ⊙ h_{t-1} + b), an
//! element-wise recurrence. Parameters, flat: `[weight_ih (H, I), weight_hh (H), bias (H)]`
//! (`weight_hh` is the vector u). Forward, BPTT and exact O(P) RTRL come from
//! the element-wise engine in `crate::rtrl::diag`; this file defines the unit.

use super::elementwise::UnitMap;
use crate::float::Float;

/// The IndRNN unit with its activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndRnn {
    Tanh,
    Relu,
}

impl UnitMap for IndRnn {
    #[inline(always)]
    fn unit<T: Float>(&self, z: T, u: T, h: T) -> (T, T, T, T) {
        let pre = z + u * h;
        // d act / d pre
        let (hn, d) = match self {
            IndRnn::Tanh => {
                let t = pre.tanh();
                (t, T::ONE - t * t)
            }
            IndRnn::Relu => {
                if pre > T::ZERO {
                    (pre, T::ONE)
                } else {
                    (T::ZERO, T::ZERO)
                }
            }
        };
        (hn, d, d * h, d * u)
    }

    /// Batched over units so the activation runs through the SIMD kernels.
    fn units<T: Float>(&self, z: &[T], u: &[T], h: &mut [T], coef: &mut [T]) {
        let n = h.len();
        let (dz, rest) = coef.split_at_mut(n);
        let (drho, dh) = rest.split_at_mut(n);
        for k in 0..n {
            drho[k] = h[k]; // the old state, needed below
            h[k] = z[k] + u[k] * h[k];
        }
        match self {
            IndRnn::Tanh => {
                crate::kernels::tanh_inplace(h);
                for k in 0..n {
                    dz[k] = T::ONE - h[k] * h[k];
                }
            }
            IndRnn::Relu => {
                for k in 0..n {
                    dz[k] = if h[k] > T::ZERO { T::ONE } else { T::ZERO };
                }
                crate::kernels::relu_inplace(h);
            }
        }
        for k in 0..n {
            drho[k] *= dz[k];
            dh[k] = dz[k] * u[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::elementwise::ElemShape;
    use crate::rtrl::diag::{backward, forward, rtrl_gradient};

    fn data(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * s).sin() * 0.7).collect()
    }

    #[test]
    fn rtrl_equals_bptt_and_finite_differences() {
        for cell in [IndRnn::Tanh, IndRnn::Relu] {
            let sh = ElemShape::new(3, 4).unwrap();
            let (t, b) = (6, 2);
            let p = data(sh.n_params(), 0.37);
            let x = data(t * b * 3, 0.91);
            let h0 = data(b * 4, 0.23);
            let dy = data(t * b * 4, 0.53);
            let y = forward(&cell, &sh, &p, &x, Some(&h0), t, b).unwrap();
            let bw = backward(&cell, &sh, &p, &x, Some(&h0), &y, &dy, None, t, b).unwrap();
            let (g, y2) = rtrl_gradient(&cell, &sh, &p, &x, &dy, Some(&h0), t, b).unwrap();
            assert_eq!(y, y2);
            for (a, c) in g.iter().zip(&bw.grad) {
                assert!((a - c).abs() <= 1e-12 * (1.0 + c.abs()), "{a} vs {c}");
            }
            // Finite differences of L = sum dy * y on one parameter of each block.
            let loss = |q: &[f64]| -> f64 {
                let y = forward(&cell, &sh, q, &x, Some(&h0), t, b).unwrap();
                y.iter().zip(&dy).map(|(a, c)| a * c).sum()
            };
            for idx in [1, sh.off_rho() + 2, sh.off_bias() + 3] {
                let mut q = p.clone();
                q[idx] += 1e-6;
                let lp = loss(&q);
                q[idx] -= 2e-6;
                let lm = loss(&q);
                let fd = (lp - lm) / 2e-6;
                assert!((fd - g[idx]).abs() < 1e-7, "{fd} vs {}", g[idx]);
            }
        }
    }
}
