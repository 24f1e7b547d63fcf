//! The retraining rules and the keeper, tested with a hand-moved clock.

use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::config::LstmConfig;
use crate::data::MetricFrame;
use crate::detect::entities::EntityColumns;

fn small_frame(rows: usize, level: f64) -> MetricFrame {
    let stamps = (0..rows as i64)
        .map(|i| 1_767_225_600_000 + i * 15_000)
        .collect();
    let a = (0..rows).map(|i| level + (i as f64 * 0.3).sin()).collect();
    let b = (0..rows).map(|i| level + (i as f64 * 0.17).cos()).collect();
    MetricFrame::new(stamps, vec!["a".into(), "b".into()], vec![a, b], None).unwrap()
}

fn lstm_config(dir: &std::path::Path) -> LstmConfig {
    let mut lstm = Config::builtin().unwrap().lstm;
    lstm.epochs = 2;
    lstm.sequence_length = 10;
    lstm.hidden_size = 8;
    lstm.retrain_interval = Duration::from_secs(3600);
    lstm.save_path = dir.to_owned();
    lstm
}

/// A temp dir, its model dir, a manual clock and a small model's settings.
fn setup() -> (tempfile::TempDir, PathBuf, Arc<ManualClock>, LstmConfig) {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    let clock = Arc::new(ManualClock::new(1_767_225_600_000));
    let lstm = lstm_config(&model_dir);
    (dir, model_dir, clock, lstm)
}

