//! Training toolkit: gradient clipping, losses, optimizer updates and the
//! dense model pieces (Linear, Embedding) a recurrent model needs around it.
//!
//! Every routine here is deterministic: reductions run over fixed-size blocks
//! combined in a fixed order, and parallel work is split along independent
//! outputs, so 1 and N threads give bit-identical results.

pub mod blocks;
pub mod clip;
pub mod dense;
pub mod loss;
pub mod optim;
