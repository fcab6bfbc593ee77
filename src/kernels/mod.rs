//! Element-wise kernels (activations, fused gate updates), SIMD with runtime
//! dispatch and a portable fallback.
