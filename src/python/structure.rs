//! Python bindings of `crate::structure`: recursive networks and Tree-LSTMs
//! over forests, 2-D convolution, and the liquid state machine's simulation.
//! Tree and convolution functions serve float32 and float64 (`with_dtype!`
//! on `x`); the Python package (`rnnrs.tree`, `rnnrs.conv`) builds the forest
//! arrays, casts every array to the model's dtype and makes it C-contiguous. All compute runs with the GIL
//! released, inside rnnrs's thread pool.

use super::convert::{array, arrays, opt_slice, optional, shape, slice, to_numpy};
use super::dtype::{with_dtype, DType};
use crate::reservoir::lsm::{self, Features, InputMode, LifParams, Liquid, SparseRows};
use crate::structure::conv::{self, ConvShape};
use crate::structure::tree::{self, Forest, TreeCell, TreeForward, TreeParams};
use crate::{Error, Float};
use numpy::{Element, PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;

fn tree_cell(cell: &str, arity: usize) -> PyResult<TreeCell> {
    match cell {
        "recursive" => Ok(TreeCell::Recursive { arity }),
        "nary_lstm" => Ok(TreeCell::NaryLstm { arity }),
        "child_sum_lstm" => Ok(TreeCell::ChildSumLstm),
        _ => Err(PyErr::from(crate::Error::value(
            "cell",
            format!("expected 'recursive', 'nary_lstm' or 'child_sum_lstm', got {cell:?}"),
        ))),
    }
}

fn forest(
    tree_ptr: &PyReadonlyArrayDyn<'_, i64>,
    child_ptr: &PyReadonlyArrayDyn<'_, i64>,
    child_idx: &PyReadonlyArrayDyn<'_, i64>,
) -> PyResult<Forest> {
    Ok(Forest::new(
        slice(tree_ptr, "tree_ptr")?,
        slice(child_ptr, "child_ptr")?,
        slice(child_idx, "child_idx")?,
    )?)
}

/// Node inputs (N, D): returns D.
fn input_size<T: numpy::Element>(x: &PyReadonlyArrayDyn<'_, T>) -> PyResult<usize> {
    match shape(x)[..] {
        [_, d] => Ok(d),
        ref s => Err(PyErr::from(crate::Error::value(
            "x",
            format!("expected 2 dimensions (nodes, features), got shape {s:?}"),
        ))),
    }
}

/// Validates a forest: returns its roots (global node indices) and its
/// number of levels; ValueError naming what is wrong otherwise.
#[pyfunction]
fn tree_check<'py>(
    py: Python<'py>,
    tree_ptr: PyReadonlyArrayDyn<'py, i64>,
    child_ptr: PyReadonlyArrayDyn<'py, i64>,
    child_idx: PyReadonlyArrayDyn<'py, i64>,
) -> PyResult<(Bound<'py, PyArrayDyn<i64>>, usize)> {
    let f = forest(&tree_ptr, &child_ptr, &child_idx)?;
    let roots: Vec<i64> = f.roots().iter().map(|&r| r as i64).collect();
    let k = roots.len();
    Ok((to_numpy(py, roots, &[k])?, f.num_levels()))
}

type Any<'py> = Bound<'py, PyAny>;

/// The tree model's options (keyword-only in Python).
#[derive(Clone, Copy)]
struct TreeOpts {
    cell: TreeCell,
    hidden_size: usize,
}

/// `[weight_ih, weight_hh, weight_hf, bias]` as `T`.
fn tree_params<'py, T: Element + Float>(params: &[Any<'py>]) -> PyResult<Vec<PyReadonlyArrayDyn<'py, T>>> {
    if params.len() != 4 {
        return Err(Error::value(
            "params",
            format!("expected 4 arrays (weight_ih, weight_hh, weight_hf, bias), got {}", params.len()),
        )
        .into());
    }
    let names = ["weight_ih", "weight_hh", "weight_hf", "bias"];
    params.iter().zip(names).map(|(a, name)| array::<T>(a, name)).collect()
}