fn wait(keeper: &mut ModelKeeper) -> Finished {
    let started = std::time::Instant::now();
    loop {
        if let Some(finished) = keeper.poll() {
            return finished;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "training hung");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_keeper_without_a_model_trains_adopts_and_names_its_source() {
    let (_dir, model_dir, clock, lstm) = setup();
    let mut keeper = ModelKeeper::without_model(clock.clone(), lstm.clone(), model_dir.clone())
        .with_source("app");
    assert_eq!(keeper.due(&[]), Some(RetrainReason::NoModel));
    // A failed first training promises no previous model.
    let gaps = MetricFrame::new(
        (0..200).map(|i| 1_767_225_600_000 + i * 15_000).collect(),
        vec!["a".into(), "b".into()],
        vec![vec![f64::NAN; 200]; 2],
        None,
    )
    .unwrap();
    keeper.start(gaps, RetrainReason::Manual, || {}).unwrap();
    let failed = wait(&mut keeper);
    assert!(!failed.swapped_in && failed.scores.is_none());
    assert_eq!(failed.run.reason, "manual (app)");
    let error = keeper.last_error().unwrap().to_owned();
    assert!(error.starts_with("training (manual) failed: "), "{error}");
    // A good one hands back the scores of the frame it was trained on.
    keeper
        .start(small_frame(200, 10.0), RetrainReason::Manual, || {})
        .unwrap();
    let done = wait(&mut keeper);
    assert!(done.swapped_in, "{:?}", done.run);
    let rows = done.scores.expect("scores").rows.error.len();
    assert_eq!(rows, 200);
    assert!(keeper.progress().is_none() && !keeper.is_training());
    let model = Arc::clone(keeper.model().unwrap());
    // Another keeper adopts that model: its schedule counts from the
    // model's creation; forgetting it makes a first model due again.
    let created_ms = crate::data::time::parse_timestamp_ms(&model.meta.created_at).unwrap();
    let clock = Arc::new(ManualClock::new(created_ms + 60_000));
    let mut other = ModelKeeper::without_model(clock.clone(), lstm, model_dir);
    other.adopt(model);
    assert_eq!(other.due(&[]), None);
    clock.advance(Duration::from_secs(3600 - 60));
    assert_eq!(other.due(&[]), Some(RetrainReason::Scheduled));
    other.forget_model();
    assert_eq!(other.due(&[]), Some(RetrainReason::NoModel));
}

#[test]
fn retrains_when_due_not_before_and_a_failed_retrain_keeps_the_old_model() {
    let (dir, model_dir, clock, lstm) = setup();
    let mut keeper = ModelKeeper::new(clock.clone(), lstm.clone(), model_dir.clone());
    // No model: due at once.
    assert_eq!(keeper.due(&[]), Some(RetrainReason::NoModel));
    // A first window that is mostly gaps is not enough; if tried anyway,
    // the failure is retried a minute later, not a whole interval.
    let mut gappy = small_frame(200, 10.0);
    let columns: Vec<Vec<f64>> = gappy
        .columns()
        .iter()
        .map(|c| {
            c.iter()
                .enumerate()
                .map(|(i, v)| if i < 180 { f64::NAN } else { *v })
                .collect()
        })
        .collect();
    gappy = MetricFrame::new(
        gappy.timestamps_ms().to_vec(),
        gappy.names().to_vec(),
        columns,
        None,
    )
    .unwrap();
    assert!(!keeper.enough_data(&gappy));
    assert!(keeper.enough_data(&small_frame(200, 10.0)));
    let all_gaps = MetricFrame::new(
        gappy.timestamps_ms().to_vec(),
        gappy.names().to_vec(),
        vec![vec![f64::NAN; 200]; 2],
        None,
    )
    .unwrap();
    keeper
        .start(all_gaps, RetrainReason::NoModel, || {})
        .unwrap();
    assert_eq!(wait(&mut keeper).run.status, "failed");
    assert_eq!(keeper.due(&[]), None);
    clock.advance(Duration::from_millis(FIRST_MODEL_RETRY_MS as u64));
    assert_eq!(keeper.due(&[]), Some(RetrainReason::NoModel));
    keeper
        .start(small_frame(200, 10.0), RetrainReason::NoModel, || {})
        .unwrap();
    assert!(matches!(
        keeper.start(small_frame(200, 10.0), RetrainReason::Manual, || {}),
        Err(StartError::Busy { id: 2 })
    ));
    let first = wait(&mut keeper);
    assert!(first.swapped_in, "{:?}", first.run);
    assert_eq!(first.run.status, "ok");
    assert_eq!(first.run.reason, "no model yet");
    let first_model = keeper.model().unwrap().meta.created_at.clone();

    // Not due a minute before the interval ends, due at its end.
    clock.advance(Duration::from_secs(3540));
    assert_eq!(keeper.due(&[]), None);
    clock.advance(Duration::from_secs(60));
    assert_eq!(keeper.due(&[]), Some(RetrainReason::Scheduled));

    // A retrain whose save fails (the model dir is now a file) keeps the
    // old model and records why.
    std::fs::rename(&model_dir, dir.path().join("kept")).unwrap();
    std::fs::write(&model_dir, "not a directory").unwrap();
    let id = keeper
        .start(small_frame(200, 10.0), RetrainReason::Scheduled, || {})
        .unwrap();
    let failed = wait(&mut keeper);
    assert!(!failed.swapped_in);
    assert_eq!(failed.run.status, "failed");
    assert_eq!(keeper.job(id).unwrap().status, "failed");
    assert_eq!(keeper.model().unwrap().meta.created_at, first_model);
    assert!(
        keeper
            .last_error()
            .unwrap()
            .contains("previous model stays"),
        "{:?}",
        keeper.last_error()
    );
    // Retried at the next interval, not at once.
    assert_eq!(keeper.due(&[]), None);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(keeper.due(&[]), Some(RetrainReason::Scheduled));
}

#[test]
fn drift_fires_on_a_shifted_regime_and_not_on_a_spike() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    let clock = Arc::new(ManualClock::new(1_767_225_600_000));
    let mut keeper = ModelKeeper::new(clock.clone(), lstm_config(&model_dir), model_dir);
    keeper
        .start(small_frame(300, 10.0), RetrainReason::NoModel, || {})
        .unwrap();
    assert!(wait(&mut keeper).swapped_in);
    let model = Arc::clone(keeper.model().unwrap());
    let p95 = model.meta.training_error_p95.unwrap() as f32;
    let p50 = model.meta.training_error_p50.unwrap() as f32;
    assert!(p50 <= p95);

    // Typical errors with a spike: no drift.
    let mut spiky = vec![p50; 100];
    spiky[40..60].fill(p95 * 50.0);
    assert_eq!(drift(&spiky, &model), None);
    assert_eq!(keeper.due(&spiky), None);
    // Too few windows to judge.
    assert_eq!(drift(&vec![p95 * 10.0; 59], &model), None);
    // Most windows fit worse than the training p95: drift, with numbers.
    let shifted = vec![p95 * 3.0; 100];
    let why = drift(&shifted, &model).unwrap();
    assert!(why.contains("95th percentile"), "{why}");
    assert!(matches!(
        keeper.due(&shifted),
        Some(RetrainReason::Drift(_))
    ));
    // The rule on its own (the app's Live mode decides with it too).
    let now = clock.now_ms();
    let hour = Duration::from_secs(3600);
    let fresh = Schedule::new(hour, Some(now));
    assert!(matches!(
        retrain_due(&fresh, None, now, &shifted, &model),
        Some(RetrainReason::Drift(_))
    ));
    assert_eq!(
        retrain_due(&fresh, Some(now - 1000), now, &shifted, &model),
        None
    );
    assert_eq!(retrain_due(&fresh, None, now, &spiky, &model), None);
    let old = Schedule::new(hour, Some(now - 3_600_000));
    assert_eq!(
        retrain_due(&old, Some(now), now, &spiky, &model),
        Some(RetrainReason::Scheduled)
    );
    // Scoring a really shifted frame gives such errors.
    let scores = crate::detect::score_frame(&model, &small_frame(300, 14.0)).unwrap();
    assert!(drift(&scores.window_errors, &model).is_some());
    let same = crate::detect::score_frame(&model, &small_frame(300, 10.0)).unwrap();
    assert_eq!(drift(&same.window_errors, &model), None);

    // After a drift retrain, no second one inside the cool-down.
    keeper
        .start(small_frame(300, 14.0), keeper.due(&shifted).unwrap(), || {})
        .unwrap();
    assert!(wait(&mut keeper).swapped_in);
    let new_p95 = keeper.model().unwrap().meta.training_error_p95.unwrap() as f32;
    let shifted = vec![new_p95 * 3.0; 100];
    clock.advance(Duration::from_secs(60));
    assert_eq!(keeper.due(&shifted), None);
    clock.advance(Duration::from_millis(DRIFT_COOLDOWN_MS as u64));
    assert!(matches!(
        keeper.due(&shifted),
        Some(RetrainReason::Drift(_))
    ));
}

#[test]
fn models_per_entity_train_on_the_pool_load_back_and_fall_due_each_on_its_own() {
    let (_dir, model_dir, _, lstm) = setup();
    // Models record their creation on the system clock: the schedule is
    // counted from there.
    let clock = Arc::new(ManualClock::new(crate::clock::now_ms()));
    let rows = 120;
    let host = |i: usize| format!("{{instance=\"h{i}\"}}");
    let names: Vec<String> = (0..3)
        .flat_map(|i| [format!("cpu{}", host(i)), format!("memory{}", host(i))])
        .collect();
    let mut columns: Vec<Vec<f64>> = (0..6)
        .map(|c| {
            (0..rows)
                .map(|r| c as f64 + (r as f64 * 0.2).sin())
                .collect()
        })
        .collect();
    // Host 2 has too few complete rows for a model.
    columns[4][20..].fill(f64::NAN);
    let stamps = (0..rows as i64).map(|i| i * 30_000).collect();
    let frame = Arc::new(MetricFrame::new(stamps, names, columns, None).unwrap());
    let groups = crate::detect::entities::entities_of(&frame, &["instance".to_owned()]);
    assert_eq!(groups.len(), 3);

    let mut keeper = ModelKeeper::without_model(clock.clone(), lstm.clone(), model_dir.clone());
    let none = std::collections::BTreeMap::new();
    // A first model waits for a probation's rows.
    assert!(
        keeper
            .entities_due(&frame, &groups, &none, &mut |e| enough_rows(
                &frame,
                e,
                rows + 1
            ))
            .is_none()
    );
    let needed = rows_needed(lstm.sequence_length, 100);
    assert_eq!(needed, 100);
    let mut ready = |e: &EntityColumns| enough_rows(&frame, e, needed);
    let (reason, due) = keeper
        .entities_due(&frame, &groups, &none, &mut ready)
        .expect("due");
    assert_eq!(reason, "no model yet (2)");
    let keys: Vec<&str> = due.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, [r#"instance="h0""#, r#"instance="h1""#]);
    let id = keeper
        .start_entities(Arc::clone(&frame), due, reason, || {})
        .expect("start");
    assert!(keeper.is_training());
    assert!(matches!(
        keeper.start(small_frame(100, 1.0), RetrainReason::Manual, || {}),
        Err(StartError::Busy { id: busy }) if busy == id
    ));
    let started = std::time::Instant::now();
    let mut trained = Vec::new();
    let finished = loop {
        let news = keeper.poll_entities();
        trained.extend(news.trained.into_iter().map(|(key, _)| key));
        if let Some(finished) = news.finished {
            break finished;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "training hung");
        std::thread::sleep(Duration::from_millis(10));
    };
    trained.sort();
    assert_eq!(trained, [r#"instance="h0""#, r#"instance="h1""#]);
    assert_eq!(finished.run.status, "ok");
    assert_eq!(finished.run.reason, "2 entities: no model yet (2)");
    let progress = keeper.job(id).and_then(|j| j.entities).expect("progress");
    assert_eq!((progress.total, progress.done, progress.failed), (2, 2, 0));
    assert!(!keeper.is_training());

    // Fresh models: nothing is due (host 2 still lacks the rows).
    assert!(
        keeper
            .entities_due(&frame, &groups, &none, &mut ready)
            .is_none()
    );
    // Each read back by a new keeper; an unreadable one is named, the
    // others load.
    let junk = model_dir.join("entities").join("0000000000000000");
    std::fs::create_dir_all(junk.join("current")).unwrap();
    std::fs::write(junk.join("current").join("model.json"), "{").unwrap();
    let reloaded = ModelKeeper::new(clock.clone(), lstm.clone(), model_dir.clone());
    assert_eq!(reloaded.entity_models().len(), 2);
    assert_eq!(reloaded.entity_load_errors().len(), 1);
    assert!(reloaded.entity_load_errors()[0].contains("0000000000000000"));
    // The schedule: each model falls due an interval after its creation.
    clock.advance(lstm.retrain_interval + Duration::from_secs(1));
    let (reason, due) = keeper
        .entities_due(&frame, &groups, &none, &mut ready)
        .expect("due");
    assert_eq!(reason, "scheduled (2)");
    assert_eq!(due.len(), 2);
}
