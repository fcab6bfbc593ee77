//! Losses with their gradients, PyTorch's semantics (`F.mse_loss`,
//! `F.cross_entropy`). Each returns the loss (one value, or one per element /
//! sample for `Reduction::None`) and the gradient of `grad_output . loss`
//! with respect to the input (`grad_output` defaults to 1).
//!
//! Sums over elements are taken per fixed block / per sample in f64 and
//! combined in order, so results do not depend on the thread count.

use super::blocks::BLOCK;
use crate::error::try_zeros;
use crate::{Error, Float, Result};
use rayon::prelude::*;

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Mean,
    Sum,
    None,
}

impl Reduction {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "none" => Ok(Reduction::None),
            _ => Err(Error::value("reduction", format!("expected 'mean', 'sum' or 'none', got {s:?}"))),
        }
    }
}

/// Checks `grad_output`'s length: 1 for a reduced loss, `n` for `None`.
fn check_grad_output<T>(grad_output: Option<&[T]>, reduction: Reduction, n: usize) -> Result<()> {
    if let Some(g) = grad_output {
        let want = if reduction == Reduction::None { n } else { 1 };
        if g.len() != want {
            return Err(Error::shape(
                "grad_output",
                format!("expected {want} elements (the loss's shape), got {}", g.len()),
            ));
        }
    }
    Ok(())
}

/// A loss value and its gradient with respect to the input.
pub struct LossGrad<T> {
    /// One value (mean/sum) or one per element/sample (none).
    pub loss: Vec<T>,
    pub grad_input: Vec<T>,
}

/// Mean squared error `(input - target)^2`. `mask` (one flag per element)
/// leaves elements out: they add nothing and `mean` divides by the number
/// kept. The gradient with respect to the target is `-grad_input`.
pub fn mse<T: Float>(
    input: &[T],
    target: &[T],
    reduction: Reduction,
    mask: Option<&[bool]>,
    grad_output: Option<&[T]>,
) -> Result<LossGrad<T>> {
    let n = input.len();
    if target.len() != n {
        return Err(Error::shape(
            "target",
            format!("expected {n} elements like input, got {}", target.len()),
        ));
    }
    if let Some(m) = mask {
        if m.len() != n {
            return Err(Error::shape("mask", format!("expected {n} elements like input, got {}", m.len())));
        }
    }
    check_grad_output(grad_output, reduction, n)?;
    let kept = |i: usize| mask.is_none_or(|m| m[i]);
    let count = match mask {
        Some(m) => m.iter().filter(|&&b| b).count(),
        None => n,
    };
    let mut grad = try_zeros::<T>(n, "grad_input")?;
    let two = T::from_f64(2.0);
    if reduction == Reduction::None {
        let mut loss = try_zeros::<T>(n, "loss")?;
        let ones;
        let go = match grad_output {
            Some(g) => g,
            None => {
                ones = vec![T::ONE; n];
                &ones[..]
            }
        };
        crate::par::install(|| {
            loss.par_chunks_mut(BLOCK).zip(grad.par_chunks_mut(BLOCK)).enumerate().for_each(|(b, (l, g))| {
                for k in 0..l.len() {
                    let i = b * BLOCK + k;
                    if kept(i) {
                        let d = input[i] - target[i];
                        l[k] = d * d;
                        g[k] = two * d * go[i];
                    }
                }
            })
        });
        return Ok(LossGrad { loss, grad_input: grad });
    }
    let go = grad_output.map_or(T::ONE, |g| g[0]);
    // mean over no element is 0/0 = NaN, like torch.
    let scale = match reduction {
        Reduction::Mean => T::from_f64(1.0 / count as f64),
        _ => T::ONE,
    };
    let factor = two * scale * go;
    let partials: Vec<f64> = crate::par::install(|| {
        grad.par_chunks_mut(BLOCK)
            .enumerate()
            .map(|(b, g)| {
                let mut s = 0.0f64;
                for (k, gk) in g.iter_mut().enumerate() {
                    let i = b * BLOCK + k;
                    if kept(i) {
                        let d = input[i] - target[i];
                        s += (d * d).to_f64();
                        *gk = factor * d;
                    }
                }
                s
            })
            .collect()
    });
    let total: f64 = partials.iter().sum();
    let value = match reduction {
        Reduction::Mean => total / count as f64,
        _ => total,
    };
    Ok(LossGrad { loss: vec![T::from_f64(value)], grad_input: grad })
}

