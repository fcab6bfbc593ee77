//! The float64 vector kernels, one source for every path: the 4
//! accumulators of a single row are `N` vectors of `A` (`N * A::LANES == 4`),
//! entry `e` of a row in lane `e % 4`; a batch block's 8 sequences are `M`
//! vectors of `V`, with 4 accumulators each.

use super::ACCS;
use crate::float::Float;
use crate::kernels::vector::{Element, Vector};

/// Single product through `V`'s fused lane operation on 4 scalar
/// accumulators (the float32 rows), in the contract's order.
///
/// # Safety
/// Every index in `0..x.len()`; runs on `V`'s path.
#[inline(always)]
pub unsafe fn row_dot_lanes<V: Vector>(idx: &[i32], val: &[V::Elem], x: &[V::Elem]) -> V::Elem
where
    V::Elem: Float,
{
    let len = idx.len().min(val.len());
    let (ip, vp, xp) = (idx.as_ptr(), val.as_ptr(), x.as_ptr());
    let mut a = [<V::Elem as Element>::ZERO; ACCS];
    let mut e = 0;
    while e + ACCS <= len {
        for (k, ak) in a.iter_mut().enumerate() {
            // SAFETY: e + k < len; the index points inside x.
            unsafe { *ak = V::mul_add_lane(*vp.add(e + k), *xp.add(*ip.add(e + k) as usize), *ak) };
        }
        e += ACCS;
    }
    for (k, ak) in a.iter_mut().enumerate().take(len - e) {
        // SAFETY: as above.
        unsafe { *ak = V::mul_add_lane(*vp.add(e + k), *xp.add(*ip.add(e + k) as usize), *ak) };
    }
    (a[0] + a[2]) + (a[1] + a[3])
}

/// `out[k] = row(first + k) · x` by `row_dot_lanes`.
///
/// # Safety
/// As `row_dot_lanes` for every row; `indptr` valid for the rows.
#[inline(always)]
pub unsafe fn rows_into_lanes<V: Vector>(
    indptr: &[i64],
    indices: &[i32],
    data: &[V::Elem],
    first: usize,
    x: &[V::Elem],
    out: &mut [V::Elem],
) where
    V::Elem: Float,
{
    for (k, o) in out.iter_mut().enumerate() {
        let (a, b) = (indptr[first + k] as usize, indptr[first + k + 1] as usize);
        // SAFETY: the caller's guarantee.
        *o = unsafe { row_dot_lanes::<V>(&indices[a..b], &data[a..b], x) };
    }
}

/// `out[k] = row(first + k) · x` for a compact matrix (`Compact`):
/// entries `e` with `e % 8 < 4` into the first 4 accumulators, the others
/// into the second 4.
///
/// # Safety
/// Every index of the rows `< x.len()`; `indptr` valid for the rows;
/// runs on `A`'s path.
#[inline(always)]
pub unsafe fn compact_rows<A: Vector<Elem = f64>, const N: usize>(
    indptr: &[i64],
    indices: &[u16],
    data: &[f32],
    first: usize,
    x: &[f64],
    out: &mut [f64],
) {
    let xp = x.as_ptr();
    for (k, o) in out.iter_mut().enumerate() {
        let (a, b) = (indptr[first + k] as usize, indptr[first + k + 1] as usize);
        let (idx, val) = (&indices[a..b], &data[a..b]);
        let (ip, vp) = (idx.as_ptr(), val.as_ptr());
        let len = idx.len().min(val.len());
        let mut acc = [[A::splat(0.0); N]; 2];
        let mut e = 0;
        // SAFETY (both loops): e + 8 (or 4) <= len; indices inside x.
        let group = |acc: &mut [A; N], e: usize| unsafe {
            for (j, a) in acc.iter_mut().enumerate() {
                let o = e + j * A::LANES;
                let v = A::from_fn(|l| f64::from(*vp.add(o + l)));
                let g = A::from_fn(|l| *xp.add(usize::from(*ip.add(o + l))));
                *a = v.mul_add(g, *a);
            }
        };
        while e + 2 * ACCS <= len {
            group(&mut acc[0], e);
            group(&mut acc[1], e + ACCS);
            e += 2 * ACCS;
        }
        if e + ACCS <= len {
            group(&mut acc[0], e);
            e += ACCS;
        }
        let mut sum = 0.0;
        for (a0, a1) in acc[0].iter().zip(&acc[1]) {
            let mut lanes = [0.0f64; ACCS];
            // SAFETY: `lanes` holds 4 >= LANES(A) values (N * LANES(A) == 4).
            unsafe { a0.add(*a1).store(lanes.as_mut_ptr()) };
            sum += lanes[..A::LANES].iter().sum::<f64>();
        }
        for (&c, &v) in idx[e..len].iter().zip(&val[e..len]) {
            // SAFETY: the index points inside x.
            sum += f64::from(v) * unsafe { *xp.add(usize::from(c)) };
        }
        *o = sum;
    }
}

