//! The matrix products of the time loop.
//!
//! `StepWeight`: a weight multiplied at every step (or chunk of steps),
//! laid out once per call: packed for the AVX-512 float32 kernels of
//! `crate::linalg::packed_f32`, else as a plain row-major matrix. For batch 1
//! and small hidden sizes a step is a few thousand multiply-adds, where the
//! set-up cost of a general GEMM call dominates; there a plain loop over
//! contiguous rows (dot products / axpys) is faster. Other products use
//! faer's GEMM. Per-step products run serially: the layer parallelises a step
//! over blocks of batch rows itself (see `direction.rs`), so results never
//! depend on the thread count and no per-step thread barrier is paid.
//! `WeightGrads`: the weight gradients of a chunk of steps.

#[cfg(target_arch = "x86_64")]
use crate::linalg::packed_f32::{self, PackedB};
use crate::linalg::{as_f32, as_f32_mut, gemm, op_f32, Op};
use crate::{Float, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Products up to this many multiply-adds (and at most `SMALL_ROWS` rows)
/// use the plain loops.
const SMALL_FLOPS: usize = 1 << 16;
const SMALL_ROWS: usize = 8;

fn is_small(m: usize, n: usize, k: usize) -> bool {
    m <= SMALL_ROWS && m.saturating_mul(n).saturating_mul(k) <= SMALL_FLOPS
}

/// Dot product with 8 independent accumulators (vectorizes; fixed order).
#[inline(always)]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += *x * *y;
    }
    s
}

/// Serial `C (m, n) (+)= op(A) op(B)`, all row-major and contiguous; `a` is
/// `(m, k)`; `b` is `(n, k)` when `b_trans`, else `(k, n)`.
#[allow(clippy::too_many_arguments)]
fn gemm_seq<T: Float>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    m: usize,
    k: usize,
    n: usize,
    b_trans: bool,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // A column-major (n, m) view of C, transposed, is row-major (m, n) (see
    // the note in `crate::linalg::gemm` on faer's row-major mutable views).
    let cv: MatMut<'_, T> = MatMut::from_column_major_slice_mut(&mut c[..m * n], n, m).transpose_mut();
    let av = MatRef::from_row_major_slice(&a[..m * k], m, k);
    let bv = if b_trans {
        MatRef::from_row_major_slice(&b[..n * k], n, k).transpose()
    } else {
        MatRef::from_row_major_slice(&b[..k * n], k, n)
    };
    let acc = if accumulate { Accum::Add } else { Accum::Replace };
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(T::ZERO);
        }
        return;
    }
    matmul(cv, acc, av, bv, T::ONE, Par::Seq);
}

fn view<'a, T>(o: &Op<'a, T>) -> MatRef<'a, T> {
    let len = if o.rows == 0 { 0 } else { (o.rows - 1) * o.ld + o.cols };
    let m = MatRef::from_row_major_slice_with_stride(&o.data[..len], o.rows, o.cols, o.ld.max(1));
    if o.trans {
        m.transpose()
    } else {
        m
    }
}

/// A large product (contiguous row-major C, `m x n`): `crate::linalg::gemm`
/// (parallel on the pool when large), or strictly serial on the calling
/// thread when `serial` (small runs that never enter the pool).
pub fn big_gemm<T: Float>(serial: bool, c: &mut [T], a: Op<'_, T>, b: Op<'_, T>, accumulate: bool) {
    let (m, k) = a.shape();
    let n = b.shape().1;
    #[cfg(target_arch = "x86_64")]
    if packed_f32::worth_packing(m, n, b.trans) {
        if let (Some(c32), Some(a32), Some(b32)) = (as_f32_mut(c), op_f32(a), op_f32(b)) {
            let par = !serial && crate::par::current_threads() > 1;
            packed_f32::gemm(c32, n, a32, b32, 1.0, accumulate, par);
            return;
        }
    }
    if !serial || m == 0 || n == 0 || k == 0 {
        gemm(c, n, a, b, T::ONE, accumulate);
        return;
    }
    let cv: MatMut<'_, T> = MatMut::from_column_major_slice_mut(&mut c[..m * n], n, m).transpose_mut();
    let acc = if accumulate { Accum::Add } else { Accum::Replace };
    matmul(cv, acc, view(&a), view(&b), T::ONE, Par::Seq);
}

