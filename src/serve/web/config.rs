//! The web config file (`--web.config.file`) in the format of Prometheus'
//! exporter-toolkit, so the file written for node_exporter works here:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt        # relative to this file's directory
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   client_ca_file: ca.crt
//!   min_version: TLS12
//! http_server_config:
//!   headers: { Strict-Transport-Security: max-age=31536000 }
//! basic_auth_users:
//!   prometheus: $2y$10$…         # bcrypt
//! ```
//!
//! Parsing is pure: the text to a [`WebSpec`] with every path resolved and
//! every hash checked; reading the certificates is [`super::tls`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::WebError;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_ca: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Where a PEM comes from: a file (re-read when the file changes) or the
/// config's own text.
#[derive(Debug, Clone, PartialEq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

/// Whether and how clients must show a certificate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default).
    None,
    /// `VerifyClientCertIfGiven`: checked against the CA when shown.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`.
    Require,
}

/// TLS protocol versions rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsSpec {
    pub cert: Pem,
    pub key: Pem,
    pub client_auth: ClientAuth,
    pub client_ca: Option<Pem>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// `prefer_server_cipher_suites` (exporter-toolkit's default: true).
    pub prefer_server_order: bool,
}

/// The whole file, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebSpec {
    pub tls: Option<TlsSpec>,
    /// User name to bcrypt hash.
    pub users: BTreeMap<String, String>,
    /// Added to every response.
    pub headers: Vec<(String, String)>,
}

/// The response headers exporter-toolkit lets the file set (others are
/// refused there too, so the same file means the same here).
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// Parses the file's text; `path` names it in errors and relative paths
/// are resolved against its directory.
pub fn parse(text: &str, path: &Path) -> Result<WebSpec, WebError> {
    let invalid = |field: &str, message: String| WebError::Config {
        path: path.to_owned(),
        line: 0,
        field: field.to_owned(),
        message,
    };
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig::default()
    } else {
        serde_saphyr::from_str(text).map_err(|error| {
            let line = error.location().map(|l| l.line()).unwrap_or(0);
            let rendered = error.without_snippet().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            let message = match first.rfind(" at line ") {
                Some(at) => first[..at].to_owned(),
                None => first.to_owned(),
            };
            WebError::Config {
                path: path.to_owned(),
                line,
                field: String::new(),
                message,
            }
        })?
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut spec = WebSpec::default();
    if let Some(tls) = raw.tls_server_config {
        spec.tls = Some(tls_spec(tls, dir, &invalid)?);
    }
    if let Some(http) = raw.http_server_config {
        // HTTP/2 is negotiated by ALPN; this server speaks HTTP/1.1 only,
        // so `http2: true` (the toolkit's default) changes nothing.
        let _ = http.http2;
        for (name, value) in http.headers.unwrap_or_default() {
            let Some(known) = ALLOWED_HEADERS
                .iter()
                .find(|allowed| allowed.eq_ignore_ascii_case(&name))
            else {
                return Err(invalid(
                    &format!("http_server_config.headers.{name}"),
                    format!(
                        "not a header the file may set; one of {}",
                        ALLOWED_HEADERS.join(", ")
                    ),
                ));
            };
            if value.contains(['\r', '\n']) || value.is_empty() {
                return Err(invalid(
                    &format!("http_server_config.headers.{name}"),
                    "the value must be one non-empty line".into(),
                ));
            }
            spec.headers.push(((*known).to_owned(), value));
        }
    }
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        let field = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            return Err(invalid(
                &field,
                "a user name must be non-empty and hold no ':'".into(),
            ));
        }
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(invalid(
                &field,
                "expected a bcrypt hash ($2a$, $2b$ or $2y$…, as `htpasswd -nbB` or \
                 `python3 -c 'import bcrypt; …'` write)"
                    .into(),
            ));
        }
        spec.users.insert(user, hash);
    }
    Ok(spec)
}

