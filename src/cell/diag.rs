//! Diagonal linear recurrent unit (a real-valued LRU-style cell):
//! h_t = a ⊙ h_{t-1} + W x_t + b with the per-unit decay a = sigmoid(λ) in
//! (0, 1), so the recurrence is stable for any λ. Parameters, flat:
//! `[weight_ih (H, I), decay_logit λ (H), bias (H)]`. Forward, BPTT and exact
//! O(P) RTRL come from the element-wise engine in `crate::rtrl::diag`
//! (layout: `super::elementwise`).

use super::elementwise::UnitMap;
use crate::float::Float;

/// The diagonal linear unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiagLinear;

impl UnitMap for DiagLinear {
    #[inline(always)]
    fn unit<T: Float>(&self, z: T, lambda: T, h: T) -> (T, T, T, T) {
        let a = lambda.sigmoid();
        (a * h + z, T::ONE, a * (T::ONE - a) * h, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::elementwise::ElemShape;
    use crate::rtrl::diag::{backward, forward, rtrl_gradient, ElemRtrl};

    fn data(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * s).sin() * 0.7).collect()
    }

    #[test]
    fn online_rtrl_matches_sequence_rtrl_and_bptt() {
        let sh = ElemShape::new(2, 5).unwrap();
        let (t, b) = (7, 3);
        let p = data(sh.n_params(), 0.41);
        let x = data(t * b * 2, 0.77);
        let dy = data(t * b * 5, 0.29);
        let y = forward(&DiagLinear, &sh, &p, &x, None, t, b).unwrap();
        let bw = backward(&DiagLinear, &sh, &p, &x, None, &y, &dy, None, t, b).unwrap();
        let (g, _) = rtrl_gradient(&DiagLinear, &sh, &p, &x, &dy, None, t, b).unwrap();
        let mut on = ElemRtrl::<f64>::new(sh, b, None).unwrap();
        let mut g2 = vec![0.0; sh.n_params()];
        for s in 0..t {
            on.step(
                &DiagLinear,
                &p,
                &x[s * b * 2..(s + 1) * b * 2],
                Some(&dy[s * b * 5..(s + 1) * b * 5]),
                Some(&mut g2),
            )
            .unwrap();
        }
        assert_eq!(on.state(), &y[(t - 1) * b * 5..]);
        for ((a, c), d) in g.iter().zip(&bw.grad).zip(&g2) {
            assert!((a - c).abs() <= 1e-12 * (1.0 + c.abs()), "{a} vs {c}");
            assert!((a - d).abs() <= 1e-12 * (1.0 + d.abs()), "{a} vs {d}");
        }
    }
}