/// Weight gradients accumulated chunk by chunk: `dw += dG^T b` for each
/// `(dw, b, cols)`, with `dG` `(n, g)` and `b` `(n, cols)`; `dw` is
/// `(g, cols)`. On the packed path `dG^T` is packed once for all the
/// products of a chunk, and the packing buffers of `b` are kept from chunk
/// to chunk (warm in cache).
#[derive(Default)]
pub struct WeightGrads {
    #[cfg(target_arch = "x86_64")]
    packs: Vec<PackedB>,
}

impl WeightGrads {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one chunk's products.
    pub fn add<T: Float>(
        &mut self,
        serial: bool,
        dg: &[T],
        n: usize,
        g: usize,
        grads: &mut [(&mut [T], &[T], usize)],
    ) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if let (Some(dg32), true) = (as_f32(dg), packed_f32::available()) {
            while self.packs.len() < grads.len() {
                self.packs.push(PackedB::new());
            }
            for ((_, b, cols), p) in grads.iter().zip(self.packs.iter_mut()) {
                if let Some(b32) = as_f32(b) {
                    p.pack(Op::new(b32, n, *cols), !serial);
                }
            }
            let mut outs: Vec<packed_f32::Output<'_>> = Vec::with_capacity(grads.len());
            for ((dw, _, cols), p) in grads.iter_mut().zip(&self.packs) {
                if let Some(c) = as_f32_mut(dw) {
                    outs.push(packed_f32::Output { c, ldc: *cols, b: p });
                }
            }
            let par = !serial && crate::par::current_threads() > 1;
            packed_f32::gemm_packed_multi(Op::new(dg32, n, g).t(), &mut outs, 1.0, true, par);
            return Ok(());
        }
        for (dw, b, cols) in grads.iter_mut() {
            big_gemm(serial, dw, Op::new(dg, n, g).t(), Op::new(b, n, *cols), true);
        }
        Ok(())
    }
}

impl Drop for WeightGrads {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        for p in self.packs.drain(..) {
            super::workspace::recycle(p.into_buffer());
        }
    }
}

/// The plain loops of the small path. `#[inline(always)]` so that the AVX2
/// entry points below get them compiled with wider vectors; the explicit
/// accumulator lanes fix the summation order, so both builds give the same bits.
#[inline(always)]
fn small_nt<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
        for (cv, brow) in crow.iter_mut().zip(b.chunks_exact(k)) {
            let d = dot(arow, brow);
            *cv = if accumulate { *cv + d } else { d };
        }
    }
}

/// Columns of C kept in registers while the `k` loop runs (`small_nn`).
const NN_BLOCK: usize = 64;

/// `C += a_k * B_k` over `k`, one register-resident block of columns at a
/// time. Every element is summed in the same order (`c`, then `k` = 0, 1, ...)
/// whatever the block or vector width, so all builds give the same bits.
#[inline(always)]
fn small_nn<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(T::ZERO);
        }
        return;
    }
    for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
        let mut j0 = 0;
        while j0 < n {
            let w = NN_BLOCK.min(n - j0);
            let mut acc = [T::ZERO; NN_BLOCK];
            if accumulate {
                acc[..w].copy_from_slice(&crow[j0..j0 + w]);
            }
            if w == NN_BLOCK {
                for (p, &av) in arow.iter().enumerate() {
                    let brow = &b[p * n + j0..p * n + j0 + NN_BLOCK];
                    for l in 0..NN_BLOCK {
                        acc[l] += av * brow[l];
                    }
                }
            } else {
                for (p, &av) in arow.iter().enumerate() {
                    let brow = &b[p * n + j0..p * n + j0 + w];
                    for (x, &bv) in acc.iter_mut().zip(brow) {
                        *x += av * bv;
                    }
                }
            }
            crow[j0..j0 + w].copy_from_slice(&acc[..w]);
            j0 += w;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use crate::Float;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn small_nt<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, acc: bool) {
        super::small_nt(c, a, b, m, k, n, acc)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn small_nn<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, acc: bool) {
        super::small_nn(c, a, b, m, k, n, acc)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn small_nn_512<T: Float>(
        c: &mut [T],
        a: &[T],
        b: &[T],
        m: usize,
        k: usize,
        n: usize,
        acc: bool,
    ) {
        super::small_nn(c, a, b, m, k, n, acc)
    }
}

