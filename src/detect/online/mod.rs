//! Online (streaming) scoring of one series: the score of row t uses rows ≤ t
//! only, as a live monitor sees them. Every detector reports a likelihood in
//! [0, 1] on one scale, with [`ALARM_LEVEL`] as its alarm; one set of
//! parameters for all data, nothing fitted to labels.
//!
//! - `likelihood`: the scale, and the tail likelihood of a distance stream.
//! - `robust`: distance from the recent median in MADs.
//! - `level`: the recent mean, for small sustained shifts.
//! - `seasonal`: against the same moment of earlier periods.
//! - `context`: CAD-style contextual novelty.
//! - `local`: against the few values just before.
//! - `discord`: each subsequence against its nearest earlier one (eval only).
//! - `peer`: each entity against its fleet at the same moment (fleets).
//! - `lstm`, `band`: the autoencoder and the forecast band as online
//!   detectors.
//! - `alarms`: one alarm per event, and alarms only where they are news.
//! - `ensemble`: the detectors by method, together, and over whole frames.
//! - `stream`: one series' detectors as a stream, row by row (live data).

mod alarms;
mod band;
mod context;
mod discord;
mod ensemble;
mod level;
mod likelihood;
mod local;
mod lstm;
mod order;
mod peer;
mod robust;
mod seasonal;
mod stream;

pub use alarms::{NEWS_PROBATION_SHARE, NewsGate, Suppressor, alarms_from, news_only, news_rows};
pub use band::band_likelihoods;
pub use context::{
    CONTEXT_ALARM_SCORE, CONTEXT_RANGE_MARGIN, ContextDetector, ContextParams, context_likelihoods,
};
pub use discord::{DISCORD_ROWS, DiscordDetector, discord_likelihoods, discord_rows};
pub use ensemble::{
    frame_alarms, frame_method_flags, method_likelihoods, method_row_likelihoods, probation_rows,
    rows_at_alarm_level, statistical_likelihoods,
};
pub use level::{LEVEL_ROWS, LevelDetector, level_likelihoods};
pub use likelihood::{ALARM_LEVEL, TailLikelihood};
pub use local::{LOCAL_ROWS, local_row_likelihoods};
pub use lstm::{lstm_frame_likelihoods, lstm_likelihoods, window_likelihoods};
pub use order::OrderedWindow;
pub use peer::{
    PEER_MIN_ENTITIES, PEER_POOL, PeerDetector, peer_groups, peer_likelihoods,
    peer_likelihoods_from,
};
pub use robust::{
    RobustDetector, RobustParams, Scored, robust_likelihoods, robust_row_likelihoods, robust_scores,
};
pub use seasonal::{
    PERIOD_SEARCH_ROWS, SEASONAL_LAGS, SEASONAL_MIN_ACF, SeasonalDetector, dominant_period,
    seasonal_likelihoods,
};
pub use stream::SeriesStream;

#[cfg(test)]
mod tests {
    use crate::data::rng::Rng;

    /// A daily-like cycle of `period` rows with noise.
    pub(super) fn cycle(rows: usize, period: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..rows)
            .map(|i| {
                let phase = (i % period) as f64 / period as f64;
                50.0 + 20.0 * (std::f64::consts::TAU * phase).sin() + 0.5 * rng.normal()
            })
            .collect()
    }
}
