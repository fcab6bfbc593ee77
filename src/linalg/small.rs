//! The per-step products of a time loop: `C (+)= A B^T` and `C (+)= A B` on
//! contiguous row-major operands, serial on the calling thread. For batch 1
//! and small hidden sizes a step is a few thousand multiply-adds, where the
//! set-up cost of a general GEMM call dominates; there plain loops over
//! contiguous rows (dot products / axpys) are faster. Larger shapes go to
//! faer (never the packed kernels: these products are per step, see
//! `crate::layer::matmul::StepWeight` for the packed per-step path).

use super::{faer_gemm, Op};
use crate::kernels::{run_on, wide, Isa};
use crate::Float;
use faer::Par;

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

/// `dot(a, b_r)` for four rows `b_r` at once: each `a` chunk is loaded once
/// for the four, and the four accumulator chains overlap. Every row's sum
/// is formed exactly as `dot` forms it (same bits).
#[inline(always)]
fn dot4<T: Float>(a: &[T], b0: &[T], b1: &[T], b2: &[T], b3: &[T]) -> [T; 4] {
    let (mut a0, mut a1, mut a2, mut a3) = ([T::ZERO; 8], [T::ZERO; 8], [T::ZERO; 8], [T::ZERO; 8]);
    let chunks = a
        .chunks_exact(8)
        .zip(b0.chunks_exact(8))
        .zip(b1.chunks_exact(8))
        .zip(b2.chunks_exact(8))
        .zip(b3.chunks_exact(8));
    for ((((x, y0), y1), y2), y3) in chunks {
        for l in 0..8 {
            a0[l] += x[l] * y0[l];
        }
        for l in 0..8 {
            a1[l] += x[l] * y1[l];
        }
        for l in 0..8 {
            a2[l] += x[l] * y2[l];
        }
        for l in 0..8 {
            a3[l] += x[l] * y3[l];
        }
    }
    let full = a.len() - a.len() % 8;
    let mut out = [T::ZERO; 4];
    for ((o, v), br) in out.iter_mut().zip([a0, a1, a2, a3]).zip([b0, b1, b2, b3]) {
        let mut s = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
        for p in full..a.len() {
            s += a[p] * br[p];
        }
        *o = s;
    }
    out
}

/// The plain loops of the small path. `#[inline(always)]` so that `run_on`
/// and `wide` below compile them with the active path's vectors; the explicit
/// accumulator lanes fix the summation order, so every path gives the same bits.
#[inline(always)]
fn small_nt<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(T::ZERO);
        }
        return;
    }
    for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
        // Four rows of `B` at a time (a mat-vec is bound by the accumulator chains otherwise).
        let mut quads = crow.chunks_exact_mut(4).zip(b.chunks_exact(4 * k));
        for (c4, b4) in &mut quads {
            let (b0, rest) = b4.split_at(k);
            let (b1, rest) = rest.split_at(k);
            let (b2, b3) = rest.split_at(k);
            let d = dot4(arow, b0, b1, b2, b3);
            for (cv, dv) in c4.iter_mut().zip(d) {
                *cv = if accumulate { *cv + dv } else { dv };
            }
        }
        let done = n - n % 4;
        for (cv, brow) in crow[done..].iter_mut().zip(b[done * k..].chunks_exact(k)) {
            let d = dot(arow, brow);
            *cv = if accumulate { *cv + d } else { d };
        }
    }
}

/// Columns of C kept in registers while the `k` loop runs (`small_nn`).
const NN_BLOCK: usize = 64;

/// `crow (w) (+)= arow (k) · B` for one block of `w <= NN_BLOCK` columns,
/// row `p` of `B` at `b[p * ld..p * ld + w]`, the block kept in registers
/// while the `k` loop runs. Every element is summed in the same order
/// (`c`, then `k` = 0, 1, ...) whatever the block or vector width, so all
/// builds give the same bits.
#[inline(always)]
fn nn_block<T: Float>(crow: &mut [T], arow: &[T], b: &[T], ld: usize, accumulate: bool) {
    let w = crow.len();
    let mut acc = [T::ZERO; NN_BLOCK];
    if accumulate {
        acc[..w].copy_from_slice(crow);
    }
    if w == NN_BLOCK {
        for (p, &av) in arow.iter().enumerate() {
            let brow = &b[p * ld..p * ld + NN_BLOCK];
            for l in 0..NN_BLOCK {
                acc[l] += av * brow[l];
            }
        }
    } else {
        for (p, &av) in arow.iter().enumerate() {
            let brow = &b[p * ld..p * ld + w];
            for (x, &bv) in acc.iter_mut().zip(brow) {
                *x += av * bv;
            }
        }
    }
    crow.copy_from_slice(&acc[..w]);
}

