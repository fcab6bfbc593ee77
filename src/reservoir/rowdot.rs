//! Sparse row products in one fixed summation order, shared by the
//! single-sequence kernel (a row times one vector, gathered) and the
//! batched kernel (a row times lanes of sequences stored unit-major, the
//! weight broadcast over contiguous lanes), so that a sequence computed inside a batch equals
//! the same sequence computed alone, bit for bit, and neither depends on the
//! thread count.
//!
//! The order ("4-accumulator contract"): entry `e` of a row (in stored order)
//! goes to accumulator `e % 4`, each accumulator summing its entries in
//! order; the result is `(a0 + a2) + (a1 + a3)`. Four accumulators are one
//! 256-bit vector of float64 for a single row (short rows of ~10 entries
//! fill whole vectors); the batched kernel sums them one, two or four at a
//! time over a tile of up to 8 vectors of lanes, so a tile's sums stay in
//! registers. On the vector paths (AVX-512, AVX2 or NEON: one kernel
//! source, `vec` below) every accumulation is a fused multiply-add, so these
//! paths give the same bits; the portable path (`RNNRS_SIMD=scalar`)
//! multiplies and adds separately. Which path runs is fixed per element type and process,
//! so the single and batched kernels always agree.

use crate::error::Result;
use crate::float::Float;
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
use crate::kernels::{run_on, Isa};
use crate::reservoir::csr::CsrRef;
use std::any::TypeId;

/// Runs `$body` compiled for `$isa` with `A` the float64 vector type of
/// single-row products (`N` of them hold the 4 accumulators) and `V` the one
/// of batched products (lanes of sequences). `Isa::Scalar` gets the portable
/// types (unfused multiply-add); other paths are supported:
/// `Isa::active()` only returns those.
macro_rules! on_path {
    ($isa:expr, $A:ident, $N:ident, $V:ident => $body:expr) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                #[allow(dead_code)]
                type $A = crate::kernels::vector::x86::F64x4;
                #[allow(dead_code)]
                type $V = crate::kernels::vector::x86::F64x8;
                #[allow(dead_code)]
                const $N: usize = 1;
                run_on(
                    Isa::Avx512,
                    #[inline(always)]
                    || $body,
                )
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                #[allow(dead_code)]
                type $A = crate::kernels::vector::x86::F64x4;
                #[allow(dead_code)]
                type $V = crate::kernels::vector::x86::F64x4;
                #[allow(dead_code)]
                const $N: usize = 1;
                run_on(
                    Isa::Avx2,
                    #[inline(always)]
                    || $body,
                )
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                #[allow(dead_code)]
                type $A = crate::kernels::vector::neon::F64x2;
                #[allow(dead_code)]
                type $V = crate::kernels::vector::neon::F64x2;
                #[allow(dead_code)]
                const $N: usize = 2;
                $body
            }
            _ => {
                #[allow(dead_code)]
                type $A = crate::kernels::vector::scalar::F64x1;
                #[allow(dead_code)]
                type $V = crate::kernels::vector::scalar::F64x1;
                #[allow(dead_code)]
                const $N: usize = 4;
                $body
            }
        }
    };
}

/// Runs `$body` compiled for `$isa` with `V` the float32 vector type of
/// batched products (`Isa::Scalar`: the portable one). Single float32
/// rows use `V`'s fused lane operation on 4 scalar accumulators (no 4-lane
/// float32 vector on x86), which rounds like the vector `mul_add`.
macro_rules! on_path_f32 {
    ($isa:expr, $V:ident => $body:expr) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 | Isa::Avx2 => {
                type $V = crate::kernels::vector::x86::F32x8;
                run_on(
                    $isa,
                    #[inline(always)]
                    || $body,
                )
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                type $V = crate::kernels::vector::neon::F32x4;
                $body
            }
            _ => {
                type $V = crate::kernels::vector::scalar::F32x1;
                $body
            }
        }
    };
}

