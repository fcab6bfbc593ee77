//! Python bindings of the training toolkit (`crate::train`): clipping, losses,
//! optimizer steps, Linear and Embedding kernels. Each function serves
//! float32 and float64 (`with_dtype!` on its leading array; another dtype in
//! any other argument is a TypeError naming it); hyper-parameters are
//! keyword-only. The Python package (`rnnrs.clip`, `rnnrs.losses`,
//! `rnnrs.optim`, `rnnrs.modules`) validates arguments and normalises
//! containers first. All compute runs with the GIL released.

use super::convert::{array, array_mut, arrays, arrays_mut, opt_slice, optional, optional_mut, shape};
use super::convert::{slice, slice_mut, to_numpy};
use super::dtype::{with_dtype, DType};
use crate::train::clip::{self, NormType};
use crate::train::dense::{self, LinearShape};
use crate::train::loss::{self, CrossEntropy, Layout, Reduction, Target};
use crate::train::optim::{self, Slots};
use crate::{Error, Float};
use numpy::{Element, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type Any<'py> = Bound<'py, PyAny>;

/// Mutable slices of a list of arrays; an empty list stands for `n` unused
/// (empty) slots.
fn slices_mut<'a, T: Element>(
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

fn slices<'a, T: Element>(
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

/// An optimizer's arrays in the dispatched dtype: parameters, gradients and
/// up to three per-parameter state lists (empty lists for unused states).
struct OptimArrays<'py, T: Element> {
    params: Vec<PyReadwriteArrayDyn<'py, T>>,
    grads: Vec<PyReadonlyArrayDyn<'py, T>>,
    states: [Vec<PyReadwriteArrayDyn<'py, T>>; 3],
}

impl<'py, T: Element + Float> OptimArrays<'py, T> {
    fn new(params: &[Any<'py>], grads: &[Any<'py>], states: [(&[Any<'py>], &str); 3]) -> PyResult<Self> {
        let [a, b, c] = states.map(|(list, arg)| arrays_mut::<T>(list, arg));
        Ok(Self {
            params: arrays_mut(params, "params")?,
            grads: arrays(grads, "grads")?,
            states: [a?, b?, c?],
        })
    }

    fn slots(&mut self, names: [&str; 3]) -> PyResult<Vec<Slots<'_, T>>> {
        let n = self.params.len();
        let [a, b, c] = &mut self.states;
        Ok(bundle(
            slices_mut(&mut self.params, n, "params")?,
            slices(&self.grads, n, "grads")?,
            slices_mut(a, n, names[0])?,
            slices_mut(b, n, names[1])?,
            slices_mut(c, n, names[2])?,
        ))
    }
}

/// One optimizer's step over the slices of one dtype (an impl per optimizer:
/// its hyper-parameters and step number).
trait OptimStep: Sync {
    fn run<T: Float>(&self, slots: Vec<Slots<'_, T>>) -> crate::Result<()>;
}

impl OptimStep for (optim::Sgd, bool) {
    fn run<T: Float>(&self, slots: Vec<Slots<'_, T>>) -> crate::Result<()> {
        optim::sgd_step(slots, &self.0, self.1)
    }
}

impl OptimStep for (optim::Adam, u64) {
    fn run<T: Float>(&self, slots: Vec<Slots<'_, T>>) -> crate::Result<()> {
        optim::adam_step(slots, &self.0, self.1)
    }
}

impl OptimStep for optim::RmsProp {
    fn run<T: Float>(&self, slots: Vec<Slots<'_, T>>) -> crate::Result<()> {
        optim::rmsprop_step(slots, self)
    }
}

impl OptimStep for (optim::Adagrad, u64) {
    fn run<T: Float>(&self, slots: Vec<Slots<'_, T>>) -> crate::Result<()> {
        optim::adagrad_step(slots, &self.0, self.1)
    }
}

/// The one dispatch of the `_*_step` bindings: the parameters, gradients and
/// up to three state lists (`(list, argument name)`, empty when unused) in
/// the parameters' dtype, then `step` in place with the GIL released.
fn optim_step<'py>(
    py: Python<'py>,
    params: &[Any<'py>],
    grads: &[Any<'py>],
    states: [(&[Any<'py>], &str); 3],
    step: impl OptimStep,
) -> PyResult<()> {
    let names = states.map(|(_, name)| name);
    with_dtype!(DType::of_first(params, "params"), T, {
        let mut a = OptimArrays::<T>::new(params, grads, states)?;
        let slots = a.slots(names)?;
        Ok(py.detach(|| step.run(slots))?)
    })
}

fn clip_norm_t<T: Element + Float>(
    py: Python<'_>,
    grads: &[Any<'_>],
    max_norm: f64,
    p: NormType,
    error_if_nonfinite: bool,
) -> PyResult<f64> {
    let mut ga = arrays_mut::<T>(grads, "grads")?;
    let n = ga.len();
    let mut views = slices_mut(&mut ga, n, "grads")?;
    Ok(py.detach(move || clip::clip_grad_norm(&mut views, max_norm, p, error_if_nonfinite))?.to_f64())
}

/// Clips the gradients' global norm in place; returns the norm before
/// clipping (as a float of the gradients' precision).
#[pyfunction]
fn _clip_grad_norm(
    py: Python<'_>,
    grads: Vec<Any<'_>>,
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> PyResult<f64> {
    let p = NormType::new(norm_type)?;
    with_dtype!(
        DType::of_first(&grads, "grads"),
        T,
        clip_norm_t::<T>(py, &grads, max_norm, p, error_if_nonfinite)
    )
}

fn clip_value_t<T: Element + Float>(py: Python<'_>, grads: &[Any<'_>], clip_value: f64) -> PyResult<()> {
    let mut ga = arrays_mut::<T>(grads, "grads")?;
    let n = ga.len();
    let mut views = slices_mut(&mut ga, n, "grads")?;
    Ok(py.detach(move || clip::clip_grad_value(&mut views, clip_value))?)
}

/// Clamps the gradients in place to [-clip_value, clip_value].
#[pyfunction]
fn _clip_grad_value(py: Python<'_>, grads: Vec<Any<'_>>, clip_value: f64) -> PyResult<()> {
    with_dtype!(DType::of_first(&grads, "grads"), T, clip_value_t::<T>(py, &grads, clip_value))
}

type LossOut<'py> = (Any<'py>, Any<'py>);

fn mse_t<'py, T: Element + Float>(
    py: Python<'py>,
    input: &Any<'py>,
    target: &Any<'py>,
    red: Reduction,
    mask: Option<PyReadonlyArrayDyn<'py, bool>>,
    grad_output: Option<&Any<'py>>,
) -> PyResult<LossOut<'py>> {
    let (xa, ta) = (array::<T>(input, "input")?, array::<T>(target, "target")?);
    let goa = optional::<T>(grad_output, "grad_output")?;
    let shape = shape(&xa);
    let (x, t) = (slice(&xa, "input")?, slice(&ta, "target")?);
    let m = mask.as_ref().map(|m| slice(m, "mask")).transpose()?;
    let go = opt_slice(&goa, "grad_output")?;
    let r = py.detach(move || loss::mse(x, t, red, m, go))?;
    let loss_shape: &[usize] = if red == Reduction::None { &shape } else { &[] };
    Ok((to_numpy(py, r.loss, loss_shape)?.into_any(), to_numpy(py, r.grad_input, &shape)?.into_any()))
}

/// MSE loss and its gradient; loss is 0-d or the input's shape.
#[pyfunction]
#[pyo3(signature = (input, target, *, reduction, mask=None, grad_output=None))]
fn _mse<'py>(
    py: Python<'py>,
    input: Any<'py>,
    target: Any<'py>,
    reduction: &str,
    mask: Option<PyReadonlyArrayDyn<'py, bool>>,
    grad_output: Option<Any<'py>>,
) -> PyResult<LossOut<'py>> {
    let red = Reduction::parse(reduction)?;
    with_dtype!(
        DType::of(&input, "input"),
        T,
        mse_t::<T>(py, &input, &target, red, mask, grad_output.as_ref())
    )
}

/// Cross-entropy's options as Python passes them (keyword-only).
struct CeArgs<'py> {
    layout: Layout,
    target_index: Option<PyReadonlyArrayDyn<'py, i64>>,
    target_probs: Option<Any<'py>>,
    weight: Option<Any<'py>>,
    ignore_index: i64,
    reduction: Reduction,
    label_smoothing: f64,
    mask: Option<PyReadonlyArrayDyn<'py, bool>>,
    grad_output: Option<Any<'py>>,
}

fn cross_entropy_t<'py, T: Element + Float>(
    py: Python<'py>,
    input: &Any<'py>,
    a: CeArgs<'py>,
) -> PyResult<LossOut<'py>> {
    let xa = array::<T>(input, "input")?;
    let probs = optional::<T>(a.target_probs.as_ref(), "target")?;
    let weight = optional::<T>(a.weight.as_ref(), "weight")?;
    let goa = optional::<T>(a.grad_output.as_ref(), "grad_output")?;
    let opts = CrossEntropy {
        weight: opt_slice(&weight, "weight")?,
        ignore_index: a.ignore_index,
        reduction: a.reduction,
        label_smoothing: a.label_smoothing,
    };
    let target = match (&a.target_index, &probs) {
        (Some(t), None) => Target::Index(slice(t, "target")?),
        (None, Some(t)) => Target::Probs(slice(t, "target")?),
        _ => return Err(Error::value("target", "give class indices or probabilities").into()),
    };
    let shape = shape(&xa);
    let x = slice(&xa, "input")?;
    let m = a.mask.as_ref().map(|m| slice(m, "mask")).transpose()?;
    let go = opt_slice(&goa, "grad_output")?;
    let layout = a.layout;
    let r = py.detach(move || loss::cross_entropy(x, layout, target, &opts, m, go))?;
    let nl = r.loss.len();
    Ok((to_numpy(py, r.loss, &[nl])?.into_any(), to_numpy(py, r.grad_input, &shape)?.into_any()))
}

/// Cross-entropy over an input viewed as `layout = (N, C, S)`; returns the
/// flat loss and the gradient. Give `target_index` (int64) or `target_probs`.
#[pyfunction]
#[pyo3(signature = (input, *, layout, ignore_index, target_index=None, target_probs=None, weight=None,
                    reduction="mean", label_smoothing=0.0, mask=None, grad_output=None))]