/// `C += a_k * B_k` over `k`, one register-resident block of columns at a
/// time (`nn_block`), `B` row-major `(k, n)`.
#[inline(always)]
fn small_nn<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    nn_blocks(c, a, m, k, n, accumulate, |j0, _| (&b[j0..], n))
}

/// The row and column-block loops of `small_nn` and `small_nn_panels`:
/// `block(j0, w)` gives the first row of the `B` block of columns
/// `j0..j0 + w` and that block's row stride.
#[inline(always)]
fn nn_blocks<'b, T: Float + 'b>(
    c: &mut [T],
    a: &[T],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    block: impl Fn(usize, usize) -> (&'b [T], usize),
) {
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
            let (b, stride) = block(j0, w);
            nn_block(&mut crow[j0..j0 + w], arow, b, stride, accumulate);
            j0 += w;
        }
    }
}

/// Whether a `(k, n)` operand multiplied by products of about `rows` rows
/// is worth laying out in column panels (`pack_panels`): the products take
/// the plain loops (`mul_nn`'s choice for every `m <= rows + 1`: a step
/// split in two blocks of batch rows may give one block a row more) and
/// `B` has more than one block of columns, so that row-major rows would be
/// walked with a stride of `n` within each block.
pub fn panels_pay(rows: usize, k: usize, n: usize) -> bool {
    n > NN_BLOCK && is_small(rows.max(1) + 1, n, k)
}

/// Whether `pack_panels` lays `B` out as one panel, i.e. row-major `(k, n)`.
pub fn single_panel(n: usize) -> bool {
    n <= NN_BLOCK
}

/// `B` `(k, n)` laid out in panels of `NN_BLOCK` columns (the last one
/// narrower): block `j0..j0 + w` is stored row-major `(k, w)` at `j0 * k`,
/// so the loops of `mul_nn_panels` read `B` as one sequential stream (a
/// mat-vec whose `B` does not fit in L1 is bound by the L2 bandwidth; the
/// strided walk of the row-major form costs some 20 % more). `out` has
/// `k * n` values, every one written.
pub fn pack_panels<T: Float>(out: &mut [T], b: Op<'_, T>) {
    let (k, n) = b.shape();
    let mut j0 = 0;
    while j0 < n {
        let w = NN_BLOCK.min(n - j0);
        let panel = &mut out[j0 * k..(j0 + w) * k];
        if !b.trans {
            for (r, prow) in panel.chunks_exact_mut(w).enumerate() {
                prow.copy_from_slice(&b.data[r * b.ld + j0..r * b.ld + j0 + w]);
            }
        } else {
            // Stored `(n, k)`: column `j0 + l` of `B` is the stored row
            // `j0 + l`. Tiles of 8 x 8 so that neither side is walked with
            // a large stride element by element.
            const TILE: usize = 8;
            let rows_at = |l: usize| &b.data[(j0 + l) * b.ld..(j0 + l) * b.ld + k];
            let (kt, wt) = (k - k % TILE, w - w % TILE);
            for l0 in (0..wt).step_by(TILE) {
                let src: [&[T]; TILE] = std::array::from_fn(|i| rows_at(l0 + i));
                for r0 in (0..kt).step_by(TILE) {
                    #[cfg(target_arch = "x86_64")]
                    if transpose_tile_f32(&src, r0, &mut panel[r0 * w + l0..], w) {
                        continue;
                    }
                    for q in 0..TILE {
                        let dst = &mut panel[(r0 + q) * w + l0..(r0 + q) * w + l0 + TILE];
                        for (i, d) in dst.iter_mut().enumerate() {
                            *d = src[i][r0 + q];
                        }
                    }
                }
            }
            // The edges (k or w not a multiple of the tile).
            for l in 0..w {
                let src = rows_at(l);
                let from = if l < wt { kt } else { 0 };
                for r in from..k {
                    panel[r * w + l] = src[r];
                }
            }
        }
        j0 += w;
    }
}