/// `x[idx[e..e + A::LANES]]` as one vector, by scalar loads and inserts
/// (measured ~20% faster than `vgatherdpd` on Zen 5).
///
/// # Safety
/// `e + A::LANES <= idx.len()`, indices inside x.
#[inline(always)]
unsafe fn gather<A: Vector<Elem = f64>>(ip: *const i32, xp: *const f64, e: usize) -> A {
    // SAFETY: by the caller's guarantee.
    A::from_fn(|k| unsafe { *xp.add(*ip.add(e + k) as usize) })
}

/// `(a0 + a2) + (a1 + a3)` of the accumulators.
#[inline(always)]
fn reduce<A: Vector<Elem = f64>, const N: usize>(acc: &[A; N]) -> [f64; ACCS] {
    debug_assert_eq!(N * A::LANES, ACCS);
    let mut a = [0.0f64; ACCS];
    for (j, v) in acc.iter().enumerate() {
        // SAFETY: `a` holds N * LANES(A) = 4 values.
        unsafe { v.store(a.as_mut_ptr().add(j * A::LANES)) };
    }
    a
}

/// Adds the last `len - e < 4` entries to accumulators `0..len - e`
/// (one lane at a time, with the rounding of the vector `mul_add`),
/// then the contract's final sum.
///
/// # Safety
/// `e <= len <= e + 4`, lengths of idx and val >= len, indices inside x.
#[inline(always)]
unsafe fn finish<A: Vector<Elem = f64>, const N: usize>(
    acc: &[A; N],
    idx: &[i32],
    val: &[f64],
    xp: *const f64,
    e: usize,
    len: usize,
) -> f64 {
    let mut a = reduce(acc);
    for (k, (&c, &v)) in idx[e..len].iter().zip(&val[e..len]).enumerate() {
        // SAFETY: the index points inside x.
        a[k] = A::mul_add_lane(v, unsafe { *xp.add(c as usize) }, a[k]);
    }
    (a[0] + a[2]) + (a[1] + a[3])
}

/// One group of 4 entries starting at `e` into the accumulators.
///
/// # Safety
/// `e + 4 <= len` of both idx and val; indices inside x.
#[inline(always)]
unsafe fn step<A: Vector<Elem = f64>, const N: usize>(
    acc: &mut [A; N],
    ip: *const i32,
    vp: *const f64,
    xp: *const f64,
    e: usize,
) {
    for (j, a) in acc.iter_mut().enumerate() {
        let o = e + j * A::LANES;
        // SAFETY: the caller's guarantee.
        unsafe { *a = A::load(vp.add(o)).mul_add(gather::<A>(ip, xp, o), *a) };
    }
}

