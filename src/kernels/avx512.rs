//! AVX-512F kernels: 8 x f64 or 16 x f32 per vector. The exact same
//! operations as `avx2.rs` (bit-identical results); see `scalar.rs` for the
//! math.
//! Only AVX-512F instructions are used (bit logic goes through the integer
//! domain, since the float and/or/andnot forms need AVX-512DQ).

use std::arch::x86_64::*;

use super::consts::*;

const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;

// ------------------------------------------------------------------- f64 --

#[inline]
#[target_feature(enable = "avx512f")]
fn or_pd(a: __m512d, b: __m512d) -> __m512d {
    _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(a), _mm512_castpd_si512(b)))
}

#[inline]
#[target_feature(enable = "avx512f")]
fn and_pd(a: __m512d, b: __m512d) -> __m512d {
    _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(a), _mm512_castpd_si512(b)))
}

/// !a & b.
#[inline]
#[target_feature(enable = "avx512f")]
fn andnot_pd(a: __m512d, b: __m512d) -> __m512d {
    _mm512_castsi512_pd(_mm512_andnot_si512(_mm512_castpd_si512(a), _mm512_castpd_si512(b)))
}

/// 2^k for integer-valued k in [-1022, 1023].
#[inline]
#[target_feature(enable = "avx512f")]
fn pow2_pd(k: __m512d) -> __m512d {
    let biased = _mm512_add_pd(k, _mm512_set1_pd(POW2_MAGIC_F64));
    _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_castpd_si512(biased)))
}

#[inline]
#[target_feature(enable = "avx512f")]
pub fn exp_pd(x: __m512d) -> __m512d {
    // min/max return their second operand when one is NaN: NaN passes through.
    let x = _mm512_min_pd(_mm512_set1_pd(EXP_HI_F64), x);
    let x = _mm512_max_pd(_mm512_set1_pd(EXP_LO_F64), x);
    let k = _mm512_roundscale_pd::<NEAREST>(_mm512_mul_pd(x, _mm512_set1_pd(LOG2E_F64)));
    let r = _mm512_fnmadd_pd(k, _mm512_set1_pd(LN2_HI_F64), x);
    let r = _mm512_fnmadd_pd(k, _mm512_set1_pd(LN2_LO_F64), r);
    let mut q = _mm512_set1_pd(EXP_POLY_F64[0]);
    for &c in &EXP_POLY_F64[1..] {
        q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(c));
    }
    let y = _mm512_add_pd(_mm512_fmadd_pd(q, _mm512_mul_pd(r, r), r), _mm512_set1_pd(1.0));
    let k1 = _mm512_roundscale_pd::<FLOOR>(_mm512_mul_pd(k, _mm512_set1_pd(0.5)));
    let k2 = _mm512_sub_pd(k, k1);
    _mm512_mul_pd(_mm512_mul_pd(y, pow2_pd(k1)), pow2_pd(k2))
}

#[inline]
#[target_feature(enable = "avx512f")]
pub fn tanh_pd(x: __m512d) -> __m512d {
    let sign = _mm512_set1_pd(-0.0);
    let ax = andnot_pd(sign, x);
    let small_mask = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(ax, _mm512_set1_pd(TANH_SMALL_F64));
    // Each branch only runs when some lane needs it; lanes never mix, so an
    // element's value does not depend on its neighbours.
    let small = if small_mask != 0 {
        let z = _mm512_mul_pd(ax, ax);
        let p = _mm512_fmadd_pd(
            _mm512_fmadd_pd(_mm512_set1_pd(TANH_P_F64[0]), z, _mm512_set1_pd(TANH_P_F64[1])),
            z,
            _mm512_set1_pd(TANH_P_F64[2]),
        );
        let q = _mm512_fmadd_pd(
            _mm512_fmadd_pd(
                _mm512_add_pd(z, _mm512_set1_pd(TANH_Q_F64[0])),
                z,
                _mm512_set1_pd(TANH_Q_F64[1]),
            ),
            z,
            _mm512_set1_pd(TANH_Q_F64[2]),
        );
        _mm512_fmadd_pd(_mm512_mul_pd(ax, z), _mm512_div_pd(p, q), ax)
    } else {
        ax
    };
    let abs_result = if small_mask == 0xff {
        small
    } else {
        let one = _mm512_set1_pd(1.0);
        let e = exp_pd(_mm512_add_pd(ax, ax));
        let large_abs = _mm512_sub_pd(one, _mm512_div_pd(_mm512_set1_pd(2.0), _mm512_add_pd(e, one)));
        _mm512_mask_blend_pd(small_mask, large_abs, small)
    };
    or_pd(abs_result, and_pd(sign, x))
}

#[inline]
#[target_feature(enable = "avx512f")]
pub fn sigmoid_pd(x: __m512d) -> __m512d {
    let one = _mm512_set1_pd(1.0);
    let e = exp_pd(or_pd(x, _mm512_set1_pd(-0.0))); // exp(-|x|)
    let non_negative = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, _mm512_setzero_pd());
    let numerator = _mm512_mask_blend_pd(non_negative, e, one);
    _mm512_div_pd(numerator, _mm512_add_pd(one, e))
}

// ------------------------------------------------------------------- f32 --

