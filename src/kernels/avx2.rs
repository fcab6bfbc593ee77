//! AVX2 + FMA kernels: 4 x f64 or 8 x f32 per vector. The algorithm of
//! `scalar.rs` (see there for the math) with fused multiply-adds; the exact
//! same operations as `avx512.rs`, so the two give bit-identical results.

use std::arch::x86_64::*;

use super::consts::*;

const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;

// ------------------------------------------------------------------- f64 --

/// 2^k for integer-valued k in [-1022, 1023].
#[inline]
#[target_feature(enable = "avx2,fma")]
fn pow2_pd(k: __m256d) -> __m256d {
    let biased = _mm256_add_pd(k, _mm256_set1_pd(POW2_MAGIC_F64));
    _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_castpd_si256(biased)))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn exp_pd(x: __m256d) -> __m256d {
    // min/max return their second operand when one is NaN: NaN passes through.
    let x = _mm256_min_pd(_mm256_set1_pd(EXP_HI_F64), x);
    let x = _mm256_max_pd(_mm256_set1_pd(EXP_LO_F64), x);
    let k = _mm256_round_pd::<NEAREST>(_mm256_mul_pd(x, _mm256_set1_pd(LOG2E_F64)));
    let r = _mm256_fnmadd_pd(k, _mm256_set1_pd(LN2_HI_F64), x);
    let r = _mm256_fnmadd_pd(k, _mm256_set1_pd(LN2_LO_F64), r);
    let mut q = _mm256_set1_pd(EXP_POLY_F64[0]);
    for &c in &EXP_POLY_F64[1..] {
        q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(c));
    }
    let y = _mm256_add_pd(_mm256_fmadd_pd(q, _mm256_mul_pd(r, r), r), _mm256_set1_pd(1.0));
    let k1 = _mm256_round_pd::<FLOOR>(_mm256_mul_pd(k, _mm256_set1_pd(0.5)));
    let k2 = _mm256_sub_pd(k, k1);
    _mm256_mul_pd(_mm256_mul_pd(y, pow2_pd(k1)), pow2_pd(k2))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn tanh_pd(x: __m256d) -> __m256d {
    let sign = _mm256_set1_pd(-0.0);
    let ax = _mm256_andnot_pd(sign, x);
    let small_mask = _mm256_cmp_pd::<_CMP_LE_OQ>(ax, _mm256_set1_pd(TANH_SMALL_F64));
    let small_bits = _mm256_movemask_pd(small_mask);
    // Each branch only runs when some lane needs it; lanes never mix, so an
    // element's value does not depend on its neighbours.
    let small = if small_bits != 0 {
        let z = _mm256_mul_pd(ax, ax);
        let p = _mm256_fmadd_pd(
            _mm256_fmadd_pd(_mm256_set1_pd(TANH_P_F64[0]), z, _mm256_set1_pd(TANH_P_F64[1])),
            z,
            _mm256_set1_pd(TANH_P_F64[2]),
        );
        let q = _mm256_fmadd_pd(
            _mm256_fmadd_pd(
                _mm256_add_pd(z, _mm256_set1_pd(TANH_Q_F64[0])),
                z,
                _mm256_set1_pd(TANH_Q_F64[1]),
            ),
            z,
            _mm256_set1_pd(TANH_Q_F64[2]),
        );
        _mm256_fmadd_pd(_mm256_mul_pd(ax, z), _mm256_div_pd(p, q), ax)
    } else {
        ax
    };
    let abs_result = if small_bits == 0b1111 {
        small
    } else {
        let one = _mm256_set1_pd(1.0);
        let e = exp_pd(_mm256_add_pd(ax, ax));
        let large_abs = _mm256_sub_pd(one, _mm256_div_pd(_mm256_set1_pd(2.0), _mm256_add_pd(e, one)));
        _mm256_blendv_pd(large_abs, small, small_mask)
    };
    _mm256_or_pd(abs_result, _mm256_and_pd(sign, x))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn sigmoid_pd(x: __m256d) -> __m256d {
    let one = _mm256_set1_pd(1.0);
    let e = exp_pd(_mm256_or_pd(x, _mm256_set1_pd(-0.0))); // exp(-|x|)
    let non_negative = _mm256_cmp_pd::<_CMP_GE_OQ>(x, _mm256_setzero_pd());
    let numerator = _mm256_blendv_pd(e, one, non_negative);
    _mm256_div_pd(numerator, _mm256_add_pd(one, e))
}

// ------------------------------------------------------------------- f32 --

#[inline]
#[target_feature(enable = "avx2,fma")]
fn pow2_ps(k: __m256) -> __m256 {
    let biased = _mm256_add_ps(k, _mm256_set1_ps(POW2_MAGIC_F32));
    _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(biased)))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn exp_ps(x: __m256) -> __m256 {
    let x = _mm256_min_ps(_mm256_set1_ps(EXP_HI_F32), x);
    let x = _mm256_max_ps(_mm256_set1_ps(EXP_LO_F32), x);
    let k = _mm256_round_ps::<NEAREST>(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E_F32)));
    let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_HI_F32), x);
    let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_LO_F32), r);
    let mut q = _mm256_set1_ps(EXP_POLY_F32[0]);
    for &c in &EXP_POLY_F32[1..] {
        q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(c));
    }
    let y = _mm256_add_ps(_mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0));
    let k1 = _mm256_round_ps::<FLOOR>(_mm256_mul_ps(k, _mm256_set1_ps(0.5)));
    let k2 = _mm256_sub_ps(k, k1);
    _mm256_mul_ps(_mm256_mul_ps(y, pow2_ps(k1)), pow2_ps(k2))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn tanh_ps(x: __m256) -> __m256 {
    let sign = _mm256_set1_ps(-0.0);
    let ax = _mm256_andnot_ps(sign, x);
    let small_mask = _mm256_cmp_ps::<_CMP_LE_OQ>(ax, _mm256_set1_ps(TANH_SMALL_F32));
    let small_bits = _mm256_movemask_ps(small_mask);
    let small = if small_bits != 0 {
        let z = _mm256_mul_ps(ax, ax);
        let mut p = _mm256_set1_ps(TANH_P_F32[0]);
        for &c in &TANH_P_F32[1..] {
            p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(c));
        }
        _mm256_fmadd_ps(_mm256_mul_ps(p, z), ax, ax)
    } else {
        ax
    };
    let abs_result = if small_bits == 0xff {
        small
    } else {
        let one = _mm256_set1_ps(1.0);
        let e = exp_ps(_mm256_add_ps(ax, ax));
        let large_abs = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0), _mm256_add_ps(e, one)));
        _mm256_blendv_ps(large_abs, small, small_mask)
    };
    _mm256_or_ps(abs_result, _mm256_and_ps(sign, x))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn sigmoid_ps(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    let e = exp_ps(_mm256_or_ps(x, _mm256_set1_ps(-0.0)));
    let non_negative = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_setzero_ps());
    let numerator = _mm256_blendv_ps(e, one, non_negative);
    _mm256_div_ps(numerator, _mm256_add_ps(one, e))
}

