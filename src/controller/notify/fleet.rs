//! The registry watch as fleet events (`GET /events`): agents registered, changed or
//! unreachable, and the condition events the watcher makes (pure, tested without NATS).

use std::collections::{BTreeMap, HashMap};

use super::{ConditionEvent, EventKind};
use crate::job::feed::now_text;
use crate::wire::events::{FleetEvent, FleetKind};
use crate::wire::registry::{AgentRegistration, AgentState};

/// What about an agent makes `agent.changed` when it differs (not its load or uptime,
/// which every heartbeat rewrites).
#[derive(Debug, Clone, PartialEq)]
struct Identity {
    state: AgentState,
    labels: BTreeMap<String, String>,
    version: String,
    current_hostname: Option<String>,
}

/// The agents seen in the registry, by key.
#[derive(Debug, Default)]
pub struct Agents {
    known: HashMap<String, (String, Identity)>,
}

impl Agents {
    /// A registry entry was written: `agent.registered` for an agent not known (new, or
    /// back after leaving or expiring), `agent.changed` when its identity moved.
    pub fn put(&mut self, key: &str, value: &[u8]) -> Option<FleetEvent> {
        if !key.starts_with("agents.") {
            return None;
        }
        let agent: AgentRegistration = serde_json::from_slice(value).ok()?;
        let identity = Identity {
            state: agent.state,
            labels: agent.labels.clone(),
            version: agent.agent_version.clone(),
            current_hostname: agent.current_hostname.clone(),
        };
        let kind = match self.known.get(key) {
            None => FleetKind::AgentRegistered,
            Some((_, old)) if *old != identity => FleetKind::AgentChanged,
            Some(_) => return None,
        };
        self.known
            .insert(key.to_owned(), (agent.hostname.clone(), identity));
        let data = serde_json::json!({
            "state": agent.state,
            "version": agent.agent_version,
            "current_hostname": agent.current_hostname,
        });
        Some(agent_event(kind, agent.hostname, agent.labels, data))
    }

    /// A registry entry went away (expired or left): the agent registers anew when it
    /// comes back.
    pub fn gone(&mut self, key: &str) {
        self.known.remove(key);
    }

    /// The fleet event of a condition event: an agent's expired heartbeat is
    /// `agent.unreachable`, everything else `condition.fired` / `condition.resolved`.
    pub fn condition(&self, e: &ConditionEvent) -> FleetEvent {
        let kind = match e.kind {
            EventKind::Unreachable if e.component == "agent" => FleetKind::AgentUnreachable,
            EventKind::Fired | EventKind::Unreachable => FleetKind::ConditionFired,
            EventKind::Resolved => FleetKind::ConditionResolved,
        };
        let labels = self
            .known
            .values()
            .find(|(host, _)| *host == e.hostname)
            .map(|(_, identity)| identity.labels.clone())
            .unwrap_or_default();
        let data = serde_json::json!({
            "component": e.component,
            "condition": e.condition,
            "reason": e.reason,
            "renotify": e.renotify,
        });
        FleetEvent {
            timestamp: e.timestamp.clone(),
            ..agent_event(kind, e.hostname.clone(), labels, data)
        }
    }
}

fn agent_event(
    kind: FleetKind,
    hostname: String,
    labels: BTreeMap<String, String>,
    data: serde_json::Value,
) -> FleetEvent {
    FleetEvent {
        kind,
        hostname: Some(hostname),
        target: None,
        job_id: None,
        labels,
        timestamp: now_text(),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(state: &str, group: &str, uptime: u64) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "hostname": "web-01", "labels": {"group": group}, "registered_at": "t",
            "started_at": "t", "state": state, "agent_version": "1",
            "uptime_seconds": uptime,
        }))
        .expect("json")
    }

    #[test]
    fn registered_once_changed_on_identity_only_and_anew_after_leaving() {
        let mut a = Agents::default();
        let key = "agents.web-01";
        let e = a.put(key, &beat("Ready", "web", 1)).expect("registered");
        assert_eq!(e.kind, FleetKind::AgentRegistered);
        assert_eq!(e.labels["group"], "web");
        assert!(
            a.put(key, &beat("Ready", "web", 9)).is_none(),
            "uptime is no change"
        );
        let e = a.put(key, &beat("Draining", "web", 9)).expect("changed");
        assert_eq!(
            (e.kind, &e.data["state"]),
            (FleetKind::AgentChanged, &serde_json::json!("Draining"))
        );
        a.gone(key);
        let e = a.put(key, &beat("Draining", "web", 9)).expect("back");
        assert_eq!(e.kind, FleetKind::AgentRegistered);
        assert!(a.put("controller.c", &beat("Ready", "web", 1)).is_none());
    }

    #[test]
    fn conditions_map_to_kinds_with_the_agents_labels() {
        let mut a = Agents::default();
        a.put("agents.web-01", &beat("Ready", "web", 1));
        let mut e =
            super::super::tests::event(EventKind::Unreachable, "web-01", "ComponentUnreachable");
        assert_eq!(a.condition(&e).kind, FleetKind::AgentUnreachable);
        assert_eq!(a.condition(&e).labels["group"], "web");
        e.component = "nats".into();
        assert_eq!(a.condition(&e).kind, FleetKind::ConditionFired);
        e.kind = EventKind::Resolved;
        assert_eq!(a.condition(&e).kind, FleetKind::ConditionResolved);
    }
}
