//! Spectral radius of a sparse matrix by restarted Arnoldi.
//!
//! A Krylov basis `V` of dimension `m` is built with classical Gram–Schmidt
//! applied twice (numerically orthogonal), the eigenvalues of the small
//! Hessenberg matrix `H = Vᵀ A V` (Ritz values) come from faer's dense
//! eigensolver, and the largest in modulus is accepted when its residual
//! `|h_{m+1,m}| |e_mᵀ y|` is below `tol · |λ|`. Otherwise the process restarts
//! keeping the leading Ritz vectors (real and imaginary parts, so a
//! complex-conjugate leading pair is kept whole — the case where plain power
//! iteration oscillates and fails). When `m ≥ n` the Krylov space is
//! the whole space and the result is exact up to rounding.
//!
//! Restarts are "thick" (Krylov–Schur without explicit Schur reordering):
//! the leading Ritz vectors' span `Z` (orthonormal, an invariant subspace of
//! the projected matrix) is kept, giving `A (V Z) = (V Z)(Zᵀ H Z) + β v e_mᵀ Z`,
//! and the basis is extended by Arnoldi from `v`.
//!
//! Above 500 units the process first runs on a compact copy of the matrix
//! (`u16` indices, `f32` values: half the bytes of the memory-bound product),
//! and its leading Ritz vector seeds a second run on the exact matrix, which
//! converges within a few steps (see `COMPACT_MIN_SIZE`).
//!
//! Gram–Schmidt passes are repeated only when a pass cancelled most of the
//! vector (DGKS), and both matrices go through the row kernels' vector path
//! (`rowdot`). At N = 5000 (connectivity 0.1) the estimate costs 580-820
//! products with the compact matrix and 56-100 with the exact one (three
//! seeds). The compact phase hands over at 10 `tol`, and convergence is
//! checked within a cycle once the last cycles' residuals predict it (see
//! `Plan`). Every pass over the Krylov basis is written out here with a
//! fixed summation order per entry, so the estimate has the same bits on
//! any number of threads.

use crate::error::{Error, Result};
use crate::reservoir::csr::CsrRef;
use crate::reservoir::init::SeededRng;
use crate::reservoir::rowdot::{Compact, RowKernel};
use faer::Mat;
use rayon::prelude::*;

