//! The process memory readings, in a test binary of their own: the resident
//! set is the whole process's, so no other test may allocate beside it.
//! Linux with glibc only: `/proc` gives the resident set, and glibc's
//! `malloc_trim` is what hands freed heap back.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use pulsewatch::memory::{peak_kib, release_free_heap, resident_kib};

/// Touching 64 MiB shows in the resident set and in its peak, and freeing
/// them and releasing the heap takes most of it back out.
#[test]
fn resident_set_follows_a_large_allocation_and_its_release() {
    let before = resident_kib().expect("VmRSS in /proc/self/status");
    // Many small blocks, as a frame's columns are: glibc serves them from
    // the heap (not mmap), whose pages stay with the process until trimmed.
    let blocks: Vec<Vec<u8>> = (0..1024).map(|i| vec![i as u8 | 1; 64 << 10]).collect();
    std::hint::black_box(&blocks);
    let during = resident_kib().expect("VmRSS");
    assert!(during >= before + 60 * 1024, "{before} → {during} KiB");
    assert!(peak_kib().expect("VmHWM") >= during);
    drop(blocks);
    release_free_heap();
    let after = resident_kib().expect("VmRSS");
    assert!(
        after + 48 * 1024 <= during,
        "{during} → {after} KiB after the release"
    );
}
