//! Deep-transition and deep-output RNN (Pascanu et al. 2014: DT-RNN, DT(S)-RNN,
//! DOT-RNN): forward and BPTT.
//!
//! The transition is an MLP of `depth` tanh layers; the first reads `x_t`
//! and `h_{t-1}`, the last gives `h_t`:
//!
//! ```text
//! z_1 = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
//! z_l = tanh(W_tr[l] z_{l-1} + b_tr[l] (+ W_sh h_{t-1} for l = depth with the shortcut)),  l = 2..depth
//! h_t = z_depth
//! ```
//!
//! The deep output is an MLP of `output_depth` tanh layers on `h_t`:
//! `o_0 = h_t`, `o_k = tanh(W_out[k] o_{k-1} + b_out[k])`, `y_t = o_{output_depth}`.
//!
//! Cost: the input projection of all steps is one GEMM; a step does the
//! `depth` (+ shortcut) products of its transition; the output MLP and every
//! weight gradient are one GEMM per layer over all steps.
//!
//! Parameters in order: `weight_ih (H, I)`, `weight_hh (H, H)`, [`bias_ih`,
//! `bias_hh` (H)], per further transition layer `weight_tr{l}` (H, H) [and
//! `bias_tr{l}` (H)], [`weight_sh` (H, H)], per output layer `weight_out{k}`
//! (H, H) [and `bias_out{k}` (H)]; all named with the suffix `_l0`.

use super::packing::Packing;
use super::varlen;
use crate::error::{checked_size, try_zeros};
use crate::kernels::tanh_inplace;
use crate::linalg::{gemm, mul_nn, mul_nt, Op, Parallelism};
use crate::{Error, Float, Result};

/// Shape and options of a deep-transition RNN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeepTransition {
    pub input_size: usize,
    pub hidden_size: usize,
    /// Transition layers (>= 1; 1 is the Elman RNN).
    pub depth: usize,
    /// Output layers after `h_t` (>= 0).
    pub output_depth: usize,
    /// DT(S): `W_sh h_{t-1}` into the last transition layer (needs depth >= 2).
    pub shortcut: bool,
    pub bias: bool,
}

/// Where each parameter sits in the flat list.
struct Layout {
    ih: usize,
    hh: usize,
    b_ih: Option<usize>,
    b_hh: Option<usize>,
    /// Per transition layer 2..=depth: (weight, bias).
    tr: Vec<(usize, Option<usize>)>,
    sh: Option<usize>,
    /// Per output layer: (weight, bias).
    out: Vec<(usize, Option<usize>)>,
}

impl DeepTransition {
    /// Checks the options (errors name the argument).
    pub fn validate(&self) -> Result<()> {
        if self.hidden_size == 0 {
            return Err(Error::value("hidden_size", "expected at least one unit"));
        }
        if self.depth == 0 {
            return Err(Error::value("transition_depth", "expected at least 1 transition layer"));
        }
        if self.shortcut && self.depth < 2 {
            return Err(Error::value(
                "shortcut",
                "needs transition_depth >= 2 (with depth 1 it is W_hh itself)",
            ));
        }
        checked_size(&[self.hidden_size, self.hidden_size.max(self.input_size)], "weights")?;
        Ok(())
    }

    /// Parameter names and shapes in order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, b) = (self.hidden_size, self.bias);
        let mut v =
            vec![("weight_ih_l0".to_string(), vec![h, self.input_size]), ("weight_hh_l0".into(), vec![h, h])];
        if b {
            v.push(("bias_ih_l0".into(), vec![h]));
            v.push(("bias_hh_l0".into(), vec![h]));
        }
        for l in 2..=self.depth {
            v.push((format!("weight_tr{l}_l0"), vec![h, h]));
            if b {
                v.push((format!("bias_tr{l}_l0"), vec![h]));
            }
        }
        if self.shortcut {
            v.push(("weight_sh_l0".into(), vec![h, h]));
        }
        for k in 1..=self.output_depth {
            v.push((format!("weight_out{k}_l0"), vec![h, h]));
            if b {
                v.push((format!("bias_out{k}_l0"), vec![h]));
            }
        }
        v
    }

    fn layout(&self) -> Layout {
        let mut n = 0;
        let mut next = || {
            n += 1;
            n - 1
        };
        let (ih, hh) = (next(), next());
        let (b_ih, b_hh) = if self.bias { (Some(next()), Some(next())) } else { (None, None) };
        let tr = (2..=self.depth).map(|_| (next(), if self.bias { Some(next()) } else { None })).collect();
        let sh = if self.shortcut { Some(next()) } else { None };
        let out =
            (0..self.output_depth).map(|_| (next(), if self.bias { Some(next()) } else { None })).collect();
        Layout { ih, hh, b_ih, b_hh, tr, sh, out }
    }

    fn check_params<T>(&self, params: &[&[T]], what: &str) -> Result<()> {
        let shapes = self.param_shapes();
        if params.len() != shapes.len() {
            return Err(Error::value(
                what,
                format!("expected {} arrays, got {}", shapes.len(), params.len()),
            ));
        }
        for (p, (name, shape)) in params.iter().zip(&shapes) {
            if p.len() != shape.iter().product::<usize>() {
                return Err(Error::shape(
                    name.as_str(),
                    format!("expected shape {shape:?}, got {} values", p.len()),
                ));
            }
        }
        Ok(())
    }
}

