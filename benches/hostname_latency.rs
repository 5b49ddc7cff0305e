//! Latency of one `node.hostname.get` job through HTTP (controller -> NATS KV + stream ->
//! agent -> response KV -> controller) next to one raw NATS request-reply on the same server.
//!
//! Run: `cargo bench --bench hostname_latency` (needs nats-server on PATH).
//! `OSAPI_BENCH_CALLS` sets the number of measured calls (default 300). Then it times the
//! job and agent listings over the jobs those calls stored.

mod support;

use std::time::Instant;

use futures::StreamExt;
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

    let client = async_nats::connect(format!("nats://127.0.0.1:{}", bench.nats_port))
        .await
        .expect("connect");
    let mut sub = client.subscribe("bench.echo").await.expect("subscribe");
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                let _ = responder.publish(reply, msg.payload).await;
            }
        }
    });
    for _ in 0..20 {
        let _ = client.request("bench.echo", "x".into()).await;
    }
    let mut nats_samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        client
            .request("bench.echo", "hostname".into())
            .await
            .expect("request-reply");
        nats_samples.push(t.elapsed());
    }

    println!("\nosapi latency, sequential calls on one host (loopback):");
    report("HTTP GET /node/_any/hostname", http_samples);
    report("raw NATS request-reply", nats_samples);
    let stored = calls + 20;
    report(&format!("GET /job?limit=100 ({stored} jobs)"), jobs_page);
    report("GET /agent (1 agent)", agents);
}