/// Accumulators per row (the contract above).
pub const ACCS: usize = 4;

/// Lane counts of the batched products (`rows_lanes`) are multiples of this.
pub const LANE_MULTIPLE: usize = 8;

/// A validated CSR matrix with the row kernels for its element type.
#[derive(Clone, Copy, Debug)]
pub struct RowKernel<'a, T> {
    csr: CsrRef<'a, T>,
    /// Path of the float64 vector kernels (`Isa::Scalar`: the portable code).
    isa: Isa,
}

/// `s` as `&[f64]` when `T` is f64.
#[inline(always)]
fn as_f64<T: 'static>(s: &[T]) -> Option<&[f64]> {
    if TypeId::of::<T>() == TypeId::of::<f64>() {
        // SAFETY: T is f64, so the layout is identical.
        Some(unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f64>(), s.len()) })
    } else {
        None
    }
}

#[inline(always)]
fn as_f64_mut<T: 'static>(s: &mut [T]) -> Option<&mut [f64]> {
    if TypeId::of::<T>() == TypeId::of::<f64>() {
        // SAFETY: T is f64, so the layout is identical.
        Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f64>(), s.len()) })
    } else {
        None
    }
}

/// `s` as `&[f32]` when `T` is f32.
#[inline(always)]
fn as_f32<T: 'static>(s: &[T]) -> Option<&[f32]> {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32, so the layout is identical.
        Some(unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
    } else {
        None
    }
}

#[inline(always)]
fn as_f32_mut<T: 'static>(s: &mut [T]) -> Option<&mut [f32]> {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32, so the layout is identical.
        Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
    } else {
        None
    }
}

/// Whether `T` has vector kernels (float64 and float32).
fn vectorised<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f64>() || TypeId::of::<T>() == TypeId::of::<f32>()
}

/// `(a0 + a2) + (a1 + a3)`.
#[inline(always)]
fn reduce4<T: Float>(a: &[T; ACCS]) -> T {
    (a[0] + a[2]) + (a[1] + a[3])
}

impl<'a, T: Float> RowKernel<'a, T> {
    /// Validates the structure once, so the kernels can index without checks.
    pub fn new(csr: CsrRef<'a, T>) -> Result<Self> {
        csr.validate()?;
        let isa = if vectorised::<T>() { Isa::active() } else { Isa::Scalar };
        Ok(RowKernel { csr, isa })
    }

    /// The same matrix on the portable path (tests compare the two paths).
    pub fn portable(self) -> Self {
        self.with_isa(Isa::Scalar)
    }

    /// The same matrix on the given path (tests; float32, an unsupported
    /// path or `Isa::Scalar` give the portable code).
    pub fn with_isa(self, isa: Isa) -> Self {
        let vector = vectorised::<T>() && isa.is_supported();
        RowKernel { isa: if vector { isa } else { Isa::Scalar }, ..self }
    }

