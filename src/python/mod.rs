//! The Python extension module `rnnrs._core`: the only place that uses PyO3.
//! One file per exposed area; each has a `register` function called here.

use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pub mod convert;
mod layers;
mod reservoir;
mod rtrl;
mod train;

impl From<crate::Error> for PyErr {
    fn from(e: crate::Error) -> PyErr {
        use crate::Error::*;
        match e {
            Shape { .. } | Value { .. } => PyValueError::new_err(e.to_string()),
            NonFinite(_) | Numerical(_) => PyRuntimeError::new_err(e.to_string()),
            Alloc { .. } => PyMemoryError::new_err(e.to_string()),
        }
    }
}

/// Sets the number of threads rnnrs computes with (0: the default, from
/// `RNNRS_NUM_THREADS` or the number of cores).
#[pyfunction]
fn set_num_threads(n: usize) {
    crate::par::set_num_threads(n);
}

/// The number of threads rnnrs computes with.
#[pyfunction]
fn get_num_threads() -> usize {
    crate::par::num_threads()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    layers::register(m)?;
    train::register(m)?;
    reservoir::register(m)?;
    rtrl::register(m)?;
    Ok(())
}
