//! Jordan network (Jordan 1986): the recurrence runs through the output.
//!
//! ```text
//! h_t = σ_h(W_ih x_t + b_h + W_hy y_{t-1})
//! y_t = σ_y(W_yh h_t + b_y)                 y_0 given or zero
//! ```
//!
//! σ_h and σ_y are each tanh, sigmoid or the identity. Not a `Cell`: a step
//! has two products (the state y feeds h, and h feeds the new y), so the
//! network has its own small driver: the input projection of all steps is
//! one GEMM, the time loop does `y_{t-1} W_hy^T` and `h_t W_yh^T` per step,
//! and the weight gradients are GEMMs over all steps after the backward loop.
//! Variable lengths follow the layer driver (`crate::layer::packing`): only
//! running sequences are computed, each keeps its own final `y`.
//!
//! Parameters (torch-style names and `(out, in)` shapes), in this order:
//! `weight_ih (H, I)`, `weight_hy (H, O)`, `bias_h (H)`, `weight_yh (O, H)`, `bias_y (O)`.

use crate::error::{checked_size, try_zeros};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::layer::matmul::{StepWeight, WeightGrads};
use crate::layer::packing::Packing;
use crate::linalg::{gemm, Op, Parallelism};
use crate::{Error, Float, Result};

/// An activation of the Jordan network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Tanh,
    Sigmoid,
    Identity,
}

impl Act {
    /// "tanh", "sigmoid" or "identity"; `arg` names the argument in errors.
    pub fn parse(s: &str, arg: &str) -> Result<Act> {
        match s {
            "tanh" => Ok(Act::Tanh),
            "sigmoid" => Ok(Act::Sigmoid),
            "identity" => Ok(Act::Identity),
            _ => Err(Error::value(arg, format!("expected 'tanh', 'sigmoid' or 'identity', got {s:?}"))),
        }
    }
    fn apply<T: Float>(self, v: &mut [T]) {
        match self {
            Act::Tanh => tanh_inplace(v),
            Act::Sigmoid => sigmoid_inplace(v),
            Act::Identity => {}
        }
    }
    /// `d` times the derivative, from the activation's output `y`.
    #[inline(always)]
    fn back<T: Float>(self, d: T, y: T) -> T {
        match self {
            Act::Tanh => d * (T::ONE - y * y),
            Act::Sigmoid => d * y * (T::ONE - y),
            Act::Identity => d,
        }
    }
}

/// Sizes and activations of one Jordan layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JordanSpec {
    pub input: usize,
    pub hidden: usize,
    pub output: usize,
    pub act_h: Act,
    pub act_y: Act,
}

