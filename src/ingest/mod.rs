//! Ingestion from Prometheus (and anything speaking its HTTP API: Thanos,
//! Mimir, VictoriaMetrics): `query_range` on reqwest/tokio with auth, TLS,
//! chunking, retries, typed errors, and the merge into one [`MetricFrame`].

mod merge;
mod range;
mod response;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{MetricQuery, PrometheusConfig};
use crate::data::MetricFrame;
use crate::data::rng::Rng;

pub use merge::{
    MergeProblem, Merged, MissingEntityLabel, QueryAnswer, column_names, labels, merge,
};
pub use range::{MAX_POINTS_PER_QUERY, TimeRange};
pub use response::{RangeResult, Series, parse_range_body, parse_sample_value};

use response::BodyProblem;

/// Queries whose URL-encoded form is longer than this go as a POST form:
/// proxies and servers cap URL length (often at 4–8 KiB).
const MAX_GET_QUERY_BYTES: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("connection refused by {url} (query `{query}`): is Prometheus running there?")]
    ConnectionRefused { url: String, query: String },
    #[error("cannot resolve the host of {url} (query `{query}`): {detail}")]
    Dns {
        url: String,
        query: String,
        detail: String,
    },
    #[error("TLS failure talking to {url} (query `{query}`): {detail}")]
    Tls {
        url: String,
        query: String,
        detail: String,
    },
    #[error("no answer from {url} within {timeout_secs:.1} s (query `{query}`)")]
    Timeout {
        url: String,
        query: String,
        timeout_secs: f64,
    },
    /// Prometheus answered with its error envelope (`errorType`, `error`).
    #[error("Prometheus at {url} rejected query `{query}` (HTTP {status}, {error_type}): {error}")]
    Api {
        url: String,
        query: String,
        status: u16,
        error_type: String,
        error: String,
    },
    #[error("HTTP {status} from {url} (query `{query}`): {snippet}")]
    Http {
        url: String,
        query: String,
        status: u16,
        snippet: String,
    },
    #[error("{url} did not answer JSON (query `{query}`): {detail}; body starts `{snippet}`")]
    NotJson {
        url: String,
        query: String,
        detail: String,
        snippet: String,
    },
    #[error("unexpected JSON from {url} (query `{query}`): {detail}")]
    Shape {
        url: String,
        query: String,
        detail: String,
    },
    #[error(
        "query `{query}` at {url} returned a {found} result; expected a matrix (a range query)"
    )]
    ResultType {
        url: String,
        query: String,
        found: String,
    },
    #[error("request to {url} failed (query `{query}`): {detail}")]
    Request {
        url: String,
        query: String,
        detail: String,
    },
    #[error("environment variable {variable} (named by prometheus.{key}) is not set")]
    MissingSecret { variable: String, key: String },
    #[error("cannot use CA file {path}: {detail}")]
    CaFile { path: String, detail: String },
    #[error("invalid prometheus setting: {detail}")]
    Setup { detail: String },
    #[error("the fetched data do not form a frame: {0}")]
    Frame(#[from] crate::data::DataError),
    /// A series of a multi-series query without an entity label.
    #[error(
        "metric `{metric}` (query `{query}`) returned the series {series} without the entity \
         label `{label}`; every series of a query needs the labels in fleet.entity_labels \
         (add `by ({label})` to the query's aggregation, or change fleet.entity_labels)"
    )]
    EntityLabel {
        metric: String,
        query: String,
        label: String,
        series: String,
    },
}

impl IngestError {
    /// Failures worth another try: the server may come up, or get less busy.
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestError::ConnectionRefused { .. } | IngestError::Timeout { .. } => true,
            IngestError::Api { status, .. } | IngestError::Http { status, .. } => {
                matches!(*status, 502..=504)
            }
            _ => false,
        }
    }
}

/// Bounded exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No new attempt starts after this much time since the first.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_total: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before attempt `attempt + 1`: base·2^attempt, capped, with
    /// ±50 % jitter so many clients do not retry in step.
    fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let exponential = self.base_delay.saturating_mul(1 << attempt.min(16));
        let capped = exponential.min(self.max_delay);
        capped.mul_f64(0.5 + rng.uniform())
    }
}

