//! A series' row likelihoods over the live window, each with its row's
//! time. The times are kept as runs of evenly spaced rows (a live window's
//! grid is one run), so a row costs its likelihood's 8 bytes rather than 16
//! with its own timestamp: a fleet's daemon keeps one of these per series
//! over the whole window. Saved as the plain (time, likelihood) pairs it
//! stands for, so state files read the same either way.

use std::collections::VecDeque;

/// Rows `first_ms`, `first_ms + step_ms`, … (`rows` of them).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    first_ms: i64,
    /// Unused while the run has one row (0 until a second row sets it; a
    /// run trimmed to one row keeps its old step, which the next push
    /// replaces).
    step_ms: i64,
    rows: usize,
}

impl Run {
    fn next_ms(&self) -> Option<i64> {
        (self.rows >= 2).then(|| self.first_ms + self.step_ms * self.rows as i64)
    }
}

/// (row time, likelihood) pairs, oldest first, times increasing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ScoreTrail {
    runs: VecDeque<Run>,
    scores: VecDeque<f64>,
}

impl ScoreTrail {
    /// Appends a row newer than every row held.
    pub(super) fn push(&mut self, at_ms: i64, likelihood: f64) {
        match self.runs.back_mut() {
            Some(run) if run.next_ms() == Some(at_ms) => run.rows += 1,
            Some(run) if run.rows == 1 && at_ms > run.first_ms => {
                run.step_ms = at_ms - run.first_ms;
                run.rows = 2;
            }
            _ => self.runs.push_back(Run {
                first_ms: at_ms,
                step_ms: 0,
                rows: 1,
            }),
        }
        crate::memory::push_back_lean(&mut self.scores, likelihood, None);
    }

    /// Drops the rows older than `first_ms`, and the room they took once it
    /// is a quarter more than the rest need.
    pub(super) fn drop_before(&mut self, first_ms: i64) {
        while let Some(run) = self.runs.front_mut()
            && run.first_ms < first_ms
        {
            self.scores.pop_front();
            run.rows -= 1;
            if run.rows == 0 {
                self.runs.pop_front();
            } else {
                run.first_ms += run.step_ms;
            }
        }
        crate::memory::shrink_lean(&mut self.scores);
    }

    /// The pairs, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.runs
            .iter()
            .flat_map(|run| (0..run.rows as i64).map(move |k| run.first_ms + run.step_ms * k))
            .zip(self.scores.iter().copied())
    }

    #[cfg(test)]
    fn runs(&self) -> usize {
        self.runs.len()
    }
}

impl serde::Serialize for ScoreTrail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = serializer.serialize_seq(Some(self.scores.len()))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for ScoreTrail {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(i64, f64)>::deserialize(deserializer)?;
        let mut trail = Self::default();
        trail.scores.reserve_exact(pairs.len());
        let mut last_ms = i64::MIN;
        for (at_ms, likelihood) in pairs {
            if at_ms <= last_ms {
                return Err(serde::de::Error::custom(format!(
                    "row times must increase: {at_ms} after {last_ms}"
                )));
            }
            last_ms = at_ms;
            trail.push(at_ms, likelihood);
        }
        Ok(trail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the spacing, the trail gives back exactly the pairs pushed
    /// and not dropped, in order; an even grid is one run.
    #[test]
    fn a_trail_gives_back_its_pairs_through_gaps_and_drops() {
        let mut trail = ScoreTrail::default();
        let mut plain: VecDeque<(i64, f64)> = VecDeque::new();
        let mut at_ms = 0;
        for row in 0..500 {
            // An even 30 s grid with a gap now and then, and a change of step.
            at_ms += match row {
                100 | 101 | 250 => 90_000,
                300.. => 15_000,
                _ => 30_000,
            };
            let likelihood = (row as f64 * 0.37).sin().abs();
            trail.push(at_ms, likelihood);
            plain.push_back((at_ms, likelihood));
            if row % 50 == 49 {
                let first_ms = plain[plain.len() / 3].0;
                trail.drop_before(first_ms);
                plain.retain(|(ms, _)| *ms >= first_ms);
            }
            assert!(trail.iter().eq(plain.iter().copied()), "row {row}");
        }
        // Only the last change of step is left after the drops.
        assert_eq!(trail.runs(), 1);

        let mut even = ScoreTrail::default();
        for row in 0..2_880 {
            even.push(row * 30_000, 0.5);
        }
        assert_eq!(even.runs(), 1);
    }

    /// Saved as (time, likelihood) pairs, as the queue before it was: a
    /// state file written either way reads back the same.
    #[test]
    fn a_trail_is_saved_as_plain_pairs() {
        let pairs: VecDeque<(i64, f64)> =
            [(1_000, 0.1), (2_000, 0.2), (3_000, 0.3), (7_000, 1.0)].into();
        let mut bytes = Vec::new();
        ciborium::into_writer(&pairs, &mut bytes).expect("write pairs");
        let trail: ScoreTrail = ciborium::from_reader(bytes.as_slice()).expect("read trail");
        assert!(trail.iter().eq(pairs.iter().copied()));
        let mut again = Vec::new();
        ciborium::into_writer(&trail, &mut again).expect("write trail");
        assert_eq!(again, bytes);

        let backwards: Vec<(i64, f64)> = vec![(2_000, 0.1), (1_000, 0.2)];
        let mut bytes = Vec::new();
        ciborium::into_writer(&backwards, &mut bytes).expect("write");
        let error = ciborium::from_reader::<ScoreTrail, _>(bytes.as_slice())
            .expect_err("times going back are refused");
        assert!(error.to_string().contains("must increase"), "{error}");
    }
}
