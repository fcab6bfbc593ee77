//! Compressed sparse row matrices and the row kernel of the reservoir
//! update. Index types match SciPy's CSR (`int64` row pointers, `int32`
//! column indices), so the Python side can hand arrays over without copies.
//! The products live in `rowdot` (one summation order for all kernels).

use crate::error::{Error, Result};
use crate::float::Float;

/// An owned CSR matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Csr<T> {
    pub rows: usize,
    pub cols: usize,
    pub indptr: Vec<i64>,
    pub indices: Vec<i32>,
    pub data: Vec<T>,
}

/// A borrowed CSR matrix (e.g. three NumPy arrays).
#[derive(Clone, Copy, Debug)]
pub struct CsrRef<'a, T> {
    pub rows: usize,
    pub cols: usize,
    pub indptr: &'a [i64],
    pub indices: &'a [i32],
    pub data: &'a [T],
}

impl<T: Float> Csr<T> {
    pub fn as_ref(&self) -> CsrRef<'_, T> {
        CsrRef {
            rows: self.rows,
            cols: self.cols,
            indptr: &self.indptr,
            indices: &self.indices,
            data: &self.data,
        }
    }
    pub fn validate(&self) -> Result<()> {
        self.as_ref().validate()
    }
    pub fn to_dense(&self) -> Result<Vec<T>> {
        self.as_ref().to_dense()
    }
    /// The same matrix with values converted to another float type.
    pub fn cast<U: Float>(&self) -> Csr<U> {
        Csr {
            rows: self.rows,
            cols: self.cols,
            indptr: self.indptr.clone(),
            indices: self.indices.clone(),
            data: self.data.iter().map(|&v| U::from_f64(v.to_f64())).collect(),
        }
    }
}

impl<'a, T: Float> CsrRef<'a, T> {
    /// Checks the structure so that the kernels can index without bounds
    /// surprises: monotone row pointers, column indices in range.
    pub fn validate(&self) -> Result<()> {
        if self.indptr.len() != self.rows + 1 {
            return Err(Error::shape(
                "indptr",
                format!("expected {} entries, got {}", self.rows + 1, self.indptr.len()),
            ));
        }
        if self.indices.len() != self.data.len() {
            return Err(Error::shape("indices", "indices and data must have the same length"));
        }
        if self.indptr[0] != 0
            || self.indptr[self.rows] as usize != self.data.len()
            || self.indptr[self.rows] < 0
        {
            return Err(Error::value("indptr", "must start at 0 and end at the number of stored values"));
        }
        if self.indptr.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::value("indptr", "must be non-decreasing"));
        }
        if self.indices.iter().any(|&c| c < 0 || c as usize >= self.cols) {
            return Err(Error::value("indices", format!("column indices must lie in [0, {})", self.cols)));
        }
        Ok(())
    }

    /// Entries of row `r` as `(column indices, values)`.
    #[inline(always)]
    pub fn row(&self, r: usize) -> (&'a [i32], &'a [T]) {
        let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        (&self.indices[a..b], &self.data[a..b])
    }

    pub fn to_dense(&self) -> Result<Vec<T>> {
        let n = crate::error::checked_size(&[self.rows, self.cols], "dense matrix")?;
        let mut out = crate::error::try_zeros::<T>(n, "dense matrix")?;
        for r in 0..self.rows {
            let (idx, val) = self.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                out[r * self.cols + c as usize] += v;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_structure_is_rejected() {
        let bad = CsrRef::<f64> { rows: 2, cols: 2, indptr: &[0, 2, 1], indices: &[0, 1], data: &[1.0, 2.0] };
        assert!(bad.validate().is_err());
        let bad = CsrRef::<f64> { rows: 1, cols: 2, indptr: &[0, 1], indices: &[5], data: &[1.0] };
        assert!(bad.validate().is_err());
    }
}
