//! Python bindings of the layers with their own time loop: the clockwork RNN
//! (`clockwork_forward`, `clockwork_backward`) and the deep-transition RNN
//! (`deep_transition_forward`, `deep_transition_backward`).
//!
//! Arrays arrive C-contiguous and time-major `(T, B, I)`; the dtype of `x`
//! selects float32 or float64 and every other array must match it. All
//! compute runs with the GIL released.

use super::convert::{array_mut, array_shaped, check_shape, optional_shaped, slice, slice_mut, to_numpy};
use crate::layer::clockwork::{self, Clockwork, ClockworkCache};
use crate::layer::deep_transition::{self, DeepTransition, DeepTransitionCache};
use crate::{Error, Float};
use numpy::{Element, PyArrayDyn, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// The parameter arrays in the order of `shapes`.
fn params<'py, T: Element + Float, S: AsRef<str>>(
    ps: &[Bound<'py, PyAny>],
    shapes: &[(S, Vec<usize>)],
) -> PyResult<Vec<PyReadonlyArrayDyn<'py, T>>> {
    if ps.len() != shapes.len() {
        let names: Vec<&str> = shapes.iter().map(|s| s.0.as_ref()).collect();
        return Err(Error::value(
            "params",
            format!("expected {} arrays ({}), got {}", shapes.len(), names.join(", "), ps.len()),
        )
        .into());
    }
    ps.iter().zip(shapes).map(|(p, (name, shape))| array_shaped::<T>(p, shape, name.as_ref())).collect()
}

/// The gradient arrays (writeable, same shapes as the parameters).
fn grads<'py, T: Element + Float, S: AsRef<str>>(
    gs: &[Bound<'py, PyAny>],
    shapes: &[(S, Vec<usize>)],
) -> PyResult<Vec<PyReadwriteArrayDyn<'py, T>>> {
    if gs.len() != shapes.len() {
        return Err(
            Error::value("grads", format!("expected {} arrays, got {}", shapes.len(), gs.len())).into()
        );
    }
    let mut out = Vec::with_capacity(gs.len());
    for (g, (name, shape)) in gs.iter().zip(shapes) {
        let arg = format!("grads[{}]", name.as_ref());
        let arr = array_mut::<T>(g, &arg)?;
        check_shape(arr.shape(), shape, &arg)?;
        out.push(arr);
    }
    Ok(out)
}

/// `(T, B, I)` of a time-major input, checked against `input_size`.
fn seq_shape(x: &Bound<'_, PyAny>, input_size: usize) -> PyResult<(usize, usize)> {
    let s: Vec<usize> = x
        .getattr("shape")
        .and_then(|s| s.extract())
        .map_err(|_| Error::dtype("input", "expected a numpy.ndarray"))?;
    if s.len() != 3 || s[2] != input_size {
        return Err(Error::shape("input", format!("expected shape (T, B, {input_size}), got {s:?}")).into());
    }
    Ok((s[0], s[1]))
}

/// The feature size of a 3-dimensional `x` (the layer's input size).
fn input_size_of(x: &Bound<'_, PyAny>) -> PyResult<usize> {
    match x.getattr("shape").and_then(|s| s.extract::<Vec<usize>>()) {
        Ok(s) if s.len() == 3 => Ok(s[2]),
        _ => Err(Error::shape("input", "expected a 3-dimensional array (T, B, I)").into()),
    }
}

/// Whether `x` is float64 (else float32); a TypeError naming `input` for anything else.
fn is_f64(x: &Bound<'_, PyAny>) -> PyResult<bool> {
    if x.cast::<PyArrayDyn<f64>>().is_ok() {
        Ok(true)
    } else if x.cast::<PyArrayDyn<f32>>().is_ok() {
        Ok(false)
    } else {
        Err(Error::dtype("input", "expected a numpy.ndarray of dtype float32 or float64").into())
    }
}

/// `lengths` as sizes (a ValueError naming it for negative values; the
/// range 1..=T is checked by the core).
fn lengths_arg(lengths: Option<Vec<i64>>) -> PyResult<Option<Vec<usize>>> {
    let conv = |l: Vec<i64>| {
        l.into_iter()
            .map(usize::try_from)
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| Error::value("lengths", "expected integers in 1..=T"))
    };
    Ok(lengths.map(conv).transpose()?)
}

/// What a layer's forward gives: `(y (T, B, H), h_n (B, H), cache if train)`.
type Ran<T, C> = crate::Result<(Vec<T>, Vec<T>, Option<C>)>;

