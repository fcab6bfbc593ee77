//! Python binding: one time step of a recurrent layer (`rnn_step`), for
//! streaming use. A step's products are small, so what a call costs around
//! them matters: the arrays are checked here once (no Python-side checks, no
//! parameter names formatted unless one is wrong) and `x_t` is `(B, I)`, with
//! no time axis to add or drop.

use super::convert::to_numpy;
use super::dtype::{with_dtype, DType};
use crate::layer::{self, Mode, RnnSpec};
use crate::{Error, Float};
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::borrow::Cow;

/// `a` as an array of `T`, or a TypeError naming `arg`.
fn typed<'a, 'py, T: Element + Float>(
    a: &'a Bound<'py, PyAny>,
    arg: &str,
) -> PyResult<&'a Bound<'py, PyArrayDyn<T>>> {
    Ok(a.cast::<PyArrayDyn<T>>()
        .map_err(|_| Error::dtype(arg, format!("expected a numpy.ndarray of dtype {}", T::NAME)))?)
}

/// The elements in C order: borrowed when contiguous, else copied.
///
/// The step reads its arrays without rust-numpy's dynamic borrow flags: they
/// cost about as much as a small step's products (a hash-map entry per array
/// and call), and protect only against a mutable borrow held by Rust code,
/// which rnnrs never holds on these arrays (the layer's parameters are
/// written only by optimizers, in their own calls).
fn elements<'a, T: Element + Copy>(a: &'a Bound<'_, PyArrayDyn<T>>) -> Cow<'a, [T]> {
    // SAFETY: read-only use for the duration of this call (see above); a
    // Python thread writing the same array meanwhile races exactly as it
    // would against a borrow-checked view, whose flags Python code ignores.
    match unsafe { a.as_slice() } {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.to_owned_array().iter().copied().collect()),
    }
}

fn check_state<T: Element>(a: &Bound<'_, PyArrayDyn<T>>, want: &[usize], arg: &str) -> PyResult<()> {
    if a.shape() != want {
        return Err(Error::shape(arg, format!("expected shape {want:?}, got {:?}", a.shape())).into());
    }
    Ok(())
}

/// An optional state argument (None or Python's None: zeros).
fn state<'a, 'py, T: Element + Float>(
    a: Option<&'a Bound<'py, PyAny>>,
    want: &[usize],
    arg: &str,
) -> PyResult<Option<&'a Bound<'py, PyArrayDyn<T>>>> {
    match a {
        Some(v) if !v.is_none() => {
            let arr = typed::<T>(v, arg)?;
            check_state(arr, want, arg)?;
            Ok(Some(arr))
        }
        _ => Ok(None),
    }
}

type StepOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Option<Bound<'py, PyAny>>);

fn step_t<'py, T: Element + Float>(
    py: Python<'py>,
    spec: &RnnSpec,
    x: &Bound<'py, PyAny>,
    params: &[Bound<'py, PyAny>],
    h0: Option<&Bound<'py, PyAny>>,
    c0: Option<&Bound<'py, PyAny>>,
) -> PyResult<StepOut<'py>> {
    let xa = typed::<T>(x, "x_t")?;
    let b = xa.shape()[0];
    let rows = spec.num_layers;
    let h0a = state::<T>(h0, &[rows, b, spec.h_out()], "h0")?;
    let c0a = if spec.mode.has_c() { state::<T>(c0, &[rows, b, spec.hidden_size], "c0")? } else { None };
    let mut pa = Vec::with_capacity(params.len());
    for (i, p) in params.iter().enumerate() {
        // Named only when wrong: the core checks the shapes by torch name too.
        let name = || spec.param_slots().get(i).map_or_else(|| format!("params[{i}]"), |s| s.name());
        pa.push(p.cast::<PyArrayDyn<T>>().map_err(|_| {
            Error::dtype(name(), format!("expected a numpy.ndarray of dtype {} (the input's)", T::NAME))
        })?);
    }
    let pv: Vec<Cow<[T]>> = pa.iter().map(|a| elements(a)).collect();
    let ps: Vec<&[T]> = pv.iter().map(|p| &**p).collect();
    let (h0v, c0v) = (h0a.map(elements), c0a.map(elements));
    let states = layer::States { h0: h0v.as_deref(), c0: c0v.as_deref(), mask: None, lengths: None };
    let xv = elements(xa);
    let xs = &*xv;
    let (out, _) =
        py.detach(|| crate::interrupt::watched(|| layer::forward_with(spec, &ps, xs, 1, b, states, false)))?;
    let y = to_numpy(py, out.y, &[b, spec.h_out()])?.into_any();
    let h_n = to_numpy(py, out.h_n, &[rows, b, spec.h_out()])?.into_any();
    let c_n = if spec.mode.has_c() {
        Some(to_numpy(py, out.c_n, &[rows, b, spec.hidden_size])?.into_any())
    } else {
        None
    };
    Ok((y, h_n, c_n))
}

/// One step of a (stacked, unidirectional) RNN/LSTM/GRU: `x` `(B, I)`,
/// `h0` `(L, B, h_out)`, `c0` `(L, B, H)` (LSTM) or None for zeros.
/// Returns `(y (B, h_out), h_n, c_n or None)`; nothing is kept for a backward.
#[pyfunction]
#[pyo3(signature = (mode, x, params, h0=None, c0=None, *, hidden_size, num_layers=1, bias=true, proj_size=0))]
#[allow(clippy::too_many_arguments)]
fn rnn_step<'py>(
    py: Python<'py>,
    mode: &str,
    x: &Bound<'py, PyAny>,
    params: Vec<Bound<'py, PyAny>>,
    h0: Option<Bound<'py, PyAny>>,
    c0: Option<Bound<'py, PyAny>>,
    hidden_size: usize,
    num_layers: usize,
    bias: bool,
    proj_size: usize,
) -> PyResult<StepOut<'py>> {
    let input_size = match x.cast::<numpy::PyUntypedArray>() {
        Ok(a) if a.ndim() == 2 => a.shape()[1],
        _ => return Err(Error::shape("x_t", "expected a 2-dimensional numpy.ndarray (B, I)").into()),
    };
    let spec = RnnSpec {
        mode: Mode::parse(mode)?,
        input_size,
        hidden_size,
        num_layers,
        bidirectional: false,
        bias,
        proj_size,
    };
    with_dtype!(DType::of(x, "x_t"), T, step_t::<T>(py, &spec, x, &params, h0.as_ref(), c0.as_ref()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rnn_step, m)?)?;
    Ok(())
}
