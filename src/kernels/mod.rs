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

use vector::{map_slice, Element, Vector};

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
    /// One row of torch's LSTM step in one pass (`LstmRow`) on the given
    /// path; an unsupported path falls back to the scalar one.
    fn lstm_row_with(isa: Isa, r: LstmRow<'_, Self>);
}

/// One batch row of the LSTM step (gate blocks i, f, g, o of `h` values):
/// `gates <- act(gates + rec)` (sigmoid, sigmoid, tanh, sigmoid),
/// `c_new = f * c_prev + i * g`, `tanh_c = tanh(c_new)`, `out = o * tanh_c`.
/// Every value is the one the separate passes (`sigmoid_inplace` ...) give
/// on the active path: the same operations on the same lanes.
pub struct LstmRow<'a, T> {
    pub gates: &'a mut [T],
    pub rec: &'a [T],
    pub c_prev: &'a [T],
    pub c_new: &'a mut [T],
    pub tanh_c: &'a mut [T],
    pub out: &'a mut [T],
}

/// `LstmRow` through vectors of `V`, lane block by lane block (everything
/// of a block stays in registers); the tail through zero-padded vectors.
#[inline(always)]
fn lstm_row_vec<V: Vector>(r: LstmRow<'_, V::Elem>)
where
    V::Elem: math::MathElement,
{
    let h = r.c_prev.len();
    assert!(r.gates.len() == 4 * h && r.rec.len() == 4 * h);
    assert!(r.c_new.len() == h && r.tanh_c.len() == h && r.out.len() == h);
    // `lanes(j)`: gate values at `j` (gates + rec, activated) and the state.
    #[inline(always)]
    fn block<V: Vector>(z: [V; 4], cp: V) -> ([V; 4], V, V, V)
    where
        V::Elem: math::MathElement,
    {
        let (i, f) = (math::sigmoid(z[0]), math::sigmoid(z[1]));
        let (g, o) = (math::tanh(z[2]), math::sigmoid(z[3]));
        let c = f.mul(cp).add(i.mul(g));
        let tc = math::tanh(c);
        ([i, f, g, o], c, tc, o.mul(tc))
    }
    let l = V::LANES;
    let full = h - h % l;
    for j in (0..full).step_by(l) {
        // SAFETY: every pointer below is `j + q * h` (q < 4) or `j` into a
        // slice of `4 h` or `h` values, with `j + LANES <= h` (asserted lengths).
        unsafe {
            let z: [V; 4] = std::array::from_fn(|q| {
                V::load(r.gates.as_ptr().add(q * h + j)).add(V::load(r.rec.as_ptr().add(q * h + j)))
            });
            let (act, c, tc, o) = block::<V>(z, V::load(r.c_prev.as_ptr().add(j)));
            for (q, v) in act.into_iter().enumerate() {
                v.store(r.gates.as_mut_ptr().add(q * h + j));
            }
            c.store(r.c_new.as_mut_ptr().add(j));
            tc.store(r.tanh_c.as_mut_ptr().add(j));
            o.store(r.out.as_mut_ptr().add(j));
        }
    }
    let t = h - full;
    if t > 0 {
        let zero = V::Elem::ZERO;
        let pad = |s: &[V::Elem]| {
            let mut b = [zero; vector::MAX_LANES];
            b[..t].copy_from_slice(s);
            b
        };
        let g: [[V::Elem; vector::MAX_LANES]; 4] =
            std::array::from_fn(|q| pad(&r.gates[q * h + full..(q + 1) * h]));
        let rc: [[V::Elem; vector::MAX_LANES]; 4] =
            std::array::from_fn(|q| pad(&r.rec[q * h + full..(q + 1) * h]));
        let cp = pad(&r.c_prev[full..]);
        // SAFETY: the buffers hold MAX_LANES >= LANES values.
        unsafe {
            let zv: [V; 4] = std::array::from_fn(|q| V::load(g[q].as_ptr()).add(V::load(rc[q].as_ptr())));
            let (act, c, tc, o) = block::<V>(zv, V::load(cp.as_ptr()));
            let mut buf = [zero; vector::MAX_LANES];
            for (q, v) in act.into_iter().enumerate() {
                v.store(buf.as_mut_ptr());
                r.gates[q * h + full..(q + 1) * h].copy_from_slice(&buf[..t]);
            }
            for (v, dst) in [(c, &mut *r.c_new), (tc, &mut *r.tanh_c), (o, &mut *r.out)] {
                v.store(buf.as_mut_ptr());
                dst[full..].copy_from_slice(&buf[..t]);
            }
        }
    }
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

/// `$body` with `$v` the vector type of `isa` (the scalar one where `isa`
/// is not supported here), compiled for that path: the one dispatch of the
/// element-wise kernels.
macro_rules! on_path {
    ($isa:expr, $scalar:ty, $avx2:ty, $avx512:ty, $neon:ty, |$v:ident| $body:expr) => {{
        let isa = if $isa.is_supported() { $isa } else { Isa::Scalar };
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => run_on(
                isa,
                #[inline(always)]
                || {
                    type $v = $avx512;
                    $body
                },
            ),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => run_on(
                isa,
                #[inline(always)]
                || {
                    type $v = $avx2;
                    $body
                },
            ),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                type $v = $neon;
                $body
            }
            _ => {
                type $v = $scalar;
                $body
            }
        }
    }};
}

macro_rules! impl_kernels {
    ($t:ty, $scalar:ty, $avx2:ty, $avx512:ty, $neon:ty) => {
        impl Kernels for $t {
            fn apply_with(f: Activation, isa: Isa, x: &mut [Self]) {
                on_path!(isa, $scalar, $avx2, $avx512, $neon, |V| apply_vec::<V>(f, x))
            }
            fn lstm_row_with(isa: Isa, r: LstmRow<'_, Self>) {
                on_path!(isa, $scalar, $avx2, $avx512, $neon, |V| lstm_row_vec::<V>(r))
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

/// One row of the LSTM step on the active path (see `LstmRow`).
#[inline]
pub fn lstm_row<T: Kernels>(r: LstmRow<'_, T>) {
    T::lstm_row_with(Isa::active(), r)
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
