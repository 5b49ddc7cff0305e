//! Listings with a full job bucket (issue 22: "`GET /job?limit=100` and `/health/status`
//! with 100,000 stored jobs: p50 <= 50 ms each").
//!
//! Stores `OSAPI_BENCH_JOBS` (100,000) job records, each with a `started` and a
//! `completed` event (every tenth `failed`), straight into the job bucket, as many
//! controllers' jobs would be. Then measures, `OSAPI_BENCH_ROUNDS` (50) times each:
//! the first page, a page filtered by status, a page deep in the bucket, and
//! `/health/status`. The first listing after start builds the controller's index from a
//! scan; it is reported on its own line, with this process's RSS before and after.
//!
//! Run: `cargo bench --bench job_listing` (`--profile dev` for a quick look).

mod support;

use std::time::{Duration, Instant};

use osapi::job::subject::OpKind;
use osapi::wire::job::{JobEvent, JobRecord, Operation, StatusEvent};
use support::fleet::self_usage;
use support::{env_or, report, Bench};

/// Writes in flight before their acks are awaited.
const WINDOW: usize = 2_000;

fn main() {
    support::block_on(run());
}

async fn run() {
    let jobs = env_or("OSAPI_BENCH_JOBS", 100_000);
    let rounds = env_or("OSAPI_BENCH_ROUNDS", 50);
    // The records and events of 100,000 jobs take about 80 MB.
    let bench = Bench::start_with(|c| c.nats.kv.max_bytes = 1 << 30).await;
    let (rss_before, _) = self_usage();
    let stored = Instant::now();
    store_jobs(&bench, jobs).await;
    println!(
        "stored {jobs} jobs in {:.1} s",
        stored.elapsed().as_secs_f64()
    );

    let first = Instant::now();
    let page = body(&bench, "/job?limit=100").await;
    println!(
        "first listing (index built from a scan): {:.0} ms, total_items={}",
        first.elapsed().as_secs_f64() * 1000.0,
        page["total_items"]
    );
    // This process holds the controller (and its index of every job) and the agent.
    let (rss_after, _) = self_usage();
    println!(
        "RSS of this process (controller, agent, load): {:.1} MB before the jobs, {:.1} MB with them indexed",
        rss_before as f64 / 1e6,
        rss_after as f64 / 1e6
    );
    let deep = format!("/job?limit=100&offset={}", jobs / 2);
    for (name, path) in [
        ("GET /job?limit=100", "/job?limit=100"),
        (
            "GET /job?status=failed&limit=100",
            "/job?status=failed&limit=100",
        ),
        ("GET /job?limit=100&offset=half", deep.as_str()),
        ("GET /health/status", "/health/status"),
    ] {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let response = bench.get(path).send().await.expect("request");
            assert_eq!(response.status(), 200, "{path}");
            response.bytes().await.expect("body");
            samples.push(started.elapsed());
        }
        report(name, samples);
    }
    let health = body(&bench, "/health/status").await;
    println!("health job totals: {}", health["jobs"]);
}

async fn body(bench: &Bench, path: &str) -> serde_json::Value {
    let response = bench.get(path).send().await.expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

/// Stores `n` finished jobs with their events, a window of writes at a time.
async fn store_jobs(bench: &Bench, n: usize) {
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", bench.nats_port))
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    let names = osapi::nats::Names::new(&bench.config.controller.nats.namespace);
    let bucket = names.infra(&bench.config.nats.kv.bucket);
    let prefix = format!("$KV.{bucket}.");
    let mut acks = Vec::with_capacity(WINDOW);
    for i in 0..n {
        for (key, body) in job_with_events(i) {
            let ack = js
                .publish(format!("{prefix}{key}"), body.into())
                .await
                .expect("publish");
            acks.push(ack);
        }
        if acks.len() >= WINDOW {
            for ack in acks.drain(..) {
                ack.await.expect("stored");
            }
        }
    }
    for ack in acks {
        ack.await.expect("stored");
    }
    // The controller hears them all before the first listing reads.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The keys and bodies of job `i`: its record, `started` and an outcome.
fn job_with_events(i: usize) -> Vec<(String, Vec<u8>)> {
    let id = uuid::Uuid::now_v7().to_string();
    let record = JobRecord {
        id: id.clone(),
        status: "unprocessed".into(),
        created: "2026-12-06T00:00:00Z".into(),
        subject: "osapi.jobs.query._any".into(),
        operation: Operation {
            kind: "node.hostname.get".into(),
            data: serde_json::json!({}),
        },
        target: "_any".into(),
        kind: OpKind::Query,
        retry_of: None,
        start_by: None,
        expires: None,
        expected: None,
    };
    let outcome = if i % 10 == 0 {
        JobEvent::Failed
    } else {
        JobEvent::Completed
    };
    let mut out = vec![(JobRecord::key(&id), to_json(&record))];
    for event in [JobEvent::Started, outcome] {
        let ev = StatusEvent::now(&id, event, "bench", serde_json::json!({}));
        out.push((ev.key(), to_json(&ev)));
    }
    out
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("json")
}
