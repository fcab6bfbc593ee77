//! The one error type of the core. Every user-controlled failure is a value of
//! this enum, never a panic; the Python binding maps each variant to the
//! matching Python exception in one place (`src/python/errors.rs`).

/// What went wrong, with the argument it concerns.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// An array has the wrong number of dimensions or sizes.
    #[error("{arg}: {msg}")]
    Shape { arg: String, msg: String },
    /// An argument has the wrong type (an array of the wrong dtype ...).
    #[error("{arg}: {msg}")]
    Type { arg: String, msg: String },
    /// A value is out of its allowed range (negative size, bad option ...).
    #[error("{arg}: {msg}")]
    Value { arg: String, msg: String },
    /// A NaN or infinity where a finite number is required.
    #[error("{0}")]
    NonFinite(String),
    /// An allocation that cannot be made (too large, or out of memory).
    #[error("cannot allocate {bytes} bytes for {what}")]
    Alloc { what: String, bytes: u128 },
    /// A numerical failure (singular matrix, no convergence ...).
    #[error("{0}")]
    Numerical(String),
    /// The user asked a long call to stop (Ctrl-C; see `crate::interrupt`).
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(arg: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Shape { arg: arg.into(), msg: msg.into() }
    }
    pub fn value(arg: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Value { arg: arg.into(), msg: msg.into() }
    }
    pub fn dtype(arg: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Type { arg: arg.into(), msg: msg.into() }
    }
}

/// A zero-filled vector of `n` elements, or `Error::Alloc` when it cannot be
/// had (instead of the abort that `vec![0; n]` gives on failure).
pub fn try_zeros<T: Clone + Default>(n: usize, what: &str) -> Result<Vec<T>> {
    let bytes = (n as u128) * (std::mem::size_of::<T>() as u128);
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::Alloc { what: what.into(), bytes })?;
    v.resize(n, T::default());
    Ok(v)
}

/// A zero-filled vector of `n` floats, or `Error::Alloc`, taken from zeroed
/// memory (`calloc`): a large buffer then comes as fresh pages from the OS
/// that cost nothing until first touched, instead of a pass writing zeros
/// over all of it (for exact RTRL's sensitivities, hundreds of megabytes of
/// which a whole-sequence run may never touch).
pub fn try_zeros_float<T: crate::Float>(n: usize, what: &str) -> Result<Vec<T>> {
    use std::any::TypeId;
    let is_ieee = TypeId::of::<T>() == TypeId::of::<f64>() || TypeId::of::<T>() == TypeId::of::<f32>();
    let layout = std::alloc::Layout::array::<T>(n);
    let (Ok(layout), true) = (layout, is_ieee && n > 0 && std::mem::size_of::<T>() > 0) else {
        return try_zeros(n, what);
    };
    // SAFETY: the layout has a non-zero size; on success the pointer is a
    // block of `n` T from the global allocator with T's layout, so `Vec` may
    // own it with length and capacity `n`; T is f32 or f64 (checked above),
    // whose all-zero bit pattern is the valid value 0.0.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(Error::Alloc { what: what.into(), bytes: layout.size() as u128 });
    }
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// `a * b * ...` for sizes, or `Error::Alloc` when the product overflows.
pub fn checked_size(dims: &[usize], what: &str) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| Error::Alloc {
        what: what.into(),
        // Saturating: three or more huge factors overflow even u128.
        bytes: dims.iter().fold(1u128, |acc, &d| acc.saturating_mul(d as u128)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_allocation_is_an_error() {
        let r = try_zeros::<f64>(usize::MAX / 4, "test");
        assert!(matches!(r, Err(Error::Alloc { .. })));
    }

    #[test]
    fn zeroed_float_allocation_is_zero_or_an_error() {
        let v = try_zeros_float::<f64>(1 << 20, "test").unwrap();
        assert!(v.len() == 1 << 20 && v.iter().all(|&x| x == 0.0));
        assert!(try_zeros_float::<f32>(0, "test").unwrap().is_empty());
        let r = try_zeros_float::<f64>(usize::MAX / 4, "test");
        assert!(matches!(r, Err(Error::Alloc { .. })));
    }

    #[test]
    fn size_overflow_is_an_error() {
        assert!(checked_size(&[usize::MAX, 2], "x").is_err());
        assert!(checked_size(&[usize::MAX, usize::MAX, usize::MAX], "x").is_err());
        assert_eq!(checked_size(&[3, 4], "x").unwrap(), 12);
    }
}