/// Class targets of a cross-entropy: one index per sample, or a probability
/// distribution over the classes laid out like the input.
#[derive(Clone, Copy)]
pub enum Target<'a, T> {
    Index(&'a [i64]),
    Probs(&'a [T]),
}

/// Options of `cross_entropy` (torch's argument names).
#[derive(Clone, Copy)]
pub struct CrossEntropy<'a, T> {
    pub weight: Option<&'a [T]>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub label_smoothing: f64,
}

/// Input laid out as torch's `(N, C, S)`: sample `(n, s)` has its `C` logits
/// at `n*C*S + c*S + s` (S = 1 for `(N, C)`; S = T for `(N, C, T)`).
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub n: usize,
    pub c: usize,
    pub s: usize,
}

/// Cross-entropy of logits, torch's semantics: with smoothing `e` the loss of
/// a sample with class `t` is `(1-e) w_t (-log p_t) + e/C sum_c w_c (-log p_c)`;
/// `mean` divides by the summed weights of the kept targets (the number of
/// kept samples for probability targets). Targets equal to `ignore_index`, and
/// samples whose `mask` flag is false, contribute nothing. When nothing is
/// kept, `mean` is NaN and the gradient zero (as torch).
pub fn cross_entropy<T: Float>(
    input: &[T],
    layout: Layout,
    target: Target<'_, T>,
    opts: &CrossEntropy<'_, T>,
    mask: Option<&[bool]>,
    grad_output: Option<&[T]>,
) -> Result<LossGrad<T>> {
    let Layout { c, s, .. } = layout;
    let samples = check_cross_entropy(input.len(), layout, opts, mask)?;
    let eps = opts.label_smoothing;
    check_grad_output(grad_output, opts.reduction, samples)?;
    let kept = |i: usize| mask.is_none_or(|m| m[i]);
    let wc = |k: usize| opts.weight.map_or(T::ONE, |w| w[k]);
    let divisor = mean_divisor(input.len(), c, samples, target, opts.ignore_index, kept, wc)?;
    let w_total: T = (0..c).map(wc).sum();
    let go_scalar = grad_output.map_or(T::ONE, |g| g[0]);
    let scale_of = |i: usize| -> T {
        match opts.reduction {
            Reduction::Mean => go_scalar / T::from_f64(divisor),
            Reduction::Sum => go_scalar,
            Reduction::None => grad_output.map_or(T::ONE, |g| g[i]),
        }
    };
    let e = T::from_f64(eps);
    let e_over_c = T::from_f64(eps / c as f64);
    let one_minus_e = T::ONE - e;

    let mut grad = try_zeros::<T>(input.len(), "grad_input")?;
    let mut losses = try_zeros::<f64>(samples, "loss")?;
    let row = c * s;
    let ones;
    let w: &[T] = match opts.weight {
        Some(w) => w,
        None => {
            ones = vec![T::ONE; c];
            &ones
        }
    };
    let k = SampleConsts { w, w_total, one_minus_e, e_over_c, smoothing: eps > 0.0 };
    let per_sample = |nn: usize, g: &mut [T], l: &mut [f64]| {
        let x = &input[nn * row..(nn + 1) * row];
        let q_row = match target {
            Target::Probs(q) => Some(&q[nn * row..(nn + 1) * row]),
            Target::Index(_) => None,
        };
        // Sequence layouts: gather each sample's strided logits into scratch.
        let (mut xs, mut gs, mut qs) = (Vec::new(), Vec::new(), Vec::new());
        for ss in 0..s {
            let i = nn * s + ss;
            if !kept(i) {
                continue;
            }
            let class_t = match target {
                Target::Index(t) if t[i] == opts.ignore_index => continue,
                Target::Index(t) => Some(t[i] as usize),
                Target::Probs(_) => None,
            };
            let scale = scale_of(i);
            l[ss] = if s == 1 {
                match (class_t, q_row) {
                    (Some(t), _) => sample_index(x, t, scale, g, &k),
                    (None, Some(q)) => sample_probs(x, q, scale, g, &k),
                    (None, None) => 0.0,
                }
            } else {
                xs.clear();
                xs.extend((0..c).map(|j| x[j * s + ss]));
                gs.resize(c, T::ZERO);
                let loss = match (class_t, q_row) {
                    (Some(t), _) => sample_index(&xs, t, scale, &mut gs, &k),
                    (None, Some(q)) => {
                        qs.clear();
                        qs.extend((0..c).map(|j| q[j * s + ss]));
                        sample_probs(&xs, &qs, scale, &mut gs, &k)
                    }
                    (None, None) => 0.0,
                };
                for (j, &v) in gs.iter().enumerate() {
                    g[j * s + ss] = v;
                }
                loss
            };
        }
    };
    crate::par::install(|| {
        grad.par_chunks_mut(row.max(1))
            .zip(losses.par_chunks_mut(s.max(1)))
            .enumerate()
            .with_min_len(128)
            .for_each(|(nn, (g, l))| per_sample(nn, g, l));
    });
    let loss = match opts.reduction {
        Reduction::None => losses.iter().map(|&v| T::from_f64(v)).collect(),
        Reduction::Sum => vec![T::from_f64(losses.iter().sum())],
        Reduction::Mean => vec![T::from_f64(losses.iter().sum::<f64>() / divisor)],
    };
    Ok(LossGrad { loss, grad_input: grad })
}

