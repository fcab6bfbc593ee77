//! Streaming ridge regression: sufficient statistics accumulated in float64
//! (`XᵀX`, `XᵀY`, column sums, count), summed across chunks, sequences or
//! machines, and solved by Cholesky. Memory is O(features²), independent of
//! the number of time steps.
//!
//! With an intercept the problem is centred through the sums (the intercept
//! is not regularised, as in scikit-learn):
//!
//! ```text
//! A = XᵀX - n μx μxᵀ + α I,   B = XᵀY - n μx μyᵀ,   W = A⁻¹ B,   b = μy - Wᵀ μx
//! ```

use crate::error::{checked_size, Error, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op};
use faer::prelude::Solve;
use faer::{Mat, Side};

/// Rows converted to float64 per GEMM (bounds the temporary copy; fixed, so
/// the summation order never depends on the thread count).
const CHUNK_ROWS: usize = 2048;

/// Adds a block of samples to the statistics. `x`: `(rows, f)`, `y`:
/// `(rows, o)`; `xtx`: `(f, f)`, `xty`: `(f, o)`, `sx`: `(f,)`, `sy`: `(o,)`.
#[allow(clippy::too_many_arguments)]
pub fn ridge_accumulate<T: Float>(
    xtx: &mut [f64],
    xty: &mut [f64],
    sx: &mut [f64],
    sy: &mut [f64],
    x: &[T],
    y: &[T],
    f: usize,
    o: usize,
) -> Result<()> {
    if f == 0 || o == 0 {
        return Err(Error::value("X", "need at least one feature and one target"));
    }
    if xtx.len() != checked_size(&[f, f], "XtX")?
        || xty.len() != checked_size(&[f, o], "XtY")?
        || sx.len() != f
        || sy.len() != o
    {
        return Err(Error::shape(
            "statistics",
            format!("expected XtX ({f}, {f}), XtY ({f}, {o}), sums ({f},), ({o},)"),
        ));
    }
    if x.len() % f != 0 || y.len() % o != 0 || x.len() / f != y.len() / o {
        return Err(Error::shape(
            "y",
            format!("X has {} rows of {f}, y has {} rows of {o}", x.len() / f, y.len() / o),
        ));
    }
    crate::reservoir::run::check_finite(x, "X")?;
    crate::reservoir::run::check_finite(y, "y")?;
    let rows = x.len() / f;
    crate::par::install(|| {
        let mut start = 0;
        while start < rows {
            let len = CHUNK_ROWS.min(rows - start);
            let xc: Vec<f64> = x[start * f..(start + len) * f].iter().map(|v| v.to_f64()).collect();
            let yc: Vec<f64> = y[start * o..(start + len) * o].iter().map(|v| v.to_f64()).collect();
            gemm(xtx, f, Op::new(&xc, len, f).t(), Op::new(&xc, len, f), 1.0, true);
            gemm(xty, o, Op::new(&xc, len, f).t(), Op::new(&yc, len, o), 1.0, true);
            for r in 0..len {
                for (s, v) in sx.iter_mut().zip(&xc[r * f..(r + 1) * f]) {
                    *s += v;
                }
                for (s, v) in sy.iter_mut().zip(&yc[r * o..(r + 1) * o]) {
                    *s += v;
                }
            }
            start += len;
        }
    });
    Ok(())
}

/// Readout weights `(f, o)` and intercept `(o,)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeSolution {
    pub coef: Vec<f64>,
    pub intercept: Vec<f64>,
}

