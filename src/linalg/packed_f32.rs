//! Float32 GEMM for x86-64 CPUs with AVX-512F or AVX2 + FMA, and for
//! aarch64 (NEON).
//!
//! `C (m x n) = alpha * op(A) op(B) (+ C)`, C row-major. The Goto/BLIS
//! scheme, with the roles fitted to a row-major C:
//!
//! * `B` is packed into panels of `NR` columns (`PackedB`), each panel
//!   holding, for each micro-tile's block of columns (all `NR` on AVX-512,
//!   either half on AVX2 and NEON), its `k` rows of values contiguously.
//!   A weight used many times (at every time step) is packed once and
//!   reused.
//! * `A` is read in place when row-major (by micro-panels of `MR` rows, a
//!   partial last one by a kernel of its own row count), and packed per
//!   block of `KC` reduction indices into micro-panels of `MR` rows when
//!   transposed.
//! * The micro-kernel (`tile`, one source over `Vector` for both paths)
//!   keeps an `MR x (NV vectors)` tile of C in registers; per reduction
//!   index it loads `NV` vectors of B and broadcasts `MR` values of A:
//!   8 x 32 on AVX-512 (16 zmm accumulators), 6 x 16 on AVX2 (12 ymm) and
//!   on NEON (24 q registers), the 6 x 16 ones on either half of a panel.
//!   Either a B micro-panel (`KC` rows of a micro-tile's columns: 32 KiB
//!   on AVX-512, 16 KiB for a half panel) stays in L1 while it runs down a
//!   block of A, or (row-major A with an
//!   L2-sized block of B) an A micro-panel stays in L1 while it runs along
//!   all panels.
//!
//! Every element of C is the same sequence of FMAs over `k` (in blocks of
//! `KC`, fixed) whatever `m`, the tile it falls in, the loop order, the path
//! (AVX-512, AVX2 or NEON), or how the work is split across threads (only
//! along rows or panels of C), so results are bitwise identical for any
//! thread count, any row split of a product, and on every path (x86-64 and
//! aarch64 machines give the same bits).

use super::Op;
#[cfg(target_arch = "x86_64")]
use crate::kernels::run_on;
#[cfg(target_arch = "aarch64")]
use crate::kernels::vector::neon::F32x4;
#[cfg(target_arch = "x86_64")]
use crate::kernels::vector::x86::{F32x16, F32x8};
use crate::kernels::vector::Vector;
use crate::kernels::Isa;
use std::cell::Cell;

mod kernels;
#[cfg(target_arch = "aarch64")]
use kernels::NeonKernel;
use kernels::{APanel, Base, Kernel};
#[cfg(target_arch = "x86_64")]
use kernels::{Avx2Kernel, Avx512Kernel};

/// Columns of a B panel (one AVX-512 micro-tile, two AVX2 or NEON ones).
const NR: usize = 32;
/// Largest micro-tile row count of any path (tests, scratch sizes).
#[cfg(test)]
const MR: usize = 8;
/// Reduction block: a `KC x NR` B micro-panel is 32 KiB, in L1.
const KC: usize = 256;
/// Rows of an A block when B micro-panels stay in L1: `MC x KC` is 96 KiB, in L2.
const MC: usize = 96;
/// Rows of an A block when A micro-panels stay in L1 (A streams).
const MC_STREAM: usize = 512;
/// Largest B block (bytes) treated as L2-resident.
const B_IN_L2: usize = 640 << 10;

/// The micro-kernel shapes of the paths: `Avx512` 8 x 32, `Avx2` and
/// `Neon` 6 x 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Path {
    /// Rows of a micro-tile.
    fn mr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => Avx512Kernel::MR,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => Avx2Kernel::MR,
            #[cfg(target_arch = "aarch64")]
            Path::Neon => NeonKernel::MR,
        }
    }

    /// Columns of a micro-tile.
    fn nc(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => Avx512Kernel::NC,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => Avx2Kernel::NC,
            #[cfg(target_arch = "aarch64")]
            Path::Neon => NeonKernel::NC,
        }
    }
}

/// The path of the active instruction set (`Isa::active`, i.e.
/// `RNNRS_SIMD`), if it has kernels here.
fn path() -> Option<Path> {
    match Isa::active() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(Path::Avx512),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(Path::Avx2),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(Path::Neon),
        _ => None,
    }
}

