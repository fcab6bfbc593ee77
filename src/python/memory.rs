//! Python bindings of `crate::memory`: classical and modern Hopfield
//! networks and the Neural Turing Machine. The Python package
//! (`rnnrs.memory`) validates arguments and builds the parameter lists;
//! every function here runs with the GIL released.

use super::convert::{array, shape, slice, slice_mut, to_numpy};
use crate::memory::controller::Controller;
use crate::memory::ntm::{self, MemoryInit, NtmParams, NtmSpec, Tape};
use crate::memory::{hopfield, modern};
use crate::Float;
use numpy::{Element, PyArrayDyn, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

fn dims(a: &[usize], want: usize, arg: &str, what: &str) -> PyResult<()> {
    if a.len() != want {
        return Err(PyErr::from(crate::Error::value(
            arg,
            format!("expected {want} dimensions {what}, got shape {a:?}"),
        )));
    }
    Ok(())
}

/// (N, rows) of a square weight matrix and a (rows, N) pattern/state array.
fn square_and_rows(w: &[usize], rows: &[usize], arg: &str) -> PyResult<usize> {
    dims(w, 2, "weights", "(N, N)")?;
    dims(rows, 2, arg, "(rows, N)")?;
    if w[0] != w[1] || rows[1] != w[0] {
        return Err(PyErr::from(crate::Error::value(
            arg,
            format!("expected rows of {} units for weights of shape {w:?}, got shape {rows:?}", w[1]),
        )));
    }
    Ok(w[0])
}

/// Adds the Hebbian weights of `patterns` (P, N) of ±1 to `weights` (N, N) float32.
#[pyfunction]
fn hopfield_hebbian(
    py: Python<'_>,
    mut weights: PyReadwriteArrayDyn<'_, f32>,
    patterns: PyReadonlyArrayDyn<'_, i8>,
) -> PyResult<()> {
    let n = square_and_rows(weights.shape(), &shape(&patterns), "patterns")?;
    let w = slice_mut(&mut weights, "weights")?;
    let p = slice(&patterns, "patterns")?;
    Ok(py.detach(|| hopfield::hebbian(w, n, p))?)
}

/// Applies the Storkey rule for each row of `patterns` (P, N) of ±1 to `weights`.
#[pyfunction]
fn hopfield_storkey(
    py: Python<'_>,
    mut weights: PyReadwriteArrayDyn<'_, f32>,
    patterns: PyReadonlyArrayDyn<'_, i8>,
) -> PyResult<()> {
    let n = square_and_rows(weights.shape(), &shape(&patterns), "patterns")?;
    let w = slice_mut(&mut weights, "weights")?;
    let p = slice(&patterns, "patterns")?;
    Ok(py.detach(|| hopfield::storkey(w, n, p))?)
}

/// Energies `-1/2 sᵀ W s` of the rows of `states` (B, N), float64 (B,).
#[pyfunction]
fn hopfield_energy<'py>(
    py: Python<'py>,
    weights: PyReadonlyArrayDyn<'py, f32>,
    states: PyReadonlyArrayDyn<'py, i8>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let n = square_and_rows(&shape(&weights), &shape(&states), "states")?;
    let w = slice(&weights, "weights")?;
    let s = slice(&states, "states")?;
    let e = py.detach(|| hopfield::energy(w, n, s))?;
    let rows = e.len();
    to_numpy(py, e, &[rows])
}

type RunOut<'py> = (Bound<'py, PyArrayDyn<i8>>, Bound<'py, PyArrayDyn<bool>>, Bound<'py, PyArrayDyn<u64>>);

/// Runs the rows of `states` (B, N) to a fixed point or `max_steps`;
/// returns `(states, converged (B,), steps (B,))`.
#[pyfunction]
fn hopfield_run<'py>(
    py: Python<'py>,
    weights: PyReadonlyArrayDyn<'py, f32>,
    states: PyReadonlyArrayDyn<'py, i8>,
    mode: &str,
    max_steps: usize,
    seed: u64,
) -> PyResult<RunOut<'py>> {
    let st = shape(&states);
    let n = square_and_rows(&shape(&weights), &st, "states")?;
    let mode = hopfield::Update::parse(mode)?;
    let w = slice(&weights, "weights")?;
    let mut s = slice(&states, "states")?.to_vec();
    let runs = py.detach(|| hopfield::run(w, n, &mut s, mode, max_steps, seed))?;
    let conv: Vec<bool> = runs.iter().map(|r| r.converged).collect();
    let steps: Vec<u64> = runs.iter().map(|r| r.steps as u64).collect();
    Ok((to_numpy(py, s, &st)?, to_numpy(py, conv, &[st[0]])?, to_numpy(py, steps, &[st[0]])?))
}

