use reqwest::StatusCode;
use serde_json::json;

use super::*;

fn raw(status: u16, body: &str) -> RawResponse {
    RawResponse {
        status: StatusCode::from_u16(status).expect("status"),
        body: body.to_owned(),
    }
}

#[test]
fn statuses_map_to_error_kinds() {
    let body = r#"{"error":"boom","code":0}"#;
    let kind = |status| match check(raw(status, body)) {
        Ok(_) => "ok",
        Err(SdkError::Validation { .. }) => "validation",
        Err(SdkError::Auth { .. }) => "auth",
        Err(SdkError::NotFound { .. }) => "not_found",
        Err(SdkError::Conflict { .. }) => "conflict",
        Err(SdkError::Server { .. }) => "server",
        Err(SdkError::UnexpectedStatus { .. }) => "unexpected",
        Err(_) => "other",
    };
    let cases = [
        (200, "ok"),
        (201, "ok"),
        (204, "ok"),
        (400, "validation"),
        (401, "auth"),
        (403, "auth"),
        (404, "not_found"),
        (409, "conflict"),
        (500, "server"),
        (502, "server"),
        (503, "server"),
        (504, "server"),
        (302, "unexpected"),
        (413, "unexpected"),
        (422, "unexpected"),
    ];
    for (status, want) in cases {
        assert_eq!(kind(status), want, "status {status}");
    }
}