/// `C (m, n) (+)= A (m, k) · B^T` with `B` stored row-major as `(n, k)`.
pub fn mul_nt<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if !is_small(m, n, k) {
        gemm_seq(c, a, b, m, k, n, true, accumulate);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just checked.
        unsafe { avx2::small_nt(c, a, b, m, k, n, accumulate) };
        return;
    }
    small_nt(c, a, b, m, k, n, accumulate)
}

/// `C (m, n) (+)= A (m, k) · B` with `B` stored row-major as `(k, n)`.
pub fn mul_nn<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if !is_small(m, n, k) {
        gemm_seq(c, a, b, m, k, n, false, accumulate);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F support was just checked.
        unsafe { avx2::small_nn_512(c, a, b, m, k, n, accumulate) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just checked.
        unsafe { avx2::small_nn(c, a, b, m, k, n, accumulate) };
        return;
    }
    small_nn(c, a, b, m, k, n, accumulate)
}

/// A weight matrix multiplied many times in one pass over a sequence (at
/// every time step, or per chunk of steps): `C (m, n) (+)= A (m, k) · B` with
/// `A` contiguous rows (states of one step, inputs of a chunk).
///
/// With float32 on an AVX-512 CPU the weight is packed once for the kernels
/// of `crate::linalg::packed_f32` and every step only reads the packed
/// panels; otherwise it is kept as a contiguous row-major `(k, n)` matrix for
/// `mul_nn` (a transposed copy when given transposed). Batches too small for
/// the packed kernels' row tiles (fewer than `MIN_PACKED_ROWS` rows per
/// product) use the plain path too. The choice depends only on the element
/// type, the CPU and the batch, never on the thread count.
pub struct StepWeight<'a, T: Float> {
    k: usize,
    n: usize,
    repr: Repr<'a, T>,
}

enum Repr<'a, T> {
    #[cfg(target_arch = "x86_64")]
    Packed(PackedB),
    Borrowed(&'a [T]),
    Owned(Vec<T>),
}

/// Rows per product below which the packed kernels (8-row tiles) lose to the
/// plain loops.
const MIN_PACKED_ROWS: usize = 4;

impl<'a, T: Float> StepWeight<'a, T> {
    /// `b` is the `(k, n)` operand; `rows` the rows of each step's product.
    pub fn new(b: Op<'a, T>, rows: usize, what: &str) -> Result<Self> {
        let (k, n) = b.shape();
        #[cfg(target_arch = "x86_64")]
        if let Some(b32) = op_f32(b) {
            if rows >= MIN_PACKED_ROWS && packed_f32::available() {
                // Packing writes every value of the buffer (scratch: not zeroed).
                let len = PackedB::buffer_len(k, n);
                let mut packed = PackedB::with_buffer(super::workspace::scratch(len, what)?);
                packed.pack(b32, crate::par::current_threads() > 1);
                return Ok(StepWeight { k, n, repr: Repr::Packed(packed) });
            }
        }
        if !b.trans && b.ld == n {
            return Ok(StepWeight { k, n, repr: Repr::Borrowed(&b.data[..k * n]) });
        }
        let mut out = super::workspace::scratch(crate::error::checked_size(&[k, n], what)?, what)?;
        // Every value is written below (scratch: not zeroed), in square
        // tiles so that neither side is walked with a large stride.
        const TILE: usize = 32;
        for r0 in (0..k).step_by(TILE) {
            for c0 in (0..n).step_by(TILE) {
                for r in r0..(r0 + TILE).min(k) {
                    for c in c0..(c0 + TILE).min(n) {
                        out[r * n + c] = if b.trans { b.data[c * b.ld + r] } else { b.data[r * b.ld + c] };
                    }
                }
            }
        }
        Ok(StepWeight { k, n, repr: Repr::Owned(out) })
    }