/// Checks the sizes and options of a cross-entropy call; returns the number
/// of samples (`N * S`).
fn check_cross_entropy<T>(
    input_len: usize,
    layout: Layout,
    opts: &CrossEntropy<'_, T>,
    mask: Option<&[bool]>,
) -> Result<usize> {
    let Layout { n, c, s } = layout;
    let samples = crate::error::checked_size(&[n, s], "target")?;
    if input_len != crate::error::checked_size(&[n, c, s], "input")? {
        return Err(Error::shape("input", format!("expected {n}x{c}x{s} elements, got {input_len}")));
    }
    if c == 0 {
        return Err(Error::shape("input", "expected at least one class (C > 0)"));
    }
    if let Some(w) = opts.weight {
        if w.len() != c {
            return Err(Error::shape("weight", format!("expected {c} class weights, got {}", w.len())));
        }
    }
    if let Some(m) = mask {
        if m.len() != samples {
            return Err(Error::shape(
                "mask",
                format!("expected {samples} flags (the target's shape), got {}", m.len()),
            ));
        }
    }
    let eps = opts.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        return Err(Error::value("label_smoothing", format!("expected a number in [0, 1], got {eps}")));
    }
    Ok(samples)
}

/// Validates the targets and returns the divisor of `mean`: the summed
/// weights of the kept class indices, or the number of kept samples for
/// probability targets.
#[allow(clippy::too_many_arguments)]
fn mean_divisor<T: Float>(
    input_len: usize,
    c: usize,
    samples: usize,
    target: Target<'_, T>,
    ignore_index: i64,
    kept: impl Fn(usize) -> bool,
    wc: impl Fn(usize) -> T,
) -> Result<f64> {
    match target {
        Target::Index(t) => {
            if t.len() != samples {
                return Err(Error::shape(
                    "target",
                    format!("expected {samples} class indices, got {}", t.len()),
                ));
            }
            let mut d = 0.0f64;
            for (i, &k) in t.iter().enumerate() {
                if k == ignore_index || !kept(i) {
                    continue;
                }
                if k < 0 || k as u64 >= c as u64 {
                    return Err(Error::value(
                        "target",
                        format!("class index {k} at position {i} is out of range [0, {c}) (and is not ignore_index)"),
                    ));
                }
                d += wc(k as usize).to_f64();
            }
            Ok(d)
        }
        Target::Probs(p) => {
            if p.len() != input_len {
                return Err(Error::shape(
                    "target",
                    format!(
                        "probability targets must have the input's {input_len} elements, got {}",
                        p.len()
                    ),
                ));
            }
            Ok((0..samples).filter(|&i| kept(i)).count() as f64)
        }
    }
}

