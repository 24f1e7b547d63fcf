//! Jobs that run off the UI thread: each on a named worker thread, its result
//! sent back over a bounded channel, with a callback (the app's
//! `request_repaint`) when it lands.

use std::sync::mpsc::{Receiver, sync_channel};

use crate::data::MetricFrame;
use crate::forecast::{self, ForecastError, ForecastSettings, FrameForecast};

/// A job could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {job} worker thread: {reason}")]
pub struct EngineError {
    pub job: &'static str,
    pub reason: String,
}

/// Forecasts `frame` on the `forecast` thread (which fans out one thread per
/// metric); the result arrives on the returned channel, then `wake` runs.
pub fn spawn_forecast(
    frame: MetricFrame,
    settings: ForecastSettings,
    wake: impl FnOnce() + Send + 'static,
) -> Result<Receiver<Result<FrameForecast, ForecastError>>, EngineError> {
    let (sender, receiver) = sync_channel(1);
    std::thread::Builder::new()
        .name("forecast".into())
        .spawn(move || {
            let result = forecast::forecast_frame(&frame, &settings);
            // The receiver is gone when the window closed first: nothing to do.
            let _ = sender.send(result);
            wake();
        })
        .map_err(|e| EngineError {
            job: "forecast",
            reason: e.to_string(),
        })?;
    Ok(receiver)
}
