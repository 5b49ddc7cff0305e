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
