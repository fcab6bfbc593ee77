//! Spectral radius of a sparse matrix by restarted Arnoldi.
//!
//! A Krylov basis `V` of dimension `m` is built with classical Gram–Schmidt
//! applied twice (numerically orthogonal), the eigenvalues of the small
//! Hessenberg matrix `H = Vᵀ A V` (Ritz values) come from faer's dense
//! eigensolver, and the largest in modulus is accepted when its residual
//! `|h_{m+1,m}| |e_mᵀ y|` is below `tol · |λ|`. Otherwise the process restarts
//! from a combination of the leading Ritz vectors (real and imaginary parts,
//! so a complex-conjugate leading pair is kept whole — the case where plain
//! power iteration oscillates and fails). When `m ≥ n` the Krylov space is
//! the whole space and the result is exact up to rounding.

use crate::error::{Error, Result};
use crate::linalg::{gemm, Op};
use crate::reservoir::csr::CsrRef;
use crate::reservoir::init::SeededRng;
use faer::Mat;
use rayon::prelude::*;

/// Tuning of the estimate.
#[derive(Clone, Copy, Debug)]
pub struct SpectralOptions {
    /// Krylov subspace dimension (capped at the matrix size).
    pub krylov_dim: usize,
    /// Relative residual at which a Ritz value is accepted.
    pub tol: f64,
    pub max_restarts: usize,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for SpectralOptions {
    fn default() -> Self {
        SpectralOptions { krylov_dim: 100, tol: 1e-9, max_restarts: 100, seed: 0 }
    }
}

/// The estimate and how it was reached.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpectralEstimate {
    pub radius: f64,
    /// Relative residual of the accepted Ritz pair.
    pub residual: f64,
    pub converged: bool,
    pub restarts: usize,
}

/// Ritz vectors combined into the restart vector.
const RESTART_RITZ: usize = 8;

fn matvec(a: &CsrRef<'_, f64>, x: &[f64], y: &mut [f64]) {
    if a.data.len() >= 50_000 && rayon::current_num_threads() > 1 {
        y.par_chunks_mut(256).enumerate().for_each(|(c, chunk)| {
            for (k, v) in chunk.iter_mut().enumerate() {
                *v = a.row_dot(c * 256 + k, x);
            }
        });
    } else {
        a.matvec(x, y);
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Estimates the spectral radius (largest eigenvalue modulus) of a square
/// CSR matrix.
pub fn spectral_radius(a: CsrRef<'_, f64>, opts: SpectralOptions) -> Result<SpectralEstimate> {
    a.validate()?;
    let n = a.rows;
    if n != a.cols {
        return Err(Error::shape("W", format!("expected a square matrix, got ({}, {})", a.rows, a.cols)));
    }
    if n == 0 {
        return Err(Error::value("W", "empty matrix"));
    }
    if a.data.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite("W: contains NaN or infinity".into()));
    }
    if opts.krylov_dim == 0 || !(opts.tol > 0.0) {
        return Err(Error::value("krylov_dim", "krylov_dim must be >= 1 and tol > 0"));
    }
    if a.data.iter().all(|&v| v == 0.0) {
        return Ok(SpectralEstimate { radius: 0.0, residual: 0.0, converged: true, restarts: 0 });
    }
    let m = opts.krylov_dim.min(n);
    crate::par::install(|| arnoldi(a, n, m, opts))
}

