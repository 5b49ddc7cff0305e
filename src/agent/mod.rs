//! The agent: consumes jobs routed to its hostname, labels, `_all` and `_any`, runs them
//! through providers, and keeps its registry entry alive.

pub mod consumer;
pub mod drain;
pub mod facts;
pub mod heartbeat;
pub mod ops;
pub mod processor;
pub mod record;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, ReplayPolicy};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ReplayKind};
use crate::job::target::sanitize_hostname;
use crate::nats::{connect_with_inbox, NatsError, Resources};
use crate::provider::Providers;
use crate::registry::{AgentRegistration, AgentState, SubComponent};
use crate::wire::job::rfc3339;
use consumer::JobContext;
use processor::ExecContext;

/// Name of the consumer every agent shares, so that `_any` runs on exactly one agent.
pub const SHARED_ANY_CONSUMER: &str = "agents_any";

/// Name of the agent's own consumer (`_all`, its hostname, its labels).
pub fn own_consumer_name(hostname: &str) -> String {
    format!("agent_{}", sanitize_hostname(hostname))
}

/// The agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Nats(#[from] NatsError),
    #[error("cannot set up job consumer: {0}")]
    Consumer(String),
    #[error("cannot determine this host's name: {0}; set agent.hostname")]
    Hostname(String),
    #[error("cannot serve agent metrics on agent.metrics host/port: {0}")]
    Metrics(std::io::Error),
}

/// The agent's identity: `agent.hostname` or the OS hostname.
pub fn identity(config: &Config) -> Result<String, AgentError> {
    if !config.agent.hostname.is_empty() {
        return Ok(config.agent.hostname.clone());
    }
    crate::provider::node::os_hostname().map_err(|e| AgentError::Hostname(e.to_string()))
}

/// Connects to NATS and opens the JetStream resources, retrying until it works or
/// `shutdown` fires (`None`): an agent started before NATS, or racing a controller that
/// creates the same resources, waits instead of exiting.
///
/// Resources are opened, and created only when one is missing: an agent's NATS user (see
/// `security::nats_auth`) may not create streams, so it waits for the controller or
/// `osapi nats server start` to do it; an agent with full rights creates them itself.
async fn connect_until_ready(
    config: &Config,
    hostname: &str,
    shutdown: &CancellationToken,
) -> Option<(async_nats::Client, Resources)> {
    let inbox = crate::security::nats_auth::inbox_prefix(hostname);
    let ns = &config.agent.nats.namespace;
    crate::nats::retry_until_ready(shutdown, Duration::from_millis(100), || async {
        let client = connect_with_inbox(&config.agent.nats, "agent.nats", &inbox).await?;
        let resources = match Resources::open_for_agent(&client, config, ns).await {
            Ok(resources) => resources,
            Err(e) => {
                tracing::debug!(error = %e, "a resource is missing; creating them");
                Resources::ensure(&client, config, ns).await?
            }
        };
        Ok::<_, NatsError>((client, resources))
    })
    .await
}