#[inline]
#[target_feature(enable = "avx512f")]
fn or_ps(a: __m512, b: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
}

#[inline]
#[target_feature(enable = "avx512f")]
fn and_ps(a: __m512, b: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
}

/// !a & b.
#[inline]
#[target_feature(enable = "avx512f")]
fn andnot_ps(a: __m512, b: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
}

#[inline]
#[target_feature(enable = "avx512f")]
fn pow2_ps(k: __m512) -> __m512 {
    let biased = _mm512_add_ps(k, _mm512_set1_ps(POW2_MAGIC_F32));
    _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_castps_si512(biased)))
}

#[inline]
#[target_feature(enable = "avx512f")]
pub fn exp_ps(x: __m512) -> __m512 {
    let x = _mm512_min_ps(_mm512_set1_ps(EXP_HI_F32), x);
    let x = _mm512_max_ps(_mm512_set1_ps(EXP_LO_F32), x);
    let k = _mm512_roundscale_ps::<NEAREST>(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E_F32)));
    let r = _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_HI_F32), x);
    let r = _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_LO_F32), r);
    let mut q = _mm512_set1_ps(EXP_POLY_F32[0]);
    for &c in &EXP_POLY_F32[1..] {
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(c));
    }
    let y = _mm512_add_ps(_mm512_fmadd_ps(q, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0));
    let k1 = _mm512_roundscale_ps::<FLOOR>(_mm512_mul_ps(k, _mm512_set1_ps(0.5)));
    let k2 = _mm512_sub_ps(k, k1);
    _mm512_mul_ps(_mm512_mul_ps(y, pow2_ps(k1)), pow2_ps(k2))
}

#[inline]
#[target_feature(enable = "avx512f")]
pub fn tanh_ps(x: __m512) -> __m512 {
    let sign = _mm512_set1_ps(-0.0);
    let ax = andnot_ps(sign, x);
    let small_mask = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(ax, _mm512_set1_ps(TANH_SMALL_F32));
    let small = if small_mask != 0 {
        let z = _mm512_mul_ps(ax, ax);
        let mut p = _mm512_set1_ps(TANH_P_F32[0]);
        for &c in &TANH_P_F32[1..] {
            p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(c));
        }
        _mm512_fmadd_ps(_mm512_mul_ps(p, z), ax, ax)
    } else {
        ax
    };
    let abs_result = if small_mask == 0xffff {
        small
    } else {
        let one = _mm512_set1_ps(1.0);
        let e = exp_ps(_mm512_add_ps(ax, ax));
        let large_abs = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0), _mm512_add_ps(e, one)));
        _mm512_mask_blend_ps(small_mask, large_abs, small)
    };
    or_ps(abs_result, and_ps(sign, x))
}

#[inline]
#[target_feature(enable = "avx512f")]
pub fn sigmoid_ps(x: __m512) -> __m512 {
    let one = _mm512_set1_ps(1.0);
    let e = exp_ps(or_ps(x, _mm512_set1_ps(-0.0)));
    let non_negative = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_setzero_ps());
    let numerator = _mm512_mask_blend_ps(non_negative, e, one);
    _mm512_div_ps(numerator, _mm512_add_ps(one, e))
}

// ---------------------------------------------------------- slice drivers --

/// In-place map of a slice through a vector function. The tail that does not
/// fill a vector is loaded with a mask into a zero-padded vector, so every
/// element gets the value the full-vector path would give it.
macro_rules! slice_kernel {
    ($name:ident, $vec_fn:ident, $t:ty, $lanes:expr, $mask:ty,
     $load:ident, $store:ident, $mask_load:ident, $mask_store:ident) => {
        /// # Safety
        /// The CPU must support AVX-512F.
        #[target_feature(enable = "avx512f")]
        pub unsafe fn $name(x: &mut [$t]) {
            let mut chunks = x.chunks_exact_mut($lanes);
            for chunk in &mut chunks {
                let p = chunk.as_mut_ptr();
                // SAFETY: `chunk` holds exactly one vector; unaligned load/store.
                unsafe { $store(p, $vec_fn($load(p))) };
            }
            let tail = chunks.into_remainder();
            if !tail.is_empty() {
                let mask: $mask = (1 << tail.len()) - 1;
                let p = tail.as_mut_ptr();
                // SAFETY: the mask only touches the `tail.len()` valid elements.
                unsafe { $mask_store(p, mask, $vec_fn($mask_load(mask, p))) };
            }
        }
    };
}

slice_kernel!(
    exp_f64,
    exp_pd,
    f64,
    8,
    __mmask8,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd
);
slice_kernel!(
    tanh_f64,
    tanh_pd,
    f64,
    8,
    __mmask8,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd
);
slice_kernel!(
    sigmoid_f64,
    sigmoid_pd,
    f64,
    8,
    __mmask8,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd
);
slice_kernel!(
    exp_f32,
    exp_ps,
    f32,
    16,
    __mmask16,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps
);
slice_kernel!(
    tanh_f32,
    tanh_ps,
    f32,
    16,
    __mmask16,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps
);
slice_kernel!(
    sigmoid_f32,
    sigmoid_ps,
    f32,
    16,
    __mmask16,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps
);
