//! NumPy <-> Rust conversions shared by every binding file: borrowing input
//! arrays as slices (with errors that name the argument) and handing results
//! back as fresh NumPy arrays.

use crate::Error;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{
    Element, IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

/// The input's elements as a contiguous slice, or a ValueError naming `arg`.
/// (The Python layer makes arrays C-contiguous first; this is the guard.)
pub fn slice<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>, arg: &str) -> PyResult<&'a [T]> {
    Ok(a.as_slice().map_err(|_| Error::value(arg, "expected a C-contiguous array"))?)
}

/// The in-place target's elements as a contiguous mutable slice.
pub fn slice_mut<'a, T: Element>(a: &'a mut PyReadwriteArrayDyn<'_, T>, arg: &str) -> PyResult<&'a mut [T]> {
    Ok(a.as_slice_mut().map_err(|_| Error::value(arg, "expected a C-contiguous, writeable array"))?)
}

/// The shape of an input array.
pub fn shape<T: Element>(a: &PyReadonlyArrayDyn<'_, T>) -> Vec<usize> {
    a.shape().to_vec()
}

/// A fresh NumPy array of `shape` owning `data`.
pub fn to_numpy<'py, T: Element>(
    py: Python<'py>,
    data: Vec<T>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let arr = ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| Error::shape("output", format!("internal shape mismatch: {e}")))?;
    Ok(arr.into_pyarray(py))
}
