//! The component registry: heartbeat entries in the registry bucket.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;

pub use crate::wire::registry::{
    AgentRegistration, AgentState, ComponentRegistration, LoadAverage, Memory, SubComponent,
};

/// A component's first registry entry (`kind`: `controller` or `nats`), stamped now, on
/// this host.
pub fn component_entry(
    kind: &str,
    sub_components: BTreeMap<String, SubComponent>,
) -> ComponentRegistration {
    let now = crate::wire::job::rfc3339(time::OffsetDateTime::now_utc());
    ComponentRegistration {
        kind: kind.to_owned(),
        hostname: crate::provider::node::os_hostname().unwrap_or_else(|_| kind.to_owned()),
        started_at: now.clone(),
        registered_at: now,
        version: crate::VERSION.into(),
        process: Default::default(),
        conditions: Vec::new(),
        sub_components,
    }
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
    let key = crate::wire::keys::component(&entry.kind, &entry.hostname);
    let mut sampler = crate::provider::process::ProcessSampler::default();
    let mut tracker = crate::conditions::Tracker::default();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = crate::wire::job::rfc3339(time::OffsetDateTime::now_utc());
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

/// Reading the registry failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the agent registry")]
pub struct RegistryError(#[from] crate::nats::kv_scan::ScanError);

/// Every registered (live) agent.
pub async fn list_agents(registry: &kv::Store) -> Result<Vec<AgentRegistration>, RegistryError> {
    let entries = crate::nats::kv_scan::scan(registry, crate::wire::keys::AGENTS_ALL, true).await?;
    let mut agents: Vec<AgentRegistration> =
        crate::nats::kv_scan::decode_each(entries, "registry entry");
    agents.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(agents)
}

/// Appends `event`, which happened `at`, to an agent's timeline. Best effort: the change
/// it records has already happened, so a failed write is logged, not reported.
pub async fn record_timeline(
    state: &kv::Store,
    hostname: &str,
    (event, message): (&str, &str),
    at: time::OffsetDateTime,
) {
    let entry = crate::wire::job::TimelineEvent {
        timestamp: crate::wire::job::rfc3339(at),
        event: event.to_owned(),
        hostname: hostname.to_owned(),
        message: message.to_owned(),
        error: None,
    };
    let key = crate::wire::keys::timeline(hostname, event, at.unix_timestamp_nanos());
    let Ok(body) = serde_json::to_vec(&entry) else {
        return;
    };
    if let Err(e) = state.put(&key, body.into()).await {
        tracing::warn!(%hostname, event, error = %e, "cannot record a timeline event");
    }
}

/// An agent's timeline, oldest first.
pub async fn timeline(
    state: &kv::Store,
    hostname: &str,
) -> Result<Vec<crate::wire::job::TimelineEvent>, RegistryError> {
    let filter = crate::wire::keys::timeline_of(hostname);
    let entries = crate::nats::kv_scan::scan(state, &filter, true).await?;
    let mut events: Vec<crate::wire::job::TimelineEvent> =
        crate::nats::kv_scan::decode_each(entries, "timeline event");
    // RFC 3339 with a fixed UTC offset and nanoseconds sorts as text.
    events.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    Ok(events)
}