    pub fn csr(&self) -> CsrRef<'a, T> {
        self.csr
    }

    #[inline(always)]
    fn row(&self, r: usize) -> (&'a [i32], &'a [T]) {
        self.csr.row(r)
    }

    /// `A[r, :] · x`.
    #[inline]
    pub fn dot(&self, r: usize, x: &[T]) -> T {
        assert!(x.len() >= self.csr.cols, "x shorter than the matrix width");
        let (idx, val) = self.row(r);
        if self.isa != Isa::Scalar {
            if let (Some(v), Some(xv)) = (as_f64(val), as_f64(x)) {
                // SAFETY: `new` validated 0 <= idx < cols <= x.len().
                let d = on_path!(self.isa, A, N, V => unsafe { vec::row_dot::<A, N>(idx, v, xv) });
                return T::from_f64(d);
            }
            if let (Some(v), Some(xv)) = (as_f32(val), as_f32(x)) {
                // SAFETY: as above.
                let d = on_path_f32!(self.isa, V => unsafe { vec::row_dot_lanes::<V>(idx, v, xv) });
                return T::from_f64(d as f64);
            }
        }
        portable_dot(idx, val, x)
    }

    /// Rows `r` and `r + 1` times `x`, each equal to `dot` (two rows at
    /// once keep two independent dependency chains in flight).
    #[inline]
    pub fn dot2(&self, r: usize, x: &[T]) -> [T; 2] {
        assert!(x.len() >= self.csr.cols, "x shorter than the matrix width");
        let (r0, r1) = (self.row(r), self.row(r + 1));
        if self.isa != Isa::Scalar {
            if let (Some(v0), Some(v1), Some(xv)) = (as_f64(r0.1), as_f64(r1.1), as_f64(x)) {
                // SAFETY: as in `dot`.
                let d = on_path!(self.isa, A, N, V => unsafe { vec::row_dot2::<A, N>([(r0.0, v0), (r1.0, v1)], xv) });
                return [T::from_f64(d[0]), T::from_f64(d[1])];
            }
            if as_f32(x).is_some() {
                return [self.dot(r, x), self.dot(r + 1, x)];
            }
        }
        [portable_dot(r0.0, r0.1, x), portable_dot(r1.0, r1.1, x)]
    }

    /// `out[k] = A[first + k, :] · x`, each equal to `dot` (one kernel call
    /// for the whole range, rows two at a time).
    pub fn dots(&self, first: usize, x: &[T], out: &mut [T]) {
        assert!(x.len() >= self.csr.cols, "x shorter than the matrix width");
        assert!(first + out.len() <= self.csr.rows, "rows out of range");
        if self.isa != Isa::Scalar {
            let c = self.csr;
            if let (Some(v), Some(xv), Some(o)) = (as_f64(c.data), as_f64(x), as_f64_mut(out)) {
                // SAFETY: as in `dot`; rows checked above.
                on_path!(self.isa, A, N, V => unsafe { vec::rows_into::<A, N>(c.indptr, c.indices, v, first, xv, o) });
                return;
            }
            if let (Some(v), Some(xv), Some(o)) = (as_f32(c.data), as_f32(x), as_f32_mut(out)) {
                // SAFETY: as above.
                on_path_f32!(self.isa, V => unsafe { vec::rows_into_lanes::<V>(c.indptr, c.indices, v, first, xv, o) });
                return;
            }
        }
        for (k, o) in out.iter_mut().enumerate() {
            let (idx, val) = self.row(first + k);
            *o = portable_dot(idx, val, x);
        }
    }

    /// `y = A x`.
    pub fn matvec(&self, x: &[T], y: &mut [T]) {
        for (r, yr) in y.iter_mut().enumerate().take(self.csr.rows) {
            *yr = self.dot(r, x);
        }
    }

    /// Batched product over lanes of sequences: `x` is lane-major (row `c`
    /// of the matrix's columns holds `stride` values, lane `l` at
    /// `c * stride + l`), and `out[k * stride + l] = A[first + k, :] · x[:, l]`
    /// for the `out.len() / stride` rows from `first` and the lanes
    /// `l < lanes`, each equal to `dot` on that lane alone. `lanes` is a
    /// multiple of `LANE_MULTIPLE`, at most `stride`; lanes from `lanes` to
    /// `stride` of `out` are not written.
    ///
    /// Each stored weight is broadcast and multiplied with a tile of up to 8
    /// vectors of contiguous lanes (one or a few cache lines); the
    /// accumulators of the contract are summed one, two or four at a time,
    /// so a tile's sums stay in registers.
    pub fn rows_lanes(&self, first: usize, x: &[T], stride: usize, lanes: usize, out: &mut [T]) {
        assert!(lanes.is_multiple_of(LANE_MULTIPLE) && lanes <= stride, "bad lane layout");
        assert!(x.len() >= self.csr.cols * stride, "x shorter than cols x stride");
        assert!(stride > 0 && out.len().is_multiple_of(stride), "out is not whole rows of stride values");
        let rows = out.len() / stride;
        assert!(first + rows <= self.csr.rows, "rows out of range");
        let c = self.csr;
        // SAFETY (both calls): indices validated by `new` (< cols), so every
        // lane read lies in x; rows and lanes checked above.
        if let (Some(v), Some(xv), Some(o)) = (as_f64(c.data), as_f64(x), as_f64_mut(out)) {
            on_path!(self.isa, A, N, V => unsafe { vec::rows_lanes::<V>(c.indptr, c.indices, v, first, xv, stride, lanes, o) });
        } else if let (Some(v), Some(xv), Some(o)) = (as_f32(c.data), as_f32(x), as_f32_mut(out)) {
            on_path_f32!(self.isa, V => unsafe { vec::rows_lanes::<V>(c.indptr, c.indices, v, first, xv, stride, lanes, o) });
        } else {
            for k in 0..rows {
                let (idx, val) = self.row(first + k);
                for l in 0..lanes {
                    let mut a = [T::ZERO; ACCS];
                    for (e, (&col, &v)) in idx.iter().zip(val).enumerate() {
                        a[e % ACCS] += v * x[col as usize * stride + l];
                    }
                    out[k * stride + l] = reduce4(&a);
                }
            }
        }
    }
}

