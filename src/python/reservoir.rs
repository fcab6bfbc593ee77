//! Python bindings: reservoir computing (random weights, spectral radius,
//! state updates, closed-loop generation, ridge statistics, RLS / LMS).
//!
//! Reservoir arrays arrive from `rnnrs.reservoir` C-contiguous and all of one
//! dtype (float32 or float64, chosen by the inputs `u`); ridge statistics are
//! always float64.

use super::convert::{array, opt_slice, optional, shape, slice, slice_mut, to_numpy};
use super::dtype::{with_dtype, DType};
use crate::reservoir::{self as rc, Activation, CsrRef, Noise, Recurrent, ReservoirRef};
use crate::{Error, Float};
use numpy::{Element, PyArrayDyn, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type Arr<'py, T> = Bound<'py, PyArrayDyn<T>>;

/// Random sparse matrix in CSR form: `(indptr int64, indices int32, data float64)`.
#[pyfunction]
#[pyo3(signature = (rows, cols, connectivity, distribution, scale, seed, stream))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn sparse_random<'py>(
    py: Python<'py>,
    rows: usize,
    cols: usize,
    connectivity: f64,
    distribution: &str,
    scale: f64,
    seed: u64,
    stream: u64,
) -> PyResult<(Arr<'py, i64>, Arr<'py, i32>, Arr<'py, f64>)> {
    let dist = rc::Distribution::parse(distribution)?;
    let m = py.detach(|| rc::sparse_random(rows, cols, connectivity, dist, scale, seed, stream))?;
    let nnz = m.data.len();
    Ok((
        to_numpy(py, m.indptr, &[rows + 1])?,
        to_numpy(py, m.indices, &[nnz])?,
        to_numpy(py, m.data, &[nnz])?,
    ))
}

/// Random dense matrix `(rows, cols)` float64 with the same law.
#[pyfunction]
#[pyo3(signature = (rows, cols, connectivity, distribution, scale, seed, stream))]
#[allow(clippy::too_many_arguments)]
fn dense_random<'py>(
    py: Python<'py>,
    rows: usize,
    cols: usize,
    connectivity: f64,
    distribution: &str,
    scale: f64,
    seed: u64,
    stream: u64,
) -> PyResult<Arr<'py, f64>> {
    let dist = rc::Distribution::parse(distribution)?;
    let m = py.detach(|| rc::dense_random(rows, cols, connectivity, dist, scale, seed, stream))?;
    to_numpy(py, m, &[rows, cols])
}

/// Spectral radius of a square CSR matrix by restarted Arnoldi:
/// `(radius, relative residual, converged, restarts)`.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, n, krylov_dim=100, tol=1e-8, max_restarts=200, seed=0))]
#[allow(clippy::too_many_arguments)]
fn spectral_radius(
    py: Python<'_>,
    indptr: PyReadonlyArrayDyn<'_, i64>,
    indices: PyReadonlyArrayDyn<'_, i32>,
    data: PyReadonlyArrayDyn<'_, f64>,
    n: usize,
    krylov_dim: usize,
    tol: f64,
    max_restarts: usize,
    seed: u64,
) -> PyResult<(f64, f64, bool, usize)> {
    let a = CsrRef {
        rows: n,
        cols: n,
        indptr: slice(&indptr, "indptr")?,
        indices: slice(&indices, "indices")?,
        data: slice(&data, "data")?,
    };
    let opts = rc::SpectralOptions { krylov_dim, tol, max_restarts, seed };
    let e = py.detach(|| crate::interrupt::watched(|| rc::spectral_radius(a, opts)))?;
    Ok((e.radius, e.residual, e.converged, e.restarts))
}

/// A reservoir as Python describes it: one dict (built by
/// `rnnrs.reservoir.Reservoir._core_args`) with these keys. `w` is CSR data
/// (with `indptr`, `indices`) or, with both None, a dense `(units, units)`
/// array; `noise` is `(rc, input, feedback, seed)`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct ReservoirArgs<'py> {
    indptr: Option<PyReadonlyArrayDyn<'py, i64>>,
    indices: Option<PyReadonlyArrayDyn<'py, i32>>,
    w: Bound<'py, PyAny>,
    win: Bound<'py, PyAny>,
    bias: Bound<'py, PyAny>,
    leak: Bound<'py, PyAny>,
    wfb: Bound<'py, PyAny>,
    activation: String,
    noise: (f64, f64, f64, u64),
}

