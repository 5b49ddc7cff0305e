//! Registry heartbeats, conditions and notifications against a real stack.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use osapi::controller::notify::{ConditionEvent, EventKind, Notifier};

/// Every event with the instant it was notified.
#[derive(Default, Clone)]
struct Capture(Arc<Mutex<Vec<(Instant, ConditionEvent)>>>);

impl Notifier for Capture {
    fn notify<'a>(
        &'a self,
        e: &'a ConditionEvent,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            self.0
                .lock()
                .expect("lock")
                .push((Instant::now(), e.clone()))
        })
    }
}

impl Capture {
    /// When each matching event was notified.
    fn times(&self, kind: EventKind, host: &str, condition: &str) -> Vec<Instant> {
        let events = self.0.lock().expect("lock");
        events
            .iter()
            .filter(|(_, e)| e.kind == kind && e.hostname == host && e.condition == condition)
            .map(|(at, _)| *at)
            .collect()
    }

    fn count(&self, kind: EventKind, host: &str, condition: &str) -> usize {
        self.times(kind, host, condition).len()
    }

    /// When the first matching event was notified (panics after `secs`).
    async fn wait(&self, kind: EventKind, host: &str, condition: &str, secs: u64) -> Instant {
        for _ in 0..secs * 10 {
            if let Some(at) = self.times(kind, host, condition).first() {
                return *at;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no {kind:?} {condition} for {host}: {:?}",
            self.0.lock().expect("lock")
        );
    }
}

/// When the first registry entry of `host` is written, seen through a KV watch opened now.
async fn first_registry_write(nats: &Nats, host: &str) -> tokio::task::JoinHandle<Instant> {
    use futures::StreamExt;
    let client = nats_client(nats.port).await;
    let cfg = config(nats.port);
    let res = osapi::nats::resources::Resources::ensure(&client, &cfg, &cfg.agent.nats.namespace)
        .await
        .expect("resources");
    let key = osapi::registry::AgentRegistration::key(host);
    let mut watch = res.registry.watch(key).await.expect("watch");
    tokio::spawn(async move {
        let _entry = watch.next().await.expect("watch ended").expect("entry");
        Instant::now()
    })
}

async fn controller_with(nats: &Nats, renotify: Duration, capture: &Capture) -> Stack {
    let mut cfg = config(nats.port);
    cfg.controller.notifications.enabled = true;
    cfg.controller.notifications.renotify_interval = renotify;
    let listener = osapi::controller::bind(&cfg).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cancel = tokio_util::sync::CancellationToken::new();
    let notifier: Arc<dyn Notifier> = Arc::new(capture.clone());
    tokio::spawn(osapi::controller::serve_with(
        Arc::new(cfg.clone()),
        listener,
        cancel.clone(),
        notifier,
    ));
    let stack = Stack {
        base: base_url(addr, &cfg),
        config: cfg,
        controller: cancel,
        agents: Default::default(),
        http: http_client(),
    };
    stack.wait_ready().await;
    stack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disk_pressure_fires_once_and_resolves_once() {
    let nats = Nats::start();
    let capture = Capture::default();
    let mut stack = controller_with(&nats, Duration::ZERO, &capture).await;
    let node = || fake_providers(FakeNode::new("disky"));
    // The first heartbeat (sent at start, then every TTL/3 = 1 s) carries the condition.
    let beat = osapi::agent::heartbeat::interval_for(stack.config.nats.registry.ttl);
    assert_eq!(beat, Duration::from_secs(1));
    // Clocked from the agent's first heartbeat, not its start: start-up time on a loaded
    // machine is not the watcher's latency.
    let first_beat = first_registry_write(&nats, "disky").await;
    stack.add_agent_with("disky", &[], node(), |c| {
        c.agent.conditions.disk_pressure_threshold = 0.0
    });
    let fired = capture
        .wait(EventKind::Fired, "disky", "DiskPressure", 20)
        .await;
    let beat_at = first_beat.await.expect("first heartbeat seen");
    let took = fired.saturating_duration_since(beat_at);
    eprintln!("DiskPressure fired {took:?} after the agent's first heartbeat");
    assert!(took <= beat, "fired {took:?} after the first heartbeat");
    // Conditions are visible on the agent.
    let t = token(&["read"], &[]);
    let (_, agent) = stack.get("/agent/disky", Some(&t)).await;
    let conds = agent["conditions"].as_array().expect("conditions");
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "DiskPressure" && c["status"] == true),
        "{agent}"
    );
    // ... and in health status, next to the controller's own entry.
    let (status, health) = stack.get("/health/status", Some(&t)).await;
    assert_eq!(status, 200, "{health}");
    let registry = health["registry"].as_array().expect("registry");
    let entry = registry
        .iter()
        .find(|e| e["hostname"] == "disky")
        .expect("agent entry");
    // (HighLoad may be active too on a busy machine.)
    let active = entry["conditions"].as_array().expect("conditions");
    assert!(
        active.contains(&serde_json::json!("DiskPressure")),
        "{entry}"
    );
    assert!(
        registry.iter().any(|e| e["type"] == "controller"),
        "{health}"
    );
    assert_eq!(entry["status"], "Ready", "{entry}");
    let controller = registry
        .iter()
        .find(|e| e["type"] == "controller")
        .expect("controller entry");
    assert!(controller["cpu_percent"].is_number(), "{controller}");
    assert!(
        controller["mem_bytes"].as_u64().is_some_and(|b| b > 0),
        "{controller}"
    );
    assert_eq!(health["agents"]["total"], 1);
    assert_eq!(health["agents"]["ready"], 1);
    let listed = &health["agents"]["agents"][0];
    assert_eq!(listed["hostname"], "disky", "{health}");
    assert!(
        listed["registered"]
            .as_str()
            .is_some_and(|r| r.ends_with(" ago")),
        "{listed}"
    );
    // Component keys as the original names them.
    let components = &health["components"];
    for key in [
        "controller.nats (connectivity)",
        "controller.kv (connectivity)",
        "controller.api",
        "agent.heartbeat",
    ] {
        assert_eq!(components[key]["status"], "ok", "{key}: {health}");
    }
    assert!(
        components
            .as_object()
            .expect("components")
            .keys()
            .all(|k| !k.contains('@')),
        "{health}"
    );
    // Go duration uptime, e.g. `4s` or `1m2s`.
    let uptime = health["uptime"].as_str().expect("uptime");
    assert!(
        uptime.ends_with('s') && uptime.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "{uptime}"
    );
    let jobs = health["jobs"].as_object().expect("jobs");
    for key in [
        "total",
        "unprocessed",
        "processing",
        "completed",
        "failed",
        "dlq",
    ] {
        assert!(jobs[key].is_u64(), "jobs.{key}: {health}");
    }
    let streams = health["streams"].as_array().expect("streams");
    let jobs_stream = streams
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.ends_with("JOBS")))
        .expect("JOBS stream");
    assert!(
        jobs_stream["consumers"].as_u64().is_some_and(|n| n >= 1),
        "{jobs_stream}"
    );
    assert!(
        health["kv_buckets"]
            .as_array()
            .is_some_and(
                |b| b.iter().all(|b| b["keys"].is_u64() && b["bytes"].is_u64()) && !b.is_empty()
            ),
        "{health}"
    );
    assert!(
        health["consumers"]["total"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{health}"
    );
    assert_eq!(stack.get("/health/status", None).await.0, 401);
    tokio::time::sleep(Duration::from_secs(3)).await; // several more heartbeats
    assert_eq!(
        capture.count(EventKind::Fired, "disky", "DiskPressure"),
        1,
        "fired more than once"
    );

    // Raise the threshold (restart with it): resolved, once.
    stack.stop_agent("disky").await;
    stack.add_agent_with("disky", &[], node(), |c| {
        c.agent.conditions.disk_pressure_threshold = 100.0
    });
    capture
        .wait(EventKind::Resolved, "disky", "DiskPressure", 10)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        capture.count(EventKind::Resolved, "disky", "DiskPressure"),
        1
    );
    assert_eq!(capture.count(EventKind::Fired, "disky", "DiskPressure"), 1);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renotify_refires_about_once_a_second_and_zero_never() {
    let nats = Nats::start();
    let capture = Capture::default();
    let mut stack = controller_with(&nats, Duration::from_secs(1), &capture).await;
    stack.add_agent_with("hot", &[], fake_providers(FakeNode::new("hot")), |c| {
        c.agent.conditions.disk_pressure_threshold = 0.0
    });
    capture
        .wait(EventKind::Fired, "hot", "DiskPressure", 10)
        .await;
    tokio::time::sleep(Duration::from_millis(5500)).await;
    // Judged by the gaps between firings: never faster than the interval, and about the
    // interval on average (the watcher ticks every 250 ms; a loaded machine adds a little).
    let times = capture.times(EventKind::Fired, "hot", "DiskPressure");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.len() >= 4,
        "expected about 6 firings in ~5.5 s: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(950)),
        "re-fired faster than the interval: {gaps:?}"
    );
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    assert!(
        mean <= Duration::from_millis(1600),
        "mean gap {mean:?}: {gaps:?}"
    );
    stack.shutdown().await;

    let nats = Nats::start();
    let capture = Capture::default();
    let mut stack = controller_with(&nats, Duration::ZERO, &capture).await;
    stack.add_agent_with("calm", &[], fake_providers(FakeNode::new("calm")), |c| {
        c.agent.conditions.disk_pressure_threshold = 0.0
    });
    capture
        .wait(EventKind::Fired, "calm", "DiskPressure", 10)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(capture.count(EventKind::Fired, "calm", "DiskPressure"), 1);
    stack.shutdown().await;
}

