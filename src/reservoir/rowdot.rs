//! Sparse row products in one fixed summation order, shared by the
//! single-sequence kernel (a row times one vector, gathered) and the
//! batched kernel (a row times blocks of `LANES` sequences, the weight
//! broadcast over a block), so that a sequence computed inside a batch equals
//! the same sequence computed alone, bit for bit, and neither depends on the
//! thread count.
//!
//! The order ("4-accumulator contract"): entry `e` of a row (in stored order)
//! goes to accumulator `e % 4`, each accumulator summing its entries in
//! order; the result is `(a0 + a2) + (a1 + a3)`. Four accumulators are one
//! 256-bit vector of float64 for a single row (short rows of ~10 entries
//! fill whole vectors), and leave a batch block of 8 sequences 8 registers of
//! accumulators on AVX2 (16 registers), so nothing spills. On the vector
//! paths (float64 on AVX-512, AVX2 or NEON: one kernel source, `vec` below)
//! every accumulation is a fused multiply-add, so these paths give the same
//! bits; the portable path (float32, `RNNRS_SIMD=scalar`) multiplies and
//! adds separately. Which path runs is fixed per element type and process,
//! so the single and batched kernels always agree.

use crate::error::Result;
use crate::float::Float;
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
use crate::kernels::{run_on, Isa};
use crate::reservoir::csr::CsrRef;
use std::any::TypeId;

/// Runs `$body` compiled for `$isa` with `A` the float64 vector type of
/// single-row products (`N` of them hold the 4 accumulators) and `V` the one
/// of batch blocks (`M` of them hold a block's 8 sequences). An
/// `Isa::Scalar` never gets here; other paths are supported: `Isa::active()`
/// only returns those.
macro_rules! on_path {
    ($isa:expr, $A:ident, $N:ident, $V:ident, $M:ident => $body:expr) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                #[allow(dead_code)]
                type $A = crate::kernels::vector::x86::F64x4;
                #[allow(dead_code)]
                type $V = crate::kernels::vector::x86::F64x8;
                #[allow(dead_code)]
                const $N: usize = 1;
                #[allow(dead_code)]
                const $M: usize = 1;
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
                #[allow(dead_code)]
                const $M: usize = 2;
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
                #[allow(dead_code)]
                const $M: usize = 4;
                $body
            }
            _ => {
                #[allow(dead_code)]
                type $A = crate::kernels::vector::scalar::F64x1;
                #[allow(dead_code)]
                type $V = crate::kernels::vector::scalar::F64x1;
                #[allow(dead_code)]
                const $N: usize = 4;
                #[allow(dead_code)]
                const $M: usize = 8;
                $body
            }
        }
    };
}

/// Runs `$body` compiled for `$isa` with `V` the float32 vector type of
/// batch blocks (`M` of them hold a block's 8 sequences). Single float32
/// rows use `V`'s fused lane operation on 4 scalar accumulators (no 4-lane
/// float32 vector on x86), which rounds like the vector `mul_add`.
macro_rules! on_path_f32 {
    ($isa:expr, $V:ident, $M:ident => $body:expr) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 | Isa::Avx2 => {
                type $V = crate::kernels::vector::x86::F32x8;
                #[allow(dead_code)]
                const $M: usize = 1;
                run_on(
                    $isa,
                    #[inline(always)]
                    || $body,
                )
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                type $V = crate::kernels::vector::neon::F32x4;
                #[allow(dead_code)]
                const $M: usize = 2;
                $body
            }
            _ => {
                type $V = crate::kernels::vector::scalar::F32x1;
                #[allow(dead_code)]
                const $M: usize = 8;
                $body
            }
        }
    };
}

/// Accumulators per row (the contract above).
pub const ACCS: usize = 4;

