//! A series' row likelihoods over the live window, each with its row's
//! time. The times are kept as runs of evenly spaced rows (a live window's
//! grid is one run), so a row costs its likelihood's 8 bytes rather than 16
//! with its own timestamp: a fleet's daemon keeps one of these per series
//! over the whole window. Saved the same way (runs and likelihoods); the
//! plain (time, likelihood) pairs of state format 1 are read too.

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

/// Saved as its runs, `(first_ms, step_ms, rows)`, and its likelihoods
/// (state format 2: about 9 bytes a row in CBOR); format 1's
/// `(time, likelihood)` pairs (19 bytes a row) are read too.
impl serde::Serialize for ScoreTrail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let runs: Vec<(i64, i64, usize)> = self
            .runs
            .iter()
            .map(|r| (r.first_ms, r.step_ms, r.rows))
            .collect();
        let mut file = serializer.serialize_struct("ScoreTrail", 2)?;
        file.serialize_field("runs", &runs)?;
        file.serialize_field("scores", &self.scores)?;
        file.end()
    }
}

impl<'de> serde::Deserialize<'de> for ScoreTrail {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TrailVisitor)
    }
}

struct TrailVisitor;

impl<'de> serde::de::Visitor<'de> for TrailVisitor {
    type Value = ScoreTrail;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a score trail: runs and scores, or (time, likelihood) pairs")
    }

    /// Format 1: (time, likelihood) pairs.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ScoreTrail, A::Error> {
        let mut pairs = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(pair) = seq.next_element::<(i64, f64)>()? {
            pairs.push(pair);
        }
        ScoreTrail::from_rows(pairs.len(), pairs.into_iter()).map_err(serde::de::Error::custom)
    }

    /// Format 2: runs and scores.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ScoreTrail, A::Error> {
        let (mut runs, mut scores) = (None::<Vec<(i64, i64, usize)>>, None::<Vec<f64>>);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "runs" => runs = Some(map.next_value()?),
                "scores" => scores = Some(map.next_value()?),
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let runs = runs.ok_or_else(|| serde::de::Error::missing_field("runs"))?;
        let scores = scores.ok_or_else(|| serde::de::Error::missing_field("scores"))?;
        let rows: usize = runs.iter().map(|r| r.2).sum();
        if rows != scores.len() {
            return Err(serde::de::Error::custom(format!(
                "runs of {rows} rows hold {} scores",
                scores.len()
            )));
        }
        let times = runs.iter().flat_map(|&(first_ms, step_ms, rows)| {
            (0..rows as i64).map(move |k| first_ms.saturating_add(step_ms.saturating_mul(k)))
        });
        ScoreTrail::from_rows(rows, times.zip(scores)).map_err(serde::de::Error::custom)
    }
}

impl ScoreTrail {
    /// A trail of `rows` (time, likelihood) rows; times must increase.
    fn from_rows(rows: usize, pairs: impl Iterator<Item = (i64, f64)>) -> Result<Self, String> {
        let mut trail = Self::default();
        trail.scores.reserve_exact(rows);
        let mut last_ms = i64::MIN;
        for (at_ms, likelihood) in pairs {
            if at_ms <= last_ms {
                return Err(format!("row times must increase: {at_ms} after {last_ms}"));
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

    /// Saved as runs and scores (format 2); format 1's pairs read back the
    /// same; times going back, or runs and scores that disagree, are
    /// refused.
    #[test]
    fn a_trail_is_saved_as_runs_and_reads_format_1_pairs() {
        let pairs: VecDeque<(i64, f64)> = (0..300)
            .map(|k| (1_000 + 30_000 * k, k as f64 / 300.0))
            .chain([(90_000_000, 1.0), (90_015_000, 0.5)])
            .collect();
        let mut v1 = Vec::new();
        ciborium::into_writer(&pairs, &mut v1).expect("write pairs");
        let trail: ScoreTrail = ciborium::from_reader(v1.as_slice()).expect("read pairs");
        assert!(trail.iter().eq(pairs.iter().copied()));
        let mut v2 = Vec::new();
        ciborium::into_writer(&trail, &mut v2).expect("write trail");
        assert!(
            v2.len() * 3 < v1.len() * 2,
            "{} vs {} bytes",
            v2.len(),
            v1.len()
        );
        let back: ScoreTrail = ciborium::from_reader(v2.as_slice()).expect("read runs");
        assert_eq!(back, trail);

        let backwards: Vec<(i64, f64)> = vec![(2_000, 0.1), (1_000, 0.2)];
        let mut bytes = Vec::new();
        ciborium::into_writer(&backwards, &mut bytes).expect("write");
        let error = ciborium::from_reader::<ScoreTrail, _>(bytes.as_slice())
            .expect_err("times going back are refused");
        assert!(error.to_string().contains("must increase"), "{error}");

        #[derive(serde::Serialize)]
        struct Runs {
            runs: Vec<(i64, i64, usize)>,
            scores: Vec<f64>,
        }
        for (runs, scores, expected) in [
            (
                vec![(0, 1_000, 3)],
                vec![0.1, 0.2],
                "runs of 3 rows hold 2 scores",
            ),
            (
                vec![(5_000, 1_000, 2), (4_000, 1_000, 1)],
                vec![0.1, 0.2, 0.3],
                "must increase",
            ),
        ] {
            let mut bytes = Vec::new();
            ciborium::into_writer(&Runs { runs, scores }, &mut bytes).expect("write");
            let error = ciborium::from_reader::<ScoreTrail, _>(bytes.as_slice())
                .expect_err("refused")
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
