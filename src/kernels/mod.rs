//! Element-wise kernels over slices: the activations every cell needs.
//! SIMD with runtime dispatch (AVX2+FMA, AVX-512F) and a portable fallback.
//!
//! Everyone calls the free functions below (`tanh_inplace::<T>(..)` ...);
//! the per-type implementations live behind the `Kernels` trait.
//!
//! Accuracy and determinism (checked in `tests.rs`):
//! - the AVX2 and AVX-512 paths evaluate the same operations in the same
//!   order and give bit-identical results; the scalar fallback (same
//!   algorithm, unfused multiply-adds) is within 2 ulp of them;
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
mod scalar;
mod wide;

pub use wide::wide;

#[cfg(target_arch = "x86_64")]
mod avx2;
// AVX-512 intrinsics are stable since Rust 1.89 (hence the crate's rust-version).
#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

/// Instruction-set path of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable scalar code (any CPU).
    Scalar,
    /// x86-64 AVX2 + FMA, 256-bit vectors.
    Avx2,
    /// x86-64 AVX-512F, 512-bit vectors.
    Avx512,
}

impl Isa {
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The paths this CPU can run.
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_supported()).collect()
    }

    /// The widest supported path (detected once, then cached).
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Isa::Avx512, Isa::Avx2].into_iter().find(|isa| isa.is_supported()).unwrap_or(Isa::Scalar)
        })
    }
}

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
        Self::apply_with(Activation::Tanh, Isa::best(), x)
    }
    /// x <- 1 / (1 + exp(-x)), accurate to a few ulp, no overflow.
    fn sigmoid_inplace(x: &mut [Self]) {
        Self::apply_with(Activation::Sigmoid, Isa::best(), x)
    }
    /// x <- exp(x).
    fn exp_inplace(x: &mut [Self]) {
        Self::apply_with(Activation::Exp, Isa::best(), x)
    }
    /// x <- f(x) on the given path; an unsupported path falls back to the
    /// scalar one.
    fn apply_with(f: Activation, isa: Isa, x: &mut [Self]);
}

macro_rules! impl_kernels {
    ($t:ty, $exp:ident, $tanh:ident, $sigmoid:ident,
     $exp_scalar:ident, $tanh_scalar:ident, $sigmoid_scalar:ident) => {
        impl Kernels for $t {
            fn apply_with(f: Activation, isa: Isa, x: &mut [Self]) {
                let isa = if isa.is_supported() { isa } else { Isa::Scalar };
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the CPU supports AVX-512F (checked above).
                    Isa::Avx512 => unsafe {
                        match f {
                            Activation::Exp => avx512::$exp(x),
                            Activation::Tanh => avx512::$tanh(x),
                            Activation::Sigmoid => avx512::$sigmoid(x),
                        }
                    },
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the CPU supports AVX2 and FMA (checked above).
                    Isa::Avx2 => unsafe {
                        match f {
                            Activation::Exp => avx2::$exp(x),
                            Activation::Tanh => avx2::$tanh(x),
                            Activation::Sigmoid => avx2::$sigmoid(x),
                        }
                    },
                    _ => match f {
                        Activation::Exp => scalar::$exp_scalar(x),
                        Activation::Tanh => scalar::$tanh_scalar(x),
                        Activation::Sigmoid => scalar::$sigmoid_scalar(x),
                    },
                }
            }
        }
    };
}
impl_kernels!(f64, exp_f64, tanh_f64, sigmoid_f64, exp_slice_f64, tanh_slice_f64, sigmoid_slice_f64);
impl_kernels!(f32, exp_f32, tanh_f32, sigmoid_f32, exp_slice_f32, tanh_slice_f32, sigmoid_slice_f32);

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
