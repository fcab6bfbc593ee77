//! Recurrent cells: one file per cell. Each defines, in one place, its
//! parameter layout (gate blocks and its own parameters, `Cell::OWN`), the
//! forward step, the backward step and the partial derivatives RTRL needs
//! (`Cell::rtrl_row`).
//!
//! The gated cells (Elman, LSTM and its variants, GRU and its gate variants,
//! MGU, leaky, layer-normalised LSTM/GRU) share PyTorch's layout: `weight_ih`
//! `(G*H, I)`, `weight_hh` `(G*H, h_out)`, `bias_ih`, `bias_hh` `(G*H)`, gate
//! blocks of `H` rows in torch's order, then the cell's own parameters. Both
//! drivers do the matrix products (`crate::layer`: input projection of all
//! steps at once and one recurrent product per step; `crate::rtrl`: the
//! products of one step); a cell only does the element-wise part of a step,
//! over a batch of rows.
//!
//! The element-wise cells (IndRNN `indrnn.rs`, the diagonal linear unit
//! `diag.rs`) have their own layout and map (`elementwise.rs`): each unit
//! sees only its own past. The Jordan network (`jordan.rs`) recurs through
//! its output and has its own driver.
//!
//! Adding a gated cell: one file implementing `Cell`, one entry in `Mode`
//! (and in `with_cell!`).

pub mod diag;
pub mod elementwise;
pub mod indrnn;

pub mod elman;
pub mod gru;
pub mod jordan;
pub mod lstm;
pub mod mgu;

pub use elman::Elman;
pub use gru::{Gru, GruVariant};
pub use lstm::Lstm;
pub use mgu::Mgu;

pub mod layernorm_gru;
pub mod layernorm_lstm;
pub mod leaky;
pub use layernorm_gru::LayerNormGru;
pub use layernorm_lstm::LayerNormLstm;
pub use leaky::Leaky;

use crate::{Error, Float, Result};

/// The gated recurrent cells, by PyTorch's mode names (and the LSTM variants').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    RnnTanh,
    RnnRelu,
    Lstm,
    Gru,
    /// LSTM without forget gate (gates i, g, o): `c = c_prev + i*g`.
    LstmNoForget,
    /// LSTM with coupled input and forget gates (CIFG; gates i, g, o): `f = 1 - i`.
    LstmCifg,
    /// LSTM with diagonal peepholes (gates i, f, g, o; own parameter `weight_ch`).
    LstmPeephole,
    /// Leaky-integrator RNN, learned per-unit `α` (own parameter `alpha_logit`).
    Leaky,
    /// Layer-normalised LSTM (custom_lstms.py's formula; own LayerNorm gains and biases; RTRL in `crate::rtrl::dense`).
    LayerNormLstm,
    /// Layer-normalised GRU (the GRU analogue; RTRL in `crate::rtrl::dense`).
    LayerNormGru,
    /// GRU gate variants (Dey & Salem 2017; see `gru.rs`): r and z from
    /// `h_{t-1}` and bias (GRU1), from `h_{t-1}` only (GRU2), from the bias only (GRU3).
    Gru1,
    Gru2,
    Gru3,
    /// Minimal gated unit (Zhou et al. 2016; gates f, n).
    Mgu,
}

/// Runs `$body` with `$cell` bound to the cell value of `$mode` (a
/// `crate::cell::Mode`): the one place where a mode becomes a cell type, so
/// that everything downstream is monomorphised per cell.
macro_rules! with_cell {
    ($mode:expr, $cell:ident => $body:expr) => {
        match $mode {
            $crate::cell::Mode::RnnTanh => {
                let $cell = $crate::cell::Elman { relu: false };
                $body
            }
            $crate::cell::Mode::RnnRelu => {
                let $cell = $crate::cell::Elman { relu: true };
                $body
            }
            $crate::cell::Mode::Lstm => {
                let $cell = $crate::cell::Lstm::<{ $crate::cell::lstm::FULL }>;
                $body
            }
            $crate::cell::Mode::LstmNoForget => {
                let $cell = $crate::cell::Lstm::<{ $crate::cell::lstm::NO_FORGET }>;
                $body
            }
            $crate::cell::Mode::LstmCifg => {
                let $cell = $crate::cell::Lstm::<{ $crate::cell::lstm::COUPLED }>;
                $body
            }
            $crate::cell::Mode::Gru => {
                let $cell = $crate::cell::Gru;
                $body
            }
            $crate::cell::Mode::LstmPeephole => {
                let $cell = $crate::cell::Lstm::<{ $crate::cell::lstm::PEEPHOLE }>;
                $body
            }
            $crate::cell::Mode::Leaky => {
                let $cell = $crate::cell::Leaky;
                $body
            }
            $crate::cell::Mode::LayerNormLstm => {
                let $cell = $crate::cell::LayerNormLstm;
                $body
            }
            $crate::cell::Mode::LayerNormGru => {
                let $cell = $crate::cell::LayerNormGru;
                $body
            }
            $crate::cell::Mode::Gru1 => {
                let $cell = $crate::cell::GruVariant::<{ $crate::cell::gru::GRU1 }>;
                $body
            }
            $crate::cell::Mode::Gru2 => {
                let $cell = $crate::cell::GruVariant::<{ $crate::cell::gru::GRU2 }>;
                $body
            }
            $crate::cell::Mode::Gru3 => {
                let $cell = $crate::cell::GruVariant::<{ $crate::cell::gru::GRU3 }>;
                $body
            }
            $crate::cell::Mode::Mgu => {
                let $cell = $crate::cell::Mgu;
                $body
            }
        }
    };
}
pub(crate) use with_cell;

