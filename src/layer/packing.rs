//! Variable-length batches: the packed layout (PyTorch's `PackedSequence`).
//!
//! The batch is sorted by length once, longest first (stable), so the
//! sequences still running at step `t` are the first `sizes[t]` rows of the
//! sorted batch: each step computes only those rows, and no work is spent on
//! padding. A packed array holds step `t`'s rows at `offsets[t]..offsets[t] +
//! sizes[t]`, steps in time order; the rows of a run of steps are one
//! contiguous block (a single GEMM operand). Without lengths (or with every
//! length equal to `T`) the packed layout is the time-major `(T, B, F)` one
//! and packing is the identity (no copy is made).

use crate::error::{checked_size, try_zeros};
use crate::{Error, Float, Result};

/// Order, per-step active rows and row offsets of a packed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packing {
    /// Sorted position -> batch column (longest first, stable).
    order: Vec<usize>,
    /// Rows still running at each step (non-increasing).
    sizes: Vec<usize>,
    /// First packed row of each step; `offsets[T]` is the total.
    offsets: Vec<usize>,
    /// No reordering and every sequence full length.
    identity: bool,
}

impl Packing {
    /// Every sequence `t` steps long.
    pub fn full(t: usize, b: usize) -> Packing {
        Packing {
            order: (0..b).collect(),
            sizes: vec![b; t],
            offsets: (0..=t).map(|s| s * b).collect(),
            identity: true,
        }
    }

    /// From the lengths of the `b` sequences, each in `0..=t`. A sequence of
    /// length 0 is never computed: its state passes through unchanged (the
    /// tail of a chunked run); PyTorch and the Python API require `1..=t`.
    pub fn new(lengths: &[usize], t: usize, b: usize) -> Result<Packing> {
        if lengths.len() != b {
            return Err(Error::shape(
                "lengths",
                format!("expected one length per sequence ({b}), got {}", lengths.len()),
            ));
        }
        if let Some((i, &l)) = lengths.iter().enumerate().find(|(_, &l)| l > t) {
            return Err(Error::value(
                "lengths",
                format!("lengths[{i}] = {l} is longer than the sequence length T = {t}"),
            ));
        }
        let mut order: Vec<usize> = (0..b).collect();
        order.sort_by_key(|&col| std::cmp::Reverse(lengths[col]));
        let mut sizes = vec![0; t];
        for &l in lengths.iter().filter(|&&l| l > 0) {
            sizes[l - 1] += 1;
        }
        // Running count from the end: sizes[s] = #{b: lengths[b] > s}.
        for s in (0..t.saturating_sub(1)).rev() {
            sizes[s] += sizes[s + 1];
        }
        let mut offsets = Vec::with_capacity(t + 1);
        let mut acc = 0;
        offsets.push(0);
        for &n in &sizes {
            acc += n;
            offsets.push(acc);
        }
        let identity = lengths.iter().all(|&l| l == t);
        Ok(Packing { order, sizes, offsets, identity })
    }

    pub fn steps(&self) -> usize {
        self.sizes.len()
    }
    pub fn batch(&self) -> usize {
        self.order.len()
    }
    /// Rows running at step `t`.
    pub fn size(&self, t: usize) -> usize {
        self.sizes[t]
    }
    /// First packed row of step `t` (`t == T`: the total row count).
    pub fn offset(&self, t: usize) -> usize {
        self.offsets[t]
    }
    /// Total packed rows.
    pub fn rows(&self) -> usize {
        self.offsets[self.sizes.len()]
    }
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// Time-major padded `(T, B, f)` -> packed `(rows, f)` (padding dropped).
    pub fn pack<T: Float>(&self, src: &[T], f: usize, what: &str) -> Result<Vec<T>> {
        let mut out = try_zeros(checked_size(&[self.rows(), f], what)?, what)?;
        let b = self.batch();
        for (t, &n) in self.sizes.iter().enumerate() {
            let dst = &mut out[self.offsets[t] * f..(self.offsets[t] + n) * f];
            for (r, row) in dst.chunks_exact_mut(f.max(1)).enumerate() {
                let col = self.order[r];
                row.copy_from_slice(&src[(t * b + col) * f..(t * b + col + 1) * f]);
            }
        }
        Ok(out)
    }

