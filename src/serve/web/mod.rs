//! The daemon's HTTP side: hyper's HTTP/1.1 server on tokio ([`server`]),
//! the routes ([`routes`]), and the web config file of Prometheus'
//! exporter-toolkit: TLS ([`tls`]) and basic auth ([`auth`]) as
//! node_exporter takes them ([`config`]). The file is re-read when it or a
//! PEM it names changes (certificates rotate without a restart); a broken
//! edit keeps the last good one and says why.

pub mod auth;
pub mod config;
pub(super) mod routes;
pub(super) mod server;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub use config::WebSpec;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{}: {message}", place(path, *line, field))]
    Config {
        path: PathBuf,
        line: u64,
        field: String,
        message: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {what}: {message}")]
    Tls { what: String, message: String },
    #[error(
        "refusing to serve POST /train on {address} to anyone who reaches it: give \
         --web.config.file with basic_auth_users, listen on a loopback address, or pass \
         --web.allow-unauthenticated-train to accept it"
    )]
    OpenTrain { address: std::net::SocketAddr },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the HTTP server's runtime: {source}")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
}

fn place(path: &Path, line: u64, field: &str) -> String {
    let mut out = path.display().to_string();
    if line > 0 {
        out.push_str(&format!(":{line}"));
    }
    if !field.is_empty() {
        out.push_str(&format!(": {field}"));
    }
    out
}

/// The web config in force: TLS and the users.
pub struct Web {
    pub spec: WebSpec,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub auth: Option<auth::BasicAuth>,
}

impl Web {
    /// No TLS, no auth: what serve does without `--web.config.file`.
    pub fn open() -> Self {
        Self {
            spec: WebSpec::default(),
            tls: None,
            auth: None,
        }
    }

    /// Reads the file and the PEMs it names.
    pub fn load(path: &Path) -> Result<Self, WebError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebError::Read {
            path: path.to_owned(),
            source,
        })?;
        let spec = config::parse(&text, path)?;
        let tls = spec.tls.as_ref().map(tls::server_config).transpose()?;
        let auth = (!spec.users.is_empty()).then(|| auth::BasicAuth::new(spec.users.clone()));
        Ok(Self { spec, tls, auth })
    }

    /// The files whose change means a reload: the config and its PEMs.
    fn watched(path: &Path, spec: &WebSpec) -> Vec<PathBuf> {
        let mut files = vec![path.to_owned()];
        if let Some(tls) = &spec.tls {
            for pem in [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()]
                .into_iter()
                .flatten()
            {
                if let config::Pem::File(file) = pem {
                    files.push(file.clone());
                }
            }
        }
        files
    }
}

/// How often the files are looked at, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The web config file and what was last loaded from it.
pub struct WebConfigFile {
    path: Option<PathBuf>,
    state: Mutex<Loaded>,
}

struct Loaded {
    web: Arc<Web>,
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
    checked: Instant,
    /// The last failed reload's message, said once.
    failed: Option<String>,
}

impl WebConfigFile {
    /// Loads `path` (none: open, no TLS, no auth).
    pub fn open(path: Option<&Path>) -> Result<Self, WebError> {
        let (web, stamps) = match path {
            Some(path) => {
                let web = Web::load(path)?;
                let stamps = Web::watched(path, &web.spec)
                    .into_iter()
                    .map(|file| {
                        let stamp = modified(&file);
                        (file, stamp)
                    })
                    .collect();
                (web, stamps)
            }
            None => (Web::open(), Vec::new()),
        };
        Ok(Self {
            path: path.map(Path::to_owned),
            state: Mutex::new(Loaded {
                web: Arc::new(web),
                stamps,
                checked: Instant::now(),
                failed: None,
            }),
        })
    }

    /// The config in force, re-read first when a watched file changed (at
    /// most once a second). TLS stays on or off as it started: switching
    /// it needs a restart, as with exporter-toolkit.
    pub fn current(&self) -> Arc<Web> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.path else {
            return Arc::clone(&state.web);
        };
        if state.checked.elapsed() < RELOAD_CHECK {
            return Arc::clone(&state.web);
        }
        state.checked = Instant::now();
        let changed = state
            .stamps
            .iter()
            .any(|(file, stamp)| modified(file) != *stamp);
        if !changed {
            return Arc::clone(&state.web);
        }
        let stamps: Vec<_> = state
            .stamps
            .iter()
            .map(|(file, _)| (file.clone(), modified(file)))
            .collect();
        match Web::load(path) {
            Ok(web) if web.tls.is_some() != state.web.tls.is_some() => {
                let message = format!(
                    "{}: TLS was switched {}; restart serve for that (keeping the old config)",
                    path.display(),
                    if web.tls.is_some() { "on" } else { "off" }
                );
                if state.failed.as_ref() != Some(&message) {
                    eprintln!("pulsewatch serve: {message}");
                    state.failed = Some(message);
                }
            }
            Ok(web) => {
                eprintln!("pulsewatch serve: reloaded {}", path.display());
                state.stamps = Web::watched(path, &web.spec)
                    .into_iter()
                    .map(|file| {
                        let stamp = modified(&file);
                        (file, stamp)
                    })
                    .collect();
                state.web = Arc::new(web);
                state.failed = None;
                return Arc::clone(&state.web);
            }
            Err(error) => {
                let message = format!("{error} (keeping the last good web config)");
                if state.failed.as_ref() != Some(&message) {
                    eprintln!("pulsewatch serve: {message}");
                    state.failed = Some(message);
                }
            }
        }
        // Not retried until a file changes again.
        state.stamps = stamps;
        Arc::clone(&state.web)
    }
}
