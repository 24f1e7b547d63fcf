//! Fleets: the entity a series belongs to (its values of the configured
//! entity labels: a host, a pod), which replica of a sharded daemon owns an
//! entity, and the selection of a fetched frame's series by shard and by
//! the series limit.

use crate::data::{Labels, MetricFrame, format_labels};

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(
        "{source_name}: `{text}` is not a shard; expected K/N with 0 ≤ K < N ≤ 1024, \
         such as 0/2 (replica 0 of 2)"
    )]
    Shard { source_name: String, text: String },
}

/// An entity: the values of the entity labels (empty: fleet-wide).
pub fn entity_of(labels: &Labels, entity_labels: &[String]) -> Labels {
    entity_labels
        .iter()
        .filter_map(|key| labels.get(key).map(|value| (key.clone(), value.clone())))
        .collect()
}

/// An entity as text, `instance="host-003:9100"` (empty when fleet-wide):
/// what shards hash and what the window and the history show.
pub fn entity_key(entity: &Labels) -> String {
    format_labels(entity)
}

/// FNV-1a, 64 bits: stable across runs, versions and machines (unlike the
/// standard library's hasher), so replicas agree on who owns what.
pub fn stable_hash(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Replica `index` of `count`: it owns the entities whose stable hash is
/// `index` modulo `count`. Together the replicas own every entity once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole fleet (one replica).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N`; `source_name` (a flag or variable) prefixes the error.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, FleetError> {
        let error = || FleetError::Shard {
            source_name: source_name.to_owned(),
            text: text.to_owned(),
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(error)?;
        let index: u32 = index.trim().parse().map_err(|_| error())?;
        let count: u32 = count.trim().parse().map_err(|_| error())?;
        if count == 0 || count > 1024 || index >= count {
            return Err(error());
        }
        Ok(Self { index, count })
    }

    pub fn owns(&self, entity: &Labels) -> bool {
        self.count <= 1
            || stable_hash(&entity_key(entity)) % u64::from(self.count) == u64::from(self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What [`select`] left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// Series of entities other replicas own.
    pub other_shards: usize,
    /// Series past the limit.
    pub over_limit: usize,
}

/// The series of `frame` this replica follows: those of entities it owns,
/// at most `max_series` of them (fleet-wide series belong to every
/// replica's shard 0 only, so they are scored once).
pub fn select(
    frame: MetricFrame,
    entity_labels: &[String],
    shard: Shard,
    max_series: usize,
) -> (MetricFrame, Selection) {
    let mut selection = Selection::default();
    let mut keep = Vec::with_capacity(frame.names().len());
    let mut kept = 0;
    for labels in frame.series_labels() {
        let owned = shard.owns(&entity_of(labels, entity_labels));
        if !owned {
            selection.other_shards += 1;
            keep.push(false);
        } else if kept >= max_series {
            selection.over_limit += 1;
            keep.push(false);
        } else {
            kept += 1;
            keep.push(true);
        }
    }
    if keep.iter().all(|k| *k) {
        return (frame, selection);
    }
    (frame.select_columns(&keep), selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(i: usize) -> Labels {
        [("instance".to_owned(), format!("host-{i:03}:9100"))].into()
    }

    #[test]
    fn shards_parse_and_split_the_fleet_once() {
        assert_eq!(
            Shard::parse("1/3", "--shard").unwrap(),
            Shard { index: 1, count: 3 }
        );
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2", "0/2000"] {
            let error = Shard::parse(bad, "--shard").unwrap_err().to_string();
            assert!(error.starts_with("--shard: `"), "{error}");
        }
        let shards = [Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 }];
        let mut counts = [0, 0];
        for i in 0..200 {
            let owners: Vec<usize> = (0..2).filter(|s| shards[*s].owns(&host(i))).collect();
            assert_eq!(owners.len(), 1, "host {i}: {owners:?}");
            counts[owners[0]] += 1;
        }
        assert!(counts[0] > 70 && counts[1] > 70, "{counts:?}");
        // The hash is FNV-1a: the same on every machine and version.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn selection_keeps_the_shard_and_drops_the_excess() {
        let names: Vec<String> = (0..10)
            .map(|i| format!("cpu{{instance=\"host-{i:03}:9100\"}}"))
            .collect();
        let frame = MetricFrame::new(vec![0], names, vec![vec![1.0]; 10], None).unwrap();
        let entity = ["instance".to_owned()];
        let (all, selection) = select(frame.clone(), &entity, Shard::ALL, 4);
        assert_eq!(all.names(), &frame.names()[..4]);
        assert_eq!(
            selection,
            Selection {
                other_shards: 0,
                over_limit: 6
            }
        );
        let shard = Shard { index: 1, count: 2 };
        let (mine, selection) = select(frame.clone(), &entity, shard, 100);
        assert_eq!(mine.names().len() + selection.other_shards, 10);
        assert!(
            mine.series_labels()
                .iter()
                .all(|l| shard.owns(&entity_of(l, &entity)))
        );
    }

    #[test]
    fn entities_project_the_labels() {
        let labels: Labels = [
            ("instance".to_owned(), "a".to_owned()),
            ("job".to_owned(), "node".to_owned()),
        ]
        .into();
        let entity = entity_of(&labels, &["instance".to_owned()]);
        assert_eq!(entity_key(&entity), r#"instance="a""#);
        assert!(entity_of(&labels, &[]).is_empty());
    }
}
