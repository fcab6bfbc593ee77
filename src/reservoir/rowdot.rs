//! Sparse row products in one fixed summation order, shared by the
//! single-sequence kernel (a row times one vector, AVX-512 gathers) and the
//! batched kernel (a row times blocks of `LANES` sequences, the weight
//! broadcast over a block), so that a sequence computed inside a batch equals
//! the same sequence computed alone, bit for bit, and neither depends on the
//! thread count.
//!
//! The order ("8-accumulator contract"): entry `e` of a row (in stored order)
//! goes to accumulator `e % 8`, each accumulator summing its entries in
//! order; the result is `((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))`.
//! On AVX-512 (float64) every accumulation is a fused multiply-add; the
//! portable path (float32, other CPUs) multiplies and adds separately. Which
//! path runs is fixed per element type and CPU, so the single and batched
//! kernels always agree.

use crate::error::Result;
use crate::float::Float;
use crate::reservoir::csr::CsrRef;
use std::any::TypeId;

/// Accumulators per row, and sequences per batch block.
pub const LANES: usize = 8;

/// A validated CSR matrix with the row kernels for its element type.
#[derive(Clone, Copy, Debug)]
pub struct RowKernel<'a, T> {
    csr: CsrRef<'a, T>,
    /// AVX-512 float64 kernels (T is f64 and the CPU has AVX-512F).
    simd: bool,
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

/// `((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))`.
#[inline(always)]
fn reduce8<T: Float>(a: &[T; LANES]) -> T {
    let t = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    let u = [t[0] + t[2], t[1] + t[3]];
    u[0] + u[1]
}

impl<'a, T: Float> RowKernel<'a, T> {
    /// Validates the structure once, so the kernels can index without checks.
    pub fn new(csr: CsrRef<'a, T>) -> Result<Self> {
        csr.validate()?;
        let simd = TypeId::of::<T>() == TypeId::of::<f64>() && avx512::available();
        Ok(RowKernel { csr, simd })
    }

