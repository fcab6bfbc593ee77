//! Reservoir computing (echo-state networks): seeded sparse random weights,
//! a CSR matrix with a fused leaky-update row kernel, spectral-radius
//! estimation by restarted Arnoldi, the reservoir state update over
//! sequences and batches, and streaming / online readouts.
//!
//! The state update is ReservoirPy's "internal" equation:
//!
//! ```text
//! x[t+1] = (1 - lr) * x[t] + lr * f(W x[t] + Win (u[t+1] + n_in) + bias + Wfb (y[t] + n_fb)) + n_rc
//! ```
//!
//! with `lr` per unit, `n_*` seeded Gaussian noise scaled by its gain.

mod batch;
pub mod csr;
mod generate;
pub mod init;
pub mod lsm;
pub mod online;
mod pages;
pub mod ridge;
pub mod rowdot;
pub mod run;
pub mod spectral;
mod team;

pub use csr::{Csr, CsrRef};
pub use generate::generate;
pub use init::{dense_random, sparse_random, Distribution, SeededRng};
pub use online::{lms_update, rls_update};
pub use ridge::{merge_stats, ridge_accumulate, ridge_solve, RidgeSolution, RidgeStats};
pub use rowdot::RowKernel;
pub use run::{run, Activation, Noise, Recurrent, ReservoirRef};
pub use spectral::{spectral_radius, SpectralOptions};
