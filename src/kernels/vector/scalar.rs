//! One-lane "vectors": the portable path (any CPU), compiled for the
//! baseline target. `mul_add` is a separate multiply and add here (see the
//! parent module).

use super::Vector;

macro_rules! scalar_vector {
    ($name:ident, $t:ty, $bits:ty, $round_magic:expr) => {
        #[derive(Clone, Copy, Debug)]
        pub struct $name(pub $t);
        scalar_vector!(impl $name, $t, $bits, $round_magic, |a: $t, b: $t, c: $t| a * b + c);
    };
    (impl $name:ty, $t:ty, $bits:ty, $round_magic:expr, $mad:expr) => {
        impl Vector for $name {
            type Elem = $t;
            type Mask = bool;
            const LANES: usize = 1;

            #[inline(always)]
            fn splat(v: $t) -> Self {
                Self(v)
            }
            #[inline(always)]
            fn from_fn(mut f: impl FnMut(usize) -> $t) -> Self {
                Self::splat(f(0))
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> Self {
                // SAFETY: the caller's guarantee.
                Self(unsafe { p.read_unaligned() })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut $t) {
                // SAFETY: the caller's guarantee.
                unsafe { p.write_unaligned(self.0) }
            }
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                Self(self.0 + b.0)
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                Self(self.0 - b.0)
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                Self(self.0 * b.0)
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                Self(self.0 / b.0)
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                Self(($mad)(self.0, b.0, c.0))
            }
            #[inline(always)]
            fn mul_add_lane(a: $t, b: $t, c: $t) -> $t {
                ($mad)(a, b, c)
            }
            #[inline(always)]
            fn neg_mul_add(self, b: Self, c: Self) -> Self {
                Self(($mad)(-self.0, b.0, c.0))
            }
            #[inline(always)]
            fn clamp(self, lo: Self, hi: Self) -> Self {
                if self.0 > hi.0 {
                    hi
                } else if self.0 < lo.0 {
                    lo
                } else {
                    self
                }
            }
            #[inline(always)]
            fn round(self) -> Self {
                // Adding 1.5 * 2^MANTISSA_BITS leaves no fraction bits: the
                // addition itself rounds (to nearest even). No libm call.
                const MAGIC: $t = $round_magic;
                Self((self.0 + MAGIC) - MAGIC)
            }
            #[inline(always)]
            fn and(self, b: Self) -> Self {
                Self(<$t>::from_bits(self.0.to_bits() & b.0.to_bits()))
            }
            #[inline(always)]
            fn or(self, b: Self) -> Self {
                Self(<$t>::from_bits(self.0.to_bits() | b.0.to_bits()))
            }
            #[inline(always)]
            fn andnot(self, b: Self) -> Self {
                Self(<$t>::from_bits(!self.0.to_bits() & b.0.to_bits()))
            }
            #[inline(always)]
            fn shl_exponent(self) -> Self {
                let bits: $bits = self.0.to_bits() << <$t as super::Element>::MANTISSA_BITS;
                Self(<$t>::from_bits(bits))
            }
            #[inline(always)]
            fn le(self, b: Self) -> bool {
                self.0 <= b.0
            }
            #[inline(always)]
            fn ge(self, b: Self) -> bool {
                self.0 >= b.0
            }
            #[inline(always)]
            fn select(m: bool, if_true: Self, if_false: Self) -> Self {
                if m {
                    if_true
                } else {
                    if_false
                }
            }
            #[inline(always)]
            fn any(m: bool) -> bool {
                m
            }
            #[inline(always)]
            fn all(m: bool) -> bool {
                m
            }
        }
    };
}

scalar_vector!(F64x1, f64, u64, 6_755_399_441_055_744.0);
scalar_vector!(F32x1, f32, u32, 12_582_912.0);

/// One lane with fused multiply-adds (`mul_add`, a libm call without FMA
/// hardware): the reference the tests hold the vector paths to, bit for bit.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub struct Fused<T>(pub T);
#[cfg(test)]
scalar_vector!(impl Fused<f64>, f64, u64, 6_755_399_441_055_744.0, |a: f64, b: f64, c: f64| a.mul_add(b, c));
#[cfg(test)]
scalar_vector!(impl Fused<f32>, f32, u32, 12_582_912.0, |a: f32, b: f32, c: f32| a.mul_add(b, c));
