//! Python bindings of the training toolkit (`crate::train`): clipping, losses,
//! optimizer steps, Linear and Embedding kernels. One private function per
//! dtype (`_name_f32`, `_name_f64`); the Python package (`rnnrs.clip`,
//! `rnnrs.losses`, `rnnrs.optim`, `rnnrs.modules`) validates arguments,
//! normalises containers and dispatches on the dtype. All compute runs with
//! the GIL released.

use super::convert::{shape, slice, slice_mut, to_numpy};
use crate::train::clip::{self, NormType};
use crate::train::dense::{self, LinearShape};
use crate::train::loss::{self, CrossEntropy, Layout, Reduction, Target};
use crate::train::optim::{self, Slots};
use crate::Error;
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// Mutable slices of a list of arrays; an empty list stands for `n` unused
/// (empty) slots.
fn slices_mut<'a, T: numpy::Element>(
    arrays: &'a mut [PyReadwriteArrayDyn<'_, T>],
    n: usize,
    arg: &str,
) -> PyResult<Vec<&'a mut [T]>> {
    if arrays.is_empty() {
        return Ok((0..n).map(|_| Default::default()).collect());
    }
    if arrays.len() != n {
        return Err(Error::value(arg, format!("expected {n} arrays, got {}", arrays.len())).into());
    }
    arrays.iter_mut().map(|a| slice_mut(a, arg)).collect()
}

fn slices<'a, T: numpy::Element>(
    arrays: &'a [PyReadonlyArrayDyn<'_, T>],
    n: usize,
    arg: &str,
) -> PyResult<Vec<&'a [T]>> {
    if arrays.len() != n {
        return Err(Error::value(arg, format!("expected {n} arrays, got {}", arrays.len())).into());
    }
    arrays.iter().map(|a| slice(a, arg)).collect()
}

/// Bundles parameters, gradients and three state lists into `Slots`.
fn bundle<'a, T>(
    params: Vec<&'a mut [T]>,
    grads: Vec<&'a [T]>,
    s0: Vec<&'a mut [T]>,
    s1: Vec<&'a mut [T]>,
    s2: Vec<&'a mut [T]>,
) -> Vec<Slots<'a, T>> {
    params
        .into_iter()
        .zip(grads)
        .zip(s0.into_iter().zip(s1).zip(s2))
        .map(|((param, grad), ((a, b), c))| Slots { param, grad, state: [a, b, c] })
        .collect()
}