/// Tuning of the estimate.
#[derive(Clone, Copy, Debug)]
pub struct SpectralOptions {
    /// Krylov subspace dimension (capped at the matrix size). Too small a
    /// space can accept an eigenvalue that is not the largest in modulus
    /// when the leading ones crowd together (a random 5000 x 5000 matrix of
    /// connectivity 0.1 did so at 60, not at 100); the default is Python's.
    pub krylov_dim: usize,
    /// Relative residual at which a Ritz value is accepted.
    pub tol: f64,
    pub max_restarts: usize,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for SpectralOptions {
    fn default() -> Self {
        SpectralOptions { krylov_dim: 100, tol: 1e-8, max_restarts: 200, seed: 0 }
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
    /// Products with the matrix (or its compact copy) the estimate took.
    pub products: usize,
}

/// How the estimate restarts and when each phase stops (see `spectral_radius`).
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Ritz vectors kept at a thick restart (out of the Krylov dimension).
    keep: usize,
    /// Residual at which the compact phase hands over to the exact matrix.
    compact_tol: f64,
    /// Steps between convergence checks within a cycle expected to converge
    /// (0: only at the end of a cycle). A check solves the small eigenproblem
    /// (about as long as two products at m = 100), so it is only done when the
    /// residual's drop over the last cycle, repeated once, nearly reaches the
    /// tolerance; it then saves up to a cycle of products.
    check_every: usize,
}

impl Plan {
    /// The compact phase stops at 10 `tol`: its last factor of ten costs more
    /// compact products than the extra exact ones it saves (at N = 5000:
    /// compact + 2 x exact products, the exact product costing about two
    /// compact ones, summed over three seeds: 2479 against 2570).
    fn new(m: usize, opts: &SpectralOptions) -> Self {
        Plan { keep: (m / 2).max(1), compact_tol: 10.0 * opts.tol, check_every: 10 }
    }
}

/// `y[first + k] = rows(first, chunk)` over chunks of 256 rows, threaded
/// when big. The serial run takes the same chunks: a row kernel may group
/// rows (and treat a chunk's last rows apart), so the same chunks on any
/// thread count keep the same bits on every path.
fn by_row_chunks(y: &mut [f64], stored: usize, rows: impl Fn(usize, &mut [f64]) + Sync) {
    if stored >= 50_000 && crate::par::num_threads() > 1 {
        y.par_chunks_mut(256).enumerate().for_each(|(c, chunk)| rows(c * 256, chunk));
    } else {
        y.chunks_mut(256).enumerate().for_each(|(c, chunk)| rows(c * 256, chunk));
    }
}

/// Above this size the estimate starts on a compact copy of the matrix
/// (`rowdot::Compact`: `u16` indices, `f32` values, half the bytes of the
/// memory-bound product). Arnoldi runs on it first; its leading Ritz vector
/// (accurate to the f32 rounding of the values, ~1e-7) then seeds Arnoldi
/// on the exact matrix, which converges within a few steps (checked as it
/// goes, see `arnoldi`), so the result has the exact matrix's accuracy.
const COMPACT_MIN_SIZE: usize = 500;

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Estimates the spectral radius (largest eigenvalue modulus) of a square
/// CSR matrix.
pub fn spectral_radius(a: CsrRef<'_, f64>, opts: SpectralOptions) -> Result<SpectralEstimate> {
    let m = opts.krylov_dim.max(3).min(a.rows);
    estimate(a, opts, Plan::new(m, &opts))
}

fn estimate(a: CsrRef<'_, f64>, opts: SpectralOptions, plan: Plan) -> Result<SpectralEstimate> {
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
    if opts.krylov_dim == 0 || opts.tol.is_nan() || opts.tol <= 0.0 {
        return Err(Error::value("krylov_dim", "krylov_dim must be >= 1 and tol > 0"));
    }
    if a.data.iter().all(|&v| v == 0.0) {
        return Ok(SpectralEstimate {
            radius: 0.0,
            residual: 0.0,
            converged: true,
            restarts: 0,
            products: 0,
        });
    }
    // At least 3 so that a thick restart keeps a conjugate pair and still extends.
    let m = opts.krylov_dim.max(3).min(n);
    let a = RowKernel::new(a)?;
    let mut exact =
        |x: &[f64], y: &mut [f64]| by_row_chunks(y, a.csr().data.len(), |first, out| a.dots(first, x, out));
    let mut rng = SeededRng::new(opts.seed, 0xA7);
    let start: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    crate::par::install(|| {
        if n > COMPACT_MIN_SIZE && m < n {
            if let Some(c) = Compact::new(&a) {
                let mut compact =
                    |x: &[f64], y: &mut [f64]| by_row_chunks(y, c.nnz(), |first, out| c.dots(first, x, out));
                let first_opts = SpectralOptions { tol: plan.compact_tol, ..opts };
                let (first, seed) = arnoldi(&mut compact, n, m, first_opts, plan, &start, false)?;
                if first.converged {
                    if let Ok((refined, _)) = arnoldi(&mut exact, n, m, opts, plan, &seed, true) {
                        return Ok(SpectralEstimate {
                            restarts: first.restarts + refined.restarts,
                            products: first.products + refined.products,
                            ..refined
                        });
                    }
                }
            }
        }
        arnoldi(&mut exact, n, m, opts, plan, &start, false).map(|(e, _)| e)
    })
}

/// Below this ratio of `|w|` after and before a Gram–Schmidt pass, the pass
/// lost too many digits and is repeated (Daniel, Gragg, Kaufman and Stewart
/// 1976, as in ARPACK).
const REORTHOGONALIZE_BELOW: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Vector entries per block of the threaded passes over the basis (the
/// accumulators of a restart's `combine`, 50 x 512 values, stay in L2).
const BLOCK: usize = 512;

/// Whether a pass over `len` basis values is worth the threads.
fn threaded(len: usize) -> bool {
    len >= 200_000 && crate::par::num_threads() > 1
}

/// `coeff[i] = V[i] · w` for the basis vectors `V[i]` (rows of `basis`),
/// each a dot product in one fixed order: the passes over the basis are
/// written out here rather than handed to a threaded GEMM, whose split (and
/// so whose rounding) depends on the number of threads.
fn project(basis: &[f64], n: usize, w: &[f64], coeff: &mut [f64]) {
    let dot = |i: usize| {
        let v = &basis[i * n..(i + 1) * n];
        let mut s = [0.0f64; 4];
        let (vc, wc) = (v.chunks_exact(4), w.chunks_exact(4));
        let tail: f64 = vc.remainder().iter().zip(wc.remainder()).map(|(a, b)| a * b).sum();
        for (a, b) in vc.zip(wc) {
            for l in 0..4 {
                s[l] += a[l] * b[l];
            }
        }
        (s[0] + s[1]) + (s[2] + s[3]) + tail
    };
    if threaded(coeff.len() * n) {
        coeff.par_iter_mut().enumerate().for_each(|(i, c)| *c = dot(i));
    } else {
        coeff.iter_mut().enumerate().for_each(|(i, c)| *c = dot(i));
    }
}

/// `w -= Σ_i coeff[i] V[i]` block by block (each entry in basis order);
/// returns `|w|²` summed block by block in order.
fn subtract(basis: &[f64], n: usize, coeff: &[f64], w: &mut [f64]) -> f64 {
    let block = |b: usize, wb: &mut [f64]| {
        let start = b * BLOCK;
        for (i, &c) in coeff.iter().enumerate() {
            let v = &basis[i * n + start..i * n + start + wb.len()];
            for (x, y) in wb.iter_mut().zip(v) {
                *x -= c * y;
            }
        }
        wb.iter().map(|x| x * x).sum::<f64>()
    };
    let mut sums = vec![0.0; n.div_ceil(BLOCK)];
    if threaded(coeff.len() * n) {
        w.par_chunks_mut(BLOCK)
            .zip(sums.par_iter_mut())
            .enumerate()
            .for_each(|(b, (wb, s))| *s = block(b, wb));
    } else {
        w.chunks_mut(BLOCK).zip(sums.iter_mut()).enumerate().for_each(|(b, (wb, s))| *s = block(b, wb));
    }
    sums.iter().sum()
}

/// `out[c] = Σ_i z[i, c] V[i]` for the `r` columns of `z` (`k x r`
/// row-major, `k` basis vectors), `out` holding `r` vectors of `n` values;
/// block by block, each entry summed in basis order.
fn combine(basis: &[f64], n: usize, z: &[f64], r: usize, out: &mut [f64]) {
    let k = z.len() / r;
    let block = |b: usize| {
        let (start, end) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
        let len = end - start;
        let mut acc = vec![0.0; r * len];
        for i in 0..k {
            let v = &basis[i * n + start..i * n + end];
            for (c, a) in acc.chunks_exact_mut(len).enumerate() {
                let zc = z[i * r + c];
                for (x, y) in a.iter_mut().zip(v) {
                    *x += zc * y;
                }
            }
        }
        acc
    };
    let blocks: Vec<Vec<f64>> = if threaded(k * n) {
        (0..n.div_ceil(BLOCK)).into_par_iter().map(block).collect()
    } else {
        (0..n.div_ceil(BLOCK)).map(block).collect()
    };
    for (b, acc) in blocks.iter().enumerate() {
        let (start, len) = (b * BLOCK, acc.len() / r);
        for (c, a) in acc.chunks_exact(len).enumerate() {
            out[c * n + start..c * n + start + len].copy_from_slice(a);
        }
    }
}

/// `w -= V[..j] (V[..j]ᵀ w)` (classical Gram–Schmidt), repeated once when
/// the pass cancelled most of `w` (the DGKS criterion above); adds the
/// coefficients to column `col` of `h`. Returns `|w|` before and after.
#[allow(clippy::too_many_arguments)]
fn orthogonalize(
    basis: &[f64],
    j: usize,
    n: usize,
    w: &mut [f64],
    coeff: &mut [f64],
    h: &mut [f64],
    m: usize,
    col: usize,
) -> (f64, f64) {
    let before = norm(w);
    let mut previous = before;
    let mut after = before;
    for _ in 0..2 {
        project(&basis[..j * n], n, w, &mut coeff[..j]);
        after = subtract(&basis[..j * n], n, &coeff[..j], w).sqrt();
        for (i, c) in coeff[..j].iter().enumerate() {
            h[i * m + col] += c;
        }
        if after > REORTHOGONALIZE_BELOW * previous {
            break;
        }
        previous = after;
    }
    (before, after)
}

/// Orthonormal basis (columns, `k x r` row-major) of the span of `cols`
/// (each of length `k`), dropping numerically dependent vectors.
fn orthonormal_columns(cols: &[Vec<f64>], k: usize) -> (Vec<f64>, usize) {
    let mut q: Vec<Vec<f64>> = Vec::new();
    for c in cols {
        let mut v = c.clone();
        let n0 = norm(&v);
        for _ in 0..2 {
            for u in &q {
                let d: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
                for (x, y) in v.iter_mut().zip(u) {
                    *x -= d * y;
                }
            }
        }
        let nv = norm(&v);
        if nv > 1e-8 * n0.max(f64::MIN_POSITIVE) {
            v.iter_mut().for_each(|x| *x /= nv);
            q.push(v);
        }
    }
    let r = q.len();
    let mut out = vec![0.0; k * r];
    for (c, v) in q.iter().enumerate() {
        for (i, x) in v.iter().enumerate() {
            out[i * r + c] = *x;
        }
    }
    (out, r)
}

/// A one-thread pool for the small dense eigenproblems (None where no
/// thread can be started: they then run on the caller's pool).
fn serial_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok()).as_ref()
}

