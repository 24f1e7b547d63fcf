//! This process's memory as the kernel counts it (Linux `/proc`), and the
//! one call that hands freed heap back to it: a daemon's first load of a
//! long window builds large transient frames, and glibc keeps their pages
//! unless asked, so the steady resident set would carry the first load's
//! peak for the process's life. Also the growth rule for the long-lived
//! per-series queues, which a fleet holds tens of thousands of.

use std::collections::VecDeque;

/// Peak resident set so far (`VmHWM`), KiB; None where `/proc` has none.
pub fn peak_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// Resident set now (`VmRSS`), KiB; None where `/proc` has none.
pub fn resident_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Returns the heap's free pages to the kernel (glibc's `malloc_trim`; a
/// no-op on other C libraries, whose allocators do their own).
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has
    // no preconditions on the caller and is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Appends `value`, growing a full queue by an eighth (at least 16) rather
/// than doubling it, and never past `most` elements where the caller's
/// queue is bounded: a per-series queue that settles at 5,001 elements
/// would otherwise hold room for 8,192 for good, and a fleet holds tens of
/// thousands of them. Still amortised O(1) per push (geometric growth).
pub fn push_back_lean<T>(queue: &mut VecDeque<T>, value: T, most: Option<usize>) {
    let len = queue.len();
    if len == queue.capacity() {
        let grow = (len / 8).max(16);
        let grow = most.map_or(grow, |most| grow.min(most.saturating_sub(len)).max(1));
        queue.reserve_exact(grow);
    }
    queue.push_back(value);
}

/// Gives back a queue's spare room once it holds a quarter more than it
/// needs (a first load's long warm-up trimmed to the window), keeping an
/// eighth for the pushes to come.
pub fn shrink_lean<T>(queue: &mut VecDeque<T>) {
    let len = queue.len();
    if queue.capacity() > len + len / 4 + 32 {
        queue.shrink_to(len + len / 8 + 16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bounded queue's room stops at its bound; an unbounded one keeps
    /// within an eighth (plus the minimum step) of what it holds.
    #[test]
    fn lean_queues_hold_little_spare_room() {
        let mut bounded = VecDeque::new();
        for i in 0..20_000 {
            push_back_lean(&mut bounded, i as f64, Some(5_001));
            if bounded.len() > 5_000 {
                bounded.pop_front();
            }
        }
        assert_eq!(bounded.len(), 5_000);
        assert!(bounded.capacity() <= 5_001 + 16, "{}", bounded.capacity());
        assert_eq!(bounded.back(), Some(&19_999.0));

        let mut open = VecDeque::new();
        for i in 0..2_881 {
            push_back_lean(&mut open, i, None);
        }
        assert!(
            open.capacity() <= 2_881 + 2_881 / 8 + 16,
            "{}",
            open.capacity()
        );
        assert!(open.iter().copied().eq(0..2_881));
        open.drain(..2_000);
        shrink_lean(&mut open);
        assert!(open.capacity() <= 881 + 881 / 8 + 16, "{}", open.capacity());
        assert!(open.iter().copied().eq(2_000..2_881));
    }
}
