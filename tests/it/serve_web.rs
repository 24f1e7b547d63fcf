//! `serve`'s HTTP side as a network sees it: TLS and basic auth from a
//! node_exporter-style web config file (certificates made by `openssl`
//! for the test, a real Prometheus scraping over mutual TLS with a
//! password), the file reloaded when it changes, the refusal to open
//! `POST /train` to a network, and the server's limits: idle and
//! half-sent requests beside scrapes, a too-large head, keep-alive.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::serve::{start_scraping_prometheus, start_serve, wait_for};
use crate::support::{REFUSING_PORT, get_json, http};

/// A serve config whose Prometheus refuses connections: the HTTP side
/// answers all the same (not ready, fetch errors counted).
fn offline_config(home: &Path) -> std::path::PathBuf {
    let config = home.join("serve.yml");
    std::fs::write(
        &config,
        format!(
            "prometheus:\n  url: http://127.0.0.1:{REFUSING_PORT}\n  step: 2s\n  window: 5m\n\
             metrics:\n  up: 'up'\ndashboard:\n  refresh_interval: 1\nlstm_model:\n  \
             save_path: {}\n  device: cpu\n",
            home.join("model").display()
        ),
    )
    .expect("config");
    config
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package `openssl`)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate,
/// all signed by it, in `dir` (`ca.crt`, `server.crt/key`,
/// `client.crt/key`).
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=pulsewatch test CA",
    ]);
    openssl(dir, &ca);
    for (name, usage, san) in [
        ("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
        ("client", "clientAuth", "DNS:prometheus"),
    ] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\nsubjectAltName={san}\n"),
        )
        .expect("ext");
        let (key, csr, crt, ext, subject) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
            format!("/CN={name}"),
        );
        let mut request = vec!["req"];
        request.extend(ec);
        request.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(dir, &request);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// `pulsewatch hash-password --cost 4` (the lowest cost keeps tests fast).
fn hash(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pulsewatch"))
        .args(["hash-password", "--cost", "4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("hash-password");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(hash.starts_with("$2"), "{hash}");
    hash
}

fn write_web_config(path: &Path, user: &str, hash: &str) {
    let text = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
         basic_auth_users:\n  {user}: '{hash}'\n"
    );
    // Renamed into place, as an editor or a config manager does.
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).expect("web config");
    std::fs::rename(&temp, path).expect("rename");
}

/// What a request came back with: the status and the
/// `WWW-Authenticate` and `X-Content-Type-Options` headers, or the error.
type Answer = Result<(u16, Option<String>, Option<String>), String>;

fn get(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Answer {
    runtime.block_on(async {
        let mut request = client.get(url);
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| format!("{e:?}"))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok((
            response.status().as_u16(),
            header("www-authenticate"),
            header("x-content-type-options"),
        ))
    })
}

#[test]
fn serve_speaks_mutual_tls_and_basic_auth_from_a_node_exporter_web_config() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path();
    make_certificates(dir);
    let web_config = dir.join("web.yml");
    write_web_config(&web_config, "prom", &hash("s3cret"));
    let config = offline_config(dir);
    let web_flag = web_config.display().to_string();
    let (_serve, port) = start_serve(dir, &config, &["--web.config.file", &web_flag]);
    let url = format!("https://127.0.0.1:{port}/metrics");

    let read = |name: &str| std::fs::read(dir.join(name)).expect("pem");
    let ca = reqwest::Certificate::from_pem(&read("ca.crt")).expect("ca");
    let identity = reqwest::Identity::from_pem(&[read("client.crt"), read("client.key")].concat())
        .expect("identity");
    let with_cert = reqwest::Client::builder()
        .add_root_certificate(ca.clone())
        .identity(identity)
        .build()
        .expect("client");
    let without_cert = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let untrusting = reqwest::Client::builder()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .build()
        .expect("client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // The right client, the right password.
    let answer = get(&runtime, &with_cert, &url, Some(("prom", "s3cret")));
    assert_eq!(answer, Ok((200, None, Some("nosniff".into()))));
    // No password, a wrong one, an unknown user: 401 with a challenge.
    for auth in [None, Some(("prom", "wrong")), Some(("eve", "s3cret"))] {
        let answer = get(&runtime, &with_cert, &url, auth);
        assert_eq!(
            answer,
            Ok((
                401,
                Some("Basic realm=\"pulsewatch\"".into()),
                Some("nosniff".into())
            )),
            "{auth:?}"
        );
    }
    // No client certificate: the handshake fails.
    assert!(get(&runtime, &without_cert, &url, Some(("prom", "s3cret"))).is_err());
    // A client that does not trust the CA refuses the server.
    let refused = get(&runtime, &untrusting, &url, Some(("prom", "s3cret")));
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("ertificate")),
        "{refused:?}"
    );
    // Plain HTTP to the TLS port gets no answer.
    assert_eq!(http(port, "GET", "/healthz"), None);

    // A real Prometheus scrapes it over mutual TLS with the password.
    let (_prometheus, prom_port) = start_scraping_prometheus(
        &dir.join("prom"),
        &format!(
            "    scheme: https\n    tls_config:\n      ca_file: {d}/ca.crt\n      \
             cert_file: {d}/client.crt\n      key_file: {d}/client.key\n    basic_auth:\n      \
             username: prom\n      password: s3cret\n    static_configs:\n      \
             - targets: ['127.0.0.1:{port}']\n",
            d = dir.display()
        ),
    );
    let mut scraped = None;
    wait_for("Prometheus to scrape serve over TLS", || {
        scraped = get_json(
            prom_port,
            "/api/v1/query?query=pulsewatch_series%7Bjob%3D%22pulsewatch%22%2Cstate%3D%22followed%22%7D",
        )
        .and_then(|v| v["data"]["result"][0]["value"][1].as_str().map(str::to_owned));
        scraped.is_some()
    });
    assert_eq!(
        scraped.as_deref(),
        Some("0"),
        "nothing fetched from a refusing Prometheus"
    );

    // The file changes: the old password stops working, the new one works,
    // without a restart.
    write_web_config(&web_config, "prom", &hash("rotated"));
    wait_for("the web config to be reloaded", || {
        get(&runtime, &with_cert, &url, Some(("prom", "s3cret"))).is_ok_and(|a| a.0 == 401)
    });
    assert_eq!(
        get(&runtime, &with_cert, &url, Some(("prom", "rotated"))).map(|a| a.0),
        Ok(200)
    );
    // A broken edit keeps the last good config, and the log says why.
    std::fs::write(&web_config, "basic_auth_users:\n  prom: plain-text\n").expect("write");
    let log = dir.join(format!("serve-{port}.log"));
    wait_for("the broken edit to be reported", || {
        std::fs::read_to_string(&log)
            .is_ok_and(|log| log.contains("basic_auth_users.prom") && log.contains("keeping"))
    });
    assert_eq!(
        get(&runtime, &with_cert, &url, Some(("prom", "rotated"))).map(|a| a.0),
        Ok(200)
    );
}

