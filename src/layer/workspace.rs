//! Recycled large work buffers.
//!
//! A training step allocates tens of megabytes of gate, state and gradient
//! buffers and frees them when the step's cache is dropped. Large blocks come
//! straight from the OS, so every step would page-fault its buffers in again
//! (measured: a third of a training step's time on the benchmark shapes).
//! Freed buffers are kept here instead and handed out again to the next call
//! of any thread: zeroed (`zeroed`), or as they are (`scratch`) to callers
//! that overwrite every value before reading it. Either way no value carries
//! over into a result, so results do not depend on the pool.
//!
//! The pool is bounded (`MAX_BUFFERS`, `MAX_BYTES`); beyond that the oldest
//! buffers are freed.

use crate::error::try_zeros;
use crate::{Float, Result};
use std::any::Any;
use std::sync::Mutex;

/// Buffers smaller than this are left to the allocator.
const MIN_BYTES: usize = 1 << 16;
/// Slots: a training call of one layer returns ~10 buffers, so 24 slots
/// served two or three models taking turns; with more (a benchmark of 14
/// cell variants, or several models trained side by side) a model's buffers
/// were evicted between its calls and it page-faulted them in again (the
/// LayerNorm LSTM's fwd+bwd: 178 ms instead of 130 at shape A, 2 threads).
/// The memory held stays bounded by `MAX_BYTES`.
const MAX_BUFFERS: usize = 256;
const MAX_BYTES: usize = 768 << 20;

struct Pool {
    buffers: Vec<(usize, Box<dyn Any + Send>)>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { buffers: Vec::new(), bytes: 0 });

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    // A panic elsewhere while holding the lock leaves the pool consistent.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bytes_of<T>(capacity: usize) -> usize {
    capacity.saturating_mul(std::mem::size_of::<T>())
}

/// A zeroed buffer of `n` values, recycled when one is free.
pub(crate) fn zeroed<T: Float + 'static>(n: usize, what: &str) -> Result<Vec<T>> {
    if let Some(mut v) = take(n) {
        v.clear();
        v.resize(n, T::ZERO);
        return Ok(v);
    }
    try_zeros(n, what)
}

/// A buffer of `n` values whose contents are unspecified (those of a
/// recycled buffer, or zeros): only for buffers the caller overwrites
/// entirely before reading. Saves zeroing tens of megabytes per call.
pub(crate) fn scratch<T: Float + 'static>(n: usize, what: &str) -> Result<Vec<T>> {
    if let Some(mut v) = take(n) {
        // Shrinking keeps values; growing within capacity appends zeros.
        v.resize(n, T::ZERO);
        return Ok(v);
    }
    try_zeros(n, what)
}

/// A recycled buffer of capacity in `n..=2n` (its old length and values).
fn take<T: Float + 'static>(n: usize) -> Option<Vec<T>> {
    if bytes_of::<T>(n) < MIN_BYTES {
        return None;
    }
    let found = {
        let mut pool = lock();
        let best = pool
            .buffers
            .iter()
            .enumerate()
            .filter_map(|(i, (_, b))| b.downcast_ref::<Vec<T>>().map(|v| (i, v.capacity())))
            .filter(|&(_, cap)| cap >= n && cap <= n.saturating_mul(2))
            .min_by_key(|&(_, cap)| cap)
            .map(|(i, _)| i);
        best.map(|i| {
            let (bytes, b) = pool.buffers.remove(i);
            pool.bytes -= bytes;
            b
        })
    };
    found.and_then(|b| b.downcast::<Vec<T>>().ok()).map(|v| *v)
}

/// Gives a buffer back for reuse (small ones are simply freed).
pub(crate) fn recycle<T: Float + 'static>(v: Vec<T>) {
    let bytes = bytes_of::<T>(v.capacity());
    if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
        return;
    }
    let mut pool = lock();
    pool.bytes += bytes;
    pool.buffers.push((bytes, Box::new(v)));
    while pool.buffers.len() > MAX_BUFFERS || pool.bytes > MAX_BYTES {
        let (old, _) = pool.buffers.remove(0);
        pool.bytes -= old;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_buffers_come_back_zeroed_and_sized() {
        let n = MIN_BYTES; // f64: 8x the minimum size
        let mut v: Vec<f64> = zeroed(n, "test").unwrap();
        v.iter_mut().for_each(|x| *x = 3.0);
        recycle(v);
        let w: Vec<f64> = zeroed(n - 5, "test").unwrap();
        assert_eq!(w.len(), n - 5);
        assert!(w.iter().all(|&x| x == 0.0));
        // Another type never receives an f64 buffer.
        let u: Vec<f32> = zeroed(n, "test").unwrap();
        assert!(u.iter().all(|&x| x == 0.0));
        recycle(w);
        // Scratch buffers have the requested length whatever they held.
        let s: Vec<f64> = scratch(n - 9, "test").unwrap();
        assert_eq!(s.len(), n - 9);
        recycle(s);
        recycle(u);
        assert!(lock().bytes <= MAX_BYTES);
    }
}
