//! aarch64 NEON vectors (`F32x4`, `F64x2`). NEON is part of the aarch64
//! baseline, so these run on every aarch64 CPU (no runtime check).
//! `vfmaq`/`vfmsq` are fused like the x86 FMAs and `vrndnq` rounds to
//! nearest even like `roundps`: the same bits as the x86 vector paths.
// Some NEON intrinsics are safe functions in recent Rust, some are not.
#![allow(unused_unsafe)]

use super::Vector;
use std::arch::aarch64::*;

#[derive(Clone, Copy, Debug)]
pub struct F32x4(pub float32x4_t);
#[derive(Clone, Copy, Debug)]
pub struct F64x2(pub float64x2_t);

macro_rules! neon_vector {
    ($name:ident, $t:ty, $reg:ty, $mask:ty, $lanes:expr, $shift:expr,
     $dup:ident, $ld:ident, $st:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $fma:ident, $fms:ident,
     $min:ident, $max:ident, $rnd:ident, $to_u:ident, $from_u:ident, $and:ident, $or:ident, $bic:ident,
     $shl:ident, $le:ident, $ge:ident, $bsl:ident) => {
        impl Vector for $name {
            type Elem = $t;
            type Mask = $mask;
            const LANES: usize = $lanes;

            #[inline(always)]
            fn splat(v: $t) -> Self {
                $name(unsafe { $dup(v) })
            }
            #[inline(always)]
            fn from_fn(mut f: impl FnMut(usize) -> $t) -> Self {
                let v: [$t; $lanes] = std::array::from_fn(&mut f);
                // SAFETY: `v` holds LANES elements.
                $name(unsafe { $ld(v.as_ptr()) })
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> Self {
                // SAFETY: the caller's guarantee.
                $name(unsafe { $ld(p) })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut $t) {
                // SAFETY: the caller's guarantee.
                unsafe { $st(p, self.0) }
            }
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                $name(unsafe { $add(self.0, b.0) })
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                $name(unsafe { $sub(self.0, b.0) })
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                $name(unsafe { $mul(self.0, b.0) })
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                $name(unsafe { $div(self.0, b.0) })
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                $name(unsafe { $fma(c.0, self.0, b.0) })
            }
            #[inline(always)]
            fn mul_add_lane(a: $t, b: $t, c: $t) -> $t {
                a.mul_add(b, c)
            }
            #[inline(always)]
            fn neg_mul_add(self, b: Self, c: Self) -> Self {
                $name(unsafe { $fms(c.0, self.0, b.0) })
            }
            #[inline(always)]
            fn clamp(self, lo: Self, hi: Self) -> Self {
                // NEON min/max return NaN when an operand is NaN.
                $name(unsafe { $max(lo.0, $min(hi.0, self.0)) })
            }
            #[inline(always)]
            fn round(self) -> Self {
                $name(unsafe { $rnd(self.0) })
            }
            #[inline(always)]
            fn and(self, b: Self) -> Self {
                $name(unsafe { $from_u($and($to_u(self.0), $to_u(b.0))) })
            }
            #[inline(always)]
            fn or(self, b: Self) -> Self {
                $name(unsafe { $from_u($or($to_u(self.0), $to_u(b.0))) })
            }
            #[inline(always)]
            fn andnot(self, b: Self) -> Self {
                // vbic(a, b) = a & !b.
                $name(unsafe { $from_u($bic($to_u(b.0), $to_u(self.0))) })
            }
            #[inline(always)]
            fn shl_exponent(self) -> Self {
                $name(unsafe { $from_u($shl::<$shift>($to_u(self.0))) })
            }
            #[inline(always)]
            fn le(self, b: Self) -> $mask {
                unsafe { $le(self.0, b.0) }
            }
            #[inline(always)]
            fn ge(self, b: Self) -> $mask {
                unsafe { $ge(self.0, b.0) }
            }
            #[inline(always)]
            fn select(m: $mask, if_true: Self, if_false: Self) -> Self {
                $name(unsafe { $bsl(m, if_true.0, if_false.0) })
            }
            #[inline(always)]
            fn any(m: $mask) -> bool {
                mask_any(m)
            }
            #[inline(always)]
            fn all(m: $mask) -> bool {
                mask_all(m)
            }
        }
    };
}

#[inline(always)]
fn mask_any<M: Copy>(m: M) -> bool {
    // SAFETY: masks are plain 128-bit integers.
    let v: u128 = unsafe { std::mem::transmute_copy(&m) };
    v != 0
}

#[inline(always)]
fn mask_all<M: Copy>(m: M) -> bool {
    // SAFETY: masks are plain 128-bit integers.
    let v: u128 = unsafe { std::mem::transmute_copy(&m) };
    v == u128::MAX
}

neon_vector!(
    F32x4,
    f32,
    float32x4_t,
    uint32x4_t,
    4,
    23,
    vdupq_n_f32,
    vld1q_f32,
    vst1q_f32,
    vaddq_f32,
    vsubq_f32,
    vmulq_f32,
    vdivq_f32,
    vfmaq_f32,
    vfmsq_f32,
    vminq_f32,
    vmaxq_f32,
    vrndnq_f32,
    vreinterpretq_u32_f32,
    vreinterpretq_f32_u32,
    vandq_u32,
    vorrq_u32,
    vbicq_u32,
    vshlq_n_u32,
    vcleq_f32,
    vcgeq_f32,
    vbslq_f32
);
neon_vector!(
    F64x2,
    f64,
    float64x2_t,
    uint64x2_t,
    2,
    52,
    vdupq_n_f64,
    vld1q_f64,
    vst1q_f64,
    vaddq_f64,
    vsubq_f64,
    vmulq_f64,
    vdivq_f64,
    vfmaq_f64,
    vfmsq_f64,
    vminq_f64,
    vmaxq_f64,
    vrndnq_f64,
    vreinterpretq_u64_f64,
    vreinterpretq_f64_u64,
    vandq_u64,
    vorrq_u64,
    vbicq_u64,
    vshlq_n_u64,
    vcleq_f64,
    vcgeq_f64,
    vbslq_f64
);
