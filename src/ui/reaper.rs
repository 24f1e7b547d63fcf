//! Letting go of big things off the UI thread. A fleet's view (every
//! series' window, scores and marks: hundreds of megabytes in tens of
//! thousands of allocations) took 30–90 ms to free, a dropped frame each
//! time the window replaced it; the `reaper` thread frees them instead.
//! Its queue is bounded: when it is full the value is freed where it is,
//! as before.

use std::sync::mpsc::SyncSender;

type Garbage = Box<dyn Send>;

pub struct Reaper {
    /// None: the thread could not start (values are freed in place).
    sender: Option<SyncSender<Garbage>>,
}

impl Reaper {
    pub fn spawn() -> Self {
        let (sender, inbox) = std::sync::mpsc::sync_channel::<Garbage>(16);
        let spawned = std::thread::Builder::new()
            .name("reaper".into())
            .spawn(move || {
                crate::priority::lower_this_thread();
                while inbox.recv().is_ok() {}
            });
        Self {
            sender: spawned.ok().map(|_| sender),
        }
    }

    /// Frees `value` on the reaper thread (in place when its queue is full).
    pub fn free<T: Send + 'static>(&self, value: T) {
        if let Some(sender) = &self.sender {
            // A full queue hands the value back: it is freed here.
            let _ = sender.try_send(Box::new(value));
        }
    }
}