macro_rules! bindings {
    ($t:ty, $clip_norm:ident, $clip_value:ident, $mse:ident, $ce:ident, $sgd:ident, $adam:ident,
     $rmsprop:ident, $adagrad:ident, $lin_f:ident, $lin_b:ident, $emb_b:ident) => {
        /// Clips the gradients' global norm in place; returns the norm before clipping.
        #[pyfunction]
        fn $clip_norm(
            py: Python<'_>,
            mut grads: Vec<PyReadwriteArrayDyn<'_, $t>>,
            max_norm: f64,
            norm_type: f64,
            error_if_nonfinite: bool,
        ) -> PyResult<$t> {
            let p = NormType::new(norm_type)?;
            let n = grads.len();
            let mut views = slices_mut(&mut grads, n, "grads")?;
            Ok(py.detach(move || clip::clip_grad_norm(&mut views, max_norm, p, error_if_nonfinite))?)
        }

        /// Clamps the gradients in place to [-clip_value, clip_value].
        #[pyfunction]
        fn $clip_value(
            py: Python<'_>,
            mut grads: Vec<PyReadwriteArrayDyn<'_, $t>>,
            clip_value: f64,
        ) -> PyResult<()> {
            let n = grads.len();
            let mut views = slices_mut(&mut grads, n, "grads")?;
            Ok(py.detach(move || clip::clip_grad_value(&mut views, clip_value))?)
        }

        /// MSE loss and its gradient; loss is 0-d or the input's shape.
        #[pyfunction]
        #[pyo3(signature = (input, target, reduction, mask=None, grad_output=None))]
        fn $mse<'py>(
            py: Python<'py>,
            input: PyReadonlyArrayDyn<'py, $t>,
            target: PyReadonlyArrayDyn<'py, $t>,
            reduction: &str,
            mask: Option<PyReadonlyArrayDyn<'py, bool>>,
            grad_output: Option<PyReadonlyArrayDyn<'py, $t>>,
        ) -> PyResult<(Bound<'py, PyArrayDyn<$t>>, Bound<'py, PyArrayDyn<$t>>)> {
            let red = Reduction::parse(reduction)?;
            let shape = shape(&input);
            let x = slice(&input, "input")?;
            let t = slice(&target, "target")?;
            let m = mask.as_ref().map(|m| slice(m, "mask")).transpose()?;
            let go = grad_output.as_ref().map(|g| slice(g, "grad_output")).transpose()?;
            let r = py.detach(move || loss::mse(x, t, red, m, go))?;
            let loss_shape: &[usize] = if red == Reduction::None { &shape } else { &[] };
            Ok((to_numpy(py, r.loss, loss_shape)?, to_numpy(py, r.grad_input, &shape)?))
        }

        /// Cross-entropy over an (N, C, S) input; returns the flat loss and the gradient.
        #[pyfunction]
        #[pyo3(signature = (input, n, c, s, target_index, target_probs, weight, ignore_index, reduction,
                                                            label_smoothing, mask=None, grad_output=None))]
        #[allow(clippy::too_many_arguments)]
        fn $ce<'py>(
            py: Python<'py>,
            input: PyReadonlyArrayDyn<'py, $t>,
            n: usize,
            c: usize,
            s: usize,
            target_index: Option<PyReadonlyArrayDyn<'py, i64>>,
            target_probs: Option<PyReadonlyArrayDyn<'py, $t>>,
            weight: Option<PyReadonlyArrayDyn<'py, $t>>,
            ignore_index: i64,
            reduction: &str,
            label_smoothing: f64,
            mask: Option<PyReadonlyArrayDyn<'py, bool>>,
            grad_output: Option<PyReadonlyArrayDyn<'py, $t>>,
        ) -> PyResult<(Bound<'py, PyArrayDyn<$t>>, Bound<'py, PyArrayDyn<$t>>)> {
            let opts = CrossEntropy {
                weight: weight.as_ref().map(|w| slice(w, "weight")).transpose()?,
                ignore_index,
                reduction: Reduction::parse(reduction)?,
                label_smoothing,
            };
            let target = match (&target_index, &target_probs) {
                (Some(t), None) => Target::Index(slice(t, "target")?),
                (None, Some(t)) => Target::Probs(slice(t, "target")?),
                _ => return Err(Error::value("target", "give class indices or probabilities").into()),
            };
            let shape = shape(&input);
            let x = slice(&input, "input")?;
            let m = mask.as_ref().map(|m| slice(m, "mask")).transpose()?;
            let go = grad_output.as_ref().map(|g| slice(g, "grad_output")).transpose()?;
            let layout = Layout { n, c, s };
            let r = py.detach(move || loss::cross_entropy(x, layout, target, &opts, m, go))?;
            let nl = r.loss.len();
            Ok((to_numpy(py, r.loss, &[nl])?, to_numpy(py, r.grad_input, &shape)?))
        }

        /// One SGD step in place (momentum_buffer: empty list without momentum).
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $sgd(
            py: Python<'_>,
            mut params: Vec<PyReadwriteArrayDyn<'_, $t>>,
            grads: Vec<PyReadonlyArrayDyn<'_, $t>>,
            mut momentum_buffer: Vec<PyReadwriteArrayDyn<'_, $t>>,
            first: bool,
            lr: f64,
            momentum: f64,
            dampening: f64,
            nesterov: bool,
            weight_decay: f64,
            maximize: bool,
        ) -> PyResult<()> {
            let n = params.len();
            let h = optim::Sgd { lr, momentum, dampening, nesterov, weight_decay, maximize };
            let slots = bundle(
                slices_mut(&mut params, n, "params")?,
                slices(&grads, n, "grads")?,
                slices_mut(&mut momentum_buffer, n, "momentum_buffer")?,
                slices_mut(&mut [], n, "")?,
                slices_mut(&mut [], n, "")?,
            );
            Ok(py.detach(move || optim::sgd_step(slots, &h, first))?)
        }

        /// One Adam/AdamW step in place (max_exp_avg_sq: empty list without amsgrad).
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $adam(
            py: Python<'_>,
            mut params: Vec<PyReadwriteArrayDyn<'_, $t>>,
            grads: Vec<PyReadonlyArrayDyn<'_, $t>>,
            mut exp_avg: Vec<PyReadwriteArrayDyn<'_, $t>>,
            mut exp_avg_sq: Vec<PyReadwriteArrayDyn<'_, $t>>,
            mut max_exp_avg_sq: Vec<PyReadwriteArrayDyn<'_, $t>>,
            step: u64,
            lr: f64,
            beta1: f64,
            beta2: f64,
            eps: f64,
            weight_decay: f64,
            amsgrad: bool,
            maximize: bool,
            decoupled: bool,
        ) -> PyResult<()> {
            let n = params.len();
            let h = optim::Adam { lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled };
            let slots = bundle(
                slices_mut(&mut params, n, "params")?,
                slices(&grads, n, "grads")?,
                slices_mut(&mut exp_avg, n, "exp_avg")?,
                slices_mut(&mut exp_avg_sq, n, "exp_avg_sq")?,
                slices_mut(&mut max_exp_avg_sq, n, "max_exp_avg_sq")?,
            );
            Ok(py.detach(move || optim::adam_step(slots, &h, step))?)
        }

        /// One RMSprop step in place (unused state lists empty).
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $rmsprop(
            py: Python<'_>,
            mut params: Vec<PyReadwriteArrayDyn<'_, $t>>,
            grads: Vec<PyReadonlyArrayDyn<'_, $t>>,
            mut square_avg: Vec<PyReadwriteArrayDyn<'_, $t>>,
            mut momentum_buffer: Vec<PyReadwriteArrayDyn<'_, $t>>,
            mut grad_avg: Vec<PyReadwriteArrayDyn<'_, $t>>,
            lr: f64,
            alpha: f64,
            eps: f64,
            weight_decay: f64,
            momentum: f64,
            centered: bool,
            maximize: bool,
        ) -> PyResult<()> {
            let n = params.len();
            let h = optim::RmsProp { lr, alpha, eps, weight_decay, momentum, centered, maximize };
            let slots = bundle(
                slices_mut(&mut params, n, "params")?,
                slices(&grads, n, "grads")?,
                slices_mut(&mut square_avg, n, "square_avg")?,
                slices_mut(&mut momentum_buffer, n, "momentum_buffer")?,
                slices_mut(&mut grad_avg, n, "grad_avg")?,
            );
            Ok(py.detach(move || optim::rmsprop_step(slots, &h))?)
        }

        /// One Adagrad step in place.
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $adagrad(
            py: Python<'_>,
            mut params: Vec<PyReadwriteArrayDyn<'_, $t>>,
            grads: Vec<PyReadonlyArrayDyn<'_, $t>>,
            mut sum: Vec<PyReadwriteArrayDyn<'_, $t>>,
            step: u64,
            lr: f64,
            lr_decay: f64,
            weight_decay: f64,
            eps: f64,
            maximize: bool,
        ) -> PyResult<()> {
            let n = params.len();
            let h = optim::Adagrad { lr, lr_decay, weight_decay, eps, maximize };
            let slots = bundle(
                slices_mut(&mut params, n, "params")?,
                slices(&grads, n, "grads")?,
                slices_mut(&mut sum, n, "sum")?,
                slices_mut(&mut [], n, "")?,
                slices_mut(&mut [], n, "")?,
            );
            Ok(py.detach(move || optim::adagrad_step(slots, &h, step))?)
        }

        /// y = x W^T + b for x (rows, in); returns y (rows, out).
        #[pyfunction]
        #[pyo3(signature = (x, weight, bias=None))]
        fn $lin_f<'py>(
            py: Python<'py>,
            x: PyReadonlyArrayDyn<'py, $t>,
            weight: PyReadonlyArrayDyn<'py, $t>,
            bias: Option<PyReadonlyArrayDyn<'py, $t>>,
        ) -> PyResult<Bound<'py, PyArrayDyn<$t>>> {
            let (xs, ws) = (x.shape().to_vec(), weight.shape().to_vec());
            if xs.len() != 2 || ws.len() != 2 {
                return Err(Error::shape("x, weight", "expected 2-d arrays").into());
            }
            let sh = LinearShape { rows: xs[0], in_features: xs[1], out_features: ws[0] };
            let (xv, wv) = (slice(&x, "x")?, slice(&weight, "weight")?);
            let bv = bias.as_ref().map(|b| slice(b, "bias")).transpose()?;
            let y = py.detach(move || dense::linear_forward(xv, wv, bv, sh))?;
            to_numpy(py, y, &[sh.rows, sh.out_features])
        }

        /// Backward of the linear map: returns dx, accumulates grad_weight / grad_bias.
        #[pyfunction]
        #[pyo3(signature = (x, weight, dy, grad_weight, grad_bias=None))]
        fn $lin_b<'py>(
            py: Python<'py>,
            x: PyReadonlyArrayDyn<'py, $t>,
            weight: PyReadonlyArrayDyn<'py, $t>,
            dy: PyReadonlyArrayDyn<'py, $t>,
            mut grad_weight: PyReadwriteArrayDyn<'py, $t>,
            mut grad_bias: Option<PyReadwriteArrayDyn<'py, $t>>,
        ) -> PyResult<Bound<'py, PyArrayDyn<$t>>> {
            let (xs, ws) = (x.shape().to_vec(), weight.shape().to_vec());
            if xs.len() != 2 || ws.len() != 2 {
                return Err(Error::shape("x, weight", "expected 2-d arrays").into());
            }
            let sh = LinearShape { rows: xs[0], in_features: xs[1], out_features: ws[0] };
            let (xv, wv, dyv) = (slice(&x, "x")?, slice(&weight, "weight")?, slice(&dy, "dy")?);
            let gw = slice_mut(&mut grad_weight, "grad_weight")?;
            let gb = grad_bias.as_mut().map(|b| slice_mut(b, "grad_bias")).transpose()?;
            let dx = py.detach(move || dense::linear_backward(xv, wv, dyv, gw, gb, sh))?;
            to_numpy(py, dx, &[sh.rows, sh.in_features])
        }

        /// Embedding backward: scatter-adds dy rows into grad_weight (num, dim).
        #[pyfunction]
        #[pyo3(signature = (indices, dy, grad_weight, padding_idx=None))]
        fn $emb_b(
            py: Python<'_>,
            indices: PyReadonlyArrayDyn<'_, i64>,
            dy: PyReadonlyArrayDyn<'_, $t>,
            mut grad_weight: PyReadwriteArrayDyn<'_, $t>,
            padding_idx: Option<i64>,
        ) -> PyResult<()> {
            let gs = grad_weight.shape().to_vec();
            if gs.len() != 2 {
                return Err(Error::shape("grad_weight", "expected a 2-d array").into());
            }
            let (iv, dyv) = (slice(&indices, "indices")?, slice(&dy, "dy")?);
            let gw = slice_mut(&mut grad_weight, "grad_weight")?;
            Ok(py.detach(move || dense::embedding_backward(iv, dyv, gw, gs[1], padding_idx))?)
        }
    };
}