fn modern_dims(q: &[usize], x: &[usize]) -> PyResult<modern::Dims> {
    dims(q, 2, "query", "(B, d)")?;
    dims(x, 2, "patterns", "(P, d)")?;
    if q[1] != x[1] {
        return Err(PyErr::from(crate::Error::value(
            "query",
            format!("expected {} features like the patterns {x:?}, got shape {q:?}", x[1]),
        )));
    }
    Ok(modern::Dims { batch: q[0], patterns: x[0], dim: q[1] })
}

type Pair<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

fn modern_forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    patterns: &Bound<'py, PyAny>,
    beta: f64,
) -> PyResult<Pair<'py>> {
    let (qa, xa) = (array::<T>(query, "query")?, array::<T>(patterns, "patterns")?);
    let d = modern_dims(&shape(&qa), &shape(&xa))?;
    let (q, x) = (slice(&qa, "query")?, slice(&xa, "patterns")?);
    let (out, attn) = py.detach(|| modern::forward(d, q, x, T::from_f64(beta)))?;
    Ok((
        to_numpy(py, out, &[d.batch, d.dim])?.into_any(),
        to_numpy(py, attn, &[d.batch, d.patterns])?.into_any(),
    ))
}

/// One modern Hopfield retrieval `softmax(β ξ Xᵀ) X`; returns `(out, attn)`.
#[pyfunction]
fn modern_hopfield_forward<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    patterns: &Bound<'py, PyAny>,
    beta: f64,
) -> PyResult<Pair<'py>> {
    if query.cast::<PyArrayDyn<f64>>().is_ok() {
        modern_forward_t::<f64>(py, query, patterns, beta)
    } else {
        modern_forward_t::<f32>(py, query, patterns, beta)
    }
}

type Triple<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, f64);

fn modern_backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    patterns: &Bound<'py, PyAny>,
    beta: f64,
    attn: &Bound<'py, PyAny>,
    dout: &Bound<'py, PyAny>,
) -> PyResult<Triple<'py>> {
    let (qa, xa) = (array::<T>(query, "query")?, array::<T>(patterns, "patterns")?);
    let (aa, da) = (array::<T>(attn, "attn")?, array::<T>(dout, "dout")?);
    let d = modern_dims(&shape(&qa), &shape(&xa))?;
    if shape(&da) != [d.batch, d.dim] {
        return Err(PyErr::from(crate::Error::value(
            "dout",
            format!("expected shape [{}, {}], got {:?}", d.batch, d.dim, shape(&da)),
        )));
    }
    let (q, x, a, dy) =
        (slice(&qa, "query")?, slice(&xa, "patterns")?, slice(&aa, "attn")?, slice(&da, "dout")?);
    let (dq, dx, db) = py.detach(|| modern::backward(d, q, x, T::from_f64(beta), a, dy))?;
    Ok((
        to_numpy(py, dq, &[d.batch, d.dim])?.into_any(),
        to_numpy(py, dx, &[d.patterns, d.dim])?.into_any(),
        db.to_f64(),
    ))
}

/// Gradients of the retrieval: `(dquery, dpatterns, dbeta)`.
#[pyfunction]
fn modern_hopfield_backward<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    patterns: &Bound<'py, PyAny>,
    beta: f64,
    attn: &Bound<'py, PyAny>,
    dout: &Bound<'py, PyAny>,
) -> PyResult<Triple<'py>> {
    if query.cast::<PyArrayDyn<f64>>().is_ok() {
        modern_backward_t::<f64>(py, query, patterns, beta, attn, dout)
    } else {
        modern_backward_t::<f32>(py, query, patterns, beta, attn, dout)
    }
}

enum AnyTape {
    F32(Tape<f32>),
    F64(Tape<f64>),
}

/// What a training forward of the NTM keeps for `ntm_backward` (opaque).
#[pyclass(name = "NtmContext", module = "rnnrs._core", frozen)]
pub struct NtmContext {
    tape: AnyTape,
}

