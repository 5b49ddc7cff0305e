//! Follows the registry with a KV watch and turns heartbeats into condition events.
//!
//! - a condition turning active fires once; turning inactive resolves once;
//! - an active condition re-fires every `renotify_interval` (0: never);
//! - a heartbeat that expires (the bucket's limit marker, a Purge) is Unreachable once,
//!   and resolved when the component beats again; a clean shutdown (a Delete) is not.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fleet::Agents;
use super::{ConditionEvent, EventKind, Notifier};
use crate::conditions::Condition;
use crate::job::feed::FleetBus;
use crate::wire::job::rfc3339;

/// Condition name of an expired heartbeat.
pub const UNREACHABLE: &str = "ComponentUnreachable";

#[derive(Debug, Deserialize)]
struct Beat {
    hostname: String,
    #[serde(default)]
    conditions: Vec<Condition>,
}

#[derive(Debug, Default)]
struct Component {
    kind: String,
    hostname: String,
    /// Active condition -> (reason, last notified).
    active: BTreeMap<String, (String, Instant)>,
    unreachable: bool,
}

/// Pure state machine of the watcher (tested without NATS).
#[derive(Debug, Default)]
pub struct Tracker {
    components: HashMap<String, Component>,
}

fn event(
    c: &Component,
    kind: EventKind,
    condition: &str,
    reason: &str,
    renotify: bool,
) -> ConditionEvent {
    ConditionEvent {
        kind,
        component: c.kind.clone(),
        hostname: c.hostname.clone(),
        condition: condition.to_owned(),
        reason: reason.to_owned(),
        renotify,
        timestamp: rfc3339(time::OffsetDateTime::now_utc()),
    }
}

/// `agents.x` -> `agent`; other prefixes are the component type as written.
fn component_type(key: &str) -> Option<&'static str> {
    match key.split_once('.')?.0 {
        "agents" => Some("agent"),
        "controller" => Some("controller"),
        "nats" => Some("nats"),
        _ => None,
    }
}

impl Tracker {
    /// A heartbeat arrived.
    pub fn put(&mut self, key: &str, value: &[u8], now: Instant) -> Vec<ConditionEvent> {
        let (Some(kind), Ok(beat)) = (component_type(key), serde_json::from_slice::<Beat>(value))
        else {
            return Vec::new();
        };
        let c = self.components.entry(key.to_owned()).or_default();
        c.kind = kind.to_owned();
        c.hostname = beat.hostname;
        let mut out = Vec::new();
        if c.unreachable {
            c.unreachable = false;
            out.push(event(
                c,
                EventKind::Resolved,
                UNREACHABLE,
                "heartbeat resumed",
                false,
            ));
        }
        let now_active: BTreeMap<String, String> = beat
            .conditions
            .into_iter()
            .filter(|x| x.status)
            .map(|x| (x.kind, x.reason))
            .collect();
        let gone: Vec<String> = c
            .active
            .keys()
            .filter(|k| !now_active.contains_key(*k))
            .cloned()
            .collect();
        for cond in gone {
            c.active.remove(&cond);
            out.push(event(c, EventKind::Resolved, &cond, "", false));
        }
        for (cond, reason) in now_active {
            if !c.active.contains_key(&cond) {
                out.push(event(c, EventKind::Fired, &cond, &reason, false));
            }
            let notified = c.active.get(&cond).map_or(now, |(_, at)| *at);
            c.active.insert(cond, (reason, notified));
        }
        out
    }

    /// The heartbeat expired (Purge) or the component left cleanly (Delete).
    pub fn gone(&mut self, key: &str, expired: bool) -> Vec<ConditionEvent> {
        if !expired {
            // Kept: if it comes back without a condition, that condition resolves then.
            if let Some(c) = self.components.get(key) {
                tracing::info!(component = %c.kind, hostname = %c.hostname, "component deregistered");
            }
            return Vec::new();
        }
        // Only components seen alive can become unreachable (not stale replays).
        match self.components.get_mut(key) {
            Some(c) if !c.unreachable => {
                c.unreachable = true;
                c.active.clear();
                vec![event(
                    c,
                    EventKind::Unreachable,
                    UNREACHABLE,
                    "heartbeat expired",
                    false,
                )]
            }
            _ => Vec::new(),
        }
    }

    /// Re-fires conditions active for at least `every` since their last notification.
    pub fn renotify(&mut self, every: Duration, now: Instant) -> Vec<ConditionEvent> {
        let mut out = Vec::new();
        for c in self.components.values_mut() {
            let due: Vec<(String, String)> = c
                .active
                .iter()
                .filter(|(_, (_, at))| now.duration_since(*at) >= every)
                .map(|(k, (r, _))| (k.clone(), r.clone()))
                .collect();
            for (cond, reason) in due {
                c.active.insert(cond.clone(), (reason.clone(), now));
                out.push(event(c, EventKind::Fired, &cond, &reason, true));
            }
        }
        out
    }
}