/// The Ritz values of the leading `k x k` block of the projected matrix
/// `h` (row stride `m`), in decreasing modulus, and the relative residual of
/// the leading one given `beta = h[k, k - 1]`.
struct Ritz {
    eig: faer::linalg::solvers::Eigen<f64>,
    order: Vec<usize>,
    radius: f64,
    residual: f64,
}

impl Ritz {
    fn new(h: &[f64], m: usize, k: usize, beta: f64) -> Result<Self> {
        let hk = Mat::<f64>::from_fn(k, k, |r, c| h[r * m + c]);
        // faer's `eigen` splits its work by its global parallelism, by
        // default the current rayon pool's size: in a one-thread pool the
        // Ritz values are the same whatever `set_num_threads` says.
        let eig = match serial_pool() {
            Some(pool) => pool.install(|| hk.eigen()),
            None => hk.eigen(),
        }
        .map_err(|_| {
            Error::Numerical("spectral radius: the projected eigenproblem did not converge".into())
        })?;
        let (s, u) = (eig.S(), eig.U());
        let modulus = |i: usize| (s[i].re * s[i].re + s[i].im * s[i].im).sqrt();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&p, &q| modulus(q).partial_cmp(&modulus(p)).unwrap_or(std::cmp::Ordering::Equal));
        let top = order[0];
        let radius = modulus(top);
        let col_norm = (0..k).map(|r| u[(r, top)].re.powi(2) + u[(r, top)].im.powi(2)).sum::<f64>().sqrt();
        // Residual of a Ritz pair: |beta| |last row of the projected relation · y|.
        // After a thick restart the last row of the relation is e_kᵀ, as for plain Arnoldi.
        let ylast = (u[(k - 1, top)].re.powi(2) + u[(k - 1, top)].im.powi(2)).sqrt()
            / col_norm.max(f64::MIN_POSITIVE);
        let residual = if radius > 0.0 { beta * ylast / radius } else { beta * ylast };
        Ok(Ritz { eig, order, radius, residual })
    }
}