#[pymethods]
impl NtmContext {
    /// The weightings of every head after each step, `(T, B, heads, N)`
    /// (read heads first), as a float64 array.
    fn weightings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        fn get<T: Float>(t: &Tape<T>) -> (Vec<f64>, [usize; 4]) {
            let w = t.weightings().unwrap_or(&[]).iter().map(|v| v.to_f64()).collect();
            (w, [t.steps, t.batch, t.spec.heads(), t.spec.slots])
        }
        let (w, s) = match &self.tape {
            AnyTape::F32(t) => get(t),
            AnyTape::F64(t) => get(t),
        };
        to_numpy(py, w, &s)
    }
}

#[allow(clippy::too_many_arguments)]
fn spec_of(
    x_shape: &[usize],
    output: usize,
    controller: Controller,
    slots: usize,
    width: usize,
    read_heads: usize,
    write_heads: usize,
    shift_range: usize,
    memory_init: Option<f64>,
) -> PyResult<NtmSpec> {
    dims(x_shape, 3, "x", "(T, B, I)")?;
    let spec = NtmSpec {
        input: x_shape[2],
        output,
        controller,
        slots,
        width,
        read_heads,
        write_heads,
        shift_range,
        memory_init: memory_init.map_or(MemoryInit::Learned, MemoryInit::Constant),
    };
    spec.validate()?;
    Ok(spec)
}

fn param_slices<'a, 'py, T: Element + Float>(
    spec: &NtmSpec,
    arrays: &'a [PyReadonlyArrayDyn<'py, T>],
) -> PyResult<Vec<&'a [T]>> {
    let shapes = spec.param_shapes();
    if arrays.len() != shapes.len() {
        return Err(PyErr::from(crate::Error::value(
            "params",
            format!("expected {} arrays, got {}", shapes.len(), arrays.len()),
        )));
    }
    let mut out = Vec::with_capacity(arrays.len());
    for (a, (name, s)) in arrays.iter().zip(&shapes) {
        if shape(a) != *s {
            return Err(PyErr::from(crate::Error::shape(
                name.as_str(),
                format!("expected shape {s:?}, got {:?}", shape(a)),
            )));
        }
        out.push(slice(a, name)?);
    }
    Ok(out)
}

fn read_params<'py, T: Element + Float>(
    spec: &NtmSpec,
    params: &[Bound<'py, PyAny>],
) -> PyResult<Vec<PyReadonlyArrayDyn<'py, T>>> {
    let shapes = spec.param_shapes();
    params
        .iter()
        .zip(shapes.iter().map(|s| s.0.as_str()).chain(std::iter::repeat("params")))
        .map(|(p, n)| array::<T>(p, n))
        .collect()
}

type NtmOut<'py> = (Bound<'py, PyAny>, Option<NtmContext>);

fn ntm_forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    spec: &NtmSpec,
    x: &Bound<'py, PyAny>,
    params: &[Bound<'py, PyAny>],
    train: bool,
    wrap: fn(Tape<T>) -> AnyTape,
) -> PyResult<NtmOut<'py>> {
    let xa = array::<T>(x, "x")?;
    let xs_shape = shape(&xa);
    let pa = read_params::<T>(spec, params)?;
    let ps = param_slices(spec, &pa)?;
    let p = NtmParams::from_slices(spec, &ps)?;
    let xs = slice(&xa, "x")?;
    let (t, b) = (xs_shape[0], xs_shape[1]);
    let (y, tape) = py.detach(|| ntm::forward(spec, &p, xs, t, b, train))?;
    let y = to_numpy(py, y, &[t, b, spec.output])?.into_any();
    Ok((y, train.then(|| NtmContext { tape: wrap(tape) })))
}

/// NTM forward over `x` `(T, B, I)` time-major. `controller`: `"ff"` or a
/// recurrent mode (`"lstm"`, `"gru"`, `"rnn_tanh"`, ...); `controller_size`:
/// its layer sizes (one for a recurrent controller); `activation`: the
/// feed-forward layers'. `memory_init`: the constant initial memory, or
/// None for a learned `memory0` (then the last of `params`). Returns `(y (T, B, O), ctx or None)`; `ctx` (with
/// `train=True`) is what `ntm_backward` needs.
#[pyfunction]
#[pyo3(signature = (x, params, *, output_size, controller_size, memory_slots, memory_width, read_heads,
                    write_heads, shift_range, memory_init, train=false, controller="lstm",
                    activation="tanh"))]
