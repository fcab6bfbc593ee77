//! The matrix products of the time loop.
//!
//! `StepWeight`: a weight multiplied at every step (or chunk of steps),
//! laid out once per call: packed for the float32 kernels (AVX-512, AVX2
//! or NEON) of `crate::linalg::packed_f32`, else as a plain row-major matrix for the
//! step products of `crate::linalg` (`mul_nn`: plain loops for small shapes).
//! Per-step products run serially: the layer parallelises a step over blocks
//! of batch rows itself (see `direction/`), so results never depend on the
//! thread count and no per-step thread barrier is paid.
//! `WeightGrads`: the weight gradients of a chunk of steps.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::linalg::packed_f32::{self, PackedB};
use crate::linalg::{
    as_f32, as_f32_mut, gemm, mul_nn, mul_nn_panels, op_f32, pack_panels, panels_pay, single_panel, Op,
    Parallelism,
};
use crate::{Float, Result};

/// Weight gradients accumulated chunk by chunk: `dw += dG^T b` for each
/// `(dw, b, cols)`, with `dG` `(n, g)` and `b` `(n, cols)`; `dw` is
/// `(g, cols)`. On the packed path `dG^T` is packed once for all the
/// products of a chunk, and the packing buffers of `b` are kept from chunk
/// to chunk (warm in cache).
#[derive(Default)]
pub struct WeightGrads {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
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
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
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
            gemm(
                Parallelism::serial_if(serial),
                dw,
                *cols,
                Op::new(dg, n, g).t(),
                Op::new(b, n, *cols),
                T::ONE,
                true,
            );
        }
        Ok(())
    }
}

impl Drop for WeightGrads {
    fn drop(&mut self) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        for p in self.packs.drain(..) {
            super::workspace::recycle(p.into_buffer());
        }
    }
}

/// A weight matrix multiplied many times in one pass over a sequence (at
/// every time step, or per chunk of steps): `C (m, n) (+)= A (m, k) · B` with
/// `A` contiguous rows (states of one step, inputs of a chunk).
///
/// With float32 on a CPU path that has packed kernels (AVX-512, AVX2,
/// NEON; not `RNNRS_SIMD=scalar`) the weight is packed once for the kernels
/// of `crate::linalg::packed_f32` and every step only reads the packed
/// panels; otherwise it is kept as a contiguous row-major `(k, n)` matrix for
/// `mul_nn` (a transposed copy when given transposed; a transposed weight
/// whose products take the plain loops is copied into their column panels,
/// `crate::linalg::pack_panels`, e.g. `W_hh^T` at batch 1). Batches too small for
/// the packed kernels' row tiles (fewer than `MIN_PACKED_ROWS` rows per
/// product) use the plain path too. The choice depends only on the element
/// type, the CPU and the batch, never on the thread count.
pub struct StepWeight<'a, T: Float> {
    k: usize,
    n: usize,
    repr: Repr<'a, T>,
}

enum Repr<'a, T> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    Packed(PackedB),
    Borrowed(&'a [T]),
    Owned(Vec<T>),
    /// Column panels for the plain loops (`crate::linalg::pack_panels`).
    Panels(Vec<T>),
}

/// Rows per product below which the packed kernels (8-row tiles) lose to the
/// plain loops.
const MIN_PACKED_ROWS: usize = 4;

