//! Secure defaults (see `docs/security.md`): the JWT signing key (refused when weak and
//! reachable, generated when absent), the NKeys osapi generates for its embedded NATS with
//! one set of permissions per role, and the private files both live in.
//!
//! Everything osapi generates lives in one directory, `credentials/` beside
//! `nats.server.store_dir` (`.nats/credentials/` with the example config):
//!
//! | file | what |
//! |---|---|
//! | `signing.key` | the JWT signing key, when `controller.api.security.signing_key` is empty |
//! | `controller.nk` | the controller's NKey seed (also osapi's own setup connection) |
//! | `agent-<host>.nk` | one agent's NKey seed (`<host>` sanitised as in subjects) |
//! | `job.nk` | the controller's job-signing seed, when the config names none |
//! | `job.pub` | the controller keys agents on this host trust ([`job_keys`]) |
//!
//! The directory is 0700 and every file 0600; a file found readable by others is used,
//! with a warning.

pub mod job_keys;
pub mod nats_auth;
mod secret_file;
pub mod signed;
pub mod signing_key;
pub mod tls;

pub use secret_file::write_private;

use std::path::{Path, PathBuf};

use crate::config::Config;

/// A secret could not be read, generated or accepted. Messages name the key or file and
/// the fix.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(
        "config key `{key}` {weakness}, and the API listens on {host}, which other hosts can \
         reach: anyone could sign an admin token with it. Put a key of your own there \
         (`osapi config init <path>` writes a config with a fresh one; or `openssl rand -hex \
         32`), or set controller.api.host to 127.0.0.1"
    )]
    WeakKey {
        key: &'static str,
        weakness: signing_key::Weakness,
        host: String,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is empty: {hint}", path.display())]
    EmptyFile { path: PathBuf, hint: &'static str },
    #[error("{} exists; pass --force to replace it", path.display())]
    Exists { path: PathBuf },
    #[error("cannot generate a key: {0}")]
    Random(String),
    #[error("{} does not hold an NKey seed ({reason}): delete it to have a new one generated", path.display())]
    BadSeed { path: PathBuf, reason: String },
}

impl SecurityError {
    fn file(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::File {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// The directory of everything osapi generates: `credentials/` beside
/// `nats.server.store_dir`. Relative, like the store dir, to the working directory, so
/// processes started from one directory with one config find the same files.
pub fn credentials_dir(config: &Config) -> PathBuf {
    let store = Path::new(config.nats.server.store_dir.trim());
    store.parent().unwrap_or(Path::new(".")).join("credentials")
}

/// `n` bytes from the operating system's random source.
fn random_bytes<const N: usize>() -> Result<[u8; N], SecurityError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SecurityError::Random(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_live_beside_the_store_dir() {
        let mut c = Config::default();
        assert_eq!(credentials_dir(&c), Path::new(".nats/credentials"));
        c.nats.server.store_dir = "/var/lib/osapi/jetstream".into();
        assert_eq!(credentials_dir(&c), Path::new("/var/lib/osapi/credentials"));
        c.nats.server.store_dir = "js".into();
        assert_eq!(credentials_dir(&c), Path::new("credentials"));
    }
}
