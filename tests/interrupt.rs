//! `rnnrs::interrupt` in a process of its own: the stop flag is global, so
//! raising it next to other tests would interrupt them.

use rnnrs::interrupt::{check, is_watching, set_hook, watched};
use rnnrs::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn stop_on_third_call() -> bool {
    CALLS.fetch_add(1, Ordering::SeqCst) >= 2
}

fn spin() -> Result<usize> {
    let t = Instant::now();
    let mut steps = 0;
    while t.elapsed() < Duration::from_secs(20) {
        check()?;
        steps += 1;
    }
    Ok(steps)
}

/// One test (the hook is per process): a long watched loop, serial and on
/// the pool, stops with `Interrupted` within a few polls; afterwards the
/// flag is down and short calls finish normally.
#[test]
fn watched_loops_stop_and_the_flag_comes_down() {
    set_hook(stop_on_third_call);
    let t = Instant::now();
    assert_eq!(watched(spin), Err(Error::Interrupted));
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(check(), Ok(()));
    assert!(!is_watching());

    for threads in [1, 2] {
        rnnrs::set_num_threads(threads);
        CALLS.store(0, Ordering::SeqCst);
        let t = Instant::now();
        assert_eq!(watched(|| rnnrs::par::install(spin)), Err(Error::Interrupted));
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(check(), Ok(()));
    }
    CALLS.store(0, Ordering::SeqCst);
    assert_eq!(watched(|| rnnrs::par::install(|| Ok(7))), Ok(7));
    // Unwatched: the hook never runs.
    CALLS.store(10, Ordering::SeqCst);
    assert_eq!(rnnrs::par::install(check), Ok(()));
}
