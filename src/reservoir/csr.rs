//! Compressed sparse row matrices and the row kernel of the reservoir
//! update. Index types match SciPy's CSR (`int64` row pointers, `int32`
//! column indices), so the Python side can hand arrays over without copies.

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

    /// `y = A x` (serial; the reservoir kernels parallelise over rows).
    pub fn matvec(&self, x: &[T], y: &mut [T]) {
        for (r, yr) in y.iter_mut().enumerate().take(self.rows) {
            *yr = self.row_dot(r, x);
        }
    }

    /// `A[r, :] · x` with four interleaved accumulators: entry `e` of the
    /// row goes to accumulator `e % 4` (a tail of fewer than four entries to
    /// the first), and the result is `(a0 + a1) + (a2 + a3)`. The order is
    /// fixed (thread-independent), and `row_dot_batch` follows it exactly.
    #[inline(always)]
    pub fn row_dot(&self, r: usize, x: &[T]) -> T {
        let (idx, val) = self.row(r);
        let x = &x[..self.cols];
        let (mut a0, mut a1, mut a2, mut a3) = (T::ZERO, T::ZERO, T::ZERO, T::ZERO);
        let (ic, vc) = (idx.chunks_exact(4), val.chunks_exact(4));
        let (it, vt) = (ic.remainder(), vc.remainder());
        for (c, v) in ic.zip(vc) {
            // `validate` guarantees 0 <= c < cols = x.len(); the bounds checks
            // stay (well predicted, cheap next to the gather) to keep this safe.
            a0 += v[0] * x[c[0] as usize];
            a1 += v[1] * x[c[1] as usize];
            a2 += v[2] * x[c[2] as usize];
            a3 += v[3] * x[c[3] as usize];
        }
        for (&c, &v) in it.iter().zip(vt) {
            a0 += v * x[c as usize];
        }
        (a0 + a1) + (a2 + a3)
    }

    /// Row `r` times a unit-major block `x` (`cols x batch`): `out[s] =
    /// A[r, :] · x[:, s]` for every `s`, in exactly the order of `row_dot`
    /// (each column equals `row_dot` on that column alone). Each stored
    /// value does a contiguous axpy over the batch. `acc` is scratch of
    /// `4 * batch` values.
    pub fn row_dot_batch(&self, r: usize, x: &[T], batch: usize, acc: &mut [T], out: &mut [T]) {
        let (idx, val) = self.row(r);
        let acc = &mut acc[..4 * batch];
        acc.fill(T::ZERO);
        let full = idx.len() / 4 * 4;
        for (e, (&c, &v)) in idx.iter().zip(val).enumerate() {
            let lane = if e < full { e % 4 } else { 0 };
            let col = &x[c as usize * batch..(c as usize + 1) * batch];
            let a = &mut acc[lane * batch..(lane + 1) * batch];
            for (a, &xv) in a.iter_mut().zip(col) {
                *a += v * xv;
            }
        }
        let (a01, a23) = acc.split_at(2 * batch);
        let (a0, a1) = a01.split_at(batch);
        let (a2, a3) = a23.split_at(batch);
        for ((((o, &p0), &p1), &p2), &p3) in out[..batch].iter_mut().zip(a0).zip(a1).zip(a2).zip(a3) {
            *o = (p0 + p1) + (p2 + p3);
        }
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
    fn matvec_matches_dense() {
        let m = crate::reservoir::init::sparse_random(
            30,
            20,
            0.3,
            crate::reservoir::Distribution::Normal,
            1.0,
            4,
            0,
        )
        .unwrap();
        let d = m.to_dense().unwrap();
        let x: Vec<f64> = (0..20).map(|i| (i as f64).sin()).collect();
        let mut y = vec![0.0; 30];
        m.as_ref().matvec(&x, &mut y);
        for r in 0..30 {
            let want: f64 = (0..20).map(|c| d[r * 20 + c] * x[c]).sum();
            assert!((y[r] - want).abs() < 1e-12);
        }
    }

    #[test]
    fn batched_row_product_equals_single_columns_bitwise() {
        let m = crate::reservoir::init::sparse_random(
            25,
            25,
            0.4,
            crate::reservoir::Distribution::Normal,
            1.0,
            7,
            0,
        )
        .unwrap();
        let batch = 5;
        let x: Vec<f64> = (0..25 * batch).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut acc = vec![0.0; 4 * batch];
        let mut out = vec![0.0; batch];
        for r in 0..25 {
            m.as_ref().row_dot_batch(r, &x, batch, &mut acc, &mut out);
            for s in 0..batch {
                let col: Vec<f64> = (0..25).map(|c| x[c * batch + s]).collect();
                assert_eq!(out[s].to_bits(), m.as_ref().row_dot(r, &col).to_bits());
            }
        }
    }

    #[test]
    fn malformed_structure_is_rejected() {
        let bad = CsrRef::<f64> { rows: 2, cols: 2, indptr: &[0, 2, 1], indices: &[0, 1], data: &[1.0, 2.0] };
        assert!(bad.validate().is_err());
        let bad = CsrRef::<f64> { rows: 1, cols: 2, indptr: &[0, 1], indices: &[5], data: &[1.0] };
        assert!(bad.validate().is_err());
    }
}
