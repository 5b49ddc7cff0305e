//! Drain and undrain: a drained agent takes no new jobs, finishes what it has, then shows
//! `Drained`; undrain brings it back. The controller sets the flag `drain.<host>` in the
//! state bucket; the agent listens to that one key, so it reacts at once.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the flag is read again in case a change was missed (see [`Flag`]).
const FLAG_REREAD: Duration = Duration::from_secs(5);

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
    let mut flag = Flag::listen(resources, hostname).await;
    let mut running = Some(pullers.start());
    let mut check = tokio::time::interval(Duration::from_millis(200));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            drained = flag.changed() => {
                match (drained, running.take()) {
                    (true, Some((stop, handles))) => {
                        tracing::info!("draining: no new jobs");
                        stop.cancel();
                        for h in handles { let _ = h.await; }
                        set(state, AgentState::Draining);
                        note(resources, hostname, "draining", "No new jobs; in-flight jobs finish");
                    }
                    (false, None) => {
                        tracing::info!("undrained: taking jobs again");
                        running = Some(pullers.start());
                        set(state, AgentState::Ready);
                        note(resources, hostname, "ready", "Resumed accepting jobs");
                    }
                    (_, r) => running = r,
                }
            }
            // Only a draining agent polls: a thousand idle ones (the fleet simulator)
            // would wake 5,000 times a second for nothing.
            _ = check.tick(), if *state.borrow() == AgentState::Draining => {
                if pullers.in_flight() == 0 {
                    tracing::info!("drained: in-flight jobs done");
                    set(state, AgentState::Drained);
                    note(resources, hostname, "drained", "All in-flight jobs done");
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

/// Records a drain state change in the agent's timeline, in the background: a slow write
/// must not hold up the state change itself (the entry's time is taken now, so the
/// timeline keeps its order however the writes finish).
fn note(resources: &Resources, hostname: &str, event: &'static str, message: &'static str) {
    let now = time::OffsetDateTime::now_utc();
    let (state, hostname) = (resources.state.clone(), hostname.to_owned());
    tokio::spawn(async move {
        record_timeline(&state, &hostname, (event, message), now).await;
    });
}

fn set(state: &watch::Sender<AgentState>, to: AgentState) {
    state.send_if_modified(|s| std::mem::replace(s, to) != to);
}

/// The agent's drain flag. A core subscription to its one key announces changes at once;
/// each announcement, and every [`FLAG_REREAD`], reads the key (one direct get), since core
/// delivery is at-most-once and a reconnect can drop a change. No KV watch: that needs a
/// consumer on the whole state bucket, and an agent's NATS user may read only its own key.
struct Flag {
    store: kv::Store,
    key: String,
    changes: Option<async_nats::Subscriber>,
    reread: tokio::time::Interval,
    drained: bool,
}

impl Flag {
    async fn listen(resources: &Resources, hostname: &str) -> Self {
        let key = key(hostname);
        let subject = format!("{}{key}", resources.state.prefix);
        // Subscribed before the first read, so no change falls between the two.
        let changes = match resources.js.client().subscribe(subject).await {
            Ok(sub) => Some(sub),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen to the drain flag; reading it every {FLAG_REREAD:?}");
                None
            }
        };
        Self {
            store: resources.state.clone(),
            key,
            changes,
            // The first tick is immediate: the flag may be set before the agent starts.
            reread: tokio::time::interval(FLAG_REREAD),
            drained: false,
        }
    }

    /// Waits until the flag changes; whether the agent is now drained.
    async fn changed(&mut self) -> bool {
        loop {
            let (changes, reread) = (&mut self.changes, &mut self.reread);
            let announced = async {
                match changes.as_mut() {
                    Some(sub) => {
                        if sub.next().await.is_none() {
                            // The subscription ended: rely on the re-reads.
                            *changes = None;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = announced => {}
                _ = reread.tick() => {}
            }
            let drained = match self.store.get(&self.key).await {
                Ok(value) => value.is_some(),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the drain flag; keeping its state");
                    continue;
                }
            };
            if drained != self.drained {
                self.drained = drained;
                return drained;
            }
        }
    }
}
