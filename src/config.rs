//! `osapi.yaml`: schema, defaults, `OSAPI_*` environment overrides and validation.
//!
//! Every key has an explicit default (the original had none, so a missing section silently
//! became zeros). Every scalar or list key can be overridden from the environment:
//! `controller.api.port` is `OSAPI_CONTROLLER_API_PORT`; lists are comma-separated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

mod inspect;
mod latest;
mod tls;

pub use inspect::{CheckReport, MASK};
pub use latest::{
    AgentPkiConfig, AuditConfig, ControllerPkiConfig, EnrollmentConfig, PrivilegeEscalationConfig,
    UiConfig,
};
pub use tls::{ApiTls, ClientTls, NatsClientTls, NatsServerTls};

/// Default location of the config file (`-f/--osapi-file`).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/osapi/osapi.yaml";

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "OSAPI_";

/// Where every listener binds unless the config says otherwise (the API, the embedded
/// NATS, the metrics servers): reaching osapi from another host is an explicit choice.
pub const LOOPBACK: &str = "127.0.0.1";

/// Why a configuration could not be loaded. Messages name the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source} (pass another file with -f/--osapi-file)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

impl ConfigError {
    fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Key {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The whole `osapi.yaml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Log at DEBUG level.
    pub debug: bool,
    pub controller: ControllerConfig,
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub agent: AgentConfig,
    /// Things worth a warning found while loading, logged once logging is set up.
    #[serde(skip)]
    pub warnings: Vec<ConfigWarning>,
}

/// A key that loaded but does nothing: one per key, logged as a warning naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigWarning {
    /// A key the original's docs list but its config never read; dropped.
    NoEffect {
        /// The key path.
        key: &'static str,
        /// Why it does nothing.
        why: &'static str,
    },
    /// A key of the latest original whose feature is not built yet; accepted, unused.
    NotBuilt {
        /// The key path.
        key: &'static str,
        /// What osapi does instead.
        why: &'static str,
    },
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoEffect { key, why } => {
                write!(f, "config key {key} has no effect ({why}); ignored")
            }
            Self::NotBuilt { key, why } => {
                write!(
                    f,
                    "config key {key} is accepted but does nothing yet: {why}"
                )
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    pub client: ClientConfig,
    pub api: ApiConfig,
    pub nats: NatsConnection,
    pub metrics: MetricsServer,
    pub notifications: NotificationsConfig,
    /// The latest original's web UI switch.
    pub ui: UiConfig,
    /// The latest original's controller PKI (not built yet).
    pub pki: ControllerPkiConfig,
}

/// Settings of `osapi client ...`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    pub url: String,
    pub security: ClientSecurity,
    /// What an `https://` URL's certificate may chain to (osapi extension).
    pub tls: ClientTls,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:8080".into(),
            security: ClientSecurity::default(),
            tls: ClientTls::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSecurity {
    pub bearer_token: String,
}

/// The REST server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Bind address (osapi extension; the original always bound all interfaces). Loopback
    /// by default: serving other hosts is an explicit choice.
    pub host: String,
    pub port: u16,
    /// How long a job-backed request waits for agents (osapi extension; 30 s in the original).
    #[serde(with = "duration")]
    pub job_timeout: Duration,
    /// Job-backed requests served at once; beyond it a request answers 503 with
    /// `Retry-After` (osapi extension).
    pub max_inflight: usize,
    /// Open client connections at once; more wait in the kernel's backlog, and at the cap
    /// the oldest connection that has not sent a request yet is closed to make room
    /// (osapi extension). Lowered at start to fit the open files limit, which the
    /// controller raises to its hard limit.
    pub max_connections: usize,
    /// Requests of any kind served at once; beyond it 503 with `Retry-After` (osapi
    /// extension).
    pub max_requests: usize,
    /// A connection must send a request's headers within this time, also while idle
    /// between keep-alive requests, or it is closed (osapi extension).
    #[serde(with = "duration")]
    pub header_timeout: Duration,
    /// Longest a request may take; more is 503 with `Retry-After`. Must exceed
    /// `job_timeout` (osapi extension).
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    pub security: ApiSecurity,
    /// The certificate the API serves HTTPS with (osapi extension); none: plain HTTP.
    pub tls: ApiTls,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            host: LOOPBACK.into(),
            port: 8080,
            job_timeout: Duration::from_secs(30),
            max_inflight: 1024,
            max_connections: 4096,
            max_requests: 2048,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            security: ApiSecurity::default(),
            tls: ApiTls::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSecurity {
    /// HMAC secret for JWTs, used as the raw bytes of the string.
    pub signing_key: String,
    /// File holding the secret, read when `signing_key` is empty (osapi extension). Empty:
    /// `credentials/signing.key` beside `nats.server.store_dir`, generated on first start.
    pub signing_key_file: String,
    pub cors: CorsConfig,
    /// Seed (an operator NKey, `SO…`) the controller signs job records with (osapi
    /// extension). Empty: `job_key_file`.
    pub job_key: String,
    /// File holding that seed (osapi extension). Empty: `credentials/job.nk` beside
    /// `nats.server.store_dir`, generated on first start.
    pub job_key_file: String,
    /// Custom roles: name -> permissions. Overrides a built-in role of the same name.
    pub roles: BTreeMap<String, RoleConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins; empty allows none.
    pub allow_origins: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleConfig {
    pub permissions: Vec<String>,
}

/// How a controller or agent connects to NATS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConnection {
    pub host: String,
    pub port: u16,
    /// Several servers of a cluster (osapi extension); when set, `host`/`port` are ignored.
    pub urls: Vec<String>,
    pub client_name: String,
    pub namespace: String,
    pub auth: NatsClientAuth,
    /// TLS to the server (osapi extension).
    pub tls: NatsClientTls,
}

impl NatsConnection {
    fn named(client_name: &str) -> Self {
        Self {
            host: "localhost".into(),
            port: 4222,
            urls: Vec::new(),
            client_name: client_name.into(),
            namespace: "osapi".into(),
            auth: NatsClientAuth::default(),
            tls: NatsClientTls::default(),
        }
    }

    /// Server URLs to connect to.
    pub fn server_urls(&self) -> Vec<String> {
        if self.urls.is_empty() {
            vec![format!("nats://{}:{}", self.host, self.port)]
        } else {
            self.urls.clone()
        }
    }
}

impl Default for NatsConnection {
    fn default() -> Self {
        Self::named("osapi")
    }
}

/// How a NATS connection authenticates, or (`nats.server.auth`) whom the server admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// osapi extension, the default. Server: NKeys osapi generates for the controller and
    /// for each agent, each limited to its role. Client: the seed generated for this role
    /// (or `nkey_file`) when it exists, else no credentials.
    #[default]
    Auto,
    /// Anyone who reaches the port may do anything: an explicit choice.
    None,
    UserPass,
    Nkey,
    /// osapi extension: a shared token.
    Token,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsClientAuth {
    #[serde(rename = "type")]
    pub kind: AuthType,
    pub username: String,
    pub password: String,
    pub token: String,
    /// Path of an NKey seed file.
    pub nkey_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsServer {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
}

impl MetricsServer {
    fn on_port(port: u16) -> Self {
        Self {
            enabled: false,
            host: LOOPBACK.into(),
            port,
        }
    }
}

impl Default for MetricsServer {
    fn default() -> Self {
        Self::on_port(9090)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    pub enabled: bool,
    /// `log` or `webhook`.
    pub notifier: String,
    /// Re-fire active conditions this often; zero disables.
    #[serde(with = "duration")]
    pub renotify_interval: Duration,
    pub webhook: WebhookConfig,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            notifier: "log".into(),
            renotify_interval: Duration::ZERO,
            webhook: WebhookConfig::default(),
        }
    }
}

/// Where the webhook notifier POSTs events (osapi extension).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(with = "duration")]
    pub timeout: Duration,
    pub retries: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            timeout: Duration::from_secs(5),
            retries: 3,
        }
    }
}