fn tree_param_slices<'a, T: Element>(p: &'a [PyReadonlyArrayDyn<'_, T>]) -> PyResult<TreeParams<'a, T>> {
    Ok(TreeParams {
        w_ih: slice(&p[0], "weight_ih")?,
        w_hh: slice(&p[1], "weight_hh")?,
        w_hf: slice(&p[2], "weight_hf")?,
        bias: slice(&p[3], "bias")?,
    })
}

type Forward4<'py> = (Any<'py>, Any<'py>, Any<'py>, Any<'py>);

fn tree_forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    f: &Forest,
    opts: TreeOpts,
    params: &[Any<'py>],
    x: &Any<'py>,
) -> PyResult<Forward4<'py>> {
    let (pa, xa) = (tree_params::<T>(params)?, array::<T>(x, "x")?);
    let p = tree_param_slices(&pa)?;
    let d = input_size(&xa)?;
    let xs = slice(&xa, "x")?;
    let (cell, h) = (opts.cell, opts.hidden_size);
    let o = py.detach(|| crate::par::install(|| tree::forward(f, cell, &p, xs, (d, h))))?;
    let (n, e, lstm) = (f.num_nodes(), f.num_edges(), !o.c.is_empty());
    let k = if lstm { 1 } else { 0 };
    Ok((
        to_numpy(py, o.h, &[n, h])?.into_any(),
        to_numpy(py, o.c, &[n * k, h])?.into_any(),
        to_numpy(py, o.gates, &[n * k, 3 * h])?.into_any(),
        to_numpy(py, o.forget, &[e * k, h])?.into_any(),
    ))
}

/// Forward pass over a forest: (h, c, gates, forget) (see `crate::structure::tree`).
#[pyfunction]
#[pyo3(signature = (tree_ptr, child_ptr, child_idx, params, x, *, cell, arity, hidden_size))]
#[allow(clippy::too_many_arguments)]
fn tree_forward<'py>(
    py: Python<'py>,
    tree_ptr: PyReadonlyArrayDyn<'py, i64>,
    child_ptr: PyReadonlyArrayDyn<'py, i64>,
    child_idx: PyReadonlyArrayDyn<'py, i64>,
    params: Vec<Any<'py>>,
    x: Any<'py>,
    cell: &str,
    arity: usize,
    hidden_size: usize,
) -> PyResult<Forward4<'py>> {
    let opts = TreeOpts { cell: tree_cell(cell, arity)?, hidden_size };
    let f = forest(&tree_ptr, &child_ptr, &child_idx)?;
    with_dtype!(DType::of(&x, "x"), T, tree_forward_t::<T>(py, &f, opts, &params, &x))
}

type Backward5<'py> = (Any<'py>, Any<'py>, Any<'py>, Any<'py>, Any<'py>);

fn tree_backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    f: &Forest,
    opts: TreeOpts,
    params: &[Any<'py>],
    x: &Any<'py>,
    cache: &[Any<'py>],
    grad_h: &Any<'py>,
) -> PyResult<Backward5<'py>> {
    let (pa, xa, ga) = (tree_params::<T>(params)?, array::<T>(x, "x")?, array::<T>(grad_h, "grad_h")?);
    if cache.len() != 4 {
        return Err(Error::value(
            "cache",
            format!("expected 4 arrays (h, c, gates, forget), got {}", cache.len()),
        )
        .into());
    }
    let ca = arrays::<T>(cache, "cache")?;
    let p = tree_param_slices(&pa)?;
    let d = input_size(&xa)?;
    let fwd = TreeForward {
        h: slice(&ca[0], "cache")?.to_vec(),
        c: slice(&ca[1], "cache")?.to_vec(),
        gates: slice(&ca[2], "cache")?.to_vec(),
        forget: slice(&ca[3], "cache")?.to_vec(),
    };
    let (xs, dh) = (slice(&xa, "x")?, slice(&ga, "grad_h")?);
    let (cell, h) = (opts.cell, opts.hidden_size);
    let g = py.detach(|| crate::par::install(|| tree::backward(f, cell, &p, xs, (d, h), &fwd, dh)))?;
    let gi = cell.input_rows(h);
    let (hr, hc) = cell.hh_shape(h);
    let (fr, fc) = cell.hf_shape(h);
    Ok((
        to_numpy(py, g.w_ih, &[gi, d])?.into_any(),
        to_numpy(py, g.w_hh, &[hr, hc])?.into_any(),
        to_numpy(py, g.w_hf, &[fr, fc])?.into_any(),
        to_numpy(py, g.bias, &[gi])?.into_any(),
        to_numpy(py, g.x, &[f.num_nodes(), d])?.into_any(),
    ))
}

/// Backward pass: (d weight_ih, d weight_hh, d weight_hf, d bias, d x) of sum(grad_h * h).
#[pyfunction]
#[pyo3(signature = (tree_ptr, child_ptr, child_idx, params, x, cache, grad_h, *, cell, arity, hidden_size))]
#[allow(clippy::too_many_arguments)]
fn tree_backward<'py>(
    py: Python<'py>,
    tree_ptr: PyReadonlyArrayDyn<'py, i64>,
    child_ptr: PyReadonlyArrayDyn<'py, i64>,
    child_idx: PyReadonlyArrayDyn<'py, i64>,
    params: Vec<Any<'py>>,
    x: Any<'py>,
    cache: Vec<Any<'py>>,
    grad_h: Any<'py>,
    cell: &str,
    arity: usize,
    hidden_size: usize,
) -> PyResult<Backward5<'py>> {
    let opts = TreeOpts { cell: tree_cell(cell, arity)?, hidden_size };
    let f = forest(&tree_ptr, &child_ptr, &child_idx)?;
    with_dtype!(DType::of(&x, "x"), T, tree_backward_t::<T>(py, &f, opts, &params, &x, &cache, &grad_h))
}

