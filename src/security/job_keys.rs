//! The keys of signed jobs: the controller's job-signing key and the controller keys an
//! agent trusts (see `docs/security.md`, "Signed jobs").
//!
//! The controller signs every job record with one Ed25519 key (an operator NKey):
//! `controller.api.security.job_key` (a seed), else the file `job_key_file`, else
//! `credentials/job.nk`, generated on first start. With the generated key it also keeps
//! `credentials/job.pub`, the public keys agents on this host trust: its own key, and for
//! a grace period after a rotation the keys it used before, each line `<key> until
//! <time>`, so that records signed before the rotation still run.
//!
//! An agent trusts `agent.security.controller_keys` when set (agents on other hosts), else
//! the keys in `credentials/job.pub`, read again for every job, so a rotation reaches it
//! without a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nkeys::KeyPair;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::signed::{self, Domain, Refusal, SignError};
use super::{credentials_dir, secret_file, SecurityError};
use crate::config::Config;

const JOB_KEY: &str = "controller.api.security.job_key";

/// The controller's job-signing seed when the config names none.
pub fn default_seed(config: &Config) -> PathBuf {
    credentials_dir(config).join("job.nk")
}

/// The public keys agents on this host trust when `agent.security.controller_keys` is empty.
pub fn trusted_file(config: &Config) -> PathBuf {
    credentials_dir(config).join("job.pub")
}

/// How long a record may wait for an agent: the JOBS stream's age limit (a day by
/// default), or a week when the stream keeps messages for ever. A rotated-out key stays
/// trusted this long, and a record older than this is refused as a replay.
pub fn record_lifetime(config: &Config) -> Duration {
    match config.nats.stream.max_age {
        Duration::ZERO => Duration::from_secs(7 * 24 * 3600),
        age => age,
    }
}

/// The key the controller signs job records with.
pub struct JobSigner {
    pair: KeyPair,
}

impl std::fmt::Debug for JobSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobSigner({})", self.pair.public_key())
    }
}

impl JobSigner {
    /// The configured key; the generated one (created on first start, and published in
    /// `credentials/job.pub`) when the config names none.
    pub fn load(config: &Config) -> Result<Self, SecurityError> {
        let security = &config.controller.api.security;
        let (seed, path, generated) = match (security.job_key.trim(), security.job_key_file.trim())
        {
            ("", "") => {
                let path = default_seed(config);
                let (seed, created) = secret_file::read_or_create(&path, new_seed)?;
                if created {
                    tracing::info!(path = %path.display(), "generated the job-signing key (mode 0600)");
                }
                (seed, path, true)
            }
            ("", named) => {
                let path = PathBuf::from(named);
                let seed = secret_file::read(&path)?.ok_or_else(|| {
                    SecurityError::file("read", &path, std::io::ErrorKind::NotFound.into())
                })?;
                (seed, path, false)
            }
            (inline, _) => (inline.to_owned(), PathBuf::from(JOB_KEY), false),
        };
        let pair = KeyPair::from_seed(&seed).map_err(|e| SecurityError::BadSeed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let signer = Self { pair };
        if generated {
            let lifetime = record_lifetime(config);
            publish(&trusted_file(config), &signer.public_key(), lifetime)?;
        }
        tracing::info!(key = %signer.public_key(), "job records are signed");
        Ok(signer)
    }

    /// A signer for `seed` (tests, tools).
    pub fn from_seed(seed: &str) -> Result<Self, SecurityError> {
        KeyPair::from_seed(seed)
            .map(|pair| Self { pair })
            .map_err(|e| SecurityError::BadSeed {
                path: PathBuf::from(JOB_KEY),
                reason: e.to_string(),
            })
    }

    /// The public key agents must trust.
    pub fn public_key(&self) -> String {
        self.pair.public_key()
    }

    /// A serialised job record with its signature.
    pub fn sign_record(&self, body: &[u8]) -> Result<Vec<u8>, SignError> {
        signed::sign(&self.pair, Domain::JobRecord, body)
    }
}

/// A fresh job-signing seed.
pub fn new_seed() -> Result<String, SecurityError> {
    KeyPair::new_operator()
        .seed()
        .map_err(|e| SecurityError::Random(e.to_string()))
}

/// Writes `current` as the first line of the trusted file at `path`; a key listed there
/// before stays, marked to expire after `grace`, and expired keys go.
fn publish(path: &Path, current: &str, grace: Duration) -> Result<(), SecurityError> {
    let now = OffsetDateTime::now_utc();
    let old = secret_file::read(path)?.unwrap_or_default();
    let mut lines = vec![current.to_owned()];
    for entry in parse(&old) {
        if entry.key == current || entry.until.is_some_and(|u| u <= now) {
            continue;
        }
        let until = entry.until.unwrap_or(now + grace);
        let until = until.format(&Rfc3339).unwrap_or_default();
        lines.push(format!("{} until {until}", entry.key));
    }
    let text = format!("{}\n", lines.join("\n"));
    if text.trim() != old.trim() {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            secret_file::ensure_private_dir(dir)?;
        }
        secret_file::write_private(path, &text, true)?;
        if lines.len() > 1 {
            tracing::info!(path = %path.display(), "new job-signing key; the previous one stays trusted until its records expire");
        }
    }
    Ok(())
}

