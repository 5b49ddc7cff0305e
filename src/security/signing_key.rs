//! The JWT signing key: where it comes from, when it is too weak to serve with, and a fresh
//! one for `osapi config init` or a first start.
//!
//! A key anyone can read (the example's) or guess (a short one) lets whoever reaches the
//! API sign an admin token. On loopback only local users reach it, so such a key still
//! starts with a warning; on any other address the controller refuses to start.
//!
//! With `signing_key` empty the key is read from `signing_key_file`; when that is empty too,
//! from `credentials/signing.key` beside the NATS store dir, which the first start creates
//! with a fresh key (mode 0600). Generating rather than refusing is what an appliance's
//! operator expects: `osapi start` works securely with no secret to invent, and `osapi
//! token generate` on the same host (same config, same directory) finds the same key.

use std::path::PathBuf;

use super::{credentials_dir, random_bytes, secret_file, SecurityError};
use crate::config::Config;

/// The demo key printed in `osapi.yaml.example`: public, so never a secret.
pub const EXAMPLE_SIGNING_KEY: &str =
    "8c1f2a7e5b9d4c3f6a0e1b2d7c8f9a3e4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e";

/// The shortest key accepted on a reachable address, in bytes (HS256's own output size).
pub const MIN_KEY_BYTES: usize = 32;

/// The config key every message names.
pub const KEY: &str = "controller.api.security.signing_key";

/// What makes a key unfit to serve with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// The key printed in `osapi.yaml.example`.
    Example,
    /// Shorter than [`MIN_KEY_BYTES`]; the length in bytes.
    Short(usize),
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Example => write!(f, "holds the example key printed in osapi.yaml.example"),
            Self::Short(n) => write!(f, "is {n} bytes long, shorter than {MIN_KEY_BYTES}"),
        }
    }
}

/// Why `key` is unfit to serve with, if it is.
pub fn weakness(key: &str) -> Option<Weakness> {
    if key == EXAMPLE_SIGNING_KEY {
        Some(Weakness::Example)
    } else if key.len() < MIN_KEY_BYTES {
        Some(Weakness::Short(key.len()))
    } else {
        None
    }
}

