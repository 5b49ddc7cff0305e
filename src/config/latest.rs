//! Keys the latest original added to `osapi.yaml` (head-api.md §4), so that its config
//! files load here unchanged.
//!
//! They are typed like every other key (so a bad value names its key and `OSAPI_*`
//! overrides cover them), but most of their features are not built yet: each such key is
//! listed in [`NOT_BUILT`], and a config that sets one loads with one warning naming it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, BucketConfig, StorageKind};

/// Why the PKI keys do nothing yet.
const NO_PKI: &str = "agent enrollment and PKI are not built; agents are trusted as they connect";
/// Why the audit stream keys do nothing.
const AUDIT_IN_KV: &str =
    "the audit log is the KV bucket nats.audit.bucket, kept for nats.audit.ttl";

/// Every key of the latest original that loads but whose feature osapi does not have yet,
/// with the reason given in its warning. Remove a key from here when its feature lands.
pub(super) const NOT_BUILT: &[(&str, &str)] = &[
    ("controller.pki.enabled", NO_PKI),
    ("controller.pki.key_dir", NO_PKI),
    ("controller.pki.auto_accept", NO_PKI),
    ("controller.pki.rotation_grace_period", NO_PKI),
    ("agent.pki.enabled", NO_PKI),
    ("agent.pki.key_dir", NO_PKI),
    (
        "agent.privilege_escalation.enabled",
        "the agent runs its commands as itself, never through sudo",
    ),
    ("nats.enrollment.bucket", NO_PKI),
    ("nats.enrollment.storage", NO_PKI),
    ("nats.enrollment.replicas", NO_PKI),
    ("nats.audit.stream", AUDIT_IN_KV),
    ("nats.audit.subject", AUDIT_IN_KV),
    ("nats.audit.max_age", AUDIT_IN_KV),
];

/// Where the PKI key pairs live by default.
const DEFAULT_KEY_DIR: &str = "/etc/osapi/pki";

/// `controller.ui`: the embedded web UI of the latest original.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Serve the dashboard; true when unset, as in the latest original.
    pub enabled: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `controller.pki`: the controller's key pair and enrollment policy (not built yet).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerPkiConfig {
    /// Create the enrollment bucket and the controller key pair.
    pub enabled: bool,
    /// Holds `controller.key` and `controller.pub`.
    pub key_dir: String,
    /// Accept every enrollment request as soon as it is stored.
    pub auto_accept: bool,
    /// Unused by the latest original too; kept so that its files load.
    #[serde(with = "duration")]
    pub rotation_grace_period: Duration,
}

impl Default for ControllerPkiConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            key_dir: DEFAULT_KEY_DIR.into(),
            auto_accept: false,
            rotation_grace_period: Duration::from_secs(24 * 3600),
        }
    }
}

/// `agent.pki`: the agent's key pair (not built yet).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentPkiConfig {
    /// Load or generate a key pair and enroll with the controller.
    pub enabled: bool,
    /// Holds `agent.key`, `agent.pub` and the received `controller.pub`.
    pub key_dir: String,
}

impl Default for AgentPkiConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            key_dir: DEFAULT_KEY_DIR.into(),
        }
    }
}

/// `agent.privilege_escalation`: run mutating commands through `sudo` (not built yet).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivilegeEscalationConfig {
    /// Prefix mutating commands with `sudo` after a startup preflight.
    pub enabled: bool,
}

/// `nats.enrollment`: the pending-enrollment bucket (not built yet).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrollmentConfig {
    /// Bucket name, namespaced like the others.
    pub bucket: String,
    /// Storage of the bucket.
    pub storage: StorageKind,
    /// Replicas of the bucket.
    pub replicas: usize,
}

impl Default for EnrollmentConfig {
    fn default() -> Self {
        Self {
            bucket: "agent-enrollment".into(),
            storage: StorageKind::File,
            replicas: 1,
        }
    }
}

/// `nats.audit` of both generations: the seed era's KV bucket, which osapi uses, beside
/// the latest original's stream keys, which load but are not used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// KV bucket of the audit log; empty disables auditing.
    pub bucket: String,
    /// The latest original's audit stream (not built: the log stays in `bucket`).
    pub stream: String,
    /// How long entries are kept; zero keeps them for ever.
    #[serde(with = "duration")]
    pub ttl: Duration,
    /// Size limit; zero means unlimited.
    pub max_bytes: i64,
    /// Storage of the bucket.
    pub storage: StorageKind,
    /// Replicas of the bucket.
    pub replicas: usize,
    /// The latest original's audit subject (not built).
    pub subject: String,
    /// The latest original's stream age limit (not built: `ttl` applies).
    #[serde(with = "duration")]
    pub max_age: Duration,
}

impl AuditConfig {
    /// The bucket this config describes, as every other bucket is created.
    pub fn kv(&self) -> BucketConfig {
        BucketConfig {
            bucket: self.bucket.clone(),
            ttl: self.ttl,
            max_bytes: self.max_bytes,
            storage: self.storage,
            replicas: self.replicas,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        let kv = BucketConfig::new("audit-log", Duration::from_secs(720 * 3600), 52_428_800);
        Self {
            bucket: kv.bucket,
            ttl: kv.ttl,
            max_bytes: kv.max_bytes,
            storage: kv.storage,
            replicas: kv.replicas,
            // The latest original has no defaults for these (an empty stream disables
            // its audit); nothing reads them here.
            stream: String::new(),
            subject: String::new(),
            max_age: Duration::ZERO,
        }
    }
}