/// Watches `registry` until `cancel`, publishing every event on `fleet` and handing the
/// condition events to `notifier` (when notifications are on); resumes after errors.
pub async fn run(
    registry: kv::Store,
    notifier: Option<Arc<dyn Notifier>>,
    renotify: Duration,
    fleet: FleetBus,
    cancel: CancellationToken,
) {
    let mut tracker = Tracker::default();
    let mut agents = Agents::default();
    loop {
        match registry.watch_with_history(">").await {
            Ok(mut watch) => {
                // A quarter of the interval: a re-notification is at most 25% late.
                let tick = if renotify.is_zero() {
                    Duration::from_secs(3600)
                } else {
                    (renotify / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
                };
                let mut ticker = tokio::time::interval(tick);
                loop {
                    let events = tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = ticker.tick() => {
                            if renotify.is_zero() { continue; }
                            tracker.renotify(renotify, Instant::now())
                        }
                        entry = watch.next() => match entry {
                            Some(Ok(e)) => match e.operation {
                                kv::Operation::Put => {
                                    if let Some(event) = agents.put(&e.key, &e.value) {
                                        fleet.publish(event);
                                    }
                                    tracker.put(&e.key, &e.value, Instant::now())
                                }
                                kv::Operation::Purge => {
                                    let events = tracker.gone(&e.key, true);
                                    agents.gone(&e.key);
                                    events
                                }
                                kv::Operation::Delete => {
                                    agents.gone(&e.key);
                                    tracker.gone(&e.key, false)
                                }
                            },
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "registry watch error");
                                break;
                            }
                            None => break,
                        },
                    };
                    for e in &events {
                        fleet.publish(agents.condition(e));
                        if let Some(notifier) = &notifier {
                            notifier.notify(e).await;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch the registry"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(conds: &[(&str, bool)]) -> Vec<u8> {
        let conditions: Vec<serde_json::Value> = conds
            .iter()
            .map(|(k, s)| serde_json::json!({"type": k, "status": s, "reason": "r", "last_transition_time": "t"}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"hostname": "web-01", "conditions": conditions}))
            .unwrap()
    }

    fn kinds(events: &[ConditionEvent]) -> Vec<(EventKind, &str)> {
        events
            .iter()
            .map(|e| (e.kind, e.condition.as_str()))
            .collect()
    }

    /// What one heartbeat of `key` with `conds` makes the tracker say.
    fn put(t: &mut Tracker, key: &str, conds: &[(&str, bool)]) -> Vec<ConditionEvent> {
        t.put(key, &beat(conds), Instant::now())
    }

    #[test]
    fn fires_and_resolves_once() {
        let mut t = Tracker::default();
        let host = "agents.web-01";
        assert!(put(&mut t, host, &[("DiskPressure", false)]).is_empty());
        let e = put(&mut t, host, &[("DiskPressure", true)]);
        assert_eq!(kinds(&e), [(EventKind::Fired, "DiskPressure")]);
        assert_eq!(e[0].component, "agent");
        assert!(put(&mut t, host, &[("DiskPressure", true)]).is_empty());
        let e = put(&mut t, host, &[("DiskPressure", false)]);
        assert_eq!(kinds(&e), [(EventKind::Resolved, "DiskPressure")]);
    }

    #[test]
    fn unreachable_once_then_resolved_on_return() {
        let mut t = Tracker::default();
        put(&mut t, "agents.a", &[]);
        let e = t.gone("agents.a", true);
        assert_eq!(kinds(&e), [(EventKind::Unreachable, UNREACHABLE)]);
        assert!(t.gone("agents.a", true).is_empty());
        let e = put(&mut t, "agents.a", &[]);
        assert_eq!(kinds(&e), [(EventKind::Resolved, UNREACHABLE)]);
        // A clean shutdown is not an outage; a stale expiry of an unknown key is ignored.
        assert!(t.gone("agents.a", false).is_empty());
        assert!(t.gone("agents.zzz", true).is_empty());
    }

    #[test]
    fn condition_resolves_when_a_restarted_component_lacks_it() {
        let mut t = Tracker::default();
        put(&mut t, "agents.a", &[("DiskPressure", true)]);
        assert!(t.gone("agents.a", false).is_empty());
        let e = put(&mut t, "agents.a", &[("DiskPressure", false)]);
        assert_eq!(kinds(&e), [(EventKind::Resolved, "DiskPressure")]);
    }

    #[test]
    fn renotify_only_when_due() {
        let mut t = Tracker::default();
        let start = Instant::now();
        t.put("controller.c", &beat(&[("ProcessHighCPU", true)]), start);
        assert!(t
            .renotify(Duration::from_secs(5), start + Duration::from_secs(1))
            .is_empty());
        let e = t.renotify(Duration::from_secs(5), start + Duration::from_secs(5));
        assert_eq!(kinds(&e), [(EventKind::Fired, "ProcessHighCPU")]);
        assert!(e[0].renotify);
        assert!(t
            .renotify(Duration::from_secs(5), start + Duration::from_secs(6))
            .is_empty());
    }
}
