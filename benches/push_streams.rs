//! Event streams under load (issue 21's acceptance numbers):
//!
//! 1. `OSAPI_BENCH_FOLLOWERS` (500) SSE clients follow jobs (`/api/job/{id}/events`, to
//!    `done`) while `OSAPI_BENCH_CONCURRENCY` (64) clients submit `OSAPI_BENCH_JOBS`
//!    (10,000) jobs asynchronously, at most one job in flight per follower: non-2xx
//!    answers, streams that ended without `done`, and the response stream's consumer
//!    count sampled throughout.
//! 2. `OSAPI_BENCH_WATCHERS` (1,000) SSE clients on `/api/events?kind=job` while
//!    `OSAPI_BENCH_FLEET_JOBS` (200) jobs run: the process's RSS growth (controller, agent
//!    and the clients together: an upper bound of the controller's), and whether every
//!    client got every `job.created` and `job.finished`.
//!
//! Run: `cargo bench --bench push_streams` (needs nats-server on PATH and about 2,500
//! file descriptors: `ulimit -n 4096`).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{env_or, Bench};
use tokio::sync::Mutex;

#[derive(Default)]
struct Counts {
    submitted: AtomicUsize,
    non_2xx: AtomicUsize,
    followed: AtomicUsize,
    done: AtomicUsize,
    stream_errors: AtomicUsize,
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Reads an SSE body to its end; the names of its events.
async fn event_names(
    resp: reqwest::Response,
    stop_after: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut parser = osapi::sdk::events::SseParser::default();
    let mut names = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(Ok(chunk)) = body.next().await {
        names.extend(parser.push(&chunk).into_iter().map(|(n, _)| n));
        if stop_after(&names) {
            break;
        }
    }
    names
}

/// Jobs in flight, at most one per follower: a submitter takes a place before it submits,
/// the follower gives it back when the job's stream ended (async jobs hold a
/// `controller.api.max_inflight` slot until answered, so an unbounded burst is 503s).
type Window = Arc<tokio::sync::Semaphore>;

/// Gives a place of the window back when dropped.
struct Release(Window);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

async fn follow_jobs(
    bench: Arc<Bench>,
    ids: Arc<Mutex<tokio::sync::mpsc::Receiver<String>>>,
    counts: Arc<Counts>,
    window: Window,
) {
    let http = reqwest::Client::new();
    loop {
        let Some(id) = ids.lock().await.recv().await else {
            return;
        };
        let _place = Release(window.clone());
        let resp = http
            .get(format!("{}/api/job/{id}/events", bench.base))
            .bearer_auth(&bench.token)
            .send()
            .await;
        let Ok(resp) = resp.map_err(|_| counts.stream_errors.fetch_add(1, Ordering::Relaxed))
        else {
            continue;
        };
        if !resp.status().is_success() {
            counts.non_2xx.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        counts.followed.fetch_add(1, Ordering::Relaxed);
        let names = event_names(resp, |_| false).await;
        if names.last().map(String::as_str) == Some("done") {
            counts.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn submit_jobs(
    bench: Arc<Bench>,
    total: usize,
    ids: tokio::sync::mpsc::Sender<String>,
    counts: Arc<Counts>,
    window: Window,
) {
    let http = reqwest::Client::new();
    while counts.submitted.fetch_add(1, Ordering::Relaxed) < total {
        match window.acquire().await {
            Ok(place) => place.forget(),
            Err(_) => return,
        }
        let resp = http
            .get(format!("{}/api/node/_any/hostname?async=true", bench.base))
            .bearer_auth(&bench.token)
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if let Some(id) = body["job_id"].as_str() {
                    let _ = ids.send(id.to_owned()).await;
                }
            }
            _ => {
                counts.non_2xx.fetch_add(1, Ordering::Relaxed);
                window.add_permits(1);
            }
        }
    }
}

async fn followers_while_submitting(bench: &Arc<Bench>) {
    let followers = env_or("OSAPI_BENCH_FOLLOWERS", 500);
    let submitters = env_or("OSAPI_BENCH_CONCURRENCY", 64);
    let jobs = env_or("OSAPI_BENCH_JOBS", 10_000);
    let counts = Arc::new(Counts::default());
    let (tx, rx) = tokio::sync::mpsc::channel(jobs);
    let rx = Arc::new(Mutex::new(rx));
    let window: Window = Arc::new(tokio::sync::Semaphore::new(followers));
    let consumers_before = bench.response_consumers().await;
    let started = Instant::now();
    let follow: Vec<_> = (0..followers)
        .map(|_| {
            let (rx, counts, window) = (rx.clone(), counts.clone(), window.clone());
            tokio::spawn(follow_jobs(bench.clone(), rx, counts, window))
        })
        .collect();
    let submit: Vec<_> = (0..submitters)
        .map(|_| {
            let (tx, counts, window) = (tx.clone(), counts.clone(), window.clone());
            tokio::spawn(submit_jobs(bench.clone(), jobs, tx, counts, window))
        })
        .collect();
    drop(tx);
    let stop = tokio_util::sync::CancellationToken::new();
    let sampling = {
        let (bench, stop) = (bench.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut low, mut high) = (usize::MAX, 0);
            while !stop.is_cancelled() {
                let n = bench.response_consumers().await;
                (low, high) = (low.min(n), high.max(n));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (low, high)
        })
    };
    for task in submit {
        let _ = task.await;
    }
    let submitted_in = started.elapsed();
    for task in follow {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    let (low, high) = sampling.await.expect("sampling");
    println!("\n{followers} SSE followers while {submitters} clients submit {jobs} jobs (async):");
    println!(
        "  submitted in {:.1}s ({:.0} jobs/s); all followed in {:.1}s",
        submitted_in.as_secs_f64(),
        jobs as f64 / submitted_in.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "  non-2xx: {}; streams followed: {}, ended with done: {}, transport errors: {}",
        counts.non_2xx.load(Ordering::Relaxed),
        counts.followed.load(Ordering::Relaxed),
        counts.done.load(Ordering::Relaxed),
        counts.stream_errors.load(Ordering::Relaxed),
    );
    println!(
        "  response stream consumers: {consumers_before} before, {low}..{high} during, {} after",
        bench.response_consumers().await
    );
}

async fn fleet_watchers(bench: &Arc<Bench>) {
    let watchers = env_or("OSAPI_BENCH_WATCHERS", 1000);
    let jobs = env_or("OSAPI_BENCH_FLEET_JOBS", 200);
    let before = rss_mb();
    let opened = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..watchers)
        .map(|_| {
            let (bench, opened) = (bench.clone(), opened.clone());
            tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .get(format!("{}/api/events?kind=job", bench.base))
                    .bearer_auth(&bench.token)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())?;
                opened.fetch_add(1, Ordering::Relaxed);
                let names = event_names(resp, |n| {
                    n.iter().filter(|n| *n == "job.finished").count() >= jobs
                })
                .await;
                Some(names)
            })
        })
        .collect();
    while opened.load(Ordering::Relaxed) < watchers {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_rss = rss_mb();
    let http = reqwest::Client::new();
    let started = Instant::now();
    for _ in 0..jobs {
        let _ = http
            .get(format!("{}/api/node/_any/hostname", bench.base))
            .bearer_auth(&bench.token)
            .send()
            .await;
    }
    let mut complete = 0;
    let mut lagged = 0;
    for task in tasks {
        if let Ok(Some(names)) = task.await {
            let count = |k: &str| names.iter().filter(|n| *n == k).count();
            complete += usize::from(count("job.created") >= jobs && count("job.finished") >= jobs);
            lagged += count("lagged");
        }
    }
    println!("\n{watchers} SSE clients on /api/events?kind=job while {jobs} jobs run:");
    println!(
        "  process RSS {before:.1} MB before, {open_rss:.1} MB with every stream open (+{:.1} MB, clients included)",
        open_rss - before
    );
    println!(
        "  clients that got every job.created and job.finished: {complete}/{watchers} ({lagged} lagged notices), in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let bench = Arc::new(
        Bench::start_with(|c| {
            c.controller.api.max_connections = 4096;
        })
        .await,
    );
    fleet_watchers(&bench).await;
    followers_while_submitting(&bench).await;
}
