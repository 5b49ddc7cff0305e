//! The component registry: heartbeat entries in the registry bucket.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use crate::conditions::{Condition, ProcessSample};
use crate::job::target::sanitize_hostname;
pub use crate::wire::ops::node::{LoadAverage, Memory};

/// Scheduling state of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AgentState {
    #[default]
    Ready,
    Draining,
    Drained,
}

/// An agent's heartbeat entry at `agents.<host>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRegistration {
    pub hostname: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub registered_at: String,
    pub started_at: String,
    #[serde(default)]
    pub state: AgentState,
    #[serde(default)]
    pub agent_version: String,
    /// Evaluated on every heartbeat.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessSample>,
    #[serde(default)]
    pub sub_components: BTreeMap<String, SubComponent>,
    /// Host uptime in seconds at the last heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// Host load at the last heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<LoadAverage>,
    /// Host memory at the last heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// Health of one part of a component (`agent.heartbeat`, `controller.api`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SubComponent {
    /// `ok`, `error` or `disabled`.
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
}

impl SubComponent {
    pub fn ok(address: impl Into<String>) -> Self {
        Self {
            status: "ok".into(),
            address: address.into(),
        }
    }

    pub fn disabled() -> Self {
        Self {
            status: "disabled".into(),
            address: String::new(),
        }
    }
}

/// Heartbeat entry of a controller (`controller.<host>`) or NATS server (`nats.<host>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentRegistration {
    #[serde(rename = "type")]
    pub kind: String,
    pub hostname: String,
    pub started_at: String,
    pub registered_at: String,
    pub version: String,
    pub process: ProcessSample,
    pub conditions: Vec<Condition>,
    pub sub_components: BTreeMap<String, SubComponent>,
}

/// Writes a component's heartbeat every `interval` with fresh process conditions, until
/// `cancel`; then removes it (a clean shutdown is not an outage).
pub async fn component_heartbeat(
    registry: kv::Store,
    mut entry: ComponentRegistration,
    thresholds: crate::config::ProcessConditionsConfig,
    interval: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    let key = format!("{}.{}", entry.kind, sanitize_hostname(&entry.hostname));
    let mut sampler = crate::provider::process::ProcessSampler::default();
    let mut tracker = crate::conditions::Tracker::default();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = crate::job::record::rfc3339(time::OffsetDateTime::now_utc());
        // Off the async workers, as every provider read; the sampler comes back with its
        // previous CPU reading.
        (entry.process, sampler) = tokio::task::spawn_blocking(move || (sampler.sample(), sampler))
            .await
            .unwrap_or_default();
        let raw = crate::conditions::process_conditions(&thresholds, &entry.process);
        entry.conditions = tracker.update(raw, &now);
        entry.registered_at = now;
        if let Ok(body) = serde_json::to_vec(&entry) {
            if let Err(e) = registry.put(&key, body.into()).await {
                tracing::warn!(error = %e, component = %entry.kind, "heartbeat write failed");
            }
        }
    }
    let _ = registry.delete(&key).await;
}

impl AgentRegistration {
    /// Registry key of an agent.
    pub fn key(hostname: &str) -> String {
        format!("agents.{}", sanitize_hostname(hostname))
    }
}

/// Reading the registry failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the agent registry: {0}")]
pub struct RegistryError(String);

/// Every registered (live) agent.
pub async fn list_agents(registry: &kv::Store) -> Result<Vec<AgentRegistration>, RegistryError> {
    let entries = crate::nats::kv_scan::scan(registry, "agents.*", true)
        .await
        .map_err(|e| RegistryError(e.to_string()))?;
    let mut agents: Vec<AgentRegistration> = entries
        .into_iter()
        .filter_map(|(key, value)| match serde_json::from_slice(&value) {
            Ok(agent) => Some(agent),
            Err(e) => {
                tracing::warn!(%key, error = %e, "skipping unreadable registry entry");
                None
            }
        })
        .collect();
    agents.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(agents)
}
