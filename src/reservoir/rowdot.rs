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

/// The float64 vector kernels, one source for every path: the 4
/// accumulators of a single row are `N` vectors of `A` (`N * A::LANES == 4`),
/// entry `e` of a row in lane `e % 4`; a batch block's 8 sequences are `M`
/// vectors of `V`, with 4 accumulators each.
mod vec {
    use super::ACCS;
    use crate::float::Float;
    use crate::kernels::vector::{Element, Vector};

    /// Single product through `V`'s fused lane operation on 4 scalar
    /// accumulators (the float32 rows), in the contract's order.
    ///
    /// # Safety
    /// Every index in `0..x.len()`; runs on `V`'s path.
    #[inline(always)]
    pub unsafe fn row_dot_lanes<V: Vector>(idx: &[i32], val: &[V::Elem], x: &[V::Elem]) -> V::Elem
    where
        V::Elem: Float,
    {
        let len = idx.len().min(val.len());
        let (ip, vp, xp) = (idx.as_ptr(), val.as_ptr(), x.as_ptr());
        let mut a = [<V::Elem as Element>::ZERO; ACCS];
        let mut e = 0;
        while e + ACCS <= len {
            for (k, ak) in a.iter_mut().enumerate() {
                // SAFETY: e + k < len; the index points inside x.
                unsafe { *ak = V::mul_add_lane(*vp.add(e + k), *xp.add(*ip.add(e + k) as usize), *ak) };
            }
            e += ACCS;
        }
        for (k, ak) in a.iter_mut().enumerate().take(len - e) {
            // SAFETY: as above.
            unsafe { *ak = V::mul_add_lane(*vp.add(e + k), *xp.add(*ip.add(e + k) as usize), *ak) };
        }
        (a[0] + a[2]) + (a[1] + a[3])
    }

    /// `out[k] = row(first + k) · x` by `row_dot_lanes`.
    ///
    /// # Safety
    /// As `row_dot_lanes` for every row; `indptr` valid for the rows.
    #[inline(always)]
    pub unsafe fn rows_into_lanes<V: Vector>(
        indptr: &[i64],
        indices: &[i32],
        data: &[V::Elem],
        first: usize,
        x: &[V::Elem],
        out: &mut [V::Elem],
    ) where
        V::Elem: Float,
    {
        for (k, o) in out.iter_mut().enumerate() {
            let (a, b) = (indptr[first + k] as usize, indptr[first + k + 1] as usize);
            // SAFETY: the caller's guarantee.
            *o = unsafe { row_dot_lanes::<V>(&indices[a..b], &data[a..b], x) };
        }
    }

    /// `out[k] = row(first + k) · x` for a compact matrix (`Compact`):
    /// entries `e` with `e % 8 < 4` into the first 4 accumulators, the others
    /// into the second 4.
    ///
    /// # Safety
    /// Every index of the rows `< x.len()`; `indptr` valid for the rows;
    /// runs on `A`'s path.
    #[inline(always)]
    pub unsafe fn compact_rows<A: Vector<Elem = f64>, const N: usize>(
        indptr: &[i64],
        indices: &[u16],
        data: &[f32],
        first: usize,
        x: &[f64],
        out: &mut [f64],
    ) {
        let xp = x.as_ptr();
        for (k, o) in out.iter_mut().enumerate() {
            let (a, b) = (indptr[first + k] as usize, indptr[first + k + 1] as usize);
            let (idx, val) = (&indices[a..b], &data[a..b]);
            let (ip, vp) = (idx.as_ptr(), val.as_ptr());
            let len = idx.len().min(val.len());
            let mut acc = [[A::splat(0.0); N]; 2];
            let mut e = 0;
            // SAFETY (both loops): e + 8 (or 4) <= len; indices inside x.
            let group = |acc: &mut [A; N], e: usize| unsafe {
                for (j, a) in acc.iter_mut().enumerate() {
                    let o = e + j * A::LANES;
                    let v = A::from_fn(|l| f64::from(*vp.add(o + l)));
                    let g = A::from_fn(|l| *xp.add(usize::from(*ip.add(o + l))));
                    *a = v.mul_add(g, *a);
                }
            };
            while e + 2 * ACCS <= len {
                group(&mut acc[0], e);
                group(&mut acc[1], e + ACCS);
                e += 2 * ACCS;
            }
            if e + ACCS <= len {
                group(&mut acc[0], e);
                e += ACCS;
            }
            let mut sum = 0.0;
            for (a0, a1) in acc[0].iter().zip(&acc[1]) {
                let mut lanes = [0.0f64; ACCS];
                // SAFETY: `lanes` holds 4 >= LANES(A) values (N * LANES(A) == 4).
                unsafe { a0.add(*a1).store(lanes.as_mut_ptr()) };
                sum += lanes[..A::LANES].iter().sum::<f64>();
            }
            for (&c, &v) in idx[e..len].iter().zip(&val[e..len]) {
                // SAFETY: the index points inside x.
                sum += f64::from(v) * unsafe { *xp.add(usize::from(c)) };
            }
            *o = sum;
        }
    }

