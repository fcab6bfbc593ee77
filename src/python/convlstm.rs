//! Python bindings of `crate::structure::convlstm`: the whole ConvLSTM stack
//! (all steps, all layers) forward and backward, float32 or float64
//! (`with_dtype!`; options keyword-only). The Python package (`rnnrs.conv.ConvLSTM`) checks shapes and dtypes first,
//! keeps the tape (a list of flat arrays) between the two calls and adds the
//! returned gradients to its own. The GIL is released around the compute.

use super::convert::{array, arrays, optional, shape, slice, to_numpy};
use super::dtype::{with_dtype, DType};
use crate::structure::convlstm::{self, ConvLstmShape, LayerParams, TapeRef};
use crate::Float;
use numpy::{Element, PyReadonlyArrayDyn};
use pyo3::prelude::*;

type Any<'py> = Bound<'py, PyAny>;

/// The stack's sizes from `x (T, B, C, H, W)` and the layer options.
fn stack_shape(
    xs: &[usize],
    hidden: usize,
    kernel: (usize, usize),
    layers: usize,
    peephole: bool,
) -> PyResult<ConvLstmShape> {
    let &[steps, batch, in_channels, height, width] = xs else {
        return Err(PyErr::from(crate::Error::value(
            "x",
            format!("expected (T, B, C, H, W), got shape {xs:?}"),
        )));
    };
    let s = ConvLstmShape {
        steps,
        batch,
        in_channels,
        hidden,
        height,
        width,
        kernel_h: kernel.0,
        kernel_w: kernel.1,
        layers,
        peephole,
    };
    s.check()?;
    Ok(s)
}

/// Per layer `[weight_ih, weight_hh, bias, weight_ci, weight_cf, weight_co]`
/// (the last three empty arrays without peepholes), flattened.
fn layer_params<'a, T: numpy::Element>(
    params: &'a [PyReadonlyArrayDyn<'_, T>],
    layers: usize,
) -> PyResult<Vec<LayerParams<'a, T>>> {
    if params.len() != 6 * layers {
        return Err(PyErr::from(crate::Error::value(
            "params",
            format!("expected 6 arrays per layer ({}), got {}", 6 * layers, params.len()),
        )));
    }
    params
        .chunks_exact(6)
        .map(|p| {
            Ok(LayerParams {
                w_ih: slice(&p[0], "weight_ih")?,
                w_hh: slice(&p[1], "weight_hh")?,
                bias: slice(&p[2], "bias")?,
                peephole: [
                    slice(&p[3], "weight_ci")?,
                    slice(&p[4], "weight_cf")?,
                    slice(&p[5], "weight_co")?,
                ],
            })
        })
        .collect()
}

/// An optional array's elements (empty when None).
fn flat<'a, T: numpy::Element>(a: &'a Option<PyReadonlyArrayDyn<'_, T>>, arg: &str) -> PyResult<&'a [T]> {
    Ok(match a {
        Some(a) => slice(a, arg)?,
        None => &[],
    })
}

/// The stack's options (keyword-only in Python).
#[derive(Clone, Copy)]
struct StackOpts {
    hidden: usize,
    kernel: (usize, usize),
    layers: usize,
    peephole: bool,
}

type ForwardOut<'py> = (Any<'py>, Any<'py>, Any<'py>, Option<Vec<Any<'py>>>);

fn forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    x: &Any<'py>,
    params: &[Any<'py>],
    h0: Option<&Any<'py>>,
    c0: Option<&Any<'py>>,
    o: StackOpts,
    train: bool,
) -> PyResult<ForwardOut<'py>> {
    let xa = array::<T>(x, "x")?;
    let pa = arrays::<T>(params, "params")?;
    let (h0a, c0a) = (optional::<T>(h0, "h0")?, optional::<T>(c0, "c0")?);
    let s = stack_shape(&shape(&xa), o.hidden, o.kernel, o.layers, o.peephole)?;
    let ps = layer_params(&pa, o.layers)?;
    let xs = slice(&xa, "x")?;
    let (h0, c0) = (flat(&h0a, "h0")?, flat(&c0a, "c0")?);
    let f = py.detach(|| crate::par::install(|| convlstm::forward(&s, &ps, xs, h0, c0, train)))?;
    let state = [o.layers, s.batch, o.hidden, s.height, s.width];
    let tape = match f.tape {
        Some(t) => {
            let mut arrays = Vec::new();
            for v in [t.x, t.h0, t.c0].into_iter().chain(t.h).chain(t.c).chain(t.gates) {
                let n = v.len();
                arrays.push(to_numpy(py, v, &[n])?.into_any());
            }
            Some(arrays)
        }
        None => None,
    };
    Ok((
        to_numpy(py, f.y, &[s.steps, s.batch, o.hidden, s.height, s.width])?.into_any(),
        to_numpy(py, f.h_n, &state)?.into_any(),
        to_numpy(py, f.c_n, &state)?.into_any(),
        tape,
    ))
}