/// `C::GATES`, `C::HAS_C`, `C::OWN` and `C::RTRL` of a cell value (the element type does not matter).
fn layout_of<C: Cell<f64>>(_: &C) -> (usize, bool, &'static [OwnParam], bool) {
    (C::GATES, C::HAS_C, C::OWN, C::RTRL)
}

/// Gate blocks of `weight_ih`/`bias_ih`, `weight_hh` and `bias_hh` of a cell value.
fn blocks_of<C: Cell<f64>>(_: &C) -> [usize; 3] {
    [C::IN_GATES, C::REC_GATES, C::BIAS_HH_GATES]
}

impl Mode {
    /// Parses PyTorch's mode names `RNN_TANH`, `RNN_RELU`, `LSTM`, `GRU`, the
    /// LSTM variants `LSTM_NOFORGET`, `LSTM_CIFG`, `LSTM_PEEPHOLE`, the GRU
    /// variants `GRU1`, `GRU2`, `GRU3`, and `MGU`, `LEAKY`, `LAYERNORM_LSTM`,
    /// `LAYERNORM_GRU`, in any case.
    pub fn parse(s: &str) -> Result<Mode> {
        match s.to_ascii_uppercase().as_str() {
            "RNN_TANH" => Ok(Mode::RnnTanh),
            "RNN_RELU" => Ok(Mode::RnnRelu),
            "LSTM" => Ok(Mode::Lstm),
            "GRU" => Ok(Mode::Gru),
            "LSTM_NOFORGET" => Ok(Mode::LstmNoForget),
            "LSTM_CIFG" => Ok(Mode::LstmCifg),
            "LSTM_PEEPHOLE" => Ok(Mode::LstmPeephole),
            "LEAKY" => Ok(Mode::Leaky),
            "LAYERNORM_LSTM" => Ok(Mode::LayerNormLstm),
            "LAYERNORM_GRU" => Ok(Mode::LayerNormGru),
            "GRU1" => Ok(Mode::Gru1),
            "GRU2" => Ok(Mode::Gru2),
            "GRU3" => Ok(Mode::Gru3),
            "MGU" => Ok(Mode::Mgu),
            _ => Err(Error::value(
                "mode",
                format!(
                    "expected 'RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU', 'LSTM_NOFORGET', 'LSTM_CIFG', 'LSTM_PEEPHOLE', 'GRU1', 'GRU2', 'GRU3', 'MGU', 'LEAKY', 'LAYERNORM_LSTM' or 'LAYERNORM_GRU' (any case), got {s:?}"
                ),
            )),
        }
    }
    /// Gate blocks per hidden unit (rows of `weight_ih` are `gates * hidden`).
    #[inline]
    pub fn gates(self) -> usize {
        with_cell!(self, c => layout_of(&c).0)
    }
    /// Whether the cell carries a second state `c` (the LSTMs).
    #[inline]
    pub fn has_c(self) -> bool {
        with_cell!(self, c => layout_of(&c).1)
    }
    /// The cell's own parameters (`Cell::OWN`).
    #[inline]
    pub fn own_params(self) -> &'static [OwnParam] {
        with_cell!(self, c => layout_of(&c).2)
    }
    /// Whether RTRL supports the cell (`Cell::RTRL`).
    pub fn rtrl_supported(self) -> bool {
        with_cell!(self, c => layout_of(&c).3)
    }
    /// Rows (of H values) of the cell's own parameters, all together.
    #[inline]
    pub fn own_rows(self) -> usize {
        own_rows(self.own_params())
    }
    /// Gate blocks of `weight_ih` and `bias_ih` (rows are `in_gates * hidden`).
    pub fn in_gates(self) -> usize {
        with_cell!(self, c => blocks_of(&c)[0])
    }
    /// Gate blocks of `weight_hh`.
    pub fn rec_gates(self) -> usize {
        with_cell!(self, c => blocks_of(&c)[1])
    }
    /// Gate blocks of `bias_hh`.
    pub fn bias_hh_gates(self) -> usize {
        with_cell!(self, c => blocks_of(&c)[2])
    }
    /// Whether every parameter has `gates * hidden` rows (all cells but the
    /// GRU variants, whose gates r, z see no input or no state).
    pub fn full_layout(self) -> bool {
        let g = self.gates();
        self.in_gates() == g && self.rec_gates() == g && self.bias_hh_gates() == g
    }
    /// State components per unit: h, and c for the LSTM.
    #[inline]
    pub fn comps(self) -> usize {
        1 + usize::from(self.has_c())
    }
}

