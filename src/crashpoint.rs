//! Crash points for the crash-safety tests. `PULSEWATCH_CRASH_AT=NAME[:N]`
//! makes the process SIGKILL itself (exactly what `kill -9` does) the N-th
//! time (default: the first) it reaches the point NAME, so a test can crash
//! it at the worst moment of a save instead of hoping a timed kill lands
//! there. Unset, a crash point is one atomic load.
//!
//! Points: `model-save` (the new model written, the old one moved aside,
//! the new one not yet in place) and `history-write` (a row inserted, its
//! transaction not yet committed).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static ARMED: OnceLock<Option<(String, usize)>> = OnceLock::new();
static HITS: AtomicUsize = AtomicUsize::new(0);

fn armed() -> &'static Option<(String, usize)> {
    ARMED.get_or_init(|| {
        let value = std::env::var("PULSEWATCH_CRASH_AT").ok()?;
        let (name, nth) = match value.split_once(':') {
            Some((name, n)) => (name.to_owned(), n.parse().ok()?),
            None => (value, 1),
        };
        Some((name, nth))
    })
}

/// Dies here, by SIGKILL, when this point is armed and its turn has come.
pub fn crash_point(name: &str) {
    let Some((armed_name, nth)) = armed() else {
        return;
    };
    if armed_name != name {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        eprintln!("pulsewatch: crash point {name} reached: SIGKILL");
        kill_self();
    }
}

#[cfg(unix)]
fn kill_self() {
    // SAFETY: kill(2) on our own pid with a valid signal number.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_self() {
    std::process::abort();
}
