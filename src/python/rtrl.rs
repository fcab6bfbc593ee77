//! Python bindings: rtrl. The Python layer (`python/rnnrs/rtrl.py`) checks
//! shapes, makes arrays C-contiguous and of one dtype, and passes that dtype's
//! name; every function here dispatches on it to the f32 or f64 core.

use super::convert::{array, optional, shape, slice, to_numpy};
use super::dtype::with_dtype;
use crate::cell::elementwise::{with_unit, ElemKind, ElemShape};
use crate::cell::Mode;
use crate::rtrl::diag::{self as elem, ElemRtrl};
use crate::rtrl::{self, CellShape, Method, Rtrl};
use crate::{Error, Float};
use numpy::{Element, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

pub(super) fn dims(a: &[usize], n: usize, arg: &str) -> PyResult<()> {
    if a.len() != n {
        return Err(Error::shape(arg, format!("expected a {n}-d array, got {}-d", a.len())).into());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn gradient_impl<'py, T: Float + Element>(
    py: Python<'py>,
    mode: &str,
    method: &str,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dloss_dh: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    c0: Option<&Bound<'py, PyAny>>,
    seed: u64,
    memory_limit: Option<u64>,
) -> PyResult<Py<PyAny>> {
    let (pa, xa, da) =
        (array::<T>(params, "params")?, array::<T>(x, "x")?, array::<T>(dloss_dh, "dloss_dh")?);
    let (h0a, c0a) = (optional::<T>(h0, "h0")?, optional::<T>(c0, "c0")?);
    let xs = shape(&xa);
    dims(&xs, 3, "x")?;
    let (steps, batch, input) = (xs[0], xs[1], xs[2]);
    let kind = Mode::parse(mode)?;
    let p_len: usize = shape(&pa).iter().product();
    let hidden = {
        let ds = shape(&da);
        dims(&ds, 3, "dloss_dh")?;
        if ds[0] != steps || ds[1] != batch {
            return Err(Error::shape(
                "dloss_dh",
                format!("expected shape ({steps}, {batch}, hidden_size), got {ds:?}"),
            )
            .into());
        }
        ds[2]
    };
    let sh = CellShape::new(kind, input, hidden)?;
    if p_len != sh.n_params() {
        return Err(Error::shape(
            "params",
            format!(
                "expected {} parameters for {mode} with input_size={input}, hidden_size={hidden}, got {p_len}",
                sh.n_params()
            ),
        )
        .into());
    }
    let method = Method::parse(method, seed)?;
    let (p, xv, dv) = (slice(&pa, "params")?, slice(&xa, "x")?, slice(&da, "dloss_dh")?);
    let h0s = h0a.as_ref().map(|a| slice(a, "h0")).transpose()?;
    let c0s = c0a.as_ref().map(|a| slice(a, "c0")).transpose()?;
    let res = py.detach(|| {
        crate::interrupt::watched(|| {
            rtrl::gradient(sh, method, p, xv, dv, steps, batch, h0s, c0s, memory_limit)
        })
    })?;
    let (c, h) = (kind.comps(), hidden);
    let mut h_n = Vec::with_capacity(batch * h);
    let mut c_n = Vec::with_capacity(batch * h);
    for b in 0..batch {
        h_n.extend_from_slice(&res.state[b * c * h..b * c * h + h]);
        if c == 2 {
            c_n.extend_from_slice(&res.state[b * c * h + h..(b + 1) * c * h]);
        }
    }
    let g = to_numpy(py, res.grad, &[p_len])?;
    let y = to_numpy(py, res.y, &[steps, batch, h])?;
    let hn = to_numpy(py, h_n, &[batch, h])?;
    let cn = if c == 2 { Some(to_numpy(py, c_n, &[batch, h])?) } else { None };
    (g, y, hn, cn).into_py_any(py)
}

/// RTRL over a whole sequence: (grad (P,), y (T, B, H), h_n (B, H), c_n or None).
#[pyfunction]
#[pyo3(signature = (mode, method, dtype, params, x, dloss_dh, h0=None, c0=None, seed=0, memory_limit=None))]
#[allow(clippy::too_many_arguments)]
fn rtrl_gradient<'py>(
    py: Python<'py>,
    mode: &str,
    method: &str,
    dtype: &str,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dloss_dh: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    c0: Option<&Bound<'py, PyAny>>,
    seed: u64,
    memory_limit: Option<u64>,
) -> PyResult<Py<PyAny>> {
    with_dtype!(
        dtype,
        T,
        gradient_impl::<T>(py, mode, method, params, x, dloss_dh, h0, c0, seed, memory_limit)
    )
}

fn seq_dims<T: Element>(
    xa: &PyReadonlyArrayDyn<'_, T>,
    pa: &PyReadonlyArrayDyn<'_, T>,
) -> PyResult<(usize, usize, ElemShape)> {
    let xs = shape(xa);
    dims(&xs, 3, "x")?;
    let input = xs[2];
    let p: usize = shape(pa).iter().product();
    if input == 0 || (p / (input + 2)) * (input + 2) != p {
        return Err(Error::shape(
            "params",
            format!(
                "expected hidden_size * (input_size + 2) = hidden_size * {} elements, got {p}",
                input + 2
            ),
        )
        .into());
    }
    Ok((xs[0], xs[1], ElemShape::new(input, p / (input + 2))?))
}

fn elem_forward_impl<'py, T: Float + Element>(
    py: Python<'py>,
    cell: ElemKind,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let (pa, xa, h0a) = (array::<T>(params, "params")?, array::<T>(x, "x")?, optional::<T>(h0, "h0")?);
    let (steps, batch, sh) = seq_dims(&xa, &pa)?;
    let (p, xv) = (slice(&pa, "params")?, slice(&xa, "x")?);
    let h0s = h0a.as_ref().map(|a| slice(a, "h0")).transpose()?;
    let y = py.detach(|| {
        crate::interrupt::watched(|| with_unit!(cell, u => elem::forward(u, &sh, p, xv, h0s, steps, batch)))
    })?;
    to_numpy(py, y, &[steps, batch, sh.hidden])?.into_py_any(py)
}

