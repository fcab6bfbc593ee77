//! Accuracy sweeps (every path, both types) against the std functions,
//! special values, bit-identity across paths, and independence from the slice
//! length/position. Run with `--nocapture` to see the measured ulp table.

use super::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Distance in units in the last place between two f64 (0 if both NaN).
fn ulp_f64(a: f64, b: f64) -> u64 {
    if a.is_nan() && b.is_nan() {
        return 0;
    }
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    let ordered = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 {
            (i64::MIN - bits) as i128
        } else {
            bits as i128
        }
    };
    (ordered(a) - ordered(b)).unsigned_abs() as u64
}

fn ulp_f32(a: f32, b: f32) -> u64 {
    if a.is_nan() && b.is_nan() {
        return 0;
    }
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    let ordered = |x: f32| {
        let bits = x.to_bits() as i32;
        if bits < 0 {
            (i32::MIN - bits) as i64
        } else {
            bits as i64
        }
    };
    (ordered(a) - ordered(b)).unsigned_abs()
}

fn reference_f64(f: Activation, x: f64) -> f64 {
    match f {
        Activation::Exp => x.exp(),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => crate::Float::sigmoid(x),
    }
}

/// f32 reference: the f64 std function, rounded once to f32.
fn reference_f32(f: Activation, x: f32) -> f32 {
    reference_f64(f, x as f64) as f32
}

/// Hand-picked edge cases (both signs are added by the caller).
const EDGES_F64: &[f64] = &[
    0.0,
    5e-324,
    1e-310,
    f64::MIN_POSITIVE,
    1e-300,
    1e-20,
    1e-8,
    1e-4,
    0.1,
    0.5,
    0.624_999_999_999_999_9,
    0.625,
    0.625_000_000_000_000_1,
    0.7,
    1.0,
    2.0,
    18.0,
    19.0,
    19.062_5,
    20.0,
    22.0,
    36.8,
    37.0,
    44.0,
    100.0,
    708.0,
    709.78,
    709.782_712_893_384,
    709.79,
    710.0,
    744.0,
    745.0,
    745.13,
    745.2,
    746.0,
    800.0,
    1e10,
    1e300,
    f64::MAX,
    f64::INFINITY,
    f64::NAN,
];

const EDGES_F32: &[f32] = &[
    0.0,
    1e-45,
    1e-40,
    f32::MIN_POSITIVE,
    1e-30,
    1e-8,
    1e-4,
    0.1,
    0.5,
    0.624_999_9,
    0.625,
    0.625_000_1,
    0.7,
    1.0,
    2.0,
    8.0,
    9.0,
    9.01,
    10.0,
    15.0,
    17.0,
    20.0,
    87.0,
    88.72,
    88.722_84,
    88.73,
    89.0,
    100.0,
    103.0,
    103.97,
    104.0,
    105.0,
    1e10,
    f32::MAX,
    f32::INFINITY,
    f32::NAN,
];

fn inputs_f64() -> Vec<f64> {
    let mut xs: Vec<f64> = Vec::new();
    for &e in EDGES_F64 {
        xs.extend([e, -e]);
    }
    // Dense grid over the interesting range of tanh/sigmoid.
    xs.extend((-40_000..=40_000).map(|i| i as f64 * 1e-3));
    // Every binade, several mantissas, both signs (covers tiny and huge x).
    for e in -1074..=1023 {
        for m in [1.0, 1.25, 1.5, 1.75, 1.999] {
            let x = m * 2f64.powi(e);
            xs.extend([x, -x]);
        }
    }
    let mut rng = StdRng::seed_from_u64(7);
    xs.extend((0..40_000).map(|_| rng.random_range(-1.0..1.0)));
    xs.extend((0..40_000).map(|_| rng.random_range(-750.0..750.0)));
    // Around the tanh branch switch, ulp by ulp.
    let mut x = 0.625f64;
    for _ in 0..200 {
        xs.extend([x, -x]);
        x = f64::from_bits(x.to_bits() - 1);
    }
    let mut x = 0.625f64;
    for _ in 0..200 {
        x = f64::from_bits(x.to_bits() + 1);
        xs.extend([x, -x]);
    }
    xs
}

