//! Shared state of the API: auth, and the NATS backend once it is reachable.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OnceCell, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::ApiError;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::controller::notify::Notifier;
use crate::job::feed::FleetBus;
use crate::job::{JobClient, Target};
use crate::nats::connect::{check_server_version, connected_within, is_connected, RECONNECT_GRACE};
use crate::nats::{connect, Resources};
use crate::registry::{
    component_heartbeat, list_agents, AgentRegistration, AgentState, SubComponent,
};

/// How long a registry listing is reused for target validation.
const AGENT_CACHE_TTL: Duration = Duration::from_secs(2);

/// State handed to every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub auth: Arc<Authenticator>,
    /// Where condition events go.
    pub notifier: Arc<dyn Notifier>,
    /// When this controller started (health status uptime).
    pub started: std::time::Instant,
    pub metrics: Arc<crate::telemetry::metrics::ControllerMetrics>,
    /// Fleet events for `GET /events`, from the registry watcher and the job feed.
    pub fleet: FleetBus,
    /// Fires when the API stops: event streams end then, so the graceful stop, which
    /// waits for open responses, is not held by streams that never end themselves.
    pub streams_end: CancellationToken,
    /// One permit per job request in flight (`controller.api.max_inflight`).
    job_slots: Arc<Semaphore>,
    backend: Arc<OnceCell<Backend>>,
    /// The background tasks (connect loop, dead-letter follower, heartbeat, watcher,
    /// connection gauge), so a stop can wait for them: the heartbeat removes the
    /// controller's registry entry as it ends, which a process exiting first would skip.
    tasks: TaskTracker,
}

/// A job request's place under `controller.api.max_inflight`; frees it when dropped.
pub struct JobSlot {
    _permit: OwnedSemaphorePermit,
    gauge: prometheus::IntGauge,
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The controller's NATS side, available once connected and set up.
pub struct Backend {
    pub client: async_nats::Client,
    pub resources: Resources,
    pub jobs: JobClient,
    /// Writer of the audit log, when the audit bucket is configured.
    pub audit: Option<crate::audit::AuditLog>,
    agents: Mutex<Option<(Instant, Vec<AgentRegistration>)>>,
}

impl AppState {
    pub fn new(config: Arc<Config>, auth: Arc<Authenticator>, notifier: Arc<dyn Notifier>) -> Self {
        Self {
            auth,
            notifier,
            started: std::time::Instant::now(),
            metrics: crate::telemetry::metrics::ControllerMetrics::new(),
            fleet: FleetBus::default(),
            streams_end: CancellationToken::new(),
            job_slots: Arc::new(Semaphore::new(config.controller.api.max_inflight.max(1))),
            config,
            backend: Arc::new(OnceCell::new()),
            tasks: TaskTracker::new(),
        }
    }

    /// Waits, at most `grace`, for the background tasks to end; call it once their
    /// cancellation token has fired. Returns whether they all ended in time (the rest are
    /// left to the runtime's shutdown).
    pub async fn stop_background(&self, grace: Duration) -> bool {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_ok() {
            return true;
        }
        tracing::warn!(
            left = self.tasks.len(),
            "controller background tasks did not stop within {grace:?}"
        );
        false
    }

    /// A slot for one job request, or 503 `Busy` when `max_inflight` are running. Refusing
    /// at once (instead of queueing) keeps latency bounded and tells the client to back off.
    pub fn job_slot(&self, op: &str) -> Result<JobSlot, ApiError> {
        let m = &self.metrics;
        match self.job_slots.clone().try_acquire_owned() {
            Ok(permit) => {
                m.jobs_inflight.inc();
                Ok(JobSlot {
                    _permit: permit,
                    gauge: m.jobs_inflight.clone(),
                })
            }
            Err(_) => {
                m.jobs_rejected.with_label_values(&[op]).inc();
                Err(ApiError::Busy(format!(
                    "too many job requests in flight (controller.api.max_inflight = {})",
                    self.config.controller.api.max_inflight
                )))
            }
        }
    }

