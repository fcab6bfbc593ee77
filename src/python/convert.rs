//! NumPy <-> Rust conversions shared by every binding file: taking arguments
//! as arrays of the dispatched element type (errors name the argument),
//! borrowing them as slices, and handing results back as fresh NumPy arrays.

use super::dtype::describe;
use crate::{Error, Float};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{
    Element, IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

/// `a` as a read-only array of `T`, or a TypeError naming `arg` (a dtype
/// that differs from the one the call dispatched on, or not an array).
pub fn array<'py, T: Element + Float>(
    a: &Bound<'py, PyAny>,
    arg: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let arr = a.cast::<PyArrayDyn<T>>().map_err(|_| {
        Error::dtype(arg, format!("expected a numpy.ndarray of dtype {}, got {}", T::NAME, describe(a)))
    })?;
    Ok(arr.try_readonly().map_err(|e| Error::value(arg, e.to_string()))?)
}

/// `a` as a writeable array of `T` (an in-place target); TypeError naming
/// `arg` for another dtype, ValueError if it is read-only or aliased.
pub fn array_mut<'py, T: Element + Float>(
    a: &Bound<'py, PyAny>,
    arg: &str,
) -> PyResult<PyReadwriteArrayDyn<'py, T>> {
    let arr = a.cast::<PyArrayDyn<T>>().map_err(|_| {
        Error::dtype(arg, format!("expected a numpy.ndarray of dtype {}, got {}", T::NAME, describe(a)))
    })?;
    Ok(arr.try_readwrite().map_err(|e| Error::value(arg, format!("not writeable or aliased ({e})")))?)
}

/// An optional argument: Rust `None` and Python `None` are both absent.
pub fn optional<'py, T: Element + Float>(
    a: Option<&Bound<'py, PyAny>>,
    arg: &str,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    match a {
        Some(v) if !v.is_none() => Ok(Some(array::<T>(v, arg)?)),
        _ => Ok(None),
    }
}

/// [`array`] of exactly the shape `want` (a ValueError naming `arg` otherwise).
pub fn array_shaped<'py, T: Element + Float>(
    a: &Bound<'py, PyAny>,
    want: &[usize],
    arg: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let arr = array::<T>(a, arg)?;
    check_shape(arr.shape(), want, arg)?;
    Ok(arr)
}

/// [`optional`] of exactly the shape `want` when present.
pub fn optional_shaped<'py, T: Element + Float>(
    a: Option<&Bound<'py, PyAny>>,
    want: &[usize],
    arg: &str,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    match a {
        Some(v) if !v.is_none() => Ok(Some(array_shaped::<T>(v, want, arg)?)),
        _ => Ok(None),
    }
}

/// [`optional`] for an in-place target.
pub fn optional_mut<'py, T: Element + Float>(
    a: Option<&Bound<'py, PyAny>>,
    arg: &str,
) -> PyResult<Option<PyReadwriteArrayDyn<'py, T>>> {
    match a {
        Some(v) if !v.is_none() => Ok(Some(array_mut::<T>(v, arg)?)),
        _ => Ok(None),
    }
}

/// The TypeError of a list element whose dtype is not the dispatched one.
fn list_dtype_error<T: Float>(a: &Bound<'_, PyAny>, arg: &str, i: usize) -> PyErr {
    let msg = format!("expected every array in one dtype ({}), got {} at index {i}", T::NAME, describe(a));
    Error::dtype(arg, msg).into()
}

/// Every array of a list as `T` (all in one dtype); errors name the list.
pub fn arrays<'py, T: Element + Float>(
    list: &[Bound<'py, PyAny>],
    arg: &str,
) -> PyResult<Vec<PyReadonlyArrayDyn<'py, T>>> {
    list.iter()
        .enumerate()
        .map(|(i, a)| match a.cast::<PyArrayDyn<T>>() {
            Ok(_) => array::<T>(a, &format!("{arg}[{i}]")),
            Err(_) => Err(list_dtype_error::<T>(a, arg, i)),
        })
        .collect()
}

/// [`arrays`] for in-place targets.
pub fn arrays_mut<'py, T: Element + Float>(
    list: &[Bound<'py, PyAny>],
    arg: &str,
) -> PyResult<Vec<PyReadwriteArrayDyn<'py, T>>> {
    list.iter()
        .enumerate()
        .map(|(i, a)| match a.cast::<PyArrayDyn<T>>() {
            Ok(_) => array_mut::<T>(a, &format!("{arg}[{i}]")),
            Err(_) => Err(list_dtype_error::<T>(a, arg, i)),
        })
        .collect()
}

/// The input's elements as a contiguous slice, or a ValueError naming `arg`.
/// (The Python layer makes arrays C-contiguous first; this is the guard.)
pub fn slice<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>, arg: &str) -> PyResult<&'a [T]> {
    Ok(a.as_slice().map_err(|_| Error::value(arg, "expected a C-contiguous array"))?)
}

/// The in-place target's elements as a contiguous mutable slice.
pub fn slice_mut<'a, T: Element>(a: &'a mut PyReadwriteArrayDyn<'_, T>, arg: &str) -> PyResult<&'a mut [T]> {
    Ok(a.as_slice_mut().map_err(|_| Error::value(arg, "expected a C-contiguous, writeable array"))?)
}

/// An optional input's elements (None when absent).
pub fn opt_slice<'a, T: Element>(
    a: &'a Option<PyReadonlyArrayDyn<'_, T>>,
    arg: &str,
) -> PyResult<Option<&'a [T]>> {
    a.as_ref().map(|a| slice(a, arg)).transpose()
}

/// The shape of an input array.
pub fn shape<T: Element>(a: &PyReadonlyArrayDyn<'_, T>) -> Vec<usize> {
    a.shape().to_vec()
}

/// A ShapeError naming `arg` unless `got == want`.
pub fn check_shape(got: &[usize], want: &[usize], arg: &str) -> PyResult<()> {
    if got != want {
        return Err(Error::shape(arg, format!("expected shape {want:?}, got {got:?}")).into());
    }
    Ok(())
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
