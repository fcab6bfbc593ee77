//! GEMM on row-major slices. All of the library's matrix products go
//! through here, so operand layout (row-major, optional transpose, row
//! stride) is spelled out once: `gemm` for general products, with an
//! explicit `Parallelism`; `mul_nt` / `mul_nn` (`small.rs`) for the per-step
//! products of a time loop (serial; plain loops for tiny shapes).
//!
//! Large float32 products run on the AVX-512, AVX2 or NEON kernels of
//! `packed_f32` when the active path has them and the shape is one where they win (see
//! `packed_f32::worth_packing`); everything else runs on faer. Both split a
//! product across threads along the output (rows/columns of C), never along
//! the reduction, so results do not depend on the thread count.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod packed_f32;
mod small;

pub use small::{mul_nn, mul_nn_panels, mul_nt, pack_panels, panels_pay, single_panel, vec_mul_nn};

use crate::float::Float;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// A row-major matrix operand: `data[r * ld + c]`, optionally used transposed.
#[derive(Clone, Copy)]
pub struct Op<'a, T> {
    pub data: &'a [T],
    /// Rows and columns as stored (before any transpose).
    pub rows: usize,
    pub cols: usize,
    /// Row stride of the stored matrix (>= cols).
    pub ld: usize,
    pub trans: bool,
}

impl<'a, T> Op<'a, T> {
    /// A contiguous row-major `rows x cols` matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Op { data, rows, cols, ld: cols, trans: false }
    }
    /// The same storage, used transposed.
    pub fn t(self) -> Self {
        Op { trans: !self.trans, ..self }
    }
    /// Rows and columns as used in the product.
    pub fn shape(&self) -> (usize, usize) {
        if self.trans {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
    fn view(&self) -> MatRef<'a, T> {
        let len = if self.rows == 0 { 0 } else { (self.rows - 1) * self.ld + self.cols };
        let m =
            MatRef::from_row_major_slice_with_stride(&self.data[..len], self.rows, self.cols, self.ld.max(1));
        if self.trans {
            m.transpose()
        } else {
            m
        }
    }
}

/// Where a product may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parallelism {
    /// On the calling thread only (callers that split the work across
    /// threads themselves, or runs too small to gain from threads).
    Serial,
    /// On the threads of the current pool (see `crate::par::install`) when
    /// the product is large enough to gain from them.
    Pool,
}

impl Parallelism {
    /// `Serial` when `serial`, else `Pool`.
    pub fn serial_if(serial: bool) -> Self {
        if serial {
            Parallelism::Serial
        } else {
            Parallelism::Pool
        }
    }
}

/// `C = alpha * op(A) op(B) (+ C if accumulate)`, C row-major `m x n` with
/// row stride `ldc`. Shapes are the caller's invariant (checked in debug builds).
pub fn gemm<T: Float>(
    par: Parallelism,
    c: &mut [T],
    ldc: usize,
    a: Op<'_, T>,
    b: Op<'_, T>,
    alpha: T,
    accumulate: bool,
) {
    let (m, k) = a.shape();
    let n = b.shape().1;
    let par = match par {
        Parallelism::Serial => Par::Seq,
        Parallelism::Pool => crate::par::gemm_par(m.saturating_mul(n).saturating_mul(k)),
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if packed_f32::worth_packing(m, n, b.trans) {
        if let (Some(c32), Some(a32), Some(b32)) = (as_f32_mut(c), op_f32(a), op_f32(b)) {
            let par = !matches!(par, Par::Seq);
            packed_f32::gemm(c32, ldc, a32, b32, alpha.to_f64() as f32, accumulate, par);
            return;
        }
    }
    faer_gemm(par, c, ldc, a, b, alpha, accumulate);
}

/// `gemm` on faer only (never the packed kernels).
fn faer_gemm<T: Float>(
    par: Par,
    c: &mut [T],
    ldc: usize,
    a: Op<'_, T>,
    b: Op<'_, T>,
    alpha: T,
    accumulate: bool,
) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    debug_assert_eq!(k, k2, "gemm inner dimensions");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(T::ZERO);
            }
        }
        return;
    }
    let len = (m - 1) * ldc + n;
    // Not `from_row_major_slice_with_stride_mut`: in faer 0.24.4 it swaps the
    // strides (builds a column-major view). The transpose of a column-major
    // n x m view is the row-major m x n matrix we want.
    let cv: MatMut<'_, T> =
        MatMut::from_column_major_slice_with_stride_mut(&mut c[..len], n, m, ldc.max(1)).transpose_mut();
    let acc = if accumulate { Accum::Add } else { Accum::Replace };
    matmul(cv, acc, a.view(), b.view(), alpha, par);
}

