//! Python bindings: RTRL of the dense-Jacobian cells (`crate::rtrl::dense`):
//! clockwork, Jordan, LayerNorm LSTM/GRU, deep transition. Options arrive
//! as one dict, parsed once (`dense_spec`).

use super::convert::{array, optional, shape, slice, to_numpy};
use super::rtrl::{dims, step_impl};
use crate::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::IntoPyObjectExt;

use crate::rtrl::dense::{self, DenseCell, DenseMethod, DenseRtrl};
use crate::rtrl::dense_cells::{AnyDense, DenseSpec};

enum DenseInner {
    F32(DenseRtrl<f32, AnyDense>),
    F64(DenseRtrl<f64, AnyDense>),
}

/// Online (and whole-sequence) RTRL of a dense cell: exact or SnAp-1.
/// The state is (B, S) with the loss-visible output its first `output` columns.
#[pyclass(module = "rnnrs._core")]
struct DenseRtrlState {
    inner: DenseInner,
    state_len: usize,
    output: usize,
    n_params: usize,
}

/// A dense cell's options as one dict (`rnnrs.rtrl_cells._DenseCell._spec`),
/// the one parser of `DenseRtrlState` and `dense_rtrl_sensitivity_bytes`.
/// `input_size` is required; the other keys default as the layers do, and
/// each cell reads the ones it has. An unknown key is an error, so that a
/// misspelt option never falls back to its default unnoticed.
fn dense_spec(options: &Bound<'_, PyDict>) -> PyResult<DenseSpec> {
    let mut spec = DenseSpec {
        bias: true,
        hidden_activation: "tanh".into(),
        output_activation: "tanh".into(),
        transition_depth: 1,
        ..DenseSpec::default()
    };
    let mut input = None;
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        let bad = |e: PyErr| -> PyErr { Error::dtype(format!("options[{key:?}]"), e.to_string()).into() };
        match key.as_str() {
            "input_size" => input = Some(value.extract().map_err(bad)?),
            "hidden_size" => spec.hidden = value.extract().map_err(bad)?,
            "output_size" => spec.output = value.extract().map_err(bad)?,
            "module_sizes" => spec.module_sizes = value.extract().map_err(bad)?,
            "periods" => spec.periods = value.extract().map_err(bad)?,
            "bias" => spec.bias = value.extract().map_err(bad)?,
            "hidden_activation" => spec.hidden_activation = value.extract().map_err(bad)?,
            "output_activation" => spec.output_activation = value.extract().map_err(bad)?,
            "transition_depth" => spec.transition_depth = value.extract().map_err(bad)?,
            "output_depth" => spec.output_depth = value.extract().map_err(bad)?,
            "shortcut" => spec.shortcut = value.extract().map_err(bad)?,
            other => {
                return Err(Error::value(
                    "options",
                    format!(
                        "unknown option {other:?} (expected input_size, hidden_size, output_size, \
                         module_sizes, periods, bias, hidden_activation, output_activation, \
                         transition_depth, output_depth, shortcut)"
                    ),
                )
                .into())
            }
        }
    }
    spec.input = input.ok_or_else(|| Error::value("options", "expected an input_size"))?;
    Ok(spec)
}

#[pymethods]
impl DenseRtrlState {
    /// `cell`: "CLOCKWORK", "JORDAN", "LAYERNORM_LSTM", "LAYERNORM_GRU", "DEEP_TRANSITION";
    /// `method`: "exact" or "snap1"; `options`: the layer's options (see `dense_spec`).
    #[new]
    #[pyo3(signature = (cell, method, dtype, batch, options, *, memory_limit=None))]
    fn new(
        cell: &str,
        method: &str,
        dtype: &str,
        batch: usize,
        options: &Bound<'_, PyDict>,
        memory_limit: Option<u64>,
    ) -> PyResult<Self> {
        let spec = dense_spec(options)?;
        let c = AnyDense::new(cell, &spec)?;
        let m = DenseMethod::parse(method)?;
        let lay = DenseCell::<f64>::layout(&c).clone();
        let inner = match dtype {
            "float64" => DenseInner::F64(DenseRtrl::new(c, m, batch, memory_limit)?),
            "float32" => DenseInner::F32(DenseRtrl::new(c, m, batch, memory_limit)?),
            other => {
                return Err(Error::dtype("dtype", format!("expected float32 or float64, got {other}")).into())
            }
        };
        Ok(DenseRtrlState { inner, state_len: lay.state, output: lay.output, n_params: lay.n_params() })
    }