/// The convolution's sizes from `x` (B, C, H, W) and `w` (O, C, kh, kw).
fn conv_shape(xs: &[usize], ws: &[usize]) -> PyResult<ConvShape> {
    match (xs, ws) {
        (&[b, c, h, w], &[o, c2, kh, kw]) if c == c2 => Ok(ConvShape {
            batch: b,
            in_channels: c,
            out_channels: o,
            height: h,
            width: w,
            kernel_h: kh,
            kernel_w: kw,
        }),
        _ => Err(PyErr::from(crate::Error::shape(
            "input, weight",
            format!("expected (B, C, H, W) and (O, C, kh, kw) with the same C, got {xs:?} and {ws:?}"),
        ))),
    }
}

fn conv2d_forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    x: &Any<'py>,
    weight: &Any<'py>,
    bias: Option<&Any<'py>>,
) -> PyResult<Any<'py>> {
    let (xa, wa, ba) = (array::<T>(x, "input")?, array::<T>(weight, "weight")?, optional::<T>(bias, "bias")?);
    let s = conv_shape(&shape(&xa), &shape(&wa))?;
    s.check()?;
    let (xs, ws) = (slice(&xa, "input")?, slice(&wa, "weight")?);
    let bs: &[T] = opt_slice(&ba, "bias")?.unwrap_or(&[]);
    let mut y: Vec<T> = crate::error::try_zeros(s.output_len(), "output")?;
    py.detach(|| crate::par::install(|| conv::conv2d_forward(&s, xs, ws, bs, &mut y, false)))?;
    Ok(to_numpy(py, y, &[s.batch, s.out_channels, s.height, s.width])?.into_any())
}

/// `conv2d(x, w) + bias`, NCHW, stride 1, 'same' padding.
#[pyfunction]
#[pyo3(signature = (x, weight, bias=None))]
fn conv2d_forward<'py>(
    py: Python<'py>,
    x: Any<'py>,
    weight: Any<'py>,
    bias: Option<Any<'py>>,
) -> PyResult<Any<'py>> {
    with_dtype!(DType::of(&x, "input"), T, conv2d_forward_t::<T>(py, &x, &weight, bias.as_ref()))
}

type ConvGrads<'py> = (Option<Any<'py>>, Any<'py>, Any<'py>);

fn conv2d_backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    x: &Any<'py>,
    weight: &Any<'py>,
    grad_output: &Any<'py>,
    need_input_grad: bool,
) -> PyResult<ConvGrads<'py>> {
    let (xa, wa) = (array::<T>(x, "input")?, array::<T>(weight, "weight")?);
    let ga = array::<T>(grad_output, "grad_output")?;
    let s = conv_shape(&shape(&xa), &shape(&wa))?;
    s.check()?;
    let (xs, ws, dys) = (slice(&xa, "input")?, slice(&wa, "weight")?, slice(&ga, "grad_output")?);
    let mut dx: Vec<T> =
        if need_input_grad { crate::error::try_zeros(s.input_len(), "dx")? } else { Vec::new() };
    let mut dw: Vec<T> = crate::error::try_zeros(s.weight_len(), "dw")?;
    let mut db: Vec<T> = crate::error::try_zeros(s.out_channels, "db")?;
    py.detach(|| crate::par::install(|| conv::conv2d_backward(&s, xs, ws, dys, &mut dx, &mut dw, &mut db)))?;
    let dx = if need_input_grad {
        Some(to_numpy(py, dx, &[s.batch, s.in_channels, s.height, s.width])?.into_any())
    } else {
        None
    };
    Ok((
        dx,
        to_numpy(py, dw, &[s.out_channels, s.in_channels, s.kernel_h, s.kernel_w])?.into_any(),
        to_numpy(py, db, &[s.out_channels])?.into_any(),
    ))
}

/// Gradients (dx or None, dw, db) of sum(grad_output * conv2d(x, w)).
#[pyfunction]
#[pyo3(signature = (x, weight, grad_output, *, need_input_grad=true))]
fn conv2d_backward<'py>(
    py: Python<'py>,
    x: Any<'py>,
    weight: Any<'py>,
    grad_output: Any<'py>,
    need_input_grad: bool,
) -> PyResult<ConvGrads<'py>> {
    with_dtype!(
        DType::of(&x, "input"),
        T,
        conv2d_backward_t::<T>(py, &x, &weight, &grad_output, need_input_grad)
    )
}