/// What `backward` needs; every per-step array is packed (see `varlen`).
pub struct DeepTransitionCache<T> {
    dt: DeepTransition,
    t: usize,
    b: usize,
    packing: Packing,
    /// `(rows, I)`.
    x: Vec<T>,
    /// `h0` (sorted), then every step's `h_t`.
    states: Vec<T>,
    /// Transition layers 1..depth-1, each `(rows, H)`.
    inner: Vec<Vec<T>>,
    /// Output layers, each `(rows, H)` (the last one is `y`).
    outs: Vec<Vec<T>>,
}

impl<T> DeepTransitionCache<T> {
    pub fn seq_batch(&self) -> (usize, usize) {
        (self.t, self.b)
    }
    pub fn spec(&self) -> &DeepTransition {
        &self.dt
    }
}

/// Every row of `dst` set to `bias` (or zero).
fn fill_rows<T: Float>(dst: &mut [T], bias: Option<&[T]>) {
    match bias {
        Some(b) => dst.chunks_exact_mut(b.len()).for_each(|r| r.copy_from_slice(b)),
        None => dst.fill(T::ZERO),
    }
}

/// `(y (T, B, H), h_n (B, H), cache if train)`.
pub type Run<T> = (Vec<T>, Vec<T>, Option<DeepTransitionCache<T>>);

/// Forward over `x` `(T, B, I)` from `h0` `(B, H)`. Returns
/// `(y (T, B, H), h_n (B, H), cache if train)`.
pub fn forward<T: Float>(
    dt: &DeepTransition,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    h0: Option<&[T]>,
    train: bool,
) -> Result<Run<T>> {
    forward_with_lengths(dt, params, x, t, b, h0, None, train)
}

/// `forward` over a variable-length batch: `lengths` `(B,)` in `1..=T`, any
/// order (PyTorch's packed semantics): `y` is zero past each length, `h_n`
/// is each sequence's state after its own last step, and only the running
/// sequences are computed.
#[allow(clippy::too_many_arguments)]
pub fn forward_with_lengths<T: Float>(
    dt: &DeepTransition,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    h0: Option<&[T]>,
    lengths: Option<&[usize]>,
    train: bool,
) -> Result<Run<T>> {
    dt.validate()?;
    dt.check_params(params, "params")?;
    let (i_sz, h) = (dt.input_size, dt.hidden_size);
    let pk = varlen::check_forward(x, (t, b, i_sz), h0, h, lengths)?;
    let xp = varlen::pack(&pk, x, i_sz, "input")?;
    let mut states = varlen::new_states(&pk, h0, h)?;
    let rows_h = checked_size(&[pk.rows(), h], "output")?;
    // Inference keeps one step of the inner layers; training all of them.
    let inner_len = if train { rows_h } else { b * h };
    let mut inner: Vec<Vec<T>> =
        (1..dt.depth).map(|_| try_zeros(inner_len, "states")).collect::<Result<_>>()?;
    let outs = crate::par::install(|| -> Result<Vec<Vec<T>>> {
        run_transition(dt, params, &xp, &pk, &mut states, &mut inner, train)?;
        run_output(dt, params, &states[b * h..], pk.rows(), train)
    })?;
    let h_n = varlen::final_states(&pk, &states[..b * h], &states[b * h..], h);
    let y = match outs.last() {
        Some(o) => o.clone(),
        None => states[b * h..].to_vec(),
    };
    let y = varlen::unpack(&pk, y, h, "output")?;
    let cache = train.then(|| DeepTransitionCache {
        dt: dt.clone(),
        t,
        b,
        packing: pk,
        x: xp.into_owned(),
        states,
        inner,
        outs,
    });
    Ok((y, h_n, cache))
}

