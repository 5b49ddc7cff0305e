//! Sustained load: `OSAPI_BENCH_CONCURRENCY` clients (default 64) send hostname jobs back to
//! back for `OSAPI_BENCH_SECONDS` (default 30), first unicast (`_any`), then broadcast
//! (`_all`, a third of the time). Reports jobs/s, answers by status, latency, the response
//! stream's consumers before and after, and the jobs left `submitted`.
//!
//! Run: `cargo bench --bench sustained_load` (needs nats-server on PATH).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{env_or, report, Bench};

/// Answers by HTTP status (0: no answer) and every call's latency.
struct Run {
    statuses: BTreeMap<u16, usize>,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

async fn run(bench: &Arc<Bench>, path: &str, clients: usize, length: Duration) -> Run {
    let started = Instant::now();
    let end = started + length;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (bench, path) = (bench.clone(), path.to_owned());
            tokio::spawn(async move {
                let mut statuses = BTreeMap::new();
                let mut latencies = Vec::new();
                while Instant::now() < end {
                    let t = Instant::now();
                    let status = match bench.get(&path).send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let _ = r.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    latencies.push(t.elapsed());
                    *statuses.entry(status).or_insert(0) += 1;
                }
                (statuses, latencies)
            })
        })
        .collect();
    let mut all = Run {
        statuses: BTreeMap::new(),
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (statuses, latencies) = task.await.expect("client");
        for (s, n) in statuses {
            *all.statuses.entry(s).or_insert(0) += n;
        }
        all.latencies.extend(latencies);
    }
    all.elapsed = started.elapsed();
    all
}

fn print(name: &str, run: Run) {
    let total: usize = run.statuses.values().sum();
    let errors: usize = run
        .statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    println!(
        "{name}: {total} jobs in {:.1}s = {:.0} jobs/s; by status {:?}; non-2xx: {errors}",
        run.elapsed.as_secs_f64(),
        total as f64 / run.elapsed.as_secs_f64(),
        run.statuses
    );
    report(&format!("  latency {name}"), run.latencies);
}

#[tokio::main]
async fn main() {
    let clients = env_or("OSAPI_BENCH_CONCURRENCY", 64);
    let seconds = env_or("OSAPI_BENCH_SECONDS", 30) as u64;
    let bench = Arc::new(Bench::start().await);
    let before = bench.response_consumers().await;
    println!("\nsustained load, {clients} concurrent clients, one agent (loopback):");
    let unicast = run(
        &bench,
        "/node/_any/hostname",
        clients,
        Duration::from_secs(seconds),
    )
    .await;
    print("GET /node/_any/hostname", unicast);
    let broadcast = run(
        &bench,
        "/node/_all/hostname",
        clients,
        Duration::from_secs(seconds.div_ceil(3)),
    )
    .await;
    print("GET /node/_all/hostname", broadcast);
    let after = bench.response_consumers().await;
    println!("response stream consumers: {before} before, {after} after");
    let submitted: serde_json::Value = bench
        .get("/job?status=submitted&limit=1")
        .send()
        .await
        .expect("job list")
        .json()
        .await
        .expect("json");
    println!(
        "jobs left submitted: {}",
        submitted["total_items"].as_u64().unwrap_or(u64::MAX)
    );
}
