//! Ingestion faults a real Prometheus cannot be made to show on demand,
//! against a scripted local server: slowness, 503 then 200, HTML, truncated
//! JSON, a vector result; plus headers, auth, path prefixes and POST.

use std::time::Duration;

use pulsewatch::config::Config;
use pulsewatch::ingest::{IngestError, PromClient, RetryPolicy, TimeRange};

use crate::fake_http::{FakeServer, MATRIX_OK, Reply};

fn client(url: &str, extra: &str) -> PromClient {
    let config =
        Config::from_yaml_str(&format!("prometheus:\n  url: {url}\n{extra}"), "t.yml").unwrap();
    PromClient::new(&config.prometheus)
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
            max_total: Duration::from_secs(10),
        })
}

fn range() -> TimeRange {
    TimeRange::aligned(
        1_700_000_010_000,
        1_700_000_040_000,
        Duration::from_secs(30),
    )
    .unwrap()
}

#[tokio::test]
async fn a_slow_server_hits_the_timeout() {
    let server = FakeServer::start(vec![Reply {
        delay: Duration::from_secs(3),
        ..Reply::json(200, MATRIX_OK)
    }]);
    let client = client(&server.url, "  timeout: 300ms\n").with_retry(RetryPolicy::none());
    let error = client.query_range("up", range()).await.unwrap_err();
    assert!(matches!(error, IngestError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("within 0.3 s"), "{error}");
}

#[tokio::test]
async fn a_503_is_retried_and_then_succeeds() {
    let server = FakeServer::start(vec![
        Reply::json(
            503,
            r#"{"status":"error","errorType":"unavailable","error":"starting up"}"#,
        ),
        Reply::json(200, MATRIX_OK),
    ]);
    let outcome = client(&server.url, "")
        .query_range("up", range())
        .await
        .unwrap();
    assert_eq!(outcome.requests, 2);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        outcome.result.series[0].samples,
        [(1_700_000_000_000, 1.0), (1_700_000_030_000, 2.0)]
    );
}

