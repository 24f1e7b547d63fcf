//! The `prometheus` section: the base URL (normalized), step, window and
//! timeout, extra headers, basic auth or a bearer token (by environment
//! variable name), and TLS.

use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::Ctx;
use crate::config::duration::format_duration;
use crate::config::{BasicAuth, ConfigError, PrometheusConfig, TlsConfig};

pub(super) fn validate_prometheus(
    ctx: &Ctx,
    raw: crate::config::raw::RawPrometheus,
) -> Result<PrometheusConfig, ConfigError> {
    let base_url = match &raw.url {
        None => "http://localhost:9090".to_owned(),
        Some(spanned) => {
            normalize_url(&spanned.value).map_err(|m| ctx.err(spanned, "prometheus.url", m))?
        }
    };
    let step = ctx.duration(&raw.step, "prometheus.step", Duration::from_secs(30))?;
    let window = ctx.duration(&raw.window, "prometheus.window", Duration::from_secs(3600))?;
    if window < step
        && let Some(spanned) = &raw.window
    {
        return Err(ctx.err(
            spanned,
            "prometheus.window",
            format!(
                "window {} is shorter than step {}; expected a window of at least one step",
                format_duration(window),
                format_duration(step)
            ),
        ));
    }
    let timeout = ctx.duration(&raw.timeout, "prometheus.timeout", Duration::from_secs(10))?;

    let mut headers = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default() {
        let key = format!("prometheus.headers.{name}");
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(ctx.err(
                &value,
                &key,
                format!("`{name}` is not a valid HTTP header name"),
            ));
        }
        if value.value.contains(['\r', '\n']) {
            return Err(ctx.err(&value, &key, "header values must be one line"));
        }
        headers.push((name, value.value.clone()));
    }

    let basic_auth = match raw.basic_auth {
        None => None,
        Some(spanned) => {
            let key = "prometheus.basic_auth";
            let username = spanned.value.username.as_ref().map(|s| s.value.clone());
            let password_env = spanned.value.password_env.as_ref();
            let Some(username) = username.filter(|u| !u.is_empty()) else {
                return Err(ctx.err(&spanned, key, "missing `username`"));
            };
            let Some(password_env) = password_env else {
                return Err(ctx.err(
                    &spanned,
                    key,
                    "missing `password_env`: the name of the environment variable \
                     holding the password (passwords are never stored in the file)",
                ));
            };
            check_env_name(ctx, password_env, "prometheus.basic_auth.password_env")?;
            Some(BasicAuth {
                username,
                password_env: password_env.value.clone(),
            })
        }
    };
    let bearer_token_env = match &raw.bearer_token_env {
        None => None,
        Some(spanned) => {
            check_env_name(ctx, spanned, "prometheus.bearer_token_env")?;
            Some(spanned.value.clone())
        }
    };
    let tls_raw = raw.tls.unwrap_or_default();
    let tls = TlsConfig {
        ca_file: tls_raw
            .ca_file
            .as_ref()
            .map(|s| PathBuf::from(&s.value))
            .filter(|p| !p.as_os_str().is_empty()),
        insecure_skip_verify: tls_raw.insecure_skip_verify.is_some_and(|s| s.value),
    };
    Ok(PrometheusConfig {
        base_url,
        step,
        window,
        timeout,
        headers,
        basic_auth,
        bearer_token_env,
        tls,
    })
}

fn check_env_name(ctx: &Ctx, name: &Spanned<String>, key: &str) -> Result<(), ConfigError> {
    let value = &name.value;
    let valid = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ctx.err(
            name,
            key,
            format!(
                "`{value}` is not an environment variable name; expected the NAME of \
                 the variable that holds the secret (letters, digits, _)"
            ),
        ))
    }
}

/// Checks the scheme and host and strips `/api/v1/query_range` (the old form)
/// and trailing slashes, leaving the base URL.
pub(super) fn normalize_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "`{url}` has no scheme; expected a URL such as http://localhost:9090"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "unsupported scheme `{scheme}` in `{url}`; expected http or https"
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("`{url}` has no host; expected http://HOST[:PORT]"));
    }
    if url.contains(char::is_whitespace) {
        return Err(format!("`{url}` contains whitespace"));
    }
    let mut base = url.trim_end_matches('/');
    for suffix in ["/api/v1/query_range", "/api/v1/query", "/api/v1"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped.trim_end_matches('/');
            break;
        }
    }
    Ok(base.to_owned())
}