#[allow(clippy::too_many_arguments)]
fn _cross_entropy<'py>(
    py: Python<'py>,
    input: Any<'py>,
    layout: (usize, usize, usize),
    ignore_index: i64,
    target_index: Option<PyReadonlyArrayDyn<'py, i64>>,
    target_probs: Option<Any<'py>>,
    weight: Option<Any<'py>>,
    reduction: &str,
    label_smoothing: f64,
    mask: Option<PyReadonlyArrayDyn<'py, bool>>,
    grad_output: Option<Any<'py>>,
) -> PyResult<LossOut<'py>> {
    let (n, c, s) = layout;
    let args = CeArgs {
        layout: Layout { n, c, s },
        target_index,
        target_probs,
        weight,
        ignore_index,
        reduction: Reduction::parse(reduction)?,
        label_smoothing,
        mask,
        grad_output,
    };
    with_dtype!(DType::of(&input, "input"), T, cross_entropy_t::<T>(py, &input, args))
}

/// One SGD step in place (momentum_buffer: empty list without momentum).
#[pyfunction]
#[pyo3(signature = (params, grads, momentum_buffer, *, first, lr, momentum, dampening, nesterov,
                    weight_decay, maximize))]
#[allow(clippy::too_many_arguments)]
fn _sgd_step(
    py: Python<'_>,
    params: Vec<Any<'_>>,
    grads: Vec<Any<'_>>,
    momentum_buffer: Vec<Any<'_>>,
    first: bool,
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
    maximize: bool,
) -> PyResult<()> {
    let h = optim::Sgd { lr, momentum, dampening, nesterov, weight_decay, maximize };
    optim_step(py, &params, &grads, [(&momentum_buffer, "momentum_buffer"), (&[], ""), (&[], "")], (h, first))
}