/// Forward pass of a ConvLSTM stack: `(y, h_n, c_n, tape or None)`.
#[pyfunction]
#[pyo3(signature = (x, params, h0=None, c0=None, *, hidden, kernel, layers, peephole, train=false))]
#[allow(clippy::too_many_arguments)]
fn convlstm_forward<'py>(
    py: Python<'py>,
    x: Any<'py>,
    params: Vec<Any<'py>>,
    h0: Option<Any<'py>>,
    c0: Option<Any<'py>>,
    hidden: usize,
    kernel: (usize, usize),
    layers: usize,
    peephole: bool,
    train: bool,
) -> PyResult<ForwardOut<'py>> {
    let o = StackOpts { hidden, kernel, layers, peephole };
    with_dtype!(DType::of(&x, "x"), T, forward_t::<T>(py, &x, &params, h0.as_ref(), c0.as_ref(), o, train))
}

type BackwardOut<'py> = (Option<Any<'py>>, Any<'py>, Any<'py>, Vec<Any<'py>>);

/// What `convlstm_backward` gets besides the options.
struct BackwardArgs<'a, 'py> {
    x_shape: &'a [usize],
    params: &'a [Any<'py>],
    tape: &'a [Any<'py>],
    grad_output: &'a Any<'py>,
    dh_n: Option<&'a Any<'py>>,
    dc_n: Option<&'a Any<'py>>,
}

fn backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    a: BackwardArgs<'_, 'py>,
    o: StackOpts,
    input_grad: bool,
) -> PyResult<BackwardOut<'py>> {
    let layers = o.layers;
    let s = stack_shape(a.x_shape, o.hidden, o.kernel, layers, o.peephole)?;
    let pa = arrays::<T>(a.params, "params")?;
    let ps = layer_params(&pa, layers)?;
    if a.tape.len() != 3 + 3 * layers {
        return Err(PyErr::from(crate::Error::value(
            "tape",
            format!("expected {} arrays, got {}", 3 + 3 * layers, a.tape.len()),
        )));
    }
    let ta = arrays::<T>(a.tape, "tape")?;
    let tv: Vec<&[T]> = ta.iter().map(|a| slice(a, "tape")).collect::<PyResult<_>>()?;
    let tr = TapeRef {
        x: tv[0],
        h0: tv[1],
        c0: tv[2],
        h: &tv[3..3 + layers],
        c: &tv[3 + layers..3 + 2 * layers],
        gates: &tv[3 + 2 * layers..],
    };
    let ga = array::<T>(a.grad_output, "grad_output")?;
    let (dha, dca) = (optional::<T>(a.dh_n, "dh_n")?, optional::<T>(a.dc_n, "dc_n")?);
    let dy = slice(&ga, "grad_output")?;
    let (dh_n, dc_n) = (flat(&dha, "dh_n")?, flat(&dca, "dc_n")?);
    let g =
        py.detach(|| crate::par::install(|| convlstm::backward(&s, &ps, &tr, dy, dh_n, dc_n, input_grad)))?;
    let mut grads = Vec::with_capacity(6 * layers);
    for (lg, p) in g.layers.into_iter().zip(pa.chunks(6)) {
        let parts = [lg.w_ih, lg.w_hh, lg.bias];
        for (v, arr) in parts.into_iter().chain(lg.peephole).zip(p) {
            grads.push(to_numpy(py, v, &shape(arr))?.into_any());
        }
    }
    let state = [layers, s.batch, o.hidden, s.height, s.width];
    let dx = if input_grad { Some(to_numpy(py, g.dx, a.x_shape)?.into_any()) } else { None };
    Ok((dx, to_numpy(py, g.dh0, &state)?.into_any(), to_numpy(py, g.dc0, &state)?.into_any(), grads))
}

/// Backward pass: `(dx or None, dh0, dc0, gradients)`, the gradients per
/// layer in the order of `params`.
#[pyfunction]
#[pyo3(signature = (x_shape, params, tape, grad_output, dh_n=None, dc_n=None, *, hidden, kernel, layers,
                    peephole, input_grad=true))]
#[allow(clippy::too_many_arguments)]
fn convlstm_backward<'py>(
    py: Python<'py>,
    x_shape: Vec<usize>,
    params: Vec<Any<'py>>,
    tape: Vec<Any<'py>>,
    grad_output: Any<'py>,
    dh_n: Option<Any<'py>>,
    dc_n: Option<Any<'py>>,
    hidden: usize,
    kernel: (usize, usize),
    layers: usize,
    peephole: bool,
    input_grad: bool,
) -> PyResult<BackwardOut<'py>> {
    let o = StackOpts { hidden, kernel, layers, peephole };
    let args = BackwardArgs {
        x_shape: &x_shape,
        params: &params,
        tape: &tape,
        grad_output: &grad_output,
        dh_n: dh_n.as_ref(),
        dc_n: dc_n.as_ref(),
    };
    with_dtype!(DType::of(&grad_output, "grad_output"), T, backward_t::<T>(py, args, o, input_grad))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(convlstm_forward, m)?)?;
    m.add_function(wrap_pyfunction!(convlstm_backward, m)?)?;
    Ok(())
}
