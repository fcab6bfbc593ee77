//! The NTM's addressing (content, interpolation, shift, sharpening) of one
//! head of one sequence, and the small vector helpers it and its gradient use.

use super::{NtmSpec, COS_EPS, SHARPEN_EPS};
use crate::memory::modern::softmax_rows;
use crate::Float;

pub(super) fn softplus<T: Float>(x: T) -> T {
    x.max(T::ZERO) + (T::ONE + (-x.abs()).exp()).ln()
}

pub(super) fn softmax_inplace<T: Float>(v: &mut [T]) {
    let len = v.len();
    softmax_rows(v, len);
}

/// `dz = y ∘ (dy - <y, dy>)`: the gradient through a softmax with output `y`.
pub(super) fn softmax_backward<T: Float>(y: &[T], dy: &[T], dz: &mut [T]) {
    let dot: T = y.iter().zip(dy).map(|(&a, &b)| a * b).sum();
    for ((z, &a), &b) in dz.iter_mut().zip(y).zip(dy) {
        *z = a * (b - dot);
    }
}

/// The activated parameters of one head.
pub(super) struct Head<'a, T> {
    pub(super) key: &'a [T],
    pub(super) beta: T,
    pub(super) gate: T,
    pub(super) shift: Vec<T>,
    pub(super) gamma: T,
    /// Write heads: erase and add vectors.
    pub(super) erase: Vec<T>,
    pub(super) add: Vec<T>,
}

pub(super) fn head<'a, T: Float>(spec: &NtmSpec, p: &'a [T], h: usize) -> Head<'a, T> {
    let (m, s) = (spec.width, spec.shifts());
    let q = &p[spec.head_offset(h)..];
    let mut shift = q[m + 2..m + 2 + s].to_vec();
    softmax_inplace(&mut shift);
    let (erase, add) = if h >= spec.read_heads {
        let e = &q[m + s + 3..];
        (e[..m].iter().map(|&v| v.sigmoid()).collect(), e[m..2 * m].iter().map(|&v| v.tanh()).collect())
    } else {
        (Vec::new(), Vec::new())
    };
    Head {
        key: &q[..m],
        beta: softplus(q[m]),
        gate: q[m + 1].sigmoid(),
        shift,
        gamma: T::ONE + softplus(q[m + 2 + s]),
        erase,
        add,
    }
}

pub(super) fn norm<T: Float>(v: &[T]) -> T {
    dot(v, v).sqrt()
}

/// `Σ a_i b_i` with 8 partial sums, so that it vectorises (a fixed order:
/// the same bits for every thread count).
pub(super) fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: T = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `Σ_i a_i b_{(i + shift) mod n}`: `a` against `b` rotated left by `shift`.
pub(super) fn dot_rotated<T: Float>(a: &[T], b: &[T], shift: usize) -> T {
    let n = b.len();
    dot(&a[..n - shift], &b[shift..]) + dot(&a[n - shift..], &b[..shift])
}

/// `out_i += s · src_{(i + shift) mod n}` for every `i` (contiguous runs, no
/// modulo in the loop).
pub(super) fn add_rotated<T: Float>(out: &mut [T], src: &[T], s: T, shift: usize) {
    let n = src.len();
    let (a, b) = out.split_at_mut(n - shift);
    for (o, &v) in a.iter_mut().zip(&src[shift..]) {
        *o += s * v;
    }
    for (o, &v) in b.iter_mut().zip(&src[..shift]) {
        *o += s * v;
    }
}

/// The rotation of shift offset `k` (offset `o = k - shift_range`): the
/// shifted weighting reads `w_g[(i - o) mod N] = w_g[(i + rot) mod N]`.
pub(super) fn rotation(n: usize, shift_range: usize, k: usize) -> usize {
    (n + shift_range - k) % n
}

/// The norms of the `m`-wide rows of `mem`.
pub(super) fn row_norms<T: Float>(mem: &[T], m: usize, out: &mut [T]) {
    for (o, row) in out.iter_mut().zip(mem.chunks_exact(m)) {
        *o = norm(row);
    }
}

/// The addressing of one head of one sequence (writes `cos, wc, wg, wt, w`,
/// each N long).
#[allow(clippy::too_many_arguments)]
pub(super) fn address<T: Float>(
    spec: &NtmSpec,
    hd: &Head<'_, T>,
    mem: &[T],
    mnorms: &[T],
    w_prev: &[T],
    cos: &mut [T],
    wc: &mut [T],
    wg: &mut [T],
    wt: &mut [T],
    w: &mut [T],
) {
    let (n, m, sr) = (spec.slots, spec.width, spec.shift_range);
    let knorm = norm(hd.key);
    let eps = T::from_f64(COS_EPS);
    for (i, row) in mem.chunks_exact(m).enumerate() {
        cos[i] = dot(row, hd.key) / (knorm * mnorms[i] + eps);
        wc[i] = hd.beta * cos[i];
    }
    softmax_inplace(wc);
    for i in 0..n {
        wg[i] = hd.gate * wc[i] + (T::ONE - hd.gate) * w_prev[i];
    }
    wt.fill(T::ZERO);
    for (k, &sk) in hd.shift.iter().enumerate() {
        add_rotated(wt, wg, sk, rotation(n, sr, k));
    }
    let se = T::from_f64(SHARPEN_EPS);
    for i in 0..n {
        w[i] = hd.gamma * (wt[i] + se).ln();
    }
    softmax_inplace(w);
}