fn run_transition<T: Float>(
    dt: &DeepTransition,
    params: &[&[T]],
    x: &[T],
    pk: &Packing,
    states: &mut [T],
    inner: &mut [Vec<T>],
    train: bool,
) -> Result<()> {
    let (i_sz, h) = (dt.input_size, dt.hidden_size);
    let lay = dt.layout();
    let (b, rows) = (pk.batch(), pk.rows());
    let bh = b * h;
    // Input projection of all steps with both first-layer biases, one GEMM:
    // written into the state slots 1..=T and completed step by step.
    {
        let proj = &mut states[bh..];
        match (lay.b_ih, lay.b_hh) {
            (Some(i), Some(j)) => {
                let sum: Vec<T> = params[i].iter().zip(params[j]).map(|(&u, &v)| u + v).collect();
                fill_rows(proj, Some(&sum));
            }
            _ => fill_rows(proj, None),
        }
        gemm(
            Parallelism::Pool,
            proj,
            h,
            Op::new(x, rows, i_sz),
            Op::new(params[lay.ih], h, i_sz).t(),
            T::ONE,
            true,
        );
    }
    let mut tmp = try_zeros::<T>(bh, "states")?;
    for s in 0..pk.steps() {
        // Only the first `n` (sorted) sequences are still running.
        let n = pk.size(s);
        if n == 0 {
            break;
        }
        crate::interrupt::check()?;
        let (p0, c0) = (varlen::prev_row(pk, s), varlen::cur_row(pk, s));
        let (prev_all, cur_all) = states.split_at_mut(c0 * h);
        let prev = &prev_all[p0 * h..(p0 + n) * h];
        let cur = &mut cur_all[..n * h];
        let slot = if train { pk.offset(s) * h..(pk.offset(s) + n) * h } else { 0..n * h };
        let tmp = &mut tmp[..n * h];
        // Layer 1: z = proj + h_prev W_hh^T.
        if dt.depth == 1 {
            mul_nt(cur, prev, params[lay.hh], n, h, h, true);
            tanh_inplace(cur);
        } else {
            let z1 = &mut inner[0][slot.clone()];
            z1.copy_from_slice(cur);
            mul_nt(z1, prev, params[lay.hh], n, h, h, true);
            tanh_inplace(z1);
        }
        for l in 2..=dt.depth {
            let (w, bias) = lay.tr[l - 2];
            let (below, rest) = inner.split_at_mut(l - 1);
            let z_prev = &below[l - 2][slot.clone()];
            let z: &mut [T] = if l == dt.depth { &mut *cur } else { &mut rest[0][slot.clone()] };
            fill_rows(z, bias.map(|i| params[i]));
            mul_nt(z, z_prev, params[w], n, h, h, true);
            if l == dt.depth {
                if let Some(sh) = lay.sh {
                    mul_nt(tmp, prev, params[sh], n, h, h, false);
                    z.iter_mut().zip(tmp.iter()).for_each(|(a, &v)| *a += v);
                }
            }
            tanh_inplace(z);
        }
    }
    Ok(())
}

/// The output MLP over all steps (`rows` = T*B rows of `hs`): each layer's output.
fn run_output<T: Float>(
    dt: &DeepTransition,
    params: &[&[T]],
    hs: &[T],
    rows: usize,
    train: bool,
) -> Result<Vec<Vec<T>>> {
    let h = dt.hidden_size;
    let lay = dt.layout();
    let mut outs: Vec<Vec<T>> = Vec::with_capacity(lay.out.len());
    for (k, &(w, bias)) in lay.out.iter().enumerate() {
        let mut o = try_zeros(rows * h, "output")?;
        fill_rows(&mut o, bias.map(|i| params[i]));
        let input = if k == 0 { hs } else { &outs[k - 1] };
        gemm(
            Parallelism::Pool,
            &mut o,
            h,
            Op::new(input, rows, h),
            Op::new(params[w], h, h).t(),
            T::ONE,
            true,
        );
        tanh_inplace(&mut o);
        if !train && k > 0 {
            outs[k - 1] = Vec::new();
        }
        outs.push(o);
    }
    Ok(outs)
}

/// Gradients of a deep-transition run.
pub struct DeepTransitionGrads<T> {
    /// `(T, B, I)`; empty without `input_grad`.
    pub dx: Vec<T>,
    /// `(B, H)`.
    pub dh0: Vec<T>,
}

