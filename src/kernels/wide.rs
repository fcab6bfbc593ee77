//! Ordinary loops compiled for the widest vectors of this CPU.
//!
//! The crate is built for baseline x86-64 (SSE2) so that one wheel runs
//! everywhere. `wide(f)` runs `f` inside a function compiled with AVX-512F
//! (or AVX2) enabled, chosen at run time. Give it an `#[inline(always)]`
//! closure (and `#[inline(always)]` helpers): the code is then inlined there
//! and its element-wise loops vectorise at that width. Rust never turns
//! `a * b + c` into a fused multiply-add by itself and the loops keep their
//! order of additions, so every element gets the same arithmetic on every
//! path: results are bit-identical whatever the CPU, only the speed changes.

use super::Isa;

/// Runs `f` compiled for the widest vector instructions this CPU has.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match Isa::best() {
        // SAFETY: `Isa::best` only returns a path this CPU supports.
        Isa::Avx512 => return unsafe { avx512(f) },
        // SAFETY: as above.
        Isa::Avx2 => return unsafe { avx2(f) },
        Isa::Scalar => {}
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
