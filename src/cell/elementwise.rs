//! Element-wise recurrent cells, where each unit only sees its own past:
//! `h'_k = φ(z_k, ρ_k, h_k)` with the input drive `z = W x + b`. Their
//! Jacobian is diagonal, so exact RTRL costs O(P) (`crate::rtrl::diag`).
//!
//! Parameter layout, flat: `[weight_ih (H, I), ρ (H), bias (H)]`. A cell
//! (`indrnn.rs`, `diag.rs`) defines only `φ` and its partials (`UnitMap`);
//! `ElemKind` names them.

use crate::error::{checked_size, Error, Result};
use crate::float::Float;

/// The per-unit map of an element-wise cell and its partial derivatives.
pub trait UnitMap: Sync {
    /// `(h', ∂h'/∂z, ∂h'/∂ρ, ∂h'/∂h)` for input drive z, recurrent parameter ρ, old state h.
    fn unit<T: Float>(&self, z: T, rho: T, h: T) -> (T, T, T, T);

    /// All units of one sequence at once: `h` (H) is replaced by h', and
    /// `coef` (3, H) receives ∂h'/∂z, ∂h'/∂ρ, ∂h'/∂h. Cells override this to
    /// use the vectorised activation kernels.
    fn units<T: Float>(&self, z: &[T], rho: &[T], h: &mut [T], coef: &mut [T]) {
        let n = h.len();
        let (dz, rest) = coef.split_at_mut(n);
        let (drho, dh) = rest.split_at_mut(n);
        for k in 0..n {
            let (hn, a, b, c) = self.unit(z[k], rho[k], h[k]);
            h[k] = hn;
            dz[k] = a;
            drho[k] = b;
            dh[k] = c;
        }
    }
}

/// Sizes of an element-wise cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemShape {
    pub input: usize,
    pub hidden: usize,
}

impl ElemShape {
    pub fn new(input: usize, hidden: usize) -> Result<Self> {
        if input == 0 {
            return Err(Error::value("input_size", "expected a positive size"));
        }
        if hidden == 0 {
            return Err(Error::value("hidden_size", "expected a positive size"));
        }
        checked_size(&[hidden, input + 2], "parameters")?;
        Ok(ElemShape { input, hidden })
    }
    pub fn n_params(&self) -> usize {
        self.hidden * (self.input + 2)
    }
    pub fn off_rho(&self) -> usize {
        self.hidden * self.input
    }
    pub fn off_bias(&self) -> usize {
        self.hidden * (self.input + 1)
    }
}

/// The element-wise cells, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemKind {
    IndRnnTanh,
    IndRnnRelu,
    Diag,
}

impl ElemKind {
    /// Parses `INDRNN_TANH`, `INDRNN_RELU`, `DIAG`, in any case.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_uppercase().as_str() {
            "INDRNN_TANH" => Ok(ElemKind::IndRnnTanh),
            "INDRNN_RELU" => Ok(ElemKind::IndRnnRelu),
            "DIAG" => Ok(ElemKind::Diag),
            _ => Err(Error::value(
                "cell",
                format!("expected 'INDRNN_TANH', 'INDRNN_RELU' or 'DIAG', got {name:?}"),
            )),
        }
    }
}

/// Runs `$body` with `$u` bound to (a reference to) the unit map of `$kind`.
#[allow(unused_macros)]
macro_rules! with_unit {
    ($kind:expr, $u:ident => $body:expr) => {
        match $kind {
            $crate::cell::elementwise::ElemKind::IndRnnTanh => {
                let $u = &$crate::cell::indrnn::IndRnn::Tanh;
                $body
            }
            $crate::cell::elementwise::ElemKind::IndRnnRelu => {
                let $u = &$crate::cell::indrnn::IndRnn::Relu;
                $body
            }
            $crate::cell::elementwise::ElemKind::Diag => {
                let $u = &$crate::cell::diag::DiagLinear;
                $body
            }
        }
    };
}
// Used by the Python bindings (feature `python`).
#[allow(unused_imports)]
pub(crate) use with_unit;
