//! Results pushed as they happen (issue 21): a job's Server-Sent Events with late-join
//! replay, async submission, the fleet stream, all served from the controller's shared
//! subscriptions (no consumer per stream client, no polling request).
//!
//! One stack of five agents whose answers are staggered by 500 ms serves every check.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use osapi::nats::Names;
use serde_json::Value;

/// Agents `a0`..`a4`; `aN` answers after `N * STAGGER`.
const STAGGER: Duration = Duration::from_millis(500);
const AGENTS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];

/// One SSE event as received: name, JSON data, and when it arrived.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    data: Value,
    at: Instant,
}

/// Reads an SSE response until it ends (or `limit` passes), stamping each event.
async fn read_events(resp: reqwest::Response, limit: Duration) -> Vec<Received> {
    read_until(resp, limit, |_| false).await
}

/// Reads an SSE response until `enough` holds for what arrived, it ends, or `limit` passes.
async fn read_until(
    resp: reqwest::Response,
    limit: Duration,
    enough: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let mut body = resp.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, body.next()).await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !data.is_empty() {
                let data = serde_json::from_str(&data).unwrap_or(Value::Null);
                events.push(Received {
                    name,
                    data,
                    at: Instant::now(),
                });
            }
        }
        if enough(&events) {
            break;
        }
    }
    events
}