fn inputs_f32() -> Vec<f32> {
    let mut xs: Vec<f32> = Vec::new();
    for &e in EDGES_F32 {
        xs.extend([e, -e]);
    }
    xs.extend((-40_000..=40_000).map(|i| i as f32 * 1e-3));
    for e in -149..=127 {
        for m in [1.0f32, 1.25, 1.5, 1.75, 1.999] {
            let x = m * 2f64.powi(e) as f32;
            xs.extend([x, -x]);
        }
    }
    let mut rng = StdRng::seed_from_u64(8);
    xs.extend((0..40_000).map(|_| rng.random_range(-1.0f32..1.0)));
    xs.extend((0..40_000).map(|_| rng.random_range(-110.0f32..110.0)));
    let mut x = 0.625f32;
    for _ in 0..200 {
        xs.extend([x, -x]);
        x = f32::from_bits(x.to_bits() - 1);
    }
    xs
}

/// Max ulp error of `f` on `isa` over `xs` (f64), and the worst input.
fn max_ulp_f64(f: Activation, isa: Isa, xs: &[f64]) -> (u64, f64) {
    let mut ys = xs.to_vec();
    apply_with(f, isa, &mut ys);
    let mut worst = (0, 0.0);
    for (&x, &y) in xs.iter().zip(&ys) {
        let d = ulp_f64(y, reference_f64(f, x));
        if d > worst.0 {
            worst = (d, x);
        }
    }
    worst
}

fn max_ulp_f32(f: Activation, isa: Isa, xs: &[f32]) -> (u64, f32) {
    let mut ys = xs.to_vec();
    apply_with(f, isa, &mut ys);
    let mut worst = (0, 0.0);
    for (&x, &y) in xs.iter().zip(&ys) {
        let d = ulp_f32(y, reference_f32(f, x));
        if d > worst.0 {
            worst = (d, x);
        }
    }
    worst
}

/// Documented bounds (ulp vs std): f64 <= 2, f32 <= 4 (measured in the table).
const MAX_ULP_F64: u64 = 2;
const MAX_ULP_F32: u64 = 4;

#[test]
fn accuracy_f64_every_path() {
    let xs = inputs_f64();
    for isa in Isa::supported() {
        for f in Activation::ALL {
            let (ulp, x) = max_ulp_f64(f, isa, &xs);
            println!("f64 {f:?} {isa:?}: max {ulp} ulp (at x = {x:e})");
            assert!(ulp <= MAX_ULP_F64, "f64 {f:?} on {isa:?}: {ulp} ulp at x = {x:e}");
        }
    }
}

#[test]
fn accuracy_f32_every_path() {
    let xs = inputs_f32();
    for isa in Isa::supported() {
        for f in Activation::ALL {
            let (ulp, x) = max_ulp_f32(f, isa, &xs);
            println!("f32 {f:?} {isa:?}: max {ulp} ulp (at x = {x:e})");
            assert!(ulp <= MAX_ULP_F32, "f32 {f:?} on {isa:?}: {ulp} ulp at x = {x:e}");
        }
    }
}