/// Whether a listen address is reachable from this host only. Anything not literally a
/// loopback address (or `localhost`) counts as reachable: a name may resolve elsewhere.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A fresh key: 32 random bytes as 64 hex digits (the string's bytes are the HMAC key).
pub fn generate() -> Result<String, SecurityError> {
    let bytes: [u8; 32] = random_bytes()?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The file the key is read from when `signing_key` is empty, and whether the operator
/// named it (`signing_key_file`) rather than osapi choosing it.
pub fn key_file(config: &Config) -> (PathBuf, bool) {
    match config.controller.api.security.signing_key_file.trim() {
        "" => (credentials_dir(config).join("signing.key"), false),
        named => (PathBuf::from(named), true),
    }
}

/// For the commands that sign or check tokens locally (`osapi token`): fills `signing_key`
/// from its file when it is empty and the file exists. Never generates one: a key made
/// here would sign tokens no controller accepts.
pub fn load(config: &mut Config) -> Result<(), SecurityError> {
    if !config.controller.api.security.signing_key.trim().is_empty() {
        return Ok(());
    }
    let (path, _) = key_file(config);
    if let Some(key) = secret_file::read(&path)? {
        config.controller.api.security.signing_key = key;
    }
    Ok(())
}

/// For the commands that serve the API: fills `signing_key` from its file, generating the
/// default file on first start, then refuses a weak key on a reachable address (a warning
/// on loopback). A file the operator named must exist: a key invented in its place would
/// differ from the one their other controllers use.
pub fn prepare(config: &mut Config) -> Result<(), SecurityError> {
    if config.controller.api.security.signing_key.trim().is_empty() {
        let (path, named) = key_file(config);
        let key = if named {
            secret_file::read(&path)?.ok_or_else(|| {
                SecurityError::file("read", &path, std::io::ErrorKind::NotFound.into())
            })?
        } else {
            let (key, created) = secret_file::read_or_create(&path, generate)?;
            if created {
                tracing::info!(
                    path = %path.display(),
                    "{KEY} is empty: generated a signing key (mode 0600); `osapi token \
                     generate` with this config and working directory uses it too"
                );
            }
            key
        };
        if key.is_empty() {
            return Err(SecurityError::EmptyFile {
                path,
                hint: "write a key into it (`openssl rand -hex 32`)",
            });
        }
        config.controller.api.security.signing_key = key;
    }
    let api = &config.controller.api;
    match weakness(&api.security.signing_key) {
        None => Ok(()),
        Some(weakness) if is_loopback(&api.host) => {
            tracing::warn!(
                "{KEY} {weakness}: accepted only because the API listens on {} (this host); \
                 replace it before listening anywhere else (`osapi config init` writes a \
                 config with a fresh key)",
                api.host
            );
            Ok(())
        }
        Some(weakness) => Err(SecurityError::WeakKey {
            key: KEY,
            weakness,
            host: api.host.clone(),
        }),
    }
}

/// The example config with a fresh key in place of the demo one: what `osapi config init`
/// writes. Every comment of the example stays, so the file documents itself.
pub fn fresh_config(example: &str) -> Result<String, SecurityError> {
    const DEMO_NOTE: &str =
        "# EXAMPLE ONLY: replace it with the output of `openssl rand -hex 32` before real use.";
    const FRESH_NOTE: &str =
        "# Generated by `osapi config init`: keep this file private (it is mode 0600).";
    let key = generate()?;
    Ok(example
        .replacen(DEMO_NOTE, FRESH_NOTE, 1)
        .replacen(EXAMPLE_SIGNING_KEY, &key, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const EXAMPLE: &str = include_str!("../../osapi.yaml.example");

    fn config(key: &str, host: &str) -> Config {
        let mut c = Config::default();
        c.controller.api.security.signing_key = key.into();
        c.controller.api.host = host.into();
        c
    }

    #[test]
    fn the_example_prints_the_known_key() {
        let c = Config::from_yaml_and_env(EXAMPLE, Path::new("x"), []).expect("example");
        assert_eq!(c.controller.api.security.signing_key, EXAMPLE_SIGNING_KEY);
    }

    #[test]
    fn weak_keys_are_refused_on_reachable_addresses_only() {
        let strong = "k".repeat(MIN_KEY_BYTES);
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"] {
            for key in [EXAMPLE_SIGNING_KEY, "short", strong.as_str()] {
                assert!(prepare(&mut config(key, host)).is_ok(), "{host} {key}");
            }
        }
        for host in ["0.0.0.0", "::", "192.0.2.1", "api.example.com", ""] {
            assert!(prepare(&mut config(&strong, host)).is_ok(), "{host}");
            let err = prepare(&mut config(EXAMPLE_SIGNING_KEY, host))
                .expect_err("the example key on a reachable address")
                .to_string();
            assert!(err.contains(KEY), "{err}");
            assert!(err.contains("example key"), "{err}");
            assert!(err.contains("osapi config init"), "{err}");
            let err = prepare(&mut config("0123456789", host))
                .expect_err("a short key on a reachable address")
                .to_string();
            assert!(err.contains("10 bytes long, shorter than 32"), "{err}");
        }
    }

    #[test]
    fn an_empty_key_is_generated_once_into_the_credentials_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config("", "0.0.0.0");
        c.nats.server.store_dir = dir.path().join("js").to_string_lossy().into_owned();
        prepare(&mut c).expect("generated");
        let key = c.controller.api.security.signing_key.clone();
        assert_eq!(key.len(), 64);
        assert!(weakness(&key).is_none());
        let path = dir.path().join("credentials/signing.key");
        assert_eq!(
            std::fs::read_to_string(&path).expect("key file").trim(),
            key
        );
        // Later starts and the token commands read the same key.
        let mut again = c.clone();
        again.controller.api.security.signing_key.clear();
        prepare(&mut again).expect("read back");
        assert_eq!(again.controller.api.security.signing_key, key);
        let mut tokens = c.clone();
        tokens.controller.api.security.signing_key.clear();
        load(&mut tokens).expect("load");
        assert_eq!(tokens.controller.api.security.signing_key, key);
    }

    #[test]
    fn a_named_key_file_must_exist_and_hold_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwt.key");
        let mut c = config("", "127.0.0.1");
        c.controller.api.security.signing_key_file = path.to_string_lossy().into_owned();
        let err = prepare(&mut c.clone()).expect_err("missing").to_string();
        assert!(err.contains("jwt.key"), "{err}");
        std::fs::write(&path, "\n").expect("write");
        let err = prepare(&mut c.clone()).expect_err("empty").to_string();
        assert!(err.contains("is empty"), "{err}");
        std::fs::write(&path, format!("{}\n", "s".repeat(40))).expect("write");
        prepare(&mut c).expect("read");
        assert_eq!(c.controller.api.security.signing_key, "s".repeat(40));
    }

    #[test]
    fn fresh_config_replaces_the_demo_key_and_its_note() {
        let text = fresh_config(EXAMPLE).expect("fresh");
        assert!(!text.contains(EXAMPLE_SIGNING_KEY));
        assert!(!text.contains("EXAMPLE ONLY"), "the demo note is replaced");
        assert!(text.contains("Generated by `osapi config init`"));
        let mut c = Config::from_yaml_and_env(&text, Path::new("x"), []).expect("loads");
        assert_eq!(c.controller.api.security.signing_key.len(), 64);
        c.controller.api.host = "0.0.0.0".into();
        prepare(&mut c).expect("fit to serve anywhere");
        assert_ne!(
            fresh_config(EXAMPLE).expect("fresh"),
            text,
            "a new key each time"
        );
    }
}