impl JordanSpec {
    /// Names and shapes of the parameters, in order.
    pub fn param_shapes(&self) -> [(&'static str, Vec<usize>); 5] {
        let (i, h, o) = (self.input, self.hidden, self.output);
        [
            ("weight_ih", vec![h, i]),
            ("weight_hy", vec![h, o]),
            ("bias_h", vec![h]),
            ("weight_yh", vec![o, h]),
            ("bias_y", vec![o]),
        ]
    }
    fn validate<T>(&self, params: &[&[T]], arg: &str) -> Result<()> {
        for (v, name) in
            [(self.input, "input_size"), (self.hidden, "hidden_size"), (self.output, "output_size")]
        {
            if v == 0 {
                return Err(Error::value(name, "must be positive"));
            }
        }
        let shapes = self.param_shapes();
        if params.len() != shapes.len() {
            return Err(Error::shape(arg, format!("expected {} arrays, got {}", shapes.len(), params.len())));
        }
        for ((name, shape), p) in shapes.iter().zip(params) {
            let n = checked_size(shape, "parameters")?;
            if p.len() != n {
                return Err(Error::shape(
                    format!("{arg}[{name}]"),
                    format!("expected shape {shape:?} ({n} values), got {}", p.len()),
                ));
            }
        }
        Ok(())
    }
}

/// What a training forward keeps for `backward`; rows are packed (sorted by length).
pub struct JordanCache<T> {
    spec: JordanSpec,
    t: usize,
    b: usize,
    packing: Packing,
    /// Packed `(rows, I)` input, `(rows, H)` hidden activations, `(rows, O)`
    /// outputs and the `y` each step started from.
    x: Vec<T>,
    h: Vec<T>,
    y: Vec<T>,
    y_prev: Vec<T>,
}

impl<T> JordanCache<T> {
    /// Sequence length and batch size of the cached run.
    pub fn seq_batch(&self) -> (usize, usize) {
        (self.t, self.b)
    }
}

/// The backward pass forms the weight gradients over chunks of about this
/// many rows (steps x batch).
const CHUNK_ROWS: usize = 1024;

/// `dst += column sums of src` (rows of `sum.len()`), summed in row order into `sum` first.
fn add_column_sums<T: Float>(sum: &mut [T], dst: &mut [T], src: &[T]) {
    sum.fill(T::ZERO);
    for r in src.chunks_exact(sum.len().max(1)) {
        for (s, &v) in sum.iter_mut().zip(r) {
            *s += v;
        }
    }
    for (d, &s) in dst.iter_mut().zip(sum.iter()) {
        *d += s;
    }
}

/// Batches of at least this many rows run a step as two blocks of rows
/// (concurrently unless `serial`); depends only on the batch, never on the
/// thread count.
fn split_at(n: usize) -> Option<usize> {
    (n >= 16).then(|| n.div_ceil(2))
}

/// Whether a run is too small to gain from threads.
fn serial(spec: &JordanSpec, t: usize, b: usize) -> bool {
    let macs = t.saturating_mul(b).saturating_mul(spec.hidden).saturating_mul(spec.input + 2 * spec.output);
    crate::par::num_threads() == 1 || macs < 1 << 23
}

/// Runs `f` on the two row blocks of a step (see `split_at`), or on all rows
/// when `whole`: `f(first row, end row, rows of a, rows of b, rows of c)` for
/// three buffers of widths `w`.
#[allow(clippy::too_many_arguments)]
fn rows2<T: Float>(
    n: usize,
    serial: bool,
    whole: bool,
    w: [usize; 3],
    a: &mut [T],
    b: &mut [T],
    c: &mut [T],
    f: impl Fn(usize, usize, &mut [T], &mut [T], &mut [T]) + Sync,
) {
    if whole {
        return f(0, n, a, b, c);
    }
    match split_at(n) {
        Some(at) => {
            let (a0, a1) = a.split_at_mut(at * w[0]);
            let (b0, b1) = b.split_at_mut(at * w[1]);
            let (c0, c1) = c.split_at_mut(at * w[2]);
            if serial {
                f(0, at, a0, b0, c0);
                f(at, n, a1, b1, c1);
            } else {
                rayon::join(|| f(0, at, a0, b0, c0), || f(at, n, a1, b1, c1));
            }
        }
        None => f(0, n, a, b, c),
    }
}

/// `y` `(T, B, O)`, the final `y` `(B, O)` and, in training, the cache.
pub type Forward<T> = (Vec<T>, Vec<T>, Option<JordanCache<T>>);

/// Forward over `x` `(T, B, I)`: returns `y` `(T, B, O)` (zero past each
/// length), the final `y` of every sequence `(B, O)`, and with `train` the cache.
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Float>(
    spec: &JordanSpec,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    y0: Option<&[T]>,
    lengths: Option<&[usize]>,
    train: bool,
) -> Result<Forward<T>> {
    spec.validate(params, "params")?;
    let (i, o) = (spec.input, spec.output);
    if t == 0 {
        return Err(Error::shape("input", "the sequence is empty (T = 0)"));
    }
    let nx = checked_size(&[t, b, i], "input")?;
    if x.len() != nx {
        return Err(Error::shape(
            "input",
            format!("expected ({t}, {b}, {i}) = {nx} values, got {}", x.len()),
        ));
    }
    if let Some(v) = y0 {
        if v.len() != b * o {
            return Err(Error::shape(
                "y0",
                format!("expected ({b}, {o}) = {} values, got {}", b * o, v.len()),
            ));
        }
    }
    let pk = match lengths {
        Some(l) => Packing::new(l, t, b)?,
        None => Packing::full(t, b),
    };
    let run = || run_forward(spec, params, x, &pk, y0, train);
    let (y, y_last, kept) = if serial(spec, t, b) { run() } else { crate::par::install(run) }?;
    let cache = kept.map(|(x, h, y_prev)| JordanCache {
        spec: *spec,
        t,
        b,
        packing: pk.clone(),
        x,
        h,
        y: y.clone(),
        y_prev,
    });
    let (y, y_last) = if pk.is_identity() {
        (y, y_last)
    } else {
        (pk.unpack(&y, o, "output")?, pk.unsort_rows(&y_last, o))
    };
    Ok((y, y_last, cache))
}

/// Training only: the packed input, hidden activations and previous outputs.
type Kept<T> = (Vec<T>, Vec<T>, Vec<T>);
/// Packed outputs, final outputs (sorted) and what training keeps.
type RunOut<T> = (Vec<T>, Vec<T>, Option<Kept<T>>);

fn run_forward<T: Float>(
    spec: &JordanSpec,
    params: &[&[T]],
    x: &[T],
    pk: &Packing,
    y0: Option<&[T]>,
    train: bool,
) -> Result<RunOut<T>> {
    let (i, h, o) = (spec.input, spec.hidden, spec.output);
    let (w_ih, w_hy, b_h, w_yh, b_y) = (params[0], params[1], params[2], params[3], params[4]);
    let (b, rows) = (pk.batch(), pk.rows());
    let ser = serial(spec, pk.steps(), b);
    let xs: Vec<T> = if pk.is_identity() { x.to_vec() } else { pk.pack(x, i, "input")? };
    // The input projection of all steps (with b_h): one GEMM.
    let mut hs = try_zeros(checked_size(&[rows, h], "hidden states")?, "hidden states")?;
    for r in hs.chunks_exact_mut(h) {
        r.copy_from_slice(b_h);
    }
    gemm(
        Parallelism::serial_if(ser),
        &mut hs,
        h,
        Op::new(&xs, rows, i),
        Op::new(w_ih, h, i).t(),
        T::ONE,
        true,
    );
    let mut ys = try_zeros(checked_size(&[rows, o], "outputs")?, "outputs")?;
    let mut y_prev = try_zeros(if train { rows * o } else { 0 }, "outputs")?;
    let mut y_last = match y0 {
        Some(v) if pk.is_identity() => v.to_vec(),
        Some(v) => pk.sort_rows(v, o),
        None => try_zeros(b * o, "y_n")?,
    };
    let step_rows = split_at(b).map_or(b, |at| b - at);
    let w_rec = StepWeight::new(Op::new(w_hy, h, o).t(), step_rows, "weight_hy")?;
    let w_out = StepWeight::new(Op::new(w_yh, o, h).t(), step_rows, "weight_yh")?;
    // Serial and on the packed kernels, where a row's bits do not depend on
    // the rows around it: one product per step over all rows (the weights
    // read once, fewer partial tiles) instead of two row blocks.
    let whole = ser && w_rec.rows_independent() && w_out.rows_independent();
    for t in 0..pk.steps() {
        crate::interrupt::check()?;
        let (n, off) = (pk.size(t), pk.offset(t));
        if n == 0 {
            continue;
        }
        if train {
            y_prev[off * o..(off + n) * o].copy_from_slice(&y_last[..n * o]);
        }
        let (a, z) = (&mut hs[off * h..(off + n) * h], &mut ys[off * o..(off + n) * o]);
        // The state rows are read here and rewritten after the step.
        let yl = &mut y_last[..n * o];
        rows2(n, ser, whole, [h, o, o], a, z, yl, |r0, r1, a, z, yl| {
            w_rec.mul(a, yl, r1 - r0, true);
            spec.act_h.apply(a);
            for r in z.chunks_exact_mut(o) {
                r.copy_from_slice(b_y);
            }
            w_out.mul(z, a, r1 - r0, true);
            spec.act_y.apply(z);
            yl.copy_from_slice(z);
        });
    }
    let kept = train.then_some((xs, hs, y_prev));
    Ok((ys, y_last, kept))
}

/// BPTT through a cached run: `dy` `(T, B, O)` (ignored past each length),
/// `dy_n` `(B, O)` the gradient w.r.t. the final outputs. Parameter
/// gradients are ADDED to `grads` (same order and shapes as the parameters).
/// Returns `dx` `(T, B, I)` (empty unless `need_dx`) and `dy0` `(B, O)`.
pub fn backward<T: Float>(
    params: &[&[T]],
    cache: &JordanCache<T>,
    dy: &[T],
    dy_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    need_dx: bool,
) -> Result<(Vec<T>, Vec<T>)> {
    let spec = &cache.spec;
    spec.validate(params, "params")?;
    {
        let views: Vec<&[T]> = grads.iter().map(|g| &**g).collect();
        spec.validate(&views, "grads")?;
    }
    let (t, b, o) = (cache.t, cache.b, spec.output);
    if dy.len() != t * b * o {
        return Err(Error::shape(
            "dy",
            format!("expected ({t}, {b}, {o}) = {} values, got {}", t * b * o, dy.len()),
        ));
    }
    if let Some(v) = dy_n {
        if v.len() != b * o {
            return Err(Error::shape(
                "dy_n",
                format!("expected ({b}, {o}) = {} values, got {}", b * o, v.len()),
            ));
        }
    }
    let mut run = move || run_backward(params, cache, dy, dy_n, grads, need_dx);
    if serial(spec, t, b) {
        run()
    } else {
        crate::par::install(run)
    }
}

fn run_backward<T: Float>(
    params: &[&[T]],
    c: &JordanCache<T>,
    dy: &[T],
    dy_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    need_dx: bool,
) -> Result<(Vec<T>, Vec<T>)> {
    let spec = &c.spec;
    let (i, h, o) = (spec.input, spec.hidden, spec.output);
    let (w_ih, w_hy, w_yh) = (params[0], params[1], params[3]);
    let pk = &c.packing;
    let (b, rows) = (pk.batch(), pk.rows());
    let ser = serial(spec, c.t, b);
    // Gradients w.r.t. the output pre-activations `dz` and the hidden ones `da`.
    let mut dz: Vec<T> = if pk.is_identity() { dy.to_vec() } else { pk.pack(dy, o, "dy")? };
    let mut da = try_zeros(checked_size(&[rows, h], "hidden gradients")?, "hidden gradients")?;
    // The running gradient w.r.t. every sequence's y (a sequence not yet
    // running, backward in time, keeps its dy_n; an ended one its dy0).
    let mut g = match dy_n {
        Some(v) if pk.is_identity() => v.to_vec(),
        Some(v) => pk.sort_rows(v, o),
        None => try_zeros(b * o, "dy0")?,
    };
    let step_rows = split_at(b).map_or(b, |at| b - at);
    let w_out = StepWeight::new(Op::new(w_yh, o, h), step_rows, "weight_yh")?;
    let w_rec = StepWeight::new(Op::new(w_hy, h, o), step_rows, "weight_hy")?;
    let whole = ser && w_rec.rows_independent() && w_out.rows_independent(); // as in `run_forward`
    let par = Parallelism::serial_if(ser);
    let mut dx =
        try_zeros(if need_dx { checked_size(&[rows, i], "input gradient")? } else { 0 }, "input gradient")?;
    // The weight, bias and input gradients of a chunk of steps are formed
    // right after its steps, while they are in cache (as the layer driver does).
    let chunk = (CHUNK_ROWS / b.max(1)).max(1);
    let (mut wg_h, mut wg_y) = (WeightGrads::new(), WeightGrads::new());
    let (mut sum_h, mut sum_y) = (try_zeros(h, "bias gradient")?, try_zeros(o, "bias gradient")?);
    let mut s1 = pk.steps();
    while s1 > 0 {
        let s0 = s1.saturating_sub(chunk);
        for t in (s0..s1).rev() {
            crate::interrupt::check()?;
            let (n, off) = (pk.size(t), pk.offset(t));
            if n == 0 {
                continue;
            }
            let (ys, hs) = (&c.y[off * o..(off + n) * o], &c.h[off * h..(off + n) * h]);
            let (z, a) = (&mut dz[off * o..(off + n) * o], &mut da[off * h..(off + n) * h]);
            rows2(n, ser, whole, [o, h, o], z, a, &mut g[..n * o], |r0, r1, z, a, gr| {
                for ((d, &gv), &y) in z.iter_mut().zip(gr.iter()).zip(&ys[r0 * o..r1 * o]) {
                    *d = spec.act_y.back(*d + gv, y);
                }
                w_out.mul(a, z, r1 - r0, false);
                for (d, &hv) in a.iter_mut().zip(&hs[r0 * h..r1 * h]) {
                    *d = spec.act_h.back(*d, hv);
                }
                w_rec.mul(gr, a, r1 - r0, false);
            });
        }
        let (r0, r1) = (pk.offset(s0), pk.offset(s1));
        let n = r1 - r0;
        if n > 0 {
            let (da_c, dz_c) = (&da[r0 * h..r1 * h], &dz[r0 * o..r1 * o]);
            let (g_ih, rest) = grads.split_at_mut(1);
            let (g_hy, rest) = rest.split_at_mut(1);
            let (g_bh, rest) = rest.split_at_mut(1);
            let (g_yh, g_by) = rest.split_at_mut(1);
            wg_h.add(
                ser,
                da_c,
                n,
                h,
                &mut [
                    (&mut *g_ih[0], &c.x[r0 * i..r1 * i], i),
                    (&mut *g_hy[0], &c.y_prev[r0 * o..r1 * o], o),
                ],
            )?;
            wg_y.add(ser, dz_c, n, o, &mut [(&mut *g_yh[0], &c.h[r0 * h..r1 * h], h)])?;
            add_column_sums(&mut sum_h, &mut *g_bh[0], da_c);
            add_column_sums(&mut sum_y, &mut *g_by[0], dz_c);
            if need_dx {
                gemm(
                    par,
                    &mut dx[r0 * i..r1 * i],
                    i,
                    Op::new(da_c, n, h),
                    Op::new(w_ih, h, i),
                    T::ONE,
                    false,
                );
            }
        }
        s1 = s0;
    }
    let dx = if need_dx && !pk.is_identity() { pk.unpack(&dx, i, "dx")? } else { dx };
    let dy0 = if pk.is_identity() { g } else { pk.unsort_rows(&g, o) };
    Ok((dx, dy0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * 0.7548776662 + seed).sin() * 0.8).collect()
    }