async fn open(stack: &Stack, path: &str, token: &str) -> reqwest::Response {
    let resp = http_builder()
        .build()
        .expect("http client")
        .get(format!("{}{path}", stack.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("stream request");
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap_or(""),
        "text/event-stream",
        "{path}"
    );
    resp
}

fn names(events: &[Received]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// API requests the controller served so far (its own counter, by route).
async fn api_requests(port: u16) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    text.lines()
        .filter(|l| l.contains("http_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

async fn consumers(nats: &Nats, config: &osapi::config::Config, bucket: &str) -> usize {
    let name = Names::new(&config.controller.nats.namespace).infra(bucket);
    let js = async_nats::jetstream::new(nats_client(nats.port).await);
    let mut stream = js.get_stream(format!("KV_{name}")).await.expect("stream");
    stream.info().await.expect("info").state.consumer_count
}

/// Polls the in-process provider's counter every millisecond: when it started running.
fn provider_start(
    running: Arc<std::sync::atomic::AtomicUsize>,
) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || loop {
        if running.load(Ordering::SeqCst) > 0 {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_millis(1));
    })
}

struct Fleet {
    stack: Stack,
    metrics_port: u16,
    running: Vec<Arc<std::sync::atomic::AtomicUsize>>,
}

async fn fleet(nats: &Nats) -> Fleet {
    let metrics_port = free_port();
    let mut cfg = config(nats.port);
    cfg.controller.metrics.enabled = true;
    cfg.controller.metrics.host = "127.0.0.1".into();
    cfg.controller.metrics.port = metrics_port;
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    let mut running = Vec::new();
    for (i, name) in AGENTS.iter().enumerate() {
        let mut node = FakeNode::new(name);
        node.delay = STAGGER * i as u32;
        running.push(node.running.clone());
        stack.add_agent(name, &[("group", "web")], fake_providers(node));
    }
    stack.wait_agents(&AGENTS).await;
    Fleet {
        stack,
        metrics_port,
        running,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_events_stream_live_and_replay_to_late_joiners() {
    let nats = Nats::start();
    let f = fleet(&nats).await;
    let stack = &f.stack;
    let t = token(&["admin"], &[]);
    let responses = stack.config.nats.kv.response_bucket.clone();
    let jobs = stack.config.nats.kv.bucket.clone();
    let consumers_before = (
        consumers(&nats, &stack.config, &responses).await,
        consumers(&nats, &stack.config, &jobs).await,
    );

    // A slow unicast (a4 takes 2 s): `started` as the provider starts, then the result.
    let starts = provider_start(f.running[4].clone());
    let submitted = stack
        .http
        .get(format!("{}/api/node/a4/hostname?async=true", stack.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), 202);
    let location = submitted.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(submitted.headers()["preference-applied"], "respond-async");
    let accepted: Value = submitted.json().await.expect("body");
    let id = accepted["job_id"].as_str().expect("job id").to_owned();
    assert_eq!(location, format!("/api/job/{id}/events"));
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["location"], location.as_str());
    let resp = open(stack, &location, &t).await;
    let requests_at_open = api_requests(f.metrics_port).await;
    let events = read_events(resp, Duration::from_secs(20)).await;
    let requests_at_end = api_requests(f.metrics_port).await;
    assert_eq!(
        requests_at_end, requests_at_open,
        "an API request was made while the stream ran"
    );
    let got = names(&events);
    assert_eq!(got.first(), Some(&"submitted"), "{got:?}");
    assert_eq!(got.last(), Some(&"done"), "{got:?}");
    for once in [
        "submitted",
        "acknowledged",
        "started",
        "completed",
        "result",
        "done",
    ] {
        assert_eq!(
            got.iter().filter(|n| **n == once).count(),
            1,
            "{once}: {got:?}"
        );
    }
    let at = |name: &str| events.iter().find(|e| e.name == name).expect(name).at;
    let provider_started = starts.join().expect("provider start");
    let lag = at("started").saturating_duration_since(provider_started);
    assert!(
        lag < Duration::from_millis(100)
            && at("started") < provider_started + Duration::from_millis(100),
        "started {lag:?} after the provider began"
    );
    let ran = at("result").duration_since(at("started"));
    assert!(
        ran >= STAGGER * 4 - Duration::from_millis(50),
        "result after {ran:?}"
    );
    assert!(
        ran < STAGGER * 4 + Duration::from_millis(400),
        "result held back: {ran:?}"
    );
    let done = events.last().expect("done");
    assert_eq!(done.data["status"], "completed", "{:?}", done.data);
    assert_eq!(done.data["job_id"], id.as_str());
    let result = &events[got.iter().position(|n| *n == "result").expect("result")];
    assert_eq!(result.data["hostname"], "a4");
    assert_eq!(result.data["data"]["hostname"], "a4");

    // Late, after it ended: the same events, from storage, then the stream ends.
    let replay = read_events(
        open(stack, &format!("/job/{id}/events"), &t).await,
        Duration::from_secs(10),
    )
    .await;
    let mut again = names(&replay);
    let mut live = got.clone();
    again.sort_unstable();
    live.sort_unstable();
    assert_eq!(again, live, "replay differs from the live stream");

    // A broadcast, answers 500 ms apart: five results in arrival order, each told as it
    // came; a client joining half-way gets the same, with nothing twice.
    let submitted = stack
        .http
        .get(format!("{}/node/group:web/hostname", stack.base))
        .header("Prefer", "respond-async, wait=1")
        .bearer_auth(&t)
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), 202);
    let path = submitted.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let first = open(stack, &path, &t).await;
    let early = tokio::spawn(read_events(first, Duration::from_secs(20)));
    tokio::time::sleep(STAGGER * 2 + STAGGER / 2).await;
    let consumers_during = (
        consumers(&nats, &stack.config, &responses).await,
        consumers(&nats, &stack.config, &jobs).await,
    );
    let late = read_events(open(stack, &path, &t).await, Duration::from_secs(20)).await;
    let early = early.await.expect("join");
    assert_eq!(
        consumers_during, consumers_before,
        "stream clients created consumers (responses, jobs)"
    );
    for (who, events) in [("early", &early), ("late", &late)] {
        let results: Vec<&Received> = events.iter().filter(|e| e.name == "result").collect();
        let hosts: Vec<&str> = results
            .iter()
            .filter_map(|e| e.data["hostname"].as_str())
            .collect();
        assert_eq!(hosts, AGENTS, "{who}: results not in arrival order");
        assert_eq!(names(events).last(), Some(&"done"), "{who}");
        assert_eq!(events.last().expect("done").data["status"], "completed");
        let keys: std::collections::BTreeSet<String> = events
            .iter()
            .map(|e| format!("{}/{}/{}", e.name, e.data["hostname"], e.data["unix_nano"]))
            .collect();
        assert_eq!(keys.len(), events.len(), "{who}: an event told twice");
    }
    let results: Vec<&Received> = early.iter().filter(|e| e.name == "result").collect();
    for pair in results.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= STAGGER - Duration::from_millis(150),
            "results arrived together ({gap:?} apart): held back"
        );
    }

    // Without the preference: as before, the answer itself.
    let (status, body) = stack.get("/node/a0/hostname?async=false", Some(&t)).await;
    assert_eq!(
        (status, body["results"][0]["hostname"].as_str()),
        (200, Some("a0")),
        "{body}"
    );
    let (status, body) = stack.get("/node/a0/hostname?async=maybe", Some(&t)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("async")),
        "{body}"
    );
    // Any caller allowed the operation may submit it asynchronously.
    let (status, body) = stack
        .get("/node/a0/hostname?async=1", Some(&token(&["read"], &[])))
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = stack
        .get(&format!("/job/{}/events", unknown_job()), Some(&t))
        .await;
    assert_eq!(status, 404);
    let (status, body) = stack.get("/job/not-a-job/events", Some(&t)).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("id")));
    sdk_and_cli(stack).await;
    let mut f = f;
    fleet_events(&mut f).await;
    // A stream that would never end ends when the controller stops (its graceful stop
    // waits for open responses).
    let open_stream = open(&f.stack, "/api/events", &t).await;
    let reading = tokio::spawn(read_events(open_stream, Duration::from_secs(20)));
    let stopping = Instant::now();
    f.stack.shutdown().await;
    reading.await.expect("join");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "the stream outlived the stop"
    );
}

