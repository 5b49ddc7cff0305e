//! The long-running commands: `start`, `nats server start`, `controller start`,
//! `agent start`. Each runs until SIGINT/SIGTERM, then shuts down in order.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::agent::{self, AgentError};
use crate::config::{AuthType, Config, NatsConnection};
use crate::controller::{self, ControllerError};
use crate::nats::supervisor::{self, SupervisorError, SupervisorHandle};
use crate::nats::{connect, NatsError, Resources};
use crate::provider::Providers;
use crate::registry::{component_heartbeat, SubComponent};
use crate::security::{nats_auth, SecurityError};
use crate::service::{self, Part};

/// A long-running command failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    Controller(#[from] ControllerError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Nats(#[from] NatsError),
    #[error(transparent)]
    Security(#[from] SecurityError),
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
}

/// A token cancelled by the first SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> Result<CancellationToken, AppError> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).map_err(AppError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AppError::Signal)?;
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
        }
        service::stopping();
        t.cancel();
    });
    Ok(token)
}

/// How osapi itself connects to the server it supervises.
fn local_connection(config: &Config) -> NatsConnection {
    let server = &config.nats.server;
    let mut conn = NatsConnection {
        host: server.host.clone(),
        port: server.port,
        client_name: "osapi-nats-setup".into(),
        namespace: server.namespace.clone(),
        // The controller's identity, as for auth below.
        tls: config.controller.nats.tls.clone(),
        ..Default::default()
    };
    conn.auth.kind = server.auth.kind;
    match server.auth.kind {
        AuthType::UserPass => {
            if let Some(u) = server.auth.users.first() {
                conn.auth.username = u.username.clone();
                conn.auth.password = u.password.clone();
            }
        }
        AuthType::Token => conn.auth.token = server.auth.token.clone(),
        // The controller's identity: the setup creates every stream and bucket.
        AuthType::Auto => {
            conn.auth.kind = AuthType::Nkey;
            conn.auth.nkey_file = nats_auth::controller_seed(config)
                .to_string_lossy()
                .into_owned();
        }
        AuthType::None | AuthType::Nkey => {}
    }
    conn
}

/// Starts the supervised nats-server, creates every resource in it, and keeps its
/// registry heartbeat until `shutdown`. With auth `auto` it first generates the missing
/// credentials: the controller's, this host's agent's and those of `nats.server.auth.agents`.
pub async fn start_nats(
    config: &Config,
    shutdown: &CancellationToken,
) -> Result<SupervisorHandle, AppError> {
    let server = &config.nats.server;
    let users = match server.auth.kind {
        AuthType::Auto => nats_auth::ensure_users(config, &agent::identity(config)?)?,
        AuthType::None => {
            tracing::warn!(
                "nats.server.auth.type is none: whoever reaches {}:{} can write jobs that \
                 every agent runs, bypassing tokens, roles and the audit log",
                server.host,
                server.port
            );
            Vec::new()
        }
        _ => Vec::new(),
    };
    let handle = supervisor::start(server.clone(), &users, CancellationToken::new()).await?;
    if config.nats.server.auth.kind == AuthType::Nkey {
        tracing::warn!("nkey auth: resources are created by the controller and agents instead");
        return Ok(handle);
    }
    let setup = async {
        let client = connect(&local_connection(config), "controller.nats", false).await?;
        Resources::ensure(&client, config, &config.nats.server.namespace).await
    };
    match setup.await {
        Ok(resources) => {
            nats_heartbeat(config, &resources, shutdown);
            Ok(handle)
        }
        Err(e) => {
            handle.stop().await;
            Err(e.into())
        }
    }
}

fn nats_heartbeat(config: &Config, resources: &Resources, shutdown: &CancellationToken) {
    let s = &config.nats.server;
    let metrics = if s.metrics.enabled {
        SubComponent::ok(format!("http://{}:{}", s.metrics.host, s.metrics.port))
    } else {
        SubComponent::disabled()
    };
    let entry = crate::registry::component_entry(
        "nats",
        [
            ("nats.heartbeat".to_owned(), SubComponent::ok("")),
            (
                "nats.server".to_owned(),
                SubComponent::ok(format!("nats://{}:{}", s.host, s.port)),
            ),
            ("nats.metrics".to_owned(), metrics),
        ]
        .into(),
    );
    tokio::spawn(component_heartbeat(
        resources.registry.clone(),
        entry,
        config.agent.process_conditions.clone(),
        crate::agent::heartbeat::interval_for(config.nats.registry.ttl),
        shutdown.clone(),
    ));
}

