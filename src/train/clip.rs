//! Gradient clipping with PyTorch's semantics (`torch.nn.utils.clip_grad_norm_`
//! and `clip_grad_value_`).
//!
//! The norm of each block is accumulated in f64 with eight independent lanes
//! (vectorisable, and accurate for f32 input); blocks are summed in order, then
//! arrays in order. Scaling is element-wise. Hence the result is independent of
//! the number of threads.

use super::blocks::{for_each_block_mut, map_blocks};
use crate::{Error, Float, Result};

/// The order `p` of a vector norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormType {
    One,
    Two,
    /// Any finite `p > 0` other than 1 and 2.
    P(f64),
    Inf,
}

impl NormType {
    /// The norm for `p` (a positive number or +inf), or a ValueError.
    pub fn new(p: f64) -> Result<Self> {
        if p == f64::INFINITY {
            Ok(NormType::Inf)
        } else if p == 1.0 {
            Ok(NormType::One)
        } else if p == 2.0 {
            Ok(NormType::Two)
        } else if p.is_finite() && p > 0.0 {
            Ok(NormType::P(p))
        } else {
            Err(Error::value("norm_type", format!("expected a number > 0 or inf, got {p}")))
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            NormType::One => 1.0,
            NormType::Two => 2.0,
            NormType::P(p) => p,
            NormType::Inf => f64::INFINITY,
        }
    }
}

/// Sum of `h(x)` over a block, with eight lanes combined in a fixed order.
#[inline(always)]
fn lane_sum<T: Float>(x: &[T], h: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            acc[k] += h(c[k].to_f64());
        }
    }
    let mut tail = 0.0;
    for &v in chunks.remainder() {
        tail += h(v.to_f64());
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// max |x| over a block; NaN once any element is NaN.
#[inline(always)]
fn nan_max(acc: f64, v: f64) -> f64 {
    if v > acc || v.is_nan() || acc.is_nan() {
        if acc.is_nan() {
            acc
        } else {
            v
        }
    } else {
        acc
    }
}

fn block_max_abs<T: Float>(x: &[T]) -> f64 {
    x.iter().fold(0.0f64, |m, v| nan_max(m, v.to_f64().abs()))
}

/// The partial reduction of one block: sum of |x|^p, or max |x| for inf.
fn block_partial<T: Float>(x: &[T], p: NormType) -> f64 {
    match p {
        NormType::One => lane_sum(x, f64::abs),
        NormType::Two => lane_sum(x, |v| v * v),
        NormType::P(p) => lane_sum(x, |v| v.abs().powf(p)),
        NormType::Inf => block_max_abs(x),
    }
}

/// Per-array norms, in the arrays' order (f64).
pub fn norms<T: Float>(grads: &[&[T]], p: NormType) -> Vec<f64> {
    let partials = crate::par::install(|| map_blocks(grads, |b| block_partial(b, p)));
    partials.iter().map(|blocks| finish(combine(blocks, p), p)).collect()
}

/// Combines partial reductions in order (sum, or NaN-propagating max).
fn combine(parts: &[f64], p: NormType) -> f64 {
    match p {
        NormType::Inf => parts.iter().fold(0.0, |m, &v| nan_max(m, v)),
        _ => parts.iter().sum(),
    }
}

/// sum |x|^p -> norm.
fn finish(s: f64, p: NormType) -> f64 {
    match p {
        NormType::One | NormType::Inf => s,
        NormType::Two => s.sqrt(),
        NormType::P(p) => s.powf(1.0 / p),
    }
}

/// The global norm over all arrays: `norm_p` of the per-array norms
/// (computed directly from the summed powers, which is the same value).
pub fn total_norm<T: Float>(grads: &[&[T]], p: NormType) -> f64 {
    let partials = crate::par::install(|| map_blocks(grads, |b| block_partial(b, p)));
    let per_array: Vec<f64> = partials.iter().map(|blocks| combine(blocks, p)).collect();
    finish(combine(&per_array, p), p)
}

/// Scales every gradient in place by `min(max_norm / (total + 1e-6), 1)` and
/// returns the total norm before clipping, rounded to `T`, like torch: the
/// product happens even when the factor is 1, a NaN norm makes every entry NaN
/// and an infinite one gives factor 0. With `error_if_nonfinite` a NaN/inf
/// norm is an `Error::NonFinite` and the gradients are left untouched.
pub fn clip_grad_norm<T: Float>(
    grads: &mut [&mut [T]],
    max_norm: f64,
    p: NormType,
    error_if_nonfinite: bool,
) -> Result<T> {
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(Error::value("max_norm", format!("expected a number >= 0, got {max_norm}")));
    }
    let total = {
        let views: Vec<&[T]> = grads.iter().map(|g| &**g).collect();
        T::from_f64(total_norm(&views, p))
    };
    if error_if_nonfinite && !total.is_finite() {
        return Err(Error::NonFinite(format!(
            "The total norm of order {} for gradients from `parameters` is non-finite, so it cannot be \
             clipped. To disable this error and scale the gradients by the non-finite norm anyway, set \
             `error_if_nonfinite=False`",
            p.as_f64()
        )));
    }
    // In T, as torch computes it; `>` keeps a NaN factor NaN.
    let mut coef = T::from_f64(max_norm) / (total + T::from_f64(1e-6));
    if coef > T::ONE {
        coef = T::ONE;
    }
    crate::par::install(|| {
        for_each_block_mut(grads, |b| {
            for v in b {
                *v *= coef;
            }
        })
    });
    Ok(total)
}

