//! Every headline figure in one table (issue 22): the real deployment as processes
//! (nats-server, `osapi controller start`, `osapi agent start`) on loopback, a load
//! generator that keeps a fixed concurrency, and per scenario: requests, throughput,
//! p50/p90/p99, answers that were not 2xx by status, CPU milliseconds per request of each
//! process and of all of them, and each process's peak RSS. The idle RSS of each process
//! is printed first.
//!
//! `OSAPI_BENCH_SECONDS` (10) is how long each loaded scenario runs; the concurrency-64
//! job scenario is the sustained figure (run it with 30). `OSAPI_BENCH_ONLY` runs
//! only the scenarios whose name contains it.
//!
//! Run: `cargo bench --bench overview` (release: the figures users get); `--profile dev`
//! for a quick look.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use comfy_table::Table;
use support::processes::{self, Processes, Usage};
use support::{env_or, percentile};

/// One measured scenario: a path asked by `clients` concurrent clients.
struct Scenario {
    name: &'static str,
    path: &'static str,
    clients: usize,
    /// Stops after this many requests (0: after the time limit only).
    requests: usize,
}

/// What a scenario's clients saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    failures: BTreeMap<u16, usize>,
}

fn main() {
    support::block_on(run());
}

async fn run() {
    let seconds = env_or("OSAPI_BENCH_SECONDS", 10) as u64;
    let p = processes::start(|_| {});
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let base = format!("http://{}", p.api);
    processes::warm_up(&http, &base, &p.token, 50).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    print_idle(&p);
    support::floor::print(&p.nats_url, p.pids[0].1).await;
    let scenarios = [
        Scenario {
            name: "hostname job, 1 client",
            path: "/node/_any/hostname",
            clients: 1,
            requests: 2000,
        },
        Scenario {
            name: "hostname job, 64 clients",
            path: "/node/_any/hostname",
            clients: 64,
            requests: 0,
        },
        Scenario {
            name: "GET /health, 1 client",
            path: "/health",
            clients: 1,
            requests: 2000,
        },
        Scenario {
            name: "GET /job?limit=100, 4 clients",
            path: "/job?limit=100",
            clients: 4,
            requests: 400,
        },
        Scenario {
            name: "GET /health/status, 4 clients",
            path: "/health/status",
            clients: 4,
            requests: 400,
        },
        Scenario {
            name: "GET /agent, 4 clients",
            path: "/agent",
            clients: 4,
            requests: 2000,
        },
    ];
    let mut table = Table::new();
    let mut header = vec![
        "scenario", "n", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx",
    ];
    let cpu_heads: Vec<String> = p
        .pids
        .iter()
        .map(|(n, _)| format!("{n} CPU ms/req"))
        .collect();
    let rss_heads: Vec<String> = p.pids.iter().map(|(n, _)| format!("{n} peak MB")).collect();
    header.extend(cpu_heads.iter().map(String::as_str));
    header.push("all CPU ms/req");
    header.extend(rss_heads.iter().map(String::as_str));
    table.set_header(header);
    // `OSAPI_BENCH_ONLY=64` runs the scenarios whose name contains "64".
    let only = std::env::var("OSAPI_BENCH_ONLY").unwrap_or_default();
    for s in scenarios.iter().filter(|s| s.name.contains(only.as_str())) {
        let before = p.usages();
        let started = Instant::now();
        let seen = load(&http, &base, &p.token, s, Duration::from_secs(seconds)).await;
        let elapsed = started.elapsed();
        let after = p.usages();
        table.add_row(row(s, seen, elapsed, &before, &after));
    }
    println!("CPU: milliseconds per request; MB: peak resident memory so far");
    println!("{table}");
}

fn print_idle(p: &Processes) {
    let idle: Vec<String> = p
        .pids
        .iter()
        .zip(p.usages())
        .map(|((name, _), u)| format!("{name} {:.1} MB", u.rss as f64 / 1e6))
        .collect();
    println!("idle RSS: {}", idle.join(", "));
}

/// Runs `s` until its request count or `limit`, whichever comes first, with exactly
/// `s.clients` requests in flight.
async fn load(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    s: &Scenario,
    limit: Duration,
) -> Seen {
    let url = Arc::new(format!("{base}{}", s.path));
    let token = Arc::new(token.to_owned());
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(if s.requests == 0 {
        usize::MAX
    } else {
        s.requests
    }));
    let done = Arc::new(AtomicBool::new(false));
    let deadline = tokio::time::Instant::now() + limit;
    let workers: Vec<_> = (0..s.clients)
        .map(|_| {
            let (http, url, token, left, done) = (
                http.clone(),
                url.clone(),
                token.clone(),
                left.clone(),
                done.clone(),
            );
            tokio::spawn(async move {
                let mut seen = Seen::default();
                while !done.load(Ordering::Relaxed)
                    && tokio::time::Instant::now() < deadline
                    && left.fetch_sub(1, Ordering::Relaxed) > 0
                {
                    let began = Instant::now();
                    let status = match http
                        .get(url.as_str())
                        .bearer_auth(token.as_str())
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let _ = r.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    seen.latencies.push(began.elapsed());
                    if !(200..300).contains(&status) {
                        *seen.failures.entry(status).or_default() += 1;
                    }
                }
                done.store(true, Ordering::Relaxed);
                seen
            })
        })
        .collect();
    let mut all = Seen::default();
    for w in workers {
        let seen = w.await.expect("load worker");
        all.latencies.extend(seen.latencies);
        for (status, n) in seen.failures {
            *all.failures.entry(status).or_default() += n;
        }
    }
    all
}

fn row(
    s: &Scenario,
    mut seen: Seen,
    elapsed: Duration,
    before: &[Usage],
    after: &[Usage],
) -> Vec<String> {
    seen.latencies.sort();
    let n = seen.latencies.len().max(1);
    let pct = |p: f64| match seen.latencies.is_empty() {
        true => "-".to_owned(),
        false => format!(
            "{:.2}",
            percentile(&seen.latencies, p).as_secs_f64() * 1000.0
        ),
    };
    let per_req = |cpu: f64| format!("{:.3}", cpu * 1000.0 / n as f64);
    let cpu: Vec<f64> = before
        .iter()
        .zip(after)
        .map(|(b, a)| a.cpu_seconds - b.cpu_seconds)
        .collect();
    let mut cells = vec![
        s.name.to_owned(),
        seen.latencies.len().to_string(),
        format!("{:.0}", seen.latencies.len() as f64 / elapsed.as_secs_f64()),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        format!("{:?}", seen.failures),
    ];
    cells.extend(cpu.iter().map(|c| per_req(*c)));
    cells.push(per_req(cpu.iter().sum()));
    cells.extend(
        after
            .iter()
            .map(|u| format!("{:.1}", u.peak_rss as f64 / 1e6)),
    );
    cells
}