impl<'a, T: Float> StepWeight<'a, T> {
    /// `b` is the `(k, n)` operand; `rows` the rows of each step's product.
    pub fn new(b: Op<'a, T>, rows: usize, what: &str) -> Result<Self> {
        let (k, n) = b.shape();
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
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
        // A copy is made anyway: in the panels the plain loops read it as
        // one stream (batch-1 steps: `W_hh^T` of an LSTM with H = 64 is
        // 64 KiB, larger than L1, and each step streams it from L2).
        if panels_pay(rows, k, n) {
            pack_panels(&mut out, b);
            return Ok(StepWeight { k, n, repr: Repr::Panels(out) });
        }
        if single_panel(n) {
            // One panel is the row-major `(k, n)` itself: the same copy,
            // with the faster tile transpose of `pack_panels`.
            pack_panels(&mut out, b);
            return Ok(StepWeight { k, n, repr: Repr::Owned(out) });
        }
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
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Repr::Packed(p) => {
                // Packed only for `T = f32` (see `new`).
                if let (Some(c32), Some(a32)) = (as_f32_mut(c), as_f32(a)) {
                    packed_f32::gemm_packed(c32, self.n, Op::new(a32, m, self.k), p, 1.0, accumulate, false);
                }
                return;
            }
            Repr::Panels(p) => return mul_nn_panels(c, a, p, m, self.k, self.n, accumulate),
            Repr::Borrowed(b) => b,
            Repr::Owned(b) => b.as_slice(),
        };
        mul_nn(c, a, b, m, self.k, self.n, accumulate);
    }

    /// `c (m, n) (+)= a (m, k) · B` as one large product: on the pool
    /// (split along rows or columns of `c`) unless `serial`.
    pub fn mul_big(&self, serial: bool, c: &mut [T], a: &[T], m: usize, accumulate: bool) {
        let b = match &self.repr {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Repr::Packed(p) => {
                // Packed only for `T = f32` (see `new`).
                if let (Some(c32), Some(a32)) = (as_f32_mut(c), as_f32(a)) {
                    let par = !serial && crate::par::current_threads() > 1;
                    packed_f32::gemm_packed(c32, self.n, Op::new(a32, m, self.k), p, 1.0, accumulate, par);
                }
                return;
            }
            // Laid out for the plain loops (small per-step products): they
            // serve any row count, serially.
            Repr::Panels(p) => return mul_nn_panels(c, a, p, m, self.k, self.n, accumulate),
            Repr::Borrowed(b) => b,
            Repr::Owned(b) => b.as_slice(),
        };
        let (a, b) = (Op::new(a, m, self.k), Op::new(b, self.k, self.n));
        gemm(Parallelism::serial_if(serial), c, self.n, a, b, T::ONE, accumulate);
    }
}

impl<T: Float> StepWeight<'_, T> {
    /// Whether `mul` gives the same bits for any split of the rows of `a`
    /// (the packed kernels; the plain loops and faer are chosen by size).
    pub fn rows_independent(&self) -> bool {
        match &self.repr {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Repr::Packed(_) => true,
            _ => false,
        }
    }

    /// `c (m, n) = a (m, k) · B + row` (`row` added to every row of `c`) as
    /// one large product, as `mul_big`: on the packed path the product starts
    /// from `row` (no pass filling `c` first), with the same bits as filling
    /// and accumulating, which the other paths do.
    pub fn mul_big_from_row(&self, serial: bool, c: &mut [T], a: &[T], m: usize, row: &[T]) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if let Repr::Packed(p) = &self.repr {
            if let (Some(c32), Some(a32), Some(r32)) = (as_f32_mut(c), as_f32(a), as_f32(row)) {
                let par = !serial && crate::par::current_threads() > 1;
                packed_f32::gemm_packed_from_row(c32, self.n, Op::new(a32, m, self.k), p, r32, 1.0, par);
                return;
            }
        }
        fill_rows(c, row, m, self.n);
        self.mul_big(serial, c, a, m, true);
    }
}

/// Each of the first `m` rows (`n` wide) of `c` set to `row`.
pub fn fill_rows<T: Float>(c: &mut [T], row: &[T], m: usize, n: usize) {
    for r in c.chunks_exact_mut(n.max(1)).take(m) {
        r.copy_from_slice(row);
    }
}

impl<T: Float> Drop for StepWeight<'_, T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.repr, Repr::Borrowed(&[])) {
            Repr::Owned(v) | Repr::Panels(v) => super::workspace::recycle(v),
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
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
        // Several panels (n = 70) and one (n = 40: the transposed copy).
        for (k, n, trans) in [(37, 70, false), (37, 70, true), (37, 40, true)] {
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
