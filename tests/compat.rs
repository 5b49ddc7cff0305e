//! Answers the original's clients read, taken from a running stack: the agent timeline
//! and identity, a retry's revision, and the `/health/status` blocks they parse.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// A ready controller with one agent, `web-01`, on the Linux providers (DNS under `dns`).
async fn with_web_01(nats: &Nats, dns: &std::path::Path) -> Stack {
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("web-01", &[], linux_providers(dns));
    stack.wait_agents(&["web-01"]).await;
    stack
}

/// Polls `GET /api/agent/{host}` until its `state` is `want`; returns that answer.
async fn agent_in_state(stack: &Stack, host: &str, token: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let (_, body) = stack.get(&format!("/api/agent/{host}"), Some(token)).await;
        if body["state"] == want {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("agent {host} never reached {want}: {last}");
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_timeline_identity_and_retry_revision() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let stack = with_web_01(&nats, dns.path()).await;
    let admin = token(&["admin"], &[]);

    let (code, agent) = stack.get("/api/agent/web-01", Some(&admin)).await;
    assert_eq!(code, 200, "{agent}");
    assert!(agent.get("timeline").is_none(), "no events yet: {agent}");
    assert_eq!(agent["fingerprint"], "", "no agent PKI: {agent}");
    let machine_id = std::fs::read_to_string("/etc/machine-id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if machine_id.is_empty() {
        assert!(agent.get("machine_id").is_none(), "{agent}");
    } else {
        assert_eq!(agent["machine_id"], machine_id.as_str(), "{agent}");
    }

    assert_eq!(
        stack.post_empty("/api/agent/web-01/drain", &admin).await.0,
        200
    );
    agent_in_state(&stack, "web-01", &admin, "Drained").await;
    assert_eq!(
        stack
            .post_empty("/api/agent/web-01/undrain", &admin)
            .await
            .0,
        200
    );
    let agent = agent_in_state(&stack, "web-01", &admin, "Ready").await;
    // The agent's `ready` lands just after its state does.
    let mut timeline = Vec::new();
    for _ in 0..50 {
        let (_, a) = stack.get("/api/agent/web-01", Some(&admin)).await;
        timeline = a["timeline"].as_array().cloned().unwrap_or_default();
        if timeline.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(
        events,
        ["drain", "draining", "drained", "undrain", "ready"],
        "{agent}"
    );
    for e in &timeline {
        assert_eq!(
            keys(e),
            ["event", "hostname", "message", "timestamp"],
            "{e}"
        );
        assert_eq!(e["hostname"], "web-01");
    }
    let stamps: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["timestamp"].as_str())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    let (_, list) = stack.get("/api/agent", Some(&admin)).await;
    assert!(
        list["agents"][0].get("timeline").is_none(),
        "the listing carries no timeline: {list}"
    );

    let (code, job) = stack.get("/api/node/web-01/hostname", Some(&admin)).await;
    assert_eq!(code, 200, "{job}");
    let id = job["job_id"].as_str().expect("job id");
    let (code, retry) = stack
        .post_empty(&format!("/api/job/{id}/retry"), &admin)
        .await;
    assert_eq!(code, 201, "{retry}");
    assert_eq!(
        keys(&retry),
        ["job_id", "retry_of", "revision", "status", "timestamp"],
        "{retry}"
    );
    assert!(retry["revision"].as_u64().is_some_and(|r| r > 0), "{retry}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_status_has_what_the_clients_parse() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("tempdir");
    let metrics_port = free_port();
    stack.add_agent_with("web-01", &[], linux_providers(dns.path()), |c| {
        c.agent.metrics.enabled = true;
        c.agent.metrics.host = "127.0.0.1".into();
        c.agent.metrics.port = metrics_port;
    });
    stack.wait_agents(&["web-01"]).await;
    let admin = token(&["admin"], &[]);
    let (code, status) = stack.get("/api/health/status", Some(&admin)).await;
    assert_eq!(code, 200, "{status}");
    let registry = status["registry"].as_array().expect("registry");
    assert!(!registry.is_empty(), "{status}");
    for entry in registry {
        assert!(
            entry["conditions"].is_array(),
            "conditions always listed: {entry}"
        );
    }
    let metrics = &status["components"]["agent.metrics"];
    assert_eq!(metrics["status"], "ok", "{status}");
    assert_eq!(
        metrics["address"],
        format!("http://127.0.0.1:{metrics_port}").as_str(),
        "{status}"
    );
    stack.shutdown().await;
}

/// Fields the latest original's clients add are understood; a field neither generation
/// sends is still a 400 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn latest_client_fields_are_accepted_unknown_ones_are_not() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let stack = with_web_01(&nats, dns.path()).await;
    let admin = token(&["admin"], &[]);
    let put = |body: Value| {
        stack
            .http
            .put(format!("{}/api/node/web-01/network/dns", stack.base))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let latest = serde_json::json!({
        "interface_name": "eth0", "servers": ["192.0.2.9"], "override_dhcp": true
    });
    let resp = put(latest).await.expect("request");
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["results"][0]["changed"], true, "{body}");
    let conf = std::fs::read_to_string(dns.path().join("resolv.conf")).expect("resolv.conf");
    assert!(conf.contains("nameserver 192.0.2.9"), "{conf}");

    let unknown = serde_json::json!({"interface_name": "eth0", "servers": [], "bogus": 1});
    let resp = put(unknown).await.expect("request");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["error"].as_str().unwrap_or("").contains("bogus"),
        "{body}"
    );
    stack.shutdown().await;
}
