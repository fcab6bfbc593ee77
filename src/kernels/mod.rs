//! Element-wise kernels over slices: the activations every cell needs,
//! written once (`math.rs`) over the vector types of `vector/` and run on
//! the active instruction-set path (`isa.rs`: AVX-512, AVX2, NEON or
//! scalar; `RNNRS_SIMD` overrides the choice).
//!
//! Everyone calls the free functions below (`tanh_inplace::<T>(..)` ...);
//! the per-type dispatch lives behind the `Kernels` trait.
//!
//! Accuracy and determinism (checked in `tests.rs`):
//! - the vector paths (AVX2, AVX-512, NEON) evaluate the same operations in
//!   the same order, each an IEEE operation with one rounding, and give
//!   bit-identical results; the scalar path (same source, unfused
//!   multiply-adds) is within 2 ulp of them;
//! - an element's result never depends on the slice length, its position or
//!   alignment (the tail of a slice goes through a padded vector);
//! - tanh/sigmoid/exp are within 2 ulp of the std functions (f64; f32 vs
//!   the f64 std function rounded) over the whole range, with NaN -> NaN,
//!   tanh(+-0) = +-0, tanh(+-inf) = +-1, sigmoid(+-inf) = 1 / 0,
//!   exp(-inf) = 0, exp(+inf) = inf, and correct overflow/underflow
//!   (subnormal results included). Max error measured against an 80-bit
//!   reference: f64 exp 0.98, tanh 1.30, sigmoid 1.92 ulp; f32 exp 1.01,
//!   tanh 1.25, sigmoid 1.99 ulp.

mod consts;
mod isa;
mod math;
pub mod vector;
mod wide;

pub use isa::{run_on, Isa};
pub use wide::wide;

#[cfg(test)]
mod tests;

use vector::{map_slice, Vector};

/// The element-wise functions the kernels provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// exp(x)
    Exp,
    /// tanh(x)
    Tanh,
    /// 1 / (1 + exp(-x))
    Sigmoid,
}

impl Activation {
    pub const ALL: [Activation; 3] = [Activation::Exp, Activation::Tanh, Activation::Sigmoid];
}

/// Per-type element-wise kernels (implemented for f32 and f64).
pub trait Kernels: Sized + Copy {
    /// x <- tanh(x), accurate to a few ulp (and exact near 0).
    fn tanh_inplace(x: &mut [Self]) {
        Self::apply_with(Activation::Tanh, Isa::active(), x)
    }
    /// x <- 1 / (1 + exp(-x)), accurate to a few ulp, no overflow.
    fn sigmoid_inplace(x: &mut [Self]) {
        Self::apply_with(Activation::Sigmoid, Isa::active(), x)
    }
    /// x <- exp(x).
    fn exp_inplace(x: &mut [Self]) {
        Self::apply_with(Activation::Exp, Isa::active(), x)
    }
    /// x <- f(x) on the given path; an unsupported path falls back to the
    /// scalar one.
    fn apply_with(f: Activation, isa: Isa, x: &mut [Self]);
}

/// `x <- f(x)` through vectors of `V` (inlined into `run_on`'s code).
#[inline(always)]
fn apply_vec<V: Vector>(f: Activation, x: &mut [V::Elem])
where
    V::Elem: math::MathElement,
{
    // `#[inline(always)]` closures, not the fn items: a fn item passed as
    // `impl Fn` is called through a shim compiled without the path's
    // target features, where the intrinsics cannot inline (measured 4-20x
    // slower).
    match f {
        Activation::Exp => map_slice(
            x,
            #[inline(always)]
            |v: V| math::exp(v),
        ),
        Activation::Tanh => map_slice(
            x,
            #[inline(always)]
            |v: V| math::tanh(v),
        ),
        Activation::Sigmoid => map_slice(
            x,
            #[inline(always)]
            |v: V| math::sigmoid(v),
        ),
    }
}

macro_rules! impl_kernels {
    ($t:ty, $scalar:ty, $avx2:ty, $avx512:ty, $neon:ty) => {
        impl Kernels for $t {
            fn apply_with(f: Activation, isa: Isa, x: &mut [Self]) {
                let isa = if isa.is_supported() { isa } else { Isa::Scalar };
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => run_on(
                        isa,
                        #[inline(always)]
                        || apply_vec::<$avx512>(f, x),
                    ),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => run_on(
                        isa,
                        #[inline(always)]
                        || apply_vec::<$avx2>(f, x),
                    ),
                    #[cfg(target_arch = "aarch64")]
                    Isa::Neon => apply_vec::<$neon>(f, x),
                    _ => apply_vec::<$scalar>(f, x),
                }
            }
        }
    };
}
#[cfg(target_arch = "aarch64")]
use vector::neon::{F32x4, F64x2};
use vector::scalar::{F32x1, F64x1};
#[cfg(target_arch = "x86_64")]
use vector::x86::{F32x16, F32x8, F64x4, F64x8};
impl_kernels!(f64, F64x1, F64x4, F64x8, F64x2);
impl_kernels!(f32, F32x1, F32x8, F32x16, F32x4);

/// x <- tanh(x).
#[inline]
pub fn tanh_inplace<T: Kernels>(x: &mut [T]) {
    T::tanh_inplace(x)
}

/// x <- sigmoid(x).
#[inline]
pub fn sigmoid_inplace<T: Kernels>(x: &mut [T]) {
    T::sigmoid_inplace(x)
}

/// x <- exp(x).
#[inline]
pub fn exp_inplace<T: Kernels>(x: &mut [T]) {
    T::exp_inplace(x)
}

/// x <- f(x) on a chosen path (benchmarks and tests; an unsupported path
/// falls back to the scalar one).
#[inline]
pub fn apply_with<T: Kernels>(f: Activation, isa: Isa, x: &mut [T]) {
    T::apply_with(f, isa, x)
}

/// x <- max(x, 0) (NaN stays NaN).
#[inline]
pub fn relu_inplace<T: crate::Float>(x: &mut [T]) {
    for v in x {
        if *v < T::ZERO {
            *v = T::ZERO;
        }
    }
}
