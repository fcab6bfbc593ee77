//! The ONE mapping of core errors to Python exceptions, and the Ctrl-C hook.
//!
//! Each `crate::Error` becomes an instance of a class of `rnnrs.errors`
//! (subclasses of `rnnrs.RnnrsError` that also derive from the built-in a
//! user expects: a shape error is a `ValueError` with the argument's name in
//! `.arg`). An interrupted call re-raises what the signal handler raised
//! (`KeyboardInterrupt` for Ctrl-C).

use crate::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;
use std::cell::RefCell;

thread_local! {
    /// What the signal handler raised during this thread's watched call.
    static PENDING: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// The interrupt hook (`crate::interrupt::set_hook`): runs Python's signal
/// handlers (they only run on the main thread; elsewhere this is a no-op) and
/// keeps the exception one of them raised.
fn signal_raised() -> bool {
    Python::attach(|py| match py.check_signals() {
        Ok(()) => false,
        Err(e) => {
            PENDING.with(|p| *p.borrow_mut() = Some(e));
            true
        }
    })
}

/// Registers the interrupt hook (called when `_core` is imported).
pub fn install_interrupt_hook() {
    crate::interrupt::set_hook(signal_raised);
}

/// `rnnrs.errors.<name>(msg, arg)`, or the built-in `fallback` if the
/// module cannot be imported (it always can, unless the install is broken).
fn rnnrs_error(name: &str, msg: String, arg: Option<String>, fallback: fn(String) -> PyErr) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("rnnrs.errors")
            .and_then(|m| m.getattr(name))
            .and_then(|c| Ok(c.cast_into::<PyType>()?));
        match class {
            Ok(c) => PyErr::from_type(c, (msg, arg)),
            Err(_) => fallback(msg),
        }
    })
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.to_string();
        match e {
            Error::Shape { arg, .. } => rnnrs_error("ShapeError", msg, Some(arg), PyValueError::new_err),
            Error::Value { arg, .. } => rnnrs_error("ArgumentError", msg, Some(arg), PyValueError::new_err),
            Error::Type { arg, .. } => rnnrs_error("DTypeError", msg, Some(arg), PyTypeError::new_err),
            Error::NonFinite(_) => rnnrs_error("NonFiniteError", msg, None, PyRuntimeError::new_err),
            Error::Numerical(_) => rnnrs_error("NumericalError", msg, None, PyRuntimeError::new_err),
            Error::Alloc { .. } => rnnrs_error("AllocationError", msg, None, PyMemoryError::new_err),
            Error::Interrupted => PENDING
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| PyKeyboardInterrupt::new_err("interrupted")),
        }
    }
}
