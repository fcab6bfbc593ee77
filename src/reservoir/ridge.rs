//! Streaming ridge regression: sufficient statistics accumulated in float64
//! and merged across chunks, sequences or machines, solved by Cholesky.
//! Memory is O(features²), independent of the number of time steps.
//!
//! The statistics are the count `n`, the means `μx`, `μy` and the centred
//! co-moments `Cxx = Σ (x-μx)(x-μx)ᵀ`, `Cxy = Σ (x-μx)(y-μy)ᵀ`. Each chunk is
//! centred on its own mean and merged with Chan et al.'s pairwise update
//! (`C = C₁ + C₂ + n₁n₂/n δδᵀ`, `δ = μ₂ - μ₁`), which avoids the cancellation
//! of `XᵀX - n μμᵀ` when states have large means (saturated units).
//!
//! With an intercept (not regularised, as in scikit-learn):
//! `W = (Cxx + α I)⁻¹ Cxy`, `b = μy - Wᵀ μx`; without:
//! `W = (XᵀX + α I)⁻¹ XᵀY` with `XᵀX = Cxx + n μx μxᵀ`.

use crate::error::{checked_size, Error, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op, Parallelism};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::prelude::Solve;
use faer::{Accum, Mat, MatMut, MatRef, Side};

/// Rows per centred GEMM (bounds the temporary copy; fixed, so the
/// summation order never depends on the thread count).
const CHUNK_ROWS: usize = 4096;

/// `c = xᵀ x` for `x` `(rows, f)` row-major: only the lower triangle is
/// computed (half the multiply-adds of a GEMM), then mirrored, so `c` is
/// exactly symmetric.
fn gram(c: &mut [f64], x: &[f64], rows: usize, f: usize) {
    // Row-major (rows x f) is column-major (f x rows), i.e. xᵀ.
    let xt = MatRef::from_column_major_slice(&x[..rows * f], f, rows);
    let cm = MatMut::from_column_major_slice_mut(&mut c[..f * f], f, f);
    let par = crate::par::gemm_par(f.saturating_mul(f).saturating_mul(rows) / 2);
    triangular::matmul(
        cm,
        BlockStructure::TriangularLower,
        Accum::Replace,
        xt,
        BlockStructure::Rectangular,
        xt.transpose(),
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    // Column-major lower triangle (i >= j at i + j f) to the upper one.
    for j in 0..f {
        for i in 0..j {
            c[i + j * f] = c[j + i * f];
        }
    }
}

/// Running statistics, borrowed mutably (e.g. from NumPy arrays).
pub struct RidgeStats<'a> {
    /// `(f, f)`.
    pub cxx: &'a mut [f64],
    /// `(f, o)`.
    pub cxy: &'a mut [f64],
    pub mean_x: &'a mut [f64],
    pub mean_y: &'a mut [f64],
    /// Samples so far.
    pub count: f64,
}

/// Merges a block `(n2, μ2x, μ2y, C2xx, C2xy)` into `s` (Chan's update).
#[allow(clippy::too_many_arguments)]
pub fn merge_stats(
    s: &mut RidgeStats<'_>,
    n2: f64,
    mx2: &[f64],
    my2: &[f64],
    cxx2: &[f64],
    cxy2: &[f64],
    f: usize,
    o: usize,
) {
    if n2 <= 0.0 {
        return;
    }
    let n1 = s.count;
    let n = n1 + n2;
    let dx: Vec<f64> = mx2.iter().zip(s.mean_x.iter()).map(|(a, b)| a - b).collect();
    let dy: Vec<f64> = my2.iter().zip(s.mean_y.iter()).map(|(a, b)| a - b).collect();
    let w = n1 * n2 / n;
    for r in 0..f {
        for c in 0..f {
            s.cxx[r * f + c] += cxx2[r * f + c] + w * dx[r] * dx[c];
        }
        for c in 0..o {
            s.cxy[r * o + c] += cxy2[r * o + c] + w * dx[r] * dy[c];
        }
    }
    for (m, d) in s.mean_x.iter_mut().zip(&dx) {
        *m += d * (n2 / n);
    }
    for (m, d) in s.mean_y.iter_mut().zip(&dy) {
        *m += d * (n2 / n);
    }
    s.count = n;
}