/// Whether the kernels here run on the active instruction set (AVX-512F,
/// AVX2 + FMA or NEON; not under `RNNRS_SIMD=scalar`).
pub fn available() -> bool {
    path().is_some()
}

/// Whether a one-off product (B packed for this call only) is faster here
/// than on faer: enough rows of A to amortise packing B (more when B is
/// stored transposed, whose packing is slower), and no matrix-vector shapes.
/// Measured with `benches/gemm.rs` on an AVX-512 Zen 5 core (and kept for
/// the AVX2 and NEON kernels, not measured there).
pub fn worth_packing(m: usize, n: usize, b_trans: bool) -> bool {
    let min_rows = if b_trans { 512 } else { 128 };
    available() && m >= min_rows && n >= NR / 2
}

/// A 64-byte aligned view of `len` values inside `v` (grown when needed).
fn aligned(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len + 16 {
        *v = vec![0.0; len + 16];
    }
    let off = v.as_ptr().align_offset(64).min(16);
    &mut v[off..off + len]
}

/// `op(B)` (`k x n`) packed into panels of `NR` columns (the last one padded
/// with zeros), each panel `k * NR` values: for each block of `nc` columns
/// (the active path's micro-tile width), its `k` rows of `nc` values, so
/// that the part of B a micro-tile reads is contiguous (a 6 x 16 tile's
/// `KC x 16` part then spreads over all L1 sets, instead of every other
/// line of 128-byte panel rows).
pub struct PackedB {
    buf: Vec<f32>,
    k: usize,
    n: usize,
    nc: usize,
}

impl Default for PackedB {
    fn default() -> Self {
        Self::new()
    }
}

impl PackedB {
    /// An empty packing (pack into it with `pack`).
    pub fn new() -> Self {
        PackedB { buf: Vec::new(), k: 0, n: 0, nc: NR }
    }

    /// Reuses `buf`'s allocation for the packed values.
    pub fn with_buffer(buf: Vec<f32>) -> Self {
        PackedB { buf, k: 0, n: 0, nc: NR }
    }

    /// Gives the allocation back (e.g. to a buffer pool).
    pub fn into_buffer(self) -> Vec<f32> {
        self.buf
    }

    /// The buffer length `pack` needs for a `k x n` operand (so that a
    /// buffer of this length given to `with_buffer` is not reallocated).
    pub fn buffer_len(k: usize, n: usize) -> usize {
        n.div_ceil(NR) * k * NR + 16
    }