/// Forward of an element-wise cell ("INDRNN_TANH", "INDRNN_RELU", "DIAG"): y (T, B, H).
#[pyfunction]
#[pyo3(signature = (cell, dtype, params, x, h0=None))]
fn elem_forward<'py>(
    py: Python<'py>,
    cell: &str,
    dtype: &str,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let cell = ElemKind::parse(cell)?;
    with_dtype!(dtype, T, elem_forward_impl::<T>(py, cell, params, x, h0))
}

#[allow(clippy::too_many_arguments)]
fn elem_backward_impl<'py, T: Float + Element>(
    py: Python<'py>,
    cell: ElemKind,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dh_n: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let (pa, xa, h0a) = (array::<T>(params, "params")?, array::<T>(x, "x")?, optional::<T>(h0, "h0")?);
    let (ya, dya, dhna) = (array::<T>(y, "y")?, array::<T>(dy, "dy")?, optional::<T>(dh_n, "dh_n")?);
    let (steps, batch, sh) = seq_dims(&xa, &pa)?;
    let (p, xv, yv, dyv) = (slice(&pa, "params")?, slice(&xa, "x")?, slice(&ya, "y")?, slice(&dya, "dy")?);
    let h0s = h0a.as_ref().map(|a| slice(a, "h0")).transpose()?;
    let dhns = dhna.as_ref().map(|a| slice(a, "dh_n")).transpose()?;
    let r = py.detach(|| {
        crate::interrupt::watched(
            || with_unit!(cell, u => elem::backward(u, &sh, p, xv, h0s, yv, dyv, dhns, steps, batch)),
        )
    })?;
    let dx = to_numpy(py, r.dx, &[steps, batch, sh.input])?;
    let dh0 = to_numpy(py, r.dh0, &[batch, sh.hidden])?;
    let g = to_numpy(py, r.grad, &[sh.n_params()])?;
    (dx, dh0, g).into_py_any(py)
}

/// BPTT of an element-wise cell: (dx (T, B, I), dh0 (B, H), grad (P,)).
#[pyfunction]
#[pyo3(signature = (cell, dtype, params, x, y, dy, h0=None, dh_n=None))]
#[allow(clippy::too_many_arguments)]
fn elem_backward<'py>(
    py: Python<'py>,
    cell: &str,
    dtype: &str,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    dh_n: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let cell = ElemKind::parse(cell)?;
    with_dtype!(dtype, T, elem_backward_impl::<T>(py, cell, params, x, h0, y, dy, dh_n))
}