/// The SDK's typed stream of a broadcast, and the CLI's `--async` and `job watch` (the
/// real binary, on a pipe: no progress drawn).
async fn sdk_and_cli(stack: &Stack) {
    use osapi::sdk::{JobStreamEvent, OverallStatus};
    let t = token(&["admin"], &[]);
    let client = sdk_client(&stack.base, &t);
    let op = osapi::wire::ops::NoInput {};
    let accepted = client
        .submit::<osapi::wire::ops::node::NodeHostnameGet>("group:web", &op)
        .await
        .expect("submit");
    let events: Vec<JobStreamEvent> = client
        .job_events(&accepted.job_id)
        .await
        .expect("stream")
        .map(|e| e.expect("event"))
        .collect()
        .await;
    let hosts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            JobStreamEvent::Result(r) => Some(r.hostname.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(hosts, AGENTS);
    assert!(
        matches!(events.last(), Some(JobStreamEvent::Done(d)) if d.status == OverallStatus::Completed),
        "{events:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("osapi.yaml");
    std::fs::write(&config, "").expect("config");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_osapi"))
            .arg("-f")
            .arg(&config)
            .args(args)
            .args(["--url", &stack.base, "--token", &t])
            .args(cli_tls_args())
            .output()
            .expect("run osapi")
    };
    let started = Instant::now();
    let out = cli(&["client", "--async", "node", "hostname", "-T", "a4"]);
    let id = stdout_of_success(&["--async"], &out).trim().to_owned();
    assert!(
        started.elapsed() < STAGGER * 4,
        "--async waited for the job"
    );
    assert_eq!(id.len(), 36, "not a job id: {id:?}");
    let out = cli(&["client", "job", "watch", "--job-id", &id]);
    let text = stdout_of_success(&["job", "watch"], &out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("started") && l.contains("a4")),
        "{text}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("done") && l.ends_with("completed")),
        "{text}"
    );
    let out = cli(&["-j", "client", "job", "watch", "--job-id", &id]);
    let text = stdout_of_success(&["-j", "job", "watch"], &out);
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            event["event"].is_string() && event["data"].is_object(),
            "{line}"
        );
    }
    // On a pipe, a broadcast prints as before: no progress lines, the table.
    let out = cli(&["client", "node", "hostname", "-T", "group:web"]);
    let text = stdout_of_success(&["node", "hostname"], &out);
    assert!(text.contains("Job ID:"), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "{:?}",
        out.stderr
    );
}

