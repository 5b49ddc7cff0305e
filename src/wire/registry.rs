//! Heartbeats in the registry bucket: agents and the other components (see
//! [`super::keys`] for their keys).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::conditions::{Condition, ProcessSample};
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
#[serde_with::skip_serializing_none]
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
    pub process: Option<ProcessSample>,
    #[serde(default)]
    pub sub_components: BTreeMap<String, SubComponent>,
    /// Host uptime in seconds at the last heartbeat.
    pub uptime_seconds: Option<u64>,
    /// Host load at the last heartbeat.
    pub load_average: Option<LoadAverage>,
    /// Host memory at the last heartbeat.
    pub memory: Option<Memory>,
    /// The host's machine id (`/etc/machine-id`), empty where it has none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine_id: String,
    /// The host's name when osapi renamed the host after this agent started. The agent
    /// keeps its identity (`hostname`: its registry key, consumer and NATS user) until it
    /// restarts; a target naming the new name reaches it.
    #[serde(default)]
    pub current_hostname: Option<String>,
    /// The public key this agent signs its answers with (osapi extension); the
    /// controller accepts its answers only with a valid signature by it.
    #[serde(default)]
    pub answer_key: Option<String>,
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

impl AgentRegistration {
    /// Registry key of an agent.
    pub fn key(hostname: &str) -> String {
        crate::wire::keys::agent(hostname)
    }
}
