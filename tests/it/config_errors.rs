//! Bad configs: every mistake is located (file:line:column), names the key
//! and says what was expected. Run through the pure parser and the CLI.

use pulsewatch::config::{Config, Os};

use crate::support::{pulsewatch, stderr, stdout};

/// (what is wrong, YAML, expected start of the message after "bad.yml:")
const BAD_CONFIGS: &[(&str, &str, &str)] = &[
    (
        "unknown time zone",
        "app:\n  timezone: Europe/Berlinn\n",
        "2:13: app.timezone: unknown time zone `Europe/Berlinn`; expected an IANA name",
    ),
    (
        "unknown top-level key",
        "promethus:\n  url: http://x:9090\n",
        "1:1: promethus: unknown key `promethus` (did you mean `prometheus`?)",
    ),
    (
        "unknown nested key",
        "lstm_model:\n  epoch: 5\n",
        "2:3: lstm_model.epoch: unknown key `epoch` (did you mean `epochs`?)",
    ),
    (
        "unknown key, no near miss",
        "dashboard:\n  colour: red\n",
        "2:3: dashboard.colour: unknown key `colour`; expected one of:",
    ),
    (
        "wrong type",
        "lstm_model:\n  epochs: ten\n",
        "2:11: lstm_model.epochs: expected an integer, found `ten`",
    ),
    (
        "epochs 0",
        "lstm_model:\n  epochs: 0\n",
        "2:11: lstm_model.epochs: 0 is out of range; expected an integer from 1 to 100000",
    ),
    (
        "percentile 120",
        "lstm_model:\n  threshold:\n    percentile: 120\n",
        "3:17: lstm_model.threshold.percentile: 120 is out of range",
    ),
    (
        "negative step",
        "prometheus:\n  step: -30s\n",
        "2:9: prometheus.step: negative duration \"-30s\"",
    ),
    (
        "malformed duration",
        "prometheus:\n  window: 1hour\n",
        "2:11: prometheus.window: unknown unit \"hour\" in duration \"1hour\"",
    ),
    (
        "zero duration",
        "prometheus:\n  timeout: 0s\n",
        "2:12: prometheus.timeout: must be longer than zero",
    ),
    (
        "window shorter than step",
        "prometheus:\n  step: 1m\n  window: 30s\n",
        "3:11: prometheus.window: window 30s is shorter than step 1m",
    ),
    (
        "horizon 0",
        "prophet_model:\n  forecast_horizon: 0\n",
        "2:21: prophet_model.forecast_horizon: 0 is out of range; expected a positive number of minutes",
    ),
    (
        "URL without scheme",
        "prometheus:\n  url: localhost:9090\n",
        "2:8: prometheus.url: `localhost:9090` has no scheme",
    ),
    (
        "URL with another scheme",
        "prometheus:\n  url: ftp://prom:9090\n",
        "2:8: prometheus.url: unsupported scheme `ftp`",
    ),
    (
        "metric with no variant for this OS",
        "metrics:\n  cpu:\n    windows: windows_cpu_time_total\n",
        "2:3: metrics.cpu: no query for this OS (linux); the metric has variants for: windows",
    ),
    (
        "unknown OS variant",
        "metrics:\n  cpu:\n    linx: up\n",
        "3:5: metrics.cpu.linx: unknown key `linx` (did you mean `linux`?)",
    ),
    (
        "empty query",
        "metrics:\n  cpu: \"\"\n",
        "2:8: metrics.cpu: empty PromQL query",
    ),
    (
        "no metrics",
        "metrics: {}\n",
        "1:10: metrics: no metrics defined",
    ),
    (
        "learning rate 0",
        "lstm_model:\n  learning_rate: 0\n",
        "2:18: lstm_model.learning_rate: 0 is out of range; expected a number greater than 0 and at most 1",
    ),
    (
        "batch size 0",
        "lstm_model:\n  batch_size: 0\n",
        "2:15: lstm_model.batch_size: 0 is out of range",
    ),
    (
        "sequence length 1",
        "lstm_model:\n  sequence_length: 1\n",
        "2:20: lstm_model.sequence_length: 1 is out of range; expected an integer from 2 to 10000",
    ),
    (
        "unknown device",
        "lstm_model:\n  device: gpus\n",
        "2:11: lstm_model.device: unknown value `gpus` (did you mean `gpu`?); expected one of: auto, gpu, cpu",
    ),
    (
        "unknown threshold method",
        "lstm_model:\n  threshold:\n    method: median\n",
        "3:13: lstm_model.threshold.method: unknown value `median`; expected one of: percentile, fixed",
    ),
    (
        "unknown seasonality mode",
        "prophet_model:\n  seasonality_mode: multiplicativ\n",
        "2:21: prophet_model.seasonality_mode: unknown value `multiplicativ` (did you mean `multiplicative`?)",
    ),
    (
        "interval width 1.5",
        "prophet_model:\n  interval_width: 1.5\n",
        "2:19: prophet_model.interval_width: 1.5 is out of range; expected a fraction greater than 0 and less than 1",
    ),
    (
        "negative changepoint prior",
        "prophet_model:\n  changepoint_prior_scale: -0.1\n",
        "2:28: prophet_model.changepoint_prior_scale: -0.1 is out of range",
    ),
    (
        "unknown app mode",
        "app:\n  mode: staging\n",
        "2:9: app.mode: unknown value `staging`; expected one of: production, development",
    ),
    (
        "refresh interval as garbage text",
        "dashboard:\n  refresh_interval: soon\n",
        "2:21: dashboard.refresh_interval: malformed duration \"soon\"",
    ),
    (
        "max points too small",
        "dashboard:\n  max_points: 1\n",
        "2:15: dashboard.max_points: 1 is out of range; expected an integer from 10 to 10000000",
    ),
    (
        "negative probation",
        "detection:\n  probation_rows: -5\n",
        "2:19: detection.probation_rows: -5 is out of range; expected an integer from 0 to 1000000",
    ),
    (
        "a state save interval of nothing",
        "detection:\n  state_save_interval: 0s\n",
        "2:24: detection.state_save_interval: must be longer than zero",
    ),
    (
        "basic auth without password_env",
        "prometheus:\n  basic_auth:\n    username: bob\n",
        "3:5: prometheus.basic_auth: missing `password_env`",
    ),
    (
        "password in place of an env var name",
        "prometheus:\n  bearer_token_env: \"s3cr3t token!\"\n",
        "2:21: prometheus.bearer_token_env: `s3cr3t token!` is not an environment variable name",
    ),
    (
        "invalid header name",
        "prometheus:\n  headers:\n    \"X Org\": a\n",
        "3:14: prometheus.headers.X Org: `X Org` is not a valid HTTP header name",
    ),
    (
        "retrain interval negative",
        "lstm_model:\n  retrain_interval: -1\n",
        "2:21: lstm_model.retrain_interval: -1 is out of range; expected a positive number of hours",
    ),
    (
        "reconstruction error limit 0",
        "lstm_model:\n  reconstruction_error_limit: 0\n",
        "2:31: lstm_model.reconstruction_error_limit: 0 is out of range",
    ),
    (
        "section of the wrong type",
        "dashboard: 5\n",
        "1:12: dashboard: expected a mapping (indented `key: value` lines), found `5`",
    ),
    (
        "malformed YAML",
        "app:\n  name: [PulseWatch\n",
        "2:9: app.name: expected a plain string, found `[PulseWatch`",
    ),
];