/// A parameter a cell owns besides `weight_ih`, `weight_hh` and the biases
/// (peephole weights, time constants, ...): `rows` vectors of `H` values per
/// layer and direction, named `{name}_l{k}` / `{name}_l{k}_reverse`, shape
/// `(rows, H)` (or `(H,)` when `rows == 1`). A cell's own parameters are
/// concatenated in `Cell::OWN` order into one slice of `own_rows(OWN) * H` values,
/// which the drivers hand to every step (`StepIo::own`, `BackIo::own`,
/// `RtrlRow::own`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnParam {
    pub name: &'static str,
    pub rows: usize,
}

/// Rows (of `H` values) of all the cell-owned parameters in `own`.
pub const fn own_rows(own: &[OwnParam]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < own.len() {
        n += own[i].rows;
        i += 1;
    }
    n
}

/// One forward step's buffers for a block of `n` batch rows, row-major per
/// batch row: gate values `(n, G*H)`, states `(n, H)` (`h_prev` has `h_out`
/// columns; only the LSTM may project).
pub struct StepIo<'a, T> {
    /// Hidden size H.
    pub h: usize,
    /// The cell's own parameters (`Cell::OWN`, concatenated; empty without).
    pub own: &'a [T],
    /// In: the input projection (with the folded biases); out: the gate
    /// activations (what the backward step reads).
    pub gates: &'a mut [T],
    /// `h_prev W_hh^T`, `(n, G*H)`.
    pub rec: &'a [T],
    /// The bias part that stays with the recurrent product (see `split_bias`).
    pub rec_bias: &'a [T],
    /// The input projection `(n, IN_GATES*H)` with the folded biases, when
    /// `IN_GATES < GATES` (then `gates` is output only); empty otherwise.
    pub input: &'a [T],
    pub h_prev: &'a [T],
    /// Cell states (empty without one).
    pub c_prev: &'a [T],
    pub c_new: &'a mut [T],
    /// The cell output (`h`, or the LSTM's `o * tanh(c)` before projection).
    pub out: &'a mut [T],
    /// Saved values, `(n, EXTRA*H)`.
    pub extra: &'a mut [T],
}

/// One backward step's buffers (same rows and layouts as `StepIo`).
pub struct BackIo<'a, T> {
    pub h: usize,
    /// The cell's own parameters (as in `StepIo`).
    pub own: &'a [T],
    /// Gradient w.r.t. `own`, ADDED to (this block of rows' accumulator;
    /// the driver sums the blocks in a fixed order).
    pub down: &'a mut [T],
    /// The forward step's gate activations and saved values.
    pub gates: &'a [T],
    pub extra: &'a [T],
    pub h_prev: &'a [T],
    pub c_prev: &'a [T],
    pub c_new: &'a [T],
    /// Gradient w.r.t. the step's `out`.
    pub dout: &'a [T],
    /// Gradient w.r.t. `c_new` on entry, w.r.t. `c_prev` on exit.
    pub dc: &'a mut [T],
    /// Out: gradients w.r.t. the input-side pre-activations, `(n, IN_GATES*H)`.
    pub dgx: &'a mut [T],
    /// Out (`SPLIT` only): gradients w.r.t. the recurrent-side pre-activations,
    /// `(n, DGH_GATES*H)`.
    pub dgh: &'a mut [T],
    /// Out (`DIRECT` only): the direct, element-wise part of the gradient w.r.t. `h_prev`.
    pub dh_prev: &'a mut [T],
}

