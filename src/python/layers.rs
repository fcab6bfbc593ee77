//! Python bindings: the recurrent layers (`rnn_forward`, `rnn_backward`).
//!
//! Arrays arrive C-contiguous and time-major `(T, B, I)` (the Python layer
//! transposes `batch_first` input and adds the batch axis of unbatched input);
//! the dtype of `x` selects float32 or float64 and every other array must
//! match it. All compute runs with the GIL released.

use super::convert::{array, array_mut, check_shape, optional, shape, slice, slice_mut, to_numpy};
use super::dtype::{with_dtype, DType};
use crate::layer::{self, Cache, Mode, ParamSlot, RnnSpec};
use crate::{Error, Float};
use numpy::{Element, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

enum AnyCache {
    F32(Cache<f32>),
    F64(Cache<f64>),
}

impl From<Cache<f32>> for AnyCache {
    fn from(c: Cache<f32>) -> Self {
        Self::F32(c)
    }
}

impl From<Cache<f64>> for AnyCache {
    fn from(c: Cache<f64>) -> Self {
        Self::F64(c)
    }
}

/// What a training forward keeps for `rnn_backward` (opaque).
#[pyclass(name = "RnnContext", module = "rnnrs._core", frozen)]
pub struct RnnContext {
    cache: AnyCache,
}

#[pymethods]
impl RnnContext {
    /// Sequence length of the cached run.
    #[getter]
    fn seq_len(&self) -> usize {
        self.seq_batch().0
    }
    /// Batch size of the cached run.
    #[getter]
    fn batch_size(&self) -> usize {
        self.seq_batch().1
    }
    /// "float32" or "float64".
    #[getter]
    fn dtype(&self) -> &'static str {
        match &self.cache {
            AnyCache::F32(_) => f32::NAME,
            AnyCache::F64(_) => f64::NAME,
        }
    }
}

impl RnnContext {
    fn seq_batch(&self) -> (usize, usize) {
        match &self.cache {
            AnyCache::F32(c) => c.seq_batch(),
            AnyCache::F64(c) => c.seq_batch(),
        }
    }
}

/// An optional state or mask of exactly the shape `want` (the core checks
/// only the element count of the flat slices it gets).
fn optional_shaped<'py, T: Element + Float>(
    a: Option<&Bound<'py, PyAny>>,
    want: &[usize],
    arg: &str,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    let arr = optional::<T>(a, arg)?;
    if let Some(v) = &arr {
        check_shape(v.shape(), want, arg)?;
    }
    Ok(arr)
}

/// One parameter (or gradient) array per slot, each of the slot's shape.
/// This runs on every forward and backward, so torch's name is formatted
/// only for an error: a failed fast take is taken again under its name,
/// which gives the message (and the array is never held twice).
fn slot_arrays<'py, A: Shaped>(
    list: &[Bound<'py, PyAny>],
    slots: &[ParamSlot],
    take: impl Fn(&Bound<'py, PyAny>, &str) -> PyResult<A>,
    arg: impl Fn(&ParamSlot) -> String,
) -> PyResult<Vec<A>> {
    let mut out = Vec::with_capacity(list.len());
    for (p, slot) in list.iter().zip(slots) {
        if let Ok(a) = take(p, "") {
            if a.dims() == slot.shape() {
                out.push(a);
                continue;
            }
        }
        let name = arg(slot);
        let a = take(p, &name)?;
        check_shape(a.dims(), slot.shape(), &name)?;
        out.push(a);
    }
    Ok(out)
}

/// A borrowed array's shape, read-only or writeable alike.
trait Shaped {
    fn dims(&self) -> &[usize];
}

impl<T: Element> Shaped for PyReadonlyArrayDyn<'_, T> {
    fn dims(&self) -> &[usize] {
        self.shape()
    }
}

impl<T: Element> Shaped for PyReadwriteArrayDyn<'_, T> {
    fn dims(&self) -> &[usize] {
        self.shape()
    }
}

fn param_arrays<'py, T: Element + Float>(
    slots: &[ParamSlot],
    params: &[Bound<'py, PyAny>],
) -> PyResult<Vec<PyReadonlyArrayDyn<'py, T>>> {
    if params.len() != slots.len() {
        return Err(Error::value(
            "params",
            format!(
                "expected {} arrays ({}), got {}",
                slots.len(),
                slots.iter().map(ParamSlot::name).collect::<Vec<_>>().join(", "),
                params.len()
            ),
        )
        .into());
    }
    slot_arrays(params, slots, array::<T>, ParamSlot::name)
}

type ForwardOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Option<Bound<'py, PyAny>>, Option<RnnContext>);

