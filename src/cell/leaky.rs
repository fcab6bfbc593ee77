//! Leaky-integrator RNN cell with learned per-unit time constants:
//! `h' = (1 - α) * h + α * tanh(W_ih x + b_ih + W_hh h + b_hh)`,
//! `α = sigmoid(a)` per unit, `a` the cell's own parameter `alpha_logit` `(H,)`.
//! One gate block; `tanh(.)` is kept as the gate value for the backward.

use super::{BackIo, Cell, OwnParam, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Leaky-integrator unit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Leaky;

/// `α = sigmoid(alpha_logit)`, once per step call (H values).
fn alphas<T: Float>(own: &[T], h: usize) -> Vec<T> {
    let mut a = own[..h].to_vec();
    sigmoid_inplace(&mut a);
    a
}

impl<T: Float> Cell<T> for Leaky {
    const GATES: usize = 1;
    const HAS_C: bool = false;
    const EXTRA: usize = 0;
    const SPLIT: bool = false;
    /// `h'` depends on `h` directly through `(1 - α) h`.
    const DIRECT: bool = true;
    const OWN: &'static [OwnParam] = &[OwnParam { name: "alpha_logit", rows: 1 }];

    fn forward(&self, s: StepIo<'_, T>) {
        let h = s.h;
        let al = alphas(s.own, h);
        for (g, &r) in s.gates.iter_mut().zip(s.rec) {
            *g += r;
        }
        tanh_inplace(s.gates);
        for ((u, hp), o) in
            s.gates.chunks_exact(h).zip(s.h_prev.chunks_exact(h)).zip(s.out.chunks_exact_mut(h))
        {
            for j in 0..h {
                o[j] = (T::ONE - al[j]) * hp[j] + al[j] * u[j];
            }
        }
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let h = s.h;
        let al = alphas(s.own, h);
        for ((((u, hp), d), dz), dhp) in s
            .gates
            .chunks_exact(h)
            .zip(s.h_prev.chunks_exact(h))
            .zip(s.dout.chunks_exact(h))
            .zip(s.dgx.chunks_exact_mut(h))
            .zip(s.dh_prev.chunks_exact_mut(h))
        {
            for j in 0..h {
                dz[j] = d[j] * al[j] * (T::ONE - u[j] * u[j]);
                dhp[j] = d[j] * (T::ONE - al[j]);
                s.down[j] += d[j] * (u[j] - hp[j]) * al[j] * (T::ONE - al[j]);
            }
        }
    }

    /// alpha = beta = α (1 - u²); gamma = 1 - α; delta = (u - h) α (1 - α).
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let h = r.h;
        let al = &mut r.scratch[..h];
        al.copy_from_slice(&r.own[..h]);
        sigmoid_inplace(al);
        let a = r.a;
        for (v, &w) in a.iter_mut().zip(r.b) {
            *v += w;
        }
        tanh_inplace(a);
        for k in 0..h {
            let (u, hp, av) = (a[k], r.s_prev[k], al[k]);
            r.s_new[k] = (T::ONE - av) * hp + av * u;
            let d = av * (T::ONE - u * u);
            r.alpha[k] = d;
            r.beta[k] = d;
            r.gamma[k] = T::ONE - av;
            r.delta[k] = (u - hp) * av * (T::ONE - av);
        }
    }
}