#[tokio::test]
async fn retries_are_bounded_and_400_is_never_retried() {
    let always_503 = FakeServer::start(vec![Reply::json(503, "busy")]);
    let error = client(&always_503.url, "")
        .query_range("up", range())
        .await
        .unwrap_err();
    assert!(
        matches!(error, IngestError::Http { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(always_503.requests().len(), 3);

    let bad = FakeServer::start(vec![Reply::json(
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\""}"#,
    )]);
    let error = client(&bad.url, "")
        .query_range("up", range())
        .await
        .unwrap_err();
    assert!(
        matches!(error, IngestError::Api { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(bad.requests().len(), 1);
    let unprocessable = FakeServer::start(vec![Reply::json(
        422,
        r#"{"status":"error","errorType":"execution","error":"many-to-many matching"}"#,
    )]);
    let error = client(&unprocessable.url, "")
        .query_range("up", range())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "Prometheus at {}/api/v1/query_range rejected query `up` (HTTP 422, execution): \
             many-to-many matching",
            unprocessable.url
        )
    );
    assert_eq!(unprocessable.requests().len(), 1);
}

#[tokio::test]
async fn html_truncated_json_and_vectors_are_typed_errors() {
    let html = FakeServer::start(vec![Reply {
        content_type: "text/html",
        ..Reply::json(200, "<html><body>Welcome to nginx</body></html>")
    }]);
    let error = client(&html.url, "")
        .query_range("up", range())
        .await
        .unwrap_err();
    assert!(matches!(error, IngestError::NotJson { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("body starts `<html><body>Welcome"),
        "{error}"
    );

    let truncated = FakeServer::start(vec![Reply::json(200, &MATRIX_OK[..60])]);
    let error = client(&truncated.url, "")
        .query_range("up", range())
        .await
        .unwrap_err();
    assert!(matches!(error, IngestError::NotJson { .. }), "{error:?}");

    let vector = FakeServer::start(vec![Reply::json(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
    )]);
    let error = client(&vector.url, "")
        .query_range("up", range())
        .await
        .unwrap_err();
    assert!(matches!(error, IngestError::ResultType { ref found, .. } if found == "vector"));

    let wrong_shape = FakeServer::start(vec![Reply::json(200, r#"{"status":"success"}"#)]);
    let error = client(&wrong_shape.url, "")
        .query_range("up", range())
        .await
        .unwrap_err();
    assert!(matches!(error, IngestError::Shape { .. }), "{error:?}");

    let warned = FakeServer::start(vec![Reply::json(
        200,
        r#"{"status":"success","warnings":["partial response"],"infos":["hint"],"data":{"resultType":"matrix","result":[]}}"#,
    )]);
    let outcome = client(&warned.url, "")
        .query_range("up", range())
        .await
        .unwrap();
    assert_eq!(outcome.result.warnings, ["partial response"]);
    assert_eq!(outcome.result.infos, ["hint"]);
}

#[tokio::test]
async fn prefix_headers_and_auth_reach_the_server() {
    let server = FakeServer::start(vec![Reply::json(200, MATRIX_OK)]);
    // HOME is always set: its value stands in for a password kept in the environment.
    let home = std::env::var("HOME").unwrap();
    let extra = "  headers:\n    X-Scope-OrgID: tenant-7\n  basic_auth:\n    username: bob\n    password_env: HOME\n";
    let url = format!("{}/select/0/prometheus/api/v1/query_range", server.url);
    client(&url, extra)
        .query_range("up", range())
        .await
        .unwrap();
    let request = &server.requests()[0];
    assert!(
        request.request_line.starts_with("GET /select/0/prometheus/api/v1/query_range?query=up&start=1700000010&end=1700000040&step=30 "),
        "{}",
        request.request_line
    );
    assert_eq!(request.header("x-scope-orgid"), Some("tenant-7"));
    let expected = format!("bob:{home}");
    let authorization = request.header("authorization").unwrap();
    assert!(authorization.starts_with("Basic "), "{authorization}");
    assert_eq!(decode_base64(&authorization[6..]), expected);
}

#[tokio::test]
async fn long_queries_are_posted_as_a_form() {
    let server = FakeServer::start(vec![Reply::json(200, MATRIX_OK)]);
    let query = format!("sum({})", vec!["up"; 600].join(" + "));
    client(&server.url, "")
        .query_range(&query, range())
        .await
        .unwrap();
    let request = &server.requests()[0];
    assert!(
        request
            .request_line
            .starts_with("POST /api/v1/query_range "),
        "{}",
        request.request_line
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        request.body.starts_with("query=sum%28up+%2B+up"),
        "{}",
        &request.body[..40]
    );
    assert!(
        request
            .body
            .ends_with("&start=1700000010&end=1700000040&step=30")
    );
}

#[test]
fn a_missing_secret_is_named() {
    let config = Config::from_yaml_str(
        "prometheus:\n  bearer_token_env: PULSEWATCH_TEST_TOKEN_THAT_IS_NOT_SET\n",
        "t.yml",
    )
    .unwrap();
    let error = PromClient::new(&config.prometheus).unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable PULSEWATCH_TEST_TOKEN_THAT_IS_NOT_SET (named by \
         prometheus.bearer_token_env) is not set"
    );
    let bad_ca = Config::from_yaml_str(
        "prometheus:\n  tls:\n    ca_file: /nonexistent/ca.pem\n",
        "t.yml",
    )
    .unwrap();
    let error = PromClient::new(&bad_ca.prometheus).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot use CA file /nonexistent/ca.pem"),
        "{error}"
    );
}

fn decode_base64(text: &str) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | TABLE.iter().position(|t| *t == c).unwrap() as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn an_unknown_host_is_a_dns_error() {
    // `.invalid` never resolves (RFC 2606).
    let client = client("http://pulsewatch-test.invalid:9090", "").with_retry(RetryPolicy::none());
    let error = client.query_range("up", range()).await.unwrap_err();
    assert!(matches!(error, IngestError::Dns { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with(
            "cannot resolve the host of http://pulsewatch-test.invalid:9090/api/v1/query_range \
             (query `up`)"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_error() {
    // A plain-HTTP server that answers at once, whatever arrives (here a TLS
    // ClientHello), as a web server on the wrong port would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let error = client(&url, "")
        .with_retry(RetryPolicy::none())
        .query_range("up", range())
        .await
        .unwrap_err();
    assert!(matches!(error, IngestError::Tls { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("TLS failure talking to {url}")),
        "{error}"
    );
}
