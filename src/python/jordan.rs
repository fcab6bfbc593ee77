//! Python bindings: the Jordan network (`jordan_forward`, `jordan_backward`),
//! one layer per call (the Python class stacks them). Arrays arrive
//! C-contiguous and time-major; the dtype of `x` selects float32 or float64.

use super::convert::{array, array_shaped, slice, slice_mut, to_numpy};
use crate::cell::jordan::{self, Act, JordanCache, JordanSpec};
use crate::{Error, Float};
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

enum AnyCache {
    F32(JordanCache<f32>),
    F64(JordanCache<f64>),
}

/// What a training `jordan_forward` keeps for `jordan_backward` (opaque).
#[pyclass(name = "JordanContext", module = "rnnrs._core", frozen)]
pub struct JordanContext {
    cache: AnyCache,
}

#[pymethods]
impl JordanContext {
    /// Sequence length of the cached run.
    #[getter]
    fn seq_len(&self) -> usize {
        match &self.cache {
            AnyCache::F32(c) => c.seq_batch().0,
            AnyCache::F64(c) => c.seq_batch().0,
        }
    }
}

fn spec_of(params: &[Bound<'_, PyAny>], act_h: &str, act_y: &str, input: usize) -> PyResult<JordanSpec> {
    if params.len() != 5 {
        return Err(Error::value(
            "params",
            format!(
                "expected 5 arrays (weight_ih, weight_hy, bias_h, weight_yh, bias_y), got {}",
                params.len()
            ),
        )
        .into());
    }
    let dims = |k: usize, name: &str| -> PyResult<Vec<usize>> {
        let shape: Vec<usize> = params[k].getattr("shape")?.extract()?;
        if shape.len() != 2 {
            return Err(Error::shape(name, format!("expected 2 dimensions, got shape {shape:?}")).into());
        }
        Ok(shape)
    };
    let (w_ih, w_yh) = (dims(0, "weight_ih")?, dims(3, "weight_yh")?);
    Ok(JordanSpec {
        input,
        hidden: w_ih[0],
        output: w_yh[0],
        act_h: Act::parse(act_h, "hidden_activation")?,
        act_y: Act::parse(act_y, "output_activation")?,
    })
}

type ForwardOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Option<JordanContext>);

#[allow(clippy::too_many_arguments)]
fn forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    params: &[Bound<'py, PyAny>],
    y0: Option<&Bound<'py, PyAny>>,
    act_h: &str,
    act_y: &str,
    lengths: Option<&[usize]>,
    train: bool,
    wrap: fn(JordanCache<T>) -> AnyCache,
) -> PyResult<ForwardOut<'py>> {
    let xa = array::<T>(x, "input")?;
    let shape = xa.shape().to_vec();
    if shape.len() != 3 {
        return Err(
            Error::shape("input", format!("expected 3 dimensions (T, B, I), got shape {shape:?}")).into()
        );
    }
    let (t, b) = (shape[0], shape[1]);
    let spec = spec_of(params, act_h, act_y, shape[2])?;
    let mut pa = Vec::with_capacity(5);
    for (p, (name, want)) in params.iter().zip(spec.param_shapes()) {
        pa.push(array_shaped::<T>(p, &want, name)?);
    }
    let ps = pa.iter().map(|a| slice(a, "params")).collect::<PyResult<Vec<_>>>()?;
    let y0a = match y0 {
        Some(v) if !v.is_none() => Some(array_shaped::<T>(v, &[b, spec.output], "y0")?),
        _ => None,
    };
    let y0s = y0a.as_ref().map(|a| slice(a, "y0")).transpose()?;
    let xs = slice(&xa, "input")?;
    let (y, y_n, cache) = py.detach(|| {
        crate::interrupt::watched(|| jordan::forward(&spec, &ps, xs, t, b, y0s, lengths, train))
    })?;
    let y = to_numpy(py, y, &[t, b, spec.output])?.into_any();
    let y_n = to_numpy(py, y_n, &[b, spec.output])?.into_any();
    Ok((y, y_n, cache.map(|c| JordanContext { cache: wrap(c) })))
}