fn elem_rtrl_impl<'py, T: Float + Element>(
    py: Python<'py>,
    cell: ElemKind,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dloss_dh: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let (pa, xa, h0a) = (array::<T>(params, "params")?, array::<T>(x, "x")?, optional::<T>(h0, "h0")?);
    let da = array::<T>(dloss_dh, "dloss_dh")?;
    let (steps, batch, sh) = seq_dims(&xa, &pa)?;
    let (p, xv, dv) = (slice(&pa, "params")?, slice(&xa, "x")?, slice(&da, "dloss_dh")?);
    let h0s = h0a.as_ref().map(|a| slice(a, "h0")).transpose()?;
    let (g, y) =
        py.detach(|| with_unit!(cell, u => elem::rtrl_gradient(u, &sh, p, xv, dv, h0s, steps, batch)))?;
    let g = to_numpy(py, g, &[sh.n_params()])?;
    let y = to_numpy(py, y, &[steps, batch, sh.hidden])?;
    (g, y).into_py_any(py)
}

/// Exact O(P) RTRL of an element-wise cell over a sequence: (grad (P,), y (T, B, H)).
#[pyfunction]
#[pyo3(signature = (cell, dtype, params, x, dloss_dh, h0=None))]
fn elem_rtrl_gradient<'py>(
    py: Python<'py>,
    cell: &str,
    dtype: &str,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dloss_dh: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let cell = ElemKind::parse(cell)?;
    with_dtype!(dtype, T, elem_rtrl_impl::<T>(py, cell, params, x, dloss_dh, h0))
}

/// Sets the process-wide limit (bytes) on RTRL sensitivity memory.
#[pyfunction]
fn rtrl_set_memory_limit(bytes: u64) {
    rtrl::set_memory_limit(bytes);
}

/// The process-wide limit (bytes) on RTRL sensitivity memory.
#[pyfunction]
fn rtrl_get_memory_limit() -> u64 {
    rtrl::memory_limit()
}

/// The online state, per dtype and cell family.
enum Inner {
    F32(Rtrl<f32>),
    F64(Rtrl<f64>),
    E32(ElemRtrl<f32>, ElemKind),
    E64(ElemRtrl<f64>, ElemKind),
}

/// Online RTRL state: one step at a time (see `rnnrs.rtrl.RTRL`).
#[pyclass(module = "rnnrs._core")]
struct RtrlState {
    inner: Inner,
    hidden: usize,
    comps: usize,
    n_params: usize,
}

pub(super) fn step_impl<'py, T: Float + Element>(
    py: Python<'py>,
    params: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dloss_dh: Option<&Bound<'py, PyAny>>,
    n_params: usize,
    run: impl FnOnce(&[T], &[T], Option<&[T]>, Option<&mut [T]>) -> crate::Result<()> + Send,
) -> PyResult<Option<Py<PyAny>>> {
    let (pa, xa, da) =
        (array::<T>(params, "params")?, array::<T>(x, "x")?, optional::<T>(dloss_dh, "dloss_dh")?);
    let (p, xv) = (slice(&pa, "params")?, slice(&xa, "x")?);
    let dv = da.as_ref().map(|a| slice(a, "dloss_dh")).transpose()?;
    let mut grad = if dv.is_some() { Some(vec![T::ZERO; n_params]) } else { None };
    py.detach(|| run(p, xv, dv, grad.as_deref_mut()))?;
    grad.map(|g| to_numpy(py, g, &[n_params])?.into_py_any(py)).transpose()
}