    /// Packed `(rows, f)` -> time-major padded `(T, B, f)`, zero past each length.
    pub fn unpack<T: Float>(&self, src: &[T], f: usize, what: &str) -> Result<Vec<T>> {
        let b = self.batch();
        let mut out = try_zeros(checked_size(&[self.steps(), b, f], what)?, what)?;
        for (t, &n) in self.sizes.iter().enumerate() {
            let from = &src[self.offsets[t] * f..(self.offsets[t] + n) * f];
            for (r, row) in from.chunks_exact(f.max(1)).enumerate() {
                let col = self.order[r];
                out[(t * b + col) * f..(t * b + col + 1) * f].copy_from_slice(row);
            }
        }
        Ok(out)
    }

    /// Batch order -> sorted order of the `(B, f)` blocks of `src` (`(rows, B, f)`).
    pub fn sort_rows<T: Float>(&self, src: &[T], f: usize) -> Vec<T> {
        self.permute(src, f, true)
    }

    /// Sorted order -> batch order of the `(B, f)` blocks of `src`.
    pub fn unsort_rows<T: Float>(&self, src: &[T], f: usize) -> Vec<T> {
        self.permute(src, f, false)
    }

    fn permute<T: Float>(&self, src: &[T], f: usize, sort: bool) -> Vec<T> {
        if self.identity {
            return src.to_vec();
        }
        let b = self.batch();
        let mut out = src.to_vec();
        for (block_out, block_in) in
            out.chunks_exact_mut((b * f).max(1)).zip(src.chunks_exact((b * f).max(1)))
        {
            for (r, &col) in self.order.iter().enumerate() {
                let (to, from) = if sort { (r, col) } else { (col, r) };
                block_out[to * f..(to + 1) * f].copy_from_slice(&block_in[from * f..(from + 1) * f]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_offsets_and_round_trip() {
        let p = Packing::new(&[2, 4, 1, 4], 4, 4).unwrap();
        assert_eq!(p.order, vec![1, 3, 0, 2]);
        assert_eq!(p.sizes, vec![4, 3, 2, 2]);
        assert_eq!(p.offsets, vec![0, 4, 7, 9, 11]);
        assert!(!p.is_identity());
        let x: Vec<f64> = (0..16).map(|v| v as f64 + 1.0).collect(); // (T=4, B=4, f=1)
        let packed = p.pack(&x, 1, "x").unwrap();
        assert_eq!(packed, vec![2.0, 4.0, 1.0, 3.0, 6.0, 8.0, 5.0, 10.0, 12.0, 14.0, 16.0]);
        let back = p.unpack(&packed, 1, "y").unwrap();
        let want: Vec<f64> =
            x.iter().enumerate().map(|(i, &v)| if i / 4 < [2, 4, 1, 4][i % 4] { v } else { 0.0 }).collect();
        assert_eq!(back, want);
        let s = p.sort_rows(&[10.0, 11.0, 12.0, 13.0], 1);
        assert_eq!(s, vec![11.0, 13.0, 10.0, 12.0]);
        assert_eq!(p.unsort_rows(&s, 1), vec![10.0, 11.0, 12.0, 13.0]);
    }

    #[test]
    fn full_lengths_are_the_identity_and_bad_lengths_are_errors() {
        let p = Packing::new(&[3, 3], 3, 2).unwrap();
        assert!(p.is_identity());
        assert_eq!(p, Packing::full(3, 2));
        let empty = Packing::new(&[0, 3], 3, 2).unwrap();
        assert_eq!((empty.order.clone(), empty.sizes.clone(), empty.rows()), (vec![1, 0], vec![1, 1, 1], 3));
        assert!(Packing::new(&[4, 3], 3, 2).is_err());
        assert!(Packing::new(&[3], 3, 2).is_err());
    }
}
