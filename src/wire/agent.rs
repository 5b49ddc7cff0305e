//! `/agent` answers: an agent as the registry, its facts and its drain flag describe it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire::facts::Facts;
use crate::wire::ops::node::{LoadAverage, Memory};

/// An agent as the registry, its facts and its drain flag describe it: the original's
/// `AgentInfo`, with the facts as top-level fields.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentInfo {
    pub hostname: String,
    /// Always `Ready`: an agent in the registry is alive (its entry expires otherwise).
    pub status: String,
    /// `Ready`, `Draining` (drain asked, jobs still running) or `Drained`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Last heartbeat.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registered_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    /// Host uptime at the last heartbeat: `D days, H hours, M minutes`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uptime: String,
    pub load_average: Option<LoadAverage>,
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_version: String,
    /// Conditions evaluated on the last heartbeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<crate::conditions::Condition>,
    /// The host's `/etc/machine-id` (the latest original's agent identity).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine_id: String,
    /// The host's new name when osapi renamed it after the agent started (the agent
    /// answers to both until it restarts under the new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_hostname: Option<String>,
    /// The agent's identity-key fingerprint: empty, as osapi has no agent PKI yet.
    #[serde(default)]
    pub fingerprint: String,
    /// Drain, undrain and state changes, oldest first (single-agent answers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<crate::wire::job::TimelineEvent>,
    /// OS, architecture, kernel, CPUs, interfaces, routes, container... as top-level
    /// fields (`os_info`, `architecture`, ...); `None` until the agent first reported them.
    #[serde(flatten)]
    #[serialize_always]
    pub facts: Option<Facts>,
}

/// `D days, H hours, M minutes`, singular when 1, as the original's agent uptime.
pub fn format_uptime(secs: u64) -> String {
    let unit = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    format!(
        "{}, {}, {}",
        unit(secs / 86400, "day"),
        unit((secs % 86400) / 3600, "hour"),
        unit((secs % 3600) / 60, "minute")
    )
}

/// `GET /agent`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentInfo>,
    pub total: usize,
}

/// Answer of drain and undrain.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrainResponse {
    pub hostname: String,
    pub status: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::facts::{Interface, OsFacts};
    use serde_json::json;

    fn agent() -> AgentInfo {
        AgentInfo {
            hostname: "web-01".into(),
            status: "Ready".into(),
            state: "Drained".into(),
            registered_at: "2025-01-01T00:00:10Z".into(),
            started_at: "2025-01-01T00:00:00Z".into(),
            uptime: format_uptime(90061),
            load_average: Some(LoadAverage {
                one: 0.5,
                five: 0.25,
                fifteen: 0.125,
            }),
            memory: Some(Memory {
                total: 8,
                free: 2,
                used: 5,
                available: 3,
                cached: 1,
            }),
            facts: Some(Facts {
                hostname: "web-01".into(),
                architecture: "x86_64".into(),
                cpu_count: 4,
                os: Some(OsFacts {
                    distribution: "Ubuntu".into(),
                    version: "24.04".into(),
                }),
                interfaces: vec![Interface {
                    name: "eth0".into(),
                    ipv4: "10.0.0.2".into(),
                    family: "inet".into(),
                    ..Default::default()
                }],
                collected_at: "2025-01-01T00:00:05Z".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn uptime_is_worded_like_the_original() {
        assert_eq!(format_uptime(90061), "1 day, 1 hour, 1 minute");
        assert_eq!(
            format_uptime(2 * 86400 + 3 * 3600),
            "2 days, 3 hours, 0 minutes"
        );
    }

    #[test]
    fn wire_shape_follows_the_original() {
        let v = serde_json::to_value(agent()).unwrap();
        assert_eq!(v["status"], "Ready");
        assert_eq!(v["state"], "Drained");
        assert_eq!(v["uptime"], "1 day, 1 hour, 1 minute");
        assert_eq!(
            v["load_average"],
            json!({"1min": 0.5, "5min": 0.25, "15min": 0.125})
        );
        assert_eq!(
            (
                &v["memory"]["total"],
                &v["memory"]["free"],
                &v["memory"]["used"]
            ),
            (&json!(8), &json!(2), &json!(5))
        );
        assert_eq!(
            v["os_info"],
            json!({"distribution": "Ubuntu", "version": "24.04"})
        );
        assert_eq!(v["architecture"], "x86_64");
        assert_eq!(v["cpu_count"], 4);
        assert_eq!(
            v["interfaces"],
            json!([{"name": "eth0", "ipv4": "10.0.0.2", "family": "inet"}])
        );
        for absent in ["labels", "conditions", "facts", "routes", "fqdn"] {
            assert!(v.get(absent).is_none(), "{absent} should be omitted: {v}");
        }
    }

    #[test]
    fn round_trips_with_and_without_facts() {
        let a = agent();
        let back: AgentInfo = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        let facts = back.facts.expect("facts");
        assert_eq!(facts.os, a.facts.as_ref().unwrap().os);
        assert_eq!(facts.cpu_count, 4);
        assert_eq!(back.load_average, a.load_average);
        assert_eq!(back.state, "Drained");
        let bare = AgentInfo {
            facts: None,
            ..agent()
        };
        let back: AgentInfo = serde_json::from_value(serde_json::to_value(&bare).unwrap()).unwrap();
        assert!(back.facts.is_none());
        assert_eq!(back.memory, bare.memory);
    }
}