    /// The audit writer, once NATS is set up and if auditing is configured.
    pub fn audit_log(&self) -> Option<&crate::audit::AuditLog> {
        self.backend.get().and_then(|b| b.audit.as_ref())
    }

    /// The backend if it was ever set up (connected or not).
    pub fn backend_any(&self) -> Option<&Backend> {
        self.backend.get()
    }

    /// The backend, or 503 while NATS is unreachable.
    pub fn backend(&self) -> Result<&Backend, ApiError> {
        let backend = self
            .backend
            .get()
            .ok_or_else(|| ApiError::Unavailable("NATS is not reachable yet".into()))?;
        if !is_connected(&backend.client) {
            return Err(ApiError::Unavailable("lost the connection to NATS".into()));
        }
        Ok(backend)
    }

    /// [`Self::backend`] for a job: a connection lost moments ago (a server restarting)
    /// is waited for, up to [`RECONNECT_GRACE`], before the job is refused.
    pub async fn backend_for_job(&self) -> Result<&Backend, ApiError> {
        if let Some(backend) = self.backend.get() {
            connected_within(&backend.client, RECONNECT_GRACE).await;
        }
        self.backend()
    }

    /// Connects to NATS in the background and sets up resources, retrying until it works
    /// or `cancel` fires. The API serves (with 503s) meanwhile.
    pub fn connect_in_background(
        &self,
        cancel: CancellationToken,
        signer: Arc<crate::security::job_keys::JobSigner>,
    ) {
        let state = self.clone();
        self.tasks.spawn(async move {
            let config = state.config.clone();
            let conn = &config.controller.nats;
            let client = match connect(conn, "controller.nats", true).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "controller cannot use its NATS settings");
                    return;
                }
            };
            // The gauge follows the client itself, from now on: it must read 0 while the
            // first connection is still being tried and after the server goes away, and
            // the backend (set only once resources exist) is no help for either.
            state.tasks.spawn(follow_connection(
                client.clone(),
                state.metrics.nats_connected.clone(),
                cancel.clone(),
            ));
            let ready =
                crate::nats::retry_until_ready(&cancel, Duration::from_millis(200), || async {
                    check_server_version(&client)?;
                    let resources = Resources::ensure(&client, &config, &conn.namespace).await?;
                    let lifetime = crate::security::job_keys::record_lifetime(&config);
                    let jobs = JobClient::start_with(
                        client.clone(),
                        resources.clone(),
                        config.controller.api.job_timeout,
                        (signer.clone(), lifetime),
                        state.fleet.clone(),
                        cancel.clone(),
                    )
                    .await
                    .map_err(|e| crate::nats::NatsError::Request(e.to_string()))?;
                    Ok::<_, crate::nats::NatsError>((resources, jobs))
                });
            // An attempt can wait seconds on an absent server; a stop must not.
            let ready = tokio::select! {
                _ = cancel.cancelled() => None,
                ready = ready => ready,
            };
            let Some((resources, jobs)) = ready else {
                return;
            };
            state.tasks.spawn(crate::controller::dlq::follow(
                resources.clone(),
                jobs.clone(),
                cancel.clone(),
            ));
            state.tasks.spawn(crate::controller::stranded::sweep(
                resources.clone(),
                jobs.clone(),
                cancel.clone(),
            ));
            state.start_heartbeat_and_watcher(&resources, &cancel);
            let spool = crate::audit::Spool::new(crate::audit::spool_path(&state.config));
            let audit = resources.audit.clone().map(|bucket| {
                let client = client.clone();
                crate::audit::AuditLog::start(client, bucket, spool, cancel.clone(), &state.tasks)
            });
            let _ = state.backend.set(Backend {
                client,
                resources,
                jobs,
                audit,
                agents: Mutex::new(None),
            });
            tracing::info!("controller connected to NATS");
            // Serving jobs now (the listener was bound before this task began).
            crate::service::ready(crate::service::Part::Controller);
        });
    }
}