/// Non-negative int64 indices as usize, or a ValueError naming `arg`.
fn indices(a: &PyReadonlyArrayDyn<'_, i64>, arg: &str) -> PyResult<Vec<usize>> {
    slice(a, arg)?
        .iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| {
                PyErr::from(crate::Error::value(arg, format!("expected non-negative indices, got {v}")))
            })
        })
        .collect()
}

/// Simulates a liquid state machine over sequences (see `crate::reservoir::lsm`):
/// returns (features (windows, N), total spikes). `constants` is (dt, tau_m,
/// v_rest, v_thresh, v_reset, resistance, tau_syn_exc, tau_syn_inh, tau_trace).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn lsm_run<'py>(
    py: Python<'py>,
    constants: [f64; 9],
    excitatory: PyReadonlyArrayDyn<'py, bool>,
    refractory: PyReadonlyArrayDyn<'py, i64>,
    bias: PyReadonlyArrayDyn<'py, f64>,
    v0: PyReadonlyArrayDyn<'py, f64>,
    synapses: (PyReadonlyArrayDyn<'py, i64>, PyReadonlyArrayDyn<'py, i64>, PyReadonlyArrayDyn<'py, f64>),
    inputs: (PyReadonlyArrayDyn<'py, i64>, PyReadonlyArrayDyn<'py, i64>, PyReadonlyArrayDyn<'py, f64>),
    u: PyReadonlyArrayDyn<'py, f64>,
    seq_ptr: PyReadonlyArrayDyn<'py, i64>,
    mode: &str,
    features: &str,
    window: usize,
) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, u64)> {
    let [dt, tau_m, v_rest, v_thresh, v_reset, resistance, tau_syn_exc, tau_syn_inh, tau_trace] = constants;
    let params =
        LifParams { dt, tau_m, v_rest, v_thresh, v_reset, resistance, tau_syn_exc, tau_syn_inh, tau_trace };
    let mode = match mode {
        "spikes" => InputMode::Spikes,
        "current" => InputMode::Current,
        _ => {
            return Err(PyErr::from(crate::Error::value(
                "input_mode",
                format!("expected 'spikes' or 'current', got {mode:?}"),
            )))
        }
    };
    let features = match features {
        "counts" => Features::Counts,
        "traces" => Features::Traces,
        _ => {
            return Err(PyErr::from(crate::Error::value(
                "features",
                format!("expected 'counts' or 'traces', got {features:?}"),
            )))
        }
    };
    let refractory: Vec<u32> = slice(&refractory, "refractory")?
        .iter()
        .map(|&r| {
            u32::try_from(r).map_err(|_| {
                PyErr::from(crate::Error::value("refractory", format!("expected steps >= 0, got {r}")))
            })
        })
        .collect::<PyResult<_>>()?;
    let (sp, sc, iptr, icol) = (
        indices(&synapses.0, "synapses")?,
        indices(&synapses.1, "synapses")?,
        indices(&inputs.0, "input synapses")?,
        indices(&inputs.1, "input synapses")?,
    );
    let n_in = match shape(&u)[..] {
        [_, k] => k,
        ref s => {
            return Err(PyErr::from(crate::Error::value(
                "X",
                format!("expected (steps, channels), got shape {s:?}"),
            )))
        }
    };
    let liquid = Liquid {
        params,
        excitatory: slice(&excitatory, "excitatory")?,
        refractory: &refractory,
        bias: slice(&bias, "bias")?,
        v0: slice(&v0, "v0")?,
        synapses: SparseRows { ptr: &sp, col: &sc, val: slice(&synapses.2, "synapses")? },
        inputs: SparseRows { ptr: &iptr, col: &icol, val: slice(&inputs.2, "input synapses")? },
    };
    let seq = indices(&seq_ptr, "lengths")?;
    let us = slice(&u, "X")?;
    let n = liquid.num_neurons();
    let (out, spikes) =
        py.detach(|| crate::par::install(|| lsm::run(&liquid, us, n_in, &seq, mode, features, window)))?;
    let rows = out.len() / n.max(1);
    Ok((to_numpy(py, out, &[rows, n])?, spikes))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tree_check, m)?)?;
    m.add_function(wrap_pyfunction!(lsm_run, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_forward, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(tree_forward, m)?)?;
    m.add_function(wrap_pyfunction!(tree_backward, m)?)?;
    Ok(())
}