/// One Adam/AdamW step in place (max_exp_avg_sq: empty list without amsgrad).
#[pyfunction]
#[pyo3(signature = (params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1, beta2, eps,
                    weight_decay, amsgrad, maximize, decoupled))]
#[allow(clippy::too_many_arguments)]
fn _adam_step(
    py: Python<'_>,
    params: Vec<Any<'_>>,
    grads: Vec<Any<'_>>,
    exp_avg: Vec<Any<'_>>,
    exp_avg_sq: Vec<Any<'_>>,
    max_exp_avg_sq: Vec<Any<'_>>,
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
    let h = optim::Adam { lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled };
    let states =
        [(&exp_avg[..], "exp_avg"), (&exp_avg_sq[..], "exp_avg_sq"), (&max_exp_avg_sq[..], "max_exp_avg_sq")];
    optim_step(py, &params, &grads, states, (h, step))
}

/// One RMSprop step in place (unused state lists empty).
#[pyfunction]
#[pyo3(signature = (params, grads, square_avg, momentum_buffer, grad_avg, *, lr, alpha, eps, weight_decay,
                    momentum, centered, maximize))]
#[allow(clippy::too_many_arguments)]
fn _rmsprop_step(
    py: Python<'_>,
    params: Vec<Any<'_>>,
    grads: Vec<Any<'_>>,
    square_avg: Vec<Any<'_>>,
    momentum_buffer: Vec<Any<'_>>,
    grad_avg: Vec<Any<'_>>,
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    maximize: bool,
) -> PyResult<()> {
    let h = optim::RmsProp { lr, alpha, eps, weight_decay, momentum, centered, maximize };
    let states = [
        (&square_avg[..], "square_avg"),
        (&momentum_buffer[..], "momentum_buffer"),
        (&grad_avg[..], "grad_avg"),
    ];
    optim_step(py, &params, &grads, states, h)
}