impl AppState {
    /// The controller's own registry entry, and the registry watcher (fleet events, and
    /// condition notifications when enabled).
    fn start_heartbeat_and_watcher(&self, resources: &Resources, cancel: &CancellationToken) {
        let config = &self.config;
        let api = &config.controller.api;
        let metrics = &config.controller.metrics;
        let n = &config.controller.notifications;
        let on_off = |on: bool| {
            if on {
                SubComponent::ok("")
            } else {
                SubComponent::disabled()
            }
        };
        let subs = [
            (
                "controller.api",
                SubComponent::ok(format!("http://{}:{}", api.host, api.port)),
            ),
            ("controller.heartbeat", SubComponent::ok("")),
            (
                "controller.metrics",
                if metrics.enabled {
                    SubComponent::ok(format!("http://{}:{}", metrics.host, metrics.port))
                } else {
                    SubComponent::disabled()
                },
            ),
            ("controller.notifier", on_off(n.enabled)),
            (
                "controller.tracing",
                on_off(config.telemetry.tracing.enabled),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let entry = crate::registry::component_entry("controller", subs);
        self.tasks.spawn(component_heartbeat(
            resources.registry.clone(),
            entry,
            config.agent.process_conditions.clone(),
            crate::agent::heartbeat::interval_for(config.nats.registry.ttl),
            cancel.clone(),
        ));
        // Always watched: the fleet stream needs it; notifying is up to the config.
        self.tasks.spawn(crate::controller::notify::watcher::run(
            resources.registry.clone(),
            n.enabled.then(|| self.notifier.clone()),
            n.renotify_interval,
            self.fleet.clone(),
            cancel.clone(),
        ));
    }
}

/// How often the `nats_connected` gauge re-reads the connection state.
const CONNECTION_POLL: Duration = Duration::from_secs(1);

/// Keeps `gauge` at 1 while `client` is connected and 0 otherwise, until `cancel`.
async fn follow_connection(
    client: async_nats::Client,
    gauge: prometheus::IntGauge,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(CONNECTION_POLL);
    loop {
        gauge.set(i64::from(is_connected(&client)));
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
    }
    // A stopped controller is not connected (the gauge outlives the task in tests and
    // embedders that keep the registry).
    gauge.set(0);
}

impl Backend {
    /// Registered agents, from a short-lived cache (`fresh` forces a re-read).
    pub async fn agents(&self, fresh: bool) -> Result<Vec<AgentRegistration>, ApiError> {
        let mut cache = self.agents.lock().await;
        if let (false, Some((at, agents))) = (fresh, cache.as_ref()) {
            if at.elapsed() < AGENT_CACHE_TTL {
                return Ok(agents.clone());
            }
        }
        let agents = list_agents(&self.resources.registry).await?;
        *cache = Some((Instant::now(), agents.clone()));
        Ok(agents)
    }

    /// Parses and checks a target against the registry; returns it with the hostnames a
    /// broadcast expects answers from.
    pub async fn resolve_target(&self, raw: &str) -> Result<(Target, Vec<String>), ApiError> {
        let target =
            Target::parse(raw).map_err(|e| ApiError::bad_request("hostname", e.to_string()))?;
        match &target {
            Target::Any => return Ok((target, Vec::new())),
            Target::Host(h) => {
                let agent = self.find_agent(h).await?.ok_or_else(|| {
                    ApiError::bad_request("hostname", format!("target agent {raw:?} not found"))
                })?;
                if agent.state != AgentState::Ready {
                    return Err(ApiError::Conflict(format!(
                        "agent {h:?} is {:?} and takes no jobs; undrain it first",
                        agent.state
                    )));
                }
                // A renamed host is reached on its agent's own subject.
                let target = Target::Host(agent.hostname.clone());
                return Ok((target, vec![agent.hostname]));
            }
            Target::All | Target::Label { .. } => {}
        }
        let mut matching = self.matching(&target, false).await?;
        if matching.is_empty() {
            matching = self.matching(&target, true).await?;
        }
        if matching.is_empty() {
            return Err(match target {
                Target::All => ApiError::Unavailable("no agents are registered".into()),
                _ => ApiError::bad_request("hostname", format!("target agent {raw:?} not found")),
            });
        }
        Ok((target, matching))
    }

    /// The agent a hostname names: the agent of that name (one key, no scan), else the
    /// one whose host osapi renamed to it. Two hosts renamed alike are ambiguous: 400.
    pub async fn find_agent(&self, name: &str) -> Result<Option<AgentRegistration>, ApiError> {
        if let Some(agent) = self.agent(name).await? {
            return Ok(Some(agent));
        }
        // Read past the cache, and without refilling it: a miss here (an agent not yet
        // registered) must not pin a listing a broadcast then takes as the fleet.
        let mut renamed: Vec<AgentRegistration> = list_agents(&self.resources.registry)
            .await?
            .into_iter()
            .filter(|a| a.current_hostname.as_deref() == Some(name))
            .collect();
        if renamed.len() > 1 {
            let agents: Vec<&str> = renamed.iter().map(|a| a.hostname.as_str()).collect();
            return Err(ApiError::bad_request(
                "hostname",
                format!(
                    "{name:?} is the new name of several hosts (agents {}); target one by its agent name",
                    agents.join(", ")
                ),
            ));
        }
        Ok(renamed.pop())
    }

    /// One agent's registry entry, read fresh (one key, no scan).
    async fn agent(&self, hostname: &str) -> Result<Option<AgentRegistration>, ApiError> {
        let entry = self
            .resources
            .registry
            .get(AgentRegistration::key(hostname))
            .await
            .map_err(ApiError::nats)?;
        Ok(entry.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn matching(&self, target: &Target, fresh: bool) -> Result<Vec<String>, ApiError> {
        Ok(self
            .agents(fresh)
            .await?
            .into_iter()
            .filter(|a| a.state == AgentState::Ready && target.matches(&a.hostname, &a.labels))
            .map(|a| a.hostname)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn state(config: Config) -> AppState {
        let auth = Authenticator::new("test-signing-key-0123456789abcdef", &Default::default())
            .expect("auth");
        AppState::new(
            Arc::new(config),
            Arc::new(auth),
            Arc::new(crate::controller::notify::LogNotifier),
        )
    }

    #[tokio::test]
    async fn stop_waits_for_background_tasks_after_cancellation() {
        let state = state(Config::default());
        let cancel = CancellationToken::new();
        let finished = Arc::new(AtomicBool::new(false));
        let (stop, done) = (cancel.clone(), finished.clone());
        state.tasks.spawn(async move {
            stop.cancelled().await;
            // Cleanup after cancellation (as the heartbeat's registry delete) takes a while.
            tokio::time::sleep(Duration::from_millis(200)).await;
            done.store(true, Ordering::SeqCst);
        });
        cancel.cancel();
        assert!(state.stop_background(Duration::from_secs(5)).await);
        assert!(
            finished.load(Ordering::SeqCst),
            "stop returned before the task ended"
        );
    }

    #[tokio::test]
    async fn stop_is_bounded_by_its_grace() {
        let state = state(Config::default());
        state.tasks.spawn(std::future::pending::<()>());
        let started = std::time::Instant::now();
        assert!(!state.stop_background(Duration::from_millis(100)).await);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn the_connect_loop_is_tracked_and_ends_on_cancellation() {
        // A port nothing listens on: the loop keeps retrying until cancelled.
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        drop(socket);
        let mut config = Config::default();
        config.controller.nats.host = "127.0.0.1".into();
        config.controller.nats.port = port;
        let state = state(config);
        let cancel = CancellationToken::new();
        let seed = crate::security::job_keys::new_seed().expect("seed");
        let signer = crate::security::job_keys::JobSigner::from_seed(&seed).expect("signer");
        state.connect_in_background(cancel.clone(), Arc::new(signer));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!state.tasks.is_empty(), "the connect loop is not tracked");
        cancel.cancel();
        assert!(state.stop_background(Duration::from_secs(5)).await);
        assert!(state.tasks.is_empty());
    }
}