#[allow(clippy::too_many_arguments)]
fn ntm_forward<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    params: Vec<Bound<'py, PyAny>>,
    output_size: usize,
    controller_size: Vec<usize>,
    memory_slots: usize,
    memory_width: usize,
    read_heads: usize,
    write_heads: usize,
    shift_range: usize,
    memory_init: Option<f64>,
    train: bool,
    controller: &str,
    activation: &str,
) -> PyResult<NtmOut<'py>> {
    let x_shape: Vec<usize> = x
        .getattr("shape")
        .and_then(|s| s.extract())
        .map_err(|_| PyErr::from(crate::Error::dtype("x", "expected a numpy.ndarray")))?;
    let spec = spec_of(
        &x_shape,
        output_size,
        Controller::parse(controller, &controller_size, activation)?,
        memory_slots,
        memory_width,
        read_heads,
        write_heads,
        shift_range,
        memory_init,
    )?;
    if x.cast::<PyArrayDyn<f64>>().is_ok() {
        ntm_forward_t::<f64>(py, &spec, x, &params, train, AnyTape::F64)
    } else if x.cast::<PyArrayDyn<f32>>().is_ok() {
        ntm_forward_t::<f32>(py, &spec, x, &params, train, AnyTape::F32)
    } else {
        Err(PyErr::from(crate::Error::dtype("x", "expected a numpy.ndarray of dtype float32 or float64")))
    }
}

type NtmGrads<'py> = (Bound<'py, PyAny>, Vec<Bound<'py, PyAny>>);

fn ntm_backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    tape: &Tape<T>,
    params: &[Bound<'py, PyAny>],
    dy: &Bound<'py, PyAny>,
) -> PyResult<NtmGrads<'py>> {
    let spec = &tape.spec;
    let pa = read_params::<T>(spec, params)?;
    let ps = param_slices(spec, &pa)?;
    let p = NtmParams::from_slices(spec, &ps)?;
    let dya = array::<T>(dy, "dy")?;
    let want = [tape.steps, tape.batch, spec.output];
    if shape(&dya) != want {
        return Err(PyErr::from(crate::Error::value(
            "dy",
            format!("expected shape {want:?}, got {:?}", shape(&dya)),
        )));
    }
    let dys = slice(&dya, "dy")?;
    let (dx, grads) = py.detach(|| ntm::backward(&p, tape, dys))?;
    let dx = to_numpy(py, dx, &[tape.steps, tape.batch, spec.input])?.into_any();
    let gs = grads
        .into_iter()
        .zip(spec.param_shapes())
        .map(|(g, (_, s))| Ok(to_numpy(py, g, &s)?.into_any()))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((dx, gs))
}

/// BPTT through the run `ctx` recorded, for the output gradient `dy`
/// `(T, B, O)`; `params` must be the forward's. Returns `(dx, grads)`,
/// `grads` fresh arrays in the parameters' order.
#[pyfunction]
fn ntm_backward<'py>(
    py: Python<'py>,
    ctx: &Bound<'py, NtmContext>,
    params: Vec<Bound<'py, PyAny>>,
    dy: &Bound<'py, PyAny>,
) -> PyResult<NtmGrads<'py>> {
    match &ctx.get().tape {
        AnyTape::F32(t) => ntm_backward_t(py, t, &params, dy),
        AnyTape::F64(t) => ntm_backward_t(py, t, &params, dy),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hopfield_hebbian, m)?)?;
    m.add_function(wrap_pyfunction!(hopfield_storkey, m)?)?;
    m.add_function(wrap_pyfunction!(hopfield_energy, m)?)?;
    m.add_function(wrap_pyfunction!(hopfield_run, m)?)?;
    m.add_function(wrap_pyfunction!(modern_hopfield_forward, m)?)?;
    m.add_function(wrap_pyfunction!(modern_hopfield_backward, m)?)?;
    m.add_class::<NtmContext>()?;
    m.add_function(wrap_pyfunction!(ntm_forward, m)?)?;
    m.add_function(wrap_pyfunction!(ntm_backward, m)?)?;
    Ok(())
}