/// One Adagrad step in place.
#[pyfunction]
#[pyo3(signature = (params, grads, sum, *, step, lr, lr_decay, weight_decay, eps, maximize))]
#[allow(clippy::too_many_arguments)]
fn _adagrad_step(
    py: Python<'_>,
    params: Vec<Any<'_>>,
    grads: Vec<Any<'_>>,
    sum: Vec<Any<'_>>,
    step: u64,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    maximize: bool,
) -> PyResult<()> {
    let h = optim::Adagrad { lr, lr_decay, weight_decay, eps, maximize };
    optim_step(py, &params, &grads, [(&sum, "sum"), (&[], ""), (&[], "")], (h, step))
}

/// The linear map's sizes from `x (rows, in)` and `weight (out, in)`.
fn linear_shape(xs: &[usize], ws: &[usize]) -> PyResult<LinearShape> {
    if xs.len() != 2 || ws.len() != 2 {
        return Err(Error::shape("x, weight", "expected 2-d arrays").into());
    }
    Ok(LinearShape { rows: xs[0], in_features: xs[1], out_features: ws[0] })
}

fn linear_forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    x: &Any<'py>,
    weight: &Any<'py>,
    bias: Option<&Any<'py>>,
) -> PyResult<Any<'py>> {
    let (xa, wa, ba) = (array::<T>(x, "x")?, array::<T>(weight, "weight")?, optional::<T>(bias, "bias")?);
    let sh = linear_shape(xa.shape(), wa.shape())?;
    let (xv, wv, bv) = (slice(&xa, "x")?, slice(&wa, "weight")?, opt_slice(&ba, "bias")?);
    let y = py.detach(move || dense::linear_forward(xv, wv, bv, sh))?;
    Ok(to_numpy(py, y, &[sh.rows, sh.out_features])?.into_any())
}

/// y = x W^T + b for x (rows, in); returns y (rows, out).
#[pyfunction]
#[pyo3(signature = (x, weight, bias=None))]
fn _linear_forward<'py>(
    py: Python<'py>,
    x: Any<'py>,
    weight: Any<'py>,
    bias: Option<Any<'py>>,
) -> PyResult<Any<'py>> {
    with_dtype!(DType::of(&x, "x"), T, linear_forward_t::<T>(py, &x, &weight, bias.as_ref()))
}