#[allow(clippy::too_many_arguments)]
fn forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    spec: &RnnSpec,
    x: &Bound<'py, PyAny>,
    params: &[Bound<'py, PyAny>],
    h0: Option<&Bound<'py, PyAny>>,
    c0: Option<&Bound<'py, PyAny>>,
    rec_mask: Option<&Bound<'py, PyAny>>,
    lengths: Option<&[usize]>,
    train: bool,
) -> PyResult<ForwardOut<'py>>
where
    AnyCache: From<Cache<T>>,
{
    let xa = array::<T>(x, "input")?;
    let shape = shape(&xa);
    if shape.len() != 3 {
        return Err(
            Error::shape("input", format!("expected 3 dimensions (T, B, I), got shape {shape:?}")).into()
        );
    }
    let (t, b) = (shape[0], shape[1]);
    if shape[2] != spec.input_size {
        return Err(Error::shape(
            "input",
            format!("expected {} features (input_size), got shape {shape:?}", spec.input_size),
        )
        .into());
    }
    let rows = spec.num_layers * spec.num_directions();
    let is_lstm = spec.mode.has_c();
    let h0a = optional_shaped::<T>(h0, &[rows, b, spec.h_out()], "h0")?;
    let c0a = if is_lstm { optional_shaped::<T>(c0, &[rows, b, spec.hidden_size], "c0")? } else { None };
    let ma = optional_shaped::<T>(rec_mask, &[rows, b, spec.h_out()], "rec_mask")?;
    let pa = param_arrays::<T>(&spec.param_slots(), params)?;
    let ps = pa.iter().map(|a| slice(a, "params")).collect::<PyResult<Vec<_>>>()?;
    let xs = slice(&xa, "input")?;
    let h0s = h0a.as_ref().map(|a| slice(a, "h0")).transpose()?;
    let c0s = c0a.as_ref().map(|a| slice(a, "c0")).transpose()?;
    let ms = ma.as_ref().map(|a| slice(a, "rec_mask")).transpose()?;
    let states = layer::States { h0: h0s, c0: c0s, mask: ms, lengths };
    let (out, cache) =
        py.detach(|| crate::interrupt::watched(|| layer::forward_with(spec, &ps, xs, t, b, states, train)))?;
    let nd = spec.num_directions();
    let y = to_numpy(py, out.y, &[t, b, nd * spec.h_out()])?.into_any();
    let h_n = to_numpy(py, out.h_n, &[rows, b, spec.h_out()])?.into_any();
    let c_n =
        if is_lstm { Some(to_numpy(py, out.c_n, &[rows, b, spec.hidden_size])?.into_any()) } else { None };
    Ok((y, h_n, c_n, cache.map(|c| RnnContext { cache: c.into() })))
}

/// Forward of a (stacked, bidirectional) RNN/LSTM/GRU over a time-major
/// input `x` `(T, B, I)`. Returns `(y, h_n, c_n or None, ctx or None)`;
/// `ctx` (only with `train=True`) is what `rnn_backward` needs.
/// `rec_mask` `(D*L, B, h_out)`: optional recurrent dropout mask multiplying
/// the previous state where it enters `W_hh` (same mask at every step).
/// `lengths` `(B,)`: optional valid steps of each sequence (0..=T; 0 passes
/// the state through), PyTorch's packed-sequence semantics.
#[pyfunction]
#[pyo3(signature = (mode, x, params, h0=None, c0=None, *, hidden_size, num_layers=1, bidirectional=false,
                    bias=true, proj_size=0, train=false, rec_mask=None, lengths=None))]
#[allow(clippy::too_many_arguments)]
fn rnn_forward<'py>(
    py: Python<'py>,
    mode: &str,
    x: &Bound<'py, PyAny>,
    params: Vec<Bound<'py, PyAny>>,
    h0: Option<Bound<'py, PyAny>>,
    c0: Option<Bound<'py, PyAny>>,
    hidden_size: usize,
    num_layers: usize,
    bidirectional: bool,
    bias: bool,
    proj_size: usize,
    train: bool,
    rec_mask: Option<Bound<'py, PyAny>>,
    lengths: Option<Vec<i64>>,
) -> PyResult<ForwardOut<'py>> {
    let input_size = match x.getattr("shape")?.extract::<Vec<usize>>() {
        Ok(s) if s.len() == 3 => s[2],
        _ => return Err(Error::shape("input", "expected a 3-dimensional array (T, B, I)").into()),
    };
    let spec = RnnSpec {
        mode: Mode::parse(mode)?,
        input_size,
        hidden_size,
        num_layers,
        bidirectional,
        bias,
        proj_size,
    };
    spec.validate()?;
    let lengths = lengths
        .map(|l| {
            l.iter()
                .map(|&v| usize::try_from(v))
                .collect::<Result<Vec<usize>, _>>()
                .map_err(|_| crate::Error::value("lengths", "expected non-negative integers"))
        })
        .transpose()?;
    let lengths = lengths.as_deref();
    with_dtype!(
        DType::of(x, "input"),
        T,
        forward_t::<T>(py, &spec, x, &params, h0.as_ref(), c0.as_ref(), rec_mask.as_ref(), lengths, train)
    )
}