struct Entry {
    key: String,
    until: Option<OffsetDateTime>,
}

/// The lines of a trusted file: `<key>` or `<key> until <RFC 3339 time>`; `#` comments.
fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or_default().to_owned();
            let until = match (words.next(), words.next()) {
                (Some("until"), Some(t)) => {
                    Some(OffsetDateTime::parse(t, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH))
                }
                _ => None,
            };
            Entry { key, until }
        })
        .collect()
}

/// The controller keys an agent accepts job records from.
#[derive(Debug, Clone)]
pub enum TrustedKeys {
    /// `agent.security.controller_keys`.
    Listed(Vec<String>),
    /// The trusted file of this host's controller, read for every job.
    File(PathBuf),
}

impl TrustedKeys {
    /// What `config` says this agent trusts.
    pub fn from_config(config: &Config) -> Self {
        let listed: Vec<String> = config
            .agent
            .security
            .controller_keys
            .iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        if listed.is_empty() {
            Self::File(trusted_file(config))
        } else {
            Self::Listed(listed)
        }
    }

    /// The keys trusted now (an expired rotation key no longer is).
    pub fn keys(&self) -> Result<Vec<String>, Refusal> {
        let path = match self {
            Self::Listed(keys) => return Ok(keys.clone()),
            Self::File(path) => path,
        };
        let missing = || {
            Refusal::NoTrustedKey(format!(
                "set agent.security.controller_keys to the controller's public key, or run \
                 the agent beside its controller, whose first start writes {}",
                path.display()
            ))
        };
        let text = secret_file::read(path)
            .map_err(|e| Refusal::NoTrustedKey(e.to_string()))?
            .ok_or_else(missing)?;
        let now = OffsetDateTime::now_utc();
        let keys: Vec<String> = parse(&text)
            .into_iter()
            .filter(|e| e.until.is_none_or(|u| u > now))
            .map(|e| e.key)
            .collect();
        if keys.is_empty() {
            return Err(missing());
        }
        Ok(keys)
    }

    /// The signed body of a stored job record, checked against the keys trusted now.
    pub fn open_record(&self, bytes: &[u8]) -> Result<Vec<u8>, Refusal> {
        signed::open(bytes, Domain::JobRecord, &self.keys()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        let mut c = Config::default();
        c.nats.server.store_dir = dir.join("js").to_string_lossy().into_owned();
        c
    }

    #[test]
    fn the_generated_key_is_trusted_by_agents_beside_it_and_rotates_with_a_grace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config_in(dir.path());
        let trust = TrustedKeys::from_config(&c);
        assert!(matches!(trust.keys(), Err(Refusal::NoTrustedKey(_))));
        let first = JobSigner::load(&c).expect("generated");
        let again = JobSigner::load(&c).expect("read back");
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(trust.keys().expect("keys"), [first.public_key()]);
        let record = first.sign_record(br#"{"id":"j"}"#).expect("sign");
        assert_eq!(trust.open_record(&record).expect("open"), br#"{"id":"j"}"#);

        // Rotation: a new seed; the old key stays trusted for the records' lifetime.
        std::fs::remove_file(default_seed(&c)).expect("rm");
        let second = JobSigner::load(&c).expect("new key");
        assert_ne!(second.public_key(), first.public_key());
        assert_eq!(
            trust.keys().expect("keys"),
            [second.public_key(), first.public_key()]
        );
        assert!(
            trust.open_record(&record).is_ok(),
            "an old record still runs"
        );
        let text = std::fs::read_to_string(trusted_file(&c)).expect("pub");
        assert!(text.contains(" until "), "{text}");
        // Once its grace is over the old key is refused.
        let expired = format!(
            "{}\n{} until 2000-01-01T00:00:00Z\n",
            second.public_key(),
            first.public_key()
        );
        std::fs::write(trusted_file(&c), expired).expect("write");
        assert_eq!(trust.keys().expect("keys"), [second.public_key()]);
        assert_eq!(
            trust.open_record(&record),
            Err(Refusal::Untrusted(first.public_key()))
        );
    }

    #[test]
    fn listed_keys_win_and_a_named_file_must_exist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config_in(dir.path());
        c.agent.security.controller_keys = vec![" OKEY ".into()];
        assert_eq!(TrustedKeys::from_config(&c).keys().expect("keys"), ["OKEY"]);
        c.controller.api.security.job_key_file = dir.path().join("none").to_string_lossy().into();
        assert!(JobSigner::load(&c).is_err());
        c.controller.api.security.job_key = "not a seed".into();
        let err = JobSigner::load(&c).expect_err("bad seed").to_string();
        assert!(err.contains(JOB_KEY), "{err}");
        assert!(
            !trusted_file(&c).exists(),
            "only the generated key is published"
        );
    }
}
