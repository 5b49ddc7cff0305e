//! TLS from the config's `tls` blocks: PEM files read into rustls configs for the API
//! (server), NATS clients, and a check of the embedded nats-server's files before it is
//! started. Every error names the config key of the file at fault.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::config::{ApiTls, NatsClientTls, NatsServerTls};

/// A `tls` file is missing, unreadable or not what its key asks for.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("config key `{key}`: cannot read {path}: {source}")]
    Read {
        key: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config key `{key}`: {path} holds no PEM {what}")]
    Missing {
        key: String,
        path: String,
        what: &'static str,
    },
    #[error("config key `{key}`: {path} is not valid PEM: {source}")]
    Pem {
        key: String,
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("config key `{key}`: {source}")]
    Rejected {
        key: String,
        #[source]
        source: rustls::Error,
    },
    #[error("config key `{key}` is empty and the system has no CA certificates: {reason}")]
    NoRoots { key: String, reason: String },
}

/// The one crypto provider: ring, which reqwest picks too when none is installed. It is
/// installed for the process because ring and aws-lc-rs are both linked in (the latter
/// through the OTLP exporter), and rustls then picks neither by itself: async-nats, which
/// builds its own config when a server asks for TLS unasked, would panic.
pub fn provider() -> Arc<CryptoProvider> {
    if let Some(installed) = CryptoProvider::get_default() {
        return installed.clone();
    }
    // Losing a race to another thread installing it is fine: that one is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The API's server config (HTTP/1.1 only, as the accept loop speaks), or `None`
/// without `controller.api.tls`.
pub fn api_server(tls: &ApiTls) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    if !tls.enabled() {
        return Ok(None);
    }
    let key = "controller.api.tls";
    let certs = certificates(&format!("{key}.cert_file"), &tls.cert_file)?;
    let private = private_key(&format!("{key}.key_file"), &tls.key_file)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, private))
        .map_err(|source| TlsError::Rejected {
            key: format!("{key}.key_file"),
            source,
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// A NATS client's config from `<section>.tls` (`controller.nats`, `agent.nats`), or
/// `None` when that block is empty.
pub fn nats_client(tls: &NatsClientTls, section: &str) -> Result<Option<ClientConfig>, TlsError> {
    if !tls.enabled() {
        return Ok(None);
    }
    let roots = roots(&format!("{section}.tls.ca_file"), &tls.ca_file)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rejected {
            key: format!("{section}.tls"),
            source,
        })?
        .with_root_certificates(roots);
    if tls.cert_file.is_empty() {
        return Ok(Some(builder.with_no_client_auth()));
    }
    let certs = certificates(&format!("{section}.tls.cert_file"), &tls.cert_file)?;
    let private = private_key(&format!("{section}.tls.key_file"), &tls.key_file)?;
    builder
        .with_client_auth_cert(certs, private)
        .map(Some)
        .map_err(|source| TlsError::Rejected {
            key: format!("{section}.tls.key_file"),
            source,
        })
}

/// Reads `nats.server.tls`'s files as nats-server will, so that a bad one stops osapi
/// with its key named rather than the server with a line in its log.
pub fn check_nats_server(tls: &NatsServerTls) -> Result<(), TlsError> {
    if !tls.enabled() {
        return Ok(());
    }
    let certs = certificates("nats.server.tls.cert_file", &tls.cert_file)?;
    let private = private_key("nats.server.tls.key_file", &tls.key_file)?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, private))
        .map_err(|source| TlsError::Rejected {
            key: "nats.server.tls.key_file".into(),
            source,
        })?;
    if !tls.ca_file.is_empty() {
        certificates("nats.server.tls.ca_file", &tls.ca_file)?;
    }
    Ok(())
}

/// The certificates in the PEM file at `path` (the value of `key`); at least one.
pub fn certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            key: key.to_owned(),
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            key: key.to_owned(),
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`.
fn private_key(key: &str, path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Missing {
            key: key.to_owned(),
            path: path.to_owned(),
            what: "private key",
        },
        source => TlsError::Pem {
            key: key.to_owned(),
            path: path.to_owned(),
            source,
        },
    })
}

/// The CA certificates of `path`, or the system's when it is empty.
fn roots(key: &str, path: &str) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    if path.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            let reasons: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(TlsError::NoRoots {
                key: key.to_owned(),
                reason: match reasons.is_empty() {
                    true => "none found".to_owned(),
                    false => reasons.join("; "),
                },
            });
        }
        return Ok(store);
    }
    for cert in certificates(key, path)? {
        store.add(cert).map_err(|source| TlsError::Rejected {
            key: key.to_owned(),
            source,
        })?;
    }
    Ok(store)
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key: key.to_owned(),
        path: path.to_owned(),
        source,
    })
}