    /// `c (m, n) (+)= a (m, k) · B`, serial on the calling thread.
    pub fn mul(&self, c: &mut [T], a: &[T], m: usize, accumulate: bool) {
        let b = match &self.repr {
            #[cfg(target_arch = "x86_64")]
            Repr::Packed(p) => {
                // Packed only for `T = f32` (see `new`).
                if let (Some(c32), Some(a32)) = (as_f32_mut(c), as_f32(a)) {
                    packed_f32::gemm_packed(c32, self.n, Op::new(a32, m, self.k), p, 1.0, accumulate, false);
                }
                return;
            }
            Repr::Borrowed(b) => b,
            Repr::Owned(b) => b.as_slice(),
        };
        mul_nn(c, a, b, m, self.k, self.n, accumulate);
    }

    /// `c (m, n) (+)= a (m, k) · B` as one large product: on the pool
    /// (split along rows or columns of `c`) unless `serial`.
    pub fn mul_big(&self, serial: bool, c: &mut [T], a: &[T], m: usize, accumulate: bool) {
        let b = match &self.repr {
            #[cfg(target_arch = "x86_64")]
            Repr::Packed(p) => {
                // Packed only for `T = f32` (see `new`).
                if let (Some(c32), Some(a32)) = (as_f32_mut(c), as_f32(a)) {
                    let par = !serial && crate::par::current_threads() > 1;
                    packed_f32::gemm_packed(c32, self.n, Op::new(a32, m, self.k), p, 1.0, accumulate, par);
                }
                return;
            }
            Repr::Borrowed(b) => b,
            Repr::Owned(b) => b.as_slice(),
        };
        big_gemm(serial, c, Op::new(a, m, self.k), Op::new(b, self.k, self.n), accumulate);
    }
}

