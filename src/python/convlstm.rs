//! Python bindings of `crate::structure::convlstm`: the whole ConvLSTM stack
//! (all steps, all layers) forward and backward. One function per dtype; the
//! Python package (`rnnrs.conv.ConvLSTM`) checks shapes and dtypes first,
//! keeps the tape (a list of flat arrays) between the two calls and adds the
//! returned gradients to its own. The GIL is released around the compute.

use super::convert::{shape, slice, to_numpy};
use crate::structure::convlstm::{self, ConvLstmShape, LayerParams, TapeRef};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;

type Arr<'py, T> = Bound<'py, PyArrayDyn<T>>;

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

macro_rules! convlstm_bindings {
    ($t:ty, $fwd:ident, $bwd:ident) => {
        /// Forward pass of a ConvLSTM stack: `(y, h_n, c_n, tape or None)`.
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $fwd<'py>(
            py: Python<'py>,
            x: PyReadonlyArrayDyn<'py, $t>,
            params: Vec<PyReadonlyArrayDyn<'py, $t>>,
            hidden: usize,
            kernel: (usize, usize),
            layers: usize,
            peephole: bool,
            h0: Option<PyReadonlyArrayDyn<'py, $t>>,
            c0: Option<PyReadonlyArrayDyn<'py, $t>>,
            train: bool,
        ) -> PyResult<(Arr<'py, $t>, Arr<'py, $t>, Arr<'py, $t>, Option<Vec<Arr<'py, $t>>>)> {
            let s = stack_shape(&shape(&x), hidden, kernel, layers, peephole)?;
            let ps = layer_params(&params, layers)?;
            let xs = slice(&x, "x")?;
            let (h0, c0) = (flat(&h0, "h0")?, flat(&c0, "c0")?);
            let f = py.detach(|| crate::par::install(|| convlstm::forward(&s, &ps, xs, h0, c0, train)))?;
            let state = [layers, s.batch, hidden, s.height, s.width];
            let tape = match f.tape {
                Some(t) => {
                    let mut arrays = Vec::new();
                    for v in [t.x, t.h0, t.c0].into_iter().chain(t.h).chain(t.c).chain(t.gates) {
                        let n = v.len();
                        arrays.push(to_numpy(py, v, &[n])?);
                    }
                    Some(arrays)
                }
                None => None,
            };
            Ok((
                to_numpy(py, f.y, &[s.steps, s.batch, hidden, s.height, s.width])?,
                to_numpy(py, f.h_n, &state)?,
                to_numpy(py, f.c_n, &state)?,
                tape,
            ))
        }

        /// Backward pass: `(dx or None, dh0, dc0, gradients)`, the gradients
        /// per layer in the order of `params`.
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $bwd<'py>(
            py: Python<'py>,
            x_shape: Vec<usize>,
            params: Vec<PyReadonlyArrayDyn<'py, $t>>,
            hidden: usize,
            kernel: (usize, usize),
            layers: usize,
            peephole: bool,
            tape: Vec<PyReadonlyArrayDyn<'py, $t>>,
            grad_output: PyReadonlyArrayDyn<'py, $t>,
            dh_n: Option<PyReadonlyArrayDyn<'py, $t>>,
            dc_n: Option<PyReadonlyArrayDyn<'py, $t>>,
            input_grad: bool,
        ) -> PyResult<(Option<Arr<'py, $t>>, Arr<'py, $t>, Arr<'py, $t>, Vec<Arr<'py, $t>>)> {
            let s = stack_shape(&x_shape, hidden, kernel, layers, peephole)?;
            let ps = layer_params(&params, layers)?;
            if tape.len() != 3 + 3 * layers {
                return Err(PyErr::from(crate::Error::value(
                    "tape",
                    format!("expected {} arrays, got {}", 3 + 3 * layers, tape.len()),
                )));
            }
            let tv: Vec<&[$t]> = tape.iter().map(|a| slice(a, "tape")).collect::<PyResult<_>>()?;
            let tr = TapeRef {
                x: tv[0],
                h0: tv[1],
                c0: tv[2],
                h: &tv[3..3 + layers],
                c: &tv[3 + layers..3 + 2 * layers],
                gates: &tv[3 + 2 * layers..],
            };
            let dy = slice(&grad_output, "grad_output")?;
            let (dh_n, dc_n) = (flat(&dh_n, "dh_n")?, flat(&dc_n, "dc_n")?);
            let g = py.detach(|| {
                crate::par::install(|| convlstm::backward(&s, &ps, &tr, dy, dh_n, dc_n, input_grad))
            })?;
            let mut grads = Vec::with_capacity(6 * layers);
            for (lg, p) in g.layers.into_iter().zip(params.iter().collect::<Vec<_>>().chunks(6)) {
                let parts = [lg.w_ih, lg.w_hh, lg.bias];
                for (v, a) in parts.into_iter().chain(lg.peephole).zip(p) {
                    grads.push(to_numpy(py, v, &shape(a))?);
                }
            }
            let state = [layers, s.batch, hidden, s.height, s.width];
            let dx = if input_grad { Some(to_numpy(py, g.dx, &x_shape)?) } else { None };
            Ok((dx, to_numpy(py, g.dh0, &state)?, to_numpy(py, g.dc0, &state)?, grads))
        }
    };
}

convlstm_bindings!(f32, convlstm_forward_f32, convlstm_backward_f32);
convlstm_bindings!(f64, convlstm_forward_f64, convlstm_backward_f64);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(convlstm_forward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(convlstm_forward_f64, m)?)?;
    m.add_function(wrap_pyfunction!(convlstm_backward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(convlstm_backward_f64, m)?)?;
    Ok(())
}