/// The reservoir's arrays in the dispatched dtype.
struct Weights<'a, 'py, T: Element> {
    args: &'a ReservoirArgs<'py>,
    w: PyReadonlyArrayDyn<'py, T>,
    win: PyReadonlyArrayDyn<'py, T>,
    bias: PyReadonlyArrayDyn<'py, T>,
    leak: PyReadonlyArrayDyn<'py, T>,
    wfb: PyReadonlyArrayDyn<'py, T>,
}

fn weights<'a, 'py, T: Element + Float>(args: &'a ReservoirArgs<'py>) -> PyResult<Weights<'a, 'py, T>> {
    Ok(Weights {
        args,
        w: array(&args.w, "W")?,
        win: array(&args.win, "Win")?,
        bias: array(&args.bias, "bias")?,
        leak: array(&args.leak, "leak_rate")?,
        wfb: array(&args.wfb, "Wfb")?,
    })
}

fn view<'a, T: Float + Element>(wt: &'a Weights<'_, '_, T>) -> PyResult<ReservoirRef<'a, T>> {
    let win_shape = wt.win.shape();
    let wfb_shape = wt.wfb.shape();
    if win_shape.len() != 2 || wfb_shape.len() != 2 {
        return Err(Error::shape("Win, Wfb", "expected 2-D arrays").into());
    }
    let units = win_shape[0];
    let w = match (&wt.args.indptr, &wt.args.indices) {
        (Some(p), Some(i)) => Recurrent::Sparse(CsrRef {
            rows: units,
            cols: units,
            indptr: slice(p, "indptr")?,
            indices: slice(i, "indices")?,
            data: slice(&wt.w, "W")?,
        }),
        (None, None) => Recurrent::Dense(slice(&wt.w, "W")?),
        _ => return Err(Error::value("W", "give both indptr and indices (sparse) or neither (dense)").into()),
    };
    let (rc, input, feedback, seed) = wt.args.noise;
    Ok(ReservoirRef {
        units,
        inputs: win_shape[1],
        outputs: wfb_shape[1],
        w,
        win: slice(&wt.win, "Win")?,
        bias: slice(&wt.bias, "bias")?,
        leak: slice(&wt.leak, "leak_rate")?,
        wfb: slice(&wt.wfb, "Wfb")?,
        activation: Activation::parse(&wt.args.activation)?,
        noise: Noise { rc, input, feedback, seed },
    })
}

fn run_typed<'py, T: Float + Element>(
    py: Python<'py>,
    reservoir: &ReservoirArgs<'py>,
    u: &Bound<'py, PyAny>,
    lengths: &[usize],
    x0: &Bound<'py, PyAny>,
    teacher: &Bound<'py, PyAny>,
    y0: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let wt = weights::<T>(reservoir)?;
    let res = view(&wt)?;
    let (u, x0, teacher, y0) =
        (array::<T>(u, "X")?, array::<T>(x0, "x0")?, array::<T>(teacher, "y")?, array::<T>(y0, "y0")?);
    let (us, xs, ts, ys) = (slice(&u, "X")?, slice(&x0, "x0")?, slice(&teacher, "y")?, slice(&y0, "y0")?);
    let total: usize = lengths.iter().sum();
    let states = py.detach(|| crate::interrupt::watched(|| rc::run(&res, us, lengths, xs, ts, ys)))?;
    Ok(to_numpy(py, states, &[total, res.units])?.into_any())
}

/// Reservoir states for a batch of sequences stacked in time, in the
/// reservoir's dtype (that of `Win`).
///
/// `u` `(sum(lengths), inputs)`; `x0` `(batch, units)`; `teacher`
/// `(sum(lengths), outputs)` and `y0` `(batch, outputs)` for feedback
/// (outputs may be 0). Returns `(sum(lengths), units)`.
#[pyfunction]
#[pyo3(signature = (reservoir, u, lengths, x0, teacher, y0))]
fn reservoir_run<'py>(
    py: Python<'py>,
    reservoir: ReservoirArgs<'py>,
    u: &Bound<'py, PyAny>,
    lengths: Vec<usize>,
    x0: &Bound<'py, PyAny>,
    teacher: &Bound<'py, PyAny>,
    y0: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    with_dtype!(
        DType::of(&reservoir.win, "Win"),
        T,
        run_typed::<T>(py, &reservoir, u, &lengths, x0, teacher, y0)
    )
}

/// The readout and start of a generation run.
struct Readout<'a, 'py> {
    wout: &'a Bound<'py, PyAny>,
    bout: &'a Bound<'py, PyAny>,
    x0: &'a Bound<'py, PyAny>,
    y0: &'a Bound<'py, PyAny>,
}