/// One forward call of a time layer on the arrays Python passed: checks
/// them against `shapes` and `(I, H)`, runs `run` without the GIL and
/// returns `(y (T, B, H), h_n (1, B, H), cache)`.
#[allow(clippy::type_complexity)]
fn forward_t<'py, T: Element + Float, C: Send, S: AsRef<str>>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    ps: &[Bound<'py, PyAny>],
    h0: Option<&Bound<'py, PyAny>>,
    shapes: &[(S, Vec<usize>)],
    (i_sz, h): (usize, usize),
    run: impl FnOnce(&[&[T]], &[T], Option<&[T]>, usize, usize) -> Ran<T, C> + Send,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Option<C>)> {
    let (t, b) = seq_shape(x, i_sz)?;
    let xa = array_shaped::<T>(x, &[t, b, i_sz], "input")?;
    let h0a = optional_shaped::<T>(h0, &[1, b, h], "h0")?;
    let pa = params::<T, _>(ps, shapes)?;
    let pv = pa.iter().map(|a| slice(a, "params")).collect::<PyResult<Vec<_>>>()?;
    let xs = slice(&xa, "input")?;
    let h0s = h0a.as_ref().map(|a| slice(a, "h0")).transpose()?;
    let (y, h_n, cache) = py.detach(|| crate::interrupt::watched(|| run(&pv, xs, h0s, t, b)))?;
    Ok((to_numpy(py, y, &[t, b, h])?.into_any(), to_numpy(py, h_n, &[1, b, h])?.into_any(), cache))
}

type Backward<'py> = (Option<Bound<'py, PyAny>>, Bound<'py, PyAny>);

/// The arrays of a backward call: `(params, dy, dh_n, grads)`.
type BackwardArrays<'a, 'py> =
    (&'a [Bound<'py, PyAny>], &'a Bound<'py, PyAny>, Option<&'a Bound<'py, PyAny>>, &'a [Bound<'py, PyAny>]);

/// One backward call: checks `dy` `(T, B, H)`, `dh_n` and the parameter and
/// gradient arrays against `shapes`, runs `run(params, dy, dh_n, grads)`
/// (giving `(dx (T, B, I) or empty, dh0 (B, H))`) without the GIL.
#[allow(clippy::too_many_arguments)]
fn backward_t<'py, T: Element + Float, S: AsRef<str>>(
    py: Python<'py>,
    ps: &[Bound<'py, PyAny>],
    dy: &Bound<'py, PyAny>,
    dh_n: Option<&Bound<'py, PyAny>>,
    gs: &[Bound<'py, PyAny>],
    shapes: &[(S, Vec<usize>)],
    (t, b, i_sz, h): (usize, usize, usize, usize),
    input_grad: bool,
    run: impl FnOnce(&[&[T]], &[T], Option<&[T]>, &mut [&mut [T]]) -> crate::Result<(Vec<T>, Vec<T>)> + Send,
) -> PyResult<Backward<'py>> {
    let dya = array_shaped::<T>(dy, &[t, b, h], "dy")?;
    let dha = optional_shaped::<T>(dh_n, &[1, b, h], "dh_n")?;
    let pa = params::<T, _>(ps, shapes)?;
    let mut ga = grads::<T, _>(gs, shapes)?;
    let pv = pa.iter().map(|a| slice(a, "params")).collect::<PyResult<Vec<_>>>()?;
    let dys = slice(&dya, "dy")?;
    let dhs = dha.as_ref().map(|a| slice(a, "dh_n")).transpose()?;
    let mut gv = ga.iter_mut().map(|a| slice_mut(a, "grads")).collect::<PyResult<Vec<_>>>()?;
    let (dx, dh0) = py.detach(|| crate::interrupt::watched(|| run(&pv, dys, dhs, &mut gv)))?;
    let dx = if input_grad { Some(to_numpy(py, dx, &[t, b, i_sz])?.into_any()) } else { None };
    Ok((dx, to_numpy(py, dh0, &[1, b, h])?.into_any()))
}

enum AnyClockwork {
    F32(ClockworkCache<f32>),
    F64(ClockworkCache<f64>),
}

/// What a training forward of the clockwork RNN keeps for `clockwork_backward` (opaque).
#[pyclass(name = "ClockworkContext", module = "rnnrs._core", frozen)]
pub struct ClockworkContext {
    cache: AnyClockwork,
}

type Forward<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Option<ClockworkContext>);