#[pymethods]
impl RtrlState {
    /// `mode`: "RNN_TANH", "RNN_RELU", "LSTM", "GRU" (method "exact", "snap1",
    /// "uoro") or "INDRNN_TANH", "INDRNN_RELU", "DIAG" (method "diag"/"exact").
    #[new]
    #[pyo3(signature = (mode, method, dtype, input_size, hidden_size, batch, seed=0, memory_limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mode: &str,
        method: &str,
        dtype: &str,
        input_size: usize,
        hidden_size: usize,
        batch: usize,
        seed: u64,
        memory_limit: Option<u64>,
    ) -> PyResult<Self> {
        if let Ok(cell) = ElemKind::parse(mode) {
            if !matches!(method, "diag" | "exact" | "snap1") {
                return Err(Error::value(
                    "method",
                    format!("element-wise cells use exact O(P) RTRL ('diag'), got {method:?}"),
                )
                .into());
            }
            let sh = ElemShape::new(input_size, hidden_size)?;
            let inner = match dtype {
                "float64" => Inner::E64(ElemRtrl::new(sh, batch, memory_limit)?, cell),
                "float32" => Inner::E32(ElemRtrl::new(sh, batch, memory_limit)?, cell),
                other => {
                    return Err(
                        Error::dtype("dtype", format!("expected float32 or float64, got {other}")).into()
                    )
                }
            };
            return Ok(RtrlState { inner, hidden: hidden_size, comps: 1, n_params: sh.n_params() });
        }
        let kind = Mode::parse(mode)?;
        let sh = CellShape::new(kind, input_size, hidden_size)?;
        let m = Method::parse(method, seed)?;
        let inner = match dtype {
            "float64" => Inner::F64(Rtrl::new(sh, m, batch, memory_limit)?),
            "float32" => Inner::F32(Rtrl::new(sh, m, batch, memory_limit)?),
            other => {
                return Err(Error::dtype("dtype", format!("expected float32 or float64, got {other}")).into())
            }
        };
        Ok(RtrlState { inner, hidden: hidden_size, comps: kind.comps(), n_params: sh.n_params() })
    }

    /// Sets the state (h0, c0: (B, H) or None for zeros) and zeroes the sensitivities.
    #[pyo3(signature = (h0=None, c0=None))]
    fn reset(&mut self, h0: Option<&Bound<'_, PyAny>>, c0: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        macro_rules! go {
            ($t:ty, $f:expr) => {{
                let (h0a, c0a) = (optional::<$t>(h0, "h0")?, optional::<$t>(c0, "c0")?);
                let h0s = h0a.as_ref().map(|a| slice(a, "h0")).transpose()?;
                let c0s = c0a.as_ref().map(|a| slice(a, "c0")).transpose()?;
                $f(h0s, c0s)
            }};
        }
        match &mut self.inner {
            Inner::F32(r) => go!(f32, |h, c| r.reset(h, c))?,
            Inner::F64(r) => go!(f64, |h, c| r.reset(h, c))?,
            Inner::E32(r, _) => go!(f32, |h, c: Option<&[f32]>| if c.is_some() {
                Err(crate::Error::value("c0", "only the LSTM has a cell state"))
            } else {
                r.reset(h)
            })?,
            Inner::E64(r, _) => go!(f64, |h, c: Option<&[f64]>| if c.is_some() {
                Err(crate::Error::value("c0", "only the LSTM has a cell state"))
            } else {
                r.reset(h)
            })?,
        }
        Ok(())
    }

    /// Advances one step: params (P,), x (B, I), dloss_dh (B, H) or None.
    /// Returns the gradient estimate of this step (P,), or None without dloss_dh.
    #[pyo3(signature = (params, x, dloss_dh=None))]
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        x: &Bound<'py, PyAny>,
        dloss_dh: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let n = self.n_params;
        match &mut self.inner {
            Inner::F32(r) => step_impl::<f32>(py, params, x, dloss_dh, n, |p, x, d, g| r.step(p, x, d, g)),
            Inner::F64(r) => step_impl::<f64>(py, params, x, dloss_dh, n, |p, x, d, g| r.step(p, x, d, g)),
            Inner::E32(r, c) => {
                let c = *c;
                step_impl::<f32>(
                    py,
                    params,
                    x,
                    dloss_dh,
                    n,
                    |p, x, d, g| with_unit!(c, u => r.step(u, p, x, d, g)),
                )
            }
            Inner::E64(r, c) => {
                let c = *c;
                step_impl::<f64>(
                    py,
                    params,
                    x,
                    dloss_dh,
                    n,
                    |p, x, d, g| with_unit!(c, u => r.step(u, p, x, d, g)),
                )
            }
        }
    }

    /// The gradient estimate `sum_b dloss_dh[b] · M_t[b]` (P,) of the current step.
    fn gradient<'py>(&self, py: Python<'py>, dloss_dh: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        macro_rules! go {
            ($t:ty, $r:expr) => {{
                let da = array::<$t>(dloss_dh, "dloss_dh")?;
                let d = slice(&da, "dloss_dh")?;
                let mut g = vec![<$t>::default(); self.n_params];
                $r.accumulate(d, &mut g)?;
                to_numpy(py, g, &[self.n_params])?.into_py_any(py)
            }};
        }
        match &self.inner {
            Inner::F32(r) => go!(f32, r),
            Inner::F64(r) => go!(f64, r),
            Inner::E32(r, _) => go!(f32, r),
            Inner::E64(r, _) => go!(f64, r),
        }
    }

    /// Forgets the sensitivities, keeping the state (truncation to one step).
    fn zero_sensitivities(&mut self) {
        match &mut self.inner {
            Inner::F32(r) => r.zero_sensitivities(),
            Inner::F64(r) => r.zero_sensitivities(),
            Inner::E32(r, _) => r.zero_sensitivities(),
            Inner::E64(r, _) => r.zero_sensitivities(),
        }
    }

    /// The current state: (h (B, H), c (B, H) or None).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Py<PyAny>> {
        fn split<'py, T: Float + Element>(
            py: Python<'py>,
            s: &[T],
            batch: usize,
            h: usize,
            comps: usize,
        ) -> PyResult<Py<PyAny>> {
            let mut hv = Vec::with_capacity(batch * h);
            let mut cv = Vec::with_capacity(batch * h);
            for b in 0..batch {
                hv.extend_from_slice(&s[b * comps * h..b * comps * h + h]);
                if comps == 2 {
                    cv.extend_from_slice(&s[b * comps * h + h..(b + 1) * comps * h]);
                }
            }
            let hn = to_numpy(py, hv, &[batch, h])?;
            let cn = if comps == 2 { Some(to_numpy(py, cv, &[batch, h])?) } else { None };
            (hn, cn).into_py_any(py)
        }
        let (h, c) = (self.hidden, self.comps);
        match &self.inner {
            Inner::F32(r) => split(py, r.state(), r.batch(), h, c),
            Inner::F64(r) => split(py, r.state(), r.batch(), h, c),
            Inner::E32(r, _) => split(py, r.state(), r.batch(), h, 1),
            Inner::E64(r, _) => split(py, r.state(), r.batch(), h, 1),
        }
    }

    /// Number of parameters P.
    #[getter]
    fn n_params(&self) -> usize {
        self.n_params
    }
}