/// Clamps every gradient entry to `[-clip_value, clip_value]` in place; NaN
/// stays NaN, +-inf become +-clip_value.
pub fn clip_grad_value<T: Float>(grads: &mut [&mut [T]], clip_value: f64) -> Result<()> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(Error::value("clip_value", format!("expected a number >= 0, got {clip_value}")));
    }
    let hi = T::from_f64(clip_value);
    let lo = -hi;
    crate::par::install(|| {
        for_each_block_mut(grads, |b| {
            for v in b {
                // Comparisons are false for NaN, which therefore stays.
                if *v > hi {
                    *v = hi;
                } else if *v < lo {
                    *v = lo;
                }
            }
        })
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(grads: &mut [Vec<f64>], max_norm: f64, p: f64) -> f64 {
        let mut views: Vec<&mut [f64]> = grads.iter_mut().map(|g| g.as_mut_slice()).collect();
        clip_grad_norm(&mut views, max_norm, NormType::new(p).unwrap(), false).unwrap()
    }

    #[test]
    fn two_norm_clips_to_max_norm() {
        let mut g = vec![vec![3.0, 0.0], vec![4.0]];
        let total = run(&mut g, 1.0, 2.0);
        assert_eq!(total, 5.0);
        let coef = 1.0 / (5.0 + 1e-6);
        assert_eq!(g, vec![vec![3.0 * coef, 0.0], vec![4.0 * coef]]);
    }

    #[test]
    fn norm_types_and_no_clip() {
        let mut g = vec![vec![-1.0, 2.0], vec![-3.0]];
        assert_eq!(run(&mut g.clone(), 100.0, 1.0), 6.0);
        assert_eq!(run(&mut g.clone(), 100.0, f64::INFINITY), 3.0);
        let t3 = run(&mut g, 100.0, 3.0);
        assert!((t3 - 36f64.powf(1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(g, vec![vec![-1.0, 2.0], vec![-3.0]]);
    }

    #[test]
    fn nan_and_inf_follow_torch() {
        let mut g = vec![vec![1.0, f64::NAN], vec![2.0]];
        assert!(run(&mut g, 1.0, 2.0).is_nan());
        assert!(g.iter().flatten().all(|v| v.is_nan()));
        let mut g = vec![vec![1.0, f64::INFINITY], vec![2.0]];
        assert_eq!(run(&mut g, 1.0, f64::INFINITY), f64::INFINITY);
        assert_eq!(g[0][0], 0.0);
        assert!(g[0][1].is_nan());
        // NaN is seen by the max-norm wherever it sits.
        let mut g = vec![vec![f64::NAN, 1.0, 5.0]];
        assert!(run(&mut g, 1.0, f64::INFINITY).is_nan());
    }

    #[test]
    fn error_if_nonfinite_leaves_grads() {
        let mut g = [1.0f32, f32::NAN];
        let mut views = [&mut g[..]];
        let r = clip_grad_norm(&mut views, 1.0, NormType::Two, true);
        assert!(matches!(r, Err(Error::NonFinite(_))));
        assert_eq!(g[0], 1.0);
    }

    #[test]
    fn empty_list_has_norm_zero() {
        let mut views: [&mut [f64]; 0] = [];
        assert_eq!(clip_grad_norm(&mut views, 1.0, NormType::Two, false).unwrap(), 0.0);
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let big: Vec<f32> = (0..200_003).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
        let mut results = Vec::new();
        for threads in [1, 2] {
            crate::par::set_num_threads(threads);
            let mut a = big.clone();
            let mut b = big[..777].to_vec();
            let mut views = [&mut a[..], &mut b[..]];
            let t = clip_grad_norm(&mut views, 1.0, NormType::Two, false).unwrap();
            results.push((t, a, b));
        }
        crate::par::set_num_threads(0);
        assert_eq!(results[0].0.to_bits(), results[1].0.to_bits());
        assert!(results[0].1.iter().zip(&results[1].1).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn clip_value_clamps_and_keeps_nan() {
        let mut g = [2.0f64, -3.0, 0.25, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        clip_grad_value(&mut [&mut g[..]], 0.5).unwrap();
        assert_eq!(&g[..3], &[0.5, -0.5, 0.25]);
        assert!(g[3].is_nan());
        assert_eq!(&g[4..], &[0.5, -0.5]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(NormType::new(0.0).is_err());
        assert!(NormType::new(f64::NAN).is_err());
        let mut g = [1.0f64];
        assert!(clip_grad_norm(&mut [&mut g[..]], -1.0, NormType::Two, false).is_err());
        assert!(clip_grad_value(&mut [&mut g[..]], f64::NAN).is_err());
    }
}