/// The `nats:` section: the embedded server and every NATS resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    pub server: NatsServerConfig,
    pub stream: StreamConfig,
    pub kv: JobKvConfig,
    pub dlq: DlqConfig,
    pub audit: AuditConfig,
    pub registry: BucketConfig,
    pub facts: BucketConfig,
    pub state: BucketConfig,
    pub objects: BucketConfig,
    pub file_state: BucketConfig,
    /// The latest original's pending-enrollment bucket (not built yet).
    pub enrollment: EnrollmentConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsServerConfig {
    pub host: String,
    pub port: u16,
    pub store_dir: String,
    pub namespace: String,
    /// Path of the `nats-server` binary (osapi extension); empty means search `PATH`.
    pub binary: String,
    pub auth: NatsServerAuth,
    pub metrics: MetricsServer,
    /// The server's certificate (osapi extension); none: plain connections.
    pub tls: NatsServerTls,
}

impl Default for NatsServerConfig {
    fn default() -> Self {
        Self {
            host: LOOPBACK.into(),
            port: 4222,
            store_dir: ".nats/jetstream/".into(),
            namespace: "osapi".into(),
            binary: String::new(),
            auth: NatsServerAuth::default(),
            metrics: MetricsServer::on_port(9092),
            tls: NatsServerTls::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsServerAuth {
    #[serde(rename = "type")]
    pub kind: AuthType,
    pub users: Vec<NatsUser>,
    pub nkeys: Vec<String>,
    pub token: String,
    /// With `auto`: agents on other hosts that get credentials too, by hostname, besides
    /// this host's own agent (osapi extension).
    pub agents: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsUser {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    #[default]
    File,
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscardKind {
    #[default]
    Old,
    New,
}

/// The JOBS notification stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    pub name: String,
    pub subjects: String,
    #[serde(with = "duration")]
    pub max_age: Duration,
    pub max_msgs: i64,
    pub storage: StorageKind,
    pub replicas: usize,
    pub discard: DiscardKind,
    /// Consumers the stream may hold: one per agent plus the shared `_any` one. Set on the
    /// stream because nats-server 2.15 caps a stream without its own limit at 1,000
    /// (osapi extension).
    pub max_consumers: i32,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            name: "JOBS".into(),
            subjects: "jobs.>".into(),
            max_age: Duration::from_secs(24 * 3600),
            max_msgs: 10_000,
            storage: StorageKind::File,
            replicas: 1,
            discard: DiscardKind::Old,
            max_consumers: 10_000,
        }
    }
}

/// The job and response buckets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobKvConfig {
    pub bucket: String,
    pub response_bucket: String,
    #[serde(with = "duration")]
    pub ttl: Duration,
    pub max_bytes: i64,
    pub storage: StorageKind,
    pub replicas: usize,
}

impl Default for JobKvConfig {
    fn default() -> Self {
        Self {
            bucket: "job-queue".into(),
            response_bucket: "job-responses".into(),
            ttl: Duration::from_secs(3600),
            max_bytes: 104_857_600,
            storage: StorageKind::File,
            replicas: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DlqConfig {
    #[serde(with = "duration")]
    pub max_age: Duration,
    pub max_msgs: i64,
    pub storage: StorageKind,
    pub replicas: usize,
}

impl Default for DlqConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_msgs: 1000,
            storage: StorageKind::File,
            replicas: 1,
        }
    }
}

/// A KV bucket or object store; an empty `bucket` disables the feature that uses it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BucketConfig {
    pub bucket: String,
    /// Zero means entries never expire.
    #[serde(with = "duration")]
    pub ttl: Duration,
    /// Zero means unlimited.
    pub max_bytes: i64,
    pub storage: StorageKind,
    pub replicas: usize,
}