#[test]
fn every_bad_config_gives_a_located_message() {
    assert!(BAD_CONFIGS.len() >= 20);
    for (what, yaml, expected) in BAD_CONFIGS {
        let error = Config::from_yaml_str_for_os(yaml, "bad.yml", Os::Linux)
            .expect_err(what)
            .to_string();
        let expected = format!("bad.yml:{expected}");
        assert!(
            error.starts_with(&expected),
            "{what}:\n  got:      {error}\n  expected: {expected}…"
        );
        // Every message is located: file:line:column.
        let mut parts = error.splitn(4, ':');
        assert_eq!(parts.next(), Some("bad.yml"), "{what}: {error}");
        let line: u64 = parts.next().unwrap().parse().expect(&error);
        let column: u64 = parts.next().unwrap().parse().expect(&error);
        assert!(line >= 1 && column >= 1, "{what}: {error}");
    }
}

#[test]
fn config_check_prints_the_located_error_and_exits_2() {
    let home = tempfile::tempdir().unwrap();
    for (what, yaml, expected) in BAD_CONFIGS.iter().take(12) {
        let path = home.path().join("bad.yml");
        std::fs::write(&path, yaml).unwrap();
        let output = pulsewatch(home.path(), &["config", "check", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{what}");
        let err = stderr(&output);
        let expected = format!("error: {}:{expected}", path.display());
        assert!(err.starts_with(&expected), "{what}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
    }
}

#[test]
fn config_check_finds_the_file_in_lookup_order_and_masks_secrets() {
    let home = tempfile::tempdir().unwrap();
    // No file anywhere: the built-in defaults.
    let output = pulsewatch(home.path(), &["config", "check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("# config OK: built-in defaults"));

    // The platform config dir comes next.
    let config_dir = home.path().join("config/pulsewatch");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("user_config.yml"),
        "prometheus:\n  url: http://from-config-dir:9090\n  headers:\n    Authorization: Bearer hunter2\n",
    )
    .unwrap();
    let output = pulsewatch(home.path(), &["config", "check"]);
    let out = stdout(&output);
    assert!(out.contains("url: http://from-config-dir:9090"), "{out}");
    assert!(
        out.contains("Authorization: ****") && !out.contains("hunter2"),
        "{out}"
    );

    // ./user_config.yml wins over the config dir.
    std::fs::write(
        home.path().join("user_config.yml"),
        "prometheus:\n  url: http://from-cwd:9090\n",
    )
    .unwrap();
    let out = stdout(&pulsewatch(home.path(), &["config", "check"]));
    assert!(out.contains("url: http://from-cwd:9090"), "{out}");

    // --config wins over both, and must exist.
    std::fs::write(
        home.path().join("other.yml"),
        "prometheus:\n  url: http://explicit:1\n",
    )
    .unwrap();
    let out = stdout(&pulsewatch(
        home.path(),
        &["--config", "other.yml", "config", "check"],
    ));
    assert!(out.contains("url: http://explicit:1"), "{out}");
    let missing = pulsewatch(home.path(), &["--config", "missing.yml", "config", "check"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("config file missing.yml does not exist"));
}

#[test]
fn config_init_writes_defaults_and_never_overwrites_without_force() {
    let home = tempfile::tempdir().unwrap();
    let output = pulsewatch(home.path(), &["config", "init"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let path = home.path().join("config/pulsewatch/user_config.yml");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        pulsewatch::config::DEFAULT_CONFIG_YAML
    );

    std::fs::write(&path, "app:\n  name: Mine\n").unwrap();
    let again = pulsewatch(home.path(), &["config", "init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already exists; pass --force"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "app:\n  name: Mine\n"
    );

    let forced = pulsewatch(home.path(), &["config", "init", "--force"]);
    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        pulsewatch::config::DEFAULT_CONFIG_YAML
    );
}