    /// Sets the state (s0: (B, S) or None for zeros), restarts the clock, zeroes the sensitivities.
    #[pyo3(signature = (s0=None))]
    fn reset(&mut self, s0: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        macro_rules! go {
            ($t:ty, $r:expr) => {{
                let a = optional::<$t>(s0, "h0")?;
                let s = a.as_ref().map(|a| slice(a, "h0")).transpose()?;
                $r.reset(s)?;
            }};
        }
        match &mut self.inner {
            DenseInner::F32(r) => go!(f32, r),
            DenseInner::F64(r) => go!(f64, r),
        }
        Ok(())
    }

    /// Advances one step: params (P,), x (B, I), dloss_dh (B, O) or None; returns this
    /// step's gradient estimate (P,) or None.
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
            DenseInner::F32(r) => {
                step_impl::<f32>(py, params, x, dloss_dh, n, |p, x, d, g| r.step(p, x, d, g))
            }
            DenseInner::F64(r) => {
                step_impl::<f64>(py, params, x, dloss_dh, n, |p, x, d, g| r.step(p, x, d, g))
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
            DenseInner::F32(r) => go!(f32, r),
            DenseInner::F64(r) => go!(f64, r),
        }
    }

    /// A whole sequence: x (T, B, I), dloss_dh (T, B, O) -> (grad (P,), y (T, B, O)); the state advances.
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        x: &Bound<'py, PyAny>,
        dloss_dh: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let (n, o) = (self.n_params, self.output);
        macro_rules! go {
            ($t:ty, $r:expr) => {{
                let (pa, xa, da) = (
                    array::<$t>(params, "params")?,
                    array::<$t>(x, "x")?,
                    array::<$t>(dloss_dh, "dloss_dh")?,
                );
                let xs = shape(&xa);
                dims(&xs, 3, "x")?;
                let (p, xv, dv) = (slice(&pa, "params")?, slice(&xa, "x")?, slice(&da, "dloss_dh")?);
                let r = $r;
                let (g, y) = py.detach(|| crate::interrupt::watched(|| r.run(p, xv, dv, xs[0])))?;
                let g = to_numpy(py, g, &[n])?;
                let y = to_numpy(py, y, &[xs[0], xs[1], o])?;
                (g, y).into_py_any(py)
            }};
        }
        match &mut self.inner {
            DenseInner::F32(r) => go!(f32, r),
            DenseInner::F64(r) => go!(f64, r),
        }
    }

    /// Forgets the sensitivities, keeping the state.
    fn zero_sensitivities(&mut self) {
        match &mut self.inner {
            DenseInner::F32(r) => r.zero_sensitivities(),
            DenseInner::F64(r) => r.zero_sensitivities(),
        }
    }

    /// The state, (B, S).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Py<PyAny>> {
        match &self.inner {
            DenseInner::F32(r) => {
                to_numpy(py, r.state().to_vec(), &[r.batch(), self.state_len])?.into_py_any(py)
            }
            DenseInner::F64(r) => {
                to_numpy(py, r.state().to_vec(), &[r.batch(), self.state_len])?.into_py_any(py)
            }
        }
    }

    #[getter]
    fn n_params(&self) -> usize {
        self.n_params
    }
    #[getter]
    fn state_len(&self) -> usize {
        self.state_len
    }
}

/// Bytes of sensitivity memory a dense cell's RTRL needs (the figure the memory guard checks).
#[pyfunction]
#[pyo3(signature = (cell, method, dtype, batch, options))]
fn dense_rtrl_sensitivity_bytes(
    cell: &str,
    method: &str,
    dtype: &str,
    batch: usize,
    options: &Bound<'_, PyDict>,
) -> PyResult<u128> {
    let spec = dense_spec(options)?;
    let c = AnyDense::new(cell, &spec)?;
    let m = DenseMethod::parse(method)?;
    let lay = DenseCell::<f64>::layout(&c);
    Ok(match dtype {
        "float32" => dense::sensitivity_bytes::<f32>(lay, m, batch),
        _ => dense::sensitivity_bytes::<f64>(lay, m, batch),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DenseRtrlState>()?;
    m.add_function(wrap_pyfunction!(dense_rtrl_sensitivity_bytes, m)?)?;
    Ok(())
}