/// Solves the ridge problem from accumulated statistics by Cholesky.
/// Fails with `Error::Numerical` (naming the remedy) when the regularised
/// Gram matrix is not numerically positive definite.
#[allow(clippy::too_many_arguments)]
pub fn ridge_solve(
    xtx: &[f64],
    xty: &[f64],
    sx: &[f64],
    sy: &[f64],
    count: f64,
    alpha: f64,
    fit_intercept: bool,
    f: usize,
    o: usize,
) -> Result<RidgeSolution> {
    if !(alpha >= 0.0 && alpha.is_finite()) {
        return Err(Error::value("alpha", format!("expected a finite value >= 0, got {alpha}")));
    }
    if !(count >= 1.0) {
        return Err(Error::value("Ridge", "no samples accumulated: call partial_fit first"));
    }
    if xtx.len() != checked_size(&[f, f], "XtX")?
        || xty.len() != checked_size(&[f, o], "XtY")?
        || sx.len() != f
        || sy.len() != o
    {
        return Err(Error::shape(
            "statistics",
            format!("expected XtX ({f}, {f}), XtY ({f}, {o}), sums ({f},), ({o},)"),
        ));
    }
    let (mx, my): (Vec<f64>, Vec<f64>) = if fit_intercept {
        (sx.iter().map(|s| s / count).collect(), sy.iter().map(|s| s / count).collect())
    } else {
        (vec![0.0; f], vec![0.0; o])
    };
    let a = Mat::<f64>::from_fn(f, f, |r, c| {
        xtx[r * f + c] - count * mx[r] * mx[c] + if r == c { alpha } else { 0.0 }
    });
    let b = Mat::<f64>::from_fn(f, o, |r, c| xty[r * o + c] - count * mx[r] * my[c]);
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
    let intercept =
        (0..o)
            .map(|c| {
                if fit_intercept {
                    my[c] - (0..f).map(|r| mx[r] * coef[r * o + c]).sum::<f64>()
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
    fn recovers_a_linear_map_with_intercept_and_chunks_add_up() {
        let (rows, f, o) = (5000, 4, 2);
        let x: Vec<f64> =
            (0..rows * f).map(|k| ((k * 7919) % 1000) as f64 / 500.0 - 1.0 + (k as f64).sin()).collect();
        let w_true = [1.0, -2.0, 0.5, 0.0, 3.0, 1.0, -1.0, 0.25];
        let mut y = vec![0.0; rows * o];
        for r in 0..rows {
            for c in 0..o {
                y[r * o + c] =
                    0.7 * c as f64 - 0.3 + (0..f).map(|k| x[r * f + k] * w_true[k * o + c]).sum::<f64>();
            }
        }
        let (mut a, mut b, mut sx, mut sy) = (vec![0.0; f * f], vec![0.0; f * o], vec![0.0; f], vec![0.0; o]);
        ridge_accumulate(&mut a, &mut b, &mut sx, &mut sy, &x, &y, f, o).unwrap();
        let sol = ridge_solve(&a, &b, &sx, &sy, rows as f64, 0.0, true, f, o).unwrap();
        for (g, w) in sol.coef.iter().zip(&w_true) {
            assert!((g - w).abs() < 1e-8, "{g} vs {w}");
        }
        assert!((sol.intercept[0] + 0.3).abs() < 1e-8 && (sol.intercept[1] - 0.4).abs() < 1e-8);
        // Two halves accumulated separately sum to the same statistics.
        let (mut a2, mut b2, mut sx2, mut sy2) =
            (vec![0.0; f * f], vec![0.0; f * o], vec![0.0; f], vec![0.0; o]);
        let h = rows / 2;
        ridge_accumulate(&mut a2, &mut b2, &mut sx2, &mut sy2, &x[..h * f], &y[..h * o], f, o).unwrap();
        ridge_accumulate(&mut a2, &mut b2, &mut sx2, &mut sy2, &x[h * f..], &y[h * o..], f, o).unwrap();
        for (p, q) in a.iter().zip(&a2) {
            assert!((p - q).abs() < 1e-9 * (1.0 + p.abs()));
        }
    }

    #[test]
    fn singular_without_regularisation_is_a_clear_error() {
        let x = vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
        let y = vec![1.0, 2.0, 3.0];
        let (mut a, mut b, mut sx, mut sy) = (vec![0.0; 4], vec![0.0; 2], vec![0.0; 2], vec![0.0; 1]);
        ridge_accumulate(&mut a, &mut b, &mut sx, &mut sy, &x, &y, 2, 1).unwrap();
        let e = ridge_solve(&a, &b, &sx, &sy, 3.0, 0.0, false, 2, 1).unwrap_err();
        assert!(matches!(e, Error::Numerical(_)));
        assert!(ridge_solve(&a, &b, &sx, &sy, 3.0, 1e-3, false, 2, 1).is_ok());
        assert!(ridge_solve(&a, &b, &sx, &sy, 3.0, -1.0, false, 2, 1).is_err());
    }
}
