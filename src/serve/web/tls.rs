//! The TLS side of the web config: a rustls server configuration from a
//! [`TlsSpec`] (the aws-lc-rs provider reqwest already uses), with the
//! certificate, key and client CA read from their PEM files.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::WebError;
use super::config::{ClientAuth, Pem, TlsSpec, TlsVersion};

/// The bytes of a PEM and what to call it in errors.
fn read_pem(pem: &Pem, field: &str) -> Result<(Vec<u8>, String), WebError> {
    match pem {
        Pem::File(path) => std::fs::read(path)
            .map(|bytes| (bytes, path.display().to_string()))
            .map_err(|source| WebError::Read {
                path: path.clone(),
                source,
            }),
        Pem::Inline(text) => Ok((
            text.as_bytes().to_vec(),
            format!("tls_server_config.{field}"),
        )),
    }
}

fn certificates(pem: &Pem, field: &str) -> Result<Vec<CertificateDer<'static>>, WebError> {
    let (bytes, name) = read_pem(pem, field)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| WebError::Tls {
            what: name.clone(),
            message: format!("not a PEM certificate: {error}"),
        })?;
    if certs.is_empty() {
        return Err(WebError::Tls {
            what: name,
            message: "holds no certificate (expected -----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certs)
}

/// A rustls server configuration as `spec` says, speaking HTTP/1.1.
pub fn server_config(spec: &TlsSpec) -> Result<Arc<rustls::ServerConfig>, WebError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls_error = |what: &str, error: rustls::Error| WebError::Tls {
        what: what.to_owned(),
        message: error.to_string(),
    };
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (spec.min_version..=spec.max_version).contains(version))
    .map(|(_, supported)| supported)
    .collect();
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| tls_error("tls_server_config.min_version", e))?;
    let builder = match (&spec.client_auth, &spec.client_ca) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(ca)) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca, "client_ca")? {
                roots
                    .add(cert)
                    .map_err(|e| tls_error("tls_server_config.client_ca_file", e))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = match auth {
                ClientAuth::VerifyIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|e| WebError::Tls {
                what: "tls_server_config.client_ca_file".into(),
                message: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let certs = certificates(&spec.cert, "cert")?;
    let (key_bytes, key_name) = read_pem(&spec.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|error| WebError::Tls {
        what: key_name.clone(),
        message: format!("not a PEM private key (PKCS#8, PKCS#1 or SEC1): {error}"),
    })?;
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(&key_name, e))?;
    config.ignore_client_order = spec.prefer_server_order;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
