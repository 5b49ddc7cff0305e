//! A self-signed CA made in the test, with a server certificate for loopback (`localhost`,
//! `127.0.0.1`) and a client certificate, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM files of one test CA; removed with the value.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA certificate.
    pub ca: PathBuf,
    /// Server certificate (SAN `localhost`, `127.0.0.1`) and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate (for mutual TLS) and key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Pki {
    /// A fresh CA named `name` and its two certificates.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("pki dir");
        let (ca_pem, issuer) = ca(name);
        let write = |file: &str, text: &str| -> PathBuf {
            let path = dir.path().join(file);
            std::fs::write(&path, text).expect("write pem");
            path
        };
        let ca = write("ca.pem", &ca_pem);
        let (cert, key) = leaf(&issuer, ExtendedKeyUsagePurpose::ServerAuth);
        let (server_cert, server_key) = (write("server.pem", &cert), write("server.key", &key));
        let (cert, key) = leaf(&issuer, ExtendedKeyUsagePurpose::ClientAuth);
        let (client_cert, client_key) = (write("client.pem", &cert), write("client.key", &key));
        Self {
            dir,
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
        }
    }

    /// The CA certificate's PEM text.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca).expect("ca.pem")
    }

    /// A path as a config value.
    pub fn path(p: &Path) -> String {
        p.to_string_lossy().into_owned()
    }
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("ca key");
    let cert = params.self_signed(&key).expect("ca certificate");
    (cert.pem(), Issuer::new(params, key))
}

/// A certificate for loopback signed by `issuer`, and its key, as PEM.
fn leaf(issuer: &Issuer<'static, KeyPair>, usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut params =
        CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("certificate");
    (cert.pem(), key.serialize_pem())
}
