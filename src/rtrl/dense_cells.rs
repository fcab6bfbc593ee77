//! The dense RTRL cells by name: the one place where a cell kind and its
//! options become a `DenseCell` (the partials live in each cell's own file).

use super::dense::{DenseCell, DenseLayout, DenseStep};
use super::dense_clockwork::ClockworkCell;
use crate::cell::jordan::{Act, JordanRtrl};
use crate::cell::layernorm_gru::LayerNormGruRtrl;
use crate::cell::layernorm_lstm::LayerNormLstmRtrl;
use crate::{Error, Float, Result};

/// The options of every dense cell (each reads the ones it has).
#[derive(Clone, Debug, Default)]
pub struct DenseSpec {
    pub input: usize,
    pub hidden: usize,
    /// Jordan: the size O of y.
    pub output: usize,
    /// Clockwork: module sizes and periods.
    pub module_sizes: Vec<usize>,
    pub periods: Vec<usize>,
    pub bias: bool,
    /// Jordan: activations ("tanh", "sigmoid", "identity").
    pub hidden_activation: String,
    pub output_activation: String,
    /// Deep transition: transition and output MLP depths, DT(S) shortcut.
    pub transition_depth: usize,
    pub output_depth: usize,
    pub shortcut: bool,
}

#[derive(Clone, Debug)]
pub enum AnyDense {
    Clockwork(ClockworkCell),
    Jordan(JordanRtrl),
    LayerNormLstm(LayerNormLstmRtrl),
    LayerNormGru(LayerNormGruRtrl),
    DeepTransition(super::dense_deep::DeepTransitionCell),
}

impl AnyDense {
    /// `kind`: "CLOCKWORK", "JORDAN", "LAYERNORM_LSTM", "LAYERNORM_GRU" or "DEEP_TRANSITION".
    pub fn new(kind: &str, o: &DenseSpec) -> Result<Self> {
        Ok(match kind {
            "CLOCKWORK" => AnyDense::Clockwork(ClockworkCell::new(o.input, &o.module_sizes, &o.periods, o.bias)?),
            "JORDAN" => AnyDense::Jordan(JordanRtrl::new(
                o.input,
                o.hidden,
                o.output,
                Act::parse(&o.hidden_activation, "hidden_activation")?,
                Act::parse(&o.output_activation, "output_activation")?,
            )?),
            "LAYERNORM_LSTM" => AnyDense::LayerNormLstm(LayerNormLstmRtrl::new(o.input, o.hidden)?),
            "LAYERNORM_GRU" => AnyDense::LayerNormGru(LayerNormGruRtrl::new(o.input, o.hidden)?),
            "DEEP_TRANSITION" => AnyDense::DeepTransition(super::dense_deep::DeepTransitionCell::new(
                o.input,
                o.hidden,
                o.transition_depth,
                o.output_depth,
                o.shortcut,
                o.bias,
            )?),
            _ => {
                return Err(Error::value(
                    "cell",
                    format!("expected 'CLOCKWORK', 'JORDAN', 'LAYERNORM_LSTM', 'LAYERNORM_GRU' or 'DEEP_TRANSITION', got {kind:?}"),
                ))
            }
        })
    }
}

impl<T: Float> DenseCell<T> for AnyDense {
    fn layout(&self) -> &DenseLayout {
        match self {
            AnyDense::Clockwork(c) => DenseCell::<T>::layout(c),
            AnyDense::Jordan(c) => DenseCell::<T>::layout(c),
            AnyDense::LayerNormLstm(c) => DenseCell::<T>::layout(c),
            AnyDense::LayerNormGru(c) => DenseCell::<T>::layout(c),
            AnyDense::DeepTransition(c) => DenseCell::<T>::layout(c),
        }
    }
    fn step(&self, params: &[T], s: DenseStep<'_, T>) {
        match self {
            AnyDense::Clockwork(c) => c.step(params, s),
            AnyDense::Jordan(c) => c.step(params, s),
            AnyDense::LayerNormLstm(c) => c.step(params, s),
            AnyDense::LayerNormGru(c) => c.step(params, s),
            AnyDense::DeepTransition(c) => c.step(params, s),
        }
    }
}
