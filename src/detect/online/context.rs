//! The contextual novelty detector: a streaming detector in the manner of
//! CAD OSE (Smirnov and Ruban's Contextual Anomaly Detector, open-source
//! edition, one of the strongest published NAB detectors), written from its
//! description. Each value becomes a few discrete facts (the bits of its
//! bin in the range seen so far); a context joins the facts of the previous
//! step (its values and the contexts that fired then) with the facts of the
//! current one. A row is anomalous when the contexts that should have fired
//! did not and the step had to create new ones: a pattern never seen before,
//! rather than a value far from the median. Patterns that recur (daily
//! spikes, a load balancer's bursts) stop being new.
//!
//! [`context_likelihoods`] puts the detector on the likelihood scale of the
//! other online detectors.

mod memory;

use super::likelihood::ALARM_LEVEL;
use memory::{Facts, LEFT, Memory, MemoryFile, RIGHT};

/// Parameters (the same for every series).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContextParams {
    /// Bits of a value's bin: 2^bits − 1 bins over the value range.
    pub value_bits: u32,
    /// Contexts (strongest first) that become facts of the next step.
    pub max_active_contexts: usize,
    /// Longest left part a new context may be built from.
    pub max_left_facts: usize,
    /// A score at or above this silences the next `rest_rows` rows.
    pub base_threshold: f64,
    pub rest_rows: usize,
}

impl Default for ContextParams {
    fn default() -> Self {
        Self {
            value_bits: 3,
            max_active_contexts: 15,
            max_left_facts: 7,
            base_threshold: 0.75,
            rest_rows: 30,
        }
    }
}

/// The streaming state for one series.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "DetectorFile")]
pub struct ContextDetector {
    params: ContextParams,
    /// The value range the bins span (grows with the data seen).
    range: Option<(f64, f64)>,
    memory: Memory,
    left_facts: Facts,
    /// Rows since the last high score.
    rows_since_high: usize,
}

/// A detector as saved; its memory's indexes are rebuilt when read.
#[derive(serde::Deserialize)]
struct DetectorFile {
    params: ContextParams,
    range: Option<(f64, f64)>,
    memory: MemoryFile,
    left_facts: Facts,
    rows_since_high: usize,
}

impl TryFrom<DetectorFile> for ContextDetector {
    type Error = String;

    fn try_from(file: DetectorFile) -> Result<Self, String> {
        let mut memory = file.memory.into_memory()?;
        // The left side was last crossed with the facts kept for the next
        // step; crossing is not saved, so it is done again.
        memory.cross(LEFT, &file.left_facts);
        Ok(Self {
            params: file.params,
            range: file.range,
            memory,
            left_facts: file.left_facts,
            rows_since_high: file.rows_since_high,
        })
    }
}

impl ContextDetector {
    pub fn new(params: ContextParams) -> Self {
        Self {
            params,
            range: None,
            memory: Memory::default(),
            left_facts: Vec::new(),
            rows_since_high: 0,
        }
    }

    /// Fixes the value range (e.g. to the probationary rows'); values
    /// outside it become facts never seen before.
    pub fn with_range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// Research: widen the range to include `value`.
    pub fn expand_range(&mut self, value: f64) {
        let (min, max) = self.range.get_or_insert((value, value));
        *min = min.min(value);
        *max = max.max(value);
    }

    /// The facts of a value: for each bit of its bin number, one fact
    /// saying which bit and whether it is set. Bins past the range give
    /// more bits (new facts); below it, a fact of its own.
    fn value_facts(&mut self, value: f64) -> Facts {
        let (min, max) = *self.range.get_or_insert((value, value));
        let bins = f64::from((1u32 << self.params.value_bits) - 1);
        let span = if max > min { max - min } else { bins };
        let step = span / bins;
        let position = (value - min) / step;
        if position < 0.0 {
            return vec![u32::MAX - 1];
        }
        let bin = position.min(f64::from(u32::MAX >> 8)) as u32;
        let bits = (32 - bin.leading_zeros()).max(self.params.value_bits);
        (0..bits).map(|b| b * 2 + ((bin >> b) & 1)).collect()
    }