    /// `x[idx[e..e + A::LANES]]` as one vector, by scalar loads and inserts
    /// (measured ~20% faster than `vgatherdpd` on Zen 5).
    ///
    /// # Safety
    /// `e + A::LANES <= idx.len()`, indices inside x.
    #[inline(always)]
    unsafe fn gather<A: Vector<Elem = f64>>(ip: *const i32, xp: *const f64, e: usize) -> A {
        // SAFETY: by the caller's guarantee.
        A::from_fn(|k| unsafe { *xp.add(*ip.add(e + k) as usize) })
    }

    /// `(a0 + a2) + (a1 + a3)` of the accumulators.
    #[inline(always)]
    fn reduce<A: Vector<Elem = f64>, const N: usize>(acc: &[A; N]) -> [f64; ACCS] {
        debug_assert_eq!(N * A::LANES, ACCS);
        let mut a = [0.0f64; ACCS];
        for (j, v) in acc.iter().enumerate() {
            // SAFETY: `a` holds N * LANES(A) = 4 values.
            unsafe { v.store(a.as_mut_ptr().add(j * A::LANES)) };
        }
        a
    }

    /// Adds the last `len - e < 4` entries to accumulators `0..len - e`
    /// (one lane at a time, with the rounding of the vector `mul_add`),
    /// then the contract's final sum.
    ///
    /// # Safety
    /// `e <= len <= e + 4`, lengths of idx and val >= len, indices inside x.
    #[inline(always)]
    unsafe fn finish<A: Vector<Elem = f64>, const N: usize>(
        acc: &[A; N],
        idx: &[i32],
        val: &[f64],
        xp: *const f64,
        e: usize,
        len: usize,
    ) -> f64 {
        let mut a = reduce(acc);
        for (k, (&c, &v)) in idx[e..len].iter().zip(&val[e..len]).enumerate() {
            // SAFETY: the index points inside x.
            a[k] = A::mul_add_lane(v, unsafe { *xp.add(c as usize) }, a[k]);
        }
        (a[0] + a[2]) + (a[1] + a[3])
    }

    /// One group of 4 entries starting at `e` into the accumulators.
    ///
    /// # Safety
    /// `e + 4 <= len` of both idx and val; indices inside x.
    #[inline(always)]
    unsafe fn step<A: Vector<Elem = f64>, const N: usize>(
        acc: &mut [A; N],
        ip: *const i32,
        vp: *const f64,
        xp: *const f64,
        e: usize,
    ) {
        for (j, a) in acc.iter_mut().enumerate() {
            let o = e + j * A::LANES;
            // SAFETY: the caller's guarantee.
            unsafe { *a = A::load(vp.add(o)).mul_add(gather::<A>(ip, xp, o), *a) };
        }
    }

    /// Single product.
    ///
    /// # Safety
    /// Every index in `0..x.len()`; `idx.len() == val.len()`; runs on `A`'s path.
    #[inline(always)]
    pub unsafe fn row_dot<A: Vector<Elem = f64>, const N: usize>(idx: &[i32], val: &[f64], x: &[f64]) -> f64 {
        let len = idx.len().min(val.len());
        let (ip, vp, xp) = (idx.as_ptr(), val.as_ptr(), x.as_ptr());
        let mut acc = [A::splat(0.0); N];
        let mut e = 0;
        while e + ACCS <= len {
            // SAFETY: e + 4 <= len; indices point inside x.
            unsafe { step(&mut acc, ip, vp, xp, e) };
            e += ACCS;
        }
        // SAFETY: as above.
        unsafe { finish(&acc, idx, val, xp, e, len) }
    }

