//! Constants shared by every code path (scalar, AVX2, AVX-512), so that all
//! paths evaluate exactly the same operations and give bit-identical results.
//! Published coefficients (Cephes) are kept verbatim, digits beyond the type's
//! precision included, so they can be checked against their source.
#![allow(clippy::excessive_precision)]

// ---------------------------------------------------------------- exp, f64 --
/// Inputs are clamped to [EXP_LO, EXP_HI] first: below EXP_LO the result
/// rounds to +0, above EXP_HI it overflows to +inf (the clamp keeps the
/// exponent arithmetic in range; NaN passes through).
pub const EXP_HI_F64: f64 = 710.0;
pub const EXP_LO_F64: f64 = -746.0;
pub const LOG2E_F64: f64 = std::f64::consts::LOG2_E;
/// Cody-Waite split of ln 2 (Cephes): `LN2_HI` has trailing zero bits so
/// `k * LN2_HI` is exact for the |k| <= 1100 we meet.
pub const LN2_HI_F64: f64 = 6.931_457_519_531_25e-1;
pub const LN2_LO_F64: f64 = 1.428_606_820_309_417_232_12e-6;
/// exp(r) = 1 + r + r^2 q(r) on |r| <= ln2/2, q the Taylor series
/// 1/2! + r/3! + ... + r^11/13! (truncation error < 5e-18 relative), highest
/// degree first for Horner.
pub const EXP_POLY_F64: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    1.0 / 2.0,
];
/// `k + POW2_MAGIC` (k an integer in [-1022, 1023]) has the bits of
/// `k + 1023` in its low mantissa bits; shifting them left by 52 gives 2^k.
pub const POW2_MAGIC_F64: f64 = 6_755_399_441_055_744.0 + 1023.0; // 1.5 * 2^52 + bias

// ---------------------------------------------------------------- exp, f32 --
pub const EXP_HI_F32: f32 = 89.0;
pub const EXP_LO_F32: f32 = -104.0;
pub const LOG2E_F32: f32 = std::f32::consts::LOG2_E;
/// Cephes `expf` split of ln 2 (LN2_HI is slightly above ln 2).
pub const LN2_HI_F32: f32 = 0.693_359_375;
pub const LN2_LO_F32: f32 = -2.121_944_4e-4;
/// Cephes `expf` minimax polynomial: exp(r) = 1 + r + r^2 q(r), |r| <= ln2/2.
pub const EXP_POLY_F32: [f32; 6] = [
    1.987_569_15e-4,
    1.398_199_950_7e-3,
    8.333_451_907_3e-3,
    4.166_579_589_4e-2,
    1.666_666_545_9e-1,
    5.000_000_120_1e-1,
];
/// 1.5 * 2^23 + bias, see `POW2_MAGIC_F64`.
pub const POW2_MAGIC_F32: f32 = 12_582_912.0 + 127.0;

// --------------------------------------------------------------- tanh, f64 --
/// |x| <= TANH_SMALL_F64 uses the odd rational approximation (no cancellation
/// near 0); above, tanh|x| = 1 - 2 / (exp(2|x|) + 1).
pub const TANH_SMALL_F64: f64 = 0.625;
/// Cephes `tanh`: tanh(x) = x + x z P(z) / Q(z), z = x^2, Q monic.
pub const TANH_P_F64: [f64; 3] =
    [-9.643_991_794_250_522_386_28e-1, -9.928_772_310_019_185_865_64e1, -1.614_687_684_417_084_479_52e3];
pub const TANH_Q_F64: [f64; 3] =
    [1.128_116_784_916_329_314_02e2, 2.235_488_390_601_004_485_83e3, 4.844_063_053_251_254_860_48e3];

// --------------------------------------------------------------- tanh, f32 --
pub const TANH_SMALL_F32: f32 = 0.625;
/// Cephes `tanhf`: tanh(x) = x + x z P(z), z = x^2.
pub const TANH_P_F32: [f32; 5] = [
    -5.704_988_727_45e-3,
    2.063_908_879_54e-2,
    -5.373_971_555_31e-2,
    1.333_144_220_36e-1,
    -3.333_328_194_22e-1,
];