    /// Scores the next value in [0, 1] (missing values score 0 and change
    /// nothing): the mean of the share of expected contexts that did not
    /// fire and the share of candidate contexts that were new.
    pub fn update(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let current = self.value_facts(value);
        let max_left = self.params.max_left_facts;
        let mut new_zero_level = false;
        let zero_level = !self.left_facts.is_empty();
        if zero_level {
            let candidate = (self.left_facts.as_slice(), current.as_slice());
            new_zero_level = self.memory.add_contexts([candidate], true) > 0;
        }
        self.memory.cross(RIGHT, &current);
        let (fired, selected, mut candidates) = self.memory.fire(new_zero_level, max_left);
        let active_share = if selected > 0 {
            fired.len() as f64 / selected as f64
        } else {
            0.0
        };
        candidates.sort_dedup();
        let unique = candidates.len()
            + usize::from(zero_level && !candidates.contains(&self.left_facts, &current));
        // The strongest contexts that fired become facts of the next step.
        let mut strongest: Vec<u32> = fired;
        strongest.sort_by_key(|id| self.memory.rank(*id));
        let keep = strongest
            .len()
            .saturating_sub(self.params.max_active_contexts);
        let mut left: Facts = current;
        left.extend(strongest[keep..].iter().map(|id| (1u32 << 31) + *id));
        left.sort_unstable();
        left.dedup();
        let added =
            self.memory.add_contexts(candidates.iter(), false) + usize::from(new_zero_level);
        self.memory.cross(LEFT, &left);
        self.left_facts = left;
        let new_share = if added > 0 && unique > 0 {
            added as f64 / unique as f64
        } else {
            0.0
        };
        let score = (1.0 - active_share + new_share) / 2.0;
        // Silenced while any of the last `rest_rows` scores (the start
        // counts as one) was high, whether or not it was reported.
        let resting = self.rows_since_high < self.params.rest_rows;
        if score >= self.params.base_threshold {
            self.rows_since_high = 0;
        } else {
            self.rows_since_high += 1;
        }
        if resting { 0.0 } else { score }
    }
}

/// The contextual detector's bins span the probationary rows' range widened
/// by this many widths on each side: values beyond that become facts never
/// seen before, while ordinary variation falls into a few bins (0.5, 1, 2
/// and 4 were tried on NAB, docs/evaluation.md).
pub const CONTEXT_RANGE_MARGIN: f64 = 1.0;

/// The contextual score (a share of contexts, already the same scale on
/// every metric) that maps to [`ALARM_LEVEL`].
pub const CONTEXT_ALARM_SCORE: f64 = 0.9;

/// The contextual detector ([`ContextDetector`]) over one series:
/// it learns from the start, with bins over the first `probation` rows'
/// range (widened by [`CONTEXT_RANGE_MARGIN`]) and CAD's rest period of a
/// fifth of the probation; rows before `probation` score 0. Its score is
/// mapped linearly onto the likelihood scale, [`CONTEXT_ALARM_SCORE`] at
/// [`ALARM_LEVEL`] and 1 at 1. None when the probationary rows hold no
/// value.
pub fn context_likelihoods(values: &[f64], probation: usize) -> Option<Vec<f64>> {
    let probation = probation.min(values.len());
    let mut detector = probation_context_detector(&values[..probation], probation)?;
    let mut out: Vec<f64> = values
        .iter()
        .map(|v| context_likelihood(detector.update(*v)))
        .collect();
    out[..probation].fill(0.0);
    Some(out)
}

/// The contextual detector as [`context_likelihoods`] sets it up from the
/// probationary rows `head`: bins over their range widened by
/// [`CONTEXT_RANGE_MARGIN`], a rest of a fifth of the probation. None when
/// they hold no value.
pub(super) fn probation_context_detector(
    head: &[f64],
    probation: usize,
) -> Option<ContextDetector> {
    let finite = head.iter().copied().filter(|v| v.is_finite());
    let min = finite.clone().fold(f64::INFINITY, f64::min);
    let max = finite.fold(f64::NEG_INFINITY, f64::max);
    if !(min.is_finite() && max.is_finite()) {
        return None;
    }
    let pad = CONTEXT_RANGE_MARGIN * (max - min);
    let params = ContextParams {
        rest_rows: probation / 5,
        ..ContextParams::default()
    };
    Some(ContextDetector::new(params).with_range(min - pad, max + pad))
}