impl BucketConfig {
    fn new(bucket: &str, ttl: Duration, max_bytes: i64) -> Self {
        Self {
            bucket: bucket.into(),
            ttl,
            max_bytes,
            storage: StorageKind::File,
            replicas: 1,
        }
    }
}

impl Default for BucketConfig {
    fn default() -> Self {
        Self::new("", Duration::ZERO, 0)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    pub tracing: TracingConfig,
    pub metrics: TelemetryMetrics,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    pub enabled: bool,
    /// `""`/`none`, `stdout` or `otlp`.
    pub exporter: String,
    pub otlp_endpoint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryMetrics {
    pub path: String,
}

impl Default for TelemetryMetrics {
    fn default() -> Self {
        Self {
            path: "/metrics".into(),
        }
    }
}

/// The agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub nats: NatsConnection,
    pub consumer: ConsumerConfig,
    pub queue_group: String,
    /// Identity; empty means the OS hostname.
    pub hostname: String,
    /// Jobs run at once by this agent.
    pub max_jobs: usize,
    /// Routing labels; values are dot-separated hierarchies (`web.dev.us-east`).
    pub labels: BTreeMap<String, String>,
    pub facts: FactsConfig,
    pub conditions: ConditionsConfig,
    pub process_conditions: ProcessConditionsConfig,
    pub metrics: MetricsServer,
    pub command: CommandConfig,
    /// How long in-flight jobs may run on after a stop signal (osapi extension).
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// The latest original's agent PKI (not built yet).
    pub pki: AgentPkiConfig,
    /// The latest original's `sudo` mode (not built yet).
    pub privilege_escalation: PrivilegeEscalationConfig,
    /// The Docker daemon the docker operations talk to (osapi extension).
    pub docker: DockerConfig,
    /// Whose job records the agent runs (osapi extension).
    pub security: AgentSecurity,
}

/// `agent.security`: the controller keys job records must be signed with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSecurity {
    /// Public keys (`O…`) of the controllers whose records this agent runs; two during a
    /// key rotation. Empty: the keys in `credentials/job.pub` beside
    /// `nats.server.store_dir`, which a controller on this host keeps.
    pub controller_keys: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            nats: NatsConnection::named("osapi-agent"),
            consumer: ConsumerConfig::default(),
            queue_group: "job-agents".into(),
            hostname: String::new(),
            max_jobs: 10,
            labels: BTreeMap::new(),
            facts: FactsConfig::default(),
            conditions: ConditionsConfig::default(),
            process_conditions: ProcessConditionsConfig::default(),
            metrics: MetricsServer::on_port(9091),
            command: CommandConfig::default(),
            shutdown_grace: Duration::from_secs(10),
            pki: AgentPkiConfig::default(),
            privilege_escalation: PrivilegeEscalationConfig::default(),
            security: AgentSecurity::default(),
            docker: DockerConfig::default(),
        }
    }
}

/// `agent.docker`: where the Docker Engine API listens (osapi extension; the original
/// read `DOCKER_HOST`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerConfig {
    /// The daemon's Unix socket; a host without it answers docker jobs `skipped`.
    pub socket: String,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            socket: "/var/run/docker.sock".into(),
        }
    }
}

/// Command execution on the agent (osapi extension).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandConfig {
    /// Bytes kept of each of stdout and stderr; the rest is dropped and flagged. Both
    /// together must fit in one NATS message (1 MiB by default).
    pub max_output: usize,
}

