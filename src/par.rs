//! The library's private rayon pool. Kept apart from the global pool so that
//! rnnrs never fights the user's own rayon code, and sized by
//! `set_num_threads` or the `RNNRS_NUM_THREADS` environment variable
//! (default: the number of cores). The pool is rebuilt lazily after a size
//! change, and after a `fork()` (rayon's worker threads do not survive one).

use std::sync::{Arc, Mutex};

struct PoolState {
    pool: Option<Arc<rayon::ThreadPool>>,
    threads: usize,
    pid: u32,
}

static POOL: Mutex<PoolState> = Mutex::new(PoolState { pool: None, threads: 0, pid: 0 });

fn default_threads() -> usize {
    std::env::var("RNNRS_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn lock() -> std::sync::MutexGuard<'static, PoolState> {
    // A poisoned lock only means another thread panicked while holding it;
    // the state itself stays valid.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets the number of worker threads (0 restores the default).
pub fn set_num_threads(n: usize) {
    let mut st = lock();
    st.threads = if n == 0 { default_threads() } else { n };
    st.pool = None;
}

/// The number of worker threads rnnrs computes with.
pub fn num_threads() -> usize {
    let mut st = lock();
    if st.threads == 0 {
        st.threads = default_threads();
    }
    st.threads
}

fn pool() -> Arc<rayon::ThreadPool> {
    let mut st = lock();
    if st.threads == 0 {
        st.threads = default_threads();
    }
    let pid = std::process::id();
    if st.pid != pid {
        // Forked child: the parent's worker threads do not exist here. Their
        // pool is leaked, not dropped: its teardown would signal and wait on
        // threads (and possibly locks held at the fork) that are gone.
        if let Some(parent_pool) = st.pool.take() {
            std::mem::forget(parent_pool);
        }
        st.pid = pid;
    }
    if st.pool.is_none() {
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(st.threads)
            .thread_name(|i| format!("rnnrs-{i}"))
            .build();
        // Building a pool only fails when threads cannot be spawned; fall back
        // to a single-threaded pool, and as last resort report through panic
        // (caught at the Python boundary).
        let pool = match built {
            Ok(p) => p,
            Err(_) => rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("rnnrs: cannot start even one worker thread"),
        };
        st.pool = Some(Arc::new(pool));
    }
    st.pool.clone().expect("pool was just built")
}

/// Runs `f` inside the private pool; rayon calls (and faer's `Par::Rayon`)
/// inside `f` use its threads. Always on a worker of the pool, even with one
/// thread: run on the caller's thread instead, rayon calls would fall through
/// to the global pool and use every core.
/// On a thread inside `crate::interrupt::watched` the caller polls for an
/// interrupt while it waits.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = pool();
    if crate::interrupt::is_watching() {
        crate::interrupt::install_polling(&pool, f)
    } else {
        pool.install(f)
    }
}

/// Threads parallel work may use here: the pool's size on one of its
/// workers (inside `install`), else 1 (never the global rayon pool).
pub fn current_threads() -> usize {
    if rayon::current_thread_index().is_some() {
        rayon::current_num_threads()
    } else {
        1
    }
}

/// The faer parallelism to use for one GEMM of `flops` multiply-adds: serial
/// below a size where threading costs more than it gains.
pub fn gemm_par(flops: usize) -> faer::Par {
    const SERIAL_BELOW: usize = 1 << 17;
    let n = current_threads();
    if n <= 1 || flops < SERIAL_BELOW {
        faer::Par::Seq
    } else {
        faer::Par::rayon(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn install_runs_on_the_pool() {
        set_num_threads(2);
        assert_eq!(install(rayon::current_num_threads), 2);
        set_num_threads(1);
        assert_eq!(num_threads(), 1);
        // One thread means one: parallel iterators inside see a pool of one.
        assert_eq!(install(rayon::current_num_threads), 1);
        assert_eq!(
            install(|| (0..1000).into_par_iter().map(|_| rayon::current_num_threads()).max()),
            Some(1)
        );
        set_num_threads(0);
        assert!(num_threads() >= 1);
    }
}