/// A float64 matrix's compact copy: `u16` column indices and `f32` values
/// (6 bytes per stored value instead of 12), times float64 vectors. For
/// products that need only the f32 rounding of the values (~1e-7
/// relative: the first phase of the spectral estimate), where the matrix
/// streams from L3/DRAM and its bytes bound the product. Not bound by the
/// 4-accumulator contract (8 accumulators per row: two dependency chains
/// per vector), but deterministic and on the same path as `RowKernel`.
pub struct Compact<'a> {
    cols: usize,
    indptr: &'a [i64],
    indices: Vec<u16>,
    values: Vec<f32>,
    isa: Isa,
}

impl<'a> Compact<'a> {
    /// None when the column indices do not fit in `u16`.
    pub fn new(a: &RowKernel<'a, f64>) -> Option<Self> {
        let c = a.csr();
        if c.cols > usize::from(u16::MAX) + 1 {
            return None;
        }
        Some(Compact {
            cols: c.cols,
            indptr: c.indptr,
            // Validated by `RowKernel::new`: 0 <= index < cols <= 65536.
            indices: c.indices.iter().map(|&i| i as u16).collect(),
            values: c.data.iter().map(|&v| v as f32).collect(),
            isa: a.isa,
        })
    }

    /// Stored values.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// `out[k] = A[first + k, :] · x` (with the values rounded to f32).
    pub fn dots(&self, first: usize, x: &[f64], out: &mut [f64]) {
        assert!(x.len() >= self.cols, "x shorter than the matrix width");
        assert!(first + out.len() < self.indptr.len(), "rows out of range");
        let (ip, idx, val) = (self.indptr, &self.indices[..], &self.values[..]);
        // SAFETY: indices < cols <= x.len() (validated by `RowKernel::new`); rows checked above.
        on_path!(self.isa, A, N, V => unsafe { vec::compact_rows::<A, N>(ip, idx, val, first, x, out) });
    }
}

/// Portable single product (bounds-checked), in the contract's order.
#[inline(always)]
fn portable_dot<T: Float>(idx: &[i32], val: &[T], x: &[T]) -> T {
    let mut a = [T::ZERO; ACCS];
    let (ic, vc) = (idx.chunks_exact(ACCS), val.chunks_exact(ACCS));
    let (it, vt) = (ic.remainder(), vc.remainder());
    for (c, v) in ic.zip(vc) {
        for k in 0..ACCS {
            a[k] += v[k] * x[c[k] as usize];
        }
    }
    for (k, (&c, &v)) in it.iter().zip(vt).enumerate() {
        a[k] += v * x[c as usize];
    }
    reduce4(&a)
}

mod vec;

#[cfg(test)]
mod tests;
