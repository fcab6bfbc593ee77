//! Which SIMD path the kernels run on (`RNNRS_SIMD`, see `crate::kernels::Isa`).

use crate::kernels::Isa;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The instruction-set path rnnrs computes on: "avx512", "avx2", "neon" or
/// "scalar" (`RNNRS_SIMD` when set, else the widest this CPU supports).
#[pyfunction]
fn simd_path() -> &'static str {
    Isa::active().name()
}

/// The paths this CPU supports (values `RNNRS_SIMD` accepts besides "auto").
#[pyfunction]
fn simd_paths() -> Vec<&'static str> {
    Isa::supported().into_iter().map(Isa::name).collect()
}

/// Registers the functions; refuses a `RNNRS_SIMD` that names no path or
/// one this CPU cannot run (a clear error at import, not a silent fallback).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    Isa::requested().map_err(PyValueError::new_err)?;
    m.add_function(wrap_pyfunction!(simd_path, m)?)?;
    m.add_function(wrap_pyfunction!(simd_paths, m)?)?;
    Ok(())
}