fn generate_typed<'py, T: Float + Element>(
    py: Python<'py>,
    reservoir: &ReservoirArgs<'py>,
    r: Readout<'_, 'py>,
    steps: usize,
    inputs: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let ext = optional::<T>(inputs, "X")?;
    let ext_slice = opt_slice(&ext, "X")?;
    let wt = weights::<T>(reservoir)?;
    let res = view(&wt)?;
    let (wo, bo) = (array::<T>(r.wout, "Wout")?, array::<T>(r.bout, "bias_out")?);
    let (x0, y0) = (array::<T>(r.x0, "x0")?, array::<T>(r.y0, "y0")?);
    let (wos, bos, xs, ys) =
        (slice(&wo, "Wout")?, slice(&bo, "bias_out")?, slice(&x0, "x0")?, slice(&y0, "y0")?);
    let m = bos.len();
    let (outs, states) =
        py.detach(|| crate::interrupt::watched(|| rc::generate(&res, wos, bos, xs, ys, steps, ext_slice)))?;
    Ok((to_numpy(py, outs, &[steps, m])?.into_any(), to_numpy(py, states, &[steps, res.units])?.into_any()))
}

/// The reservoir with its readout in the loop (closed-loop generation when
/// `inputs` is None): `(outputs (steps, n_out), states (steps, units))`.
#[pyfunction]
#[pyo3(signature = (reservoir, wout, bout, x0, y0, steps, inputs=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn reservoir_generate<'py>(
    py: Python<'py>,
    reservoir: ReservoirArgs<'py>,
    wout: &Bound<'py, PyAny>,
    bout: &Bound<'py, PyAny>,
    x0: &Bound<'py, PyAny>,
    y0: &Bound<'py, PyAny>,
    steps: usize,
    inputs: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let r = Readout { wout, bout, x0, y0 };
    with_dtype!(DType::of(&reservoir.win, "Win"), T, generate_typed::<T>(py, &reservoir, r, steps, inputs))
}

fn dims2<T: Element>(a: &PyReadonlyArrayDyn<'_, T>, arg: &str) -> PyResult<(usize, usize)> {
    let s = shape(a);
    if s.len() != 2 {
        return Err(Error::shape(arg, format!("expected a 2-D array, got {} dimensions", s.len())).into());
    }
    Ok((s[0], s[1]))
}

fn accumulate_typed<T: Float + Element>(
    py: Python<'_>,
    stats: &mut rc::RidgeStats<'_>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let (x, y) = (array::<T>(x, "X")?, array::<T>(y, "y")?);
    let (_, f) = dims2(&x, "X")?;
    let (_, o) = dims2(&y, "y")?;
    let (xs, ys) = (slice(&x, "X")?, slice(&y, "y")?);
    Ok(py.detach(|| crate::interrupt::watched(|| rc::ridge_accumulate(stats, xs, ys, f, o)))?)
}

/// Adds a block `(X, y)` to the float64 statistics (centred co-moments
/// `cxx`, `cxy`, means, count) in place; returns the new count.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn ridge_accumulate(
    py: Python<'_>,
    mut cxx: PyReadwriteArrayDyn<'_, f64>,
    mut cxy: PyReadwriteArrayDyn<'_, f64>,
    mut mean_x: PyReadwriteArrayDyn<'_, f64>,
    mut mean_y: PyReadwriteArrayDyn<'_, f64>,
    count: f64,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let mut stats = rc::RidgeStats {
        cxx: slice_mut(&mut cxx, "cxx")?,
        cxy: slice_mut(&mut cxy, "cxy")?,
        mean_x: slice_mut(&mut mean_x, "mean_x")?,
        mean_y: slice_mut(&mut mean_y, "mean_y")?,
        count,
    };
    with_dtype!(DType::of(x, "X"), T, accumulate_typed::<T>(py, &mut stats, x, y))
}

