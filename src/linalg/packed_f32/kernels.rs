//! The micro-kernels of the packed float32 GEMM: one generic source
//! (`tile`), instantiated per path (AVX-512 8 x 32, AVX2 and NEON 6 x 16).

use super::*;

/// Where the kernel reads A: element `(i, p)` of the micro-panel is at
/// `ptr + i * rs + p * cs` (packed: `rs = 1, cs = MR`; a row-major A read in
/// place: `rs = lda, cs = 1`).
#[derive(Clone, Copy)]
pub(super) struct APanel {
    pub(super) ptr: *const f32,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

/// Fetches the cache line holding `p` into L1 (a hint: no fault, no effect
/// on results; nothing on other architectures).
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above (`prfm` reads nothing architecturally).
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// What a C tile starts from before `alpha * A B` is added to it.
#[derive(Clone, Copy)]
pub(super) enum Base {
    /// Zero (C is overwritten).
    Zero,
    /// The tile's own values (accumulate).
    C,
    /// A row of `cols` values broadcast to every row of the tile (e.g. a
    /// bias): the same operations, so the same bits, as from a C filled
    /// with that row and accumulated into.
    Row(*const f32),
}

/// The micro-kernel, one source for every path: `C tile (rows x cols, row
/// stride ldc) = alpha * A B + base` over `kc` reduction
/// indices of an A micro-panel (`MR` rows) and `NV` vectors of columns of a
/// packed B micro-panel (rows `NV * V::LANES` values apart: each micro-tile
/// column block of a panel is stored contiguously, see `PackedB`).
///
/// # Safety
/// Runs inside `run_on` with `V`'s path; `a` must address `MR x kc`
/// readable values (rows past `rows` are read but unused: `tile_rows` passes
/// `rows == MR`), `b`
/// `kc` contiguous rows of `NV * V::LANES` values, and `c` the `rows x cols`
/// tile (`rows <= MR`, `cols <= NV * V::LANES`); a `Base::Row` addresses
/// `cols` readable values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<V: Vector<Elem = f32>, const MR: usize, const NV: usize>(
    kc: usize,
    a: APanel,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    alpha: f32,
    base: Base,
) {
    // SAFETY: the caller's guarantee (see above) for every access below.
    unsafe {
        // C usually comes from far away (L3 or memory): fetch its lines while
        // the reduction runs instead of stalling on them at the end.
        for i in 0..MR.min(rows) {
            let cr = c.wrapping_add(i * ldc);
            prefetch(cr);
            prefetch(cr.wrapping_add(cols.max(1) - 1));
        }
        let mut acc = [[V::splat(0.0); NV]; MR];
        for p in 0..kc {
            let bp = b.add(p * NV * V::LANES);
            let mut bv = [V::splat(0.0); NV];
            for (v, y) in bv.iter_mut().enumerate() {
                *y = V::load(bp.add(V::LANES * v));
            }
            let ap = a.ptr.add(p * a.cs);
            for (i, row) in acc.iter_mut().enumerate() {
                let av = V::splat(*ap.add(i * a.rs));
                for (x, &y) in row.iter_mut().zip(&bv) {
                    *x = av.mul_add(y, *x);
                }
            }
        }
        let al = V::splat(alpha);
        if rows == MR && cols == NV * V::LANES {
            // A whole tile: straight-line updates, one `base` test (the
            // general code below computes the same values).
            for (i, row) in acc.iter().enumerate() {
                let cr = c.add(i * ldc);
                for (v, &x) in row.iter().enumerate() {
                    let dst = cr.add(V::LANES * v);
                    let y = match base {
                        Base::Zero => al.mul(x),
                        Base::C => al.mul_add(x, V::load(dst)),
                        Base::Row(r) => al.mul_add(x, V::load(r.add(V::LANES * v))),
                    };
                    y.store(dst);
                }
            }
            return;
        }
        // Constant loop bounds (the tests are per row / vector) keep `acc` in registers.
        for (i, row) in acc.iter().enumerate() {
            if i >= rows {
                break;
            }
            let cr = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let left = cols.saturating_sub(V::LANES * v);
                if left == 0 {
                    break;
                }
                let dst = cr.add(V::LANES * v);
                let src = match base {
                    Base::Zero => None,
                    Base::C => Some(dst.cast_const()),
                    Base::Row(r) => Some(r.add(V::LANES * v)),
                };
                if left >= V::LANES {
                    let y = match src {
                        Some(s) => al.mul_add(x, V::load(s)),
                        None => al.mul(x),
                    };
                    y.store(dst);
                } else {
                    // A partial vector goes through a zero-padded buffer.
                    let mut buf = [0.0f32; 16];
                    let y = match src {
                        Some(s) => {
                            std::ptr::copy_nonoverlapping(s, buf.as_mut_ptr(), left);
                            al.mul_add(x, V::load(buf.as_ptr()))
                        }
                        None => al.mul(x),
                    };
                    y.store(buf.as_mut_ptr());
                    std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, left);
                }
            }
        }
    }
}

