//! The agent's registry entry, refreshed well within the registry TTL.

use std::time::Duration;

use async_nats::jetstream::kv;
use std::sync::Arc;

use tokio::sync::watch;

use crate::conditions::{
    host_conditions, process_conditions, Condition, HostSample, ProcessSample, Tracker,
};
use crate::config::{ConditionsConfig, ProcessConditionsConfig};
use crate::provider::node::NodeProvider;
use crate::provider::process::ProcessSampler;
use tokio_util::sync::CancellationToken;

use crate::registry::{AgentRegistration, AgentState, LoadAverage, Memory};
use crate::wire::job::rfc3339;

/// Heartbeat period for a registry TTL: three beats per TTL, at least one a second.
pub fn interval_for(ttl: Duration) -> Duration {
    if ttl.is_zero() {
        Duration::from_secs(10)
    } else {
        (ttl / 3).max(Duration::from_secs(1))
    }
}

/// Evaluates the agent's conditions for each heartbeat.
pub struct Evaluator {
    pub node: Arc<dyn NodeProvider>,
    pub host: ConditionsConfig,
    pub process: ProcessConditionsConfig,
    tracker: Tracker,
    sampler: ProcessSampler,
}

impl Evaluator {
    pub fn new(
        node: Arc<dyn NodeProvider>,
        host: ConditionsConfig,
        process: ProcessConditionsConfig,
    ) -> Self {
        Self {
            node,
            host,
            process,
            tracker: Tracker::default(),
            sampler: ProcessSampler::default(),
        }
    }

    /// Samples the host and this process (off the async workers), and evaluates.
    async fn evaluate(&mut self) -> (Vec<Condition>, ProcessSample, Vitals) {
        let node = self.node.clone();
        // The sampler goes with the task and comes back: it keeps the previous CPU reading.
        let mut sampler = std::mem::take(&mut self.sampler);
        let (sample, vitals, process, sampler) = tokio::task::spawn_blocking(move || {
            let memory = node.memory().ok();
            let load = node.load().ok();
            let sample = HostSample {
                memory: memory.as_ref().map(|m| (m.total, m.available)),
                load1: load.as_ref().map(|l| l.one),
                cpu_count: std::thread::available_parallelism().map_or(0, |n| n.get()),
                disks: node
                    .disks()
                    .map(|d| d.into_iter().map(|d| (d.name, d.total, d.used)).collect())
                    .unwrap_or_default(),
            };
            let vitals = Vitals {
                uptime_seconds: node.uptime().ok().map(|d| d.as_secs()),
                load_average: load,
                memory,
            };
            let process = sampler.sample();
            (sample, vitals, process, sampler)
        })
        .await
        .unwrap_or_default();
        self.sampler = sampler;
        let mut raw = host_conditions(&self.host, &sample);
        raw.extend(process_conditions(&self.process, &process));
        let now = rfc3339(time::OffsetDateTime::now_utc());
        (self.tracker.update(raw, &now), process, vitals)
    }
}

/// Host uptime, load and memory reported with each heartbeat.
#[derive(Debug, Default)]
struct Vitals {
    uptime_seconds: Option<u64>,
    load_average: Option<LoadAverage>,
    memory: Option<Memory>,
}

/// Writes the entry now, every `interval`, and whenever the state or the host's name
/// changes, until cancelled; then removes it.
pub async fn run(
    registry: kv::Store,
    mut entry: AgentRegistration,
    interval: Duration,
    mut state: watch::Receiver<AgentState>,
    mut renamed: watch::Receiver<Option<String>>,
    mut evaluator: Evaluator,
    cancel: CancellationToken,
) {
    let key = AgentRegistration::key(&entry.hostname);
    let mut ticker = tokio::time::interval(interval);
    let (mut state_open, mut renamed_open) = (true, true);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
            changed = state.changed(), if state_open => state_open = changed.is_ok(),
            changed = renamed.changed(), if renamed_open => renamed_open = changed.is_ok(),
        }
        entry.current_hostname = renamed.borrow_and_update().clone();
        let (conditions, process, vitals) = evaluator.evaluate().await;
        entry.conditions = conditions;
        entry.uptime_seconds = vitals.uptime_seconds;
        entry.load_average = vitals.load_average;
        entry.memory = vitals.memory;
        entry.process = Some(process);
        entry.registered_at = rfc3339(time::OffsetDateTime::now_utc());
        entry.state = *state.borrow_and_update();
        match serde_json::to_vec(&entry) {
            Ok(body) => {
                if let Err(e) = registry.put(&key, body.into()).await {
                    tracing::warn!(error = %e, "heartbeat write failed");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode heartbeat"),
        }
    }
    if let Err(e) = registry.delete(&key).await {
        tracing::warn!(error = %e, "could not remove registry entry on shutdown");
    }
}