/// Adds a block of samples `x` `(rows, f)`, `y` `(rows, o)` to the statistics;
/// returns the new count.
pub fn ridge_accumulate<T: Float>(
    s: &mut RidgeStats<'_>,
    x: &[T],
    y: &[T],
    f: usize,
    o: usize,
) -> Result<f64> {
    if f == 0 || o == 0 {
        return Err(Error::value("X", "need at least one feature and one target"));
    }
    if s.cxx.len() != checked_size(&[f, f], "Cxx")?
        || s.cxy.len() != checked_size(&[f, o], "Cxy")?
        || s.mean_x.len() != f
        || s.mean_y.len() != o
    {
        return Err(Error::shape("statistics", format!("expected ({f}, {f}), ({f}, {o}), ({f},), ({o},)")));
    }
    if !x.len().is_multiple_of(f) || !y.len().is_multiple_of(o) || x.len() / f != y.len() / o {
        return Err(Error::shape(
            "y",
            format!("X has {} rows of {f}, y has {} rows of {o}", x.len() / f, y.len() / o),
        ));
    }
    crate::reservoir::run::check_finite(x, "X")?;
    crate::reservoir::run::check_finite(y, "y")?;
    let rows = x.len() / f;
    // The block's own statistics are merged into `s` only at the end, so an
    // interrupted call (Ctrl-C) leaves `s` as it was.
    let (mut bxx, mut bxy, mut bmx, mut bmy) =
        (vec![0.0; f * f], vec![0.0; f * o], vec![0.0; f], vec![0.0; o]);
    let mut block =
        RidgeStats { cxx: &mut bxx, cxy: &mut bxy, mean_x: &mut bmx, mean_y: &mut bmy, count: 0.0 };
    crate::par::install(|| -> Result<()> {
        let s = &mut block;
        let mut cxx2 = vec![0.0; f * f];
        let mut cxy2 = vec![0.0; f * o];
        let mut start = 0;
        while start < rows {
            crate::interrupt::check()?;
            let len = CHUNK_ROWS.min(rows - start);
            let mut xc: Vec<f64> = x[start * f..(start + len) * f].iter().map(|v| v.to_f64()).collect();
            let mut yc: Vec<f64> = y[start * o..(start + len) * o].iter().map(|v| v.to_f64()).collect();
            let mut mx = vec![0.0; f];
            let mut my = vec![0.0; o];
            for r in 0..len {
                mx.iter_mut().zip(&xc[r * f..(r + 1) * f]).for_each(|(m, v)| *m += v);
                my.iter_mut().zip(&yc[r * o..(r + 1) * o]).for_each(|(m, v)| *m += v);
            }
            mx.iter_mut().for_each(|m| *m /= len as f64);
            my.iter_mut().for_each(|m| *m /= len as f64);
            for r in 0..len {
                xc[r * f..(r + 1) * f].iter_mut().zip(&mx).for_each(|(v, m)| *v -= m);
                yc[r * o..(r + 1) * o].iter_mut().zip(&my).for_each(|(v, m)| *v -= m);
            }
            gram(&mut cxx2, &xc, len, f);
            gemm(Parallelism::Pool, &mut cxy2, o, Op::new(&xc, len, f).t(), Op::new(&yc, len, o), 1.0, false);
            merge_stats(s, len as f64, &mx, &my, &cxx2, &cxy2, f, o);
            start += len;
        }
        Ok(())
    })?;
    crate::interrupt::check()?;
    merge_stats(s, block.count, block.mean_x, block.mean_y, block.cxx, block.cxy, f, o);
    Ok(s.count)
}

/// Readout weights `(f, o)` and intercept `(o,)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeSolution {
    pub coef: Vec<f64>,
    pub intercept: Vec<f64>,
}