/// One 8 x 8 tile of `pack_panels` for float32 with AVX (the values
/// unchanged, only moved: the same result as the element loop, ~4x faster):
/// `dst[q * ld + i] = src[i][r0 + q]`. False when not taken (other types,
/// or a path without AVX), the caller then moves the elements itself.
#[cfg(target_arch = "x86_64")]
fn transpose_tile_f32<T: Float>(src: &[&[T]; 8], r0: usize, dst: &mut [T], ld: usize) -> bool {
    use crate::linalg::{as_f32, as_f32_mut};
    if !matches!(Isa::active(), Isa::Avx2 | Isa::Avx512) || ld < 8 || dst.len() < 7 * ld + 8 {
        return false;
    }
    let mut ptrs = [std::ptr::null::<f32>(); 8];
    for (p, row) in ptrs.iter_mut().zip(src) {
        match as_f32(row) {
            Some(r) if r.len() >= r0 + 8 => *p = r[r0..r0 + 8].as_ptr(),
            _ => return false,
        }
    }
    let Some(dst) = as_f32_mut(dst) else { return false };
    // SAFETY: AVX is available (the active path is AVX2 or AVX-512); each
    // source pointer has 8 readable values and `dst` 8 writable ones at
    // each of the 8 row offsets `q * ld` (lengths checked above).
    unsafe { transpose_8x8_avx(&ptrs, dst.as_mut_ptr(), ld) };
    true
}

/// `dst[q * ld + i] = src[i][q]` for 8 x 8 float32, in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_8x8_avx(src: &[*const f32; 8], dst: *mut f32, ld: usize) {
    use std::arch::x86_64::*;
    let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src[i]));
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    let out = [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ];
    for (q, v) in out.iter().enumerate() {
        _mm256_storeu_ps(dst.add(q * ld), *v);
    }
}

/// `C (m, n) (+)= A (m, k) · B` with `B` laid out by `pack_panels`: the
/// plain loops of `mul_nn` (same bits as `mul_nn` on the row-major `B`
/// whenever that takes the plain loops, i.e. `is_small`), for any `m`.
pub fn mul_nn_panels<T: Float>(
    c: &mut [T],
    a: &[T],
    panels: &[T],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    wide(
        #[inline(always)]
        || small_nn_panels(c, a, panels, m, k, n, accumulate),
    )
}

/// The loops of `mul_nn_panels`, inlined into the path's compilation.
#[inline(always)]
fn small_nn_panels<T: Float>(
    c: &mut [T],
    a: &[T],
    panels: &[T],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    nn_blocks(c, a, m, k, n, accumulate, |j0, w| (&panels[j0 * k..(j0 + w) * k], w))
}

/// The path of `mul_nt`'s dot-product loops: the active one, with AVX-512
/// CPUs kept at AVX2 width (as these loops ran before they were dispatched
/// through `Isa`). Any path gives the same bits (fixed accumulator lanes).
fn nt_isa() -> Isa {
    match Isa::active() {
        Isa::Avx512 => Isa::Avx2,
        isa => isa,
    }
}

/// `C (m, n) (+)= A (m, k) · B^T` with `B` stored row-major as `(n, k)`.
pub fn mul_nt<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if !is_small(m, n, k) {
        faer_gemm(Par::Seq, c, n, Op::new(a, m, k), Op::new(b, n, k).t(), T::ONE, accumulate);
        return;
    }
    run_on(
        nt_isa(),
        #[inline(always)]
        || small_nt(c, a, b, m, k, n, accumulate),
    )
}

/// `c (n) (+)= a (k) · B` with `B` row-major `(k, n)`: a mat-vec on the
/// plain register-blocked loops whatever its size (no general GEMM set-up
/// and packing: per-token generation). Fastest with `n` a multiple of 64
/// or small (one block of columns kept in registers while `B` streams).
pub fn vec_mul_nn<T: Float>(c: &mut [T], a: &[T], b: &[T], k: usize, n: usize, accumulate: bool) {
    wide(
        #[inline(always)]
        || small_nn(c, a, b, 1, k, n, accumulate),
    )
}

