//! Drain and undrain: a drained agent takes no new jobs, finishes what it has, then shows
//! `Drained`; undrain brings it back. The controller sets the flag `drain.<host>` in the
//! state bucket; the agent watches that one key, so it reacts at once.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Pullers;
use crate::nats::Resources;
use crate::registry::{record_timeline, AgentState};

/// State bucket key of an agent's drain flag.
pub fn key(hostname: &str) -> String {
    crate::wire::keys::drain(hostname)
}

/// Runs the pull loops, stopping and restarting them as the drain flag comes and goes,
/// until `shutdown`. Returns with the loops stopped.
pub async fn run(
    resources: &Resources,
    hostname: &str,
    pullers: Pullers,
    state: &watch::Sender<AgentState>,
    shutdown: &CancellationToken,
) {
    let key = key(hostname);
    let mut flag = resources.state.watch_with_history(&key).await.ok();
    if flag.is_none() {
        tracing::warn!("cannot watch the drain flag; drain will not take effect");
    }
    let mut running = Some(pullers.start());
    let mut check = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            entry = next_flag(&mut flag) => {
                let drained = matches!(entry, Some(kv::Operation::Put));
                match (drained, running.take()) {
                    (true, Some((stop, handles))) => {
                        tracing::info!("draining: no new jobs");
                        stop.cancel();
                        for h in handles { let _ = h.await; }
                        set(state, AgentState::Draining);
                        note(resources, hostname, "draining", "No new jobs; in-flight jobs finish").await;
                    }
                    (false, None) => {
                        tracing::info!("undrained: taking jobs again");
                        running = Some(pullers.start());
                        set(state, AgentState::Ready);
                        note(resources, hostname, "ready", "Resumed accepting jobs").await;
                    }
                    (_, r) => running = r,
                }
            }
            _ = check.tick() => {
                if *state.borrow() == AgentState::Draining && pullers.in_flight() == 0 {
                    tracing::info!("drained: in-flight jobs done");
                    set(state, AgentState::Drained);
                    note(resources, hostname, "drained", "All in-flight jobs done").await;
                }
            }
        }
    }
    if let Some((stop, handles)) = running {
        stop.cancel();
        for h in handles {
            let _ = h.await;
        }
    }
}

/// Records a drain state change in the agent's timeline.
async fn note(resources: &Resources, hostname: &str, event: &str, message: &str) {
    let now = time::OffsetDateTime::now_utc();
    record_timeline(&resources.state, hostname, (event, message), now).await;
}

fn set(state: &watch::Sender<AgentState>, to: AgentState) {
    state.send_if_modified(|s| std::mem::replace(s, to) != to);
}

/// The next change of the flag; pends forever if there is no watch.
async fn next_flag(watch: &mut Option<kv::Watch>) -> Option<kv::Operation> {
    match watch {
        Some(w) => match w.next().await {
            Some(Ok(entry)) => Some(entry.operation),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "drain flag watch failed");
                std::future::pending().await
            }
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
