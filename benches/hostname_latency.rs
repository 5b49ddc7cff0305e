//! Latency of one `node.hostname.get` job through HTTP (controller -> NATS KV + stream ->
//! agent -> response KV -> controller) next to one raw NATS request-reply on the same server.
//!
//! Run: `cargo bench --bench hostname_latency` (needs nats-server on PATH).
//! `OSAPI_BENCH_CALLS` sets the number of measured calls (default 300). Then it times the
//! job and agent listings over the jobs those calls stored.

mod support;

use std::time::Instant;

use support::{env_or, report, Bench};

#[tokio::main]
async fn main() {
    let calls = env_or("OSAPI_BENCH_CALLS", 300);
    let bench = Bench::start().await;
    let call = || bench.get("/node/_any/hostname").send();
    let mut http_samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let r = call().await.expect("request");
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
        http_samples.push(t.elapsed());
    }

    // Listings read the buckets with KV scans; measured with the jobs stored so far.
    let list_samples = |path: &'static str| {
        let bench = &bench;
        async move {
            let mut samples = Vec::with_capacity(50);
            for _ in 0..50 {
                let t = Instant::now();
                let r = bench.get(path).send().await.expect("request");
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                assert_eq!(status, 200, "{path}: {body}");
                samples.push(t.elapsed());
            }
            samples
        }
    };
    let jobs_page = list_samples("/job?limit=100").await;
    let agents = list_samples("/agent").await;

    let nats_url = format!("nats://127.0.0.1:{}", bench.nats_port);
    let client = support::floor::echo_client(&nats_url).await;
    let nats_samples = support::floor::request_reply(&client, calls).await;

    println!("\nosapi latency, sequential calls on one host (loopback):");
    report("HTTP GET /node/_any/hostname", http_samples);
    report("raw NATS request-reply", nats_samples);
    let stored = calls + 20;
    report(&format!("GET /job?limit=100 ({stored} jobs)"), jobs_page);
    report("GET /agent (1 agent)", agents);
}
