//! The vector operations the kernels are written in, one type per
//! instruction set and element type:
//!
//! | path    | f32      | f64     |
//! |---------|----------|---------|
//! | scalar  | `F32x1`  | `F64x1` |
//! | AVX2    | `F32x8`  | `F64x4` |
//! | AVX-512 | `F32x16` | `F64x8` |
//! | NEON    | `F32x4`  | `F64x2` |
//!
//! Each operation is one instruction (or a short fixed sequence) with the
//! same IEEE result on every vector path, so code written once over
//! `Vector` (see `math.rs`) gives the same bits on AVX2, AVX-512 and NEON.
//! The exception is `mul_add` on the scalar path: a separate multiply and
//! add (a fused one would be a slow libm call on the CPUs without FMA that
//! take this path), hence results within 2 ulp of the vector paths there.
//!
//! The methods are `#[inline(always)]` wrappers without target features of
//! their own: they must be called from code that runs inside
//! `isa::run_on` (compiled with the matching features), where they inline
//! to single instructions.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(target_arch = "aarch64")]
pub mod neon;

/// An element type with the per-type constants of the kernels.
pub trait Element: Copy + Default + PartialEq + std::fmt::Debug + 'static {
    /// Mantissa bits (52 / 23): `shl_exponent` shifts by this much.
    const MANTISSA_BITS: u32;
    const ZERO: Self;
    const ONE: Self;
}

impl Element for f64 {
    const MANTISSA_BITS: u32 = 52;
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
}

impl Element for f32 {
    const MANTISSA_BITS: u32 = 23;
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
}

/// `LANES` values of `Elem` in one register, and the operations on them.
///
/// # Safety (for implementors)
/// `load`/`store` must touch exactly `LANES` elements.
pub trait Vector: Copy {
    type Elem: Element;
    /// Result of a lane-wise comparison.
    type Mask: Copy;
    const LANES: usize;

    fn splat(v: Self::Elem) -> Self;
    /// Lane `i` is `f(i)` (element-by-element loads, e.g. a gather).
    fn from_fn(f: impl FnMut(usize) -> Self::Elem) -> Self;
    /// # Safety
    /// `p` must be valid for reading `LANES` elements (any alignment).
    unsafe fn load(p: *const Self::Elem) -> Self;
    /// # Safety
    /// `p` must be valid for writing `LANES` elements (any alignment).
    unsafe fn store(self, p: *mut Self::Elem);

    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    /// `self * b + c` (fused on the vector paths, see the module doc).
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `a * b + c` on single elements, rounded like `mul_add`.
    fn mul_add_lane(a: Self::Elem, b: Self::Elem, c: Self::Elem) -> Self::Elem;
    /// `c - self * b` (fused on the vector paths).
    fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// `self` clamped to `[lo, hi]`; NaN stays NaN.
    fn clamp(self, lo: Self, hi: Self) -> Self;
    /// Round to nearest integer, ties to even (|self| < 2^(MANTISSA_BITS - 1)).
    fn round(self) -> Self;

    /// Bitwise and.
    fn and(self, b: Self) -> Self;
    /// Bitwise or.
    fn or(self, b: Self) -> Self;
    /// Bitwise `!self & b`.
    fn andnot(self, b: Self) -> Self;
    /// The bits shifted left by `MANTISSA_BITS` (as an unsigned integer of
    /// the element's width): moves a biased exponent into place.
    fn shl_exponent(self) -> Self;

    /// Lane-wise `self <= b` (false when either is NaN).
    fn le(self, b: Self) -> Self::Mask;
    /// Lane-wise `self >= b` (false when either is NaN).
    fn ge(self, b: Self) -> Self::Mask;
    /// `if_true` where `m` is set, else `if_false`.
    fn select(m: Self::Mask, if_true: Self, if_false: Self) -> Self;
    /// Whether any lane of `m` is set.
    fn any(m: Self::Mask) -> bool;
    /// Whether every lane of `m` is set.
    fn all(m: Self::Mask) -> bool;
}

/// Largest `LANES` of any vector type (stack buffers for slice tails).
pub const MAX_LANES: usize = 16;

/// `x[i] <- f(x[i])` through vectors of `V`. The tail that does not fill a
/// vector goes through a zero-padded one, so every element gets the value
/// the full-vector path would give it (lanes never mix in `f`).
#[inline(always)]
pub fn map_slice<V: Vector>(x: &mut [V::Elem], f: impl Fn(V) -> V) {
    let mut chunks = x.chunks_exact_mut(V::LANES);
    for chunk in &mut chunks {
        let p = chunk.as_mut_ptr();
        // SAFETY: `chunk` holds exactly `LANES` elements.
        unsafe { f(V::load(p)).store(p) };
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut buf = [V::Elem::ZERO; MAX_LANES];
        buf[..tail.len()].copy_from_slice(tail);
        // SAFETY: `buf` holds MAX_LANES >= LANES elements.
        unsafe { f(V::load(buf.as_ptr())).store(buf.as_mut_ptr()) };
        tail.copy_from_slice(&buf[..tail.len()]);
    }
}