// ---------------------------------------------------------- slice drivers --

/// In-place map of a slice through a vector function. The tail that does not
/// fill a vector goes through the same function in a zero-padded vector, so
/// every element gets the value the full-vector path would give it.
macro_rules! slice_kernel {
    ($name:ident, $vec_fn:ident, $t:ty, $lanes:expr, $load:ident, $store:ident) => {
        /// # Safety
        /// The CPU must support AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn $name(x: &mut [$t]) {
            let mut chunks = x.chunks_exact_mut($lanes);
            for chunk in &mut chunks {
                let p = chunk.as_mut_ptr();
                // SAFETY: `chunk` holds exactly one vector; unaligned load/store.
                unsafe { $store(p, $vec_fn($load(p))) };
            }
            let tail = chunks.into_remainder();
            if !tail.is_empty() {
                let mut buf = [0.0 as $t; $lanes];
                buf[..tail.len()].copy_from_slice(tail);
                let p = buf.as_mut_ptr();
                // SAFETY: `buf` holds exactly one vector; unaligned load/store.
                unsafe { $store(p, $vec_fn($load(p))) };
                tail.copy_from_slice(&buf[..tail.len()]);
            }
        }
    };
}

slice_kernel!(exp_f64, exp_pd, f64, 4, _mm256_loadu_pd, _mm256_storeu_pd);
slice_kernel!(tanh_f64, tanh_pd, f64, 4, _mm256_loadu_pd, _mm256_storeu_pd);
slice_kernel!(sigmoid_f64, sigmoid_pd, f64, 4, _mm256_loadu_pd, _mm256_storeu_pd);
slice_kernel!(exp_f32, exp_ps, f32, 8, _mm256_loadu_ps, _mm256_storeu_ps);
slice_kernel!(tanh_f32, tanh_ps, f32, 8, _mm256_loadu_ps, _mm256_storeu_ps);
slice_kernel!(sigmoid_f32, sigmoid_ps, f32, 8, _mm256_loadu_ps, _mm256_storeu_ps);
