//! Elman cell: `h = act(W_ih x + b_ih + W_hh h_prev + b_hh)`, act tanh or relu.

use super::Cell;
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

    fn forward(
        &self,
        _h: usize,
        gates: &mut [T],
        rec: &[T],
        _rec_bias: &[T],
        _h_prev: &[T],
        _c_prev: &[T],
        _c_new: &mut [T],
        out: &mut [T],
        _extra: &mut [T],
    ) {
        for (g, &r) in gates.iter_mut().zip(rec) {
            *g += r;
        }
        if self.relu {
            relu_inplace(gates);
        } else {
            tanh_inplace(gates);
        }
        out.copy_from_slice(gates);
    }

    fn backward(
        &self,
        _h: usize,
        gates: &[T],
        _extra: &[T],
        _h_prev: &[T],
        _c_prev: &[T],
        _c_new: &[T],
        dout: &[T],
        _dc: &mut [T],
        dgx: &mut [T],
        _dgh: &mut [T],
        _dh_prev: &mut [T],
    ) {
        if self.relu {
            // torch: the gradient passes where the output is > 0.
            for ((d, &y), &g) in dgx.iter_mut().zip(gates).zip(dout) {
                *d = if y > T::ZERO { g } else { T::ZERO };
            }
        } else {
            for ((d, &y), &g) in dgx.iter_mut().zip(gates).zip(dout) {
                *d = g * (T::ONE - y * y);
            }
        }
    }
}