/// Single product.
///
/// # Safety
/// Every index in `0..x.len()`; `idx.len() == val.len()`; runs on `A`'s path.
#[inline(always)]
pub unsafe fn row_dot<A: Vector<Elem = f64>, const N: usize>(idx: &[i32], val: &[f64], x: &[f64]) -> f64 {
    let len = idx.len().min(val.len());
    let (ip, vp, xp) = (idx.as_ptr(), val.as_ptr(), x.as_ptr());
    let mut acc = [A::splat(0.0); N];
    let mut e = 0;
    while e + ACCS <= len {
        // SAFETY: e + 4 <= len; indices point inside x.
        unsafe { step(&mut acc, ip, vp, xp, e) };
        e += ACCS;
    }
    // SAFETY: as above.
    unsafe { finish(&acc, idx, val, xp, e, len) }
}

/// `out[k] = row(first + k) · x`, two rows per `row_dot2`.
///
/// # Safety
/// As `row_dot` for every row; `indptr` valid for `first..first + out.len()`.
#[inline(always)]
pub unsafe fn rows_into<A: Vector<Elem = f64>, const N: usize>(
    indptr: &[i64],
    indices: &[i32],
    data: &[f64],
    first: usize,
    x: &[f64],
    out: &mut [f64],
) {
    let row = |r: usize| {
        let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
        (&indices[a..b], &data[a..b])
    };
    let mut k = 0;
    while k + 1 < out.len() {
        // SAFETY: the caller's guarantee.
        let d = unsafe { row_dot2::<A, N>([row(first + k), row(first + k + 1)], x) };
        out[k] = d[0];
        out[k + 1] = d[1];
        k += 2;
    }
    if k < out.len() {
        let (idx, val) = row(first + k);
        // SAFETY: the caller's guarantee.
        out[k] = unsafe { row_dot::<A, N>(idx, val, x) };
    }
}

/// Two rows at once (two independent dependency chains for the
/// out-of-order core), each in exactly `row_dot`'s order.
///
/// # Safety
/// As `row_dot`, for both rows.
#[inline(always)]
pub unsafe fn row_dot2<A: Vector<Elem = f64>, const N: usize>(
    rows: [(&[i32], &[f64]); 2],
    x: &[f64],
) -> [f64; 2] {
    let xp = x.as_ptr();
    let len = [rows[0].0.len().min(rows[0].1.len()), rows[1].0.len().min(rows[1].1.len())];
    let (ip, vp) = ([rows[0].0.as_ptr(), rows[1].0.as_ptr()], [rows[0].1.as_ptr(), rows[1].1.as_ptr()]);
    let mut acc = [[A::splat(0.0); N]; 2];
    let mut e = 0;
    let both = len[0].min(len[1]);
    while e + ACCS <= both {
        // SAFETY: e + 4 <= both rows' lengths.
        unsafe {
            step(&mut acc[0], ip[0], vp[0], xp, e);
            step(&mut acc[1], ip[1], vp[1], xp, e);
        }
        e += ACCS;
    }
    let mut out = [0.0; 2];
    for r in 0..2 {
        let mut er = e;
        while er + ACCS <= len[r] {
            // SAFETY: er + 4 <= len[r].
            unsafe { step(&mut acc[r], ip[r], vp[r], xp, er) };
            er += ACCS;
        }
        // SAFETY: as above.
        out[r] = unsafe { finish(&acc[r], rows[r].0, rows[r].1, xp, er, len[r]) };
    }
    out
}