bindings!(
    f32,
    _clip_grad_norm_f32,
    _clip_grad_value_f32,
    _mse_f32,
    _cross_entropy_f32,
    _sgd_step_f32,
    _adam_step_f32,
    _rmsprop_step_f32,
    _adagrad_step_f32,
    _linear_forward_f32,
    _linear_backward_f32,
    _embedding_backward_f32
);
bindings!(
    f64,
    _clip_grad_norm_f64,
    _clip_grad_value_f64,
    _mse_f64,
    _cross_entropy_f64,
    _sgd_step_f64,
    _adam_step_f64,
    _rmsprop_step_f64,
    _adagrad_step_f64,
    _linear_forward_f64,
    _linear_backward_f64,
    _embedding_backward_f64
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_clip_grad_norm_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_clip_grad_norm_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_clip_grad_value_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_clip_grad_value_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_mse_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_mse_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_cross_entropy_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_cross_entropy_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_sgd_step_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_sgd_step_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_adam_step_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_adam_step_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_rmsprop_step_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_rmsprop_step_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_adagrad_step_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_adagrad_step_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_linear_forward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_linear_forward_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_linear_backward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_linear_backward_f64, m)?)?;
    m.add_function(wrap_pyfunction!(_embedding_backward_f32, m)?)?;
    m.add_function(wrap_pyfunction!(_embedding_backward_f64, m)?)?;
    Ok(())
}