/// `g *= 1 - z^2` (through tanh).
fn through_tanh<T: Float>(g: &mut [T], z: &[T]) {
    g.iter_mut().zip(z).for_each(|(d, &y)| *d *= T::ONE - y * y);
}

/// Column sums of `rows x n` `a` added into `acc` (`n`).
fn add_col_sums<T: Float>(acc: &mut [T], a: &[T]) {
    for row in a.chunks_exact(acc.len()) {
        acc.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
    }
}

/// BPTT through `cache`: `dy` `(T, B, H)` (ignored past each length),
/// `dh_n` `(B, H)`. Parameter gradients are ADDED into `grads` (the shapes
/// of `params`).
pub fn backward<T: Float>(
    params: &[&[T]],
    cache: &DeepTransitionCache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    input_grad: bool,
) -> Result<DeepTransitionGrads<T>> {
    let dt = &cache.dt;
    dt.check_params(params, "params")?;
    varlen::check_backward(params, grads, dy, dh_n, (cache.t, cache.b, dt.hidden_size))?;
    crate::par::install(|| run_backward(params, cache, dy, dh_n, grads, input_grad))
}

fn run_backward<T: Float>(
    params: &[&[T]],
    cache: &DeepTransitionCache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    input_grad: bool,
) -> Result<DeepTransitionGrads<T>> {
    let dt = &cache.dt;
    let lay = dt.layout();
    let pk = &cache.packing;
    let (b, h, i_sz) = (cache.b, dt.hidden_size, dt.input_size);
    let (bh, rows) = (b * h, pk.rows());
    let hs = &cache.states[bh..];
    let h_prev = &varlen::prev_states(pk, &cache.states, h)?;
    let wgrad = |g: &mut [T], a: &[T], bmat: &[T], cols: usize| {
        gemm(Parallelism::Pool, g, cols, Op::new(a, rows, h).t(), Op::new(bmat, rows, cols), T::ONE, true);
    };
    // Output MLP, top layer first: `g` ends as the gradient w.r.t. every h_t from the outputs.
    let mut g = varlen::pack(pk, dy, h, "dy")?.into_owned();
    for k in (0..lay.out.len()).rev() {
        let (w, bias) = lay.out[k];
        through_tanh(&mut g, &cache.outs[k]);
        let input = if k == 0 { hs } else { &cache.outs[k - 1] };
        wgrad(grads[w], &g, input, h);
        if let Some(bi) = bias {
            add_col_sums(grads[bi], &g);
        }
        let mut below = try_zeros(rows * h, "gradients")?;
        gemm(Parallelism::Pool, &mut below, h, Op::new(&g, rows, h), Op::new(params[w], h, h), T::ONE, false);
        g = below;
    }
    // Through time: da[l] = gradient w.r.t. transition layer l's pre-activation, every step.
    let mut da: Vec<Vec<T>> =
        (0..dt.depth).map(|_| try_zeros(rows * h, "gradients")).collect::<Result<_>>()?;
    // Rows past `n` (sequences that end before step s) keep their `dh_n` until their last step.
    let mut carry = varlen::sorted_rows(pk, dh_n, h)?;
    let mut up_all = try_zeros::<T>(bh, "gradients")?;
    for s in (0..pk.steps()).rev() {
        let n = pk.size(s);
        if n == 0 {
            continue;
        }
        crate::interrupt::check()?;
        let rng = pk.offset(s) * h..(pk.offset(s) + n) * h;
        let (up, carry) = (&mut up_all[..n * h], &mut carry[..n * h]);
        up.iter_mut().zip(&g[rng.clone()]).zip(carry.iter()).for_each(|((u, &a), &c)| *u = a + c);
        for l in (1..=dt.depth).rev() {
            let z = if l == dt.depth { &hs[rng.clone()] } else { &cache.inner[l - 1][rng.clone()] };
            let d = &mut da[l - 1][rng.clone()];
            d.copy_from_slice(up);
            through_tanh(d, z);
            if l >= 2 {
                let (w, _) = lay.tr[l - 2];
                mul_nn(up, d, params[w], n, h, h, false);
            }
        }
        mul_nn(carry, &da[0][rng.clone()], params[lay.hh], n, h, h, false);
        if let Some(sh) = lay.sh {
            mul_nn(carry, &da[dt.depth - 1][rng.clone()], params[sh], n, h, h, true);
        }
    }
    // Weight gradients, one GEMM per weight over all steps.
    wgrad(grads[lay.ih], &da[0], &cache.x, i_sz);
    wgrad(grads[lay.hh], &da[0], h_prev, h);
    for bi in [lay.b_ih, lay.b_hh].into_iter().flatten() {
        add_col_sums(grads[bi], &da[0]);
    }
    for l in 2..=dt.depth {
        let (w, bias) = lay.tr[l - 2];
        wgrad(grads[w], &da[l - 1], &cache.inner[l - 2], h);
        if let Some(bi) = bias {
            add_col_sums(grads[bi], &da[l - 1]);
        }
    }
    if let Some(sh) = lay.sh {
        wgrad(grads[sh], &da[dt.depth - 1], h_prev, h);
    }
    let mut dx = Vec::new();
    if input_grad {
        dx = try_zeros(rows * i_sz, "dx")?;
        gemm(
            Parallelism::Pool,
            &mut dx,
            i_sz,
            Op::new(&da[0], rows, h),
            Op::new(params[lay.ih], h, i_sz),
            T::ONE,
            false,
        );
    }
    let dx = if input_grad { varlen::unpack(pk, dx, i_sz, "dx")? } else { dx };
    let dh0 = if pk.is_identity() { carry } else { pk.unsort_rows(&carry, h) };
    Ok(DeepTransitionGrads { dx, dh0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(dt: &DeepTransition) -> Vec<Vec<f64>> {
        dt.param_shapes()
            .iter()
            .enumerate()
            .map(|(k, (_, s))| {
                (0..s.iter().product::<usize>())
                    .map(|i| ((i * 5 + k * 11) as f64 * 0.41).sin() * 0.6)
                    .collect()
            })
            .collect()
    }

    fn loss(
        dt: &DeepTransition,
        p: &[Vec<f64>],
        x: &[f64],
        h0: &[f64],
        t: usize,
        b: usize,
        dy: &[f64],
    ) -> f64 {
        let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
        let (y, _, _) = forward(dt, &ps, x, t, b, Some(h0), false).unwrap();
        y.iter().zip(dy).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let dt = DeepTransition {
            input_size: 2,
            hidden_size: 3,
            depth: 3,
            output_depth: 2,
            shortcut: true,
            bias: true,
        };
        let p = params(&dt);
        let (t, b) = (4, 2);
        let x: Vec<f64> = (0..t * b * 2).map(|i| (i as f64 * 0.3).cos()).collect();
        let h0: Vec<f64> = (0..b * 3).map(|i| (i as f64 * 0.9).sin()).collect();
        let dy: Vec<f64> = (0..t * b * 3).map(|i| (i as f64 * 0.71).sin()).collect();
        let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
        let (_, _, cache) = forward(&dt, &ps, &x, t, b, Some(&h0), true).unwrap();
        let mut g: Vec<Vec<f64>> = p.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut gs: Vec<&mut [f64]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
        let out = backward(&ps, cache.as_ref().unwrap(), &dy, None, &mut gs, true).unwrap();
        let eps = 1e-6;
        let num = |f: &dyn Fn(f64) -> f64| (f(eps) - f(-eps)) / (2.0 * eps);
        for k in 0..p.len() {
            for i in 0..p[k].len() {
                let n = num(&|e| {
                    let mut q = p.clone();
                    q[k][i] += e;
                    loss(&dt, &q, &x, &h0, t, b, &dy)
                });
                assert!((n - g[k][i]).abs() < 1e-7, "param {k}[{i}]: {n} vs {}", g[k][i]);
            }
        }
        for i in 0..x.len() {
            let n = num(&|e| {
                let mut xx = x.clone();
                xx[i] += e;
                loss(&dt, &p, &xx, &h0, t, b, &dy)
            });
            assert!((n - out.dx[i]).abs() < 1e-7, "dx[{i}]");
        }
        for i in 0..h0.len() {
            let n = num(&|e| {
                let mut hh = h0.clone();
                hh[i] += e;
                loss(&dt, &p, &x, &hh, t, b, &dy)
            });
            assert!((n - out.dh0[i]).abs() < 1e-7, "dh0[{i}]");
        }
    }

    #[test]
    fn shortcut_needs_two_layers() {
        let dt = DeepTransition {
            input_size: 2,
            hidden_size: 3,
            depth: 1,
            output_depth: 0,
            shortcut: true,
            bias: true,
        };
        assert!(matches!(dt.validate(), Err(Error::Value { arg, .. }) if arg == "shortcut"));
    }
}