/// Per-call constants of the cross-entropy sample kernels.
struct SampleConsts<'a, T> {
    /// Class weights (ones when unweighted) and their sum.
    w: &'a [T],
    w_total: T,
    one_minus_e: T,
    e_over_c: T,
    smoothing: bool,
}

/// g <- exp(x - max x); returns (log-sum-exp, 1 / sum exp(x - max)).
#[inline(always)]
fn shifted_exp<T: Float>(x: &[T], g: &mut [T]) -> (T, T) {
    let m = x.iter().fold(x[0], |m, &v| m.max(v));
    for (gk, &xk) in g.iter_mut().zip(x) {
        *gk = xk - m;
    }
    // The library's (SIMD) exp kernel over the whole row.
    crate::kernels::exp_inplace(g);
    let sum: T = g.iter().copied().sum();
    (m + sum.ln(), T::ONE / sum)
}

/// One sample with class `t` (contiguous logits): writes `scale * dloss/dx`
/// into `g`, returns the loss
/// `(1-e) w_t (lse - x_t) + e/C sum_k w_k (lse - x_k)`.
fn sample_index<T: Float>(x: &[T], t: usize, scale: T, g: &mut [T], k: &SampleConsts<'_, T>) -> f64 {
    let (lse, inv) = shifted_exp(x, g);
    let wt = k.w[t];
    let mut smooth = T::ZERO;
    if k.smoothing {
        for (&wk, &xk) in k.w.iter().zip(x) {
            smooth += wk * (lse - xk);
        }
    }
    let loss = (k.one_minus_e * wt * (lse - x[t])).to_f64() + (k.e_over_c * smooth).to_f64();
    // d/dx_k = p_k ((1-e) w_t + e W / C) - e/C w_k - (1-e) w_t [k = t]
    let a = scale * inv * (k.one_minus_e * wt + k.e_over_c * k.w_total);
    let b = scale * k.e_over_c;
    for (gk, &wk) in g.iter_mut().zip(k.w) {
        *gk = *gk * a - b * wk;
    }
    g[t] -= scale * k.one_minus_e * wt;
    loss
}

