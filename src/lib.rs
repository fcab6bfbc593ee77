//! rnnrs: fast CPU recurrent neural networks.
//!
//! The core knows nothing of Python; the PyO3 binding lives in `src/python/`
//! behind the `python` cargo feature (thin wrappers: one dtype dispatch, one
//! array conversion, one error mapping). The modules: `cell` (one file per
//! cell), `layer` (the stacked, bidirectional sequence driver), `rtrl`,
//! `train` (clipping, losses, optimizers, dense layers), `reservoir`,
//! `memory`, `seq2seq`, `structure` (trees, convolution), over `kernels`
//! (SIMD), `linalg` (the GEMM) and `par` (the thread pool).

pub mod error;
pub mod float;
pub mod interrupt;
pub mod linalg;
pub mod par;

pub mod kernels;

pub mod cell;
pub mod layer;

pub mod train;

pub mod reservoir;

pub mod rtrl;

pub mod memory;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use float::Float;
pub use par::{num_threads, set_num_threads};

pub mod seq2seq;
pub mod structure;