impl<T: Float> Drop for StepWeight<'_, T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.repr, Repr::Borrowed(&[])) {
            Repr::Owned(v) => super::workspace::recycle(v),
            #[cfg(target_arch = "x86_64")]
            Repr::Packed(p) => super::workspace::recycle(p.into_buffer()),
            Repr::Borrowed(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * s).sin()).collect()
    }

    #[test]
    fn plain_and_avx2_builds_give_the_same_bits() {
        let (m, k, n) = (3, 37, 19);
        let a = data(m * k, 0.3);
        let b = data(n * k, 0.7);
        let mut c1 = vec![0.5; m * n];
        let mut c2 = c1.clone();
        small_nt(&mut c1, &a, &b, m, k, n, true);
        mul_nt(&mut c2, &a, &b, m, k, n, true);
        assert_eq!(c1, c2);
        let (mut c1, mut c2) = (vec![0.0; m * k], vec![0.0; m * k]);
        small_nn(&mut c1, &a, &b, m, n, k, false);
        mul_nn(&mut c2, &a, &b, m, n, k, false);
        assert_eq!(c1, c2);
        // Wider than one register block, accumulating.
        let (m, k, n) = (2, 9, 150);
        let (a, b) = (data(m * k, 0.3), data(k * n, 0.7));
        let mut c1 = data(m * n, 0.2);
        let mut c2 = c1.clone();
        small_nn(&mut c1, &a, &b, m, k, n, true);
        mul_nn(&mut c2, &a, &b, m, k, n, true);
        assert_eq!(c1, c2);
    }

    #[test]
    fn small_and_large_paths_agree_with_naive() {
        for &(m, k, n) in &[(1, 5, 3), (2, 17, 9), (3, 64, 256), (40, 33, 70)] {
            let a = data(m * k, 0.3);
            let bt = data(n * k, 0.7); // (n, k)
            let bn = data(k * n, 0.9); // (k, n)
            let mut c = vec![1.0; m * n];
            mul_nt(&mut c, &a, &bt, m, k, n, true);
            let mut c2 = vec![0.0; m * n];
            mul_nn(&mut c2, &a, &bn, m, k, n, false);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = 1.0 + (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum::<f64>();
                    assert!((c[i * n + j] - want).abs() < 1e-12);
                    let want2: f64 = (0..k).map(|p| a[i * k + p] * bn[p * n + j]).sum();
                    assert!((c2[i * n + j] - want2).abs() < 1e-12);
                }
            }
        }
    }

    /// `a (m, k) · op(b)` in f64, `b` stored `(n, k)` when `trans`, else `(k, n)`.
    fn naive<T: Float>(a: &[T], b: &[T], m: usize, k: usize, n: usize, trans: bool) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| {
                        let bv = if trans { b[j * k + p] } else { b[p * n + j] };
                        a[i * k + p].to_f64() * bv.to_f64()
                    })
                    .sum();
            }
        }
        c
    }

    fn step_weight_case<T: Float>(tol: f64) {
        let (k, n) = (37, 70);
        for trans in [false, true] {
            let bv: Vec<T> = data(k * n, 0.7).into_iter().map(T::from_f64).collect();
            let b = if trans { Op::new(&bv, n, k).t() } else { Op::new(&bv, k, n) };
            // Below and above the row count that selects the packed kernels.
            for m in [1, MIN_PACKED_ROWS, 19] {
                let w = StepWeight::new(b, m, "w").unwrap();
                let a: Vec<T> = data(m * k, 0.3).into_iter().map(T::from_f64).collect();
                let want = naive(&a, &bv, m, k, n, trans);
                let base: Vec<T> = data(m * n, 0.9).into_iter().map(T::from_f64).collect();
                for big in [false, true] {
                    let mut c = base.clone();
                    if big {
                        w.mul_big(true, &mut c, &a, m, true);
                    } else {
                        w.mul(&mut c, &a, m, true);
                    }
                    for ((got, w0), c0) in c.iter().zip(&want).zip(&base) {
                        let expect = c0.to_f64() + w0;
                        assert!(
                            (got.to_f64() - expect).abs() < tol,
                            "m {m} trans {trans}: {got} vs {expect}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn step_weight_products_match_naive_for_both_types_and_layouts() {
        step_weight_case::<f32>(1e-4);
        step_weight_case::<f64>(1e-12);
    }

    #[test]
    fn weight_grads_add_dg_transposed_times_each_operand_chunk_after_chunk() {
        let (n, g) = (45, 40);
        let dg = data(n * g, 0.3);
        let (x, h) = (data(n * 7, 0.5), data(n * 33, 0.8));
        let (mut wx, mut wh) = (data(g * 7, 0.1), data(g * 33, 0.2));
        let (wx0, wh0) = (wx.clone(), wh.clone());
        WeightGrads::new().add(true, &dg, n, g, &mut [(&mut wx, &x, 7), (&mut wh, &h, 33)]).unwrap();
        let dgt: Vec<f64> = (0..g * n).map(|idx| dg[(idx % n) * g + idx / n]).collect();
        for (got, base, b, cols) in [(&wx, &wx0, &x, 7), (&wh, &wh0, &h, 33)] {
            let want = naive(&dgt, b, g, n, cols, false);
            for ((v, w), b0) in got.iter().zip(&want).zip(base) {
                assert!((v - (b0 + w)).abs() < 1e-12);
            }
        }
        // float32 (the packed path on AVX-512 CPUs) against the same sums.
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let (dg32, x32, h32) = (f(&dg), f(&x), f(&h));
        let (mut wx32, mut wh32) = (f(&wx0), f(&wh0));
        // Twice through one accumulator (buffers reused): twice the sums.
        let mut acc = WeightGrads::new();
        let (mut wx2, mut wh2) = (f(&wx0), f(&wh0));
        acc.add(false, &dg32, n, g, &mut [(&mut wx32, &x32, 7), (&mut wh32, &h32, 33)]).unwrap();
        acc.add(false, &dg32, n, g, &mut [(&mut wx2, &x32, 7), (&mut wh2, &h32, 33)]).unwrap();
        assert_eq!((&wx32, &wh32), (&wx2, &wh2));
        for (got, want) in wx32.iter().zip(&wx).chain(wh32.iter().zip(&wh)) {
            assert!((f64::from(*got) - want).abs() < 1e-4);
        }
    }
}