impl Default for CommandConfig {
    fn default() -> Self {
        Self {
            max_output: 256 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayKind {
    #[default]
    Instant,
    Original,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    pub name: String,
    pub max_deliver: i64,
    #[serde(with = "duration")]
    pub ack_wait: Duration,
    pub max_ack_pending: i64,
    pub replay_policy: ReplayKind,
    #[serde(with = "duration_list")]
    pub back_off: Vec<Duration>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            name: "jobs-agent".into(),
            max_deliver: 5,
            ack_wait: Duration::from_secs(120),
            max_ack_pending: 1000,
            replay_policy: ReplayKind::Instant,
            back_off: [30, 120, 300, 900, 1800]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FactsConfig {
    #[serde(with = "duration")]
    pub interval: Duration,
}

impl Default for FactsConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConditionsConfig {
    pub memory_pressure_threshold: f64,
    pub high_load_multiplier: f64,
    pub disk_pressure_threshold: f64,
}

impl Default for ConditionsConfig {
    fn default() -> Self {
        Self {
            memory_pressure_threshold: 90.0,
            high_load_multiplier: 2.0,
            disk_pressure_threshold: 90.0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessConditionsConfig {
    /// RSS in bytes; 0 disables.
    pub memory_pressure_bytes: u64,
    /// CPU percent; 0 disables.
    pub high_cpu_percent: f64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            server: NatsServerConfig::default(),
            stream: StreamConfig::default(),
            kv: JobKvConfig::default(),
            dlq: DlqConfig::default(),
            audit: AuditConfig::default(),
            registry: BucketConfig::new("agent-registry", Duration::from_secs(30), 0),
            facts: BucketConfig::new("agent-facts", Duration::from_secs(300), 0),
            state: BucketConfig::new("agent-state", Duration::ZERO, 0),
            objects: BucketConfig::new("file-objects", Duration::ZERO, 10_737_418_240),
            file_state: BucketConfig::new("file-state", Duration::ZERO, 0),
            enrollment: EnrollmentConfig::default(),
        }
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            client: ClientConfig::default(),
            api: ApiConfig::default(),
            nats: NatsConnection::named("osapi-api"),
            metrics: MetricsServer::on_port(9090),
            notifications: NotificationsConfig::default(),
            ui: UiConfig::default(),
            pki: ControllerPkiConfig::default(),
        }
    }
}

impl Config {
    /// The keys the file or environment set whose feature is not built yet, in the order
    /// of their warnings.
    pub fn not_built_keys(&self) -> Vec<&'static str> {
        self.warnings
            .iter()
            .filter_map(|w| match w {
                ConfigWarning::NotBuilt { key, .. } => Some(*key),
                ConfigWarning::NoEffect { .. } => None,
            })
            .collect()
    }

    /// Reads `path`, applies `OSAPI_*` variables from the process environment, validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml_and_env(&text, path, std::env::vars())
    }

    /// Builds a config from YAML text and environment pairs (pure; used by tests).
    pub fn from_yaml_and_env(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (merged, warnings) = prepare(text, path, env, &mut Err)?;
        Self::checked(merged, warnings, |_| None)
    }

    /// Deserialises and validates a complete config value. An error names its key, or
    /// what `rename` says set that key (a command-line flag).
    fn checked<'a>(
        value: Value,
        warnings: Vec<ConfigWarning>,
        rename: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|err| {
            let key = err.path().to_string();
            let named = rename(&key).map_or(key, str::to_owned);
            ConfigError::key(named, err.into_inner().to_string())
        })?;
        config.validate()?;
        config.warnings = warnings;
        Ok(config)
    }

    /// Applies command-line overrides: `(flag, key path, raw value)`, each parsed as its
    /// environment variable would be, then validates. Errors name the flag.
    pub fn with_overrides(self, overrides: &[(&str, &str, String)]) -> Result<Self, ConfigError> {
        if overrides.is_empty() {
            return Ok(self);
        }
        let warnings = self.warnings.clone();
        let mut value =
            serde_yaml::to_value(&self).map_err(|e| ConfigError::key("", e.to_string()))?;
        for (flag, key, raw) in overrides {
            let path: Vec<String> = key.split('.').map(str::to_owned).collect();
            apply_env(&mut value, [(env_name(&path), raw.clone())], &mut Err).map_err(|e| {
                let message = match e {
                    ConfigError::Env { message, .. } => message,
                    other => other.to_string(),
                };
                ConfigError::key(*flag, message)
            })?;
        }
        Self::checked(value, warnings, |key| {
            overrides
                .iter()
                .find(|(_, k, _)| *k == key)
                .map(|(f, ..)| *f)
        })
    }

    /// Checks that hold for every command.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_positive("agent.max_jobs", self.agent.max_jobs as i64)?;
        // The server reads zero or less as "its default", not as unlimited.
        check_positive(
            "nats.stream.max_consumers",
            self.nats.stream.max_consumers.into(),
        )?;
        let api = &self.controller.api;
        check_positive("controller.api.max_connections", api.max_connections as i64)?;
        check_positive("controller.api.max_requests", api.max_requests as i64)?;
        if api.header_timeout.is_zero() {
            return Err(ConfigError::key(
                "controller.api.header_timeout",
                "must be more than 0s (idle and slow connections would be held forever)",
            ));
        }
        if api.request_timeout <= api.job_timeout {
            return Err(ConfigError::key(
                "controller.api.request_timeout",
                format!(
                    "must be longer than controller.api.job_timeout ({}), or every job request could be cut short",
                    humantime::format_duration(api.job_timeout)
                ),
            ));
        }
        if !(1024..=400 * 1024).contains(&self.agent.command.max_output) {
            return Err(ConfigError::key(
                "agent.command.max_output",
                "must be between 1024 and 409600 bytes (stdout and stderr must fit one NATS message)",
            ));
        }
        if !self.agent.docker.socket.starts_with('/') {
            return Err(ConfigError::key(
                "agent.docker.socket",
                "must be the absolute path of the Docker daemon's Unix socket",
            ));
        }
        check_positive(
            "agent.consumer.max_deliver",
            self.agent.consumer.max_deliver,
        )?;
        if self.agent.consumer.back_off.len() as i64 > self.agent.consumer.max_deliver {
            return Err(ConfigError::key(
                "agent.consumer.back_off",
                "must not have more entries than agent.consumer.max_deliver",
            ));
        }
        for (key, value) in &self.agent.labels {
            crate::job::target::validate_label(key, value)
                .map_err(|e| ConfigError::key(format!("agent.labels.{key}"), e.to_string()))?;
        }
        let n = &self.controller.notifications;
        match n.notifier.as_str() {
            "log" => {}
            "webhook"
                if n.webhook.url.starts_with("http://")
                    || n.webhook.url.starts_with("https://") => {}
            "webhook" => {
                return Err(ConfigError::key(
                    "controller.notifications.webhook.url",
                    "must be an http:// or https:// URL when notifier is webhook",
                ))
            }
            other => {
                return Err(ConfigError::key(
                    "controller.notifications.notifier",
                    format!("{other:?} is not a notifier: use log or webhook"),
                ))
            }
        }
        let spaces = [
            ("controller.nats.namespace", &self.controller.nats.namespace),
            ("agent.nats.namespace", &self.agent.nats.namespace),
            ("nats.server.namespace", &self.nats.server.namespace),
        ];
        for (key, ns) in spaces {
            if !ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ConfigError::key(
                    key,
                    "may only contain letters, digits, '_' and '-'",
                ));
            }
        }
        tls::validate(self)?;
        for (key, bucket) in [
            ("nats.kv.bucket", &self.nats.kv.bucket),
            ("nats.kv.response_bucket", &self.nats.kv.response_bucket),
            ("nats.registry.bucket", &self.nats.registry.bucket),
            ("nats.facts.bucket", &self.nats.facts.bucket),
            ("nats.state.bucket", &self.nats.state.bucket),
            ("nats.stream.name", &self.nats.stream.name),
        ] {
            if bucket.is_empty() {
                return Err(ConfigError::key(key, "must not be empty"));
            }
        }
        Ok(())
    }

    /// The JWT signing key, or an error that says how to set it. The commands fill it from
    /// `signing_key_file` first ([`crate::security::signing_key`]).
    pub fn signing_key(&self) -> Result<&str, ConfigError> {
        non_empty(
            "controller.api.security.signing_key",
            &self.controller.api.security.signing_key,
            "generate one with `openssl rand -hex 32`, or write a config with a fresh one \
             with `osapi config init`",
        )
    }

    /// The client bearer token, or an error that says how to set it.
    pub fn bearer_token(&self) -> Result<&str, ConfigError> {
        non_empty(
            "controller.client.security.bearer_token",
            &self.controller.client.security.bearer_token,
            "create one with `osapi token generate -r admin -u <you>` and pass it with --token \
             or OSAPI_CONTROLLER_CLIENT_SECURITY_BEARER_TOKEN",
        )
    }
}

