//! x86-64 vectors: AVX2 + FMA (`F32x8`, `F64x4`) and AVX-512F (`F32x16`,
//! `F64x8`). Every method wraps intrinsics of its path; it may only run
//! inside `isa::run_on` with that path (checked there), which is why the
//! `unsafe` blocks below are sound.
//! AVX-512 bit logic goes through the integer domain (the float forms need
//! AVX-512DQ).

use super::Vector;
use std::arch::x86_64::*;

const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

#[derive(Clone, Copy, Debug)]
pub struct F64x4(pub __m256d);
#[derive(Clone, Copy, Debug)]
pub struct F32x8(pub __m256);
#[derive(Clone, Copy, Debug)]
pub struct F64x8(pub __m512d);
#[derive(Clone, Copy, Debug)]
pub struct F32x16(pub __m512);

/// The operations whose intrinsics differ only by name between the types.
macro_rules! common {
    ($name:ident, $t:ty, $set1:ident, $loadu:ident, $storeu:ident, $add:ident, $sub:ident, $mul:ident,
     $div:ident, $fmadd:ident, $fnmadd:ident, $min:ident, $max:ident) => {
        #[inline(always)]
        fn splat(v: $t) -> Self {
            // SAFETY: see the module doc.
            $name(unsafe { $set1(v) })
        }
        #[inline(always)]
        unsafe fn load(p: *const $t) -> Self {
            // SAFETY: the caller's guarantee; see the module doc.
            $name(unsafe { $loadu(p) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut $t) {
            // SAFETY: the caller's guarantee; see the module doc.
            unsafe { $storeu(p, self.0) }
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            // SAFETY: see the module doc.
            $name(unsafe { $add(self.0, b.0) })
        }
        #[inline(always)]
        fn sub(self, b: Self) -> Self {
            // SAFETY: see the module doc.
            $name(unsafe { $sub(self.0, b.0) })
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            // SAFETY: see the module doc.
            $name(unsafe { $mul(self.0, b.0) })
        }
        #[inline(always)]
        fn div(self, b: Self) -> Self {
            // SAFETY: see the module doc.
            $name(unsafe { $div(self.0, b.0) })
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: see the module doc.
            $name(unsafe { $fmadd(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn mul_add_lane(a: $t, b: $t, c: $t) -> $t {
            a.mul_add(b, c)
        }
        #[inline(always)]
        fn neg_mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: see the module doc.
            $name(unsafe { $fnmadd(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn clamp(self, lo: Self, hi: Self) -> Self {
            // min/max return their second operand when one is NaN: NaN passes.
            // SAFETY: see the module doc.
            $name(unsafe { $max(lo.0, $min(hi.0, self.0)) })
        }
    };
}

impl Vector for F64x4 {
    type Elem = f64;
    type Mask = __m256d;
    const LANES: usize = 4;
    common!(
        F64x4,
        f64,
        _mm256_set1_pd,
        _mm256_loadu_pd,
        _mm256_storeu_pd,
        _mm256_add_pd,
        _mm256_sub_pd,
        _mm256_mul_pd,
        _mm256_div_pd,
        _mm256_fmadd_pd,
        _mm256_fnmadd_pd,
        _mm256_min_pd,
        _mm256_max_pd
    );
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> f64) -> Self {
        let (a, b, c, d) = (f(0), f(1), f(2), f(3));
        // SAFETY: see the module doc.
        F64x4(unsafe { _mm256_set_pd(d, c, b, a) })
    }
    #[inline(always)]
    fn round(self) -> Self {
        // SAFETY: see the module doc.
        F64x4(unsafe { _mm256_round_pd::<NEAREST>(self.0) })
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F64x4(unsafe { _mm256_and_pd(self.0, b.0) })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F64x4(unsafe { _mm256_or_pd(self.0, b.0) })
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F64x4(unsafe { _mm256_andnot_pd(self.0, b.0) })
    }
    #[inline(always)]
    fn shl_exponent(self) -> Self {
        // SAFETY: see the module doc.
        F64x4(unsafe { _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_castpd_si256(self.0))) })
    }
    #[inline(always)]
    fn le(self, b: Self) -> __m256d {
        // SAFETY: see the module doc.
        unsafe { _mm256_cmp_pd::<_CMP_LE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn ge(self, b: Self) -> __m256d {
        // SAFETY: see the module doc.
        unsafe { _mm256_cmp_pd::<_CMP_GE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn select(m: __m256d, if_true: Self, if_false: Self) -> Self {
        // SAFETY: see the module doc.
        F64x4(unsafe { _mm256_blendv_pd(if_false.0, if_true.0, m) })
    }
    #[inline(always)]
    fn any(m: __m256d) -> bool {
        // SAFETY: see the module doc.
        unsafe { _mm256_movemask_pd(m) != 0 }
    }
    #[inline(always)]
    fn all(m: __m256d) -> bool {
        // SAFETY: see the module doc.
        unsafe { _mm256_movemask_pd(m) == 0xf }
    }
}

impl Vector for F32x8 {
    type Elem = f32;
    type Mask = __m256;
    const LANES: usize = 8;
    common!(
        F32x8,
        f32,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_add_ps,
        _mm256_sub_ps,
        _mm256_mul_ps,
        _mm256_div_ps,
        _mm256_fmadd_ps,
        _mm256_fnmadd_ps,
        _mm256_min_ps,
        _mm256_max_ps
    );
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> f32) -> Self {
        let v: [f32; 8] = std::array::from_fn(&mut f);
        // SAFETY: see the module doc.
        F32x8(unsafe { _mm256_set_ps(v[7], v[6], v[5], v[4], v[3], v[2], v[1], v[0]) })
    }
    #[inline(always)]
    fn round(self) -> Self {
        // SAFETY: see the module doc.
        F32x8(unsafe { _mm256_round_ps::<NEAREST>(self.0) })
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F32x8(unsafe { _mm256_and_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F32x8(unsafe { _mm256_or_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F32x8(unsafe { _mm256_andnot_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn shl_exponent(self) -> Self {
        // SAFETY: see the module doc.
        F32x8(unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(self.0))) })
    }
    #[inline(always)]
    fn le(self, b: Self) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_cmp_ps::<_CMP_LE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn ge(self, b: Self) -> __m256 {
        // SAFETY: see the module doc.
        unsafe { _mm256_cmp_ps::<_CMP_GE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn select(m: __m256, if_true: Self, if_false: Self) -> Self {
        // SAFETY: see the module doc.
        F32x8(unsafe { _mm256_blendv_ps(if_false.0, if_true.0, m) })
    }
    #[inline(always)]
    fn any(m: __m256) -> bool {
        // SAFETY: see the module doc.
        unsafe { _mm256_movemask_ps(m) != 0 }
    }
    #[inline(always)]
    fn all(m: __m256) -> bool {
        // SAFETY: see the module doc.
        unsafe { _mm256_movemask_ps(m) == 0xff }
    }
}

impl Vector for F64x8 {
    type Elem = f64;
    type Mask = __mmask8;
    const LANES: usize = 8;
    common!(
        F64x8,
        f64,
        _mm512_set1_pd,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_add_pd,
        _mm512_sub_pd,
        _mm512_mul_pd,
        _mm512_div_pd,
        _mm512_fmadd_pd,
        _mm512_fnmadd_pd,
        _mm512_min_pd,
        _mm512_max_pd
    );
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> f64) -> Self {
        let v: [f64; 8] = std::array::from_fn(&mut f);
        // SAFETY: see the module doc.
        F64x8(unsafe { _mm512_set_pd(v[7], v[6], v[5], v[4], v[3], v[2], v[1], v[0]) })
    }
    #[inline(always)]
    fn round(self) -> Self {
        // SAFETY: see the module doc.
        F64x8(unsafe { _mm512_roundscale_pd::<NEAREST>(self.0) })
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F64x8(unsafe {
            _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(self.0), _mm512_castpd_si512(b.0)))
        })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F64x8(unsafe {
            _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(self.0), _mm512_castpd_si512(b.0)))
        })
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F64x8(unsafe {
            _mm512_castsi512_pd(_mm512_andnot_si512(_mm512_castpd_si512(self.0), _mm512_castpd_si512(b.0)))
        })
    }
    #[inline(always)]
    fn shl_exponent(self) -> Self {
        // SAFETY: see the module doc.
        F64x8(unsafe { _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_castpd_si512(self.0))) })
    }
    #[inline(always)]
    fn le(self, b: Self) -> __mmask8 {
        // SAFETY: see the module doc.
        unsafe { _mm512_cmp_pd_mask::<_CMP_LE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn ge(self, b: Self) -> __mmask8 {
        // SAFETY: see the module doc.
        unsafe { _mm512_cmp_pd_mask::<_CMP_GE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn select(m: __mmask8, if_true: Self, if_false: Self) -> Self {
        // SAFETY: see the module doc.
        F64x8(unsafe { _mm512_mask_blend_pd(m, if_false.0, if_true.0) })
    }
    #[inline(always)]
    fn any(m: __mmask8) -> bool {
        m != 0
    }
    #[inline(always)]
    fn all(m: __mmask8) -> bool {
        m == 0xff
    }
}

impl Vector for F32x16 {
    type Elem = f32;
    type Mask = __mmask16;
    const LANES: usize = 16;
    common!(
        F32x16,
        f32,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_add_ps,
        _mm512_sub_ps,
        _mm512_mul_ps,
        _mm512_div_ps,
        _mm512_fmadd_ps,
        _mm512_fnmadd_ps,
        _mm512_min_ps,
        _mm512_max_ps
    );
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> f32) -> Self {
        let v: [f32; 16] = std::array::from_fn(&mut f);
        // SAFETY: see the module doc.
        F32x16(unsafe {
            _mm512_set_ps(
                v[15], v[14], v[13], v[12], v[11], v[10], v[9], v[8], v[7], v[6], v[5], v[4], v[3], v[2],
                v[1], v[0],
            )
        })
    }
    #[inline(always)]
    fn round(self) -> Self {
        // SAFETY: see the module doc.
        F32x16(unsafe { _mm512_roundscale_ps::<NEAREST>(self.0) })
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F32x16(unsafe {
            _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(self.0), _mm512_castps_si512(b.0)))
        })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F32x16(unsafe {
            _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(self.0), _mm512_castps_si512(b.0)))
        })
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        // SAFETY: see the module doc.
        F32x16(unsafe {
            _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(self.0), _mm512_castps_si512(b.0)))
        })
    }
    #[inline(always)]
    fn shl_exponent(self) -> Self {
        // SAFETY: see the module doc.
        F32x16(unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_castps_si512(self.0))) })
    }
    #[inline(always)]
    fn le(self, b: Self) -> __mmask16 {
        // SAFETY: see the module doc.
        unsafe { _mm512_cmp_ps_mask::<_CMP_LE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn ge(self, b: Self) -> __mmask16 {
        // SAFETY: see the module doc.
        unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(self.0, b.0) }
    }
    #[inline(always)]
    fn select(m: __mmask16, if_true: Self, if_false: Self) -> Self {
        // SAFETY: see the module doc.
        F32x16(unsafe { _mm512_mask_blend_ps(m, if_false.0, if_true.0) })
    }
    #[inline(always)]
    fn any(m: __mmask16) -> bool {
        m != 0
    }
    #[inline(always)]
    fn all(m: __mmask16) -> bool {
        m == 0xffff
    }
}