/// One batch row of an RTRL step. With `A = W_ih x + b_ih` and
/// `B = W_hh h + b_hh` (rows `g*H + k` for gate g of unit k), the new state of
/// unit k depends only on the rows of unit k and on the old state of unit k;
/// the cell writes the new state and its partial derivatives
///
/// ```text
/// alpha[(c*G + g)*H + k] = ∂s'_{c,k} / ∂A_{g,k}
/// beta [(c*G + g)*H + k] = ∂s'_{c,k} / ∂B_{g,k}
/// gamma[(c*C + d)*H + k] = ∂s'_{c,k} / ∂s_{d,k}   (direct, not through B)
/// ```
///
/// for state components c, d (h = 0, LSTM c = 1; C components). These give
/// the state Jacobian and the (Kronecker-structured) immediate parameter
/// Jacobian; see `crate::rtrl`. A cell's own parameter row q of unit k
/// (`own[q*H + k]`) must feed unit k only; its partials are
///
/// ```text
/// delta[(c*Q + q)*H + k] = ∂s'_{c,k} / ∂own[q*H + k]   (Q = own_rows(OWN))
/// ```
pub struct RtrlRow<'a, T> {
    pub h: usize,
    /// The cell's own parameters (as in `StepIo`).
    pub own: &'a [T],
    /// Out: (C*Q*H), see above (empty without own parameters).
    pub delta: &'a mut [T],
    /// In: `A` (G*H); overwritten (scratch).
    pub a: &'a mut [T],
    /// `B` (G*H).
    pub b: &'a [T],
    /// The old and the new state, (C*H): h, then c.
    pub s_prev: &'a [T],
    pub s_new: &'a mut [T],
    /// (C*G*H) each.
    pub alpha: &'a mut [T],
    pub beta: &'a mut [T],
    /// (C*C*H).
    pub gamma: &'a mut [T],
    /// (H) scratch.
    pub scratch: &'a mut [T],
}

/// A gated recurrent cell's element-wise part, over a block of batch rows.
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
    /// Whether `h_prev` gets a direct, element-wise gradient (`BackIo::dh_prev`,
    /// to which the driver adds `dG W_hh`) besides the one through the
    /// recurrent product. Every `SPLIT` cell has one.
    const DIRECT: bool = Self::SPLIT;
    /// Whether the cell gives unit-local RTRL partials (`rtrl_row`); a cell
    /// that couples its units element-wise (LayerNorm) does not, and
    /// `crate::rtrl` refuses it.
    const RTRL: bool = true;
    /// The cell's own parameters (see `OwnParam`); none by default.
    const OWN: &'static [OwnParam] = &[];
    /// Gate blocks of `weight_ih` and `bias_ih`: the width of the input
    /// projection. Fewer than `GATES` when some gates see no input (the GRU
    /// variants); the driver then projects into `StepIo::input`, and `dgx`
    /// has this width.
    const IN_GATES: usize = Self::GATES;
    /// Gate blocks of `weight_hh`: the width of the recurrent product.
    const REC_GATES: usize = Self::GATES;
    /// `SPLIT` cells: the width of `dgh` in blocks. The recurrent product's
    /// gradient is its last `REC_GATES` blocks.
    const DGH_GATES: usize = Self::REC_GATES;
    /// Gate blocks of `bias_hh`: its gradient is the column sums of the last
    /// `BIAS_HH_GATES` blocks of `dgh` (of `dgx` when not `SPLIT`).
    const BIAS_HH_GATES: usize = Self::DGH_GATES;

    /// Splits the two bias vectors (`IN_GATES*H` and `BIAS_HH_GATES*H`, zero
    /// when absent) into the part added once to the input projection
    /// (`IN_GATES*H`) and the part that must stay with the recurrent product
    /// (`GATES*H`, laid out as the cell reads it). Default: everything folds
    /// into the input.
    fn split_bias(&self, h: usize, b_ih: &[T], b_hh: &[T], input_bias: &mut [T], rec_bias: &mut [T]) {
        let _ = h;
        for j in 0..input_bias.len() {
            input_bias[j] = b_ih[j] + b_hh[j];
            rec_bias[j] = T::ZERO;
        }
    }

    /// One step forward (see `StepIo`).
    fn forward(&self, s: StepIo<'_, T>);

    /// One step backward: writes `dgx` (and, when `SPLIT`, `dgh` and the
    /// direct part of `dh_prev`), carries `dc` back one step and adds the
    /// gradient of its own parameters to `down` (summed over the rows in
    /// order).
    fn backward(&self, s: BackIo<'_, T>);

    /// One batch row of an RTRL step: the new state and its partials (see `RtrlRow`).
    fn rtrl_row(&self, r: RtrlRow<'_, T>);
}