/// Bytes of sensitivity memory a method needs (the figure the memory guard checks).
#[pyfunction]
fn rtrl_sensitivity_bytes(
    mode: &str,
    method: &str,
    dtype: &str,
    input_size: usize,
    hidden_size: usize,
    batch: usize,
) -> PyResult<u128> {
    if ElemKind::parse(mode).is_ok() {
        let sh = ElemShape::new(input_size, hidden_size)?;
        let size = if dtype == "float32" { 4 } else { 8 };
        return Ok(sh.n_params() as u128 * batch as u128 * size);
    }
    let sh = CellShape::new(Mode::parse(mode)?, input_size, hidden_size)?;
    let m = Method::parse(method, 0)?;
    Ok(match dtype {
        "float32" => rtrl::sensitivity_bytes::<f32>(&sh, m, batch),
        _ => rtrl::sensitivity_bytes::<f64>(&sh, m, batch),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rtrl_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(elem_forward, m)?)?;
    m.add_function(wrap_pyfunction!(elem_backward, m)?)?;
    m.add_function(wrap_pyfunction!(elem_rtrl_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(rtrl_set_memory_limit, m)?)?;
    m.add_function(wrap_pyfunction!(rtrl_get_memory_limit, m)?)?;
    m.add_function(wrap_pyfunction!(rtrl_sensitivity_bytes, m)?)?;
    m.add_class::<RtrlState>()?;
    super::rtrl_dense::register(m)?;
    Ok(())
}