/// One sample with class probabilities `q`: smoothed and weighted
/// `a_k = w_k ((1-e) q_k + e/C)`, loss `sum_k a_k (lse - x_k)`, gradient
/// `p_k sum_j a_j - a_k`.
fn sample_probs<T: Float>(x: &[T], q: &[T], scale: T, g: &mut [T], k: &SampleConsts<'_, T>) -> f64 {
    let (lse, inv) = shifted_exp(x, g);
    let mut sum_a = T::ZERO;
    let mut loss = 0.0f64;
    for ((&wk, &qk), &xk) in k.w.iter().zip(q).zip(x) {
        let a = wk * (k.one_minus_e * qk + k.e_over_c);
        sum_a += a;
        loss += (a * (lse - xk)).to_f64();
    }
    let f = scale * inv * sum_a;
    for ((gk, &wk), &qk) in g.iter_mut().zip(k.w).zip(q) {
        *gk = *gk * f - scale * wk * (k.one_minus_e * qk + k.e_over_c);
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ce(x: &[f64], layout: Layout, t: &[i64], red: Reduction, eps: f64) -> LossGrad<f64> {
        let opts = CrossEntropy { weight: None, ignore_index: -100, reduction: red, label_smoothing: eps };
        cross_entropy(x, layout, Target::Index(t), &opts, None, None).unwrap()
    }

    #[test]
    fn cross_entropy_matches_hand_computation() {
        let x = [1.0, 2.0, 3.0];
        let r = ce(&x, Layout { n: 1, c: 3, s: 1 }, &[2], Reduction::Mean, 0.0);
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        assert!((r.loss[0] - (lse - 3.0)).abs() < 1e-14);
        let p2 = (3.0 - lse).exp();
        assert!((r.grad_input[2] - (p2 - 1.0)).abs() < 1e-14);
        assert!(r.grad_input.iter().sum::<f64>().abs() < 1e-14);
    }

    #[test]
    fn huge_logits_are_stable() {
        let x = [1e4, -1e4, 0.0, 1e4 - 1.0];
        let r = ce(&x, Layout { n: 1, c: 4, s: 1 }, &[1], Reduction::Sum, 0.1);
        assert!(r.loss[0].is_finite() && r.grad_input.iter().all(|v| v.is_finite()));
        let lse = 1e4 + (1.0 + (-1f64).exp()).ln();
        let want = 0.9 * (lse + 1e4) + 0.025 * ((lse - 1e4) + (lse + 1e4) + lse + (lse - 1e4 + 1.0));
        assert!((r.loss[0] - want).abs() < 1e-9, "{} vs {want}", r.loss[0]);
    }

    #[test]
    fn all_ignored_mean_is_nan_with_zero_gradient() {
        let opts =
            CrossEntropy { weight: None, ignore_index: 1, reduction: Reduction::Mean, label_smoothing: 0.1 };
        let r = cross_entropy(
            &[0.5, 0.1, 0.2, 0.3],
            Layout { n: 2, c: 2, s: 1 },
            Target::Index(&[1, 1]),
            &opts,
            None,
            None,
        )
        .unwrap();
        assert!(r.loss[0].is_nan());
        assert!(r.grad_input.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn out_of_range_target_is_a_value_error() {
        let opts = CrossEntropy {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
        };
        let r =
            cross_entropy(&[0.0; 4], Layout { n: 2, c: 2, s: 1 }, Target::Index(&[0, 2]), &opts, None, None);
        assert!(matches!(r, Err(Error::Value { ref arg, .. }) if arg == "target"));
    }

    #[test]
    fn sequence_layout_equals_transposed_rows() {
        // (N=1, C=3, T=2) against two (N, C) rows.
        let x = [0.1, -0.4, 0.3, 0.9, -1.2, 0.5];
        let r = ce(&x, Layout { n: 1, c: 3, s: 2 }, &[2, 0], Reduction::Sum, 0.2);
        let rows = [0.1, 0.3, -1.2, -0.4, 0.9, 0.5];
        let q = ce(&rows, Layout { n: 2, c: 3, s: 1 }, &[2, 0], Reduction::Sum, 0.2);
        assert!((r.loss[0] - q.loss[0]).abs() < 1e-14);
        for (k, t) in [(0, 0), (1, 3), (2, 1), (3, 4), (4, 2), (5, 5)] {
            assert!((r.grad_input[k] - q.grad_input[t]).abs() < 1e-14);
        }
    }

    #[test]
    fn mse_reductions() {
        let r = mse(&[1.0, 2.0, 4.0], &[0.0, 2.0, 2.0], Reduction::Mean, None, None).unwrap();
        assert_eq!(r.loss, vec![5.0 / 3.0]);
        assert_eq!(r.grad_input, vec![2.0 / 3.0, 0.0, 4.0 / 3.0]);
        let r = mse(&[1.0, 2.0, 4.0], &[0.0, 2.0, 2.0], Reduction::Sum, Some(&[true, true, false]), None)
            .unwrap();
        assert_eq!(r.loss, vec![1.0]);
        assert_eq!(r.grad_input, vec![2.0, 0.0, 0.0]);
        let r = mse(&[1.0f32], &[0.0], Reduction::None, None, Some(&[3.0])).unwrap();
        assert_eq!((r.loss[0], r.grad_input[0]), (1.0, 6.0));
        assert!(mse(&[1.0f64], &[0.0, 1.0], Reduction::Mean, None, None).is_err());
    }
}
