//! Prometheus endpoints of the controller and the agent.

mod common;

use std::collections::BTreeMap;

use common::*;

/// Parses Prometheus text: every sample line is `name{labels} value`.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().expect("name");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn find(samples: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("{name}{{")) && labels.iter().all(|l| k.contains(l))
        })
        .map(|(_, v)| *v)
        .sum()
}

async fn scrape(http: &reqwest::Client, port: u16) -> BTreeMap<String, f64> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    parse(&text)
}

/// Scrapes until `done` holds, for up to five seconds; returns the last scrape either way.
async fn scrape_until(
    http: &reqwest::Client,
    port: u16,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let mut last = scrape(http, port).await;
    for _ in 0..50 {
        if done(&last) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        last = scrape(http, port).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_parse_and_job_counters_move_by_the_jobs_run() {
    let nats = Nats::start();
    let (controller_port, agent_port) = (free_port(), free_port());
    let mut cfg = config(nats.port);
    cfg.controller.metrics.enabled = true;
    cfg.controller.metrics.host = "127.0.0.1".into();
    cfg.controller.metrics.port = controller_port;
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    stack.add_agent_with("m", &[], fake_providers(FakeNode::new("m")), |c| {
        c.agent.metrics.enabled = true;
        c.agent.metrics.host = "127.0.0.1".into();
        c.agent.metrics.port = agent_port;
    });
    stack.wait_agents(&["m"]).await;
    let t = token(&["read"], &[]);
    let http = reqwest::Client::new();
    let (c0, a0) = (
        scrape(&http, controller_port).await,
        scrape(&http, agent_port).await,
    );
    const N: usize = 7;
    for _ in 0..N {
        assert_eq!(stack.get("/node/m/hostname", Some(&t)).await.0, 200);
    }
    // The agent writes a job's response before it acks and leaves the job: the caller can
    // get its answer a moment before the agent's gauge drops.
    let c1 = scrape(&http, controller_port).await;
    let a1 = scrape_until(&http, agent_port, |m| {
        find(m, "osapi_agent_jobs_in_flight", &[]) == 0.0
    })
    .await;
    let op = "operation=\"node.hostname.get\"";
    let delta =
        |before: &BTreeMap<String, f64>,
         after: &BTreeMap<String, f64>,
         name: &str,
         labels: &[&str]| { find(after, name, labels) - find(before, name, labels) };
    assert_eq!(delta(&c0, &c1, "osapi_jobs_created_total", &[op]), N as f64);
    assert_eq!(
        delta(
            &c0,
            &c1,
            "osapi_jobs_finished_total",
            &[op, "status=\"completed\""]
        ),
        N as f64
    );
    assert_eq!(
        delta(
            &c0,
            &c1,
            "osapi_http_requests_total",
            &["route=\"/node/{hostname}/hostname\"", "status=\"200\""]
        ),
        N as f64
    );
    assert!(
        find(
            &c1,
            "osapi_http_request_duration_seconds_count",
            &["method=\"GET\""]
        ) >= N as f64
    );
    assert_eq!(
        delta(
            &a0,
            &a1,
            "osapi_agent_jobs_total",
            &[op, "status=\"completed\""]
        ),
        N as f64
    );
    assert_eq!(find(&a1, "osapi_agent_jobs_in_flight", &[]), 0.0);
    assert_eq!(find(&a1, "osapi_nats_connected", &[]), 1.0);
    assert!(
        c1.keys()
            .any(|k| k.starts_with("osapi_process_resident_memory_bytes")),
        "no process metrics"
    );
    stack.shutdown().await;
}

/// Scrapes until the controller's `osapi_nats_connected` is `want`, for up to 20 s (a
/// reconnect after a server restart takes a few seconds of client back-off).
async fn wait_gauge(http: &reqwest::Client, port: u16, want: f64) -> f64 {
    let mut last = f64::NAN;
    for _ in 0..200 {
        last = find(&scrape(http, port).await, "osapi_nats_connected", &[]);
        if last == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_nats_connected_gauge_follows_the_connection() {
    let mut nats = Nats::start();
    let port = free_port();
    let mut cfg = config(nats.port);
    cfg.controller.metrics.enabled = true;
    cfg.controller.metrics.host = "127.0.0.1".into();
    cfg.controller.metrics.port = port;
    let stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    let http = reqwest::Client::new();
    assert_eq!(wait_gauge(&http, port, 1.0).await, 1.0, "connected");
    nats.kill();
    assert_eq!(wait_gauge(&http, port, 0.0).await, 0.0, "server gone");
    nats.restart();
    assert_eq!(wait_gauge(&http, port, 1.0).await, 1.0, "reconnected");
    stack.shutdown().await;
}
