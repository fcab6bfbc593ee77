//! Portable scalar kernels: the same operations, in the same order, as the
//! SIMD paths (`mul_add` where they use FMA), so every path gives
//! bit-identical results. Used when the CPU has no AVX2+FMA (and off x86).

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

/// 2^k for an integer-valued k in [-1022, 1023] (exponent-bit construction).
#[inline(always)]
fn pow2_f64(k: f64) -> f64 {
    f64::from_bits((k + POW2_MAGIC_F64).to_bits() << 52)
}

#[inline(always)]
fn pow2_f32(k: f32) -> f32 {
    f32::from_bits((k + POW2_MAGIC_F32).to_bits() << 23)
}

#[inline]
pub fn exp_f64(x: f64) -> f64 {
    let x = clamp_keep_nan_f64(x, EXP_LO_F64, EXP_HI_F64);
    let k = (x * LOG2E_F64).round_ties_even();
    let r = (-k).mul_add(LN2_HI_F64, x);
    let r = (-k).mul_add(LN2_LO_F64, r);
    let mut q = EXP_POLY_F64[0];
    for &c in &EXP_POLY_F64[1..] {
        q = q.mul_add(r, c);
    }
    let y = q.mul_add(r * r, r) + 1.0;
    // 2^k as 2^k1 * 2^k2 so results near overflow and in the subnormal
    // range are formed with a single rounding.
    let k1 = (k * 0.5).floor();
    let k2 = k - k1;
    y * pow2_f64(k1) * pow2_f64(k2)
}

#[inline]
pub fn exp_f32(x: f32) -> f32 {
    let x = clamp_keep_nan_f32(x, EXP_LO_F32, EXP_HI_F32);
    let k = (x * LOG2E_F32).round_ties_even();
    let r = (-k).mul_add(LN2_HI_F32, x);
    let r = (-k).mul_add(LN2_LO_F32, r);
    let mut q = EXP_POLY_F32[0];
    for &c in &EXP_POLY_F32[1..] {
        q = q.mul_add(r, c);
    }
    let y = q.mul_add(r * r, r) + 1.0;
    let k1 = (k * 0.5).floor();
    let k2 = k - k1;
    y * pow2_f32(k1) * pow2_f32(k2)
}

/// tanh(x) = sign(x) tanh|x|: exactly odd, and tanh(-0) = -0.
#[inline]
pub fn tanh_f64(x: f64) -> f64 {
    let ax = x.abs();
    let abs_result = if ax <= TANH_SMALL_F64 {
        let z = ax * ax;
        let p = TANH_P_F64[0].mul_add(z, TANH_P_F64[1]).mul_add(z, TANH_P_F64[2]);
        let q = (z + TANH_Q_F64[0]).mul_add(z, TANH_Q_F64[1]).mul_add(z, TANH_Q_F64[2]);
        (ax * z).mul_add(p / q, ax)
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
            p = p.mul_add(z, c);
        }
        (p * z).mul_add(ax, ax)
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
