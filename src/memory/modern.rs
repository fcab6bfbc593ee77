//! Modern (dense) Hopfield retrieval (Ramsauer et al. 2020), one update step
//! for a batch of queries: `ξ_new = softmax(β ξ Xᵀ) X`, with the stored
//! patterns as the rows of `X` (`P x d`) and the queries as the rows of `ξ`
//! (`B x d`). It is attention with keys = values = the stored patterns, so
//! it can sit in a trained model: `backward` gives the gradients w.r.t. the
//! queries, the patterns and `β`.

use crate::error::{Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;

/// Sizes of one retrieval: `batch` queries, `patterns` stored rows, `dim` each.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub batch: usize,
    pub patterns: usize,
    pub dim: usize,
}

fn check<T: Float>(d: Dims, query: &[T], stored: &[T], beta: T) -> Result<()> {
    if d.dim == 0 {
        return Err(Error::value("query", "expected patterns of at least one dimension"));
    }
    if d.patterns == 0 {
        return Err(Error::value("patterns", "expected at least one stored pattern"));
    }
    if query.len() != d.batch * d.dim {
        return Err(Error::shape(
            "query",
            format!("expected {}x{} values, got {}", d.batch, d.dim, query.len()),
        ));
    }
    if stored.len() != d.patterns * d.dim {
        return Err(Error::shape(
            "patterns",
            format!("expected {}x{} values, got {}", d.patterns, d.dim, stored.len()),
        ));
    }
    if !beta.is_finite() {
        return Err(Error::value("beta", format!("expected a finite number, got {beta}")));
    }
    Ok(())
}