fn linear_backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    x: &Any<'py>,
    weight: &Any<'py>,
    dy: &Any<'py>,
    grad_weight: &Any<'py>,
    grad_bias: Option<&Any<'py>>,
) -> PyResult<Any<'py>> {
    let (xa, wa, dya) = (array::<T>(x, "x")?, array::<T>(weight, "weight")?, array::<T>(dy, "dy")?);
    let mut gwa = array_mut::<T>(grad_weight, "grad_weight")?;
    let mut gba = optional_mut::<T>(grad_bias, "grad_bias")?;
    let sh = linear_shape(xa.shape(), wa.shape())?;
    let (xv, wv, dyv) = (slice(&xa, "x")?, slice(&wa, "weight")?, slice(&dya, "dy")?);
    let gw = slice_mut(&mut gwa, "grad_weight")?;
    let gb = gba.as_mut().map(|b| slice_mut(b, "grad_bias")).transpose()?;
    let dx = py.detach(move || dense::linear_backward(xv, wv, dyv, gw, gb, sh))?;
    Ok(to_numpy(py, dx, &[sh.rows, sh.in_features])?.into_any())
}

/// Backward of the linear map: returns dx, accumulates grad_weight / grad_bias.
#[pyfunction]
#[pyo3(signature = (x, weight, dy, grad_weight, grad_bias=None))]
fn _linear_backward<'py>(
    py: Python<'py>,
    x: Any<'py>,
    weight: Any<'py>,
    dy: Any<'py>,
    grad_weight: Any<'py>,
    grad_bias: Option<Any<'py>>,
) -> PyResult<Any<'py>> {
    with_dtype!(
        DType::of(&x, "x"),
        T,
        linear_backward_t::<T>(py, &x, &weight, &dy, &grad_weight, grad_bias.as_ref())
    )
}

fn embedding_backward_t<T: Element + Float>(
    py: Python<'_>,
    indices: &PyReadonlyArrayDyn<'_, i64>,
    dy: &Any<'_>,
    grad_weight: &Any<'_>,
    padding_idx: Option<i64>,
) -> PyResult<()> {
    let dya = array::<T>(dy, "dy")?;
    let mut gwa = array_mut::<T>(grad_weight, "grad_weight")?;
    let gs = gwa.shape().to_vec();
    if gs.len() != 2 {
        return Err(Error::shape("grad_weight", "expected a 2-d array").into());
    }
    let (iv, dyv) = (slice(indices, "indices")?, slice(&dya, "dy")?);
    let gw = slice_mut(&mut gwa, "grad_weight")?;
    Ok(py.detach(move || dense::embedding_backward(iv, dyv, gw, gs[1], padding_idx))?)
}

/// Embedding backward: scatter-adds dy rows into grad_weight (num, dim).
#[pyfunction]
#[pyo3(signature = (indices, dy, grad_weight, padding_idx=None))]
fn _embedding_backward(
    py: Python<'_>,
    indices: PyReadonlyArrayDyn<'_, i64>,
    dy: Any<'_>,
    grad_weight: Any<'_>,
    padding_idx: Option<i64>,
) -> PyResult<()> {
    with_dtype!(
        DType::of(&grad_weight, "grad_weight"),
        T,
        embedding_backward_t::<T>(py, &indices, &dy, &grad_weight, padding_idx)
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_clip_grad_norm, m)?)?;
    m.add_function(wrap_pyfunction!(_clip_grad_value, m)?)?;
    m.add_function(wrap_pyfunction!(_mse, m)?)?;
    m.add_function(wrap_pyfunction!(_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(_sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(_adam_step, m)?)?;
    m.add_function(wrap_pyfunction!(_rmsprop_step, m)?)?;
    m.add_function(wrap_pyfunction!(_adagrad_step, m)?)?;
    m.add_function(wrap_pyfunction!(_linear_forward, m)?)?;
    m.add_function(wrap_pyfunction!(_linear_backward, m)?)?;
    m.add_function(wrap_pyfunction!(_embedding_backward, m)?)?;
    Ok(())
}
