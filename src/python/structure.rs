//! Python bindings of `crate::structure`: recursive networks and Tree-LSTMs
//! over forests, 2-D convolution, and the liquid state machine's simulation. One private function per dtype (`_f32`, `_f64`); the Python
//! package (`rnnrs.tree`) builds the forest arrays, casts every array to the
//! model's dtype and makes it C-contiguous. All compute runs with the GIL
//! released, inside rnnrs's thread pool.

use super::convert::{shape, slice, to_numpy};
use crate::reservoir::lsm::{self, Features, InputMode, LifParams, Liquid, SparseRows};
use crate::structure::conv::{self, ConvShape};
use crate::structure::tree::{self, Forest, TreeCell, TreeForward, TreeParams};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
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

type Arr<'py, T> = Bound<'py, PyArrayDyn<T>>;

macro_rules! tree_bindings {
    ($t:ty, $fwd:ident, $bwd:ident) => {
        /// Forward pass over a forest: (h, c, gates, forget) (see `crate::structure::tree`).
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $fwd<'py>(
            py: Python<'py>,
            tree_ptr: PyReadonlyArrayDyn<'py, i64>,
            child_ptr: PyReadonlyArrayDyn<'py, i64>,
            child_idx: PyReadonlyArrayDyn<'py, i64>,
            cell: &str,
            arity: usize,
            hidden_size: usize,
            params: [PyReadonlyArrayDyn<'py, $t>; 4],
            x: PyReadonlyArrayDyn<'py, $t>,
        ) -> PyResult<(Arr<'py, $t>, Arr<'py, $t>, Arr<'py, $t>, Arr<'py, $t>)> {
            let cell = tree_cell(cell, arity)?;
            let f = forest(&tree_ptr, &child_ptr, &child_idx)?;
            let d = input_size(&x)?;
            let p = TreeParams {
                w_ih: slice(&params[0], "weight_ih")?,
                w_hh: slice(&params[1], "weight_hh")?,
                w_hf: slice(&params[2], "weight_hf")?,
                bias: slice(&params[3], "bias")?,
            };
            let xs = slice(&x, "x")?;
            let h = hidden_size;
            let o = py.detach(|| crate::par::install(|| tree::forward(&f, cell, &p, xs, (d, h))))?;
            let (n, e, lstm) = (f.num_nodes(), f.num_edges(), !o.c.is_empty());
            let k = if lstm { 1 } else { 0 };
            Ok((
                to_numpy(py, o.h, &[n, h])?,
                to_numpy(py, o.c, &[n * k, h])?,
                to_numpy(py, o.gates, &[n * k, 3 * h])?,
                to_numpy(py, o.forget, &[e * k, h])?,
            ))
        }

        /// Backward pass: (d weight_ih, d weight_hh, d weight_hf, d bias, d x) of sum(grad_h * h).
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $bwd<'py>(
            py: Python<'py>,
            tree_ptr: PyReadonlyArrayDyn<'py, i64>,
            child_ptr: PyReadonlyArrayDyn<'py, i64>,
            child_idx: PyReadonlyArrayDyn<'py, i64>,
            cell: &str,
            arity: usize,
            hidden_size: usize,
            params: [PyReadonlyArrayDyn<'py, $t>; 4],
            x: PyReadonlyArrayDyn<'py, $t>,
            cache: [PyReadonlyArrayDyn<'py, $t>; 4],
            grad_h: PyReadonlyArrayDyn<'py, $t>,
        ) -> PyResult<(Arr<'py, $t>, Arr<'py, $t>, Arr<'py, $t>, Arr<'py, $t>, Arr<'py, $t>)> {
            let cell = tree_cell(cell, arity)?;
            let f = forest(&tree_ptr, &child_ptr, &child_idx)?;
            let d = input_size(&x)?;
            let p = TreeParams {
                w_ih: slice(&params[0], "weight_ih")?,
                w_hh: slice(&params[1], "weight_hh")?,
                w_hf: slice(&params[2], "weight_hf")?,
                bias: slice(&params[3], "bias")?,
            };
            let fwd = TreeForward {
                h: slice(&cache[0], "cache")?.to_vec(),
                c: slice(&cache[1], "cache")?.to_vec(),
                gates: slice(&cache[2], "cache")?.to_vec(),
                forget: slice(&cache[3], "cache")?.to_vec(),
            };
            let xs = slice(&x, "x")?;
            let dh = slice(&grad_h, "grad_h")?;
            let h = hidden_size;
            let g =
                py.detach(|| crate::par::install(|| tree::backward(&f, cell, &p, xs, (d, h), &fwd, dh)))?;
            let gi = cell.input_rows(h);
            let (hr, hc) = cell.hh_shape(h);
            let (fr, fc) = cell.hf_shape(h);
            Ok((
                to_numpy(py, g.w_ih, &[gi, d])?,
                to_numpy(py, g.w_hh, &[hr, hc])?,
                to_numpy(py, g.w_hf, &[fr, fc])?,
                to_numpy(py, g.bias, &[gi])?,
                to_numpy(py, g.x, &[f.num_nodes(), d])?,
            ))
        }
    };
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

macro_rules! conv_bindings {
    ($t:ty, $fwd:ident, $bwd:ident) => {
        /// `conv2d(x, w) + bias`, NCHW, stride 1, 'same' padding.
        #[pyfunction]
        fn $fwd<'py>(
            py: Python<'py>,
            x: PyReadonlyArrayDyn<'py, $t>,
            weight: PyReadonlyArrayDyn<'py, $t>,
            bias: Option<PyReadonlyArrayDyn<'py, $t>>,
        ) -> PyResult<Arr<'py, $t>> {
            let s = conv_shape(&shape(&x), &shape(&weight))?;
            s.check()?;
            let (xs, ws) = (slice(&x, "input")?, slice(&weight, "weight")?);
            let bs: &[$t] = match &bias {
                Some(b) => slice(b, "bias")?,
                None => &[],
            };
            let mut y: Vec<$t> = crate::error::try_zeros(s.output_len(), "output")?;
            py.detach(|| crate::par::install(|| conv::conv2d_forward(&s, xs, ws, bs, &mut y, false)))?;
            to_numpy(py, y, &[s.batch, s.out_channels, s.height, s.width])
        }

        /// Gradients (dx or None, dw, db) of sum(grad_output * conv2d(x, w)).
        #[pyfunction]
        fn $bwd<'py>(
            py: Python<'py>,
            x: PyReadonlyArrayDyn<'py, $t>,
            weight: PyReadonlyArrayDyn<'py, $t>,
            grad_output: PyReadonlyArrayDyn<'py, $t>,
            need_input_grad: bool,
        ) -> PyResult<(Option<Arr<'py, $t>>, Arr<'py, $t>, Arr<'py, $t>)> {
            let s = conv_shape(&shape(&x), &shape(&weight))?;
            s.check()?;
            let (xs, ws, dys) =
                (slice(&x, "input")?, slice(&weight, "weight")?, slice(&grad_output, "grad_output")?);
            let mut dx: Vec<$t> =
                if need_input_grad { crate::error::try_zeros(s.input_len(), "dx")? } else { Vec::new() };
            let mut dw: Vec<$t> = crate::error::try_zeros(s.weight_len(), "dw")?;
            let mut db: Vec<$t> = crate::error::try_zeros(s.out_channels, "db")?;
            py.detach(|| {
                crate::par::install(|| conv::conv2d_backward(&s, xs, ws, dys, &mut dx, &mut dw, &mut db))
            })?;
            let dx = if need_input_grad {
                Some(to_numpy(py, dx, &[s.batch, s.in_channels, s.height, s.width])?)
            } else {
                None
            };
            Ok((
                dx,
                to_numpy(py, dw, &[s.out_channels, s.in_channels, s.kernel_h, s.kernel_w])?,
                to_numpy(py, db, &[s.out_channels])?,
            ))
        }
    };
}

conv_bindings!(f32, conv2d_forward_f32, conv2d_backward_f32);
conv_bindings!(f64, conv2d_forward_f64, conv2d_backward_f64);
tree_bindings!(f32, tree_forward_f32, tree_backward_f32);
tree_bindings!(f64, tree_forward_f64, tree_backward_f64);

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
    m.add_function(wrap_pyfunction!(conv2d_forward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_forward_f64, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_backward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_backward_f64, m)?)?;
    m.add_function(wrap_pyfunction!(tree_forward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(tree_forward_f64, m)?)?;
    m.add_function(wrap_pyfunction!(tree_backward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(tree_backward_f64, m)?)?;
    Ok(())
}