/// Solves the ridge problem from the statistics by Cholesky. Fails with
/// `Error::Numerical` (naming the remedy) when the regularised matrix is not
/// numerically positive definite.
#[allow(clippy::too_many_arguments)]
pub fn ridge_solve(
    cxx: &[f64],
    cxy: &[f64],
    mean_x: &[f64],
    mean_y: &[f64],
    count: f64,
    alpha: f64,
    fit_intercept: bool,
    f: usize,
    o: usize,
) -> Result<RidgeSolution> {
    if !(alpha >= 0.0 && alpha.is_finite()) {
        return Err(Error::value("alpha", format!("expected a finite value >= 0, got {alpha}")));
    }
    if count.is_nan() || count < 1.0 {
        return Err(Error::value("Ridge", "no samples accumulated: call partial_fit first"));
    }
    if cxx.len() != checked_size(&[f, f], "Cxx")?
        || cxy.len() != checked_size(&[f, o], "Cxy")?
        || mean_x.len() != f
        || mean_y.len() != o
    {
        return Err(Error::shape("statistics", format!("expected ({f}, {f}), ({f}, {o}), ({f},), ({o},)")));
    }
    // Without an intercept the raw moments are needed: add the means back.
    let raw = if fit_intercept { 0.0 } else { count };
    let a = Mat::<f64>::from_fn(f, f, |r, c| {
        cxx[r * f + c] + raw * mean_x[r] * mean_x[c] + if r == c { alpha } else { 0.0 }
    });
    let b = Mat::<f64>::from_fn(f, o, |r, c| cxy[r * o + c] + raw * mean_x[r] * mean_y[c]);
    if a.col_iter().any(|col| col.iter().any(|v| !v.is_finite())) {
        return Err(Error::NonFinite("Ridge: accumulated statistics contain NaN or infinity".into()));
    }
    let llt = crate::par::install(|| a.llt(Side::Lower)).map_err(|_| {
        Error::Numerical(format!(
            "Ridge: XᵀX + alpha·I is not positive definite (alpha = {alpha}); \
             the features are (nearly) collinear: use a larger alpha"
        ))
    })?;
    let w = llt.solve(&b);
    let mut coef = vec![0.0; f * o];
    for r in 0..f {
        for c in 0..o {
            coef[r * o + c] = w[(r, c)];
        }
    }
    if coef.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical("Ridge: the solution is not finite; use a larger alpha".into()));
    }
    let intercept = (0..o)
        .map(|c| {
            if fit_intercept {
                mean_y[c] - (0..f).map(|r| mean_x[r] * coef[r * o + c]).sum::<f64>()
            } else {
                0.0
            }
        })
        .collect();
    Ok(RidgeSolution { coef, intercept })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_is_the_symmetric_product() {
        let (rows, f) = (37, 11);
        let x: Vec<f64> = (0..rows * f).map(|k| (k as f64 * 0.61).sin()).collect();
        let mut c = vec![f64::NAN; f * f];
        gram(&mut c, &x, rows, f);
        for i in 0..f {
            for j in 0..f {
                let want: f64 = (0..rows).map(|r| x[r * f + i] * x[r * f + j]).sum();
                assert!((c[i * f + j] - want).abs() < 1e-12 * want.abs().max(1.0));
                assert_eq!(c[i * f + j], c[j * f + i]);
            }
        }
    }

    struct Owned {
        cxx: Vec<f64>,
        cxy: Vec<f64>,
        mx: Vec<f64>,
        my: Vec<f64>,
        count: f64,
    }

    impl Owned {
        fn new(f: usize, o: usize) -> Self {
            Owned {
                cxx: vec![0.0; f * f],
                cxy: vec![0.0; f * o],
                mx: vec![0.0; f],
                my: vec![0.0; o],
                count: 0.0,
            }
        }
        fn add(&mut self, x: &[f64], y: &[f64], f: usize, o: usize) {
            let mut s = RidgeStats {
                cxx: &mut self.cxx,
                cxy: &mut self.cxy,
                mean_x: &mut self.mx,
                mean_y: &mut self.my,
                count: self.count,
            };
            self.count = ridge_accumulate(&mut s, x, y, f, o).unwrap();
        }
        fn solve(&self, alpha: f64, icpt: bool, f: usize, o: usize) -> Result<RidgeSolution> {
            ridge_solve(&self.cxx, &self.cxy, &self.mx, &self.my, self.count, alpha, icpt, f, o)
        }
    }

    #[test]
    fn recovers_a_linear_map_with_intercept_and_chunks_add_up() {
        let (rows, f, o) = (9000, 4, 2);
        let mut rng = crate::reservoir::SeededRng::new(1, 0);
        let x: Vec<f64> = (0..rows * f).map(|_| rng.normal() + 5.0).collect();
        let w_true = [1.0, -2.0, 0.5, 0.0, 3.0, 1.0, -1.0, 0.25];
        let mut y = vec![0.0; rows * o];
        for r in 0..rows {
            for c in 0..o {
                y[r * o + c] =
                    0.7 * c as f64 - 0.3 + (0..f).map(|k| x[r * f + k] * w_true[k * o + c]).sum::<f64>();
            }
        }
        let mut all = Owned::new(f, o);
        all.add(&x, &y, f, o);
        let sol = all.solve(0.0, true, f, o).unwrap();
        for (g, w) in sol.coef.iter().zip(&w_true) {
            assert!((g - w).abs() < 1e-9, "{g} vs {w}");
        }
        assert!((sol.intercept[0] + 0.3).abs() < 1e-8 && (sol.intercept[1] - 0.4).abs() < 1e-8);
        let raw = all.solve(0.0, false, f, o).unwrap();
        assert!(
            raw.coef.iter().zip(&w_true).any(|(g, w)| (g - w).abs() > 1e-6),
            "no intercept: biased fit expected"
        );
        // Two halves accumulated one after the other give the same statistics.
        let mut two = Owned::new(f, o);
        let h = 1234;
        two.add(&x[..h * f], &y[..h * o], f, o);
        two.add(&x[h * f..], &y[h * o..], f, o);
        assert_eq!(two.count, rows as f64);
        for (p, q) in all.cxx.iter().zip(&two.cxx) {
            assert!((p - q).abs() < 1e-9 * (1.0 + p.abs()));
        }
    }

    #[test]
    fn singular_without_regularisation_is_a_clear_error() {
        let x = vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
        let y = vec![1.0, 2.0, 3.0];
        let mut s = Owned::new(2, 1);
        s.add(&x, &y, 2, 1);
        let e = s.solve(0.0, false, 2, 1).unwrap_err();
        assert!(matches!(e, Error::Numerical(_)));
        assert!(s.solve(1e-3, false, 2, 1).is_ok());
        assert!(s.solve(-1.0, false, 2, 1).is_err());
    }
}