/// `out[k * stride + l] = row(first + k) · x[:, l]` for `l < lanes`,
/// in tiles of 8, 4, 2 and 1 vectors of `V` (see `RowKernel::rows_lanes`).
///
/// # Safety
/// Every index `c` of the rows satisfies `(c + 1) * stride <= x.len()`;
/// `lanes % 8 == 0`, `lanes <= stride`, `out.len() % stride == 0`;
/// `indptr` valid for the rows; runs on `V`'s path.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub unsafe fn rows_lanes<V: Vector>(
    indptr: &[i64],
    indices: &[i32],
    data: &[V::Elem],
    first: usize,
    x: &[V::Elem],
    stride: usize,
    lanes: usize,
    out: &mut [V::Elem],
) {
    let rows = out.len() / stride;
    let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
    for k in 0..rows {
        let (a, b) = (indptr[first + k] as usize, indptr[first + k + 1] as usize);
        let (idx, val) = (&indices[a..b], &data[a..b]);
        let mut l = 0;
        // SAFETY (all tiles): lanes l..l + tile <= lanes <= stride, by
        // the caller's guarantee.
        unsafe {
            let o = op.add(k * stride);
            while l + 8 * V::LANES <= lanes {
                tile::<V, 8, 1>(idx, val, xp.add(l), stride, o.add(l));
                l += 8 * V::LANES;
            }
            if l + 4 * V::LANES <= lanes {
                tile::<V, 4, 2>(idx, val, xp.add(l), stride, o.add(l));
                l += 4 * V::LANES;
            }
            if l + 2 * V::LANES <= lanes {
                tile::<V, 2, 4>(idx, val, xp.add(l), stride, o.add(l));
                l += 2 * V::LANES;
            }
            if l + V::LANES <= lanes {
                tile::<V, 1, 4>(idx, val, xp.add(l), stride, o.add(l));
            }
        }
    }
}

/// One row times `R` vectors of lanes: accumulator `k` of the contract
/// is `R` vectors; `P` accumulators are summed at a time (walking the
/// row `4 / P` times) so that `R * P` vectors stay in registers, the
/// finished ones parked in `sums`.
///
/// # Safety
/// As `rows_lanes`, with `x` and `out` pointing at the tile's first lane.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn tile<V: Vector, const R: usize, const P: usize>(
    idx: &[i32],
    val: &[V::Elem],
    x: *const V::Elem,
    stride: usize,
    out: *mut V::Elem,
) {
    let len = idx.len().min(val.len());
    let (ip, vp) = (idx.as_ptr(), val.as_ptr());
    let zero = V::splat(V::Elem::ZERO);
    let mut sums = [[zero; R]; ACCS];
    let mut pass = 0;
    while pass < ACCS {
        let mut acc = [[zero; R]; P];
        // Entries pass + p + 4q (p < P) go to accumulator pass + p, in order.
        let mut e = pass;
        while e + P <= len {
            for p in 0..P {
                // SAFETY: e + p < len; the caller's guarantee for x.
                unsafe { lane_entry(&mut acc[p], ip, vp, x, stride, e + p) };
            }
            e += ACCS;
        }
        for p in 0..P {
            if e + p < len {
                // SAFETY: as above.
                unsafe { lane_entry(&mut acc[p], ip, vp, x, stride, e + p) };
            }
        }
        sums[pass..pass + P].copy_from_slice(&acc);
        pass += P;
    }
    for j in 0..R {
        let s = sums[0][j].add(sums[2][j]).add(sums[1][j].add(sums[3][j]));
        // SAFETY: the tile's R vectors of lanes lie in out.
        unsafe { s.store(out.add(j * V::LANES)) };
    }
}

/// `acc += val[e] * x[idx[e], tile]` (the weight broadcast).
///
/// # Safety
/// `e < len` of idx and val; row `idx[e]` of the tile lies in x.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn lane_entry<V: Vector, const R: usize>(
    acc: &mut [V; R],
    ip: *const i32,
    vp: *const V::Elem,
    x: *const V::Elem,
    stride: usize,
    e: usize,
) {
    // SAFETY: the caller's guarantee.
    unsafe {
        let w = V::splat(*vp.add(e));
        let row = x.add(*ip.add(e) as usize * stride);
        for j in 0..R {
            acc[j] = w.mul_add(V::load(row.add(j * V::LANES)), acc[j]);
        }
    }
}
