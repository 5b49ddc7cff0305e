//! Prometheus metrics: one registry per component (controller, agent), each served on its
//! own `metrics.host:port` at `telemetry.metrics.path`.

use std::sync::Arc;

use axum::routing::get;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::MetricsServer;

/// Latency buckets in seconds: 1 ms to 5 min (commands may run that long).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

fn registry_with_process(component: &str) -> Registry {
    let labels = [("component".to_owned(), component.to_owned())].into();
    let registry = Registry::new_custom(Some("osapi".into()), Some(labels)).unwrap_or_default();
    // CPU seconds, resident memory, open fds of this process.
    let _ = registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ));
    registry
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(c.clone()));
    c
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
    let h = HistogramVec::new(opts, labels).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(h.clone()));
    h
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|_| unreachable_metric());
    let _ = r.register(Box::new(g.clone()));
    g
}

/// Metric names and labels are constants: a failure here is a programming error.
fn unreachable_metric<T>() -> T {
    panic!("invalid metric definition")
}

/// The controller's metrics.
#[derive(Clone)]
pub struct ControllerMetrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub jobs_created: IntCounterVec,
    pub jobs_finished: IntCounterVec,
    pub job_duration: HistogramVec,
    pub nats_connected: IntGauge,
    /// Job requests holding a `controller.api.max_inflight` slot.
    pub jobs_inflight: IntGauge,
    /// Job requests refused because every slot was taken.
    pub jobs_rejected: IntCounterVec,
}

impl ControllerMetrics {
    pub fn new() -> Arc<Self> {
        let r = registry_with_process("controller");
        Arc::new(Self {
            http_requests: counter(
                &r,
                "http_requests_total",
                "HTTP requests by route, method and status",
                &["route", "method", "status"],
            ),
            http_duration: histogram(
                &r,
                "http_request_duration_seconds",
                "HTTP request latency",
                &["route", "method"],
            ),
            jobs_created: counter(
                &r,
                "jobs_created_total",
                "Jobs submitted, by operation",
                &["operation"],
            ),
            jobs_finished: counter(
                &r,
                "jobs_finished_total",
                "Per-host job outcomes seen by the controller (completed, failed, timeout)",
                &["operation", "status"],
            ),
            job_duration: histogram(
                &r,
                "job_wait_duration_seconds",
                "Time from submission to the last awaited answer",
                &["operation"],
            ),
            nats_connected: gauge(&r, "nats_connected", "1 while the NATS connection is up"),
            jobs_inflight: gauge(
                &r,
                "jobs_inflight",
                "Job requests in flight (bounded by controller.api.max_inflight)",
            ),
            jobs_rejected: counter(
                &r,
                "jobs_rejected_total",
                "Job requests answered 503 because controller.api.max_inflight was reached",
                &["operation"],
            ),
            registry: r,
        })
    }
}

/// An agent's metrics.
#[derive(Clone)]
pub struct AgentMetrics {
    pub registry: Registry,
    pub jobs: IntCounterVec,
    pub job_duration: HistogramVec,
    pub in_flight: IntGauge,
    pub nats_connected: IntGauge,
}

impl AgentMetrics {
    pub fn new() -> Arc<Self> {
        let r = registry_with_process("agent");
        Arc::new(Self {
            jobs: counter(
                &r,
                "agent_jobs_total",
                "Jobs run, by operation and outcome",
                &["operation", "status"],
            ),
            job_duration: histogram(
                &r,
                "agent_job_duration_seconds",
                "Time a job ran",
                &["operation"],
            ),
            in_flight: gauge(&r, "agent_jobs_in_flight", "Jobs running now"),
            nats_connected: gauge(&r, "nats_connected", "1 while the NATS connection is up"),
            registry: r,
        })
    }
}

/// The registry in Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    if TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .is_err()
    {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Serves `registry` at `path` on the configured address until `cancel`, keeping the
/// connection gauge current. Returns the bound address, or `None` when disabled.
pub async fn serve(
    cfg: &MetricsServer,
    path: &str,
    registry: Registry,
    nats: Option<(async_nats::Client, IntGauge)>,
    cancel: CancellationToken,
) -> std::io::Result<Option<std::net::SocketAddr>> {
    if !cfg.enabled {
        return Ok(None);
    }
    let listener = TcpListener::bind((cfg.host.as_str(), cfg.port)).await?;
    let addr = listener.local_addr()?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let app = axum::Router::new().route(
        &path,
        get(move || {
            let registry = registry.clone();
            let nats = nats.clone();
            async move {
                if let Some((client, gauge)) = &nats {
                    gauge.set(i64::from(crate::nats::connect::is_connected(client)));
                }
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    render(&registry),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
    });
    tracing::info!(%addr, "metrics listening");
    Ok(Some(addr))
}
