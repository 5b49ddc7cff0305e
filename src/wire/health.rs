//! `/health` answers: liveness and readiness, and the whole picture of `/health/status`
//! (the controller, NATS, agents, jobs and every registered component).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Liveness and readiness answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthResponse {
    /// `ok`, `ready` or `not_ready`.
    pub status: String,
    /// Why the controller is not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Component key of the NATS connectivity check.
pub const NATS_CHECK: &str = "controller.nats (connectivity)";

/// Component key of the job bucket check.
pub const KV_CHECK: &str = "controller.kv (connectivity)";

/// Health of one component or sub-component.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComponentHealth {
    /// `ok`, `error` or `disabled`.
    pub status: String,
    pub error: Option<String>,
    pub address: Option<String>,
}

/// A registry entry: who beats, how long it has run, what it costs, what is wrong.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegistryEntry {
    /// `agent`, `controller` or `nats`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub hostname: String,
    /// Always `Ready`: an entry in the registry is alive.
    #[serde(default)]
    pub status: String,
    /// Active condition types; always listed (the original's clients read it).
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Time since the component started: `3d 4h`, `12h 30m`, `45m`, `30s`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub age: String,
    pub cpu_percent: Option<f64>,
    pub mem_bytes: Option<u64>,
    /// Agents: `Ready`, `Draining` or `Drained` (osapi extension).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// Last heartbeat (osapi extension).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_seen: String,
    /// This entry's own sub-components (osapi extension; `components` merges them all).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sub_components: BTreeMap<String, ComponentHealth>,
}

/// One registered agent in the `agents` block.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentSummary {
    pub hostname: String,
    /// `k=v, k2=v2`, sorted by key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub labels: String,
    /// Time since the last heartbeat: `15s ago`.
    #[serde(default)]
    pub registered: String,
}

/// Registered agents.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentCounts {
    pub total: usize,
    /// Agents taking jobs (drained and draining ones left out).
    pub ready: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentSummary>,
    /// osapi extension.
    #[serde(default)]
    pub draining: usize,
    /// osapi extension.
    #[serde(default)]
    pub drained: usize,
}

/// Jobs by overall status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobCounts {
    pub total: usize,
    /// Submitted, not yet picked up.
    pub unprocessed: usize,
    pub processing: usize,
    pub completed: usize,
    pub failed: usize,
    /// Dead-lettered notifications waiting in the DLQ stream.
    pub dlq: u64,
    /// osapi extension.
    #[serde(default)]
    pub partial_failure: usize,
}

/// A stream's size.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamInfo {
    pub name: String,
    pub messages: u64,
    pub bytes: u64,
    pub consumers: usize,
}

/// A KV bucket's size.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KvBucketInfo {
    pub name: String,
    pub keys: u64,
    pub bytes: u64,
}

/// An object store's size.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectStoreInfo {
    pub name: String,
    pub size: u64,
}

/// One consumer of the JOBS stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsumerInfo {
    pub name: String,
    pub pending: u64,
    pub ack_pending: u64,
    pub redelivered: u64,
}

/// Consumers of the JOBS stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsumerCounts {
    pub total: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ConsumerInfo>,
}

/// The NATS server the controller talks to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NatsInfo {
    pub url: String,
    pub version: String,
    /// osapi extension.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_name: String,
}

/// The whole picture.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusResponse {
    /// `ok` or `degraded` (NATS or job bucket check failed).
    pub status: String,
    pub components: BTreeMap<String, ComponentHealth>,
    pub version: String,
    /// Since the controller started, Go duration style: `2h30m0s`.
    pub uptime: String,
    pub nats: Option<NatsInfo>,
    pub streams: Option<Vec<StreamInfo>>,
    pub kv_buckets: Option<Vec<KvBucketInfo>>,
    pub object_stores: Option<Vec<ObjectStoreInfo>>,
    pub jobs: Option<JobCounts>,
    pub agents: Option<AgentCounts>,
    pub consumers: Option<ConsumerCounts>,
    /// Sorted by type, then hostname.
    pub registry: Option<Vec<RegistryEntry>>,
}

/// Seconds from an RFC 3339 timestamp to now (0 for the future).
pub fn seconds_since(rfc3339: &str) -> Option<u64> {
    let then = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let secs = (time::OffsetDateTime::now_utc() - then).whole_seconds();
    Some(secs.max(0) as u64)
}

/// The original's age: `3d 4h`, `12h 30m`, `45m`, `30s`; empty for 0.
pub fn format_age(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, (secs % 86400) / 3600, (secs % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else if secs > 0 {
        format!("{secs}s")
    } else {
        String::new()
    }
}