/// Whether a seeded run checks for convergence after its `k`-th basis
/// vector: at 4, 8, 16, 24, 32, ... (a small eigenproblem each, against a
/// product with the whole matrix per step).
fn checkpoint(k: usize) -> bool {
    k >= 4 && (k.is_power_of_two() || k.is_multiple_of(8))
}

/// Krylov–Schur style thick restarts: after each cycle the span of the
/// leading Ritz vectors (real and imaginary parts, an invariant subspace of
/// the projected matrix) is kept and the basis is extended from the last
/// Arnoldi vector, so converged directions are never lost.
///
/// `matvec(x, y)` computes `y = A x`. With `seeded` (a start vector close to
/// the leading eigenvector), convergence is also checked at `checkpoint`s
/// within the first cycle, which then usually ends after a few steps.
/// Returns the estimate and the leading Ritz vector (real plus imaginary
/// part: a real vector in the leading invariant subspace, to seed a
/// refinement).
fn arnoldi(
    matvec: &mut dyn FnMut(&[f64], &mut [f64]),
    n: usize,
    m: usize,
    opts: SpectralOptions,
    plan: Plan,
    start: &[f64],
    seeded: bool,
) -> Result<(SpectralEstimate, Vec<f64>)> {
    let mut basis = vec![0.0; (m + 1) * n];
    // Projected matrix: (m + 1) x m, row-major with row stride m.
    let mut h = vec![0.0; (m + 1) * m];
    let mut coeff = vec![0.0; m + 1];
    let mut w = vec![0.0; n];
    let n0 = norm(start);
    if n0.is_nan() || n0 <= 0.0 {
        return Err(Error::Numerical("spectral radius: start vector vanished".into()));
    }
    for (d, s) in basis[..n].iter_mut().zip(start) {
        *d = s / n0;
    }
    let keep_target = plan.keep.clamp(1, m - 2);
    let mut kept = 0usize; // columns carried over from the previous cycle
    let mut products = 0usize;
    let mut previous_residual = f64::INFINITY;
    let mut last =
        SpectralEstimate { radius: 0.0, residual: f64::INFINITY, converged: false, restarts: 0, products: 0 };
    let mut leading = vec![0.0; n];
    for restart in 0..=opts.max_restarts {
        crate::interrupt::check()?;
        let mut k = m;
        let mut beta = 0.0;
        let near = previous_residual.is_finite()
            && last.residual * (last.residual / previous_residual) <= 10.0 * opts.tol;
        for j in kept..m {
            let (head, tail) = basis.split_at_mut((j + 1) * n);
            matvec(&head[j * n..], &mut w);
            products += 1;
            for i in 0..=j {
                h[i * m + j] = 0.0;
            }
            let (scale, after) = orthogonalize(head, j + 1, n, &mut w, &mut coeff, &mut h, m, j);
            beta = after;
            h[(j + 1) * m + j] = beta;
            if beta <= 1e-13 * scale.max(f64::MIN_POSITIVE) {
                // Invariant subspace: the eigenvalues of H[..j+1, ..j+1] are exact.
                k = j + 1;
                beta = 0.0;
                break;
            }
            for (d, s) in tail[..n].iter_mut().zip(&w) {
                *d = s / beta;
            }
            let due = if seeded && restart == 0 {
                checkpoint(j + 1)
            } else {
                near && plan.check_every > 0 && (j + 1 - kept).is_multiple_of(plan.check_every)
            };
            if due && j + 1 < m && Ritz::new(&h, m, j + 1, beta)?.residual <= opts.tol {
                k = j + 1;
                break;
            }
        }
        let ritz = Ritz::new(&h, m, k, beta)?;
        let (s, u) = (ritz.eig.S(), ritz.eig.U());
        let order = &ritz.order;
        let top = order[0];
        previous_residual = last.residual;
        last = SpectralEstimate {
            radius: ritz.radius,
            residual: ritz.residual,
            converged: ritz.residual <= opts.tol || k == n || beta == 0.0,
            restarts: restart,
            products,
        };
        if last.converged || restart == opts.max_restarts || k < m {
            let c: Vec<f64> = (0..k).map(|r| u[(r, top)].re + u[(r, top)].im).collect();
            combine(&basis[..k * n], n, &c, 1, &mut leading);
            break;
        }
        // Keep the span of the leading Ritz vectors (conjugate pairs whole).
        let mut cols: Vec<Vec<f64>> = Vec::new();
        for &e in order {
            if cols.len() >= keep_target {
                break;
            }
            if s[e].im < 0.0 {
                continue; // its conjugate partner contributes the same real span
            }
            cols.push((0..k).map(|r| u[(r, e)].re).collect());
            if s[e].im > 0.0 {
                cols.push((0..k).map(|r| u[(r, e)].im).collect());
            }
        }
        let (z, r) = orthonormal_columns(&cols, k);
        // New basis U = V Z (n x r), then the last Arnoldi vector.
        let mut new_basis = vec![0.0; (r + 1) * n];
        combine(&basis[..k * n], n, &z, r, &mut new_basis[..r * n]);
        new_basis[r * n..].copy_from_slice(&basis[k * n..(k + 1) * n]);
        // Projected matrix: T = Zᵀ H Z, last row beta · (e_kᵀ Z).
        let hmat = Mat::<f64>::from_fn(k, k, |r2, c| h[r2 * m + c]);
        let zmat = Mat::<f64>::from_fn(k, r, |i, c| z[i * r + c]);
        let t = zmat.transpose() * &hmat * &zmat;
        h.fill(0.0);
        for i in 0..r {
            for c in 0..r {
                h[i * m + c] = t[(i, c)];
            }
        }
        for c in 0..r {
            h[r * m + c] = beta * z[(k - 1) * r + c];
        }
        basis[..(r + 1) * n].copy_from_slice(&new_basis);
        kept = r;
    }
    Ok((last, leading))
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

    /// The f32 rounding of the compact phase (~6e-8) does not limit the
    /// accuracy: asked for a residual of 1e-11, the estimate matches the
    /// dense eigensolver to 1e-10; at the default tolerance it is within it.
    #[test]
    fn compact_first_phase_keeps_full_accuracy_on_large_matrices() {
        let n = 700;
        assert!(n > COMPACT_MIN_SIZE);
        let m = sparse_random(n, n, 0.1, Distribution::Normal, 1.0, 11, 0).unwrap();
        let dense = m.to_dense().unwrap();
        let eig = Mat::<f64>::from_fn(n, n, |r, c| dense[r * n + c]).eigenvalues().unwrap();
        let exact = eig.iter().map(|z| (z.re * z.re + z.im * z.im).sqrt()).fold(0.0, f64::max);
        for (tol, error) in [(1e-11, 1e-10), (1e-8, 1e-8)] {
            let opts = SpectralOptions { krylov_dim: 100, tol, ..Default::default() };
            let est = spectral_radius(m.as_ref(), opts).unwrap();
            assert!(est.converged && est.residual <= tol, "{est:?}");
            assert!((est.radius - exact).abs() < error * exact, "{est:?} vs {exact}");
        }
    }

    /// Rows of the product are split over threads and the Gram–Schmidt
    /// passes go through faer's threaded products above 2^17 flops: large
    /// enough here for both (120 basis vectors of 1200 values, 72 000 stored).
    #[test]
    fn same_estimate_on_one_and_two_threads_and_from_the_same_seed() {
        let n = 1200;
        let m = sparse_random(n, n, 0.05, Distribution::Normal, 1.0, 3, 0).unwrap();
        let opts = SpectralOptions { krylov_dim: 120, seed: 4, ..Default::default() };
        crate::par::set_num_threads(1);
        let one = spectral_radius(m.as_ref(), opts).unwrap();
        crate::par::set_num_threads(2);
        let two = spectral_radius(m.as_ref(), opts).unwrap();
        let again = spectral_radius(m.as_ref(), opts).unwrap();
        crate::par::set_num_threads(0);
        assert!(one.converged && one.products > 0, "{one:?}");
        assert_eq!(one, two);
        assert_eq!(two, again);
        let other = spectral_radius(m.as_ref(), SpectralOptions { seed: 5, ..opts }).unwrap();
        assert_ne!(other.radius.to_bits(), one.radius.to_bits());
        assert!((other.radius - one.radius).abs() < 1e-7 * one.radius);
    }

    /// Checking convergence within a cycle that is expected to converge stops
    /// it early: fewer products than checking at cycle ends only, and an
    /// estimate as accurate.
    #[test]
    fn checks_near_convergence_save_products() {
        let n = 700;
        let m = sparse_random(n, n, 0.1, Distribution::Normal, 1.0, 11, 0).unwrap();
        let opts = SpectralOptions::default();
        let tuned = Plan::new(100, &opts);
        let at_cycle_ends = Plan { check_every: 0, ..tuned };
        let a = estimate(m.as_ref(), opts, tuned).unwrap();
        let b = estimate(m.as_ref(), opts, at_cycle_ends).unwrap();
        assert!(a.converged && b.converged);
        assert!(a.products < b.products, "{a:?} vs {b:?}");
        assert!((a.radius - b.radius).abs() < 1e-8 * b.radius, "{a:?} vs {b:?}");
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