/// Special values hold exactly (not just within ulp bounds), on every path.
#[test]
fn special_values_every_path() {
    for isa in Isa::supported() {
        let run64 = |f: Activation, x: f64| {
            let mut v = [x];
            apply_with(f, isa, &mut v);
            v[0]
        };
        let run32 = |f: Activation, x: f32| {
            let mut v = [x];
            apply_with(f, isa, &mut v);
            v[0]
        };
        use Activation::*;
        // tanh: odd, signed zero kept, tiny x returned exactly, saturation.
        assert_eq!(run64(Tanh, 0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(run64(Tanh, -0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(run32(Tanh, -0.0).to_bits(), (-0.0f32).to_bits());
        for x in [5e-324, 1e-310, 1e-200, 1e-9] {
            assert_eq!(run64(Tanh, x), x);
            assert_eq!(run64(Tanh, -x), -x);
        }
        for x in [1e-45f32, 1e-40, 1e-20, 1e-5] {
            assert_eq!(run32(Tanh, x), x);
        }
        assert_eq!(run64(Tanh, f64::INFINITY), 1.0);
        assert_eq!(run64(Tanh, f64::NEG_INFINITY), -1.0);
        assert_eq!(run64(Tanh, 20.0), 1.0);
        assert_eq!(run64(Tanh, -1e300), -1.0);
        assert_eq!(run32(Tanh, f32::INFINITY), 1.0);
        assert_eq!(run32(Tanh, -f32::INFINITY), -1.0);
        assert_eq!(run32(Tanh, -10.0), -1.0);
        // sigmoid: limits, exact 1/2, no premature underflow.
        assert_eq!(run64(Sigmoid, 0.0), 0.5);
        assert_eq!(run64(Sigmoid, -0.0), 0.5);
        assert_eq!(run64(Sigmoid, f64::INFINITY), 1.0);
        assert_eq!(run64(Sigmoid, f64::NEG_INFINITY), 0.0);
        assert_eq!(run64(Sigmoid, 40.0), 1.0);
        assert!(run64(Sigmoid, -740.0) > 0.0, "sigmoid(-740) is a subnormal, not 0");
        assert_eq!(run64(Sigmoid, -746.0), 0.0);
        assert_eq!(run32(Sigmoid, 0.0), 0.5);
        assert_eq!(run32(Sigmoid, f32::INFINITY), 1.0);
        assert_eq!(run32(Sigmoid, f32::NEG_INFINITY), 0.0);
        assert!(run32(Sigmoid, -100.0) > 0.0);
        // exp: exact points, overflow and underflow thresholds.
        assert_eq!(run64(Exp, 0.0), 1.0);
        assert_eq!(run64(Exp, -0.0), 1.0);
        assert_eq!(run64(Exp, f64::INFINITY), f64::INFINITY);
        assert_eq!(run64(Exp, f64::NEG_INFINITY), 0.0);
        assert!(run64(Exp, 709.78).is_finite());
        assert_eq!(run64(Exp, 709.79), f64::INFINITY);
        assert_eq!(run64(Exp, -745.2), 0.0);
        assert_eq!(run64(Exp, -745.0), 5e-324);
        assert_eq!(run32(Exp, 0.0), 1.0);
        assert_eq!(run32(Exp, f32::INFINITY), f32::INFINITY);
        assert_eq!(run32(Exp, f32::NEG_INFINITY), 0.0);
        assert!(run32(Exp, 88.72).is_finite());
        assert_eq!(run32(Exp, 88.73), f32::INFINITY);
        assert_eq!(run32(Exp, -104.0), 0.0);
        assert_eq!(run32(Exp, -103.0), 1e-45);
        // NaN in -> NaN out.
        for f in Activation::ALL {
            assert!(run64(f, f64::NAN).is_nan(), "{f:?} f64 on {isa:?}");
            assert!(run64(f, -f64::NAN).is_nan(), "{f:?} f64 on {isa:?}");
            assert!(run32(f, f32::NAN).is_nan(), "{f:?} f32 on {isa:?}");
        }
    }
}

/// The SIMD paths evaluate the same operations: bit-identical results. The
/// scalar fallback (unfused multiply-adds) stays within 2 ulp of them.
#[test]
fn simd_paths_identical_and_scalar_close() {
    let xs64 = inputs_f64();
    let xs32 = inputs_f32();
    let simd: Vec<Isa> = Isa::supported().into_iter().filter(|&i| i != Isa::Scalar).collect();
    for f in Activation::ALL {
        for isa in Isa::supported() {
            let mut want64 = xs64.clone();
            apply_with(f, Isa::best(), &mut want64);
            let mut want32 = xs32.clone();
            apply_with(f, Isa::best(), &mut want32);
            let max_diff = if simd.contains(&isa) { 0 } else { 2 };
            let mut got64 = xs64.clone();
            apply_with(f, isa, &mut got64);
            let worst64 = got64.iter().zip(&want64).map(|(&g, &w)| ulp_f64(g, w)).max();
            let mut got32 = xs32.clone();
            apply_with(f, isa, &mut got32);
            let worst32 = got32.iter().zip(&want32).map(|(&g, &w)| ulp_f32(g, w)).max();
            println!("{f:?} {isa:?} vs {:?}: f64 {worst64:?} ulp, f32 {worst32:?} ulp", Isa::best());
            assert!(worst64.unwrap_or(0) <= max_diff, "{f:?} f64 {isa:?}: {worst64:?} ulp");
            assert!(worst32.unwrap_or(0) <= max_diff, "{f:?} f32 {isa:?}: {worst32:?} ulp");
        }
    }
}

/// An element's result does not depend on the slice length, on where in the
/// slice (or in a vector) it falls, nor on the alignment: every sub-slice of
/// a buffer gives the values of the whole-buffer call.
#[test]
fn results_independent_of_length_and_position() {
    let mut rng = StdRng::seed_from_u64(11);
    // Mix the tanh branches and special values within each vector.
    let mut base64: Vec<f64> = (0..67).map(|_| rng.random_range(-3.0..3.0)).collect();
    base64[5] = f64::NAN;
    base64[9] = f64::INFINITY;
    base64[20] = 0.3;
    let base32: Vec<f32> = base64.iter().map(|&v| v as f32).collect();
    for isa in Isa::supported() {
        for f in Activation::ALL {
            let mut whole64 = base64.clone();
            apply_with(f, isa, &mut whole64);
            let mut whole32 = base32.clone();
            apply_with(f, isa, &mut whole32);
            for start in 0..17 {
                for len in 0..=(base64.len() - start).min(40) {
                    let mut part = base64[start..start + len].to_vec();
                    apply_with(f, isa, &mut part);
                    for (i, &y) in part.iter().enumerate() {
                        assert_eq!(ulp_f64(y, whole64[start + i]), 0, "{f:?} {isa:?}");
                    }
                    // In place inside the bigger buffer (different alignment).
                    let mut buf = base32.clone();
                    apply_with(f, isa, &mut buf[start..start + len]);
                    for (i, &y) in buf[start..start + len].iter().enumerate() {
                        assert_eq!(ulp_f32(y, whole32[start + i]), 0, "{f:?} {isa:?}");
                    }
                    // Elements outside the sub-slice are untouched.
                    assert!(buf[..start].iter().zip(&base32).all(|(a, b)| a.to_bits() == b.to_bits()));
                    assert!(buf[start + len..]
                        .iter()
                        .zip(&base32[start + len..])
                        .all(|(a, b)| a.to_bits() == b.to_bits()));
                }
            }
        }
    }
}

/// The public entry points use the active path.
#[test]
fn public_functions_use_the_active_path() {
    let xs: Vec<f64> = (-500..500).map(|i| i as f64 * 0.037).collect();
    let best = Isa::active();
    let mut a = xs.clone();
    tanh_inplace(&mut a);
    let mut b = xs.clone();
    apply_with(Activation::Tanh, best, &mut b);
    assert_eq!(a, b);
    let mut a = xs.clone();
    sigmoid_inplace(&mut a);
    let mut b = xs.clone();
    apply_with(Activation::Sigmoid, best, &mut b);
    assert_eq!(a, b);
    let mut a: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    let mut b = a.clone();
    exp_inplace(&mut a);
    apply_with(Activation::Exp, best, &mut b);
    assert_eq!(a, b);
    // The std-based reference and the kernels agree closely here too.
    let mut c: Vec<f64> = xs.clone();
    tanh_inplace(&mut c);
    assert!(c.iter().zip(&xs).all(|(&y, &x)| ulp_f64(y, x.tanh()) <= MAX_ULP_F64));
    assert!(Isa::best().is_supported());
    assert!(Isa::supported().contains(&Isa::Scalar));
}

/// Report which paths this machine tests (so a CI log shows it).
#[test]
fn detected_paths() {
    println!("supported kernel paths: {:?}, best: {:?}", Isa::supported(), Isa::best());
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        assert!(Isa::Avx2.is_supported());
    }
}

#[test]
fn wide_gives_the_same_bits_as_baseline_code() {
    // Element-wise multiply-adds and an 8-lane reduction, compiled for the
    // widest ISA inside `wide` and for baseline x86-64 outside.
    #[inline(always)]
    fn work(a: &[f32], b: &[f32], out: &mut [f32]) -> f32 {
        let mut acc = [0.0f32; 8];
        for (i, ((o, &x), &y)) in out.iter_mut().zip(a).zip(b).enumerate() {
            *o = 0.75 * *o + x * y - (x / (y.abs() + 1.0)).sqrt();
            acc[i % 8] += *o * x;
        }
        acc.iter().sum()
    }
    let a: Vec<f32> = (0..1003).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
    let b: Vec<f32> = (0..1003).map(|i| ((i as f32) * 0.11).cos() * 2.0).collect();
    let (mut o1, mut o2) = (vec![0.5f32; 1003], vec![0.5f32; 1003]);
    let s1 = work(&a, &b, &mut o1);
    let s2 = super::wide(
        #[inline(always)]
        || work(&a, &b, &mut o2),
    );
    assert_eq!(s1.to_bits(), s2.to_bits());
    assert!(o1.iter().zip(&o2).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn path_names_round_trip() {
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert_eq!(Isa::from_name(" AVX2 "), Some(Isa::Avx2));
    assert_eq!(Isa::from_name("sse4"), None);
}

/// The active path is the one `RNNRS_SIMD` asks for (the per-path CI runs
/// set it; this prints which path the run tested), else the best one.
#[test]
fn active_path_follows_rnnrs_simd() {
    let requested = Isa::requested();
    println!("RNNRS_SIMD -> {requested:?}; active path: {:?}", Isa::active());
    match requested {
        Ok(Some(isa)) => assert_eq!(Isa::active(), isa),
        _ => assert_eq!(Isa::active(), Isa::best()),
    }
    assert!(Isa::active().is_supported());
    #[cfg(target_arch = "aarch64")]
    assert_eq!(Isa::best(), Isa::Neon);
    #[cfg(not(target_arch = "aarch64"))]
    assert!(!Isa::Neon.is_supported());
}

/// `f` on `xs` through one-lane vectors with fused multiply-adds: the same
/// source evaluated with scalar IEEE operations, each rounded once like the
/// vector instructions.
fn fused_scalar<T>(f: Activation, xs: &mut [T])
where
    T: math::MathElement,
    super::vector::scalar::Fused<T>: Vector<Elem = T>,
{
    use super::vector::scalar::Fused;
    match f {
        Activation::Exp => map_slice(xs, math::exp::<Fused<T>>),
        Activation::Tanh => map_slice(xs, math::tanh::<Fused<T>>),
        Activation::Sigmoid => map_slice(xs, math::sigmoid::<Fused<T>>),
    }
}

/// Every vector path (AVX2, AVX-512, NEON) gives exactly the bits of the
/// same source on scalar fused operations, hence the same bits as each
/// other on any machine (NaN payloads aside: only NaN -> NaN is promised).
#[test]
fn vector_paths_give_the_bits_of_fused_scalar_code() {
    let same64 = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    let same32 = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    for f in Activation::ALL {
        let mut want64 = inputs_f64();
        fused_scalar(f, &mut want64);
        let mut want32 = inputs_f32();
        fused_scalar(f, &mut want32);
        for isa in Isa::supported().into_iter().filter(|&i| i != Isa::Scalar) {
            let mut got64 = inputs_f64();
            apply_with(f, isa, &mut got64);
            let mut got32 = inputs_f32();
            apply_with(f, isa, &mut got32);
            let bad64 = got64.iter().zip(&want64).filter(|(g, w)| !same64(**g, **w)).count();
            let bad32 = got32.iter().zip(&want32).filter(|(g, w)| !same32(**g, **w)).count();
            println!("{f:?} {isa:?} vs fused scalar: {bad64} f64, {bad32} f32 values differ");
            assert_eq!((bad64, bad32), (0, 0), "{f:?} on {isa:?}");
        }
    }
}

/// The path `Isa::active()` names is the one the public functions run, told
/// apart by its bits (the vector paths fuse multiply-adds, the scalar one
/// does not), and the packed GEMM follows it. On aarch64 that is NEON unless
/// `RNNRS_SIMD=scalar` (`make test-aarch64` runs the tests both ways, under
/// qemu); on x86-64 the path `RNNRS_SIMD` names (`make test-simd`).
#[test]
fn the_selected_path_is_the_one_that_runs() {
    let active = Isa::active();
    println!("active path: {active:?} (RNNRS_SIMD -> {:?})", Isa::requested());
    #[cfg(target_arch = "aarch64")]
    {
        let want = if Isa::requested() == Ok(Some(Isa::Scalar)) { Isa::Scalar } else { Isa::Neon };
        assert_eq!(active, want, "aarch64 computes on NEON unless RNNRS_SIMD=scalar");
    }
    let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    let mut told_apart = 0;
    for f in Activation::ALL {
        let xs = inputs_f32();
        let mut fused = xs.clone();
        fused_scalar(f, &mut fused);
        let mut unfused = xs.clone();
        match f {
            Activation::Exp => map_slice(&mut unfused, math::exp::<vector::scalar::F32x1>),
            Activation::Tanh => map_slice(&mut unfused, math::tanh::<vector::scalar::F32x1>),
            Activation::Sigmoid => map_slice(&mut unfused, math::sigmoid::<vector::scalar::F32x1>),
        }
        told_apart += fused.iter().zip(&unfused).filter(|(a, b)| !same(**a, **b)).count();
        let mut got = xs.clone();
        match f {
            Activation::Exp => exp_inplace(&mut got),
            Activation::Tanh => tanh_inplace(&mut got),
            Activation::Sigmoid => sigmoid_inplace(&mut got),
        }
        let want = if active == Isa::Scalar { &unfused } else { &fused };
        let bad = got.iter().zip(want).filter(|(a, b)| !same(**a, **b)).count();
        assert_eq!(bad, 0, "{f:?}: the public function did not compute on {active:?}");
    }
    assert!(told_apart > 0, "the inputs cannot tell fused from unfused code");
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    assert_eq!(crate::linalg::packed_f32::available(), active != Isa::Scalar);
}

/// `LstmRow` against the separate passes it replaces, on `isa`.
fn lstm_row_case<T: crate::Float>(isa: Isa, h: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draw = |n: usize, scale: f64| -> Vec<T> {
        (0..n).map(|_| T::from_f64((rng.random::<f64>() - 0.5) * scale)).collect()
    };
    let (mut gates, rec, c_prev) = (draw(4 * h, 12.0), draw(4 * h, 4.0), draw(h, 6.0));
    if h > 2 {
        gates[1] = T::from_f64(f64::NAN);
        gates[2 * h + 2] = T::from_f64(200.0);
    }
    // The separate passes (as `Lstm::forward` runs them for its variants).
    let mut want = gates.clone();
    for (g, &r) in want.iter_mut().zip(&rec) {
        *g += r;
    }
    T::apply_with(Activation::Sigmoid, isa, &mut want[..2 * h]);
    T::apply_with(Activation::Tanh, isa, &mut want[2 * h..3 * h]);
    T::apply_with(Activation::Sigmoid, isa, &mut want[3 * h..]);
    let c_want: Vec<T> = (0..h).map(|j| want[h + j] * c_prev[j] + want[j] * want[2 * h + j]).collect();
    let mut tc_want = c_want.clone();
    T::apply_with(Activation::Tanh, isa, &mut tc_want);
    let out_want: Vec<T> = (0..h).map(|j| want[3 * h + j] * tc_want[j]).collect();

    let (mut c_new, mut tanh_c, mut out) = (vec![T::ZERO; h], vec![T::ZERO; h], vec![T::ZERO; h]);
    T::lstm_row_with(
        isa,
        LstmRow {
            gates: &mut gates,
            rec: &rec,
            c_prev: &c_prev,
            c_new: &mut c_new,
            tanh_c: &mut tanh_c,
            out: &mut out,
        },
    );
    let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<u64>>();
    assert_eq!(bits(&gates), bits(&want), "gates {isa:?} h {h}");
    assert_eq!(bits(&c_new), bits(&c_want), "c {isa:?} h {h}");
    assert_eq!(bits(&tanh_c), bits(&tc_want), "tanh c {isa:?} h {h}");
    assert_eq!(bits(&out), bits(&out_want), "out {isa:?} h {h}");
}

#[test]
fn lstm_row_gives_the_bits_of_the_separate_passes_on_every_path() {
    // Full vectors only, full vectors and a tail, a tail only.
    for isa in Isa::supported() {
        for (h, seed) in [(64, 1), (37, 2), (3, 3)] {
            lstm_row_case::<f32>(isa, h, seed);
            lstm_row_case::<f64>(isa, h, seed);
        }
    }
}
