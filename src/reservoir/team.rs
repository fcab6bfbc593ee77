//! Steps split into parts, run by the calling thread and the other workers
//! of the pool with a spin barrier between steps. A reservoir step at
//! N = 1000 takes a few microseconds, about what a rayon fork/join costs, so
//! the helpers stay alive for the whole run and claim parts through atomics
//! instead of being forked per step.
//!
//! No deadlock whatever the pool is doing: the calling thread claims and
//! computes every part nobody else has claimed, so it only ever waits for
//! parts already being computed by a running helper. Which thread computes a
//! part never changes its result.

use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `steps` steps of `parts` parts each: `prepare(t)` on the calling
/// thread once all parts of step `t - 1` are done, then `work(t, k)` for
/// every part `k` (in parallel, on any thread). Must be called inside the
/// private pool (`crate::par::install`).
pub(crate) fn run_steps<P, W>(steps: usize, parts: usize, mut prepare: P, work: W)
where
    P: FnMut(usize) + Send,
    W: Fn(usize, usize) + Sync,
{
    let helpers = crate::par::num_threads().saturating_sub(1).min(parts.saturating_sub(1));
    if helpers == 0 || steps < 2 {
        for t in 0..steps {
            if crate::interrupt::check().is_err() {
                break; // the caller reports it
            }
            prepare(t);
            for k in 0..parts {
                work(t, k);
            }
        }
        return;
    }
    let sync = Barrier {
        published: AtomicUsize::new(0),
        claimed: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    rayon::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| sync.help(parts, &work));
        }
        // Releases the helpers however this closure ends (also on a panic,
        // which the scope then propagates after they return).
        let _stop = StopOnDrop(&sync.stop);
        for t in 0..steps {
            if crate::interrupt::check().is_err() {
                break; // the caller reports it
            }
            prepare(t);
            sync.published.store(t + 1, Ordering::Release);
            let end = (t + 1) * parts;
            while let Some(g) = sync.claim(end) {
                work(t, g % parts);
                sync.done.fetch_add(1, Ordering::Release);
            }
            let mut spins = 0u32;
            while sync.done.load(Ordering::Acquire) < end {
                backoff(&mut spins);
            }
        }
    });
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

struct Barrier {
    /// Steps whose parts may be claimed (`t < published`).
    published: AtomicUsize,
    /// Global part counter: part `g` is part `g % parts` of step `g / parts`.
    claimed: AtomicUsize,
    /// Parts finished.
    done: AtomicUsize,
    stop: AtomicBool,
}

impl Barrier {
    /// Claims the next part if it lies below `limit`.
    fn claim(&self, limit: usize) -> Option<usize> {
        let mut c = self.claimed.load(Ordering::Acquire);
        while c < limit {
            match self.claimed.compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(c),
                Err(now) => c = now,
            }
        }
        None
    }

    fn help<W: Fn(usize, usize) + Sync>(&self, parts: usize, work: &W) {
        let mut spins = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            let limit = self.published.load(Ordering::Acquire) * parts;
            match self.claim(limit) {
                Some(g) => {
                    let r = catch_unwind(AssertUnwindSafe(|| work(g / parts, g % parts)));
                    // Counted even on panic so the caller never waits forever;
                    // the panic resurfaces when the scope ends.
                    self.done.fetch_add(1, Ordering::Release);
                    if let Err(p) = r {
                        resume_unwind(p);
                    }
                    spins = 0;
                }
                None => backoff(&mut spins),
            }
        }
    }
}

/// Spins briefly, then yields, then sleeps in short naps: on a loaded
/// machine a waiting thread must not take the CPU from the thread it waits
/// for (a few microseconds of spinning cover a step on an idle machine).
#[inline]
fn backoff(spins: &mut u32) {
    const SPINS: u32 = 2000;
    const YIELDS: u32 = 50;
    if *spins < SPINS {
        std::hint::spin_loop();
    } else if *spins < SPINS + YIELDS {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
    *spins = spins.saturating_add(1);
}

/// A mutable slice shared by the parts of a step, each writing a disjoint
/// range (and reading only ranges no part writes during that step).
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _life: PhantomData<&'a mut [T]>,
}

// SAFETY: access goes through the unsafe methods below, whose callers
// guarantee that concurrent ranges are disjoint or read-only.
unsafe impl<T: Send> Send for SharedMut<'_, T> {}
unsafe impl<T: Send + Sync> Sync for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    pub(crate) fn new(s: &'a mut [T]) -> Self {
        SharedMut { ptr: s.as_mut_ptr(), len: s.len(), _life: PhantomData }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// # Safety
    /// No one writes `range` while the returned slice is alive.
    pub(crate) unsafe fn get(&self, range: std::ops::Range<usize>) -> &'a [T] {
        assert!(range.start <= range.end && range.end <= self.len, "range out of bounds");
        // SAFETY: in bounds; no concurrent writer by the caller's guarantee.
        unsafe { std::slice::from_raw_parts(self.ptr.add(range.start), range.end - range.start) }
    }

    /// # Safety
    /// No one else reads or writes `range` while the returned slice is alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_mut(&self, range: std::ops::Range<usize>) -> &'a mut [T] {
        assert!(range.start <= range.end && range.end <= self.len, "range out of bounds");
        // SAFETY: in bounds; exclusive by the caller's guarantee.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.end - range.start) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_part_ends_the_run_instead_of_hanging() {
        crate::par::set_num_threads(2);
        let r = std::panic::catch_unwind(|| {
            crate::par::install(|| {
                run_steps(
                    50,
                    4,
                    |_| {},
                    |t, k| {
                        if t == 10 && k == 1 {
                            panic!("part failed");
                        }
                    },
                )
            })
        });
        crate::par::set_num_threads(0);
        assert!(r.is_err());
    }

    #[test]
    fn every_part_of_every_step_runs_once_after_the_previous_step() {
        crate::par::set_num_threads(2);
        let (steps, parts) = (200, 4);
        let mut log = vec![0usize; steps * parts];
        let shared = SharedMut::new(&mut log);
        let mut prepared = 0;
        crate::par::install(|| {
            run_steps(
                steps,
                parts,
                |t| {
                    // Every part of the previous step is finished.
                    if t > 0 {
                        let prev = unsafe { shared.get((t - 1) * parts..t * parts) };
                        assert!(prev.iter().all(|&v| v == t));
                    }
                    prepared += 1;
                },
                |t, k| unsafe { shared.get_mut(t * parts + k..t * parts + k + 1)[0] += t + 1 },
            )
        });
        crate::par::set_num_threads(0);
        assert_eq!(prepared, steps);
        for t in 0..steps {
            assert!(log[t * parts..(t + 1) * parts].iter().all(|&v| v == t + 1));
        }
    }
}
