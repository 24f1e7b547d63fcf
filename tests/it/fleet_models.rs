//! The autoencoder on a fleet, against the test Prometheus's 50 hosts: a
//! model per entity, trained on a pool of workers while the refreshes go
//! on on a probation's rows (more than the window holds: the first fetch's
//! warm-up supplies them), each saved under its own directory, each scoring
//! only its own entity's columns, all of them read back after a restart.

use std::collections::BTreeSet;
use std::sync::Arc;

use pulsewatch::config::Config;
use pulsewatch::detect::entities::entities_of;
use pulsewatch::engine::ManualClock;
use pulsewatch::engine::monitor::{EntityModels, Update};
use pulsewatch::engine::schedule::{rows_needed, training_rows_kept};

use crate::fleet::{fleet_json, follow_live, prom_url, shipped_metrics_yaml, wait_for};

fn config(models: &std::path::Path) -> Config {
    Config::from_yaml_str(
        &format!(
            "prometheus:\n  url: {}\n  step: 30s\n  window: 30m\nmetrics:\n{}\
             lstm_model:\n  enabled: true\n  sequence_length: 10\n  hidden_size: 8\n  \
             epochs: 2\n  device: cpu\n  save_path: '{}'\n\
             prophet_model:\n  enabled: false\ndashboard:\n  refresh_interval: 1\n\
             detection:\n  probation_rows: 100\n",
            prom_url(),
            shipped_metrics_yaml(),
            models.display()
        ),
        "entity-models.yml",
    )
    .expect("config")
}

/// The entities complete at every row of the window.
fn complete(update: &Update, config: &Config) -> BTreeSet<String> {
    let frame = &update.view.frame;
    let columns = frame.columns();
    entities_of(frame, &config.fleet.entity_labels)
        .into_iter()
        .filter(|e| {
            e.columns
                .iter()
                .all(|&c| columns[c].iter().all(|v| v.is_finite()))
        })
        .map(|e| e.key)
        .collect()
}

/// The first update where at least every entity complete in the window is
/// scored by a model of its own, no training running.
fn all_scored(
    updates: &std::sync::mpsc::Receiver<Update>,
    config: &Config,
) -> Option<(Update, EntityModels)> {
    updates.try_iter().find_map(|update| {
        let models = update.view.entity_models.clone()?;
        let complete = complete(&update, config).len();
        (complete > 1 && models.scored >= complete && !update.view.is_training)
            .then_some((update, models))
    })
}

#[test]
fn the_autoencoder_is_a_model_per_host_trained_on_a_pool_and_read_back_after_a_restart() {
    let fleet = fleet_json();
    let start_ms = fleet["start"].as_i64().expect("start") * 1000;
    let t1 = start_ms + 20 * 3_600_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let models_dir = dir.path().join("models");
    let config = config(&models_dir);

    let clock = Arc::new(ManualClock::new(t1));
    let handle = follow_live(config.clone(), clock.clone(), None);
    let (update, models) = wait_for("a model for every entity", || {
        all_scored(&handle.updates, &config)
    });
    handle.stop().expect("stop");
    let view = &update.view;
    let hosts: BTreeSet<String> = view
        .frame
        .series_labels()
        .iter()
        .filter_map(|labels| labels.get("instance").cloned())
        .collect();
    assert!(hosts.len() >= 45, "{} hosts in the window", hosts.len());
    // Every host, and the fleet-wide series (the shipped latency) as one
    // entity of its own; every host is complete, and the window (60 rows)
    // is shorter than the rows a model needs (a probation: 100): the
    // warm-up made up the rest.
    assert_eq!(models.entities, hosts.len() + 1);
    assert!(models.load_errors.is_empty(), "{:?}", models.load_errors);
    assert!(view.frame.len() < config.detection.probation_rows);
    let complete = complete(&update, &config);
    assert!(
        hosts
            .iter()
            .all(|h| complete.contains(&format!("instance=\"{h}\""))),
        "{complete:?}"
    );

    // One job, every entity trained on it.
    let jobs: Vec<_> = view.jobs.values().collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let progress = jobs[0].entities.expect("a training per entity");
    assert_eq!(
        (progress.total, progress.done, progress.failed),
        (models.scored, models.scored, 0)
    );
    assert_eq!(jobs[0].status, "done");

    // On disk: a directory per entity, no model over the whole frame; each
    // model knows its entity and has that entity's columns only.
    let entity_dirs = std::fs::read_dir(models_dir.join("entities"))
        .expect("entities dir")
        .count();
    assert_eq!(entity_dirs, models.scored);
    assert!(!models_dir.join("current").exists());
    let (loaded, errors) = pulsewatch::detect::entities::load_entity_models(&models_dir);
    assert!(errors.is_empty(), "{errors:?}");
    let trained: BTreeSet<String> = loaded.keys().cloned().collect();
    assert_eq!(trained.len(), models.scored);
    assert!(trained.is_superset(&complete), "{trained:?}");
    // Each trained on a probation's rows (the rows kept: a probation and an
    // eighth), not on the window's 60.
    let needed = rows_needed(config.lstm.sequence_length, config.detection.probation_rows);
    for (key, model) in &loaded {
        assert_eq!(model.meta.entity.as_deref(), Some(key.as_str()));
        assert_eq!(
            model.meta.training_rows,
            training_rows_kept(needed),
            "{key}"
        );
        let expected: Vec<&String> = view
            .frame
            .names()
            .iter()
            .zip(view.frame.series_labels())
            .filter(|(_, labels)| {
                let entity = pulsewatch::fleet::entity_of(labels, &config.fleet.entity_labels);
                pulsewatch::fleet::entity_key(&entity) == *key
            })
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            model.meta.feature_names.iter().collect::<Vec<_>>(),
            expected,
            "{key}"
        );
    }
    let host = r#"instance="host-003:9100""#;
    let features = &loaded[host].meta.feature_names;
    assert_eq!(features.len(), 2, "{features:?}");
    assert!(features.iter().all(|f| f.contains("host-003:9100")));

    // A restart reads every model back: every entity is scored from the
    // first refresh, and nothing is trained again.
    let handle = follow_live(config.clone(), clock, None);
    let (again, reloaded) = wait_for("the saved models in use", || {
        all_scored(&handle.updates, &config)
    });
    handle.stop().expect("stop");
    assert_eq!(reloaded.entities, models.entities);
    assert_eq!(reloaded.scored, trained.len());
    assert!(again.view.jobs.is_empty(), "{:?}", again.view.jobs);
}