    /// `sum(y * wy) + sum(y_n * wn)` and its gradients by BPTT, checked
    /// against central differences on every parameter, the input and y0.
    fn check(act_h: Act, act_y: Act, lengths: Option<&[usize]>) {
        let spec = JordanSpec { input: 3, hidden: 4, output: 2, act_h, act_y };
        let (t, b) = (4, 3);
        let params: Vec<Vec<f64>> = spec
            .param_shapes()
            .iter()
            .enumerate()
            .map(|(k, (_, s))| det(s.iter().product(), k as f64))
            .collect();
        let (x, y0) = (det(t * b * 3, 10.0), det(b * 2, 20.0));
        let (wy, wn) = (det(t * b * 2, 30.0), det(b * 2, 40.0));
        let loss = |ps: &[Vec<f64>], x: &[f64], y0: &[f64]| {
            let p: Vec<&[f64]> = ps.iter().map(|v| v.as_slice()).collect();
            let (y, yn, _) = forward(&spec, &p, x, t, b, Some(y0), lengths, false).unwrap();
            y.iter().zip(&wy).map(|(a, b)| a * b).sum::<f64>()
                + yn.iter().zip(&wn).map(|(a, b)| a * b).sum::<f64>()
        };
        let p: Vec<&[f64]> = params.iter().map(|v| v.as_slice()).collect();
        let (_, _, cache) = forward(&spec, &p, &x, t, b, Some(&y0), lengths, true).unwrap();
        let mut grads: Vec<Vec<f64>> = params.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut g: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
        let (dx, dy0) = backward(&p, &cache.unwrap(), &wy, Some(&wn), &mut g, true).unwrap();
        let eps = 1e-6;
        let close = |got: f64, f: &dyn Fn(f64) -> f64, what: &str| {
            let want = (f(eps) - f(-eps)) / (2.0 * eps);
            assert!((got - want).abs() <= 1e-7 * (1.0 + want.abs()), "{what}: {got} vs {want}");
        };
        for (k, pv) in params.iter().enumerate() {
            for j in 0..pv.len() {
                let f = |e: f64| {
                    let mut ps = params.clone();
                    ps[k][j] += e;
                    loss(&ps, &x, &y0)
                };
                close(grads[k][j], &f, &format!("param {k}[{j}]"));
            }
        }
        for j in 0..x.len() {
            let f = |e: f64| {
                let mut xe = x.clone();
                xe[j] += e;
                loss(&params, &xe, &y0)
            };
            close(dx[j], &f, &format!("dx[{j}]"));
        }
        for j in 0..y0.len() {
            let f = |e: f64| {
                let mut ye = y0.clone();
                ye[j] += e;
                loss(&params, &x, &ye)
            };
            close(dy0[j], &f, &format!("dy0[{j}]"));
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        check(Act::Tanh, Act::Tanh, None);
        check(Act::Sigmoid, Act::Identity, None);
        check(Act::Identity, Act::Sigmoid, Some(&[2, 4, 1]));
    }

    #[test]
    fn bad_input_is_an_error() {
        let spec = JordanSpec { input: 2, hidden: 3, output: 1, act_h: Act::Tanh, act_y: Act::Tanh };
        let params: Vec<Vec<f64>> =
            spec.param_shapes().iter().map(|(_, s)| vec![0.1; s.iter().product()]).collect();
        let p: Vec<&[f64]> = params.iter().map(|v| v.as_slice()).collect();
        assert!(forward(&spec, &p, &[0.0; 3], 1, 1, None, None, false).is_err());
        assert!(forward(&spec, &p[..4], &[0.0; 2], 1, 1, None, None, false).is_err());
        assert!(forward(&spec, &p, &[0.0; 2], 1, 1, Some(&[0.0; 2]), None, false).is_err());
        assert!(forward(&spec, &p, &[0.0; 2], 1, 1, None, Some(&[2]), false).is_err());
        assert!(Act::parse("relu", "hidden_activation").is_err());
    }
}

// --- RTRL (`crate::rtrl::dense`) ---------------------------------------------

/// One layer of the Jordan network as a dense RTRL cell. The state is
/// `y_{t-1}` (O values, also what the loss sees); `h_t` is an intermediate:
///
/// ```text
/// ∂y_o/∂(output row o') = δ_oo' σ_y'(o)                       (W_yh, b_y)
/// ∂y_o/∂(hidden row k)  = σ_y'(o) W_yh[o, k] σ_h'(k)           (W_ih, W_hy, b_h)
/// J = ∂y_t/∂y_{t-1}     = (∂y/∂hidden rows) W_hy               (O x O)
/// ```
///
/// Pre-activation rows: the H hidden rows, then the O output rows. SnAp-1
/// keeps an output row's parameters on its own unit y_o; a hidden row feeds
/// every y (through W_yh), so its parameters keep all O sensitivities (the
/// immediate Jacobian's sparsity).
#[derive(Clone, Debug)]
pub struct JordanRtrl {
    layout: crate::rtrl::dense::DenseLayout,
    hidden: usize,
    act_h: Act,
    act_y: Act,
}

impl JordanRtrl {
    pub fn new(input: usize, hidden: usize, output: usize, act_h: Act, act_y: Act) -> Result<Self> {
        use crate::rtrl::dense::{Block, DenseLayout};
        for (name, v) in [("input_size", input), ("hidden_size", hidden), ("output_size", output)] {
            if v == 0 {
                return Err(Error::value(name, "expected a positive size"));
            }
        }
        let (i, h, o) = (input, hidden, output);
        // u = [x (I), y_prev (O), 1, h (H)]
        let blocks = vec![
            Block { offset: 0, rows: h, cols: i, row0: 0, input: 0 },
            Block { offset: h * i, rows: h, cols: o, row0: 0, input: i },
            Block { offset: h * (i + o), rows: h, cols: 1, row0: 0, input: i + o },
            Block { offset: h * (i + o + 1), rows: o, cols: h, row0: h, input: i + o + 1 },
            Block { offset: h * (i + o + 1) + o * h, rows: o, cols: 1, row0: h, input: i + o },
        ];
        let owners = (0..h).map(|_| (0..o).collect()).chain((0..o).map(|k| vec![k])).collect();
        let layout =
            DenseLayout { input, state: o, output: o, rows: h + o, inputs: i + o + 1 + h, blocks, owners };
        layout.validate()?;
        Ok(JordanRtrl { layout, hidden, act_h, act_y })
    }
}

impl Act {
    fn value<T: Float>(self, v: T) -> T {
        match self {
            Act::Tanh => v.tanh(),
            Act::Sigmoid => v.sigmoid(),
            Act::Identity => v,
        }
    }
}

impl<T: Float> crate::rtrl::dense::DenseCell<T> for JordanRtrl {
    fn layout(&self) -> &crate::rtrl::dense::DenseLayout {
        &self.layout
    }