/// `tile` with a kernel of exactly `rows` rows (`1..=MR`; more is taken as
/// `MR`): a partial row tile costs its own rows, not `MR`, and reads only
/// the rows it has. Each element of C gets the same FMA sequence whatever
/// the kernel's row count, so the same bits.
///
/// # Safety
/// As `tile`, with `a` addressing `rows x kc` readable values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_rows<V: Vector<Elem = f32>, const MR: usize, const NV: usize>(
    kc: usize,
    a: APanel,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    alpha: f32,
    base: Base,
) {
    debug_assert!(rows > 0);
    // SAFETY: the caller's guarantee; each kernel reads its own row count.
    unsafe {
        match rows.min(MR) {
            1 => tile::<V, 1, NV>(kc, a, b, c, ldc, 1, cols, alpha, base),
            2 if MR > 2 => tile::<V, 2, NV>(kc, a, b, c, ldc, 2, cols, alpha, base),
            3 if MR > 3 => tile::<V, 3, NV>(kc, a, b, c, ldc, 3, cols, alpha, base),
            4 if MR > 4 => tile::<V, 4, NV>(kc, a, b, c, ldc, 4, cols, alpha, base),
            5 if MR > 5 => tile::<V, 5, NV>(kc, a, b, c, ldc, 5, cols, alpha, base),
            6 if MR > 6 => tile::<V, 6, NV>(kc, a, b, c, ldc, 6, cols, alpha, base),
            7 if MR > 7 => tile::<V, 7, NV>(kc, a, b, c, ldc, 7, cols, alpha, base),
            _ => tile::<V, MR, NV>(kc, a, b, c, ldc, MR, cols, alpha, base),
        }
    }
}

/// A path's micro-kernel: an `MR x NC` tile of C from a sub-panel of `NC`
/// columns of a B panel (the whole panel on AVX-512, either half on AVX2 and
/// NEON). The caller runs a sub-panel down a block of A micro-panels, so
/// that only that sub-panel (`KC x NC`, 16 KiB for the 16-column kernels) has
/// to stay in L1 meanwhile.
pub(super) trait Kernel {
    /// Rows of a micro-tile.
    const MR: usize;
    /// Columns of a micro-tile (a divisor of `NR`).
    const NC: usize;
    /// # Safety
    /// As `tile` with `cols <= NC` (`b` at the sub-panel's first row), on
    /// this kernel's path.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        kc: usize,
        a: APanel,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        alpha: f32,
        base: Base,
    );
    /// `pack_a` (a transposed A) with this kernel's `MR`.
    fn pack_a(a: &Op<'_, f32>, r0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]);
}

/// AVX-512F: 8 x 32 (16 zmm accumulators), the whole panel at once.
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx512Kernel;

#[cfg(target_arch = "x86_64")]
impl Kernel for Avx512Kernel {
    const MR: usize = 8;
    const NC: usize = NR;
    #[inline(always)]
    unsafe fn tile(
        kc: usize,
        a: APanel,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        alpha: f32,
        base: Base,
    ) {
        run_on(
            Isa::Avx512,
            #[inline(always)]
            // SAFETY: the caller's guarantee.
            || unsafe { tile_rows::<F32x16, 8, 2>(kc, a, b, c, ldc, rows, cols, alpha, base) },
        )
    }
    fn pack_a(a: &Op<'_, f32>, r0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
        pack_a::<8>(a, r0, mc, p0, kc, out)
    }
}

/// AVX2 + FMA: 6 x 16 (12 ymm accumulators), a half panel at a time.
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2Kernel;

#[cfg(target_arch = "x86_64")]
impl Kernel for Avx2Kernel {
    const MR: usize = 6;
    const NC: usize = NR / 2;
    #[inline(always)]
    unsafe fn tile(
        kc: usize,
        a: APanel,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        alpha: f32,
        base: Base,
    ) {
        run_on(
            Isa::Avx2,
            #[inline(always)]
            // SAFETY: the caller's guarantee.
            || unsafe { tile_rows::<F32x8, 6, 2>(kc, a, b, c, ldc, rows, cols, alpha, base) },
        )
    }
    fn pack_a(a: &Op<'_, f32>, r0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
        pack_a::<6>(a, r0, mc, p0, kc, out)
    }
}

/// NEON: 6 x 16 (24 of the 32 q registers accumulate, 4 hold B, 1 A), a
/// half panel at a time. NEON is the aarch64 baseline: no `run_on` needed.
#[cfg(target_arch = "aarch64")]
pub(super) struct NeonKernel;

#[cfg(target_arch = "aarch64")]
impl Kernel for NeonKernel {
    const MR: usize = 6;
    const NC: usize = NR / 2;
    #[inline(always)]
    unsafe fn tile(
        kc: usize,
        a: APanel,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        alpha: f32,
        base: Base,
    ) {
        // SAFETY: the caller's guarantee.
        unsafe { tile_rows::<F32x4, 6, 4>(kc, a, b, c, ldc, rows, cols, alpha, base) }
    }
    fn pack_a(a: &Op<'_, f32>, r0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
        pack_a::<6>(a, r0, mc, p0, kc, out)
    }
}