fn arnoldi(a: CsrRef<'_, f64>, n: usize, m: usize, opts: SpectralOptions) -> Result<SpectralEstimate> {
    let mut rng = SeededRng::new(opts.seed, 0xA7);
    let mut v0: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let mut basis = vec![0.0; (m + 1) * n];
    let mut h = vec![0.0; (m + 1) * m];
    let mut coeff = vec![0.0; m + 1];
    let mut w = vec![0.0; n];
    let mut last = SpectralEstimate { radius: 0.0, residual: f64::INFINITY, converged: false, restarts: 0 };
    for restart in 0..=opts.max_restarts {
        let nv = norm(&v0);
        if !(nv > 0.0) {
            return Err(Error::Numerical("spectral radius: restart vector vanished".into()));
        }
        for (d, s) in basis[..n].iter_mut().zip(&v0) {
            *d = s / nv;
        }
        h.fill(0.0);
        let mut k = m; // dimension actually built
        let mut beta = 0.0;
        for j in 0..m {
            let (head, tail) = basis.split_at_mut((j + 1) * n);
            matvec(&a, &head[j * n..], &mut w);
            let scale = norm(&w);
            // Classical Gram–Schmidt, twice: h = Vᵀ w, w -= V h.
            for _ in 0..2 {
                gemm(&mut coeff[..j + 1], 1, Op::new(head, j + 1, n), Op::new(&w, n, 1), 1.0, false);
                gemm(&mut w, 1, Op::new(head, j + 1, n).t(), Op::new(&coeff[..j + 1], j + 1, 1), -1.0, true);
                for (i, c) in coeff[..j + 1].iter().enumerate() {
                    h[i * m + j] += c;
                }
            }
            beta = norm(&w);
            if j + 1 < m + 1 {
                h[(j + 1) * m + j] = if j + 1 < m { beta } else { 0.0 };
            }
            if beta <= 1e-13 * scale.max(f64::MIN_POSITIVE) {
                // Invariant subspace found: its eigenvalues are exact.
                k = j + 1;
                beta = 0.0;
                break;
            }
            for (d, s) in tail[..n].iter_mut().zip(&w) {
                *d = s / beta;
            }
        }
        let hk = Mat::<f64>::from_fn(k, k, |r, c| h[r * m + c]);
        let eig = hk.eigen().map_err(|_| {
            Error::Numerical("spectral radius: Hessenberg eigensolver did not converge".into())
        })?;
        let s = eig.S();
        let u = eig.U();
        let mut order: Vec<usize> = (0..k).collect();
        let modulus = |i: usize| {
            let z = s[i];
            (z.re * z.re + z.im * z.im).sqrt()
        };
        order.sort_by(|&p, &q| modulus(q).partial_cmp(&modulus(p)).unwrap_or(std::cmp::Ordering::Equal));
        let top = order[0];
        let radius = modulus(top);
        let ynorm = (0..k).map(|r| u[(r, top)].re.powi(2) + u[(r, top)].im.powi(2)).sum::<f64>().sqrt();
        let ylast =
            (u[(k - 1, top)].re.powi(2) + u[(k - 1, top)].im.powi(2)).sqrt() / ynorm.max(f64::MIN_POSITIVE);
        let residual = if radius > 0.0 { beta * ylast / radius } else { beta * ylast };
        last = SpectralEstimate {
            radius,
            residual,
            converged: residual <= opts.tol || k == n,
            restarts: restart,
        };
        if last.converged || restart == opts.max_restarts {
            break;
        }
        // Restart from the leading Ritz vectors, each normalised, real and
        // imaginary parts together.
        v0.fill(0.0);
        for &e in order.iter().take(RESTART_RITZ.min(k)) {
            let yn = (0..k).map(|r| u[(r, e)].re.powi(2) + u[(r, e)].im.powi(2)).sum::<f64>().sqrt();
            let coeffs: Vec<f64> =
                (0..k).map(|r| (u[(r, e)].re + u[(r, e)].im) / yn.max(f64::MIN_POSITIVE)).collect();
            gemm(&mut v0, 1, Op::new(&basis[..k * n], k, n).t(), Op::new(&coeffs, k, 1), 1.0, true);
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservoir::csr::Csr;
    use crate::reservoir::init::{sparse_random, Distribution};

    #[test]
    fn exact_on_a_rotation_block_where_power_iteration_fails() {
        // Block diag( 2 * rotation(0.3), 1.5, -1 ): leading eigenvalues are a
        // complex pair of modulus 2.
        let (c, s) = (2.0 * 0.3f64.cos(), 2.0 * 0.3f64.sin());
        let m = Csr {
            rows: 4,
            cols: 4,
            indptr: vec![0, 2, 4, 5, 6],
            indices: vec![0, 1, 0, 1, 2, 3],
            data: vec![c, -s, s, c, 1.5, -1.0],
        };
        let e = spectral_radius(m.as_ref(), SpectralOptions::default()).unwrap();
        assert!((e.radius - 2.0).abs() < 1e-12, "{e:?}");
    }

    #[test]
    fn restarted_estimate_agrees_with_the_full_space() {
        let n = 300;
        let m = sparse_random(n, n, 0.1, Distribution::Normal, 1.0, 5, 0).unwrap();
        let exact =
            spectral_radius(m.as_ref(), SpectralOptions { krylov_dim: n, ..Default::default() }).unwrap();
        let est = spectral_radius(
            m.as_ref(),
            SpectralOptions { krylov_dim: 60, tol: 1e-10, max_restarts: 400, seed: 1 },
        )
        .unwrap();
        assert!(est.converged, "{est:?}");
        assert!((est.radius - exact.radius).abs() < 1e-6 * exact.radius, "{est:?} vs {exact:?}");
    }
}
