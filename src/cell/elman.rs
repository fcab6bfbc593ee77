//! Elman cell: `h = act(W_ih x + b_ih + W_hh h_prev + b_hh)`, act tanh or relu.

use super::{BackIo, Cell, RtrlRow, StepIo};
use crate::kernels::{relu_inplace, tanh_inplace};
use crate::Float;

/// Elman (vanilla) RNN cell; `relu` selects ReLU instead of tanh.
#[derive(Clone, Copy, Debug)]
pub struct Elman {
    pub relu: bool,
}

impl<T: Float> Cell<T> for Elman {
    const GATES: usize = 1;
    const HAS_C: bool = false;
    const EXTRA: usize = 0;
    const SPLIT: bool = false;

    fn forward(&self, s: StepIo<'_, T>) {
        for (g, &r) in s.gates.iter_mut().zip(s.rec) {
            *g += r;
        }
        if self.relu {
            relu_inplace(s.gates);
        } else {
            tanh_inplace(s.gates);
        }
        s.out.copy_from_slice(s.gates);
    }

    fn backward(&self, s: BackIo<'_, T>) {
        if self.relu {
            // torch: the gradient passes where the output is > 0.
            for ((d, &y), &g) in s.dgx.iter_mut().zip(s.gates).zip(s.dout) {
                *d = if y > T::ZERO { g } else { T::ZERO };
            }
        } else {
            for ((d, &y), &g) in s.dgx.iter_mut().zip(s.gates).zip(s.dout) {
                *d = g * (T::ONE - y * y);
            }
        }
    }

    /// `h' = act(A + B)`: alpha = beta = act'; no direct dependence on `h`.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let a = r.a;
        for (v, &w) in a.iter_mut().zip(r.b) {
            *v += w;
        }
        if self.relu {
            relu_inplace(a);
        } else {
            tanh_inplace(a);
        }
        for (k, &t) in a.iter().enumerate().take(r.h) {
            let d = if !self.relu {
                T::ONE - t * t
            } else if t > T::ZERO {
                T::ONE
            } else {
                T::ZERO
            };
            r.s_new[k] = t;
            r.alpha[k] = d;
            r.beta[k] = d;
            r.gamma[k] = T::ZERO;
        }
    }
}