/// The file's value with the environment applied, merged over the defaults, not yet
/// deserialised, and the warnings found on the way. Each bad `OSAPI_*` variable goes to
/// `on_env_error`: loading stops at the first (`&mut Err`), `osapi config check` collects
/// them all.
fn prepare(
    text: &str,
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    on_env_error: &mut dyn FnMut(ConfigError) -> Result<(), ConfigError>,
) -> Result<(Value, Vec<ConfigWarning>), ConfigError> {
    let mut value: Value = if text.trim().is_empty() {
        Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(text).map_err(|source| ConfigError::Yaml {
            path: path.to_owned(),
            source,
        })?
    };
    if value.is_null() {
        value = Value::Mapping(Default::default());
    }
    let mut warnings = drop_documented_only_keys(&mut value);
    apply_env(&mut value, env, on_env_error)?;
    // After the environment, so that `OSAPI_CONTROLLER_PKI_ENABLED` warns as the key would.
    warnings.extend(not_built_keys_set(&mut value));
    // Merged over the defaults as values, so that a partly written section keeps the
    // defaults of the keys it leaves out (`nats.registry: {ttl: 10s}` keeps its bucket).
    let mut merged = serde_yaml::to_value(Config::default()).unwrap_or(Value::Null);
    merge(&mut merged, value);
    Ok((merged, warnings))
}

fn non_empty<'a>(key: &str, value: &'a str, hint: &str) -> Result<&'a str, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::key(key, format!("is required: {hint}")))
    } else {
        Ok(value)
    }
}

fn check_positive(key: &str, value: i64) -> Result<(), ConfigError> {
    if value < 1 {
        return Err(ConfigError::key(key, "must be at least 1"));
    }
    Ok(())
}

/// Every leaf key path of the schema (maps such as `agent.labels` excluded), with its
/// default value, derived from the defaults so that new keys are covered automatically.
fn schema_leaves() -> Vec<(Vec<String>, Value)> {
    fn walk(prefix: &mut Vec<String>, value: &Value, out: &mut Vec<(Vec<String>, Value)>) {
        match value {
            Value::Mapping(map) if !map.is_empty() => {
                for (k, v) in map {
                    if let Some(k) = k.as_str() {
                        prefix.push(k.to_owned());
                        walk(prefix, v, out);
                        prefix.pop();
                    }
                }
            }
            // Empty maps are user-keyed maps (labels, roles): not env-settable.
            Value::Mapping(_) => {}
            other => out.push((prefix.clone(), other.clone())),
        }
    }
    let defaults = serde_yaml::to_value(Config::default()).unwrap_or(Value::Null);
    let mut out = Vec::new();
    walk(&mut Vec::new(), &defaults, &mut out);
    out
}

/// Deep merge: mappings merge key by key, anything else replaces.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The environment variable name for a key path.
pub fn env_name(path: &[String]) -> String {
    format!("{ENV_PREFIX}{}", path.join("_").to_ascii_uppercase())
}

fn apply_env(
    root: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
    on_error: &mut dyn FnMut(ConfigError) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let mut env: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    alias_notification_vars(&mut env);
    if env.is_empty() {
        return Ok(());
    }
    for (path, default) in schema_leaves() {
        let var = env_name(&path);
        let Some(raw) = env.get(&var) else { continue };
        let set = parse_env_value(raw, &default).and_then(|value| set_path(root, &path, value));
        if let Err(message) = set {
            on_error(ConfigError::Env { var, message })?;
        }
    }
    Ok(())
}

