//! Recurrent cells: one file per cell. Each defines its parameter layout, the
//! forward step and the backward step.
//!
//! The gated cells (Elman, LSTM, GRU) share PyTorch's layout: `weight_ih`
//! `(G*H, I)`, `weight_hh` `(G*H, h_out)`, gate blocks of `H` rows in torch's
//! order. The layer driver (`crate::layer`) does the matrix products (input
//! projection of all steps at once, one recurrent product per step); a cell
//! only does the element-wise part of a step, over a whole batch at once.

// Element-wise recurrent cells (exact RTRL in O(P)); owned by the RTRL work.
pub mod diag;
pub mod indrnn;

pub mod elman;
pub mod gru;
pub mod lstm;

pub use elman::Elman;
pub use gru::Gru;
pub use lstm::Lstm;

use crate::Float;

/// The element-wise part of a gated recurrent cell, for a batch of `B` rows.
///
/// Buffers are row-major per batch row: gate pre-activations `(B, G*H)`,
/// states `(B, H)` (`h_prev` has `h_out` columns; only the LSTM may project).
pub trait Cell<T: Float>: Sync {
    /// Gate blocks per hidden unit (1 Elman, 3 GRU, 4 LSTM).
    const GATES: usize;
    /// Whether the cell carries a second state `c` (LSTM).
    const HAS_C: bool;
    /// Extra values saved per step and batch row, in units of `H` (GRU: the
    /// recurrent n-gate pre-activation `W_hn h + b_hn`).
    const EXTRA: usize;
    /// Whether the gradient w.r.t. the recurrent pre-activations differs from
    /// the one w.r.t. the input pre-activations (GRU's n gate), and `h_prev`
    /// gets a direct element-wise gradient besides `dG W_hh`.
    const SPLIT: bool;

    /// Splits the two bias vectors (each `G*H`, zero when absent) into the
    /// part added once to the input projection and the part that must stay
    /// with the recurrent product. Default: everything folds into the input.
    fn split_bias(&self, h: usize, b_ih: &[T], b_hh: &[T], input_bias: &mut [T], rec_bias: &mut [T]) {
        let _ = h;
        for j in 0..input_bias.len() {
            input_bias[j] = b_ih[j] + b_hh[j];
            rec_bias[j] = T::ZERO;
        }
    }

    /// One step forward. `gates` holds the input projection (with the
    /// folded biases) and receives the gate activations; `rec` is
    /// `h_prev W_hh^T`; `out` receives the cell output (`h`, or the LSTM's
    /// `o * tanh(c)` before projection); `extra` receives saved values.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        h: usize,
        gates: &mut [T],
        rec: &[T],
        rec_bias: &[T],
        h_prev: &[T],
        c_prev: &[T],
        c_new: &mut [T],
        out: &mut [T],
        extra: &mut [T],
    );

    /// One step backward. `dout` is the gradient w.r.t. the step's `out`;
    /// `dc` the gradient w.r.t. `c_new` on entry and w.r.t. `c_prev` on exit.
    /// Writes the pre-activation gradients `dgx` (input side) and, when
    /// `SPLIT`, `dgh` (recurrent side) and the direct part of `dh_prev`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        h: usize,
        gates: &[T],
        extra: &[T],
        h_prev: &[T],
        c_prev: &[T],
        c_new: &[T],
        dout: &[T],
        dc: &mut [T],
        dgx: &mut [T],
        dgh: &mut [T],
        dh_prev: &mut [T],
    );
}
