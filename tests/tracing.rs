//! One API call yields spans from the controller and the agent in one trace, the agent's
//! span a child of the controller's publish, which is a child of the request span.
//! Audit entries and agent log lines of that call carry the same trace id.
//! (Own test binary: the tracer provider and the log subscriber are process-global.)

mod common;

use common::*;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_request_one_trace_across_nats() {
    let logs = capture_logs("osapi=debug");
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    osapi::telemetry::otel::install(provider.clone());

    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[], fake_providers(FakeNode::new("a")));
    stack.wait_agents(&["a"]).await;
    let _ = provider.force_flush();
    exporter.reset();

    let t = token(&["read"], &[]);
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = stack
        .http
        .get(format!("{}/node/a/hostname", stack.base))
        .bearer_auth(&t)
        .header(
            "traceparent",
            format!("00-{caller_trace}-00f067aa0ba902b7-01"),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let trace = TraceId::from_hex(caller_trace).expect("trace id");
    // The agent ends its span just after answering: wait until it is exported.
    let mut spans = Vec::new();
    for _ in 0..100 {
        let _ = provider.force_flush();
        spans = exporter.get_finished_spans().expect("spans");
        let agent_done = spans
            .iter()
            .any(|s| s.name.starts_with("job.process") && s.span_context.trace_id() == trace);
        if agent_done {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Spans of earlier jobs may still finish late: look inside this trace only.
    let find = |prefix: &str| {
        spans
            .iter()
            .find(|s| s.name.starts_with(prefix) && s.span_context.trace_id() == trace)
            .unwrap_or_else(|| {
                panic!(
                    "no span {prefix}: {:?}",
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
    };
    let request = find("GET /node/{hostname}/hostname");
    let publish = find("publish osapi.jobs.query.host.a");
    let process = find("job.process node.hostname.get");
    let trace = TraceId::from_hex(caller_trace).expect("trace id");
    for s in [request, publish, process] {
        assert_eq!(
            s.span_context.trace_id(),
            trace,
            "{} is in another trace",
            s.name
        );
    }
    assert_eq!(
        request.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").expect("id")
    );
    assert_eq!(publish.parent_span_id, request.span_context.span_id());
    assert_eq!(
        process.parent_span_id,
        publish.span_context.span_id(),
        "agent span is not a child of the controller's"
    );

    // The audit entry of the call carries the request's trace id.
    let admin = token(&["admin"], &[]);
    let mut entry = None;
    for _ in 0..50 {
        let (status, page) = stack.get("/audit?limit=100", Some(&admin)).await;
        assert_eq!(status, 200, "{page}");
        entry = page["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|e| e["path"] == "/node/a/hostname" && e["response_code"] == 200)
                .cloned()
        });
        if entry.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let entry = entry.expect("the call was audited");
    assert_eq!(entry["trace_id"], caller_trace, "{entry}");

    // The agent's log lines for the job carry it too ("job done" follows the answer).
    let traced = format!("trace_id={caller_trace}");
    let mut agent_lines = Vec::new();
    for _ in 0..100 {
        agent_lines = logs
            .text()
            .lines()
            .filter(|l| l.contains("osapi::agent") && l.contains("job done"))
            .map(str::to_owned)
            .collect();
        if agent_lines.iter().any(|l| l.contains(&traced)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        agent_lines.iter().any(|l| l.contains(&traced)),
        "no agent log line with the trace id: {agent_lines:?}"
    );
    stack.shutdown().await;
}