/// Merges another set of statistics into the first (Chan's pairwise
/// update) in place; returns the new count.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn ridge_merge(
    mut cxx: PyReadwriteArrayDyn<'_, f64>,
    mut cxy: PyReadwriteArrayDyn<'_, f64>,
    mut mean_x: PyReadwriteArrayDyn<'_, f64>,
    mut mean_y: PyReadwriteArrayDyn<'_, f64>,
    count: f64,
    cxx2: PyReadonlyArrayDyn<'_, f64>,
    cxy2: PyReadonlyArrayDyn<'_, f64>,
    mean_x2: PyReadonlyArrayDyn<'_, f64>,
    mean_y2: PyReadonlyArrayDyn<'_, f64>,
    count2: f64,
) -> PyResult<f64> {
    let (f, o) = dims2(&cxy2, "cxy")?;
    let (c2, y2, m2, n2) =
        (slice(&cxx2, "cxx")?, slice(&cxy2, "cxy")?, slice(&mean_x2, "mean_x")?, slice(&mean_y2, "mean_y")?);
    let mut stats = rc::RidgeStats {
        cxx: slice_mut(&mut cxx, "cxx")?,
        cxy: slice_mut(&mut cxy, "cxy")?,
        mean_x: slice_mut(&mut mean_x, "mean_x")?,
        mean_y: slice_mut(&mut mean_y, "mean_y")?,
        count,
    };
    if stats.cxx.len() != c2.len()
        || stats.cxy.len() != y2.len()
        || stats.mean_x.len() != m2.len()
        || stats.mean_y.len() != n2.len()
        || c2.len() != f * f
        || m2.len() != f
        || n2.len() != o
    {
        return Err(Error::shape("merge", "statistics shapes do not match").into());
    }
    rc::merge_stats(&mut stats, count2, m2, n2, c2, y2, f, o);
    Ok(stats.count)
}

/// Solves ridge regression from statistics: `(coef (f, o), intercept (o,))`.
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn ridge_solve<'py>(
    py: Python<'py>,
    cxx: PyReadonlyArrayDyn<'py, f64>,
    cxy: PyReadonlyArrayDyn<'py, f64>,
    mean_x: PyReadonlyArrayDyn<'py, f64>,
    mean_y: PyReadonlyArrayDyn<'py, f64>,
    count: f64,
    alpha: f64,
    fit_intercept: bool,
) -> PyResult<(Arr<'py, f64>, Arr<'py, f64>)> {
    let (f, o) = dims2(&cxy, "cxy")?;
    let (a, b, c, d) =
        (slice(&cxx, "cxx")?, slice(&cxy, "cxy")?, slice(&mean_x, "mean_x")?, slice(&mean_y, "mean_y")?);
    let sol = py.detach(|| {
        crate::interrupt::watched(|| rc::ridge_solve(a, b, c, d, count, alpha, fit_intercept, f, o))
    })?;
    Ok((to_numpy(py, sol.coef, &[f, o])?, to_numpy(py, sol.intercept, &[o])?))
}

/// Recursive least squares over the rows of `x`, `y`; updates `p` and `w`
/// in place and returns the a-priori errors.
#[pyfunction]
fn rls_update<'py>(
    py: Python<'py>,
    mut p: PyReadwriteArrayDyn<'py, f64>,
    mut w: PyReadwriteArrayDyn<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    y: PyReadonlyArrayDyn<'py, f64>,
    forgetting: f64,
) -> PyResult<Arr<'py, f64>> {
    let (rows, f) = dims2(&x, "X")?;
    let (_, o) = dims2(&y, "y")?;
    let (ps, ws) = (slice_mut(&mut p, "P")?, slice_mut(&mut w, "W")?);
    let (xs, ys) = (slice(&x, "X")?, slice(&y, "y")?);
    let e = py.detach(|| rc::rls_update(ps, ws, xs, ys, f, o, forgetting))?;
    to_numpy(py, e, &[rows, o])
}

/// Least mean squares over the rows of `x`, `y`; updates `w` in place and
/// returns the a-priori errors.
#[pyfunction]
fn lms_update<'py>(
    py: Python<'py>,
    mut w: PyReadwriteArrayDyn<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    y: PyReadonlyArrayDyn<'py, f64>,
    learning_rate: f64,
) -> PyResult<Arr<'py, f64>> {
    let (rows, f) = dims2(&x, "X")?;
    let (_, o) = dims2(&y, "y")?;
    let ws = slice_mut(&mut w, "W")?;
    let (xs, ys) = (slice(&x, "X")?, slice(&y, "y")?);
    let e = py.detach(|| rc::lms_update(ws, xs, ys, f, o, learning_rate))?;
    to_numpy(py, e, &[rows, o])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sparse_random, m)?)?;
    m.add_function(wrap_pyfunction!(dense_random, m)?)?;
    m.add_function(wrap_pyfunction!(spectral_radius, m)?)?;
    m.add_function(wrap_pyfunction!(reservoir_run, m)?)?;
    m.add_function(wrap_pyfunction!(reservoir_generate, m)?)?;
    m.add_function(wrap_pyfunction!(ridge_accumulate, m)?)?;
    m.add_function(wrap_pyfunction!(ridge_merge, m)?)?;
    m.add_function(wrap_pyfunction!(ridge_solve, m)?)?;
    m.add_function(wrap_pyfunction!(rls_update, m)?)?;
    m.add_function(wrap_pyfunction!(lms_update, m)?)?;
    Ok(())
}
