//! A fleet's autoencoders: one model per entity (a host, a pod), trained on
//! that entity's series alone and stored beside the others under the model
//! directory (`entities/<hash of the entity>/`, each with the same atomic,
//! versioned files as a single model). Data of one entity keep the one
//! model of [`super::store`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::MetricFrame;

use super::store::{self, SavedModel};

/// One entity's columns of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityColumns {
    /// The entity as text (`instance="host-003:9100"`; empty: fleet-wide).
    pub key: String,
    /// Its columns, in the frame's order.
    pub columns: Vec<usize>,
}

impl EntityColumns {
    /// The entity's own frame: its columns, every row.
    pub fn frame_of(&self, frame: &MetricFrame) -> MetricFrame {
        let mut keep = vec![false; frame.names().len()];
        for &column in &self.columns {
            keep[column] = true;
        }
        frame.select_columns(&keep)
    }
}

/// The entities of `frame`'s columns by `entity_labels`, sorted by key. A
/// column without any of the labels belongs to the fleet-wide entity (key
/// "").
pub fn entities_of(frame: &MetricFrame, entity_labels: &[String]) -> Vec<EntityColumns> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (column, labels) in frame.series_labels().iter().enumerate() {
        let key = crate::fleet::entity_key(&crate::fleet::entity_of(labels, entity_labels));
        groups.entry(key).or_default().push(column);
    }
    groups
        .into_iter()
        .map(|(key, columns)| EntityColumns { key, columns })
        .collect()
}

/// Where an entity's model lives under `save_dir`: named by the entity's
/// stable hash, so any label text makes a valid directory name.
pub fn entity_dir(save_dir: &Path, key: &str) -> PathBuf {
    save_dir
        .join("entities")
        .join(format!("{:016x}", crate::fleet::stable_hash(key)))
}

/// Every entity model saved under `save_dir`, by entity; the models that
/// could not be read, each with its reason (the others load regardless).
pub fn load_entity_models(save_dir: &Path) -> (BTreeMap<String, Arc<SavedModel>>, Vec<String>) {
    let mut models = BTreeMap::new();
    let mut errors = Vec::new();
    let Ok(dirs) = std::fs::read_dir(save_dir.join("entities")) else {
        return (models, errors);
    };
    let mut dirs: Vec<PathBuf> = dirs
        .filter_map(Result::ok)
        .map(|d| d.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        match store::load(&dir) {
            Ok(saved) => match saved.meta.entity.clone() {
                Some(key) if entity_dir(save_dir, &key) == dir => {
                    models.insert(key, Arc::new(saved));
                }
                _ => errors.push(format!(
                    "{}: not the model of the entity its directory names",
                    dir.display()
                )),
            },
            Err(error) => errors.push(error.to_string()),
        }
    }
    (models, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleets_columns_group_by_entity_and_fleet_wide_series_stand_alone() {
        let names = vec![
            r#"cpu{instance="b"}"#.to_owned(),
            r#"cpu{instance="a"}"#.to_owned(),
            "latency".to_owned(),
            r#"memory{instance="a"}"#.to_owned(),
        ];
        let frame = MetricFrame::new(vec![0], names, vec![vec![1.0]; 4], None).expect("frame");
        let groups = entities_of(&frame, &["instance".to_owned()]);
        let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["", r#"instance="a""#, r#"instance="b""#]);
        assert_eq!(groups[1].columns, [1, 3]);
        assert_eq!(groups[0].columns, [2]);
        let a = groups[1].frame_of(&frame);
        assert_eq!(
            a.names(),
            [r#"cpu{instance="a"}"#, r#"memory{instance="a"}"#]
        );
        // No entity labels: one entity, the whole frame.
        assert_eq!(entities_of(&frame, &[]).len(), 1);
        // Directory names are hashes: any label text is a valid path.
        let dir = entity_dir(Path::new("/m"), r#"instance="a/b:9100""#);
        assert_eq!(dir.parent(), Some(Path::new("/m/entities")));
        assert_eq!(dir.file_name().map(|n| n.len()), Some(16));
    }
}
