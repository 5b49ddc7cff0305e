//! A thousand agents against one controller: `GET /node/_all/hostname` answered by every
//! agent, and the agent listing, with the fleet simulated in this process
//! (`support::fleet`: its own NATS connection, consumers and heartbeat per agent, canned
//! providers).
//!
//! Run: `cargo bench --bench fleet_scale` (needs nats-server on PATH).
//! `OSAPI_BENCH_AGENTS` sets the fleet size (default 1000), `OSAPI_BENCH_ROUNDS` the
//! measured broadcasts and listings (default 20), `OSAPI_BENCH_IDLE` the seconds of idle
//! measured (default 10).
//! Targets (issue #22): `_all` p50 ≤ 1 s with every agent answering; `GET /agent` ≤ 50 ms.

mod support;

use std::time::{Duration, Instant};

use support::fleet::{proc_usage, self_usage, Fleet};
use support::{env_or, report, Bench};

#[tokio::main]
async fn main() {
    let agents = env_or("OSAPI_BENCH_AGENTS", 1000);
    let rounds = env_or("OSAPI_BENCH_ROUNDS", 20);
    let idle = Duration::from_secs(env_or("OSAPI_BENCH_IDLE", 10) as u64);
    let bench = Bench::controller_only(|_| {}).await;
    let nats_pid = bench.nats_pid().to_string();
    let registry = registry(&bench).await;
    // Let the controller settle before the baseline is taken.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss0, _) = self_usage();

    let fleet = Fleet::start(&bench.config, agents, "sim", Duration::from_millis(5));
    let registered = fleet
        .wait_registered(
            || async { registered(&registry).await },
            Duration::from_secs(300),
        )
        .await;
    println!(
        "{agents} agents registered in {:.1}s",
        registered.as_secs_f64()
    );

    // Idle: heartbeats, pull requests and drain-flag reads only.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ((_, cpu_a), (_, nats_a)) = (self_usage(), proc_usage(&nats_pid));
    tokio::time::sleep(idle).await;
    let ((rss, cpu_b), (nats_rss, nats_b)) = (self_usage(), proc_usage(&nats_pid));
    let share = |d: Duration| d.as_secs_f64() / idle.as_secs_f64() * 100.0;
    println!(
        "idle over {}s: this process {:.0}% CPU, RSS {} MiB (+{} KiB per agent); nats-server {:.0}% CPU, RSS {} MiB",
        idle.as_secs(),
        share(cpu_b - cpu_a),
        rss >> 20,
        (rss.saturating_sub(rss0) / agents as u64) >> 10,
        share(nats_b - nats_a),
        nats_rss >> 20,
    );

    broadcast_rounds(&bench, agents, rounds).await;
    agent_list_rounds(&bench, agents, rounds).await;
    let ((rss, _), (nats_rss, _)) = (self_usage(), proc_usage(&nats_pid));
    println!(
        "after: this process RSS {} MiB; nats-server RSS {} MiB",
        rss >> 20,
        nats_rss >> 20
    );
    drop(fleet);
}

/// `_all` hostname rounds: latency, and how many agents answered each.
async fn broadcast_rounds(bench: &Bench, agents: usize, rounds: usize) {
    // One unmeasured round: every pull loop has started, answer keys are cached.
    let _ = all_hostnames(bench).await;
    let mut samples = Vec::with_capacity(rounds);
    let mut short = Vec::new();
    for round in 0..rounds {
        let t = Instant::now();
        let answered = all_hostnames(bench).await;
        samples.push(t.elapsed());
        if answered != agents {
            short.push(format!("round {round}: {answered}/{agents}"));
        }
    }
    report(&format!("GET /node/_all/hostname ({agents})"), samples);
    match short.is_empty() {
        true => println!("  every round answered by all {agents} agents"),
        false => println!("  rounds with missing hosts: {}", short.join(", ")),
    }
}

/// One `_all` hostname call; the number of hosts that answered `ok`.
async fn all_hostnames(bench: &Bench) -> usize {
    let r = bench
        .get("/node/_all/hostname")
        .send()
        .await
        .expect("request");
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    assert!(status.is_success(), "_all hostname: {status} {body}");
    body["results"]
        .as_array()
        .map(|items| items.iter().filter(|i| i["status"] == "ok").count())
        .unwrap_or(0)
}

async fn agent_list_rounds(bench: &Bench, agents: usize, rounds: usize) {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let r = bench.get("/agent").send().await.expect("request");
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        samples.push(t.elapsed());
        assert!(status.is_success(), "/agent: {status} {body}");
        assert_eq!(body["total"], agents, "agents listed");
    }
    report(&format!("GET /agent ({agents})"), samples);
}

/// The registry bucket, read directly (the API's listing is one of the things measured).
async fn registry(bench: &Bench) -> async_nats::jetstream::kv::Store {
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", bench.nats_port))
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    let names = osapi::nats::Names::new(&bench.config.controller.nats.namespace);
    let bucket = names.infra(&bench.config.nats.registry.bucket);
    loop {
        // The controller creates it shortly after start.
        match js.get_key_value(&bucket).await {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn registered(registry: &async_nats::jetstream::kv::Store) -> usize {
    osapi::registry::list_agents(registry)
        .await
        .map(|a| a.len())
        .unwrap_or(0)
}