/// One Jordan layer over a time-major `x` `(T, B, I)`: `params` are
/// `[weight_ih (H, I), weight_hy (H, O), bias_h (H), weight_yh (O, H), bias_y (O)]`,
/// `y0` `(B, O)` or None for zeros, activations "tanh", "sigmoid" or
/// "identity", `lengths` `(B,)` optional (1..=T). Returns `(y (T, B, O), y_n (B, O), ctx or None)`.
#[pyfunction]
#[pyo3(signature = (x, params, y0=None, *, hidden_activation="tanh", output_activation="tanh", lengths=None, train=false))]
#[allow(clippy::too_many_arguments)]
fn jordan_forward<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    params: Vec<Bound<'py, PyAny>>,
    y0: Option<&Bound<'py, PyAny>>,
    hidden_activation: &str,
    output_activation: &str,
    lengths: Option<Vec<usize>>,
    train: bool,
) -> PyResult<ForwardOut<'py>> {
    let (ha, oa, l) = (hidden_activation, output_activation, lengths.as_deref());
    if x.cast::<PyArrayDyn<f64>>().is_ok() {
        forward_t::<f64>(py, x, &params, y0, ha, oa, l, train, AnyCache::F64)
    } else {
        forward_t::<f32>(py, x, &params, y0, ha, oa, l, train, AnyCache::F32)
    }
}

fn backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    cache: &JordanCache<T>,
    params: &[Bound<'py, PyAny>],
    dy: &Bound<'py, PyAny>,
    dy_n: Option<&Bound<'py, PyAny>>,
    grads: &[Bound<'py, PyAny>],
    input_grad: bool,
) -> PyResult<(Option<Bound<'py, PyAny>>, Bound<'py, PyAny>)> {
    let pa = params.iter().map(|p| array::<T>(p, "params")).collect::<PyResult<Vec<_>>>()?;
    let ps = pa.iter().map(|a| slice(a, "params")).collect::<PyResult<Vec<_>>>()?;
    let dya = array::<T>(dy, "dy")?;
    let dyna = match dy_n {
        Some(v) if !v.is_none() => Some(array::<T>(v, "dy_n")?),
        _ => None,
    };
    let mut ga: Vec<PyReadwriteArrayDyn<'py, T>> = Vec::with_capacity(grads.len());
    for g in grads {
        let arr = g
            .cast::<PyArrayDyn<T>>()
            .map_err(|_| Error::dtype("grads", format!("expected numpy.ndarray of dtype {}", T::NAME)))?;
        ga.push(arr.try_readwrite().map_err(|e| Error::value("grads", e.to_string()))?);
    }
    let mut gs = ga.iter_mut().map(|a| slice_mut(a, "grads")).collect::<PyResult<Vec<_>>>()?;
    let dys = slice(&dya, "dy")?;
    let dyns = dyna.as_ref().map(|a| slice(a, "dy_n")).transpose()?;
    let (t, b) = cache.seq_batch();
    let (dx, dy0) = py.detach(|| {
        crate::interrupt::watched(|| jordan::backward(&ps, cache, dys, dyns, &mut gs, input_grad))
    })?;
    let i = dx.len().checked_div(t * b).unwrap_or(0);
    let o = dy0.len().checked_div(b).unwrap_or(0);
    let dx = if input_grad { Some(to_numpy(py, dx, &[t, b, i])?.into_any()) } else { None };
    Ok((dx, to_numpy(py, dy0, &[b, o])?.into_any()))
}

/// BPTT through a `jordan_forward(..., train=True)`: `dy` `(T, B, O)`,
/// `dy_n` `(B, O)` or None; gradients are ADDED to `grads` (arrays shaped
/// like `params`). Returns `(dx (T, B, I) or None, dy0 (B, O))`.
#[pyfunction]
#[pyo3(signature = (ctx, params, dy, dy_n=None, *, grads, input_grad=true))]
fn jordan_backward<'py>(
    py: Python<'py>,
    ctx: &JordanContext,
    params: Vec<Bound<'py, PyAny>>,
    dy: &Bound<'py, PyAny>,
    dy_n: Option<&Bound<'py, PyAny>>,
    grads: Vec<Bound<'py, PyAny>>,
    input_grad: bool,
) -> PyResult<(Option<Bound<'py, PyAny>>, Bound<'py, PyAny>)> {
    match &ctx.cache {
        AnyCache::F32(c) => backward_t::<f32>(py, c, &params, dy, dy_n, &grads, input_grad),
        AnyCache::F64(c) => backward_t::<f64>(py, c, &params, dy, dy_n, &grads, input_grad),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<JordanContext>()?;
    m.add_function(wrap_pyfunction!(jordan_forward, m)?)?;
    m.add_function(wrap_pyfunction!(jordan_backward, m)?)?;
    Ok(())
}
