//! Instruction-set paths: detection, the `RNNRS_SIMD` override, and
//! `run_on`, which runs code compiled for a path.
//!
//! The crate is built for the baseline target (x86-64 SSE2, aarch64 NEON)
//! so that one wheel runs everywhere; `run_on(isa, f)` calls `f` inside a
//! function compiled with that path's features. Give it an
//! `#[inline(always)]` closure over `#[inline(always)]` code: the code is
//! then compiled there, at that width.

use std::sync::OnceLock;

/// Instruction-set path of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable scalar code (any CPU).
    Scalar,
    /// x86-64 AVX2 + FMA, 256-bit vectors.
    Avx2,
    /// x86-64 AVX-512F (+VL), 512-bit vectors.
    Avx512,
    /// aarch64 NEON (Advanced SIMD), 128-bit vectors.
    Neon,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

    /// The name used by `RNNRS_SIMD` and reported to Python.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// The path called `name` (as in `RNNRS_SIMD`).
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name.trim().to_ascii_lowercase())
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The paths this CPU can run.
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_supported()).collect()
    }

    /// The widest path this CPU supports (detected once, then cached).
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Isa::Avx512, Isa::Avx2, Isa::Neon]
                .into_iter()
                .find(|isa| isa.is_supported())
                .unwrap_or(Isa::Scalar)
        })
    }

    /// The path the library computes on: `RNNRS_SIMD` when set to a path
    /// this CPU supports, else `best()`. Read once per process. A value
    /// that names no path or an unsupported one is reported by
    /// `requested()` (the Python module refuses to import with it).
    pub fn active() -> Isa {
        static ACTIVE: OnceLock<Isa> = OnceLock::new();
        *ACTIVE.get_or_init(|| match Isa::requested() {
            Ok(Some(isa)) => isa,
            _ => Isa::best(),
        })
    }

    /// The path `RNNRS_SIMD` asks for: `Ok(None)` when unset, empty or
    /// `auto`; an error message when it names no path or one this CPU does
    /// not support.
    pub fn requested() -> Result<Option<Isa>, String> {
        let Ok(value) = std::env::var("RNNRS_SIMD") else {
            return Ok(None);
        };
        let v = value.trim().to_ascii_lowercase();
        if v.is_empty() || v == "auto" {
            return Ok(None);
        }
        let names: Vec<&str> = Isa::supported().iter().map(|i| i.name()).collect();
        match Isa::from_name(&v) {
            Some(isa) if isa.is_supported() => Ok(Some(isa)),
            Some(_) => Err(format!(
                "RNNRS_SIMD={value:?}: this CPU does not support that path (supported: {}, or auto)",
                names.join(", ")
            )),
            None => Err(format!(
                "RNNRS_SIMD={value:?}: expected one of avx512, avx2, neon, scalar or auto (this CPU: {})",
                names.join(", ")
            )),
        }
    }
}

/// Runs `f` compiled for `isa` (the scalar/baseline code when `isa` is not
/// supported by this CPU, or has no separate compilation, like NEON, which
/// is the aarch64 baseline).
#[inline(always)]
pub fn run_on<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if isa.is_supported() {
        match isa {
            // SAFETY: the CPU supports the path (checked above).
            Isa::Avx512 => return unsafe { avx512(f) },
            // SAFETY: as above.
            Isa::Avx2 => return unsafe { avx2(f) },
            _ => {}
        }
    }
    let _ = isa;
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