/// Connects, sets up consumers, and runs until `shutdown`; then stops pulling, lets
/// in-flight jobs finish within `agent.shutdown_grace`, and removes its registry entry.
pub async fn run(
    config: &Config,
    providers: Providers,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    let hostname = identity(config)?;
    // A bad TLS file is not worth waiting out: connecting retries everything else.
    crate::security::tls::nats_client(&config.agent.nats.tls, "agent.nats")
        .map_err(NatsError::from)?;
    let Some((client, resources)) = connect_until_ready(config, &hostname, &shutdown).await else {
        return Ok(());
    };
    let subjects = resources.names.subjects();
    let base = consumer_config(config);
    let shared_any = consumer::ensure_consumer(
        &resources,
        SHARED_ANY_CONSUMER,
        pull::Config {
            filter_subject: subjects.any_filter(),
            // A first-ever agent still picks up `_any` jobs a caller is waiting for.
            deliver_policy: DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::now_utc() - Duration::from_secs(60),
            },
            ..base.clone()
        },
    )
    .await
    .map_err(AgentError::Consumer)?;
    let own = consumer::ensure_consumer(
        &resources,
        &own_consumer_name(&hostname),
        pull::Config {
            filter_subjects: subjects.agent_filters(&hostname, &config.agent.labels),
            // A new agent must not replay old broadcasts.
            deliver_policy: DeliverPolicy::New,
            ..base
        },
    )
    .await
    .map_err(AgentError::Consumer)?;

    let progress_every = effective_ack_wait(config) / 3;
    let first_facts = facts::collect(&providers, &hostname)
        .await
        .unwrap_or_default();
    let (renamed, renamed_rx) = watch::channel(None);
    let ctx = Arc::new(JobContext {
        exec: ExecContext {
            renamed,
            hostname: hostname.clone(),
            labels: config.agent.labels.clone(),
            providers,
            facts: std::sync::RwLock::new(first_facts),
            max_output: config.agent.command.max_output,
            files: resources
                .objects
                .clone()
                .zip(resources.file_state.clone())
                .map(|(objects, states)| (objects, states, resources.js.clone())),
        },
        client: client.clone(),
        resources: resources.clone(),
        progress_every: progress_every.max(Duration::from_millis(500)),
        metrics: crate::telemetry::metrics::AgentMetrics::new(),
        abandon: CancellationToken::new(),
        trust: crate::security::job_keys::TrustedKeys::from_config(config),
        // A new key each start: the controller learns it from the registry entry.
        answer_key: nkeys::KeyPair::new_server(),
        ran: Default::default(),
    });
    crate::telemetry::metrics::serve(
        &config.agent.metrics,
        &config.telemetry.metrics.path,
        ctx.metrics.registry.clone(),
        Some((client.clone(), ctx.metrics.nats_connected.clone())),
        shutdown.clone(),
    )
    .await
    .map_err(AgentError::Metrics)?;
    let jobs = TaskTracker::new();
    let (state_tx, state_rx) = watch::channel(AgentState::Ready);
    let background = CancellationToken::new();

    let now = rfc3339(time::OffsetDateTime::now_utc());
    let entry = AgentRegistration {
        hostname: hostname.clone(),
        labels: config.agent.labels.clone(),
        registered_at: now.clone(),
        started_at: now,
        state: AgentState::Ready,
        agent_version: crate::VERSION.to_owned(),
        conditions: Vec::new(),
        process: None,
        sub_components: sub_components(config),
        uptime_seconds: None,
        load_average: None,
        memory: None,
        machine_id: crate::provider::system::SystemRoot::default().machine_id(),
        current_hostname: None,
        answer_key: Some(ctx.answer_key.public_key()),
    };
    let evaluator = heartbeat::Evaluator::new(
        ctx.exec.providers.node.clone(),
        config.agent.conditions.clone(),
        config.agent.process_conditions.clone(),
    );
    let heartbeat = tokio::spawn(heartbeat::run(
        resources.registry.clone(),
        entry,
        heartbeat::interval_for(config.nats.registry.ttl),
        state_rx,
        renamed_rx,
        evaluator,
        background.clone(),
    ));
    let facts_loop = tokio::spawn(facts::report(
        ctx.clone(),
        config.agent.facts.interval,
        background.clone(),
    ));
    let pullers = Pullers {
        consumers: [shared_any, own],
        ctx: ctx.clone(),
        limit: Arc::new(Semaphore::new(config.agent.max_jobs)),
        jobs: jobs.clone(),
    };
    tracing::info!(%hostname, labels = ?config.agent.labels, max_jobs = config.agent.max_jobs, "agent started");
    crate::service::ready(crate::service::Part::Agent);
    drain::run(&resources, &hostname, pullers, &state_tx, &shutdown).await;

    tracing::info!("agent stopping: no new jobs; waiting for in-flight jobs");
    jobs.close();
    if tokio::time::timeout(config.agent.shutdown_grace, jobs.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight jobs did not finish within {:?}; abandoning them (they will be redelivered)",
            config.agent.shutdown_grace
        );
        ctx.abandon.cancel();
        jobs.wait().await;
    }
    background.cancel();
    let _ = heartbeat.await;
    let _ = facts_loop.await;
    if let Err(e) = client.flush().await {
        tracing::debug!(error = %e, "flush on shutdown failed");
    }
    tracing::info!("agent stopped");
    Ok(())
}

/// The pull loops of an agent, startable and stoppable (drain).
pub struct Pullers {
    consumers: [jetstream::consumer::Consumer<pull::Config>; 2],
    ctx: Arc<JobContext>,
    limit: Arc<Semaphore>,
    jobs: TaskTracker,
}

impl Pullers {
    /// Starts pulling; cancel the token to stop.
    fn start(&self) -> (CancellationToken, Vec<tokio::task::JoinHandle<()>>) {
        let stop = CancellationToken::new();
        let handles = self
            .consumers
            .iter()
            .map(|c| {
                tokio::spawn(consumer::consume(
                    c.clone(),
                    self.ctx.clone(),
                    self.limit.clone(),
                    self.jobs.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        (stop, handles)
    }

    /// Jobs running now.
    fn in_flight(&self) -> usize {
        self.jobs.len()
    }
}

fn sub_components(config: &Config) -> std::collections::BTreeMap<String, SubComponent> {
    let m = &config.agent.metrics;
    let metrics = if m.enabled {
        SubComponent::ok(format!("http://{}:{}", m.host, m.port))
    } else {
        SubComponent::disabled()
    };
    [
        ("agent.heartbeat".to_owned(), SubComponent::ok("")),
        ("agent.metrics".to_owned(), metrics),
    ]
    .into()
}

/// With back-off set, the server uses its first step as the ack wait.
fn effective_ack_wait(config: &Config) -> Duration {
    let c = &config.agent.consumer;
    c.back_off.first().copied().unwrap_or(c.ack_wait)
}

fn consumer_config(config: &Config) -> pull::Config {
    let c = &config.agent.consumer;
    pull::Config {
        ack_policy: AckPolicy::Explicit,
        ack_wait: c.ack_wait,
        max_deliver: c.max_deliver,
        max_ack_pending: c.max_ack_pending,
        backoff: c.back_off.clone(),
        replay_policy: match c.replay_policy {
            ReplayKind::Instant => ReplayPolicy::Instant,
            ReplayKind::Original => ReplayPolicy::Original,
        },
        ..Default::default()
    }
}
