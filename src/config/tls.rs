//! The `tls` blocks (osapi extension): the API's certificate, the embedded nats-server's,
//! and what each NATS client and the CLI trust. Empty paths mean no TLS; the files are
//! read when a component starts (`security::tls`), where a bad one is an error naming its
//! key.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `controller.api.tls`: with both files set the API serves HTTPS only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiTls {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: String,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
}

impl ApiTls {
    /// Whether the API serves HTTPS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

/// `nats.server.tls`: the supervised nats-server's certificate; with both files set it
/// accepts TLS connections only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsServerTls {
    pub cert_file: String,
    pub key_file: String,
    /// CA certificates client certificates must chain to; set, every client must present
    /// one (mutual TLS). Empty: clients are not asked for one.
    pub ca_file: String,
}

impl NatsServerTls {
    /// Whether the server requires TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

/// `controller.nats.tls` / `agent.nats.tls`: set, the connection requires TLS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsClientTls {
    /// CA certificates the server's certificate must chain to. Empty: the system's roots.
    pub ca_file: String,
    /// This client's certificate, for a server that asks for one (mutual TLS).
    pub cert_file: String,
    pub key_file: String,
}

impl NatsClientTls {
    /// Whether the connection requires TLS.
    pub fn enabled(&self) -> bool {
        !(self.ca_file.is_empty() && self.cert_file.is_empty())
    }
}

/// `controller.client.tls`: what `osapi client` trusts for an `https://` URL.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTls {
    /// CA certificates the API's certificate may chain to, besides the built-in roots
    /// (also: --ca-file).
    pub ca_file: String,
}

/// A certificate and its key go together: one without the other is an error naming the
/// one missing.
pub(super) fn check_pair(section: &str, cert: &str, key: &str) -> Result<(), ConfigError> {
    match (cert.is_empty(), key.is_empty()) {
        (false, true) => Err(ConfigError::key(
            format!("{section}.key_file"),
            format!("is required with {section}.cert_file (the certificate's private key)"),
        )),
        (true, false) => Err(ConfigError::key(
            format!("{section}.cert_file"),
            format!("is required with {section}.key_file (the key's certificate)"),
        )),
        _ => Ok(()),
    }
}

/// Checks every `tls` block's combinations (not the files: they are read at start).
pub(super) fn validate(config: &super::Config) -> Result<(), ConfigError> {
    let api = &config.controller.api.tls;
    check_pair("controller.api.tls", &api.cert_file, &api.key_file)?;
    let server = &config.nats.server.tls;
    check_pair("nats.server.tls", &server.cert_file, &server.key_file)?;
    if !server.ca_file.is_empty() && server.cert_file.is_empty() {
        return Err(ConfigError::key(
            "nats.server.tls.ca_file",
            "needs nats.server.tls.cert_file and key_file: client certificates are checked \
             only on TLS connections",
        ));
    }
    for (section, tls) in [
        ("controller.nats.tls", &config.controller.nats.tls),
        ("agent.nats.tls", &config.agent.nats.tls),
    ] {
        check_pair(section, &tls.cert_file, &tls.key_file)?;
    }
    Ok(())
}
