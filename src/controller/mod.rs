//! The controller: the REST API over the job pipeline. It never touches the OS itself.

pub mod api;
pub mod auth;
pub mod dlq;
pub mod docs;
pub mod error;
pub mod extract;
pub mod http;
pub mod notify;
pub mod openapi;
pub mod state;
pub mod stranded;
pub mod ui;

use std::sync::Arc;

use axum::http::{HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::CorsLayer;

use std::time::Duration;

use crate::auth::Authenticator;
use crate::config::Config;
use error::ApiError;
use notify::{LogNotifier, Notifier, WebhookNotifier};
use state::AppState;

/// The controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("auth setup: {0}")]
    Auth(#[from] crate::auth::AuthError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("controller.api.security.cors.allow_origins: {0:?} is not a valid origin")]
    Cors(String),
    #[error("controller.notifications: {0}")]
    Notifier(String),
    #[error("job-signing key: {0}")]
    JobKey(#[from] crate::security::SecurityError),
    #[error("cannot serialise the OpenAPI document")]
    OpenApi(#[source] serde_json::Error),
    #[error(transparent)]
    Tls(#[from] crate::security::tls::TlsError),
}

/// How long a stopping controller waits for its background tasks once they are told to
/// stop. Each ends at its next await on cancellation; the slowest is the heartbeat's
/// registry delete, one NATS request (5 s timeout) when the server is away.
const BACKGROUND_STOP_GRACE: Duration = Duration::from_secs(10);

/// The notifier `controller.notifications` asks for.
pub fn configured_notifier(config: &Config) -> Result<Arc<dyn Notifier>, ControllerError> {
    let n = &config.controller.notifications;
    Ok(match n.notifier.as_str() {
        "webhook" => Arc::new(
            WebhookNotifier::new(&n.webhook.url, n.webhook.timeout, n.webhook.retries)
                .map_err(ControllerError::Notifier)?,
        ),
        _ => Arc::new(LogNotifier),
    })
}

/// Builds the state from config (auth checked, NATS connection started in the background).
pub fn build_state(
    config: Arc<Config>,
    notifier: Arc<dyn Notifier>,
    cancel: CancellationToken,
) -> Result<AppState, ControllerError> {
    let security = &config.controller.api.security;
    let auth = Authenticator::new(config.signing_key()?, &security.roles)?;
    let signer = crate::security::job_keys::JobSigner::load(&config)?;
    let state = AppState::new(config.clone(), Arc::new(auth), notifier);
    state.connect_in_background(cancel, Arc::new(signer));
    Ok(state)
}

/// Where the latest original serves every endpoint; the seed-era root paths stay too.
pub const API_PREFIX: &str = "/api";

/// The whole API, at `/api/...` (canonical, as documented) and at the seed era's root
/// paths: the same routes, handlers, guards and audit, mounted twice.
pub fn router(state: AppState) -> Result<Router, ControllerError> {
    use api::{agent, audit, events, facts, file, health, job};
    let (operations, operations_doc) = api::ops::router(&state).finish();
    let document = openapi::document(operations_doc);
    let doc = openapi_body(document.clone())?;
    let openapi = Router::new().route(
        "/openapi.json",
        get(move || async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                doc,
            )
        }),
    );
    let endpoints = Router::new()
        .merge(openapi)
        .merge(docs::router())
        .merge(operations)
        .merge(health::router(&state))
        .merge(job::router(&state))
        .merge(agent::router(&state))
        .merge(audit::router(&state))
        .merge(file::router(&state))
        .merge(facts::router(&state))
        .merge(events::router(&state));
    let metrics = state.metrics.clone();
    let dashboard = dashboard(&state, &endpoints, &document)?;
    let mut app = Router::new()
        .nest(API_PREFIX, endpoints.clone())
        .merge(endpoints)
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(extract::require_json_bodies))
        // After the JSON-only rule: the dashboard's forms post form data.
        .merge(dashboard)
        .layer(axum::middleware::from_fn_with_state(
            http::RequestLimits::new(&state.config.controller.api),
            http::limit_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(metrics, track_http));
    if let Some(cors) = cors_layer(&state.config.controller.api.security.cors.allow_origins)? {
        app = app.layer(cors);
    }
    Ok(app)
}

/// The dashboard at `/` and `/ui/...` (`controller.ui.enabled`), calling `endpoints`
/// in-process; empty when disabled.
fn dashboard(
    state: &AppState,
    endpoints: &Router<AppState>,
    document: &utoipa::openapi::OpenApi,
) -> Result<Router, ControllerError> {
    if !state.config.controller.ui.enabled {
        return Ok(Router::new());
    }
    let doc = serde_json::to_value(document).map_err(ControllerError::OpenApi)?;
    let api = endpoints.clone().with_state(state.clone());
    Ok(ui::router(ui::Ui::new(state.clone(), api, &doc)))
}

/// The OpenAPI document serialised once, served as is.
fn openapi_body(doc: utoipa::openapi::OpenApi) -> Result<axum::body::Bytes, ControllerError> {
    Ok(serde_json::to_vec(&doc)
        .map_err(ControllerError::OpenApi)?
        .into())
}

/// Counts requests and their latency by route template (not raw path: bounded labels).
async fn track_http(
    axum::extract::State(metrics): axum::extract::State<
        Arc<crate::telemetry::metrics::ControllerMetrics>,
    >,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let cx = crate::telemetry::otel::request_context(req.headers(), format!("{method} {route}"));
    // Log lines of this request carry its trace id.
    let span = match crate::telemetry::otel::trace_id(&cx) {
        Some(id) => tracing::info_span!("request", trace_id = %id),
        None => tracing::Span::none(),
    };
    let response = {
        use opentelemetry::context::FutureExt;
        use tracing::Instrument;
        next.run(req)
            .with_context(cx.clone())
            .instrument(span)
            .await
    };
    {
        use opentelemetry::trace::TraceContextExt;
        let otel_span = cx.span();
        otel_span.set_attribute(opentelemetry::KeyValue::new(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        ));
        otel_span.end();
    }
    let status = response.status().as_u16().to_string();
    metrics
        .http_requests
        .with_label_values(&[&route, &method, &status])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[&route, &method])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// An empty list allows no cross-origin caller (no CORS headers at all).
fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, ControllerError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).map_err(|_| ControllerError::Cors(o.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
            ]),
    ))
}