#[test]
fn message_is_the_error_field_else_the_trimmed_body() {
    let e = SdkError::from_response(404, r#"{"error":"agent \"x\" not found","code":404}"#);
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.message(), Some(r#"agent "x" not found"#));
    assert_eq!(
        e.to_string(),
        r#"api error (status 404): agent "x" not found"#
    );

    let e = SdkError::from_response(500, "  plain text failure\n");
    assert_eq!(e.message(), Some("plain text failure"));
    assert_eq!(e.to_string(), "api error (status 500): plain text failure");

    // A 502 collection has no `error` field: the body is the message.
    let body = r#"{"job_id":"j","results":[{"hostname":"a","error":"boom"}]}"#;
    let e = SdkError::from_response(502, body);
    assert!(matches!(e, SdkError::Server { status: 502, .. }), "{e:?}");
    assert_eq!(e.message(), Some(body));

    let e = SdkError::Decode("x".into());
    assert_eq!((e.status(), e.message()), (None, None));
    let e = SdkError::Transport {
        url: "u".into(),
        reason: "r".into(),
    };
    assert_eq!(e.status(), None);
}

#[test]
fn command_results_count_a_non_zero_exit_as_the_error() {
    let body = json!({"job_id": "j", "results": [
        {"hostname": "ok", "stdout": "hi\n", "stderr": "", "exit_code": 0, "duration_ms": 3,
         "stdout_truncated": false, "stderr_truncated": false, "output_limit": 1024, "changed": true},
        {"hostname": "bad", "stdout": "", "stderr": "no\n", "exit_code": 3, "duration_ms": 3,
         "stdout_truncated": false, "stderr_truncated": false, "output_limit": 1024, "changed": true},
        {"hostname": "gone", "error": "no response within 10s"},
    ]});
    let c: Collection<HostResult<CommandPayload>> = serde_json::from_value(body).expect("decodes");
    assert_eq!(c.first().map(|h| h.hostname()), Some("ok"));
    let seen: Vec<(&str, bool, Option<String>)> = c
        .results
        .iter()
        .map(|h| (h.hostname(), h.changed(), h.error()))
        .collect();
    assert_eq!(
        seen,
        [
            ("ok", true, None),
            ("bad", true, Some("exit code 3".into())),
            ("gone", false, Some("no response within 10s".into())),
        ]
    );
    assert_eq!(
        c.results[0].data.as_ref().map(|d| d.stdout.as_str()),
        Some("hi\n")
    );
    assert!(c.results[2].data.is_none());

    // A server error wins over the exit code.
    let mut both = c.results[1].clone();
    both.error = Some("server says".into());
    assert_eq!(both.error().as_deref(), Some("server says"));
}

#[test]
fn sample_bodies_decode_into_the_wire_types() {
    let hostname: Collection<HostnameResponse> = serde_json::from_value(json!({
        "job_id": "j", "results": [{"hostname": "web1", "labels": {"group": "web"}, "changed": false}]
    }))
    .expect("hostname");
    let first = hostname.first().expect("one");
    assert_eq!(
        (first.hostname(), first.changed(), first.error()),
        ("web1", false, None)
    );

    let memory: Collection<HostResult<MemoryPayload>> = serde_json::from_value(json!({
        "job_id": "j", "results": [{"hostname": "a", "changed": false,
            "memory": {"total": 10, "free": 1, "used": 6, "available": 4, "cached": 2}}]
    }))
    .expect("memory");
    assert_eq!(
        memory.results[0].data.as_ref().map(|d| d.memory.total),
        Some(10)
    );

    let load: HostResult<LoadPayload> = serde_json::from_value(
        json!({"hostname": "a", "load_average": {"1min": 0.5, "5min": 0.25, "15min": 0.125}}),
    )
    .expect("load");
    assert_eq!(load.data.map(|d| d.load_average.fifteen), Some(0.125));

    let dns: Collection<DnsUpdateResult> = serde_json::from_value(json!({
        "job_id": "j", "results": [{"hostname": "a", "status": "ok", "changed": true},
                                   {"hostname": "b", "status": "failed", "error": "denied"}]
    }))
    .expect("dns update");
    let flags: Vec<(bool, Option<String>)> = dns
        .results
        .iter()
        .map(|r| (r.changed(), r.error()))
        .collect();
    assert_eq!(flags, [(true, None), (false, Some("denied".into()))]);

    let page: ListJobsResponse = serde_json::from_value(json!({
        "total_items": 1, "status_counts": {"completed": 1},
        "items": [{"id": "0190", "status": "partial_failure", "created": "t",
                   "operation": {"type": "node.hostname.get", "data": {}},
                   "changed": null, "target": "_all"}]
    }))
    .expect("job page");
    assert_eq!(page.items[0].status, OverallStatus::PartialFailure);
    assert_eq!(page.items[0].operation.kind, "node.hostname.get");
    let empty: ListJobsResponse =
        serde_json::from_value(json!({"total_items": 0, "status_counts": null, "items": []}))
            .expect("empty job page");
    assert!(empty.status_counts.is_none());

    let health: HealthResponse =
        serde_json::from_value(json!({"status": "not_ready", "error": "nats"})).expect("health");
    assert_eq!(health.error.as_deref(), Some("nats"));
}

#[test]
fn an_error_item_keeps_its_error_and_round_trips() {
    let text = r#"{"hostname":"a","error":"boom"}"#;
    let item: HostResult<MemoryPayload> = serde_json::from_str(text).expect("decodes");
    assert!(item.data.is_none());
    assert_eq!(serde_json::to_string(&item).expect("encodes"), text);
}

#[test]
fn requests_serialise_to_what_the_server_accepts() {
    let exec = CommandExecRequest {
        command: "ls".into(),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&exec).expect("json"),
        json!({"command": "ls"})
    );
    let back: CommandExecRequest =
        serde_json::from_value(serde_json::to_value(&exec).expect("json")).expect("round trip");
    assert_eq!(back, exec);

    let deploy = DeployRequest {
        object_name: "o".into(),
        path: "/tmp/x".into(),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&deploy).expect("json"),
        json!({"object_name": "o", "path": "/tmp/x", "content_type": "raw"})
    );
    assert_eq!(PingRequest::default().count, 3);
    let dns = DnsUpdateRequest {
        interface_name: "eth0".into(),
        servers: Some(vec!["192.0.2.1".into()]),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&dns).expect("json"),
        json!({"interface_name": "eth0", "servers": ["192.0.2.1"]})
    );
    // Unknown fields are still refused.
    assert!(serde_json::from_value::<StatusRequest>(json!({"path": "/x", "other": 1})).is_err());
}

#[test]
fn sha_and_segments() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(encode_segment("group:web"), "group:web");
    assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
}