/// `s` as `&mut [f32]` when `T` is `f32`.
pub(crate) fn as_f32_mut<T: Float>(s: &mut [T]) -> Option<&mut [f32]> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: `T` is `f32` (same type, so same layout and validity).
        Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
    } else {
        None
    }
}

/// `s` as `&[f32]` when `T` is `f32`.
pub(crate) fn as_f32<T: Float>(s: &[T]) -> Option<&[f32]> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: `T` is `f32` (same type, so same layout and validity).
        Some(unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
    } else {
        None
    }
}

/// The same operand over `f32` when `T` is `f32`.
pub(crate) fn op_f32<T: Float>(o: Op<'_, T>) -> Option<Op<'_, f32>> {
    as_f32(o.data).map(|data| Op { data, rows: o.rows, cols: o.cols, ld: o.ld, trans: o.trans })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn row_major_output_with_stride() {
        // [[1,2],[3,4]] x diag(1,10) written into rows of stride 3.
        let a = [1.0f64, 2.0, 3.0, 4.0];
        let b = [1.0f64, 0.0, 0.0, 10.0];
        let mut c = [-1.0f64; 5];
        gemm(Parallelism::Pool, &mut c, 3, Op::new(&a, 2, 2), Op::new(&b, 2, 2), 1.0, false);
        assert_eq!(c, [1.0, 20.0, -1.0, 3.0, 40.0]);
    }

    #[test]
    fn matches_naive_product_with_transposes() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        gemm(Parallelism::Pool, &mut c, n, Op::new(&a, m, k), Op::new(&b, k, n), 1.0, false);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
        // A^T stored as (k, m), B^T stored as (n, k).
        let at: Vec<f64> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
        let bt: Vec<f64> = (0..n * k).map(|idx| b[(idx % k) * n + idx / k]).collect();
        let mut c2 = vec![1.0; m * n];
        gemm(Parallelism::Serial, &mut c2, n, Op::new(&at, k, m).t(), Op::new(&bt, n, k).t(), 2.0, true);
        for (x, y) in c2.iter().zip(&want) {
            assert!((x - (1.0 + 2.0 * y)).abs() < 1e-12, "{x} vs {}", 1.0 + 2.0 * y);
        }
    }

    #[test]
    fn float32_products_match_naive_on_both_backends() {
        // (m, k, n, b transposed): packed-kernel shapes (on AVX-512 CPUs)
        // and faer shapes (few rows, matrix-vector).
        for &(m, k, n, bt) in
            &[(600, 70, 40, true), (130, 300, 33, false), (20, 50, 30, false), (300, 80, 1, false)]
        {
            let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
            let want = naive(&a, &b, m, k, n);
            let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            // B^T stored as (n, k) when transposed.
            let b32: Vec<f32> = if bt {
                (0..n * k).map(|idx| b[(idx % k) * n + idx / k] as f32).collect()
            } else {
                b.iter().map(|&v| v as f32).collect()
            };
            let bop = if bt { Op::new(&b32, n, k).t() } else { Op::new(&b32, k, n) };
            let mut c = vec![1.0f32; m * n];
            gemm(Parallelism::Pool, &mut c, n, Op::new(&a32, m, k), bop, 0.5, true);
            for (x, y) in c.iter().zip(&want) {
                assert!((f64::from(*x) - (1.0 + 0.5 * y)).abs() < 1e-3, "m {m} k {k} n {n}: {x} vs {y}");
            }
        }
    }
}