/// A contextual score on the likelihood scale: [`CONTEXT_ALARM_SCORE`] at
/// [`ALARM_LEVEL`], 1 at 1.
pub(super) fn context_likelihood(score: f64) -> f64 {
    let scale = (1.0 - ALARM_LEVEL) / (1.0 - CONTEXT_ALARM_SCORE);
    (ALARM_LEVEL + (score - CONTEXT_ALARM_SCORE) * scale).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::online::probation_rows;

    fn detector() -> ContextDetector {
        ContextDetector::new(ContextParams {
            rest_rows: 10,
            ..ContextParams::default()
        })
        .with_range(0.0, 7.0)
    }

    #[test]
    fn a_value_is_the_bits_of_its_bin() {
        let mut d = detector();
        // Seven bins over 0..7: 5.2 is bin 5 = 0b101.
        assert_eq!(d.value_facts(5.2), vec![1, 2, 5]);
        assert_eq!(d.value_facts(0.0), vec![0, 2, 4]);
        // Past the range: a fourth bit, facts never seen inside it.
        assert_eq!(d.value_facts(9.0), vec![1, 2, 4, 7]);
        assert_eq!(d.value_facts(-1.0), vec![u32::MAX - 1]);
    }

    #[test]
    fn a_learned_pattern_is_quiet_and_a_new_one_is_not() {
        let pattern = [1.0, 2.0, 3.0, 5.0, 3.0, 2.0];
        let mut d = detector();
        let mut scores = Vec::new();
        for _ in 0..60 {
            for v in pattern {
                scores.push(d.update(v));
            }
        }
        let settled = scores[200..].iter().copied().fold(0.0, f64::max);
        assert!(settled < 0.3, "the learned cycle still scores {settled}");
        // The cycle breaks: a jump to a level it never visited.
        let broken = [d.update(1.0), d.update(6.5), d.update(6.5)];
        let peak = broken.iter().copied().fold(0.0, f64::max);
        assert!(peak >= 0.9, "{broken:?}");
    }

    #[test]
    fn a_recurring_burst_stops_being_new() {
        let mut d = detector();
        // The score of the burst row in each round of a cycle with one burst.
        let mut burst_scores = Vec::new();
        for _ in 0..40 {
            for i in 0..30 {
                let v = if i == 20 { 6.0 } else { 1.0 + (i % 2) as f64 };
                let score = d.update(v);
                if i == 20 {
                    burst_scores.push(score);
                }
            }
        }
        assert!(
            burst_scores[0] >= 0.9,
            "the first burst is new: {burst_scores:?}"
        );
        assert!(
            burst_scores[5..].iter().all(|s| *s < 0.5),
            "a burst seen five times is still new: {burst_scores:?}"
        );
    }

    #[test]
    fn scores_never_look_ahead_and_rest_after_a_high_one() {
        let values: Vec<f64> = (0..400).map(|i| ((i * 7) % 11) as f64 * 0.6).collect();
        let full: Vec<f64> = {
            let mut d = detector();
            values.iter().map(|v| d.update(*v)).collect()
        };
        let prefix: Vec<f64> = {
            let mut d = detector();
            values[..250].iter().map(|v| d.update(*v)).collect()
        };
        assert_eq!(&full[..250], &prefix[..]);
        // The start counts as a high score: the first rest_rows are silent.
        assert!(full[..10].iter().all(|s| *s == 0.0));
        assert!(full.iter().all(|s| (0.0..=1.0).contains(s)));
        // A missing value scores 0 and changes nothing.
        let mut a = detector();
        let mut b = detector();
        for v in &values[..100] {
            a.update(*v);
            b.update(*v);
        }
        assert_eq!(a.update(f64::NAN), 0.0);
        assert_eq!(a.update(3.0), b.update(3.0));
    }

    /// A state saved by the layout before this one (format 1: maps from
    /// facts to ids) reads, and scores the following 300 rows exactly as the
    /// detector that saved it did (tests/fixtures/README.md).
    #[test]
    fn a_state_saved_in_format_1_scores_on_as_the_detector_that_saved_it() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
        let v1 = std::fs::read(format!("{dir}context_state_v1.cbor")).expect("fixture");
        let next = std::fs::read_to_string(format!("{dir}context_state_v1.next")).expect("fixture");
        let mut d: ContextDetector = ciborium::from_reader(v1.as_slice()).expect("format 1");
        // Saved again in today's layout: the facts once, no indexes.
        let mut v2 = Vec::new();
        ciborium::into_writer(&d, &mut v2).expect("save");
        assert!(
            v2.len() * 3 < v1.len(),
            "{} bytes vs {}",
            v2.len(),
            v1.len()
        );
        let mut rows = 0;
        for line in next.lines() {
            let (value, score) = line.split_once(' ').expect("value score");
            let value: f64 = value.parse().expect("value");
            let expected: f64 = score.parse().expect("score");
            assert_eq!(d.update(value).to_bits(), expected.to_bits(), "row {rows}");
            rows += 1;
        }
        assert_eq!(rows, 300);
    }

    /// Saved and read back at any row, a detector scores on as if it had
    /// never stopped, and a damaged memory is an error, not a panic.
    #[test]
    fn a_saved_state_scores_on_as_if_never_saved() {
        let values: Vec<f64> = (0..900)
            .map(|i| ((i % 24) / 4) as f64 + ((i * 37) % 11) as f64 * 0.07)
            .chain([9.0, 9.5, 0.2])
            .collect();
        let mut whole = detector();
        let expected: Vec<u64> = values.iter().map(|v| whole.update(*v).to_bits()).collect();
        for cut in [1, 37, 450, 901] {
            let mut d = detector();
            let mut got: Vec<u64> = values[..cut]
                .iter()
                .map(|v| d.update(*v).to_bits())
                .collect();
            let mut bytes = Vec::new();
            ciborium::into_writer(&d, &mut bytes).expect("save");
            let mut back: ContextDetector = ciborium::from_reader(bytes.as_slice()).expect("read");
            got.extend(values[cut..].iter().map(|v| back.update(*v).to_bits()));
            assert_eq!(got, expected, "saved at row {cut}");
            assert_eq!(back.memory.sizes(), whole.memory.sizes());
        }
        // A context naming a semi-context that is not there.
        let mut d = detector();
        for v in &values[..100] {
            d.update(*v);
        }
        let mut value = ciborium::Value::serialized(&d).expect("value");
        let contexts = value
            .as_map_mut()
            .and_then(|m| m.iter_mut().find(|(k, _)| k.as_text() == Some("memory")))
            .and_then(|(_, memory)| memory.as_map_mut())
            .and_then(|m| m.iter_mut().find(|(k, _)| k.as_text() == Some("contexts")))
            .and_then(|(_, c)| c.as_array_mut())
            .expect("contexts");
        // (hits, zero_level, left, right): its left half, far past the end.
        contexts[0].as_array_mut().expect("a context")[2] =
            ciborium::Value::Integer(1_000_000.into());
        let mut bytes = Vec::new();
        ciborium::into_writer(&value, &mut bytes).expect("save");
        let error = ciborium::from_reader::<ContextDetector, _>(bytes.as_slice())
            .expect_err("damaged")
            .to_string();
        assert!(error.contains("names a semi-context past"), "{error}");
    }

    #[test]
    fn the_contextual_likelihood_alarms_on_a_new_pattern_after_probation() {
        // A repeating cycle, then three values where it never goes.
        let cycle = [1.0, 2.0, 3.0, 5.0, 3.0, 2.0];
        let mut values: Vec<f64> = (0..1500).map(|i| cycle[i % 6]).collect();
        values[1300..1303].fill(40.0);
        let probation = probation_rows(values.len());
        let likelihoods = context_likelihoods(&values, probation).expect("values");
        assert!(likelihoods[..probation].iter().all(|l| *l == 0.0));
        // Once the jump's own facts are the left half, nothing can fire.
        let peak = likelihoods[1300..1303].iter().copied().fold(0.0, f64::max);
        assert!(peak >= ALARM_LEVEL, "{:?}", &likelihoods[1298..1306]);
        let before = likelihoods[probation..1300]
            .iter()
            .filter(|l| **l >= ALARM_LEVEL)
            .count();
        assert_eq!(before, 0, "alarms on the learned ramp");
        assert!(likelihoods.iter().all(|l| (0.0..=1.0).contains(l)));
        assert!(context_likelihoods(&[f64::NAN; 50], 20).is_none());
    }
}