/// `osapi nats server start`.
pub async fn run_nats(config: Config) -> Result<(), AppError> {
    service::expect(&[Part::Nats]);
    let shutdown = shutdown_on_signal()?;
    let nats = start_nats(&config, &shutdown).await?;
    service::ready(Part::Nats);
    tracing::info!(url = %nats.url(), "NATS ready");
    shutdown.cancelled().await;
    nats.stop().await;
    Ok(())
}

/// Files the controller keeps for itself besides client connections: NATS, listeners,
/// the audit spool, webhook and telemetry connections, log files.
const FILES_RESERVED: u64 = 64;

/// Raises the file limit to its hard limit and keeps `controller.api.max_connections`
/// under it: a connection over the limit would fail its accept (EMFILE) instead of
/// waiting in the kernel's backlog or making room by closing an idle one.
fn fit_connections_to_file_limit(config: &mut Config) {
    let Some(files) = crate::provider::process::raise_open_files_limit() else {
        return;
    };
    let api = &mut config.controller.api;
    let room = usize::try_from(files.saturating_sub(FILES_RESERVED).max(1)).unwrap_or(usize::MAX);
    if api.max_connections > room {
        tracing::info!(
            configured = api.max_connections,
            used = room,
            open_files_limit = files,
            "controller.api.max_connections lowered to fit the open files limit"
        );
        api.max_connections = room;
    }
}

/// `osapi controller start`.
pub async fn run_controller(mut config: Config) -> Result<(), AppError> {
    service::expect(&[Part::Controller]);
    let shutdown = shutdown_on_signal()?;
    nats_auth::use_generated(&mut config, None);
    fit_connections_to_file_limit(&mut config);
    let listener = controller::bind(&config).await?;
    controller::serve(Arc::new(config), listener, shutdown).await?;
    Ok(())
}

/// `osapi agent start`.
pub async fn run_agent(mut config: Config) -> Result<(), AppError> {
    service::expect(&[Part::Agent]);
    let shutdown = shutdown_on_signal()?;
    let hostname = agent::identity(&config)?;
    nats_auth::use_generated(&mut config, Some(&hostname));
    agent::run(&config, Providers::for_agent(&config.agent), shutdown).await?;
    Ok(())
}

/// `osapi start`: NATS, controller and agent in one process. On a signal the API stops
/// taking requests, the agent finishes in-flight jobs, and nats-server stops last.
pub async fn run_all(mut config: Config) -> Result<(), AppError> {
    service::expect(&[Part::Nats, Part::Controller, Part::Agent]);
    let shutdown = shutdown_on_signal()?;
    let nats = start_nats(&config, &shutdown).await?;
    service::ready(Part::Nats);
    // The controller and the agent use the credentials the server was just given.
    let hostname = agent::identity(&config)?;
    nats_auth::use_generated(&mut config, Some(&hostname));
    fit_connections_to_file_limit(&mut config);
    let config = Arc::new(config);
    let result = run_controller_and_agent(config, shutdown).await;
    nats.stop().await;
    tracing::info!("osapi stopped");
    result
}

async fn run_controller_and_agent(
    config: Arc<Config>,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let listener = controller::bind(&config).await?;
    let api = tokio::spawn(controller::serve(
        config.clone(),
        listener,
        shutdown.clone(),
    ));
    let agent_result = agent::run(
        &config,
        Providers::for_agent(&config.agent),
        shutdown.clone(),
    )
    .await;
    // The agent returns on shutdown or on a start-up error; either way stop the API too.
    shutdown.cancel();
    let api_result = match api.await {
        Ok(r) => r.map_err(AppError::from),
        Err(e) => {
            tracing::error!(error = %e, "controller task failed");
            Ok(())
        }
    };
    agent_result?;
    api_result
}