    /// `out[k] = row(first + k) · x`, two rows per `row_dot2`.
    ///
    /// # Safety
    /// As `row_dot` for every row; `indptr` valid for `first..first + out.len()`.
    #[inline(always)]
    pub unsafe fn rows_into<A: Vector<Elem = f64>, const N: usize>(
        indptr: &[i64],
        indices: &[i32],
        data: &[f64],
        first: usize,
        x: &[f64],
        out: &mut [f64],
    ) {
        let row = |r: usize| {
            let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
            (&indices[a..b], &data[a..b])
        };
        let mut k = 0;
        while k + 1 < out.len() {
            // SAFETY: the caller's guarantee.
            let d = unsafe { row_dot2::<A, N>([row(first + k), row(first + k + 1)], x) };
            out[k] = d[0];
            out[k + 1] = d[1];
            k += 2;
        }
        if k < out.len() {
            let (idx, val) = row(first + k);
            // SAFETY: the caller's guarantee.
            out[k] = unsafe { row_dot::<A, N>(idx, val, x) };
        }
    }

    /// Two rows at once (two independent dependency chains for the
    /// out-of-order core), each in exactly `row_dot`'s order.
    ///
    /// # Safety
    /// As `row_dot`, for both rows.
    #[inline(always)]
    pub unsafe fn row_dot2<A: Vector<Elem = f64>, const N: usize>(
        rows: [(&[i32], &[f64]); 2],
        x: &[f64],
    ) -> [f64; 2] {
        let xp = x.as_ptr();
        let len = [rows[0].0.len().min(rows[0].1.len()), rows[1].0.len().min(rows[1].1.len())];
        let (ip, vp) = ([rows[0].0.as_ptr(), rows[1].0.as_ptr()], [rows[0].1.as_ptr(), rows[1].1.as_ptr()]);
        let mut acc = [[A::splat(0.0); N]; 2];
        let mut e = 0;
        let both = len[0].min(len[1]);
        while e + ACCS <= both {
            // SAFETY: e + 4 <= both rows' lengths.
            unsafe {
                step(&mut acc[0], ip[0], vp[0], xp, e);
                step(&mut acc[1], ip[1], vp[1], xp, e);
            }
            e += ACCS;
        }
        let mut out = [0.0; 2];
        for r in 0..2 {
            let mut er = e;
            while er + ACCS <= len[r] {
                // SAFETY: er + 4 <= len[r].
                unsafe { step(&mut acc[r], ip[r], vp[r], xp, er) };
                er += ACCS;
            }
            // SAFETY: as above.
            out[r] = unsafe { finish(&acc[r], rows[r].0, rows[r].1, xp, er, len[r]) };
        }
        out
    }

