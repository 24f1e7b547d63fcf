//! Worker threads run at a lower CPU priority than the threads that answer
//! a person: the window's UI thread and the daemon's HTTP threads. On a
//! 2-core machine judging 3,000 series, fitting their forecasts and
//! building the fleet overview, the UI thread did 2–8 ms of work a frame
//! yet waited up to 0.7 s for a core (`benches/README.md`, "The fleet
//! overview"); at nice 10 a worker yields to it. Threads a worker starts
//! inherit its priority (Linux's nice is per thread), so the monitor's
//! detector pool, forecasts and trainings follow the monitor.

/// The nice value of worker threads (0 is the default; higher yields).
pub const WORKER_NICE: i32 = 10;

/// Lowers the calling thread to [`WORKER_NICE`] (Linux; elsewhere a no-op,
/// since `setpriority` there applies to the whole process); a process
/// already started nicer stays as it is. A failure leaves the thread as it
/// was: a priority is never worth failing over.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        let nice = this_thread_nice().max(WORKER_NICE);
        // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the
        // calling thread's nice value on Linux; no memory is passed.
        unsafe {
            let _ = libc::setpriority(libc::PRIO_PROCESS, 0, nice);
        }
    }
}

/// The calling thread's nice value (Linux; 0 elsewhere).
pub fn this_thread_nice() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpriority reads the calling thread's nice value; -1 is
        // also a valid value, so errno is cleared first and checked after.
        unsafe {
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
            if *libc::__errno_location() == 0 {
                return nice;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_worker_thread_is_lowered_and_its_children_inherit() {
        let before = super::this_thread_nice();
        let (own, child) = std::thread::spawn(|| {
            super::lower_this_thread();
            let child = std::thread::spawn(super::this_thread_nice)
                .join()
                .expect("child");
            (super::this_thread_nice(), child)
        })
        .join()
        .expect("worker");
        if cfg!(target_os = "linux") {
            assert_eq!(own, before.max(super::WORKER_NICE));
            assert_eq!(child, own);
        }
        // The spawning thread keeps its own priority.
        assert_eq!(super::this_thread_nice(), before);
    }
}