/// Whether `/health/status` has a registry entry for `host`.
fn lists(health: &serde_json::Value, host: &str) -> bool {
    health["registry"]
        .as_array()
        .expect("registry")
        .iter()
        .any(|e| e["hostname"] == host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_agent_is_unreachable_once_and_cleared_when_it_returns() {
    let nats = Nats::start();
    let capture = Capture::default();
    let stack = controller_with(&nats, Duration::ZERO, &capture).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The key the in-process controller signs jobs with.
    let trusted = stack.config.agent.security.controller_keys.join(",");
    let spawn = || {
        // No config file: defaults plus the environment.
        Command::new(env!("CARGO_BIN_EXE_osapi"))
            .args(["agent", "start"])
            .current_dir(dir.path())
            .env("OSAPI_AGENT_NATS_HOST", "127.0.0.1")
            .env("OSAPI_AGENT_NATS_PORT", nats.port.to_string())
            .env("OSAPI_AGENT_HOSTNAME", "victim")
            .env("OSAPI_AGENT_SECURITY_CONTROLLER_KEYS", &trusted)
            .env("OSAPI_NATS_REGISTRY_TTL", "3s")
            .envs(agent_tls_env(&stack.config))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn agent")
    };
    let mut agent = spawn();
    stack.wait_agents(&["victim"]).await;
    // Listed while alive, so "gone" below means something.
    let t = token(&["read"], &[]);
    let (_, health) = stack.get("/health/status", Some(&t)).await;
    assert_eq!(health["agents"]["total"], 1, "{health}");
    assert!(lists(&health, "victim"), "{health}");

    agent.kill().expect("SIGKILL");
    let _ = agent.wait();
    let killed = Instant::now();
    let ttl = Duration::from_secs(3);
    let unreachable = capture
        .wait(EventKind::Unreachable, "victim", "ComponentUnreachable", 20)
        .await;
    // The entry expires TTL (3 s) after the last beat, which was about one interval (1 s)
    // before the kill, not when the connection drops (that would be milliseconds). A late
    // beat on a loaded machine shortens the gap, hence the margin.
    let after = unreachable.saturating_duration_since(killed);
    eprintln!("Unreachable {after:?} after the kill");
    assert!(after >= Duration::from_millis(1000), "too early: {after:?}");
    // Health status shows it gone once its heartbeat expired.
    let deadline = killed + ttl + Duration::from_secs(3);
    loop {
        let (_, health) = stack.get("/health/status", Some(&t)).await;
        if health["agents"]["total"] == 0 && !lists(&health, "victim") {
            break;
        }
        assert!(Instant::now() < deadline, "still listed: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "gone from /health/status {:?} after the kill",
        killed.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        capture.count(EventKind::Unreachable, "victim", "ComponentUnreachable"),
        1
    );
    let mut agent = spawn();
    capture
        .wait(EventKind::Resolved, "victim", "ComponentUnreachable", 20)
        .await;
    let _ = agent.kill();
    let _ = agent.wait();
    stack.shutdown().await;
}

fn event(hostname: &str) -> ConditionEvent {
    ConditionEvent {
        kind: EventKind::Fired,
        component: "agent".into(),
        hostname: hostname.into(),
        condition: "DiskPressure".into(),
        reason: "/ 95% used".into(),
        renotify: false,
        timestamp: "2026-11-22T00:00:00Z".into(),
    }
}

/// Serves `app` on a random port; returns the URL of its `/hook`.
async fn serve_hook(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Polls `f` every 20 ms until it holds (panics after `secs`).
async fn eventually(secs: u64, what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_posts_events_and_retries_until_accepted() {
    use axum::http::StatusCode;
    use osapi::controller::notify::WebhookNotifier;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let attempts = Arc::new(AtomicUsize::new(0));
    let (r, a) = (received.clone(), attempts.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let (r, a) = (r.clone(), a.clone());
            async move {
                // The first two deliveries fail: the notifier must retry.
                if a.fetch_add(1, SeqCst) < 2 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                r.lock().expect("lock").push(v);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let url = serve_hook(app).await;
    let hook = WebhookNotifier::new(&url, Duration::from_secs(2), 3).expect("webhook");
    hook.notify(&event("web-01")).await;
    // Retries back off 200 ms then 400 ms.
    eventually(10, "a delivery", || {
        !received.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(attempts.load(SeqCst), 3);
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["condition"], "DiskPressure");
    assert_eq!(got[0]["kind"], "Fired");
    assert_eq!(got[0]["hostname"], "web-01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_webhook_never_blocks_notify_and_is_retried_in_order() {
    use osapi::controller::notify::WebhookNotifier;
    // Each attempt's hostname, in arrival order; the receiver never answers.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let s = s.clone();
            async move {
                let host = v["hostname"].as_str().unwrap_or_default().to_owned();
                s.lock().expect("lock").push(host);
                std::future::pending::<()>().await
            }
        }),
    );
    let url = serve_hook(app).await;
    let retries = 2;
    let hook = WebhookNotifier::new(&url, Duration::from_millis(200), retries).expect("webhook");
    let hosts = ["web-01", "web-02", "web-03", "web-04", "web-05"];
    for host in hosts {
        let e = event(host);
        let sent = tokio::time::timeout(Duration::from_millis(50), hook.notify(&e)).await;
        assert!(sent.is_ok(), "notify blocked on {host}");
    }
    // The first event: 1 + retries attempts (200 ms each, 200 + 400 ms back-off), then
    // the second event, in order.
    let first = retries as usize + 1;
    let n = || seen.lock().expect("lock").len();
    eventually(10, "the second event", || n() > first).await;
    let got = seen.lock().expect("lock").clone();
    assert_eq!(got[..first], vec!["web-01"; first], "{got:?}");
    assert_eq!(got[first], "web-02", "{got:?}");
    // Still never blocks while the worker is busy.
    let e = event("web-06");
    let sent = tokio::time::timeout(Duration::from_millis(50), hook.notify(&e)).await;
    assert!(sent.is_ok(), "notify blocked while delivering");

    // Dropping the notifier stops its worker: no more attempts.
    drop(hook);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let settled = n();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(n(), settled, "the worker outlived its notifier");
}
