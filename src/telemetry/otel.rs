//! OpenTelemetry tracing, off unless `telemetry.tracing.enabled`. One trace per API
//! request: the controller's request span, the NATS publish span, and the agent's
//! processing span, linked by W3C trace context in the NATS message headers.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{global, Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::config::TracingConfig;

/// Instrumentation scope name.
const SCOPE: &str = "osapi";

/// Keeps the provider alive; flushes and shuts it down on drop.
pub struct TracingGuard(SdkTracerProvider);

impl Drop for TracingGuard {
    fn drop(&mut self) {
        let _ = self.0.force_flush();
        let _ = self.0.shutdown();
    }
}

/// Installs the global tracer provider and the W3C propagator. `None` when disabled.
pub fn init(cfg: &TracingConfig, service: &str) -> Result<Option<TracingGuard>, String> {
    if !cfg.enabled {
        return Ok(None);
    }
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let provider = match cfg.exporter.as_str() {
        "" | "none" => builder.build(),
        "stdout" => builder
            .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
            .build(),
        "otlp" => {
            use opentelemetry_otlp::WithExportConfig;
            let endpoint = if cfg.otlp_endpoint.is_empty() {
                "http://localhost:4318/v1/traces".to_owned()
            } else if cfg.otlp_endpoint.starts_with("http") {
                cfg.otlp_endpoint.clone()
            } else {
                format!("http://{}/v1/traces", cfg.otlp_endpoint)
            };
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| format!("telemetry.tracing.otlp_endpoint: {e}"))?;
            builder.with_batch_exporter(exporter).build()
        }
        other => {
            return Err(format!(
                "telemetry.tracing.exporter: {other:?} is not none, stdout or otlp"
            ))
        }
    };
    install(provider.clone());
    Ok(Some(TracingGuard(provider)))
}

/// Makes `provider` the global one (tests install an in-memory exporter this way).
pub fn install(provider: SdkTracerProvider) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider);
}

/// Headers as an OpenTelemetry carrier.
struct HttpHeaders<'a>(&'a axum::http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct NatsHeaders<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsHeadersRead<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsHeadersRead<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// The server span of an HTTP request, child of the caller's `traceparent` if any.
pub fn request_context(headers: &axum::http::HeaderMap, name: String) -> Context {
    let parent = global::get_text_map_propagator(|p| p.extract(&HttpHeaders(headers)));
    let span = global::tracer(SCOPE)
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .start_with_context(&global::tracer(SCOPE), &parent);
    parent.with_span(span)
}

/// Starts the publish span under the current context and returns the headers that carry
/// it to the agent.
pub fn publish_headers(subject: &str, job_id: &str) -> (Context, async_nats::HeaderMap) {
    let parent = Context::current();
    let mut span = global::tracer(SCOPE)
        .span_builder(format!("publish {subject}"))
        .with_kind(SpanKind::Producer)
        .start_with_context(&global::tracer(SCOPE), &parent);
    span.set_attribute(KeyValue::new("job.id", job_id.to_owned()));
    let cx = parent.with_span(span);
    let mut headers = async_nats::HeaderMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut NatsHeaders(&mut headers)));
    (cx, headers)
}

/// The agent's processing span, child of the publish span carried in the headers.
pub fn process_context(
    headers: Option<&async_nats::HeaderMap>,
    job_id: &str,
    op: &str,
    host: &str,
) -> Context {
    let parent = headers.map_or_else(Context::new, |h| {
        global::get_text_map_propagator(|p| p.extract(&NatsHeadersRead(h)))
    });
    let mut span = global::tracer(SCOPE)
        .span_builder(format!("job.process {op}"))
        .with_kind(SpanKind::Consumer)
        .start_with_context(&global::tracer(SCOPE), &parent);
    span.set_attribute(KeyValue::new("job.id", job_id.to_owned()));
    span.set_attribute(KeyValue::new("job.operation", op.to_owned()));
    span.set_attribute(KeyValue::new("agent.hostname", host.to_owned()));
    parent.with_span(span)
}

/// The trace id of a context, for log lines; `None` without a sampled span.
pub fn trace_id(cx: &Context) -> Option<String> {
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The trace id of the current context (inside a request or job), `None` when tracing is
/// off or nothing is being traced.
pub fn current_trace_id() -> Option<String> {
    trace_id(&Context::current())
}
