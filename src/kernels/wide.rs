//! Ordinary loops compiled for the vectors of the active path.
//!
//! `wide(f)` runs `f` compiled for `Isa::active()` (AVX-512, AVX2, or the
//! baseline: SSE2 on x86-64, NEON on aarch64). Give it an
//! `#[inline(always)]` closure (and `#[inline(always)]` helpers): the code
//! is then inlined there and its element-wise loops vectorise at that width.
//! Rust never turns `a * b + c` into a fused multiply-add by itself and the
//! loops keep their order of additions, so every element gets the same
//! arithmetic on every path: results are bit-identical whatever the CPU or
//! `RNNRS_SIMD`, only the speed changes. (This is how the fused gate
//! passes, Adam and the RTRL passes are written once for every path.)

use super::isa::{run_on, Isa};

/// Runs `f` compiled for the active instruction set.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    run_on(Isa::active(), f)
}
