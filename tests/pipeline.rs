//! The job pipeline end to end: real nats-server, real controller and agents, HTTP.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use osapi::auth::Permission;

async fn three_agent_stack(nats: &Nats) -> Stack {
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent(
        "a",
        &[("group", "web.dev.us-east")],
        fake_providers(FakeNode::new("a")),
    );
    stack.add_agent(
        "b",
        &[("group", "web.prod")],
        fake_providers(FakeNode::new("b")),
    );
    stack.add_agent("c", &[("group", "db")], fake_providers(FakeNode::new("c")));
    stack.wait_agents(&["a", "b", "c"]).await;
    stack
}

/// How many responses the response bucket holds for a job.
async fn response_count(nats_port: u16, job_id: &str) -> usize {
    let client = nats_client(nats_port).await;
    let js = async_nats::jetstream::new(client);
    let kv = js
        .get_key_value("osapi-job-responses")
        .await
        .expect("bucket");
    let mut keys = kv.keys().await.expect("keys");
    let mut n = 0;
    while let Some(k) = keys.next().await {
        if k.expect("key").starts_with(&format!("{job_id}.")) {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_target_form_reaches_exactly_the_expected_hosts() {
    let nats = Nats::start();
    let stack = three_agent_stack(&nats).await;
    let t = token(&["read"], &[]);
    let cases: &[(&str, &[&str])] = &[
        ("_all", &["a", "b", "c"]),
        ("a", &["a"]),
        ("c", &["c"]),
        ("group:web", &["a", "b"]),
        ("group:web.dev", &["a"]),
        ("group:web.dev.us-east", &["a"]),
        ("group:web.prod", &["b"]),
        ("group:db", &["c"]),
    ];
    for (target, expected) in cases {
        let (status, body) = stack
            .get(&format!("/node/{target}/hostname"), Some(&t))
            .await;
        assert_eq!(status, 200, "{target}: {body}");
        assert_eq!(Stack::hosts(&body), *expected, "{target}: {body}");
        let job_id = body["job_id"].as_str().expect("job_id");
        assert_eq!(
            response_count(nats.port, job_id).await,
            expected.len(),
            "{target}"
        );
    }
    // A label of agent a is echoed back.
    let (_, body) = stack.get("/node/a/hostname", Some(&t)).await;
    assert_eq!(body["results"][0]["labels"]["group"], "web.dev.us-east");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_runs_once_and_spreads_over_agents() {
    let nats = Nats::start();
    let stack = three_agent_stack(&nats).await;
    let t = token(&["read"], &[]);
    let mut seen = BTreeSet::new();
    let mut jobs = Vec::new();
    for _ in 0..30 {
        let (status, body) = stack.get("/node/_any/hostname", Some(&t)).await;
        assert_eq!(status, 200, "{body}");
        let hosts = Stack::hosts(&body);
        assert_eq!(hosts.len(), 1, "{body}");
        seen.insert(hosts[0].clone());
        jobs.push(body["job_id"].as_str().expect("job id").to_owned());
    }
    // Give a wrongly fanned-out job time to leave a second response.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for job in &jobs {
        assert_eq!(
            response_count(nats.port, job).await,
            1,
            "job {job} ran more than once"
        );
    }
    assert!(seen.len() >= 2, "_any never spread: only {seen:?}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_jobs_bounds_concurrency() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let mut node = FakeNode::new("solo");
    // Long enough that the first two jobs overlap however the six requests are scheduled.
    node.delay = Duration::from_secs(1);
    let peak = node.peak.clone();
    stack.add_agent_with("solo", &[], fake_providers(node), |c| c.agent.max_jobs = 2);
    stack.wait_agents(&["solo"]).await;
    peak.store(0, SeqCst);
    let t = token(&["read"], &[]);
    let calls = (0..6).map(|_| stack.get("/node/_any/hostname", Some(&t)));
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(peak.load(SeqCst), 2, "max_jobs=2 not respected");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auth_failures_get_401_and_403() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[], fake_providers(FakeNode::new("a")));
    stack.wait_agents(&["a"]).await;
    let path = "/node/_any/hostname";

    let (status, body) = stack.get(path, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("Bearer token required"))
    );

    let other = osapi::auth::Authenticator::new("another-key", &Default::default()).unwrap();
    let forged = other
        .issue("me", &["admin".into()], &[], Duration::from_secs(60))
        .unwrap();
    assert_eq!(stack.get(path, Some(&forged)).await.0, 401);

    let expired = jwt_hs256(
        SIGNING_KEY,
        &serde_json::json!({"roles": ["admin"], "sub": "me", "iat": 1000, "exp": 2000}),
    );
    assert_eq!(stack.get(path, Some(&expired)).await.0, 401);

    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(br#"{"roles":["admin"],"sub":"me","exp":9999999999}"#)
    );
    assert_eq!(stack.get(path, Some(&none)).await.0, 401);

    let health_only = token(&["read"], &[Permission::HealthRead]);
    let (status, body) = stack.get(path, Some(&health_only)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("node:read"),
        "{body}"
    );

    // Public endpoints need no token.
    assert_eq!(stack.get("/health", None).await.0, 200);
    assert_eq!(stack.get("/health/ready", None).await.0, 200);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_targets_get_400_naming_the_field() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[("group", "web")], fake_providers(FakeNode::new("a")));
    stack.wait_agents(&["a"]).await;
    let t = token(&["admin"], &[]);
    for target in [
        "bad%20host",
        "group:",
        "group:web..x",
        "no-such-host",
        "group:db",
        "a*b",
    ] {
        let (status, body) = stack
            .get(&format!("/node/{target}/hostname"), Some(&t))
            .await;
        assert_eq!(status, 400, "{target}: {body}");
        assert_eq!(body["field"], "hostname", "{target}: {body}");
        assert!(body["error"].is_string(), "{target}: {body}");
    }
    let (status, body) = stack.get("/no/such/route", Some(&t)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].is_string());
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_job_times_out_with_its_job_id() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    cfg.controller.api.job_timeout = Duration::from_secs(1);
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    let mut node = FakeNode::new("slow");
    node.delay = Duration::from_millis(2500);
    stack.add_agent("slow", &[], fake_providers(node));
    // Registered once its heartbeat is in; the first call may already time out.
    let t = token(&["admin"], &[]);
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..100 {
        last = stack.get("/node/slow/hostname", Some(&t)).await;
        if last.0 != 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = last;
    assert_eq!(status, 504, "{body}");
    let job_id = body["job_id"]
        .as_str()
        .expect("job id in the timeout error");
    assert!(
        body["error"].as_str().unwrap_or("").contains(job_id),
        "{body}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_unreachable_gives_503_not_a_hang() {
    // A controller whose NATS never existed.
    let (_reserved, port) = closed_port();
    let cfg = config(port);
    let stack = Stack::controller(cfg).await;
    let t = token(&["admin"], &[]);
    let asked = std::time::Instant::now();
    let (status, body) = stack.get("/node/_any/hostname", Some(&t)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].is_string());
    // Far below the job timeout and the client's: the answer does not wait on NATS.
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let (status, body) = stack.get("/health/ready", None).await;
    assert_eq!((status, body["status"].as_str()), (503, Some("not_ready")));
    assert_eq!(stack.get("/health", None).await.0, 200);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_dying_under_a_running_stack_gives_503_then_recovers() {
    let mut nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[], fake_providers(FakeNode::new("a")));
    stack.wait_agents(&["a"]).await;
    let t = token(&["admin"], &[]);
    nats.kill();
    // Once the controller has noticed (readiness shares its check), jobs answer 503 at once.
    let mut noticed = false;
    for _ in 0..100 {
        if stack.get("/health/ready", None).await.0 == 503 {
            noticed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(noticed, "the controller never noticed NATS was gone");
    let asked = std::time::Instant::now();
    let (status, body) = stack.get("/node/_any/hostname", Some(&t)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    nats.restart();
    let recovered = stack
        .answers_within("/node/_any/hostname", &t, Duration::from_secs(20))
        .await;
    assert!(recovered, "jobs never worked again after NATS came back");
    stack.shutdown().await;
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            let _ = write!(
                out,
                "{}",
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
            );
        }
    }
    out
}

/// A hand-signed HS256 token (to make ones the issuer refuses to, e.g. expired).
fn jwt_hs256(key: &str, claims: &serde_json::Value) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_and_cors_follow_config() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    cfg.controller.api.security.cors.allow_origins = vec!["https://ui.example".into()];
    let stack = Stack::controller(cfg).await;
    let (status, doc) = stack.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(
        doc["paths"]["/api/node/{hostname}/hostname"]["get"].is_object(),
        "{doc}"
    );
    assert!(doc["components"]["securitySchemes"]["BearerAuth"].is_object());

    let allowed = stack
        .http
        .get(format!("{}/health", stack.base))
        .header("Origin", "https://ui.example")
        .send()
        .await
        .expect("request");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://ui.example"[..])
    );
    let other = stack
        .http
        .get(format!("{}/health", stack.base))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert!(other.headers().get("access-control-allow-origin").is_none());
    stack.shutdown().await;

    // An empty list allows no origin at all.
    let stack = Stack::controller(config(nats.port)).await;
    let resp = stack
        .http
        .get(format!("{}/health", stack.base))
        .header("Origin", "https://ui.example")
        .send()
        .await
        .expect("request");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_an_agent_lets_its_in_flight_job_finish() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let mut node = FakeNode::new("busy");
    node.delay = Duration::from_millis(1500);
    let running = node.running.clone();
    stack.add_agent("busy", &[], fake_providers(node));
    stack.wait_agents(&["busy"]).await;
    let t = token(&["read"], &[]);
    let call = stack.spawn_get("/node/busy/hostname", &t);
    // Stop the agent while the job runs.
    wait_running(&running).await;
    stack.stop_agent("busy").await;
    let (status, body) = call.await.expect("join");
    assert_eq!(status, 200, "{body}");
    assert_eq!(Stack::hosts(&body), ["busy"]);
    stack.shutdown().await;
}