    /// Rows (`k`) and columns (`n`) of the packed operand.
    pub fn shape(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    fn data(&self) -> &[f32] {
        let len = self.panels() * self.k * NR;
        let off = self.buf.as_ptr().align_offset(64).min(16);
        &self.buf[off..off + len]
    }

    /// Packs `op(b)`; panels are packed in parallel on the current rayon
    /// pool when `par` (the values do not depend on it).
    pub fn pack(&mut self, b: Op<'_, f32>, par: bool) {
        let (k, n) = b.shape();
        self.k = k;
        self.n = n;
        self.nc = path().map_or(NR, Path::nc);
        let nc = self.nc;
        let panel_len = k * NR;
        let out = aligned(&mut self.buf, n.div_ceil(NR) * panel_len);
        if panel_len == 0 {
            return;
        }
        let pack_one = |(j, panel): (usize, &mut [f32])| {
            let j0 = j * NR;
            let w = NR.min(n - j0);
            // A constant block width: fixed-size row copies, not memcpy calls.
            const HALF: usize = NR / 2;
            match nc {
                NR => pack_panel::<NR>(&b, j0, w, k, panel),
                HALF => pack_panel::<HALF>(&b, j0, w, k, panel),
                _ => unreachable!("micro-tiles are NR or NR / 2 columns wide"),
            }
        };
        if par && crate::par::current_threads() > 1 && k * n >= 1 << 16 {
            use rayon::prelude::*;
            out.par_chunks_exact_mut(panel_len).enumerate().for_each(pack_one);
        } else {
            out.chunks_exact_mut(panel_len).enumerate().for_each(pack_one);
        }
    }
}

/// Columns `j0..j0 + w` of `op(b)` into one panel (`k x NR`, zero padded):
/// `NR / NC` blocks of `k` rows of `NC` values.
fn pack_panel<const NC: usize>(b: &Op<'_, f32>, j0: usize, w: usize, k: usize, out: &mut [f32]) {
    if w < NR {
        out.fill(0.0);
    }
    for (s, sub) in out.chunks_exact_mut(k * NC).enumerate() {
        let (c0, cols) = (s * NC, NC.min(w.saturating_sub(s * NC)));
        if cols == 0 {
            break;
        }
        if !b.trans {
            for (p, o) in sub.chunks_exact_mut(NC).enumerate() {
                let src = &b.data[p * b.ld + j0 + c0..];
                if cols == NC {
                    o.copy_from_slice(&src[..NC]);
                } else {
                    o[..cols].copy_from_slice(&src[..cols]);
                }
            }
        } else {
            // Stored as `(n, k)`: column `j` of op(b) is a contiguous row.
            for c in 0..cols {
                let col = &b.data[(j0 + c0 + c) * b.ld..][..k];
                for (o, &v) in sub[c..].iter_mut().step_by(NC).zip(col) {
                    *o = v;
                }
            }
        }
    }
}

/// Rows `r0..r0 + mc`, reduction indices `p0..p0 + kc` of a transposed
/// `op(a)` (stored `(k, m)`) into micro-panels of `MR` rows (`kc * MR`
/// values each; a partial last one is zero padded).
fn pack_a<const MR: usize>(a: &Op<'_, f32>, r0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
    debug_assert!(a.trans, "a row-major A is read in place");
    let panels = mc.div_ceil(MR);
    let out = &mut out[..panels * kc * MR];
    // One reduction index is a contiguous run of rows.
    let full = mc / MR;
    if full < panels {
        out[full * kc * MR..].fill(0.0);
    }
    for p in 0..kc {
        let src = &a.data[(p0 + p) * a.ld + r0..][..mc];
        // Constant-size copies (one vector move each), not memcpy calls.
        for ir in 0..full {
            let o = (ir * kc + p) * MR;
            out[o..o + MR].copy_from_slice(&src[ir * MR..ir * MR + MR]);
        }
        let rest = &src[full * MR..];
        if !rest.is_empty() {
            out[(full * kc + p) * MR..][..rest.len()].copy_from_slice(rest);
        }
    }
}

thread_local! {
    /// Per-thread A packing scratch (taken while in use, so a nested call on
    /// the same thread simply allocates its own).
    static A_SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// Per-thread B packing scratch for one-off products (same discipline).
    static B_SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Per-thread scratch longer than this (values) is freed after use, not kept.
const KEEP_SCRATCH: usize = 8 << 20;

/// A raw pointer to C shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct CPtr(*mut f32);
// SAFETY: tasks only write disjoint parts of C (see `run`).
unsafe impl Send for CPtr {}
unsafe impl Sync for CPtr {}

/// A row C starts from (`gemm_packed_from_row`), read by all tasks.
#[derive(Clone, Copy)]
struct RowPtr(*const f32);
// SAFETY: only read, while the caller's borrow of the row lives (see `gemm_packed_with`).
unsafe impl Send for RowPtr {}
unsafe impl Sync for RowPtr {}

/// One product sharing the A operand: its packed B, its C, the panels
/// of B (columns of C) to compute, and the row C starts from (if any;
/// instead of zero, when not accumulating).
#[derive(Clone, Copy)]
struct Part<'a> {
    c: CPtr,
    ldc: usize,
    b: &'a PackedB,
    q0: usize,
    q1: usize,
    row: Option<RowPtr>,
}

/// Rows `r0..r1` of each part's C (its panels `q0..q1`), A packed once per
/// block for all parts.
///
/// # Safety
/// `K`'s path is active; each part's `c` points to a C with row stride `ldc`
/// covering those rows and the columns of those panels; no other thread
/// writes them; all parts' B have `a`'s reduction length.
unsafe fn run<K: Kernel>(
    parts: &[Part<'_>],
    a: &Op<'_, f32>,
    (r0, r1): (usize, usize),
    alpha: f32,
    accumulate: bool,
) {
    let mr = K::MR;
    let k = a.shape().1;
    let mut scratch = A_SCRATCH.with(Cell::take);
    // A row-major A read in place, with a `KC x (task columns)` block of B
    // that fits in L2: each A micro-panel stays in L1 and runs along all
    // panels, so C is written row after row (prefetch-friendly) and A is
    // read once. Otherwise (measured faster for packed A and for large B)
    // each B micro-panel stays in L1 and runs down an A block of `MC` rows.
    assert!(parts.iter().all(|p| p.b.nc == K::NC), "packed gemm: B packed for another path");
    let task_panels: usize = parts.iter().map(|p| p.q1 - p.q0).sum();
    let b_block_bytes = KC.min(k) * task_panels * NR * 4;
    let a_stationary = !a.trans && b_block_bytes <= B_IN_L2;
    let mc_block = if a_stationary { MC_STREAM } else { MC };
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        let add_c = accumulate || p0 > 0;
        let mut i0 = r0;
        while i0 < r1 {
            let mc = mc_block.min(r1 - i0);
            let panels_a = mc.div_ceil(mr);
            // A row-major A is read in place (packing it would cost about as
            // much as the products for narrow B; a partial last micro-panel
            // runs a kernel of its own row count); a transposed A is packed.
            let packed = a.trans;
            let ap = aligned(&mut scratch, if packed { panels_a * mr * kc } else { 0 });
            if packed {
                K::pack_a(a, i0, mc, p0, kc, ap);
            }
            // Micro-tile `ir` (rows) x sub-panel `s` of panel `q` (columns).
            let tile = |part: &Part<'_>, ir: usize, q: usize, s: usize| {
                let (n, bdata) = (part.b.n, part.b.data());
                let j0 = q * NR + s * K::NC;
                if j0 >= n {
                    return;
                }
                let bp = bdata[q * k * NR + s * k * K::NC + p0 * K::NC..].as_ptr();
                let cols = K::NC.min(n - j0);
                let rows = mr.min(mc - ir * mr);
                let cp = part.c.0.add((i0 + ir * mr) * part.ldc + j0);
                let apanel = if packed {
                    APanel { ptr: ap.as_ptr().add(ir * mr * kc), rs: 1, cs: mr }
                } else {
                    APanel { ptr: a.data[(i0 + ir * mr) * a.ld + p0..].as_ptr(), rs: a.ld, cs: 1 }
                };
                let base = match (add_c, part.row) {
                    (true, _) => Base::C,
                    (false, Some(r)) => Base::Row(r.0.add(j0)),
                    (false, None) => Base::Zero,
                };
                K::tile(kc, apanel, bp, cp, part.ldc, rows, cols, alpha, base);
            };
            let subs = NR / K::NC;
            if a_stationary {
                for ir in 0..panels_a {
                    for part in parts {
                        for q in part.q0..part.q1 {
                            for s in 0..subs {
                                tile(part, ir, q, s);
                            }
                        }
                    }
                }
            } else {
                for part in parts {
                    for q in part.q0..part.q1 {
                        for s in 0..subs {
                            for ir in 0..panels_a {
                                tile(part, ir, q, s);
                            }
                        }
                    }
                }
            }
            i0 += mc;
        }
        p0 += kc;
    }
    if scratch.len() <= KEEP_SCRATCH {
        A_SCRATCH.with(|s| s.set(scratch));
    }
}