    /// The same matrix on the portable path (tests compare the two paths).
    pub fn portable(self) -> Self {
        RowKernel { simd: false, ..self }
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
        if self.simd {
            if let (Some(v), Some(xv)) = (as_f64(val), as_f64(x)) {
                // SAFETY: `new` validated 0 <= idx < cols <= x.len(), and
                // `simd` is only set when AVX-512F is available.
                let d = unsafe { avx512::row_dot(idx, v, xv) };
                return T::from_f64(d);
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
        if self.simd {
            if let (Some(v0), Some(v1), Some(xv)) = (as_f64(r0.1), as_f64(r1.1), as_f64(x)) {
                // SAFETY: as in `dot`.
                let d = unsafe { avx512::row_dot2([(r0.0, v0), (r1.0, v1)], xv) };
                return [T::from_f64(d[0]), T::from_f64(d[1])];
            }
        }
        [portable_dot(r0.0, r0.1, x), portable_dot(r1.0, r1.1, x)]
    }

    /// `out[k] = A[first + k, :] · x`, each equal to `dot` (one kernel call
    /// for the whole range, rows two at a time).
    pub fn dots(&self, first: usize, x: &[T], out: &mut [T]) {
        assert!(x.len() >= self.csr.cols, "x shorter than the matrix width");
        assert!(first + out.len() <= self.csr.rows, "rows out of range");
        if self.simd {
            let c = self.csr;
            if let (Some(v), Some(xv), Some(o)) = (as_f64(c.data), as_f64(x), as_f64_mut(out)) {
                // SAFETY: as in `dot`; rows checked above.
                unsafe { avx512::rows_into(c.indptr, c.indices, v, first, xv, o) };
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
        if self.simd {
            if let Some(v) = as_f64(val) {
                let xf: [&[f64]; NB] = std::array::from_fn(|b| as_f64(xs[b]).unwrap_or(&[]));
                let mut out = [[T::ZERO; LANES]; NB];
                // SAFETY: validated indices, block lengths checked above,
                // AVX-512F available.
                let d = unsafe { avx512::row_dot_blocks::<NB>(idx, v, xf) };
                for (o, db) in out.iter_mut().zip(&d) {
                    if let Some(of) = as_f64_mut(o) {
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
    let mut a = [T::ZERO; LANES];
    let (ic, vc) = (idx.chunks_exact(LANES), val.chunks_exact(LANES));
    let (it, vt) = (ic.remainder(), vc.remainder());
    for (c, v) in ic.zip(vc) {
        for l in 0..LANES {
            a[l] += v[l] * x[c[l] as usize];
        }
    }
    for (l, (&c, &v)) in it.iter().zip(vt).enumerate() {
        a[l] += v * x[c as usize];
    }
    reduce8(&a)
}

/// Portable batched product (bounds-checked), in the contract's order.
#[inline(always)]
fn portable_dot_blocks<T: Float, const NB: usize>(
    idx: &[i32],
    val: &[T],
    xs: [&[T]; NB],
) -> [[T; LANES]; NB] {
    // acc[b][k][l]: block b, accumulator k, sequence lane l.
    let mut acc = [[[T::ZERO; LANES]; LANES]; NB];
    for (e, (&c, &v)) in idx.iter().zip(val).enumerate() {
        let k = e % LANES;
        let c = c as usize * LANES;
        for b in 0..NB {
            let col = &xs[b][c..c + LANES];
            for l in 0..LANES {
                acc[b][k][l] += v * col[l];
            }
        }
    }
    std::array::from_fn(|b| std::array::from_fn(|l| reduce8(&std::array::from_fn(|k| acc[b][k][l]))))
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::LANES;
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        crate::kernels::Isa::Avx512.is_supported() && is_x86_feature_detected!("avx512vl")
    }

    /// `x[idx[e..e + 8]]` as one vector, by scalar loads and inserts (the
    /// compiler's `vmovsd`/`vmovhpd`/`vinsert*`), measured ~20% faster than
    /// `vgatherdpd` on Zen 5.
    ///
    /// # Safety
    /// `e + 8 <= idx.len()`, indices inside x.
    /// Only called from the AVX-512 kernels (inlined into them).
    #[inline(always)]
    unsafe fn gather8(ip: *const i32, xp: *const f64, e: usize) -> __m512d {
        // SAFETY: by the caller's guarantee (indices inside x, AVX-512F).
        unsafe {
            let g = |k: usize| *xp.add(*ip.add(e + k) as usize);
            _mm512_set_pd(g(7), g(6), g(5), g(4), g(3), g(2), g(1), g(0))
        }
    }

    /// Adds the last `len - e < 8` entries to lanes `0..len - e` of `acc`
    /// (scalar fused multiply-adds: the same rounding as the vector ones),
    /// then the contract's final sum. Scalar because rows are short: a
    /// masked gather and a vector reduction cost more than the few entries.
    ///
    /// # Safety
    /// `e <= len <= e + 8`, lengths of idx and val >= len, indices inside x.
    /// Only called from the AVX-512 kernels (inlined into them, so it
    /// compiles with their target features).
    #[inline(always)]
    unsafe fn finish(acc: __m512d, idx: &[i32], val: &[f64], xp: *const f64, e: usize, len: usize) -> f64 {
        let mut a = [0.0f64; LANES];
        // SAFETY: `a` holds 8 f64.
        unsafe { _mm512_storeu_pd(a.as_mut_ptr(), acc) };
        for (k, (&c, &v)) in idx[e..len].iter().zip(&val[e..len]).enumerate() {
            // SAFETY: the index points inside x.
            a[k] = v.mul_add(unsafe { *xp.add(c as usize) }, a[k]);
        }
        ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
    }

    /// Single product: entry `e` in lane `e % 8` of one accumulator vector.
    ///
    /// # Safety
    /// AVX-512F and VL available; every index in `0..x.len()`; `idx.len() == val.len()`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    pub unsafe fn row_dot(idx: &[i32], val: &[f64], x: &[f64]) -> f64 {
        let len = idx.len().min(val.len());
        let (ip, vp, xp) = (idx.as_ptr(), val.as_ptr(), x.as_ptr());
        let mut acc = _mm512_setzero_pd();
        let mut e = 0;
        while e + LANES <= len {
            // SAFETY: e + 8 <= len; indices point inside x.
            unsafe { acc = _mm512_fmadd_pd(_mm512_loadu_pd(vp.add(e)), gather8(ip, xp, e), acc) };
            e += LANES;
        }
        // SAFETY: as above.
        unsafe { finish(acc, idx, val, xp, e, len) }
    }

    /// `out[k] = row(first + k) · x`, two rows per `row_dot2`.
    ///
    /// # Safety
    /// As `row_dot` for every row; `indptr` valid for `first..first + out.len()`.
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    pub unsafe fn rows_into(
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
            let d = unsafe { row_dot2([row(first + k), row(first + k + 1)], x) };
            out[k] = d[0];
            out[k + 1] = d[1];
            k += 2;
        }
        if k < out.len() {
            let (idx, val) = row(first + k);
            // SAFETY: the caller's guarantee.
            out[k] = unsafe { row_dot(idx, val, x) };
        }
    }

    /// Two rows at once (two independent dependency chains for the
    /// out-of-order core), each in exactly `row_dot`'s order.
    ///
    /// # Safety
    /// As `row_dot`, for both rows.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    pub unsafe fn row_dot2(rows: [(&[i32], &[f64]); 2], x: &[f64]) -> [f64; 2] {
        let xp = x.as_ptr();
        let len = [rows[0].0.len().min(rows[0].1.len()), rows[1].0.len().min(rows[1].1.len())];
        let (ip, vp) = ([rows[0].0.as_ptr(), rows[1].0.as_ptr()], [rows[0].1.as_ptr(), rows[1].1.as_ptr()]);
        let mut acc = [_mm512_setzero_pd(); 2];
        let mut e = 0;
        let both = len[0].min(len[1]);
        while e + LANES <= both {
            // SAFETY: e + 8 <= both rows' lengths.
            unsafe {
                let x0 = gather8(ip[0], xp, e);
                let x1 = gather8(ip[1], xp, e);
                acc[0] = _mm512_fmadd_pd(_mm512_loadu_pd(vp[0].add(e)), x0, acc[0]);
                acc[1] = _mm512_fmadd_pd(_mm512_loadu_pd(vp[1].add(e)), x1, acc[1]);
            }
            e += LANES;
        }
        let mut out = [0.0; 2];
        for r in 0..2 {
            let mut er = e;
            while er + LANES <= len[r] {
                // SAFETY: er + 8 <= len[r].
                unsafe {
                    acc[r] = _mm512_fmadd_pd(_mm512_loadu_pd(vp[r].add(er)), gather8(ip[r], xp, er), acc[r])
                };
                er += LANES;
            }
            // SAFETY: as above.
            out[r] = unsafe { finish(acc[r], rows[r].0, rows[r].1, xp, er, len[r]) };
        }
        out
    }

    /// Batched product over `NB` blocks: accumulator `k` of block `b` is one
    /// vector over the block's 8 sequences; each entry's weight is broadcast.
    ///
    /// # Safety
    /// AVX-512F and VL available; every index `c` satisfies `(c + 1) * 8 <= xs[b].len()`.
    // Constant-index loops keep the accumulators in registers.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    pub unsafe fn row_dot_blocks<const NB: usize>(
        idx: &[i32],
        val: &[f64],
        xs: [&[f64]; NB],
    ) -> [[f64; LANES]; NB] {
        let len = idx.len().min(val.len());
        let full = len / LANES * LANES;
        let mut acc = [[_mm512_setzero_pd(); LANES]; NB];
        let xp: [*const f64; NB] = std::array::from_fn(|b| xs[b].as_ptr());
        let mut e = 0;
        while e < full {
            for k in 0..LANES {
                // SAFETY: e + k < len; the index is validated.
                unsafe {
                    let c = *idx.get_unchecked(e + k) as usize * LANES;
                    let w = _mm512_set1_pd(*val.get_unchecked(e + k));
                    for b in 0..NB {
                        acc[b][k] = _mm512_fmadd_pd(w, _mm512_loadu_pd(xp[b].add(c)), acc[b][k]);
                    }
                }
            }
            e += LANES;
        }
        for k in 0..LANES {
            if e + k < len {
                // SAFETY: as above.
                unsafe {
                    let c = *idx.get_unchecked(e + k) as usize * LANES;
                    let w = _mm512_set1_pd(*val.get_unchecked(e + k));
                    for b in 0..NB {
                        acc[b][k] = _mm512_fmadd_pd(w, _mm512_loadu_pd(xp[b].add(c)), acc[b][k]);
                    }
                }
            }
        }
        let mut out = [[0.0; LANES]; NB];
        for b in 0..NB {
            let a = &acc[b];
            let t = [
                _mm512_add_pd(a[0], a[4]),
                _mm512_add_pd(a[1], a[5]),
                _mm512_add_pd(a[2], a[6]),
                _mm512_add_pd(a[3], a[7]),
            ];
            let s = _mm512_add_pd(_mm512_add_pd(t[0], t[2]), _mm512_add_pd(t[1], t[3]));
            // SAFETY: out[b] holds 8 f64.
            unsafe { _mm512_storeu_pd(out[b].as_mut_ptr(), s) };
        }
        out
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod avx512 {
    use super::LANES;
    pub fn available() -> bool {
        false
    }
    pub unsafe fn row_dot(_: &[i32], _: &[f64], _: &[f64]) -> f64 {
        unreachable!("AVX-512 kernels are only selected on x86-64")
    }
    pub unsafe fn row_dot2(_: [(&[i32], &[f64]); 2], _: &[f64]) -> [f64; 2] {
        unreachable!("AVX-512 kernels are only selected on x86-64")
    }
    pub unsafe fn rows_into(_: &[i64], _: &[i32], _: &[f64], _: usize, _: &[f64], _: &mut [f64]) {
        unreachable!("AVX-512 kernels are only selected on x86-64")
    }
    pub unsafe fn row_dot_blocks<const NB: usize>(
        _: &[i32],
        _: &[f64],
        _: [&[f64]; NB],
    ) -> [[f64; LANES]; NB] {
        unreachable!("AVX-512 kernels are only selected on x86-64")
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