/// Row-wise softmax in place (max subtracted; a row of -inf/NaN stays NaN).
/// `cols` must be at least 1.
pub fn softmax_rows<T: Float>(a: &mut [T], cols: usize) {
    for row in a.chunks_exact_mut(cols) {
        let m = row.iter().copied().fold(T::from_f64(f64::NEG_INFINITY), T::max);
        let mut sum = T::ZERO;
        for v in row.iter_mut() {
            *v = (*v - m).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
}

/// Returns `(ξ_new (B x d), A = softmax(β ξ Xᵀ) (B x P))`; `A` is what
/// `backward` needs.
pub fn forward<T: Float>(d: Dims, query: &[T], stored: &[T], beta: T) -> Result<(Vec<T>, Vec<T>)> {
    check(d, query, stored, beta)?;
    let mut a = vec![T::ZERO; d.batch * d.patterns];
    let mut out = vec![T::ZERO; d.batch * d.dim];
    crate::par::install(|| {
        gemm(
            Parallelism::Pool,
            &mut a,
            d.patterns,
            Op::new(query, d.batch, d.dim),
            Op::new(stored, d.patterns, d.dim).t(),
            beta,
            false,
        );
        softmax_rows(&mut a, d.patterns);
        gemm(
            Parallelism::Pool,
            &mut out,
            d.dim,
            Op::new(&a, d.batch, d.patterns),
            Op::new(stored, d.patterns, d.dim),
            T::ONE,
            false,
        );
    });
    Ok((out, a))
}

/// Gradients of the retrieval: `(dquery, dpatterns, dbeta)` from `dout`.
/// With `S = β ξ Xᵀ`, `A = softmax(S)`: `dA = dout X`,
/// `dS = A ∘ (dA - rowsum(A ∘ dA))`, `dξ = β dS X`,
/// `dX = Aᵀ dout + β dSᵀ ξ`, `dβ = Σ dS ∘ (ξ Xᵀ)`.
pub fn backward<T: Float>(
    d: Dims,
    query: &[T],
    stored: &[T],
    beta: T,
    attn: &[T],
    dout: &[T],
) -> Result<(Vec<T>, Vec<T>, T)> {
    check(d, query, stored, beta)?;
    if attn.len() != d.batch * d.patterns {
        return Err(Error::shape("attn", format!("expected {}x{} values", d.batch, d.patterns)));
    }
    if dout.len() != d.batch * d.dim {
        return Err(Error::shape(
            "dout",
            format!("expected {}x{} values, got {}", d.batch, d.dim, dout.len()),
        ));
    }
    let (b, p, dim) = (d.batch, d.patterns, d.dim);
    let mut ds = vec![T::ZERO; b * p];
    let mut dq = vec![T::ZERO; b * dim];
    let mut dx = vec![T::ZERO; p * dim];
    let mut scores = vec![T::ZERO; b * p];
    crate::par::install(|| {
        let xs = Op::new(stored, p, dim);
        gemm(Parallelism::Pool, &mut ds, p, Op::new(dout, b, dim), xs.t(), T::ONE, false);
        for (drow, arow) in ds.chunks_exact_mut(p).zip(attn.chunks_exact(p)) {
            let dot: T = drow.iter().zip(arow).map(|(&x, &y)| x * y).sum();
            for (x, &y) in drow.iter_mut().zip(arow) {
                *x = y * (*x - dot);
            }
        }
        gemm(Parallelism::Pool, &mut dq, dim, Op::new(&ds, b, p), xs, beta, false);
        gemm(Parallelism::Pool, &mut dx, dim, Op::new(attn, b, p).t(), Op::new(dout, b, dim), T::ONE, false);
        gemm(Parallelism::Pool, &mut dx, dim, Op::new(&ds, b, p).t(), Op::new(query, b, dim), beta, true);
        gemm(Parallelism::Pool, &mut scores, p, Op::new(query, b, dim), xs.t(), T::ONE, false);
    });
    let dbeta = ds.iter().zip(&scores).map(|(&x, &y)| x * y).sum();
    Ok((dq, dx, dbeta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(d: Dims, q: &[f64], x: &[f64], beta: f64, w: &[f64]) -> f64 {
        let (y, _) = forward(d, q, x, beta).unwrap();
        y.iter().zip(w).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let d = Dims { batch: 2, patterns: 3, dim: 4 };
        let q: Vec<f64> = (0..8).map(|i| (i as f64 * 0.7).sin()).collect();
        let x: Vec<f64> = (0..12).map(|i| (i as f64 * 0.3).cos()).collect();
        let w: Vec<f64> = (0..8).map(|i| (i as f64 * 1.1).sin()).collect();
        let beta = 1.7;
        let (_, a) = forward(d, &q, &x, beta).unwrap();
        let (dq, dx, db) = backward(d, &q, &x, beta, &a, &w).unwrap();
        let eps = 1e-6;
        for k in 0..8 {
            let (mut qp, mut qm) = (q.clone(), q.clone());
            qp[k] += eps;
            qm[k] -= eps;
            let num = (loss(d, &qp, &x, beta, &w) - loss(d, &qm, &x, beta, &w)) / (2.0 * eps);
            assert!((num - dq[k]).abs() < 1e-7, "dq[{k}] {num} vs {}", dq[k]);
        }
        for k in 0..12 {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[k] += eps;
            xm[k] -= eps;
            let num = (loss(d, &q, &xp, beta, &w) - loss(d, &q, &xm, beta, &w)) / (2.0 * eps);
            assert!((num - dx[k]).abs() < 1e-7, "dx[{k}] {num} vs {}", dx[k]);
        }
        let num = (loss(d, &q, &x, beta + eps, &w) - loss(d, &q, &x, beta - eps, &w)) / (2.0 * eps);
        assert!((num - db).abs() < 1e-7);
    }

    #[test]
    fn bad_sizes_are_errors() {
        let d = Dims { batch: 1, patterns: 2, dim: 3 };
        assert!(forward(d, &[0.0f64; 3], &[0.0; 5], 1.0).is_err());
        assert!(forward(d, &[0.0f64; 2], &[0.0; 6], 1.0).is_err());
        assert!(forward(d, &[0.0f64; 3], &[0.0; 6], f64::NAN).is_err());
    }
}