/// What one range query returned, and how many HTTP requests it took.
#[derive(Debug, Clone, Default)]
pub struct QueryOutcome {
    pub result: RangeResult,
    pub requests: usize,
}

/// Every configured metric over one range, merged.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub frame: MetricFrame,
    pub range: TimeRange,
    pub absent_points: Vec<usize>,
    /// Prometheus' warnings and infos, and queries that returned nothing,
    /// each prefixed with the metric name.
    pub warnings: Vec<String>,
    pub requests: usize,
}

/// A Prometheus HTTP API client. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct PromClient {
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
    retry: RetryPolicy,
}

impl PromClient {
    /// Builds the client: headers, basic auth or bearer token (read from the
    /// environment variables the config names), CA file, timeout.
    pub fn new(config: &PrometheusConfig) -> Result<Self, IngestError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| IngestError::Setup {
                detail: format!("header name `{name}`: {e}"),
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|e| IngestError::Setup {
                detail: format!("header `{name}`: {e}"),
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let secret = |variable: &str, key: &str| {
            std::env::var(variable).map_err(|_| IngestError::MissingSecret {
                variable: variable.to_owned(),
                key: key.to_owned(),
            })
        };
        let authorization = if let Some(auth) = &config.basic_auth {
            let password = secret(&auth.password_env, "basic_auth.password_env")?;
            Some(format!(
                "Basic {}",
                base64_encode(format!("{}:{password}", auth.username).as_bytes())
            ))
        } else if let Some(variable) = &config.bearer_token_env {
            Some(format!("Bearer {}", secret(variable, "bearer_token_env")?))
        } else {
            None
        };
        if let Some(authorization) = authorization {
            let mut value =
                HeaderValue::from_str(&authorization).map_err(|e| IngestError::Setup {
                    detail: format!("authorization secret is not a valid header value: {e}"),
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("pulsewatch/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(config.tls.insecure_skip_verify);
        if let Some(path) = &config.tls.ca_file {
            let ca_error = |detail: String| IngestError::CaFile {
                path: path.display().to_string(),
                detail,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ca_error(format!("not a PEM certificate bundle: {e}")))?;
            if certs.is_empty() {
                return Err(ca_error("no certificates in the file".to_owned()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| IngestError::Setup {
            detail: error_chain(&e),
        })?;
        Ok(Self {
            http,
            base_url: config.base_url.clone(),
            timeout: config.timeout,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn query_range_url(&self) -> String {
        format!("{}/api/v1/query_range", self.base_url)
    }

    /// One range query over `range`, split into chunks of at most 11,000
    /// points and stitched, each chunk retried per the policy.
    pub async fn query_range(
        &self,
        query: &str,
        range: TimeRange,
    ) -> Result<QueryOutcome, IngestError> {
        let mut outcome = QueryOutcome::default();
        // Series by label set, so stitching chunks is linear in the series.
        let mut index: std::collections::HashMap<
            std::collections::BTreeMap<String, String>,
            usize,
        > = std::collections::HashMap::new();
        for chunk in range.chunks() {
            let (result, requests) = self.query_chunk_with_retries(query, chunk).await?;
            outcome.requests += requests;
            outcome.result.warnings.extend(result.warnings);
            outcome.result.infos.extend(result.infos);
            for series in result.series {
                match index.get(&series.labels) {
                    Some(&at) => outcome.result.series[at].samples.extend(series.samples),
                    None => {
                        index.insert(series.labels.clone(), outcome.result.series.len());
                        outcome.result.series.push(series);
                    }
                }
            }
        }
        Ok(outcome)
    }

    async fn query_chunk_with_retries(
        &self,
        query: &str,
        chunk: TimeRange,
    ) -> Result<(RangeResult, usize), IngestError> {
        let started = Instant::now();
        let mut rng = Rng::new(crate::clock::now_ms() as u64);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.query_chunk(query, chunk).await {
                Ok(result) => return Ok((result, attempt as usize)),
                Err(error) => {
                    let delay = self.retry.delay(attempt - 1, &mut rng);
                    let out_of_time = started.elapsed() + delay > self.retry.max_total;
                    if !error.is_retryable() || attempt >= self.retry.max_attempts || out_of_time {
                        return Err(error);
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn query_chunk(&self, query: &str, chunk: TimeRange) -> Result<RangeResult, IngestError> {
        let url = self.query_range_url();
        let params = [
            ("query", query.to_owned()),
            ("start", format_seconds(chunk.start_ms)),
            ("end", format_seconds(chunk.end_ms)),
            ("step", format_seconds(chunk.step_ms)),
        ];
        let encoded_len: usize = params.iter().map(|(k, v)| k.len() + v.len() * 3 + 2).sum();
        let request = if encoded_len > MAX_GET_QUERY_BYTES {
            self.http.post(&url).form(&params)
        } else {
            self.http.get(&url).query(&params)
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.classify(e, &url, query))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.classify(e, &url, query))?;
        match parse_range_body(&body) {
            Ok(result) if status.is_success() => Ok(result),
            Ok(_) => Err(IngestError::Http {
                url,
                query: query.to_owned(),
                status: status.as_u16(),
                snippet: response::snippet(&body),
            }),
            Err(problem) => Err(self.body_error(problem, status, &body, url, query)),
        }
    }

    fn body_error(
        &self,
        problem: BodyProblem,
        status: StatusCode,
        body: &[u8],
        url: String,
        query: &str,
    ) -> IngestError {
        let query = query.to_owned();
        match problem {
            BodyProblem::ApiError { error_type, error } => IngestError::Api {
                url,
                query,
                status: status.as_u16(),
                error_type,
                error,
            },
            // An error page that is not Prometheus' JSON: report the status.
            _ if !status.is_success() => IngestError::Http {
                url,
                query,
                status: status.as_u16(),
                snippet: response::snippet(body),
            },
            BodyProblem::NotJson { detail, snippet } => IngestError::NotJson {
                url,
                query,
                detail,
                snippet,
            },
            BodyProblem::Shape { detail } => IngestError::Shape { url, query, detail },
            BodyProblem::ResultType { found } => IngestError::ResultType { url, query, found },
        }
    }

    fn classify(&self, error: reqwest::Error, url: &str, query: &str) -> IngestError {
        let url = url.to_owned();
        let query = query.to_owned();
        let chain = error_chain(&error);
        let refused = {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            let mut found = false;
            while let Some(e) = source {
                if let Some(io) = e.downcast_ref::<std::io::Error>()
                    && io.kind() == std::io::ErrorKind::ConnectionRefused
                {
                    found = true;
                }
                source = e.source();
            }
            found
        };
        let lower = chain.to_lowercase();
        if error.is_timeout() || lower.contains("timed out") {
            IngestError::Timeout {
                url,
                query,
                timeout_secs: self.timeout.as_secs_f64(),
            }
        } else if refused || lower.contains("connection refused") {
            IngestError::ConnectionRefused { url, query }
        } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
            IngestError::Dns {
                url,
                query,
                detail: chain,
            }
        } else if ["certificate", "tls", "handshake", "corrupt message", "alert", "ssl"]
            .iter()
            .any(|needle| lower.contains(needle))
            // Any other failure to connect to an https URL happened in TLS.
            || (url.starts_with("https://") && error.is_connect())
        {
            IngestError::Tls {
                url,
                query,
                detail: chain,
            }
        } else {
            IngestError::Request {
                url,
                query,
                detail: chain,
            }
        }
    }

    /// Runs every metric's query over `range` concurrently and merges them;
    /// every series of a multi-series query must carry `entity_labels`.
    pub async fn fetch_metrics(
        &self,
        metrics: &[MetricQuery],
        range: TimeRange,
        entity_labels: &[String],
    ) -> Result<Fetched, IngestError> {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, metric) in metrics.iter().enumerate() {
            let client = self.clone();
            let query = metric.query.clone();
            tasks.spawn(async move { (index, client.query_range(&query, range).await) });
        }
        let mut outcomes: Vec<Option<QueryOutcome>> = vec![None; metrics.len()];
        // The error reported is the first metric's in config order, not
        // whichever query happened to fail first: the same message every time.
        let mut first_error: Option<(usize, IngestError)> = None;
        while let Some(joined) = tasks.join_next().await {
            let (index, outcome) = joined.map_err(|e| IngestError::Setup {
                detail: format!("query task failed: {e}"),
            })?;
            match outcome {
                Ok(outcome) => outcomes[index] = Some(outcome),
                Err(error) => {
                    if first_error.as_ref().is_none_or(|(first, _)| index < *first) {
                        first_error = Some((index, error));
                    }
                }
            }
        }
        if let Some((_, error)) = first_error {
            return Err(error);
        }
        let mut warnings = Vec::new();
        let mut requests = 0;
        let mut results = Vec::with_capacity(metrics.len());
        for (metric, outcome) in metrics.iter().zip(outcomes) {
            let outcome = outcome.unwrap_or_default();
            requests += outcome.requests;
            for w in outcome.result.warnings {
                warnings.push(format!("{}: {w}", metric.name));
            }
            for i in outcome.result.infos {
                warnings.push(format!("{}: info: {i}", metric.name));
            }
            results.push(QueryAnswer {
                metric: metric.name.clone(),
                query: metric.query.clone(),
                series: outcome.result.series,
            });
        }
        let merged = merge(&range, &results, entity_labels).map_err(|problem| match problem {
            MergeProblem::Frame(error) => IngestError::Frame(error),
            MergeProblem::EntityLabel(m) => IngestError::EntityLabel {
                metric: m.metric,
                query: m.query,
                label: m.label,
                series: m.series,
            },
        })?;
        for name in &merged.empty_queries {
            warnings.push(format!("{name}: the query returned no series"));
        }
        Ok(Fetched {
            frame: merged.frame,
            range,
            absent_points: merged.absent_points,
            warnings,
            requests,
        })
    }
}

/// Live mode's state: the newest sample it has, so each refresh asks only
/// for what is new.
#[derive(Debug, Clone, Default)]
pub struct IncrementalCursor {
    pub last_ms: Option<i64>,
}

impl IncrementalCursor {
    /// The range the next refresh should request, if anything is new.
    pub fn next_range(&self, now_ms: i64, window: Duration, step: Duration) -> Option<TimeRange> {
        TimeRange::incremental(self.last_ms, now_ms, window, step)
    }

    /// Records a fetch: the cursor moves to the newest grid point that had
    /// any sample (points not yet scraped are asked for again next time).
    pub fn advance(&mut self, fetched: &Fetched) {
        let frame = &fetched.frame;
        let newest = (0..frame.len())
            .rev()
            .find(|&row| frame.columns().iter().any(|c| !c[row].is_nan()));
        if let Some(row) = newest {
            self.last_ms = Some(frame.timestamps_ms()[row]);
        }
    }
}

/// Seconds as Prometheus reads them ("1700000000", "1700000000.5").
fn format_seconds(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{:.3}", ms as f64 / 1000.0)
    }
}

/// An error and all its causes on one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"bob:s3cret"), "Ym9iOnMzY3JldA==");
    }

    #[test]
    fn seconds_are_formatted_for_prometheus() {
        assert_eq!(format_seconds(1_700_000_000_000), "1700000000");
        assert_eq!(format_seconds(30_000), "30");
        assert_eq!(format_seconds(1_500), "1.500");
    }

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        let policy = RetryPolicy::default();
        let mut rng = Rng::new(1);
        for attempt in 0..10 {
            let d = policy.delay(attempt, &mut rng);
            let nominal = policy
                .base_delay
                .saturating_mul(1 << attempt)
                .min(policy.max_delay);
            assert!(
                d >= nominal.mul_f64(0.5) && d <= nominal.mul_f64(1.5),
                "{attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let e = |status| IngestError::Http {
            url: String::new(),
            query: String::new(),
            status,
            snippet: String::new(),
        };
        assert!(e(503).is_retryable());
        assert!(!e(400).is_retryable());
        assert!(!e(422).is_retryable());
        let api = IngestError::Api {
            url: String::new(),
            query: String::new(),
            status: 400,
            error_type: "bad_data".into(),
            error: String::new(),
        };
        assert!(!api.is_retryable());
    }
}