/// Keys the original's docs list but its config never read: accepted, so a migrated file
/// still loads, with a warning that they do nothing.
const DOCUMENTED_ONLY_KEYS: &[(&str, &str)] = &[(
    "nats.objects.max_chunk_size",
    "the object store uses its own chunk size",
)];

/// The node at a dotted key path of a raw config value, if the file (or environment) set it.
fn node_mut<'a>(root: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    key.split('.')
        .try_fold(root, |node, part| node.get_mut(part))
}

fn drop_documented_only_keys(root: &mut Value) -> Vec<ConfigWarning> {
    DOCUMENTED_ONLY_KEYS
        .iter()
        .filter(|(key, _)| {
            let (section, leaf) = key.rsplit_once('.').unwrap_or(("", key));
            node_mut(root, section)
                .and_then(Value::as_mapping_mut)
                .and_then(|m| m.remove(leaf))
                .is_some()
        })
        .map(|&(key, why)| ConfigWarning::NoEffect { key, why })
        .collect()
}

/// One warning per key of [`latest::NOT_BUILT`] that `root` sets.
fn not_built_keys_set(root: &mut Value) -> Vec<ConfigWarning> {
    latest::NOT_BUILT
        .iter()
        .filter(|(key, _)| node_mut(root, key).is_some())
        .map(|&(key, why)| ConfigWarning::NotBuilt { key, why })
        .collect()
}

/// The original's notification docs spell the variables `OSAPI_NOTIFICATIONS_*` while
/// the keys live under `controller.notifications`: accept both, the full name winning.
fn alias_notification_vars(env: &mut BTreeMap<String, String>) {
    const SHORT: &str = "OSAPI_NOTIFICATIONS_";
    let aliases: Vec<(String, String)> = env
        .iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(SHORT)?;
            Some((format!("OSAPI_CONTROLLER_NOTIFICATIONS_{rest}"), v.clone()))
        })
        .collect();
    for (full, value) in aliases {
        env.entry(full).or_insert(value);
    }
}

