//! exp, tanh and sigmoid, written once over `Vector` for every path (scalar,
//! AVX2, AVX-512, NEON) and both element types. This file is where the math
//! is explained; the constants are in `consts.rs`.

use super::consts::*;
use super::vector::{Element, Vector};

/// The per-type constants and the one part whose form differs by type
/// (tanh near 0: a rational function in f64, a polynomial in f32).
pub trait MathElement: Element {
    const EXP_HI: Self;
    const EXP_LO: Self;
    const LOG2E: Self;
    const LN2_HI: Self;
    const LN2_LO: Self;
    const EXP_POLY: &'static [Self];
    const POW2_MAGIC: Self;
    const TANH_SMALL: Self;
    const NEG_ZERO: Self;
    const TWO: Self;
    const HALF: Self;
    const QUARTER: Self;
    /// tanh(ax) for 0 <= ax <= TANH_SMALL (also NaN in, NaN out).
    fn tanh_small<V: Vector<Elem = Self>>(ax: V) -> V;
}

impl MathElement for f64 {
    const EXP_HI: f64 = EXP_HI_F64;
    const EXP_LO: f64 = EXP_LO_F64;
    const LOG2E: f64 = LOG2E_F64;
    const LN2_HI: f64 = LN2_HI_F64;
    const LN2_LO: f64 = LN2_LO_F64;
    const EXP_POLY: &'static [f64] = &EXP_POLY_F64;
    const POW2_MAGIC: f64 = POW2_MAGIC_F64;
    const TANH_SMALL: f64 = TANH_SMALL_F64;
    const NEG_ZERO: f64 = -0.0;
    const TWO: f64 = 2.0;
    const HALF: f64 = 0.5;
    const QUARTER: f64 = 0.25;

    /// Cephes: x + x z P(z) / Q(z), z = x^2 (Q monic).
    #[inline(always)]
    fn tanh_small<V: Vector<Elem = f64>>(ax: V) -> V {
        let s = V::splat;
        let z = ax.mul(ax);
        let p = s(TANH_P_F64[0]).mul_add(z, s(TANH_P_F64[1])).mul_add(z, s(TANH_P_F64[2]));
        let q = z.add(s(TANH_Q_F64[0])).mul_add(z, s(TANH_Q_F64[1])).mul_add(z, s(TANH_Q_F64[2]));
        ax.mul(z).mul_add(p.div(q), ax)
    }
}

impl MathElement for f32 {
    const EXP_HI: f32 = EXP_HI_F32;
    const EXP_LO: f32 = EXP_LO_F32;
    const LOG2E: f32 = LOG2E_F32;
    const LN2_HI: f32 = LN2_HI_F32;
    const LN2_LO: f32 = LN2_LO_F32;
    const EXP_POLY: &'static [f32] = &EXP_POLY_F32;
    const POW2_MAGIC: f32 = POW2_MAGIC_F32;
    const TANH_SMALL: f32 = TANH_SMALL_F32;
    const NEG_ZERO: f32 = -0.0;
    const TWO: f32 = 2.0;
    const HALF: f32 = 0.5;
    const QUARTER: f32 = 0.25;

    /// Cephes `tanhf`: x + x z P(z), z = x^2.
    #[inline(always)]
    fn tanh_small<V: Vector<Elem = f32>>(ax: V) -> V {
        let z = ax.mul(ax);
        let mut p = V::splat(TANH_P_F32[0]);
        for &c in &TANH_P_F32[1..] {
            p = p.mul_add(z, V::splat(c));
        }
        p.mul(z).mul_add(ax, ax)
    }
}

/// 2^k for integer-valued k in the exponent range: `k + POW2_MAGIC` holds
/// the biased exponent in its low mantissa bits; shifted into the exponent
/// field, that is 2^k.
#[inline(always)]
fn pow2<V: Vector>(k: V) -> V
where
    V::Elem: MathElement,
{
    k.add(V::splat(V::Elem::POW2_MAGIC)).shl_exponent()
}

/// exp(x) = 2^k exp(r): k = round(x / ln 2), r = x - k ln 2 (Cody-Waite, ln 2
/// split in two so `k * LN2_HI` is exact and the subtraction cancels
/// exactly), exp(r) = 1 + r + r^2 q(r) on |r| <= ln2/2, 2^k from exponent
/// bits. Clamping x first gives inf above the overflow point and 0 below the
/// underflow point; NaN passes through.
#[inline(always)]
pub fn exp<V: Vector>(x: V) -> V
where
    V::Elem: MathElement,
{
    let s = V::splat;
    let x = x.clamp(s(V::Elem::EXP_LO), s(V::Elem::EXP_HI));
    let k = x.mul(s(V::Elem::LOG2E)).round();
    let r = k.neg_mul_add(s(V::Elem::LN2_HI), x);
    let r = k.neg_mul_add(s(V::Elem::LN2_LO), r);
    let poly = V::Elem::EXP_POLY;
    let mut q = s(poly[0]);
    for &c in &poly[1..] {
        q = q.mul_add(r, s(c));
    }
    let y = q.mul_add(r.mul(r), r).add(s(V::Elem::ONE));
    // 2^k as 2^k1 * 2^k2 (k1 = floor(k / 2), as round(k/2 - 1/4), exact for
    // integer k) so that results near overflow and in the subnormal range
    // are formed with a single rounding.
    let k1 = k.mul(s(V::Elem::HALF)).sub(s(V::Elem::QUARTER)).round();
    let k2 = k.sub(k1);
    y.mul(pow2(k1)).mul(pow2(k2))
}

/// tanh(x) = sign(x) tanh|x| (exactly odd, tanh(-0) = -0): the odd
/// approximation near 0 (no cancellation), else 1 - 2 / (exp(2|x|) + 1).
#[inline(always)]
pub fn tanh<V: Vector>(x: V) -> V
where
    V::Elem: MathElement,
{
    let s = V::splat;
    let sign = s(V::Elem::NEG_ZERO);
    let ax = sign.andnot(x);
    let small_mask = ax.le(s(V::Elem::TANH_SMALL));
    // Each branch only runs when some lane needs it; lanes never mix, so an
    // element's value does not depend on its neighbours.
    let small = if V::any(small_mask) { V::Elem::tanh_small(ax) } else { ax };
    let abs_result = if V::all(small_mask) {
        small
    } else {
        let one = s(V::Elem::ONE);
        let e = exp(ax.add(ax));
        let large = one.sub(s(V::Elem::TWO).div(e.add(one)));
        V::select(small_mask, small, large)
    };
    abs_result.or(sign.and(x))
}

/// sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with
/// e = exp(-|x|) <= 1: no overflow, relative accuracy down to the subnormals.
#[inline(always)]
pub fn sigmoid<V: Vector>(x: V) -> V
where
    V::Elem: MathElement,
{
    let one = V::splat(V::Elem::ONE);
    let e = exp(x.or(V::splat(V::Elem::NEG_ZERO)));
    let numerator = V::select(x.ge(V::splat(V::Elem::ZERO)), one, e);
    numerator.div(one.add(e))
}