type BackwardOut<'py> = (Option<Bound<'py, PyAny>>, Bound<'py, PyAny>, Option<Bound<'py, PyAny>>);

#[allow(clippy::too_many_arguments)]
fn backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    cache: &Cache<T>,
    params: &[Bound<'py, PyAny>],
    dy: &Bound<'py, PyAny>,
    dh_n: Option<&Bound<'py, PyAny>>,
    dc_n: Option<&Bound<'py, PyAny>>,
    grads: &[Bound<'py, PyAny>],
    input_grad: bool,
) -> PyResult<BackwardOut<'py>> {
    let spec = cache.spec();
    let (t, b) = cache.seq_batch();
    let rows = spec.num_layers * spec.num_directions();
    let is_lstm = spec.mode.has_c();
    let dya = array::<T>(dy, "dy")?;
    check_shape(dya.shape(), &[t, b, spec.num_directions() * spec.h_out()], "dy")?;
    let dha = optional_shaped::<T>(dh_n, &[rows, b, spec.h_out()], "dh_n")?;
    let dca = if is_lstm { optional_shaped::<T>(dc_n, &[rows, b, spec.hidden_size], "dc_n")? } else { None };
    let slots = spec.param_slots();
    let pa = param_arrays::<T>(&slots, params)?;
    if grads.len() != slots.len() {
        return Err(
            Error::value("grads", format!("expected {} arrays, got {}", slots.len(), grads.len())).into()
        );
    }
    let mut ga = slot_arrays(grads, &slots, array_mut::<T>, |s| format!("grads[{}]", s.name()))?;
    let ps = pa.iter().map(|a| slice(a, "params")).collect::<PyResult<Vec<_>>>()?;
    let dys = slice(&dya, "dy")?;
    let dhs = dha.as_ref().map(|a| slice(a, "dh_n")).transpose()?;
    let dcs = dca.as_ref().map(|a| slice(a, "dc_n")).transpose()?;
    let mut gs = ga.iter_mut().map(|a| slice_mut(a, "grads")).collect::<PyResult<Vec<_>>>()?;
    let g = py.detach(|| {
        crate::interrupt::watched(|| layer::backward(&ps, cache, dys, dhs, dcs, &mut gs, input_grad))
    })?;
    let dx = if input_grad { Some(to_numpy(py, g.dx, &[t, b, spec.input_size])?.into_any()) } else { None };
    let dh0 = to_numpy(py, g.dh0, &[rows, b, spec.h_out()])?.into_any();
    let dc0 =
        if is_lstm { Some(to_numpy(py, g.dc0, &[rows, b, spec.hidden_size])?.into_any()) } else { None };
    Ok((dx, dh0, dc0))
}

/// BPTT through the run `ctx` recorded. `params` must be the forward's
/// parameters; gradients are ADDED into the arrays of `grads` (same order,
/// shapes and dtype). Returns `(dx, dh0, dc0 or None)`; `dx` is None (and
/// not computed) with `input_grad=False`.
#[pyfunction]
#[pyo3(signature = (ctx, params, dy, dh_n=None, dc_n=None, *, grads, input_grad=true))]
#[allow(clippy::too_many_arguments)]
fn rnn_backward<'py>(
    py: Python<'py>,
    ctx: &Bound<'py, RnnContext>,
    params: Vec<Bound<'py, PyAny>>,
    dy: &Bound<'py, PyAny>,
    dh_n: Option<Bound<'py, PyAny>>,
    dc_n: Option<Bound<'py, PyAny>>,
    grads: Vec<Bound<'py, PyAny>>,
    input_grad: bool,
) -> PyResult<BackwardOut<'py>> {
    match &ctx.get().cache {
        AnyCache::F32(c) => backward_t(py, c, &params, dy, dh_n.as_ref(), dc_n.as_ref(), &grads, input_grad),
        AnyCache::F64(c) => backward_t(py, c, &params, dy, dh_n.as_ref(), dc_n.as_ref(), &grads, input_grad),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RnnContext>()?;
    m.add_function(wrap_pyfunction!(rnn_forward, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_backward, m)?)?;
    Ok(())
}