    fn step(&self, params: &[T], s: crate::rtrl::dense::DenseStep<'_, T>) {
        let (i, h, o, r) = (self.layout.input, self.hidden, self.layout.state, self.layout.rows);
        let (w_ih, rest) = params.split_at(h * i);
        let (w_hy, rest) = rest.split_at(h * o);
        let (b_h, rest) = rest.split_at(h);
        let (w_yh, b_y) = rest.split_at(o * h);
        let (u, hid) = s.inputs.split_at_mut(i + o + 1);
        u[..i].copy_from_slice(s.x);
        u[i..i + o].copy_from_slice(s.s_prev);
        u[i + o] = T::ONE;
        let mut dh = vec![T::ZERO; h];
        for k in 0..h {
            let mut a = b_h[k];
            for (w, &v) in w_ih[k * i..(k + 1) * i].iter().zip(s.x) {
                a += *w * v;
            }
            for (w, &v) in w_hy[k * o..(k + 1) * o].iter().zip(s.s_prev) {
                a += *w * v;
            }
            hid[k] = self.act_h.value(a);
            dh[k] = self.act_h.back(T::ONE, hid[k]);
        }
        for q in 0..o {
            let mut z = b_y[q];
            for (w, &v) in w_yh[q * h..(q + 1) * h].iter().zip(hid.iter()) {
                z += *w * v;
            }
            let y = self.act_y.value(z);
            let dy = self.act_y.back(T::ONE, y);
            s.s_new[q] = y;
            let row = &mut s.coef[q * r..(q + 1) * r];
            row[h + q] = dy;
            for k in 0..h {
                row[k] = dy * w_yh[q * h + k] * dh[k];
            }
            let jac = &mut s.jac[q * o..(q + 1) * o];
            for k in 0..h {
                let c = row[k];
                for (j, &w) in jac.iter_mut().zip(&w_hy[k * o..(k + 1) * o]) {
                    *j += c * w;
                }
            }
        }
    }
}

#[cfg(test)]
mod rtrl_tests {
    use super::*;
    use crate::rtrl::dense::tests::{check_gradient, check_partials};
    use crate::rtrl::dense::DenseCell;

    #[test]
    fn jordan_partials_and_gradient() {
        for (ah, ay) in [(Act::Tanh, Act::Tanh), (Act::Sigmoid, Act::Identity), (Act::Identity, Act::Sigmoid)]
        {
            let cell = JordanRtrl::new(2, 3, 2, ah, ay).unwrap();
            let n = DenseCell::<f64>::layout(&cell).n_params();
            let p: Vec<f64> = (0..n).map(|q| ((q as f64 + 0.5) * 0.913).sin() * 0.7).collect();
            check_partials(&cell, &p, &[0.4, -0.3], &[0.2, -0.6], 0, 1e-7);
            check_gradient(&cell, &p, 5);
        }
    }
}
