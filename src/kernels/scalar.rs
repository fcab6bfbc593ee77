//! Portable scalar kernels, used when the CPU has no AVX2+FMA (and off x86).
//! Same algorithm, constants and order of operations as the SIMD paths, but
//! with unfused multiply-adds (no FMA on the CPUs that run this), so results
//! may differ from the SIMD paths in the last bit; the accuracy bounds hold
//! for both. This file is also where the math is explained.

use super::consts::*;

/// x clamped to [lo, hi]; NaN stays NaN (like `max(lo, min(hi, x))` in SIMD).
#[inline(always)]
fn clamp_keep_nan_f64(x: f64, lo: f64, hi: f64) -> f64 {
    if x > hi {
        hi
    } else if x < lo {
        lo
    } else {
        x
    }
}

#[inline(always)]
fn clamp_keep_nan_f32(x: f32, lo: f32, hi: f32) -> f32 {
    if x > hi {
        hi
    } else if x < lo {
        lo
    } else {
        x
    }
}

/// Unfused multiply-add: `mul_add` would be a libm call on exactly the x86-64
/// CPUs that take this path (no FMA), ten times slower than the whole kernel.
#[inline(always)]
fn mad_f64(a: f64, b: f64, c: f64) -> f64 {
    a * b + c
}

#[inline(always)]
fn mad_f32(a: f32, b: f32, c: f32) -> f32 {
    a * b + c
}

/// Round to nearest, ties to even, for |v| < 2^51 (NaN stays NaN), with
/// plain additions instead of a libm call.
#[inline(always)]
fn round_f64(v: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    (v + MAGIC) - MAGIC
}

#[inline(always)]
fn round_f32(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (v + MAGIC) - MAGIC
}

/// 2^k for k in [-1022, 1023] (exponent-bit construction).
#[inline(always)]
fn pow2_f64(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

#[inline(always)]
fn pow2_f32(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// exp(x) = 2^k exp(r): k = round(x / ln 2), r = x - k ln 2 (Cody-Waite, ln 2
/// split in two), exp(r) by polynomial on |r| <= ln2/2, 2^k from exponent
/// bits. Clamping x first gives inf above the overflow point and 0 below the
/// underflow point; NaN passes through.
#[inline]
pub fn exp_f64(x: f64) -> f64 {
    let x = clamp_keep_nan_f64(x, EXP_LO_F64, EXP_HI_F64);
    let k = round_f64(x * LOG2E_F64);
    // k * LN2_HI is exact and x - k * LN2_HI cancels exactly.
    let r = x - k * LN2_HI_F64;
    let r = r - k * LN2_LO_F64;
    let mut q = EXP_POLY_F64[0];
    for &c in &EXP_POLY_F64[1..] {
        q = mad_f64(q, r, c);
    }
    let y = mad_f64(q, r * r, r) + 1.0;
    // 2^k as 2^k1 * 2^k2 so results near overflow and in the subnormal
    // range are formed with a single rounding. (NaN: k = 0, y = NaN.)
    let k = k as i32;
    let k1 = k >> 1;
    y * pow2_f64(k1) * pow2_f64(k - k1)
}

#[inline]
pub fn exp_f32(x: f32) -> f32 {
    let x = clamp_keep_nan_f32(x, EXP_LO_F32, EXP_HI_F32);
    let k = round_f32(x * LOG2E_F32);
    let r = x - k * LN2_HI_F32;
    let r = r - k * LN2_LO_F32;
    let mut q = EXP_POLY_F32[0];
    for &c in &EXP_POLY_F32[1..] {
        q = mad_f32(q, r, c);
    }
    let y = mad_f32(q, r * r, r) + 1.0;
    let k = k as i32;
    let k1 = k >> 1;
    y * pow2_f32(k1) * pow2_f32(k - k1)
}

/// tanh(x) = sign(x) tanh|x|: exactly odd, and tanh(-0) = -0.
#[inline]
pub fn tanh_f64(x: f64) -> f64 {
    let ax = x.abs();
    let abs_result = if ax <= TANH_SMALL_F64 {
        let z = ax * ax;
        let p = mad_f64(mad_f64(TANH_P_F64[0], z, TANH_P_F64[1]), z, TANH_P_F64[2]);
        let q = mad_f64(mad_f64(z + TANH_Q_F64[0], z, TANH_Q_F64[1]), z, TANH_Q_F64[2]);
        mad_f64(ax * z, p / q, ax)
    } else {
        let e = exp_f64(ax + ax);
        1.0 - 2.0 / (e + 1.0)
    };
    abs_result.copysign(x)
}

#[inline]
pub fn tanh_f32(x: f32) -> f32 {
    let ax = x.abs();
    let abs_result = if ax <= TANH_SMALL_F32 {
        let z = ax * ax;
        let mut p = TANH_P_F32[0];
        for &c in &TANH_P_F32[1..] {
            p = mad_f32(p, z, c);
        }
        mad_f32(p * z, ax, ax)
    } else {
        let e = exp_f32(ax + ax);
        1.0 - 2.0 / (e + 1.0)
    };
    abs_result.copysign(x)
}

/// sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with
/// e = exp(-|x|) <= 1: no overflow, relative accuracy down to the subnormals.
#[inline]
pub fn sigmoid_f64(x: f64) -> f64 {
    let e = exp_f64(-x.abs());
    let numerator = if x >= 0.0 { 1.0 } else { e };
    numerator / (1.0 + e)
}

#[inline]
pub fn sigmoid_f32(x: f32) -> f32 {
    let e = exp_f32(-x.abs());
    let numerator = if x >= 0.0 { 1.0 } else { e };
    numerator / (1.0 + e)
}

macro_rules! slice_kernel {
    ($name:ident, $elem:ident, $t:ty) => {
        pub fn $name(x: &mut [$t]) {
            for v in x {
                *v = $elem(*v);
            }
        }
    };
}
slice_kernel!(exp_slice_f64, exp_f64, f64);
slice_kernel!(exp_slice_f32, exp_f32, f32);
slice_kernel!(tanh_slice_f64, tanh_f64, f64);
slice_kernel!(tanh_slice_f32, tanh_f32, f32);
slice_kernel!(sigmoid_slice_f64, sigmoid_f64, f64);
slice_kernel!(sigmoid_slice_f32, sigmoid_f32, f32);