fn has(events: &[Received], name: &str, pred: impl Fn(&Value) -> bool) -> bool {
    events.iter().any(|e| e.name == name && pred(&e.data))
}

/// The fleet stream: agents registered and changed, jobs created and finished, filtered
/// by kind and target, each kind behind its permission.
async fn fleet_events(f: &mut Fleet) {
    let t = token(&["admin"], &[]);
    let jobs_only = token(&["read"], &[osapi::auth::Permission::JobRead]);
    let (status, body) = f
        .stack
        .get("/api/events?kind=agent", Some(&jobs_only))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("agent:read"),
        "{body}"
    );
    let (status, body) = f.stack.get("/api/events?kind=agents", Some(&t)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("kind")),
        "{body}"
    );
    let (status, _) = f.stack.get("/api/events", None).await;
    assert_eq!(status, 401);

    let web = open(&f.stack, "/api/events?target=group:web&kind=agent,job", &t).await;
    let jobs = open(&f.stack, "/api/events", &jobs_only).await;
    let other = open(&f.stack, "/api/events?target=group:db&kind=agent", &t).await;
    let job_done = |e: &[Received]| has(e, "job.finished", |_| true);
    let web = tokio::spawn(read_until(web, Duration::from_secs(20), move |e| {
        job_done(e) && has(e, "agent.registered", |d| d["hostname"] == "a5") && a1_drained(e)
    }));
    let jobs = tokio::spawn(read_until(jobs, Duration::from_secs(20), job_done));
    let other = tokio::spawn(read_events(other, Duration::from_secs(4)));

    let (status, body) = f.stack.post_empty("/api/agent/a1/drain", &t).await;
    assert!(status < 300, "{status} {body}");
    let mut node = FakeNode::new("a5");
    node.delay = Duration::ZERO;
    f.stack
        .add_agent("a5", &[("group", "web")], fake_providers(node));
    f.stack.wait_agents(&["a5"]).await;
    // Past the controller's 2 s cache of the registry that broadcasts resolve against.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let submitted = f
        .stack
        .http
        .get(format!(
            "{}/api/node/group:web/hostname?async=true",
            f.stack.base
        ))
        .bearer_auth(&t)
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), 202);
    let web = web.await.expect("join");
    let jobs = jobs.await.expect("join");
    let other = other.await.expect("join");
    assert!(
        has(&web, "agent.registered", |d| d["hostname"] == "a5"
            && d["labels"]["group"] == "web"),
        "{:?}",
        names(&web)
    );
    assert!(a1_drained(&web), "{:?}", names(&web));
    assert!(
        has(&web, "job.created", |d| d["target"] == "group:web"),
        "{:?}",
        names(&web)
    );
    let finished = web
        .iter()
        .find(|e| e.name == "job.finished")
        .expect("finished");
    // a1 is draining: the broadcast waits for the four others and a5.
    assert_eq!(
        finished.data["data"]["status"], "completed",
        "{:?}",
        finished.data
    );
    assert_eq!(
        finished.data["data"]["hosts"],
        serde_json::json!(["a0", "a2", "a3", "a4", "a5"]),
        "{:?}",
        finished.data
    );
    assert!(
        jobs.iter().all(|e| e.name.starts_with("job.")),
        "{:?}",
        names(&jobs)
    );
    assert!(has(&jobs, "job.created", |_| true), "{:?}", names(&jobs));
    assert!(other.is_empty(), "group:db saw {:?}", names(&other));
}

/// a1's drain as the stream tells it: `agent.changed`, or `agent.registered` when a slow
/// machine let its registry entry expire (3 s here) between two heartbeats, so that it
/// came back draining.
fn a1_drained(events: &[Received]) -> bool {
    let draining = |d: &Value| d["hostname"] == "a1" && d["data"]["state"] != "Ready";
    has(events, "agent.changed", draining) || has(events, "agent.registered", draining)
}

fn unknown_job() -> String {
    "0190a8e4-0000-7000-8000-000000000000".into()
}
