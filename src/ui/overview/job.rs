//! The overview's worker: a thread named `overview` that builds the
//! [`FleetOverview`] of the views the window sends it, one at a time (a
//! view that arrives while it builds replaces the one waiting, so a slow
//! build skips to the newest), and wakes the window when one is ready.
//! Channels are bounded both ways.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

use crate::engine::monitor::View;

use super::FleetOverview;

/// A view to build, with the labels that make its entities.
type Request = (Arc<View>, Vec<String>);

pub struct OverviewJob {
    requests: SyncSender<Request>,
    replies: Receiver<Arc<FleetOverview>>,
    /// A view the worker had no room for yet (sent on the next poll).
    waiting: Option<Request>,
    /// Views sent and not yet answered.
    in_flight: usize,
}

impl OverviewJob {
    /// Starts the worker; `wake` is called when an overview is ready.
    pub fn spawn(wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (requests, inbox) = std::sync::mpsc::sync_channel::<Request>(1);
        let (outbox, replies) = std::sync::mpsc::sync_channel(2);
        std::thread::Builder::new()
            .name("overview".into())
            .spawn(move || {
                crate::priority::lower_this_thread();
                while let Ok((view, entity_labels)) = inbox.recv() {
                    let overview = Arc::new(super::build(&view, &entity_labels));
                    if outbox.send(overview).is_err() {
                        return;
                    }
                    wake();
                }
            })?;
        Ok(Self {
            requests,
            replies,
            waiting: None,
            in_flight: 0,
        })
    }

    /// Asks for the overview of `view`, replacing one not yet sent (handed
    /// back, for the caller to free where it likes).
    pub fn request(&mut self, view: Arc<View>, entity_labels: Vec<String>) -> Option<Arc<View>> {
        let replaced = self.waiting.replace((view, entity_labels));
        self.send_waiting();
        replaced.map(|(view, _)| view)
    }

    fn send_waiting(&mut self) {
        // One build at a time: what waits goes when the last one is back.
        if self.in_flight > 0 {
            return;
        }
        let Some(request) = self.waiting.take() else {
            return;
        };
        match self.requests.try_send(request) {
            Ok(()) => self.in_flight += 1,
            Err(TrySendError::Full(request)) => self.waiting = Some(request),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The newest overview finished since the last poll; never blocks.
    pub fn poll(&mut self) -> Result<Option<Arc<FleetOverview>>, String> {
        let mut latest = None;
        loop {
            match self.replies.try_recv() {
                Ok(overview) => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    latest = Some(overview);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    return Err("the overview worker stopped".to_owned());
                }
            }
        }
        self.send_waiting();
        Ok(latest)
    }

    /// A build is running or waiting.
    pub fn is_busy(&self) -> bool {
        self.in_flight > 0 || self.waiting.is_some()
    }
}
