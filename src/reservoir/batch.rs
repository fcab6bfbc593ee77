//! Batches of equal-length sequences (no feedback, no state noise): each
//! thread runs a group of sequences through all their steps, the group's
//! states kept unit-major (`units x stride`, its sequences side by side in
//! one row per unit, each row starting a cache line), so every stored
//! weight of W multiplies contiguous lanes (`RowKernel::rows_lanes`, in the
//! single-sequence kernel's summation order: a sequence run in a batch
//! equals the sequence run alone, bit for bit, whatever the grouping and
//! the thread count).
//!
//! Per step a group reads its whole state once per stored weight row it
//! meets, so the state is sized to stay in a core's L2 cache while W
//! streams through; W is read once per group and step.
//!
//! Where the time goes (N = 1000, connectivity 0.1, 16 float64 sequences
//! per group, Zen 3, measured 2026-12-07): the products alone run at
//! ~115k sequence-steps/s per core, i.e. 128 B of state read from L2 per
//! stored weight at ~92 GB/s (the L2 bound) and ~45 % of the FMA peak; the
//! whole run at ~66k: products ~50 %, the kernel zeroing the output's fresh
//! pages ~15 %, tanh ~11 %, input term, leak and write-out ~10 % (perf).
//! Tried and slower in a stand-alone kernel: a one-accumulator order (109k) and that
//! order with W split into column blocks of 128 or 256 columns so the
//! block's state stays in L1 (73k, 101k: the per-block row overhead costs
//! more than the L1 reads save).

use crate::float::Float;
use crate::reservoir::rowdot::{RowKernel, LANE_MULTIPLE};
use crate::reservoir::run::ReservoirRef;
use rayon::prelude::*;

/// Bytes of a group's state (`units x lanes`) that keep a step's reads in
/// L2 (512 KiB per core on Zen 3, also holding the next state, W's stream
/// and the states written out). Measured at N = 1000 (float64, Zen 3): 128
/// KiB (16 sequences) runs the products ~30 % faster than 256 KiB, where
/// W's stream and the written states evict the state being read; 64 KiB
/// reads W twice as often for no gain.
const GROUP_STATE_BYTES: usize = 128 * 1024;
/// Most sequences per group.
const MAX_GROUP: usize = 64;
/// Units per chunk of the epilogue (input term, activation, leak and
/// write-back while the chunk's products are in L1).
const UNIT_CHUNK: usize = 32;
/// Bytes of a cache line: each unit's row of lanes starts one.
const LINE: usize = 64;

/// Sequences per group: the batch split evenly over the threads, in
/// multiples of `LANE_MULTIPLE`, capped so that the group's state stays in
/// L2. Any choice gives the same results.
fn group_size<T>(units: usize, batch: usize, threads: usize) -> usize {
    let even = batch.div_ceil(threads.max(1)).next_multiple_of(LANE_MULTIPLE);
    let fits = GROUP_STATE_BYTES / (units.max(1) * size_of::<T>()) / LANE_MULTIPLE * LANE_MULTIPLE;
    even.min(fits).clamp(LANE_MULTIPLE, MAX_GROUP)
}

/// Runs `batch` sequences of `steps` steps: `u` holds the inputs (noise
/// included), `states` receives the states (both sequence-major), `x0` the
/// initial states `(batch, units)`. Returns whether every step ran (false
/// when interrupted).
pub(super) fn run_batch<T: Float>(
    res: &ReservoirRef<T>,
    w: &RowKernel<T>,
    u: &[T],
    states: &mut [T],
    steps: usize,
    batch: usize,
    x0: &[T],
) -> bool {
    let (n, ni) = (res.units, res.inputs);
    if steps == 0 || batch == 0 {
        return true;
    }
    let threads = crate::par::num_threads();
    let size = group_size::<T>(n, batch, threads);
    let group = |(g, chunk): (usize, &mut [T])| {
        let seqs = chunk.len() / (steps * n);
        let first = g * size;
        let ug = &u[first * steps * ni..(first + seqs) * steps * ni];
        run_group(res, w, ug, chunk, steps, seqs, &x0[first * n..(first + seqs) * n])
    };
    // One thread: serial (`par::install` then runs on the caller's thread,
    // where rayon would use its global pool).
    if threads > 1 {
        states.par_chunks_mut(size * steps * n).enumerate().all(group)
    } else {
        states.chunks_mut(size * steps * n).enumerate().all(group)
    }
}

