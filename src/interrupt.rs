//! Cooperative interruption of long calls (Ctrl-C), without Python here.
//!
//! A binding marks the thread that calls into the core with [`watched`] and
//! registers, once, a hook that says whether the user asked to stop (the
//! Python binding's hook runs the interpreter's signal handlers). Long loops
//! call [`check`] once per step: on the watched thread it runs the hook at
//! most every [`POLL`]; on the pool's workers it only reads a flag. While the
//! watched thread waits for the pool (`crate::par::install`) it polls the
//! hook itself ([`install_polling`]) and raises the flag that the workers see.
//! An interrupted call returns `Error::Interrupted` and leaves no half-made
//! result behind (outputs are fresh; gradients a backward was adding to are
//! partly accumulated and should be zeroed).

use crate::{Error, Result};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the hook runs during a watched call.
pub const POLL: Duration = Duration::from_millis(50);

static HOOK: OnceLock<fn() -> bool> = OnceLock::new();
static REQUESTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// On a thread inside `watched`: when the hook last ran.
    static LAST_POLL: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Registers the hook (once per process; later calls are ignored). It
/// returns true when the running call should stop.
pub fn set_hook(hook: fn() -> bool) {
    let _ = HOOK.set(hook);
}

/// Runs the hook now if one is registered; raises the flag if it says stop.
fn poll() -> bool {
    let stop = HOOK.get().is_some_and(|hook| hook());
    if stop {
        REQUESTED.store(true, Ordering::Release);
    }
    stop
}

/// Runs `f` on this thread as a watched call: `check` polls the hook here,
/// and the pool is waited for while polling. Returns `Error::Interrupted` if
/// the hook asked to stop during the call, even if `f` got to its end (the
/// hook has then consumed the signal, which the caller must report).
pub fn watched<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    if is_watching() {
        return f();
    }
    LAST_POLL.with(|c| c.set(Some(Instant::now())));
    // Reset the mark however `f` ends (also on a panic).
    struct Unmark;
    impl Drop for Unmark {
        fn drop(&mut self) {
            LAST_POLL.with(|c| c.set(None));
        }
    }
    let _unmark = Unmark;
    let r = f();
    if REQUESTED.swap(false, Ordering::AcqRel) {
        return Err(Error::Interrupted);
    }
    r
}

/// Whether this thread is inside `watched`.
pub fn is_watching() -> bool {
    LAST_POLL.with(|c| c.get().is_some())
}

/// `Err(Error::Interrupted)` once a stop was asked for: one atomic load, plus
/// on the watched thread a clock read and, every `POLL`, the hook.
#[inline]
pub fn check() -> Result<()> {
    if REQUESTED.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let due = LAST_POLL.with(|c| match c.get() {
        Some(last) if last.elapsed() >= POLL => {
            c.set(Some(Instant::now()));
            true
        }
        _ => false,
    });
    if due && poll() {
        return Err(Error::Interrupted);
    }
    Ok(())
}

/// `pool.install(f)` for the watched thread: `f` runs on the pool while this
/// thread polls the hook every `POLL` (the workers' `check` then sees the flag).
pub(crate) fn install_polling<R: Send>(pool: &rayon::ThreadPool, f: impl FnOnce() -> R + Send) -> R {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let mut out = None;
    pool.in_place_scope(|s| {
        s.spawn(move |_| {
            // The receiver lives until the scope ends: the send cannot fail.
            let _ = tx.send(f());
        });
        loop {
            match rx.recv_timeout(POLL) {
                Ok(r) => {
                    out = Some(r);
                    break;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    poll();
                }
                // `f` panicked: the scope re-raises the panic when it ends.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    out.expect("the job either sent its result or panicked")
}