    /// `out[k * stride + l] = row(first + k) · x[:, l]` for `l < lanes`,
    /// in tiles of 8, 4, 2 and 1 vectors of `V` (see `RowKernel::rows_lanes`).
    ///
    /// # Safety
    /// Every index `c` of the rows satisfies `(c + 1) * stride <= x.len()`;
    /// `lanes % 8 == 0`, `lanes <= stride`, `out.len() % stride == 0`;
    /// `indptr` valid for the rows; runs on `V`'s path.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub unsafe fn rows_lanes<V: Vector>(
        indptr: &[i64],
        indices: &[i32],
        data: &[V::Elem],
        first: usize,
        x: &[V::Elem],
        stride: usize,
        lanes: usize,
        out: &mut [V::Elem],
    ) {
        let rows = out.len() / stride;
        let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
        for k in 0..rows {
            let (a, b) = (indptr[first + k] as usize, indptr[first + k + 1] as usize);
            let (idx, val) = (&indices[a..b], &data[a..b]);
            let mut l = 0;
            // SAFETY (all tiles): lanes l..l + tile <= lanes <= stride, by
            // the caller's guarantee.
            unsafe {
                let o = op.add(k * stride);
                while l + 8 * V::LANES <= lanes {
                    tile::<V, 8, 1>(idx, val, xp.add(l), stride, o.add(l));
                    l += 8 * V::LANES;
                }
                if l + 4 * V::LANES <= lanes {
                    tile::<V, 4, 2>(idx, val, xp.add(l), stride, o.add(l));
                    l += 4 * V::LANES;
                }
                if l + 2 * V::LANES <= lanes {
                    tile::<V, 2, 4>(idx, val, xp.add(l), stride, o.add(l));
                    l += 2 * V::LANES;
                }
                if l + V::LANES <= lanes {
                    tile::<V, 1, 4>(idx, val, xp.add(l), stride, o.add(l));
                }
            }
        }
    }

    /// One row times `R` vectors of lanes: accumulator `k` of the contract
    /// is `R` vectors; `P` accumulators are summed at a time (walking the
    /// row `4 / P` times) so that `R * P` vectors stay in registers, the
    /// finished ones parked in `sums`.
    ///
    /// # Safety
    /// As `rows_lanes`, with `x` and `out` pointing at the tile's first lane.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    unsafe fn tile<V: Vector, const R: usize, const P: usize>(
        idx: &[i32],
        val: &[V::Elem],
        x: *const V::Elem,
        stride: usize,
        out: *mut V::Elem,
    ) {
        let len = idx.len().min(val.len());
        let (ip, vp) = (idx.as_ptr(), val.as_ptr());
        let zero = V::splat(V::Elem::ZERO);
        let mut sums = [[zero; R]; ACCS];
        let mut pass = 0;
        while pass < ACCS {
            let mut acc = [[zero; R]; P];
            // Entries pass + p + 4q (p < P) go to accumulator pass + p, in order.
            let mut e = pass;
            while e + P <= len {
                for p in 0..P {
                    // SAFETY: e + p < len; the caller's guarantee for x.
                    unsafe { lane_entry(&mut acc[p], ip, vp, x, stride, e + p) };
                }
                e += ACCS;
            }
            for p in 0..P {
                if e + p < len {
                    // SAFETY: as above.
                    unsafe { lane_entry(&mut acc[p], ip, vp, x, stride, e + p) };
                }
            }
            sums[pass..pass + P].copy_from_slice(&acc);
            pass += P;
        }
        for j in 0..R {
            let s = sums[0][j].add(sums[2][j]).add(sums[1][j].add(sums[3][j]));
            // SAFETY: the tile's R vectors of lanes lie in out.
            unsafe { s.store(out.add(j * V::LANES)) };
        }
    }

    /// `acc += val[e] * x[idx[e], tile]` (the weight broadcast).
    ///
    /// # Safety
    /// `e < len` of idx and val; row `idx[e]` of the tile lies in x.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    unsafe fn lane_entry<V: Vector, const R: usize>(
        acc: &mut [V; R],
        ip: *const i32,
        vp: *const V::Elem,
        x: *const V::Elem,
        stride: usize,
        e: usize,
    ) {
        // SAFETY: the caller's guarantee.
        unsafe {
            let w = V::splat(*vp.add(e));
            let row = x.add(*ip.add(e) as usize * stride);
            for j in 0..R {
                acc[j] = w.mul_add(V::load(row.add(j * V::LANES)), acc[j]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservoir::init::{sparse_random, Distribution};

    /// `lanes` vectors of length n (sequence-major) -> lane-major
    /// `n x stride` (padding lanes hold a marker the products must ignore).
    fn lane_major<T: Float>(x: &[T], n: usize, lanes: usize, stride: usize) -> Vec<T> {
        let mut b = vec![T::from_f64(7.0); n * stride];
        for l in 0..lanes {
            for i in 0..n {
                b[i * stride + l] = x[l * n + i];
            }
        }
        b
    }

    /// Every lane of `rows_lanes` equals `dot` on that lane alone, for lane
    /// counts that take every tile size (8 vectors of 4 or 8 lanes, then 4,
    /// 2, 1) and rows of every length modulo 4.
    fn check_lanes<T: Float>(k: RowKernel<T>, x: &[T], n: usize) {
        for (lanes, stride) in [(8, 8), (24, 32), (40, 40), (120, 128)] {
            let xs = &x[..lanes * n];
            let b = lane_major(xs, n, lanes, stride);
            for first in [0, 3] {
                let rows = n - first - 1;
                let mut out = vec![T::from_f64(-3.0); rows * stride];
                k.rows_lanes(first, &b, stride, lanes, &mut out);
                for r in 0..rows {
                    for l in 0..stride {
                        let got = out[r * stride + l];
                        let want = if l < lanes {
                            k.dot(first + r, &xs[l * n..(l + 1) * n])
                        } else {
                            T::from_f64(-3.0)
                        };
                        assert_eq!(
                            got.to_f64().to_bits(),
                            want.to_f64().to_bits(),
                            "row {} lane {l} of {lanes}",
                            first + r
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn single_and_batched_products_agree_bitwise_on_both_paths() {
        let n = 77;
        let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 3, 0).unwrap();
        let x: Vec<f64> = (0..120 * n).map(|i| (i as f64 * 0.37).sin()).collect();
        let fast = RowKernel::new(m.as_ref()).unwrap();
        for k in [fast, fast.portable()] {
            for r in 0..n {
                let mut many = vec![0.0; n - r];
                k.dots(r, &x[..n], &mut many);
                assert_eq!(many[0].to_bits(), k.dot(r, &x[..n]).to_bits());
                assert_eq!(many[n - r - 1].to_bits(), k.dot(n - 1, &x[..n]).to_bits());
                if r + 1 < n {
                    let pair = k.dot2(r, &x[..n]);
                    assert_eq!(pair[0].to_bits(), k.dot(r, &x[..n]).to_bits());
                    assert_eq!(pair[1].to_bits(), k.dot(r + 1, &x[..n]).to_bits());
                }
            }
            check_lanes(k, &x, n);
        }
    }

    /// Float32 (vector kernels on the active path): a sequence inside a
    /// batch gives the bits of the sequence alone.
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn float32_single_and_batched_products_agree_bitwise() {
        let n = 61;
        let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 7, 0).unwrap().cast::<f32>();
        let x: Vec<f32> = (0..120 * n).map(|i| (i as f32 * 0.41).sin()).collect();
        let k = RowKernel::new(m.as_ref()).unwrap();
        for kk in [k, k.portable()] {
            let mut all = vec![0.0f32; n];
            kk.dots(0, &x[..n], &mut all);
            for r in 0..n {
                assert_eq!(all[r].to_bits(), kk.dot(r, &x[..n]).to_bits());
            }
            check_lanes(kk, &x, n);
        }
    }

    /// The vector paths (one source) give the same bits as each other.
    #[test]
    fn vector_paths_agree_bitwise() {
        let n = 53;
        let m = sparse_random(n, n, 0.35, Distribution::Normal, 1.0, 5, 0).unwrap();
        let lanes = 40;
        let x: Vec<f64> = (0..lanes * n).map(|i| (i as f64 * 0.29).cos()).collect();
        let b = lane_major(&x, n, lanes, lanes);
        let active = RowKernel::new(m.as_ref()).unwrap();
        println!("row kernel path: {:?}", active.isa);
        let want = active.with_isa(Isa::best());
        let mut want_b = vec![0.0; n * lanes];
        want.rows_lanes(0, &b, lanes, lanes, &mut want_b);
        for isa in Isa::supported().into_iter().filter(|&i| i != Isa::Scalar) {
            let k = active.with_isa(isa);
            for r in 0..n {
                assert_eq!(k.dot(r, &x[..n]).to_bits(), want.dot(r, &x[..n]).to_bits(), "{isa:?}");
            }
            let mut got_b = vec![0.0; n * lanes];
            k.rows_lanes(0, &b, lanes, lanes, &mut got_b);
            assert!(got_b.iter().zip(&want_b).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa:?}");
        }
    }

    /// The compact copy's products equal the exact products with the values
    /// rounded to f32, on every supported path (rows of every length mod 8).
    #[test]
    fn compact_products_match_the_rounded_matrix_on_every_path() {
        let n = 90;
        let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 13, 0).unwrap();
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.61).sin()).collect();
        let rounded: Vec<f64> = m.data.iter().map(|&v| f64::from(v as f32)).collect();
        let mut lengths = [false; 8];
        for isa in Isa::supported() {
            let k = RowKernel::new(m.as_ref()).unwrap().with_isa(isa);
            let c = Compact::new(&k).unwrap();
            assert_eq!(c.nnz(), m.data.len());
            let mut out = vec![0.0; n - 2];
            c.dots(2, &x, &mut out);
            for (r, &got) in (2..n).zip(&out) {
                let (a, b) = (m.indptr[r] as usize, m.indptr[r + 1] as usize);
                lengths[(b - a) % 8] = true;
                let want: f64 = (a..b).map(|e| rounded[e] * x[m.indices[e] as usize]).sum();
                let scale: f64 = (a..b).map(|e| (rounded[e] * x[m.indices[e] as usize]).abs()).sum();
                assert!((got - want).abs() <= 1e-14 * scale, "{isa:?} row {r}: {got} vs {want}");
            }
        }
        assert!(lengths.iter().all(|&l| l), "row lengths mod 8 not all covered: {lengths:?}");
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn products_match_the_dense_matrix() {
        let n = 45;
        let m = sparse_random(n, n, 0.4, Distribution::Normal, 1.0, 9, 0).unwrap();
        let d = m.to_dense().unwrap();
        let x: Vec<f64> = (0..n).map(|i| (i as f64).cos()).collect();
        let k = RowKernel::new(m.as_ref()).unwrap();
        let mut y = vec![0.0; n];
        k.matvec(&x, &mut y);
        for r in 0..n {
            let want: f64 = (0..n).map(|c| d[r * n + c] * x[c]).sum();
            assert!((y[r] - want).abs() < 1e-12);
            assert!((k.portable().dot(r, &x) - want).abs() < 1e-12);
        }
        let m32 = m.cast::<f32>();
        let k32 = RowKernel::new(m32.as_ref()).unwrap();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        for r in 0..n {
            assert!((k32.dot(r, &x32) as f64 - y[r]).abs() < 1e-4);
        }
    }
}