fn cw_forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    cw: &Clockwork,
    (x, ps, h0): (&Bound<'py, PyAny>, &[Bound<'py, PyAny>], Option<&Bound<'py, PyAny>>),
    lengths: Option<&[usize]>,
    train: bool,
    wrap: fn(ClockworkCache<T>) -> AnyClockwork,
) -> PyResult<Forward<'py>> {
    let (y, h_n, c) =
        forward_t(py, x, ps, h0, &cw.param_shapes(), (cw.input_size, cw.hidden_size()), |p, x, h0, t, b| {
            clockwork::forward_with_lengths(cw, p, x, t, b, h0, lengths, train)
        })?;
    Ok((y, h_n, c.map(|c| ClockworkContext { cache: wrap(c) })))
}

/// Forward of a clockwork RNN (Koutník et al. 2014) over a time-major `x`
/// `(T, B, I)`: modules of `module_sizes` units with non-decreasing
/// `periods`; module i updates at steps t (from 0) with t % periods[i] == 0
/// and reads the modules of equal or slower period. `params`: weight_ih
/// `(H, I)`, weight_hh `(H, H)` (block upper triangular; other entries are
/// not read), and with `bias` bias_ih, bias_hh `(H,)`. `lengths` `(B,)`:
/// optional valid steps of each sequence (1..=T; packed semantics, the
/// clock of every sequence starts at its step 0). Returns
/// `(y (T, B, H), h_n (1, B, H), ctx or None)`.
#[pyfunction]
#[pyo3(signature = (x, params, h0=None, *, module_sizes, periods, bias=true, lengths=None, train=false))]
#[allow(clippy::too_many_arguments)]
fn clockwork_forward<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    params: Vec<Bound<'py, PyAny>>,
    h0: Option<Bound<'py, PyAny>>,
    module_sizes: Vec<usize>,
    periods: Vec<usize>,
    bias: bool,
    lengths: Option<Vec<i64>>,
    train: bool,
) -> PyResult<Forward<'py>> {
    let cw = Clockwork { input_size: input_size_of(x)?, module_sizes, periods, bias };
    cw.validate()?;
    let (lengths, arrays) = (lengths_arg(lengths)?, (x, params.as_slice(), h0.as_ref()));
    if is_f64(x)? {
        cw_forward_t::<f64>(py, &cw, arrays, lengths.as_deref(), train, AnyClockwork::F64)
    } else {
        cw_forward_t::<f32>(py, &cw, arrays, lengths.as_deref(), train, AnyClockwork::F32)
    }
}

fn cw_backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    cache: &ClockworkCache<T>,
    (ps, dy, dh_n, gs): BackwardArrays<'_, 'py>,
    input_grad: bool,
) -> PyResult<Backward<'py>> {
    let cw = cache.spec();
    let (t, b) = cache.seq_batch();
    let dims = (t, b, cw.input_size, cw.hidden_size());
    backward_t(py, ps, dy, dh_n, gs, &cw.param_shapes(), dims, input_grad, |p, dy, dh, g| {
        clockwork::backward(p, cache, dy, dh, g, input_grad).map(|g| (g.dx, g.dh0))
    })
}

/// BPTT through the clockwork run `ctx` recorded (its lengths included:
/// `dy` is ignored past each length); parameter gradients are ADDED into
/// `grads` (same order and shapes as `params`). Returns `(dx or None, dh0 (1, B, H))`.
#[pyfunction]
#[pyo3(signature = (ctx, params, dy, dh_n=None, *, grads, input_grad=true))]
fn clockwork_backward<'py>(
    py: Python<'py>,
    ctx: &Bound<'py, ClockworkContext>,
    params: Vec<Bound<'py, PyAny>>,
    dy: &Bound<'py, PyAny>,
    dh_n: Option<Bound<'py, PyAny>>,
    grads: Vec<Bound<'py, PyAny>>,
    input_grad: bool,
) -> PyResult<Backward<'py>> {
    let arrays = (params.as_slice(), dy, dh_n.as_ref(), grads.as_slice());
    match &ctx.get().cache {
        AnyClockwork::F32(c) => cw_backward_t(py, c, arrays, input_grad),
        AnyClockwork::F64(c) => cw_backward_t(py, c, arrays, input_grad),
    }
}

enum AnyDeep {
    F32(DeepTransitionCache<f32>),
    F64(DeepTransitionCache<f64>),
}

/// What a training forward of the deep-transition RNN keeps for `deep_transition_backward` (opaque).
#[pyclass(name = "DeepTransitionContext", module = "rnnrs._core", frozen)]
pub struct DeepTransitionContext {
    cache: AnyDeep,
}

type DeepForward<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Option<DeepTransitionContext>);