/// `len` zeros starting on a cache line.
struct LineAligned<T> {
    buf: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Float> LineAligned<T> {
    fn zeros(len: usize) -> Self {
        let buf = vec![T::ZERO; len + LINE / size_of::<T>()];
        let start = buf.as_ptr().align_offset(LINE).min(LINE / size_of::<T>());
        LineAligned { buf, start, len }
    }
    fn get(&self) -> &[T] {
        &self.buf[self.start..self.start + self.len]
    }
    fn get_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// `seqs` sequences through all steps on the calling thread (see the module
/// doc); the same operations, in the same order, as `update_rows`. Returns
/// whether every step ran (false when interrupted).
fn run_group<T: Float>(
    res: &ReservoirRef<T>,
    w: &RowKernel<T>,
    u: &[T],
    states: &mut [T],
    steps: usize,
    seqs: usize,
    x0: &[T],
) -> bool {
    let (n, ni) = (res.units, res.inputs);
    let lanes = seqs.next_multiple_of(LANE_MULTIPLE);
    let stride = lanes.next_multiple_of(LINE / size_of::<T>());
    let (mut prev, mut next) = (LineAligned::zeros(n * stride), LineAligned::zeros(n * stride));
    for (s, x) in x0.chunks_exact(n).enumerate() {
        for (i, &v) in x.iter().enumerate() {
            prev.get_mut()[i * stride + s] = v;
        }
    }
    // This step's inputs, `ut[k * stride + s]` (0 for padding lanes).
    let mut ut = vec![T::ZERO; ni * stride];
    let mut input = [T::ZERO; MAX_GROUP.next_multiple_of(LANE_MULTIPLE)];
    let input = &mut input[..lanes];
    for t in 0..steps {
        if crate::interrupt::check().is_err() {
            return false; // `run` reports it
        }
        for s in 0..seqs {
            for (k, &v) in u[(s * steps + t) * ni..(s * steps + t + 1) * ni].iter().enumerate() {
                ut[k * stride + s] = v;
            }
        }
        let x = prev.get();
        let out = next.get_mut();
        for first in (0..n).step_by(UNIT_CHUNK) {
            let units = first..(first + UNIT_CHUNK).min(n);
            let chunk = &mut out[first * stride..units.end * stride];
            w.rows_lanes(first, x, stride, lanes, chunk);
            for (i, o) in units.clone().zip(chunk.chunks_exact_mut(stride)) {
                // `input_term`'s order (`acc + w u`, inputs in order, from 0),
                // then `input + bias + W x`.
                input.fill(T::ZERO);
                for (k, &wk) in res.win[i * ni..(i + 1) * ni].iter().enumerate() {
                    for (a, &v) in input.iter_mut().zip(&ut[k * stride..k * stride + lanes]) {
                        *a += wk * v;
                    }
                }
                let bias = res.bias[i];
                for (o, &inp) in o[..lanes].iter_mut().zip(input.iter()) {
                    *o = inp + bias + *o;
                }
            }
            res.activation.apply(chunk);
            for (i, o) in units.clone().zip(chunk.chunks_exact_mut(stride)) {
                let lr = res.leak[i];
                for (o, &p) in o[..lanes].iter_mut().zip(&x[i * stride..i * stride + lanes]) {
                    *o = (T::ONE - lr) * p + lr * *o;
                }
            }
            for s in 0..seqs {
                let row = &mut states[(s * steps + t) * n..(s * steps + t + 1) * n][units.clone()];
                for (v, o) in row.iter_mut().zip(chunk.chunks_exact(stride)) {
                    *v = o[s];
                }
                // The lines written two chunks on (measured: ~3 % faster
                // than none, as fast as a step ahead, with less in cache).
                let ahead = (first + 2 * UNIT_CHUNK).min(n)..(first + 3 * UNIT_CHUNK).min(n);
                prefetch_for_write(&states[(s * steps + t) * n..(s * steps + t + 1) * n][ahead]);
            }
        }
        std::mem::swap(&mut prev, &mut next);
    }
    true
}

/// Asks for the cache lines of `row` (where a sequence's states go a little
/// later), so that those writes, a few cache lines per sequence and chunk
/// scattered over the output, do not wait for memory.
#[inline(always)]
fn prefetch_for_write<T>(row: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = size_of_val(row);
        let p = row.as_ptr().cast::<i8>();
        for off in (0..bytes).step_by(LINE) {
            // SAFETY: a prefetch never faults; the address lies inside `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_fit_the_cache_and_the_threads() {
        assert_eq!(group_size::<f64>(1000, 64, 2), 16);
        assert_eq!(group_size::<f32>(1000, 64, 2), 32);
        assert_eq!(group_size::<f64>(1000, 64, 1), 16);
        assert_eq!(group_size::<f32>(1000, 64, 1), 32);
        assert_eq!(group_size::<f64>(100, 37, 3), 16);
        assert_eq!(group_size::<f64>(100_000, 64, 2), LANE_MULTIPLE);
        assert_eq!(group_size::<f64>(100, 1000, 2), MAX_GROUP);
    }
}