/// Sequences per batch block.
pub const LANES: usize = 8;

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

    /// Blocks of `LANES` sequences `dot_blocks` should take at once: as many
    /// as keep their accumulators in registers (2 with 32 vector registers
    /// of 8 float64, else 1). Any choice gives the same results.
    pub fn blocks_per_pass(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.isa == Isa::Avx512 || (self.isa == Isa::Avx2 && TypeId::of::<T>() == TypeId::of::<f32>()) {
            return 2;
        }
        1
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
                let d = on_path!(self.isa, A, N, V, M => unsafe { vec::row_dot::<A, N>(idx, v, xv) });
                return T::from_f64(d);
            }
            if let (Some(v), Some(xv)) = (as_f32(val), as_f32(x)) {
                // SAFETY: as above.
                let d = on_path_f32!(self.isa, V, M => unsafe { vec::row_dot_lanes::<V>(idx, v, xv) });
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
                let d = on_path!(self.isa, A, N, V, M => unsafe { vec::row_dot2::<A, N>([(r0.0, v0), (r1.0, v1)], xv) });
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
                on_path!(self.isa, A, N, V, M => unsafe { vec::rows_into::<A, N>(c.indptr, c.indices, v, first, xv, o) });
                return;
            }
            if let (Some(v), Some(xv), Some(o)) = (as_f32(c.data), as_f32(x), as_f32_mut(out)) {
                // SAFETY: as above.
                on_path_f32!(self.isa, V, M => unsafe { vec::rows_into_lanes::<V>(c.indptr, c.indices, v, first, xv, o) });
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

    /// Row `r` times `NB` blocks of `LANES` sequences: `xs[b]` is unit-major
    /// (`cols x LANES`), and `out[b][l] = A[r, :] · xs[b][:, l]`, each equal
    /// to `dot` on that column alone.
    #[inline]
    pub fn dot_blocks<const NB: usize>(&self, r: usize, xs: [&[T]; NB]) -> [[T; LANES]; NB] {
        for x in &xs {
            assert!(x.len() >= self.csr.cols * LANES, "block shorter than cols x LANES");
        }
        let (idx, val) = self.row(r);
        if self.isa != Isa::Scalar {
            if let Some(v) = as_f64(val) {
                let xf: [&[f64]; NB] = std::array::from_fn(|b| as_f64(xs[b]).unwrap_or(&[]));
                let mut out = [[T::ZERO; LANES]; NB];
                // SAFETY: validated indices, block lengths checked above.
                let d =
                    on_path!(self.isa, A, N, V, M => unsafe { vec::row_dot_blocks::<V, M, NB>(idx, v, xf) });
                for (o, db) in out.iter_mut().zip(&d) {
                    if let Some(of) = as_f64_mut(o) {
                        of.copy_from_slice(db);
                    }
                }
                return out;
            }
            if let Some(v) = as_f32(val) {
                let xf: [&[f32]; NB] = std::array::from_fn(|b| as_f32(xs[b]).unwrap_or(&[]));
                let mut out = [[T::ZERO; LANES]; NB];
                // SAFETY: as above.
                let d =
                    on_path_f32!(self.isa, V, M => unsafe { vec::row_dot_blocks::<V, M, NB>(idx, v, xf) });
                for (o, db) in out.iter_mut().zip(&d) {
                    if let Some(of) = as_f32_mut(o) {
                        of.copy_from_slice(db);
                    }
                }
                return out;
            }
        }
        portable_dot_blocks(idx, val, xs)
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

/// Portable batched product (bounds-checked), in the contract's order.
#[inline(always)]
fn portable_dot_blocks<T: Float, const NB: usize>(
    idx: &[i32],
    val: &[T],
    xs: [&[T]; NB],
) -> [[T; LANES]; NB] {
    // acc[b][k][l]: block b, accumulator k, sequence lane l.
    let mut acc = [[[T::ZERO; LANES]; ACCS]; NB];
    for (e, (&c, &v)) in idx.iter().zip(val).enumerate() {
        let k = e % ACCS;
        let c = c as usize * LANES;
        for b in 0..NB {
            let col = &xs[b][c..c + LANES];
            for l in 0..LANES {
                acc[b][k][l] += v * col[l];
            }
        }
    }
    std::array::from_fn(|b| std::array::from_fn(|l| reduce4(&std::array::from_fn(|k| acc[b][k][l]))))
}

/// The float64 vector kernels, one source for every path: the 4
/// accumulators of a single row are `N` vectors of `A` (`N * A::LANES == 4`),
/// entry `e` of a row in lane `e % 4`; a batch block's 8 sequences are `M`
/// vectors of `V`, with 4 accumulators each.
mod vec {
    use super::{ACCS, LANES};
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

    /// Entry `e` of a row into accumulator `k` (= e % 4, a constant of the
    /// caller's unrolled loops, so the accumulators stay in registers) of
    /// every block; the weight is broadcast.
    ///
    /// # Safety
    /// `e < idx.len(), val.len()`; `(idx[e] + 1) * 8 <= xs[b].len()`.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    unsafe fn add_entry<V: Vector, const M: usize, const NB: usize>(
        acc: &mut [[[V; M]; ACCS]; NB],
        idx: &[i32],
        val: &[V::Elem],
        xp: &[*const V::Elem; NB],
        e: usize,
        k: usize,
    ) {
        // SAFETY: the caller's guarantee.
        unsafe {
            let c = *idx.get_unchecked(e) as usize * LANES;
            let w = V::splat(*val.get_unchecked(e));
            for b in 0..NB {
                for j in 0..M {
                    let xv = V::load(xp[b].add(c + j * V::LANES));
                    acc[b][k][j] = w.mul_add(xv, acc[b][k][j]);
                }
            }
        }
    }

    /// Batched product over `NB` blocks: accumulator `k` of block `b` is `M`
    /// vectors over the block's 8 sequences; each entry's weight is broadcast.
    ///
    /// # Safety
    /// Every index `c` satisfies `(c + 1) * 8 <= xs[b].len()`; runs on `V`'s path.
    // Constant-index loops keep the accumulators in registers.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    pub unsafe fn row_dot_blocks<V: Vector, const M: usize, const NB: usize>(
        idx: &[i32],
        val: &[V::Elem],
        xs: [&[V::Elem]; NB],
    ) -> [[V::Elem; LANES]; NB] {
        let len = idx.len().min(val.len());
        let mut acc = [[[V::splat(V::Elem::ZERO); M]; ACCS]; NB];
        let xp: [*const V::Elem; NB] = std::array::from_fn(|b| xs[b].as_ptr());
        // Entry e (in order) goes to accumulator k = e % 4 (passed as a
        // constant of the unrolled loops, so `acc` stays in registers).
        let full = len / ACCS * ACCS;
        let mut e = 0;
        while e < full {
            for k in 0..ACCS {
                // SAFETY: e + k < len; indices validated by the caller.
                unsafe { add_entry(&mut acc, idx, val, &xp, e + k, k) };
            }
            e += ACCS;
        }
        for k in 0..ACCS {
            if full + k < len {
                // SAFETY: as above.
                unsafe { add_entry(&mut acc, idx, val, &xp, full + k, k) };
            }
        }
        let mut out = [[V::Elem::ZERO; LANES]; NB];
        for b in 0..NB {
            let a = &acc[b];
            for j in 0..M {
                let s = a[0][j].add(a[2][j]).add(a[1][j].add(a[3][j]));
                // SAFETY: out[b] holds 8 values.
                unsafe { s.store(out[b].as_mut_ptr().add(j * V::LANES)) };
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservoir::init::{sparse_random, Distribution};

    fn blocks_of(x: &[f64], n: usize, lanes: usize) -> Vec<f64> {
        // x: `lanes` vectors of length n -> unit-major n x LANES (padded with 0).
        let mut b = vec![0.0; n * LANES];
        for l in 0..lanes {
            for i in 0..n {
                b[i * LANES + l] = x[l * n + i];
            }
        }
        b
    }

    #[test]
    fn single_and_blocked_products_agree_bitwise_on_both_paths() {
        let n = 77;
        let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 3, 0).unwrap();
        let x: Vec<f64> = (0..2 * LANES * n).map(|i| (i as f64 * 0.37).sin()).collect();
        let b0 = blocks_of(&x[..LANES * n], n, LANES);
        let b1 = blocks_of(&x[LANES * n..], n, LANES);
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
                let two = k.dot_blocks::<2>(r, [&b0, &b1]);
                let one = k.dot_blocks::<1>(r, [&b1]);
                for l in 0..LANES {
                    let s0 = k.dot(r, &x[l * n..(l + 1) * n]);
                    let s1 = k.dot(r, &x[(LANES + l) * n..(LANES + l + 1) * n]);
                    assert_eq!(two[0][l].to_bits(), s0.to_bits());
                    assert_eq!(two[1][l].to_bits(), s1.to_bits());
                    assert_eq!(one[0][l].to_bits(), s1.to_bits());
                }
            }
        }
    }

    /// Float32 (vector kernels on the active path): a sequence inside a
    /// block of 8 gives the bits of the sequence alone.
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn float32_single_and_blocked_products_agree_bitwise() {
        let n = 61;
        let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 7, 0).unwrap().cast::<f32>();
        let x: Vec<f32> = (0..2 * LANES * n).map(|i| (i as f32 * 0.41).sin()).collect();
        let mut b = [vec![0.0f32; n * LANES], vec![0.0f32; n * LANES]];
        for (h, blk) in b.iter_mut().enumerate() {
            for l in 0..LANES {
                for i in 0..n {
                    blk[i * LANES + l] = x[(h * LANES + l) * n + i];
                }
            }
        }
        let k = RowKernel::new(m.as_ref()).unwrap();
        for kk in [k, k.portable()] {
            let mut all = vec![0.0f32; n];
            kk.dots(0, &x[..n], &mut all);
            for r in 0..n {
                assert_eq!(all[r].to_bits(), kk.dot(r, &x[..n]).to_bits());
                let two = kk.dot_blocks::<2>(r, [&b[0], &b[1]]);
                for l in 0..LANES {
                    let s0 = kk.dot(r, &x[l * n..(l + 1) * n]);
                    let s1 = kk.dot(r, &x[(LANES + l) * n..(LANES + l + 1) * n]);
                    assert_eq!(two[0][l].to_bits(), s0.to_bits());
                    assert_eq!(two[1][l].to_bits(), s1.to_bits());
                }
            }
        }
    }

    /// The vector paths (one source) give the same bits as each other.
    #[test]
    fn vector_paths_agree_bitwise() {
        let n = 53;
        let m = sparse_random(n, n, 0.35, Distribution::Normal, 1.0, 5, 0).unwrap();
        let x: Vec<f64> = (0..LANES * n).map(|i| (i as f64 * 0.29).cos()).collect();
        let b = blocks_of(&x, n, LANES);
        let active = RowKernel::new(m.as_ref()).unwrap();
        println!("row kernel path: {:?}", active.isa);
        for isa in Isa::supported().into_iter().filter(|&i| i != Isa::Scalar) {
            let k = active.with_isa(isa);
            let want = active.with_isa(Isa::best());
            for r in 0..n {
                assert_eq!(k.dot(r, &x[..n]).to_bits(), want.dot(r, &x[..n]).to_bits(), "{isa:?}");
                let (got_b, want_b) = (k.dot_blocks::<1>(r, [&b]), want.dot_blocks::<1>(r, [&b]));
                for l in 0..LANES {
                    assert_eq!(got_b[0][l].to_bits(), want_b[0][l].to_bits(), "{isa:?}");
                }
            }
        }
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