fn dt_forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    dt: &DeepTransition,
    (x, ps, h0): (&Bound<'py, PyAny>, &[Bound<'py, PyAny>], Option<&Bound<'py, PyAny>>),
    lengths: Option<&[usize]>,
    train: bool,
    wrap: fn(DeepTransitionCache<T>) -> AnyDeep,
) -> PyResult<DeepForward<'py>> {
    let (y, h_n, c) =
        forward_t(py, x, ps, h0, &dt.param_shapes(), (dt.input_size, dt.hidden_size), |p, x, h0, t, b| {
            deep_transition::forward_with_lengths(dt, p, x, t, b, h0, lengths, train)
        })?;
    Ok((y, h_n, c.map(|c| DeepTransitionContext { cache: wrap(c) })))
}

/// Forward of a deep-transition / deep-output RNN (Pascanu et al. 2014) over
/// a time-major `x` `(T, B, I)`: a transition MLP of `transition_depth` tanh
/// layers (with `shortcut`: `W_sh h_{t-1}` into its last layer), then an
/// output MLP of `output_depth` tanh layers. `params` in the order of the
/// layer's names (see `rnnrs.DeepTransitionRNN`). `lengths` `(B,)`: optional
/// valid steps of each sequence (1..=T; packed semantics). Returns
/// `(y (T, B, H), h_n (1, B, H), ctx or None)`.
#[pyfunction]
#[pyo3(signature = (x, params, h0=None, *, hidden_size, transition_depth, output_depth, shortcut=false,
                    bias=true, lengths=None, train=false))]
#[allow(clippy::too_many_arguments)]
fn deep_transition_forward<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    params: Vec<Bound<'py, PyAny>>,
    h0: Option<Bound<'py, PyAny>>,
    hidden_size: usize,
    transition_depth: usize,
    output_depth: usize,
    shortcut: bool,
    bias: bool,
    lengths: Option<Vec<i64>>,
    train: bool,
) -> PyResult<DeepForward<'py>> {
    let input_size = input_size_of(x)?;
    let dt =
        DeepTransition { input_size, hidden_size, depth: transition_depth, output_depth, shortcut, bias };
    dt.validate()?;
    let (lengths, arrays) = (lengths_arg(lengths)?, (x, params.as_slice(), h0.as_ref()));
    if is_f64(x)? {
        dt_forward_t::<f64>(py, &dt, arrays, lengths.as_deref(), train, AnyDeep::F64)
    } else {
        dt_forward_t::<f32>(py, &dt, arrays, lengths.as_deref(), train, AnyDeep::F32)
    }
}

fn dt_backward_t<'py, T: Element + Float>(
    py: Python<'py>,
    cache: &DeepTransitionCache<T>,
    (ps, dy, dh_n, gs): BackwardArrays<'_, 'py>,
    input_grad: bool,
) -> PyResult<Backward<'py>> {
    let dt = cache.spec();
    let (t, b) = cache.seq_batch();
    let dims = (t, b, dt.input_size, dt.hidden_size);
    backward_t(py, ps, dy, dh_n, gs, &dt.param_shapes(), dims, input_grad, |p, dy, dh, g| {
        deep_transition::backward(p, cache, dy, dh, g, input_grad).map(|g| (g.dx, g.dh0))
    })
}

/// BPTT through the deep-transition run `ctx` recorded (its lengths
/// included); parameter gradients are ADDED into `grads` (same order and
/// shapes as `params`). Returns `(dx or None, dh0 (1, B, H))`.
#[pyfunction]
#[pyo3(signature = (ctx, params, dy, dh_n=None, *, grads, input_grad=true))]
fn deep_transition_backward<'py>(
    py: Python<'py>,
    ctx: &Bound<'py, DeepTransitionContext>,
    params: Vec<Bound<'py, PyAny>>,
    dy: &Bound<'py, PyAny>,
    dh_n: Option<Bound<'py, PyAny>>,
    grads: Vec<Bound<'py, PyAny>>,
    input_grad: bool,
) -> PyResult<Backward<'py>> {
    let arrays = (params.as_slice(), dy, dh_n.as_ref(), grads.as_slice());
    match &ctx.get().cache {
        AnyDeep::F32(c) => dt_backward_t(py, c, arrays, input_grad),
        AnyDeep::F64(c) => dt_backward_t(py, c, arrays, input_grad),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ClockworkContext>()?;
    m.add_function(wrap_pyfunction!(clockwork_forward, m)?)?;
    m.add_function(wrap_pyfunction!(clockwork_backward, m)?)?;
    m.add_class::<DeepTransitionContext>()?;
    m.add_function(wrap_pyfunction!(deep_transition_forward, m)?)?;
    m.add_function(wrap_pyfunction!(deep_transition_backward, m)?)?;
    Ok(())
}
