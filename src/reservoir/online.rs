//! Online readouts: recursive least squares (with forgetting factor) and
//! least mean squares, updated sample by sample in float64.
//!
//! RLS, per sample `x` (features) and target `y`:
//!
//! ```text
//! k = P x / (λ + xᵀ P x),   e = y - Wᵀ x,   W += k eᵀ,   P = (P - k xᵀ P) / λ
//! ```
//!
//! LMS: `W += η x eᵀ`. An intercept is a constant feature added by the caller.

use crate::error::{checked_size, Error, Result};
use crate::float::Float;
use rayon::prelude::*;

/// Rows of P per parallel task (rows are independent; no cross-thread sums).
const ROW_CHUNK: usize = 32;

fn check(w: &[f64], x_len: usize, y_len: usize, f: usize, o: usize) -> Result<usize> {
    if f == 0 || o == 0 {
        return Err(Error::value("X", "need at least one feature and one target"));
    }
    if w.len() != checked_size(&[f, o], "W")? {
        return Err(Error::shape("W", format!("expected ({f}, {o}), got {} values", w.len())));
    }
    if !x_len.is_multiple_of(f) || !y_len.is_multiple_of(o) || x_len / f != y_len / o {
        return Err(Error::shape(
            "y",
            format!("X has {} rows of {f}, y has {} rows of {o}", x_len / f, y_len / o),
        ));
    }
    Ok(x_len / f)
}

/// Runs RLS over the rows of `x` `(rows, f)` / `y` `(rows, o)`, updating
/// `p` `(f, f)` and `w` `(f, o)` in place. Returns the a-priori errors
/// `(rows, o)` (prediction before each update).
#[allow(clippy::too_many_arguments)]
pub fn rls_update<T: Float>(
    p: &mut [f64],
    w: &mut [f64],
    x: &[T],
    y: &[T],
    f: usize,
    o: usize,
    forgetting: f64,
) -> Result<Vec<f64>> {
    let rows = check(w, x.len(), y.len(), f, o)?;
    if p.len() != checked_size(&[f, f], "P")? {
        return Err(Error::shape("P", format!("expected ({f}, {f}), got {} values", p.len())));
    }
    if !(forgetting > 0.0 && forgetting <= 1.0) {
        return Err(Error::value("forgetting", format!("expected a value in (0, 1], got {forgetting}")));
    }
    crate::reservoir::run::check_finite(x, "X")?;
    crate::reservoir::run::check_finite(y, "y")?;
    let mut errors = vec![0.0; rows * o];
    let mut px = vec![0.0; f];
    let mut xs = vec![0.0; f];
    // One thread: serial (`par::install` then runs on the caller, where rayon
    // would use its global pool).
    let parallel = f >= 256 && crate::par::num_threads() > 1;
    crate::par::install(|| {
        for t in 0..rows {
            for (d, s) in xs.iter_mut().zip(&x[t * f..(t + 1) * f]) {
                *d = s.to_f64();
            }
            let row_dot = |r: usize| p[r * f..(r + 1) * f].iter().zip(&xs).fold(0.0, |a, (&u, &v)| a + u * v);
            if parallel {
                px.par_iter_mut().enumerate().for_each(|(r, v)| *v = row_dot(r));
            } else {
                px.iter_mut().enumerate().for_each(|(r, v)| *v = row_dot(r));
            }
            let denom = forgetting + xs.iter().zip(&px).fold(0.0, |a, (&u, &v)| a + u * v);
            let e = &mut errors[t * o..(t + 1) * o];
            for (c, ec) in e.iter_mut().enumerate() {
                let pred = (0..f).fold(0.0, |a, r| a + w[r * o + c] * xs[r]);
                *ec = y[t * o + c].to_f64() - pred;
            }
            for r in 0..f {
                let k = px[r] / denom;
                for c in 0..o {
                    w[r * o + c] += k * e[c];
                }
            }
            // P = (P - px pxᵀ / denom) / λ  (P stays symmetric).
            let inv_l = 1.0 / forgetting;
            let update = |(r, chunk): (usize, &mut [f64])| {
                for (k, row) in chunk.chunks_mut(f).enumerate() {
                    let kr = px[r * ROW_CHUNK + k] / denom;
                    for (v, &pc) in row.iter_mut().zip(&px) {
                        *v = (*v - kr * pc) * inv_l;
                    }
                }
            };
            if parallel {
                p.par_chunks_mut(ROW_CHUNK * f).enumerate().for_each(update);
            } else {
                p.chunks_mut(ROW_CHUNK * f).enumerate().for_each(update);
            }
        }
    });
    if w.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(
            "RLS diverged (non-finite weights): use a forgetting factor closer to 1 or a smaller initial P"
                .into(),
        ));
    }
    Ok(errors)
}

/// Runs LMS with learning rate `eta`, updating `w` `(f, o)` in place.
/// Returns the a-priori errors `(rows, o)`.
pub fn lms_update<T: Float>(
    w: &mut [f64],
    x: &[T],
    y: &[T],
    f: usize,
    o: usize,
    eta: f64,
) -> Result<Vec<f64>> {
    let rows = check(w, x.len(), y.len(), f, o)?;
    if !(eta > 0.0 && eta.is_finite()) {
        return Err(Error::value("learning_rate", format!("expected a finite value > 0, got {eta}")));
    }
    crate::reservoir::run::check_finite(x, "X")?;
    crate::reservoir::run::check_finite(y, "y")?;
    let mut errors = vec![0.0; rows * o];
    for t in 0..rows {
        let xs = &x[t * f..(t + 1) * f];
        for c in 0..o {
            let pred = (0..f).fold(0.0, |a, r| a + w[r * o + c] * xs[r].to_f64());
            errors[t * o + c] = y[t * o + c].to_f64() - pred;
        }
        for r in 0..f {
            let xr = eta * xs[r].to_f64();
            for c in 0..o {
                w[r * o + c] += xr * errors[t * o + c];
            }
        }
    }
    if w.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(
            "LMS diverged (non-finite weights): use a smaller learning_rate".into(),
        ));
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(rows: usize, f: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rng = crate::reservoir::SeededRng::new(3, 0);
        let x: Vec<f64> = (0..rows * f).map(|_| rng.normal()).collect();
        let w_true: Vec<f64> = (0..f).map(|k| k as f64 * 0.5 - 1.0).collect();
        let y: Vec<f64> = (0..rows).map(|r| (0..f).map(|k| x[r * f + k] * w_true[k]).sum()).collect();
        (x, y, w_true)
    }

    #[test]
    fn rls_converges_to_the_least_squares_solution() {
        let (rows, f) = (300, 5);
        let (x, y, w_true) = problem(rows, f);
        let mut p = vec![0.0; f * f];
        for k in 0..f {
            p[k * f + k] = 1e6;
        }
        let mut w = vec![0.0; f];
        rls_update(&mut p, &mut w, &x, &y, f, 1, 1.0).unwrap();
        for (a, b) in w.iter().zip(&w_true) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn lms_reduces_the_error() {
        let (rows, f) = (4000, 3);
        let (x, y, w_true) = problem(rows, f);
        let mut w = vec![0.0; f];
        let e = lms_update(&mut w, &x, &y, f, 1, 0.02).unwrap();
        let tail = e[rows - 100..].iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(tail < 1e-3 * e[0].abs().max(1.0), "{tail}");
        for (a, b) in w.iter().zip(&w_true) {
            assert!((a - b).abs() < 1e-2, "{a} vs {b}");
        }
        assert!(lms_update(&mut w, &x, &y, f, 1, -1.0).is_err());
    }
}