/// `run` with the kernel of `path`.
///
/// # Safety
/// As `run`; `path` is the active one (`path()`).
unsafe fn run_path(
    path: Path,
    parts: &[Part<'_>],
    a: &Op<'_, f32>,
    rows: (usize, usize),
    alpha: f32,
    accumulate: bool,
) {
    // SAFETY: the caller's guarantee.
    unsafe {
        match path {
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => run::<Avx512Kernel>(parts, a, rows, alpha, accumulate),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => run::<Avx2Kernel>(parts, a, rows, alpha, accumulate),
            #[cfg(target_arch = "aarch64")]
            Path::Neon => run::<NeonKernel>(parts, a, rows, alpha, accumulate),
        }
    }
}

/// Checks an output against A and its packed B; false when there is nothing
/// to compute (empty C). Zeroes C (unless accumulating) for an empty reduction.
fn check_output(c: &mut [f32], ldc: usize, a: &Op<'_, f32>, b: &PackedB, accumulate: bool) -> bool {
    let (m, k) = a.shape();
    let (kb, n) = b.shape();
    assert_eq!(k, kb, "packed gemm: inner dimensions");
    if m == 0 || n == 0 {
        return false;
    }
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "packed gemm: C too small");
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return false;
    }
    true
}

fn check_a(a: &Op<'_, f32>) {
    let a_len = if a.rows == 0 { 0 } else { (a.rows - 1) * a.ld + a.cols };
    assert!(a.ld >= a.cols && a.data.len() >= a_len, "packed gemm: A too small");
}