fn tls_spec(
    raw: RawTls,
    dir: &Path,
    invalid: &dyn Fn(&str, String) -> WebError,
) -> Result<TlsSpec, WebError> {
    let field = |name: &str| format!("tls_server_config.{name}");
    let pem = |file: Option<String>,
               inline: Option<String>,
               file_field: &str,
               inline_field: &str| {
        match (file, inline) {
            (Some(_), Some(_)) => Err(invalid(
                &field(file_field),
                format!("give {file_field} or {inline_field}, not both"),
            )),
            (Some(file), None) if !file.trim().is_empty() => Ok(Some(Pem::File(dir.join(file)))),
            (None, Some(text)) if !text.trim().is_empty() => Ok(Some(Pem::Inline(text))),
            _ => Ok(None),
        }
    };
    let cert = pem(raw.cert_file, raw.cert, "cert_file", "cert")?;
    let key = pem(raw.key_file, raw.key, "key_file", "key")?;
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, _) => {
            return Err(invalid(
                &field("cert_file"),
                "missing: TLS needs a certificate (cert_file) and its key (key_file)".into(),
            ));
        }
        (_, None) => {
            return Err(invalid(
                &field("key_file"),
                "missing: TLS needs the certificate's private key".into(),
            ));
        }
    };
    let client_ca = pem(
        raw.client_ca_file,
        raw.client_ca,
        "client_ca_file",
        "client_ca",
    )?;
    let client_auth = match raw.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::Require,
        other @ ("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(invalid(
                &field("client_auth_type"),
                format!(
                    "{other} accepts certificates nobody verified and is not supported; use \
                     VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
                ),
            ));
        }
        other => {
            return Err(invalid(
                &field("client_auth_type"),
                format!(
                    "unknown value {other:?}; expected NoClientCert, VerifyClientCertIfGiven or \
                     RequireAndVerifyClientCert"
                ),
            ));
        }
    };
    if client_auth != ClientAuth::None && client_ca.is_none() {
        return Err(invalid(
            &field("client_ca_file"),
            "missing: verifying client certificates needs the CA that signs them".into(),
        ));
    }
    if raw.client_allowed_sans.is_some_and(|sans| !sans.is_empty()) {
        return Err(invalid(
            &field("client_allowed_sans"),
            "not supported: any certificate the client CA signed is accepted".into(),
        ));
    }
    for (name, list) in [
        ("cipher_suites", raw.cipher_suites),
        ("curve_preferences", raw.curve_preferences),
    ] {
        if list.is_some_and(|l| !l.is_empty()) {
            return Err(invalid(
                &field(name),
                "not supported: the TLS library offers only modern suites and curves; remove \
                 the list"
                    .into(),
            ));
        }
    }
    let version = |text: Option<String>, name: &str, default: TlsVersion| match text.as_deref() {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(TlsVersion::Tls12),
        Some("TLS13") => Ok(TlsVersion::Tls13),
        Some(old @ ("TLS10" | "TLS11")) => Err(invalid(
            &field(name),
            format!("{old} is not offered (insecure); use TLS12 or TLS13"),
        )),
        Some(other) => Err(invalid(
            &field(name),
            format!("unknown version {other:?}; expected TLS12 or TLS13"),
        )),
    };
    let min_version = version(raw.min_version, "min_version", TlsVersion::Tls12)?;
    let max_version = version(raw.max_version, "max_version", TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err(invalid(
            &field("max_version"),
            "is below min_version".into(),
        ));
    }
    Ok(TlsSpec {
        cert,
        key,
        client_auth,
        client_ca,
        min_version,
        max_version,
        prefer_server_order: raw.prefer_server_cipher_suites.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lowest cost keeps the test fast.
    fn hash() -> String {
        bcrypt::hash("secret", 4).expect("hash")
    }

    fn path() -> PathBuf {
        PathBuf::from("/etc/pulsewatch/web.yml")
    }

    fn error_of(text: &str) -> String {
        parse(text, &path()).expect_err("should fail").to_string()
    }

    #[test]
    fn an_empty_file_asks_for_nothing() {
        assert_eq!(parse("", &path()).expect("empty"), WebSpec::default());
    }

    #[test]
    fn a_node_exporter_file_is_read_with_paths_beside_it() {
        let hash = hash();
        let text = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /keys/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             min_version: TLS13\nhttp_server_config:\n  http2: true\n  headers:\n    \
             x-frame-options: deny\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        );
        let spec = parse(&text, &path()).expect("valid");
        let tls = spec.tls.expect("tls");
        assert_eq!(tls.cert, Pem::File("/etc/pulsewatch/server.crt".into()));
        assert_eq!(tls.key, Pem::File("/keys/server.key".into()));
        assert_eq!(
            tls.client_ca,
            Some(Pem::File("/etc/pulsewatch/ca.crt".into()))
        );
        assert_eq!(tls.client_auth, ClientAuth::Require);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert_eq!(
            spec.headers,
            vec![("X-Frame-Options".into(), "deny".into())]
        );
        assert_eq!(
            spec.users.get("prometheus").map(String::as_str),
            Some(hash.as_str())
        );
    }

    #[test]
    fn mistakes_name_the_file_and_the_field() {
        let error = error_of("basic_auth_users:\n  alice: hunter2\n");
        assert!(error.contains("/etc/pulsewatch/web.yml"), "{error}");
        assert!(error.contains("basic_auth_users.alice"), "{error}");
        assert!(error.contains("bcrypt"), "{error}");

        let error = error_of("tls_server_config:\n  cert_file: a.crt\n");
        assert!(error.contains("tls_server_config.key_file"), "{error}");

        let error =
            error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n");
        assert!(
            error.contains("min_version") && error.contains("TLS12"),
            "{error}"
        );

        let error = error_of(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
        );
        assert!(error.contains("client_ca_file"), "{error}");

        let error = error_of("http_server_config:\n  headers:\n    Set-Cookie: x\n");
        assert!(
            error.contains("Set-Cookie") && error.contains("Strict-Transport-Security"),
            "{error}"
        );

        let error = error_of("tls_config:\n  cert_file: a\n");
        assert!(
            error.contains("tls_config") && error.contains(":1"),
            "{error}"
        );
    }
}
