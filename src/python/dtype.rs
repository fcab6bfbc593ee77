//! The ONE dtype dispatch of the bindings.
//!
//! A binding that serves float32 and float64 takes its arrays as
//! `&Bound<PyAny>`, finds the element type from its leading array
//! ([`DType::of`]) or from a dtype name ([`DType::parse`]), and runs one
//! generic body with [`with_dtype!`]. The body takes every other array with
//! `convert::array::<T>` (and friends), which raises a TypeError naming the
//! argument when its dtype differs: one function per concept, no `_f32` /
//! `_f64` twins.

use crate::Error;
use numpy::{PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// The element types the core computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
}

impl DType {
    /// From a dtype name, "float32" or "float64".
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "float32" => Ok(Self::F32),
            "float64" => Ok(Self::F64),
            other => Err(Error::dtype("dtype", format!("expected 'float32' or 'float64', got {other:?}"))),
        }
    }

    /// The dtype of the NumPy array `a`, or a TypeError naming `arg`.
    pub fn of(a: &Bound<'_, PyAny>, arg: &str) -> Result<Self, Error> {
        if a.cast::<PyArrayDyn<f32>>().is_ok() {
            Ok(Self::F32)
        } else if a.cast::<PyArrayDyn<f64>>().is_ok() {
            Ok(Self::F64)
        } else {
            Err(Error::dtype(
                arg,
                format!("expected a numpy.ndarray of dtype float32 or float64, got {}", describe(a)),
            ))
        }
    }

    /// The dtype of the first array of a list (float64 for an empty list,
    /// which has nothing to compute).
    pub fn of_first(list: &[Bound<'_, PyAny>], arg: &str) -> Result<Self, Error> {
        match list.first() {
            Some(a) => Self::of(a, &format!("{arg}[0]")),
            None => Ok(Self::F64),
        }
    }
}

/// What `a` is, for error messages: "float64 array" or the Python type name.
pub fn describe(a: &Bound<'_, PyAny>) -> String {
    if let Ok(arr) = a.cast::<PyUntypedArray>() {
        return match arr.dtype().str() {
            Ok(s) => format!("an array of dtype {s}"),
            Err(_) => "an array".to_string(),
        };
    }
    match a.get_type().name() {
        Ok(n) => n.to_string(),
        Err(_) => "another type".to_string(),
    }
}

/// A dtype, or a dtype name to parse (what [`with_dtype!`] accepts).
pub trait IntoDType {
    fn into_dtype(self) -> Result<DType, Error>;
}

impl IntoDType for DType {
    fn into_dtype(self) -> Result<DType, Error> {
        Ok(self)
    }
}

impl IntoDType for &str {
    fn into_dtype(self) -> Result<DType, Error> {
        DType::parse(self)
    }
}

impl IntoDType for Result<DType, Error> {
    fn into_dtype(self) -> Result<DType, Error> {
        self
    }
}

/// Runs `$body` with the type alias `$t` bound to the element type of
/// `$dtype` (a [`DType`], a `Result<DType, Error>` or a dtype name); an
/// unknown dtype returns its error.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident, $body:expr) => {
        match $crate::python::dtype::IntoDType::into_dtype($dtype) {
            Ok($crate::python::dtype::DType::F64) => {
                type $t = f64;
                $body
            }
            Ok($crate::python::dtype::DType::F32) => {
                type $t = f32;
                $body
            }
            Err(e) => Err(e.into()),
        }
    };
}
pub(crate) use with_dtype;