/// One output of `gemm_packed_multi`: `c` (row stride `ldc`) `= alpha *
/// op(a) b (+ c)`.
pub struct Output<'a> {
    pub c: &'a mut [f32],
    pub ldc: usize,
    pub b: &'a PackedB,
}

/// Several products with the same left operand (e.g. the weight gradients
/// `dG^T x` and `dG^T h` of a recurrent layer): A is packed once per block
/// for all of them. With `par`, the rows of C are split over the current
/// rayon pool. Each output gets the same bits as from `gemm_packed`.
pub fn gemm_packed_multi(a: Op<'_, f32>, outs: &mut [Output<'_>], alpha: f32, accumulate: bool, par: bool) {
    let path = path().expect("gemm_packed_multi needs the AVX-512, AVX2 or NEON path");
    let mr = path.mr();
    check_a(&a);
    let m = a.shape().0;
    let mut parts = Vec::with_capacity(outs.len());
    let mut flops = 0usize;
    for o in outs.iter_mut() {
        if check_output(o.c, o.ldc, &a, o.b, accumulate) {
            let (k, n) = o.b.shape();
            flops = flops.saturating_add(m.saturating_mul(n).saturating_mul(k));
            let q1 = n.div_ceil(NR);
            parts.push(Part { c: CPtr(o.c.as_mut_ptr()), ldc: o.ldc, b: o.b, q0: 0, q1, row: None });
        }
    }
    if parts.is_empty() {
        return;
    }
    let threads = if par && flops >= 1 << 18 { crate::par::current_threads() } else { 1 };
    if threads <= 1 || m < 2 * mr {
        // SAFETY: the path is active (so supported); every C covers all rows and panels (checked).
        unsafe { run_path(path, &parts, &a, (0, m), alpha, accumulate) };
        return;
    }
    let per = m.div_ceil(2 * threads).div_ceil(mr) * mr;
    let tasks: Vec<(usize, usize)> = (0..m).step_by(per).map(|r| (r, (r + per).min(m))).collect();
    use rayon::prelude::*;
    tasks.into_par_iter().for_each(|rows| {
        // SAFETY: the path is active (so supported); tasks cover disjoint rows of every C.
        unsafe { run_path(path, &parts, &a, rows, alpha, accumulate) };
    });
}

/// `C = alpha * op(a) B (+ C if accumulate)` with B pre-packed. C is
/// row-major `m x n` with row stride `ldc`. With `par`, large products are
/// split over the current rayon pool along rows or column panels of C.
///
/// Panics when `available()` is false or the operands do not fit (shapes
/// are the caller's invariant, as for `crate::linalg::gemm`).
pub fn gemm_packed(
    c: &mut [f32],
    ldc: usize,
    a: Op<'_, f32>,
    b: &PackedB,
    alpha: f32,
    accumulate: bool,
    par: bool,
) {
    gemm_packed_with(c, ldc, a, b, alpha, accumulate, None, par);
}

/// `C = alpha * op(a) B + row` with B pre-packed and `row` (`n` values)
/// added to every row of C: the same bits as filling C with `row` and
/// accumulating (`gemm_packed` with `accumulate`), without that pass over C
/// (e.g. a bias under an input projection). As `gemm_packed` otherwise.
pub fn gemm_packed_from_row(
    c: &mut [f32],
    ldc: usize,
    a: Op<'_, f32>,
    b: &PackedB,
    row: &[f32],
    alpha: f32,
    par: bool,
) {
    assert_eq!(row.len(), b.shape().1, "packed gemm: row length");
    gemm_packed_with(c, ldc, a, b, alpha, false, Some(row), par);
}

