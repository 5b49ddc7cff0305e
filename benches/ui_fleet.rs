//! The dashboard's fleet page with 1,000 registered agents: server time to render it (one
//! request, registry read included) and the weight of its first load.
//!
//! Run: `cargo bench --bench ui_fleet` (needs nats-server on PATH). The one real agent's
//! heartbeat and facts are copied under 999 more names straight into the buckets, then
//! `GET /` is timed with a signed-in session. `OSAPI_BENCH_AGENTS` and
//! `OSAPI_BENCH_CALLS` change the fleet size (default 1000) and samples (default 100).
//! The registry entries live 30 s (`nats.registry.ttl`), which the run stays well inside.

mod support;

use std::time::{Duration, Instant};

use osapi::nats::resources::Names;
use support::{env_or, report, Bench};

#[tokio::main]
async fn main() {
    let agents = env_or("OSAPI_BENCH_AGENTS", 1000);
    let calls = env_or("OSAPI_BENCH_CALLS", 100);
    let bench = Bench::start().await;
    register_copies(&bench, agents - 1).await;
    let cookie = sign_in(&bench).await;
    let get = |path: &str| {
        bench
            .http
            .get(format!("{}{path}", bench.base))
            .header("cookie", &cookie)
            .send()
    };

    // Wait for the registry cache to see the whole fleet.
    let started = Instant::now();
    loop {
        let page = get("/").await.expect("page").text().await.expect("html");
        if page.contains(&format!("{agents} agents")) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "fleet never complete"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut samples = Vec::with_capacity(calls);
    let mut html = 0;
    for _ in 0..calls {
        let t = Instant::now();
        let r = get("/").await.expect("page");
        assert_eq!(r.status(), 200);
        html = r.bytes().await.expect("body").len();
        samples.push(t.elapsed());
    }
    report(&format!("GET / ({agents} agents)"), samples);
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let r = get("/ui/fleet?q=&page=0").await.expect("fragment");
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
        samples.push(t.elapsed());
    }
    report("GET /ui/fleet (poll)", samples);
    // The registry listing is cached for 2 s: these renders each re-read all 1,000.
    let mut samples = Vec::with_capacity(10);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let t = Instant::now();
        let r = get("/").await.expect("page");
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
        samples.push(t.elapsed());
    }
    report("GET / (registry re-read)", samples);

    // First load: the page, its two assets and the components region it loads.
    let mut weight = vec![("/".to_owned(), html)];
    for path in [
        "/ui/assets/htmx.min.js",
        "/ui/assets/ui.css",
        "/ui/fleet/components",
    ] {
        let body = get(path).await.expect("asset").bytes().await.expect("body");
        weight.push((path.to_owned(), body.len()));
    }
    let total: usize = weight.iter().map(|(_, n)| n).sum();
    for (path, n) in &weight {
        println!("  {path:<28} {:>8} bytes", n);
    }
    println!(
        "first load of the fleet page: {total} bytes ({:.1} KiB)",
        total as f64 / 1024.0
    );
}

/// Copies the real agent's heartbeat and facts under `n` more hostnames.
async fn register_copies(bench: &Bench, n: usize) {
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", bench.nats_port))
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    let names = Names::new(&bench.config.controller.nats.namespace);
    let nats = &bench.config.nats;
    let registry = js
        .get_key_value(names.infra(&nats.registry.bucket))
        .await
        .expect("registry bucket");
    let facts = js
        .get_key_value(names.infra(&nats.facts.bucket))
        .await
        .expect("facts bucket");
    let heartbeat = registry
        .get(osapi::wire::keys::agent("bench"))
        .await
        .expect("get")
        .expect("the bench agent's heartbeat");
    let mut heartbeat: serde_json::Value = serde_json::from_slice(&heartbeat).expect("json");
    let fact = facts
        .get(osapi::wire::keys::facts("bench"))
        .await
        .expect("get")
        .unwrap_or_default();
    for i in 1..=n {
        let host = format!("node-{i:04}");
        heartbeat["hostname"] = host.clone().into();
        heartbeat["labels"] = serde_json::json!({ "rack": format!("r{}", i % 20) });
        let body = serde_json::to_vec(&heartbeat).expect("json");
        registry
            .put(osapi::wire::keys::agent(&host), body.into())
            .await
            .expect("put heartbeat");
        if !fact.is_empty() {
            facts
                .put(osapi::wire::keys::facts(&host), fact.clone())
                .await
                .expect("put facts");
        }
    }
}

/// The session cookie of an admin token.
async fn sign_in(bench: &Bench) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .post(format!("{}/ui/login", bench.base))
        .form(&[("token", bench.token.as_str())])
        .send()
        .await
        .expect("sign in");
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie");
    cookie.split(';').next().expect("pair").to_owned()
}