fn parse_env_value(raw: &str, default: &Value) -> Result<Value, String> {
    match default {
        Value::Sequence(_) => Ok(Value::Sequence(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        _ => serde_yaml::from_str(raw).map_err(|e| format!("cannot parse {raw:?}: {e}")),
    }
}

fn set_path(root: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let mut node = root;
    for (i, key) in path.iter().enumerate() {
        if !node.is_mapping() {
            if node.is_null() {
                *node = Value::Mapping(Default::default());
            } else {
                return Err(format!(
                    "`{}` in the file is not a section",
                    path[..i].join(".")
                ));
            }
        }
        let Value::Mapping(map) = node else {
            unreachable!("ensured a mapping above")
        };
        let key = Value::String(key.clone());
        if i + 1 == path.len() {
            map.insert(key, value);
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}

/// Serde for durations written as `30s`, `1h30m`, `7d`; a bare number means seconds.
pub mod duration {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let value = Value::deserialize(d)?;
        parse_value(&value).map_err(serde::de::Error::custom)
    }

    pub(super) fn parse_value(value: &Value) -> Result<Duration, String> {
        match value {
            Value::Number(n) => n
                .as_u64()
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{n} is not a valid duration")),
            Value::String(s) => parse(s),
            Value::Null => Ok(Duration::ZERO),
            other => Err(format!("expected a duration like 30s, got {other:?}")),
        }
    }

    /// Parses `30s`, `1h30m`, `7d`, `0`.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        if s.is_empty() || s == "0" {
            return Ok(Duration::ZERO);
        }
        humantime::parse_duration(s)
            .map_err(|e| format!("{s:?} is not a duration like 30s, 5m, 1h30m or 7d ({e})"))
    }
}

/// Serde for lists of durations.
pub mod duration_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let strings: Vec<String> = list
            .iter()
            .map(|d| humantime::format_duration(*d).to_string())
            .collect();
        strings.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let values = Vec::<Value>::deserialize(d)?;
        values
            .iter()
            .map(duration::parse_value)
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_yaml_and_env(
            yaml,
            Path::new("test.yaml"),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.controller.api.port, 8080);
        assert_eq!(c.nats.registry.ttl, Duration::from_secs(30));
        assert_eq!(c.nats.dlq.max_age, Duration::from_secs(7 * 86400));
        assert_eq!(c.agent.max_jobs, 10);
        assert_eq!(c.agent.consumer.back_off.len(), 5);
        assert_eq!(c.controller.nats.client_name, "osapi-api");
        // Nothing listens beyond this host unless the config says so.
        for host in [
            &c.controller.api.host,
            &c.nats.server.host,
            &c.controller.metrics.host,
            &c.agent.metrics.host,
            &c.nats.server.metrics.host,
        ] {
            assert_eq!(host, LOOPBACK);
        }
    }

    #[test]
    fn env_overrides_nested_keys_of_every_kind() {
        let c = load(
            "controller:\n  api:\n    port: 1\n",
            &[
                ("OSAPI_CONTROLLER_API_PORT", "9999"),
                ("OSAPI_NATS_FILE_STATE_BUCKET", "fs"),
                ("OSAPI_CONTROLLER_API_SECURITY_CORS_ALLOW_ORIGINS", "a, b"),
                ("OSAPI_AGENT_CONSUMER_BACK_OFF", "1s,2s"),
                ("OSAPI_DEBUG", "true"),
                ("OSAPI_NATS_KV_TTL", "2h"),
            ],
        )
        .unwrap();
        assert_eq!(c.controller.api.port, 9999);
        assert_eq!(c.nats.file_state.bucket, "fs");
        assert_eq!(c.controller.api.security.cors.allow_origins, ["a", "b"]);
        assert_eq!(
            c.agent.consumer.back_off,
            [Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert!(c.debug);
        assert_eq!(c.nats.kv.ttl, Duration::from_secs(7200));
    }

    #[test]
    fn command_line_overrides_parse_like_the_environment_and_name_the_flag() {
        let c = Config::default()
            .with_overrides(&[
                (
                    "--consumer-back-off",
                    "agent.consumer.back_off",
                    "1s, 2s".into(),
                ),
                ("--agent-port", "agent.nats.port", "4333".into()),
                (
                    "--consumer-replay-policy",
                    "agent.consumer.replay_policy",
                    "original".into(),
                ),
            ])
            .unwrap();
        assert_eq!(
            c.agent.consumer.back_off,
            [Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!(c.agent.nats.port, 4333);
        assert_eq!(c.agent.consumer.replay_policy, ReplayKind::Original);
        let err = Config::default()
            .with_overrides(&[(
                "--consumer-ack-wait",
                "agent.consumer.ack_wait",
                "soon".into(),
            )])
            .unwrap_err();
        assert!(err.to_string().contains("--consumer-ack-wait"), "{err}");
        // Validation still runs: more back-offs than deliveries.
        let err = Config::default()
            .with_overrides(&[(
                "--consumer-max-deliver",
                "agent.consumer.max_deliver",
                "1".into(),
            )])
            .unwrap_err();
        assert!(err.to_string().contains("back_off"), "{err}");
    }

    #[test]
    fn documented_only_keys_load_with_a_warning() {
        let c = load(
            "nats:\n  objects:\n    bucket: objs\n    max_chunk_size: 262144\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.nats.objects.bucket, "objs");
        assert_eq!(
            c.warnings[0].to_string(),
            "config key nats.objects.max_chunk_size has no effect (the object store uses its \
             own chunk size); ignored"
        );
        assert!(c.not_built_keys().is_empty());
        // Any other unknown key is still an error naming it.
        let err = load("nats:\n  objects:\n    max_chunk: 1\n", &[]).unwrap_err();
        assert!(err.to_string().contains("max_chunk"), "{err}");
    }

    #[test]
    fn notification_vars_accept_the_short_spelling() {
        let c = load(
            "",
            &[
                ("OSAPI_NOTIFICATIONS_ENABLED", "true"),
                ("OSAPI_NOTIFICATIONS_RENOTIFY_INTERVAL", "30s"),
                ("OSAPI_CONTROLLER_NOTIFICATIONS_RENOTIFY_INTERVAL", "1m"),
            ],
        )
        .unwrap();
        assert!(c.controller.notifications.enabled);
        // The full name wins over the short one.
        assert_eq!(
            c.controller.notifications.renotify_interval,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn partial_sections_keep_their_other_defaults() {
        let c = load(
            "nats:\n  registry:\n    ttl: 10s\n",
            &[("OSAPI_NATS_FACTS_TTL", "1m")],
        )
        .unwrap();
        assert_eq!(c.nats.registry.bucket, "agent-registry");
        assert_eq!(c.nats.registry.ttl, Duration::from_secs(10));
        assert_eq!(c.nats.facts.bucket, "agent-facts");
        assert_eq!(c.agent.nats.client_name, "osapi-agent");
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = load("controller:\n  api:\n    port: eighty\n", &[]).unwrap_err();
        assert!(err.to_string().contains("controller.api.port"), "{err}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let err = load("", &[("OSAPI_AGENT_MAX_JOBS", "[x")]).unwrap_err();
        assert!(err.to_string().contains("OSAPI_AGENT_MAX_JOBS"), "{err}");
    }

    #[test]
    fn bad_duration_names_the_key() {
        let err = load("nats:\n  registry:\n    ttl: soon\n", &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("nats.registry.ttl"), "{text}");
        assert!(text.contains("duration"), "{text}");
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = load("controller:\n  apii: {}\n", &[]).unwrap_err();
        assert!(err.to_string().contains("apii"), "{err}");
    }

    #[test]
    fn zero_max_jobs_is_rejected() {
        let err = load("agent:\n  max_jobs: 0\n", &[]).unwrap_err();
        assert!(err.to_string().contains("agent.max_jobs"), "{err}");
    }

    #[test]
    fn missing_signing_key_says_how_to_make_one() {
        let c = load("", &[]).unwrap();
        let err = c.signing_key().unwrap_err().to_string();
        assert!(err.contains("openssl rand -hex 32"), "{err}");
    }

    #[test]
    fn example_file_loads() {
        let text = include_str!("../osapi.yaml.example");
        let c = load(text, &[]).unwrap();
        assert_eq!(c.controller.api.host, LOOPBACK);
        assert_eq!(c.nats.server.host, LOOPBACK);
        assert!(c.signing_key().is_ok());
        assert_eq!(c.warnings, [], "the example sets no key that does nothing");
    }

    #[test]
    fn the_latest_originals_config_loads_warning_once_per_unbuilt_key() {
        let text = include_str!("../tests/fixtures/head-osapi.yaml");
        let c = load(text, &[]).unwrap();
        assert_eq!(
            c.not_built_keys(),
            [
                "controller.pki.enabled",
                "controller.pki.key_dir",
                "controller.pki.auto_accept",
                "controller.pki.rotation_grace_period",
                "agent.pki.enabled",
                "agent.pki.key_dir",
                "agent.privilege_escalation.enabled",
                "nats.enrollment.bucket",
                "nats.enrollment.storage",
                "nats.enrollment.replicas",
                "nats.audit.stream",
                "nats.audit.subject",
                "nats.audit.max_age",
            ]
        );
        assert_eq!(c.warnings.len(), 13, "no other warning: {:?}", c.warnings);
        for (warning, key) in c.warnings.iter().zip(c.not_built_keys()) {
            assert!(warning
                .to_string()
                .starts_with(&format!("config key {key} ")));
        }
        // The typed values are read, and the seed-era keys beside them still apply.
        assert!(c.controller.ui.enabled);
        assert_eq!(
            c.controller.pki.rotation_grace_period,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(c.nats.enrollment.bucket, "agent-enrollment");
        assert_eq!(c.nats.audit.stream, "AUDIT");
        assert_eq!(c.nats.audit.kv().bucket, "audit-log");
        assert_eq!(c.nats.audit.kv().ttl, Duration::from_secs(720 * 3600));
        assert_eq!(c.agent.labels["group"], "web.dev.us-east");
        // Its roles list permissions of the latest original, and load.
        let auth = crate::auth::Authenticator::new(
            c.signing_key().unwrap(),
            &c.controller.api.security.roles,
        )
        .unwrap();
        let ops = auth.role_permissions("ops").unwrap();
        assert!(ops.contains(&crate::auth::Permission::ServiceWrite));
        assert!(ops.contains(&crate::auth::Permission::PowerExecute));
    }

    #[test]
    fn every_not_built_key_is_a_key_of_the_schema() {
        let leaves: Vec<String> = schema_leaves().iter().map(|(p, _)| p.join(".")).collect();
        for (key, _) in latest::NOT_BUILT {
            assert!(
                leaves.iter().any(|l| l == key),
                "{key} is not in the schema"
            );
        }
    }

    #[test]
    fn ui_enabled_is_a_typed_key_true_by_default() {
        let c = load("", &[]).unwrap();
        assert!(c.controller.ui.enabled);
        assert_eq!(c.warnings, []);
        let c = load("controller:\n  ui:\n    enabled: false\n", &[]).unwrap();
        assert!(!c.controller.ui.enabled);
        assert!(c.not_built_keys().is_empty(), "the dashboard is built");
        let err = load("controller:\n  ui:\n    enabled: maybe\n", &[]).unwrap_err();
        assert!(err.to_string().contains("controller.ui.enabled"), "{err}");
    }

    #[test]
    fn unbuilt_keys_set_from_the_environment_warn_as_well() {
        let c = load(
            "agent:\n  pki:\n    key_dir: /srv/pki\n",
            &[
                ("OSAPI_CONTROLLER_PKI_ENABLED", "true"),
                ("OSAPI_NATS_AUDIT_MAX_AGE", "1h"),
            ],
        )
        .unwrap();
        assert!(c.controller.pki.enabled);
        assert_eq!(c.nats.audit.max_age, Duration::from_secs(3600));
        assert_eq!(c.agent.pki.key_dir, "/srv/pki");
        assert_eq!(
            c.not_built_keys(),
            [
                "controller.pki.enabled",
                "agent.pki.key_dir",
                "nats.audit.max_age"
            ]
        );
    }

    #[test]
    fn keys_neither_generation_has_are_still_rejected() {
        for (yaml, key) in [
            ("controller:\n  pki:\n    enabld: true\n", "enabld"),
            ("nats:\n  enrollment:\n    ttl: 1h\n", "ttl"),
            ("nats:\n  audit:\n    streams: AUDIT\n", "streams"),
            ("agent:\n  privilege_escalation:\n    sudo: true\n", "sudo"),
        ] {
            let err = load(yaml, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
    }

    #[test]
    fn tls_blocks_are_off_by_default_and_a_certificate_needs_its_key() {
        let c = load("", &[]).unwrap();
        assert!(!c.controller.api.tls.enabled());
        assert!(!c.nats.server.tls.enabled());
        assert!(!c.controller.nats.tls.enabled() && !c.agent.nats.tls.enabled());
        let c = load(
            "",
            &[
                ("OSAPI_CONTROLLER_API_TLS_CERT_FILE", "/c.pem"),
                ("OSAPI_CONTROLLER_API_TLS_KEY_FILE", "/c.key"),
                ("OSAPI_AGENT_NATS_TLS_CA_FILE", "/ca.pem"),
            ],
        )
        .unwrap();
        assert!(c.controller.api.tls.enabled());
        assert!(c.agent.nats.tls.enabled(), "a CA alone turns TLS on");
        for (yaml, key) in [
            (
                "controller:\n  api:\n    tls:\n      cert_file: /c.pem\n",
                "controller.api.tls.key_file",
            ),
            (
                "nats:\n  server:\n    tls:\n      key_file: /c.key\n",
                "nats.server.tls.cert_file",
            ),
            (
                "nats:\n  server:\n    tls:\n      ca_file: /ca.pem\n",
                "nats.server.tls.ca_file",
            ),
            (
                "agent:\n  nats:\n    tls:\n      cert_file: /a.pem\n",
                "agent.nats.tls.key_file",
            ),
            (
                "controller:\n  nats:\n    tls:\n      key_file: /a.key\n",
                "controller.nats.tls.cert_file",
            ),
        ] {
            let err = load(yaml, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
    }

    #[test]
    fn durations_accept_days_and_plain_seconds() {
        assert_eq!(duration::parse("7d").unwrap(), Duration::from_secs(604800));
        assert_eq!(duration::parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(duration::parse("soon").is_err());
    }
}