#[allow(clippy::too_many_arguments)]
fn gemm_packed_with(
    c: &mut [f32],
    ldc: usize,
    a: Op<'_, f32>,
    b: &PackedB,
    alpha: f32,
    accumulate: bool,
    row: Option<&[f32]>,
    par: bool,
) {
    let path = path().expect("gemm_packed needs the AVX-512, AVX2 or NEON path");
    let mr = path.mr();
    check_a(&a);
    if !check_output(c, ldc, &a, b, accumulate) {
        // An empty reduction left C zero: the row still has to be added.
        if let Some(row) = row.filter(|_| a.shape().1 == 0) {
            for r in 0..a.shape().0 {
                c[r * ldc..r * ldc + row.len()].copy_from_slice(row);
            }
        }
        return;
    }
    let (m, k) = a.shape();
    let n = b.shape().1;
    let panels = n.div_ceil(NR);
    let threads = if par && m.saturating_mul(n).saturating_mul(k) >= 1 << 18 {
        crate::par::current_threads()
    } else {
        1
    };
    // `row` outlives every task below (they end before this function returns).
    let row = row.map(|r| RowPtr(r.as_ptr()));
    let part = Part { c: CPtr(c.as_mut_ptr()), ldc, b, q0: 0, q1: panels, row };
    if threads <= 1 {
        // SAFETY: the path is active (so supported); C covers all rows and panels (checked).
        unsafe { run_path(path, &[part], &a, (0, m), alpha, accumulate) };
        return;
    }
    // Tasks: blocks of rows when there are enough of them, else blocks of
    // panels (so that each task still reuses its B panels over many rows).
    let row_tasks = m >= 4 * mr * threads || panels < threads;
    let tasks: Vec<((usize, usize), (usize, usize))> = if row_tasks {
        let per = m.div_ceil(2 * threads).div_ceil(mr) * mr;
        (0..m).step_by(per).map(|r| ((r, (r + per).min(m)), (0, panels))).collect()
    } else {
        let per = panels.div_ceil(threads);
        (0..panels).step_by(per).map(|q| ((0, m), (q, (q + per).min(panels)))).collect()
    };
    use rayon::prelude::*;
    tasks.into_par_iter().for_each(|(rows, (q0, q1))| {
        // SAFETY: the path is active (so supported); tasks cover disjoint rows or panels of C.
        unsafe { run_path(path, &[Part { q0, q1, ..part }], &a, rows, alpha, accumulate) };
    });
}

/// Reduction rows of B packed at a time by `gemm` (a multiple of `KC`), so
/// that a packed part of a tall B is still in cache when the kernels read it.
const K_CHUNK: usize = 4 * KC;

/// Reduction indices `p0..p0 + kc` of an operand used as `(rows, k)` when
/// `k_is_cols`, else as `(k, cols)`.
fn k_slice<'a>(o: &Op<'a, f32>, p0: usize, kc: usize, k_is_cols: bool) -> Op<'a, f32> {
    // Stored transposed, the reduction runs along the other storage axis.
    if k_is_cols != o.trans {
        Op { data: &o.data[p0..], cols: kc, ..*o }
    } else {
        Op { data: &o.data[p0 * o.ld..], rows: kc, ..*o }
    }
}

/// `C = alpha * op(a) op(b) (+ C)`: packs `b` into per-thread scratch, then
/// `gemm_packed`. A tall `b` is packed and used `K_CHUNK` rows at a time;
/// the chunks are multiples of `KC`, so every element of C sees exactly the
/// same sequence of operations as with `b` packed at once.
pub fn gemm(
    c: &mut [f32],
    ldc: usize,
    a: Op<'_, f32>,
    b: Op<'_, f32>,
    alpha: f32,
    accumulate: bool,
    par: bool,
) {
    let k = a.shape().1;
    let mut packed = PackedB::with_buffer(B_SCRATCH.with(Cell::take));
    if k <= K_CHUNK {
        packed.pack(b, par);
        gemm_packed(c, ldc, a, &packed, alpha, accumulate, par);
    } else {
        let mut p0 = 0;
        while p0 < k {
            let kc = K_CHUNK.min(k - p0);
            packed.pack(k_slice(&b, p0, kc, false), par);
            gemm_packed(c, ldc, k_slice(&a, p0, kc, true), &packed, alpha, accumulate || p0 > 0, par);
            p0 += kc;
        }
    }
    let buf = packed.into_buffer();
    if buf.len() <= KEEP_SCRATCH {
        B_SCRATCH.with(|s| s.set(buf));
    }
}

#[cfg(test)]
mod tests;