/// `pulsewatch --config CONFIG serve ARGS…` run to its end: (exit code, stderr).
fn serve_exit(home: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pulsewatch"))
        .args(["--config", offline_config(home).to_str().expect("utf-8")])
        .arg("serve")
        .args(["--history", home.join("h.sqlite").to_str().expect("utf-8")])
        .args(args)
        .env("HOME", home)
        .output()
        .expect("serve");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_an_open_train_on_a_network_address_and_bad_web_configs() {
    let home = tempfile::tempdir().expect("tempdir");
    let (code, stderr) = serve_exit(home.path(), &["--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("--web.allow-unauthenticated-train"),
        "{stderr}"
    );

    let web = home.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
    )
    .expect("write");
    let (code, stderr) = serve_exit(
        home.path(),
        &["--web.config.file", web.to_str().expect("utf-8")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&home.path().join("missing").display().to_string()),
        "{stderr}"
    );

    std::fs::write(&web, "basic_auth_users:\n  prom: hunter2\n").expect("write");
    let (code, stderr) = serve_exit(
        home.path(),
        &["--web.config.file", web.to_str().expect("utf-8")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("web.yml")
            && stderr.contains("basic_auth_users.prom")
            && stderr.contains("bcrypt"),
        "{stderr}"
    );
}

/// Reads one response from a keep-alive connection: (status, body).
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let (status, _, body) = read_raw_response(stream);
    (status, String::from_utf8(body).expect("utf-8"))
}

/// Reads one response: (status, head, body bytes).
fn read_raw_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("utf-8");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("body");
    (status, head, body)
}

#[test]
fn serve_answers_beside_200_idle_clients_and_keeps_its_limits() {
    let home = tempfile::tempdir().expect("tempdir");
    let config = offline_config(home.path());
    let (_serve, port) = start_serve(home.path(), &config, &[]);
    wait_for("/healthz", || {
        http(port, "GET", "/healthz").is_some_and(|(s, _)| s == 200)
    });

    // 100 clients that connect and say nothing, 100 that send half a head.
    let mut idle: Vec<TcpStream> = (0..200)
        .map(|i| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            if i % 2 == 1 {
                stream
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                    .expect("half a head");
            }
            stream
        })
        .collect();
    // Scrapes and probes beside them (the old server answered 503 past 16).
    for _ in 0..20 {
        assert_eq!(http(port, "GET", "/healthz").map(|(s, _)| s), Some(200));
        let (status, body) = http(port, "GET", "/metrics").expect("metrics");
        assert_eq!(status, 200);
        assert!(
            body.contains("pulsewatch_series{state=\"followed\"}"),
            "{body}"
        );
    }

    // Keep-alive: two requests on one connection.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    for path in ["/healthz", "/readyz"] {
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
    }
    assert_eq!(read_response(&mut stream), (200, "ok\n".into()));
    let (status, body) = read_response(&mut stream);
    assert_eq!(status, 503);
    assert!(body.starts_with("not ready"), "{body}");

    // gzip, as Prometheus asks for it.
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n"
    )
    .expect("request");
    let (status, head, body) = read_raw_response(&mut stream);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_string(&mut text)
        .expect("gzip");
    assert!(
        text.contains("pulsewatch_series{state=\"followed\"}"),
        "{text}"
    );

    // A head larger than the limit: 431, not a read without end.
    let mut big = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    big.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let filler = "a".repeat(32 * 1024);
    let _ = write!(
        big,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {filler}\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = big.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.80}");

    // The idle clients are closed by the server once the head read times
    // out: each read ends (EOF or reset), none waits out its own timeout.
    for stream in idle.iter_mut().step_by(25) {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(error) => assert!(
                !matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "an idle client was never closed: {error}"
            ),
        }
    }
}
