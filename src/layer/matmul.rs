//! The two matrix-product shapes of the time loop, with a small-shape path.
//!
//! Per step the layer multiplies a `(B, k)` state by a weight matrix. For
//! batch 1 and small hidden sizes that is a few thousand multiply-adds, where
//! the set-up cost of a general GEMM call dominates; there a plain loop over
//! contiguous rows (dot products / axpys) is faster. Larger products go to
//! `crate::linalg::gemm`. Both paths are serial or split along outputs only,
//! so results never depend on the thread count.

use crate::linalg::{gemm, Op};
use crate::Float;

/// Products up to this many multiply-adds (and at most `SMALL_ROWS` rows)
/// use the plain loops.
const SMALL_FLOPS: usize = 1 << 16;
const SMALL_ROWS: usize = 8;

fn is_small(m: usize, n: usize, k: usize) -> bool {
    m <= SMALL_ROWS && m.saturating_mul(n).saturating_mul(k) <= SMALL_FLOPS
}

/// Dot product with 8 independent accumulators (vectorizes; fixed order).
#[inline(always)]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += *x * *y;
    }
    s
}

/// `C (m, n) (+)= A (m, k) · B^T` with `B` stored row-major as `(n, k)`.
pub fn mul_nt<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if is_small(m, n, k) {
        for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
            for (cv, brow) in crow.iter_mut().zip(b.chunks_exact(k)) {
                let d = dot(arow, brow);
                *cv = if accumulate { *cv + d } else { d };
            }
        }
    } else {
        gemm(c, n, Op::new(a, m, k), Op::new(b, n, k).t(), T::ONE, accumulate);
    }
}

/// `C (m, n) (+)= A (m, k) · B` with `B` stored row-major as `(k, n)`.
pub fn mul_nn<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if is_small(m, n, k) {
        for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
            if !accumulate {
                crow.fill(T::ZERO);
            }
            for (&av, brow) in arow.iter().zip(b.chunks_exact(n)) {
                for (cv, &bv) in crow.iter_mut().zip(brow) {
                    *cv += av * bv;
                }
            }
        }
    } else {
        gemm(c, n, Op::new(a, m, k), Op::new(b, k, n), T::ONE, accumulate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * s).sin()).collect()
    }

    #[test]
    fn small_and_large_paths_agree_with_naive() {
        for &(m, k, n) in &[(1, 5, 3), (2, 17, 9), (3, 64, 256), (40, 33, 70)] {
            let a = data(m * k, 0.3);
            let bt = data(n * k, 0.7); // (n, k)
            let bn = data(k * n, 0.9); // (k, n)
            let mut c = vec![1.0; m * n];
            mul_nt(&mut c, &a, &bt, m, k, n, true);
            let mut c2 = vec![0.0; m * n];
            mul_nn(&mut c2, &a, &bn, m, k, n, false);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = 1.0 + (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum::<f64>();
                    assert!((c[i * n + j] - want).abs() < 1e-12);
                    let want2: f64 = (0..k).map(|p| a[i * k + p] * bn[p * n + j]).sum();
                    assert!((c2[i * n + j] - want2).abs() < 1e-12);
                }
            }
        }
    }
}