/// `C (m, n) (+)= A (m, k) · B` with `B` stored row-major as `(k, n)`.
pub fn mul_nn<T: Float>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize, accumulate: bool) {
    if !is_small(m, n, k) {
        faer_gemm(Par::Seq, c, n, Op::new(a, m, k), Op::new(b, k, n), T::ONE, accumulate);
        return;
    }
    wide(
        #[inline(always)]
        || small_nn(c, a, b, m, k, n, accumulate),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * s).sin()).collect()
    }

    #[test]
    fn plain_and_active_path_give_the_same_bits() {
        let (m, k, n) = (3, 37, 19);
        let a = data(m * k, 0.3);
        let b = data(n * k, 0.7);
        let mut c1 = vec![0.5; m * n];
        let mut c2 = c1.clone();
        small_nt(&mut c1, &a, &b, m, k, n, true);
        mul_nt(&mut c2, &a, &b, m, k, n, true);
        assert_eq!(c1, c2);
        // Four rows at a time: each element is still `dot`'s sum, bit for bit.
        for i in 0..m {
            for j in 0..n {
                assert_eq!(c1[i * n + j], 0.5 + dot(&a[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]));
            }
        }
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
        // A mat-vec above the small-product size: the same loops, the same bits.
        let (k, n) = (300, 260);
        let (a, b) = (data(k, 0.3), data(k * n, 0.7));
        let mut c1 = data(n, 0.2);
        let mut c2 = c1.clone();
        small_nn(&mut c1, &a, &b, 1, k, n, true);
        vec_mul_nn(&mut c2, &a, &b, k, n, true);
        assert_eq!(c1, c2);
    }

    #[test]
    fn every_simd_path_gives_the_same_bits() {
        // The loops compiled for each path this CPU has (whatever RNNRS_SIMD
        // says) against the baseline build: nt with 4-row and single-row
        // tails, nn wider than one register block.
        let (m, k, n) = (3, 37, 19);
        let (a, b) = (data(m * k, 0.3), data(n * k, 0.7));
        let (bn, c0) = (data(k * 150, 0.9), data(m * 150, 0.2));
        let mut want_nt = vec![0.5; m * n];
        small_nt(&mut want_nt, &a, &b, m, k, n, true);
        let mut want_nn = c0.clone();
        small_nn(&mut want_nn, &a, &bn, m, k, 150, true);
        for isa in Isa::supported() {
            let mut got = vec![0.5; m * n];
            run_on(
                isa,
                #[inline(always)]
                || small_nt(&mut got, &a, &b, m, k, n, true),
            );
            assert_eq!(got, want_nt, "{isa:?}");
            let mut got = c0.clone();
            run_on(
                isa,
                #[inline(always)]
                || small_nn(&mut got, &a, &bn, m, k, 150, true),
            );
            assert_eq!(got, want_nn, "{isa:?}");
        }
    }

    #[test]
    fn panels_give_the_bits_of_the_row_major_loops() {
        // Transposed storage (the forward's `W_hh^T`) and plain, several
        // blocks with a narrow last one, tile edges in both directions,
        // one and several rows, accumulating or not, on every path.
        for &(m, k, n, trans) in
            &[(1, 64, 256, true), (3, 37, 150, true), (2, 19, 70, false), (1, 8, 65, true)]
        {
            let a = data(m * k, 0.3);
            let bn = data(k * n, 0.7); // (k, n) row-major
            let bt: Vec<f64> = (0..n * k).map(|i| bn[(i % k) * n + i / k]).collect(); // (n, k)
            let op = if trans { Op::new(&bt, n, k).t() } else { Op::new(&bn, k, n) };
            assert!(panels_pay(m, k, n));
            let mut panels = vec![f64::NAN; k * n];
            pack_panels(&mut panels, op);
            for accumulate in [false, true] {
                let mut want = data(m * n, 0.2);
                small_nn(&mut want, &a, &bn, m, k, n, accumulate);
                for isa in Isa::supported() {
                    let mut got = data(m * n, 0.2);
                    run_on(
                        isa,
                        #[inline(always)]
                        || small_nn_panels(&mut got, &a, &panels, m, k, n, accumulate),
                    );
                    assert_eq!(got, want, "{m} {k} {n} {trans} {isa:?}");
                }
                let mut got = data(m * n, 0.2);
                mul_nn_panels(&mut got, &a, &panels, m, k, n, accumulate);
                assert_eq!(got, want);
            }
        }
        // One block of columns, or products too large for the plain loops: not worth it.
        assert!(!panels_pay(1, 64, 64));
        assert!(!panels_pay(8, 64, 256));
        assert!(!panels_pay(1, 512, 256));
    }

    #[test]
    fn float32_panels_from_transposed_storage_hold_every_value_in_place() {
        // The AVX tile transpose (full 8 x 8 tiles) and the element loop
        // (edges, other paths) against the layout's definition.
        for &(k, n, ld) in &[(64, 256, 64), (37, 150, 40), (16, 72, 16)] {
            let bt: Vec<f32> = (0..n * ld).map(|i| i as f32 * 0.5 - 7.0).collect(); // (n, k) stored, stride ld
            let op = Op { data: &bt[..], rows: n, cols: k, ld, trans: true };
            let mut panels = vec![f32::NAN; k * n];
            pack_panels(&mut panels, op);
            for c in 0..n {
                let (j0, w) = (c - c % NN_BLOCK, NN_BLOCK.min(n - (c - c % NN_BLOCK)));
                for r in 0..k {
                    assert_eq!(panels[j0 * k + r * w + (c - j0)], bt[c * ld + r], "{k} {n} r {r} c {c}");
                }
            }
        }
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
}