/// Binds `controller.api.host:port`.
pub async fn bind(config: &Config) -> Result<TcpListener, ControllerError> {
    let addr = format!(
        "{}:{}",
        config.controller.api.host, config.controller.api.port
    );
    http::listen(&addr, config.controller.api.header_timeout)
        .await
        .map_err(|source| ControllerError::Bind { addr, source })
}

/// Serves the API on `listener` until `shutdown`; in-flight requests finish first.
pub async fn serve(
    config: Arc<Config>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ControllerError> {
    let notifier = configured_notifier(&config)?;
    serve_with(config, listener, shutdown, notifier).await
}

/// [`serve`] with a given notifier (tests, embedders).
pub async fn serve_with(
    config: Arc<Config>,
    listener: TcpListener,
    shutdown: CancellationToken,
    notifier: Arc<dyn Notifier>,
) -> Result<(), ControllerError> {
    // Bad TLS files stop the start here, named, rather than every connection later.
    let tls = crate::security::tls::api_server(&config.controller.api.tls)?;
    crate::security::tls::nats_client(&config.controller.nats.tls, "controller.nats")?;
    // Its own token, so the tasks also stop when the server fails rather than at a
    // shutdown that may never come.
    let background = shutdown.child_token();
    let state = build_state(config.clone(), notifier, background.clone())?;
    // A start-up error below returns early: the tasks must not outlive this call.
    let _stop_on_error = background.clone().drop_guard();
    crate::telemetry::metrics::serve(
        &config.controller.metrics,
        &config.telemetry.metrics.path,
        state.metrics.registry.clone(),
        None,
        shutdown.clone(),
    )
    .await
    .map_err(|source| ControllerError::Bind {
        addr: format!(
            "{}:{}",
            config.controller.metrics.host, config.controller.metrics.port
        ),
        source,
    })?;
    let app = router(state.clone())?;
    crate::provider::process::release_free_memory();
    let (stopping, streams_end) = (shutdown.clone(), state.streams_end.clone());
    tokio::spawn(async move {
        stopping.cancelled().await;
        streams_end.cancel();
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, tls = tls.is_some(), "controller listening");
    }
    http::serve(listener, app, &config.controller.api, tls, shutdown.clone()).await;
    background.cancel();
    state.stop_background(BACKGROUND_STOP_GRACE).await;
    tracing::info!("controller stopped");
    Ok(())
}
