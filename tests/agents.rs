//! Agents: registry listing with facts, drain and undrain.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::Value;

async fn wait_status(stack: &Stack, host: &str, token: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let (_, body) = stack.get(&format!("/agent/{host}"), Some(token)).await;
        assert_eq!(body["status"], "Ready", "status is always Ready: {body}");
        if body["state"] == want {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("agent {host} never reached state {want}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_are_listed_with_facts_that_match_the_machine() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("real", &[("group", "web.dev")], linux_providers(dns.path()));
    stack.wait_agents(&["real"]).await;
    let t = token(&["read"], &[]);
    let (status, body) = stack.get("/agent", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    let mut agent = body["agents"][0].clone();
    for _ in 0..100 {
        if agent["collected_at"].is_string() && agent["memory"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        agent = stack.get("/agent/real", Some(&t)).await.1;
    }
    assert_eq!(agent["hostname"], "real");
    assert_eq!(agent["status"], "Ready");
    assert_eq!(agent["state"], "Ready");
    assert_eq!(agent["labels"]["group"], "web.dev");
    // Facts are top-level fields with the original's names; no custom facts, no `facts`.
    assert!(agent.get("facts").is_none(), "{agent}");
    let facts = &agent;
    let uname_m = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .expect("uname");
    assert_eq!(
        facts["architecture"],
        String::from_utf8_lossy(&uname_m.stdout).trim()
    );
    let nproc = std::process::Command::new("nproc").output().expect("nproc");
    let cpus: u64 = String::from_utf8_lossy(&nproc.stdout)
        .trim()
        .parse()
        .expect("nproc");
    assert_eq!(facts["cpu_count"].as_u64(), Some(cpus));
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("MemTotal");
    assert_eq!(
        agent["memory"]["total"].as_u64(),
        Some(kib * 1024),
        "{agent}"
    );
    for k in ["free", "used"] {
        assert!(agent["memory"][k].is_u64(), "memory.{k}: {agent}");
    }
    for k in ["1min", "5min", "15min"] {
        assert!(
            agent["load_average"][k].is_number(),
            "load_average.{k}: {agent}"
        );
    }
    let uptime = agent["uptime"].as_str().expect("uptime");
    let parts: Vec<&str> = uptime.split(", ").collect();
    assert_eq!(parts.len(), 3, "{uptime}");
    for (part, unit) in parts.iter().zip(["day", "hour", "minute"]) {
        let (n, u) = part.split_once(' ').expect("count and unit");
        let n: u64 = n.parse().expect("count");
        assert_eq!(
            u,
            if n == 1 {
                unit.to_owned()
            } else {
                format!("{unit}s")
            }
        );
    }
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    if !os_release.is_empty() {
        assert!(agent["os_info"]["distribution"].is_string(), "{agent}");
        assert!(agent["os_info"]["version"].is_string(), "{agent}");
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("kernel");
    assert_eq!(facts["kernel_version"], kernel.trim());
    assert!(
        facts.get("containerized").is_none() || facts["containerized"] == true,
        "false is left out: {agent}"
    );
    for i in facts["interfaces"].as_array().into_iter().flatten() {
        assert!(i["name"].is_string(), "{i}");
        for k in ["ipv4", "ipv6", "mac", "family"] {
            assert!(
                i.get(k).is_none() || i[k].is_string(),
                "{k} is a string: {i}"
            );
        }
    }
    let route_table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    if route_table.lines().count() > 1 {
        let routes = facts["routes"].as_array().expect("routes");
        assert!(
            routes
                .iter()
                .all(|r| r["mask"].as_str().is_some_and(|m| m.starts_with('/'))),
            "{agent}"
        );
    }
    // The listing carries the same shape, and the SDK reads it back.
    let list: osapi::sdk::types::AgentList =
        serde_json::from_value(stack.get("/agent", Some(&t)).await.1).expect("AgentList");
    let typed = &list.agents[0];
    assert_eq!(
        (typed.status.as_str(), typed.state.as_str()),
        ("Ready", "Ready")
    );
    let typed_facts = typed.facts.as_ref().expect("facts decoded");
    assert_eq!(typed_facts.cpu_count as u64, cpus);
    assert_eq!(typed.memory.as_ref().map(|m| m.total), Some(kib * 1024));
    assert_eq!(stack.get("/agent/nobody", Some(&t)).await.0, 404);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drained_agent_finishes_its_work_and_takes_no_new_jobs() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let mut slow = FakeNode::new("a");
    // Long enough that the drained state cannot be reached before it is checked below.
    slow.delay = Duration::from_secs(3);
    let running = slow.running.clone();
    stack.add_agent("a", &[], fake_providers(slow));
    stack.add_agent("b", &[], fake_providers(FakeNode::new("b")));
    stack.wait_agents(&["a", "b"]).await;
    let admin = token(&["admin"], &[]);

    // A job in flight on a when the drain starts.
    let in_flight = stack.spawn_get("/node/a/hostname", &admin);
    wait_running(&running).await;
    let (status, body) = stack.post_empty("/agent/a/drain", &admin).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("Draining")),
        "{body}"
    );
    assert_eq!(stack.post_empty("/agent/a/drain", &admin).await.0, 409);
    let (_, info) = stack.get("/agent/a", Some(&admin)).await;
    assert_eq!(info["state"], "Draining", "{info}");
    assert_eq!(info["status"], "Ready", "{info}");
    assert!(
        info.get("labels").is_none(),
        "empty labels are left out: {info}"
    );
    let (status, body) = in_flight.await.expect("join");
    assert_eq!(status, 200, "in-flight job did not complete: {body}");
    wait_status(&stack, "a", &admin, "Drained").await;

    let mut hosts = BTreeSet::new();
    for _ in 0..50 {
        let (status, body) = stack.get("/node/_any/hostname", Some(&admin)).await;
        assert_eq!(status, 200, "{body}");
        hosts.extend(Stack::hosts(&body));
    }
    assert_eq!(hosts, BTreeSet::from(["b".to_string()]));
    let (status, body) = stack.get("/node/a/hostname", Some(&admin)).await;
    assert_eq!(status, 409, "a drained agent is named, not unknown: {body}");

    let (status, body) = stack.post_empty("/agent/a/undrain", &admin).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("Ready")),
        "{body}"
    );
    let again = stack.post_empty("/agent/a/undrain", &admin).await;
    assert_eq!(again.0, 409, "{}", again.1);
    wait_status(&stack, "a", &admin, "Ready").await;
    stack.wait_agents(&["a"]).await;
    assert_eq!(stack.post_empty("/agent/nobody/drain", &admin).await.0, 404);
    let read = token(&["read"], &[]);
    assert_eq!(stack.post_empty("/agent/b/drain", &read).await.0, 403);
    stack.shutdown().await;
}

/// Agents starting together race to create the shared `_any` consumer, each with its own
/// start time; every one of them must end up consuming, none may exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_starting_together_all_get_the_shared_consumer() {
    use async_nats::jetstream::consumer::{pull, DeliverPolicy};
    use osapi::agent::consumer::ensure_consumer;
    use osapi::nats::resources::Resources;

    let nats = Nats::start();
    let client = nats_client(nats.port).await;
    let cfg = config(nats.port);
    let res = Resources::ensure(&client, &cfg, "")
        .await
        .expect("resources");
    for round in 0..5 {
        let name = format!("race_{round}");
        let tasks: Vec<_> = (0..6u64)
            .map(|i| {
                let (res, name) = (res.clone(), name.clone());
                tokio::spawn(async move {
                    let start_time =
                        time::OffsetDateTime::now_utc() - Duration::from_millis(1000 + i * 7);
                    let config = pull::Config {
                        filter_subject: res.names.subjects().any_filter(),
                        deliver_policy: DeliverPolicy::ByStartTime { start_time },
                        ..Default::default()
                    };
                    ensure_consumer(&res, &name, config).await
                })
            })
            .collect();
        for t in tasks {
            let outcome = t.await.expect("task");
            assert!(outcome.is_ok(), "round {round}: {:?}", outcome.err());
        }
    }
}

/// A controller on its own NATS, plus the buckets it uses (to write registry entries and
/// break things directly).
async fn controller_and_buckets(nats: &Nats) -> (Stack, osapi::nats::resources::Resources) {
    let cfg = config(nats.port);
    let stack = Stack::controller(cfg.clone()).await;
    stack.wait_ready().await;
    let client = nats_client(nats.port).await;
    let res =
        osapi::nats::resources::Resources::ensure(&client, &cfg, &cfg.controller.nats.namespace)
            .await
            .expect("resources");
    (stack, res)
}

/// Writes a registry entry for `host` as an agent's heartbeat would.
async fn register(res: &osapi::nats::resources::Resources, host: &str, labels: &[(&str, &str)]) {
    let now = "2025-01-01T00:00:00Z";
    let entry = serde_json::json!({
        "hostname": host,
        "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
        "registered_at": now,
        "started_at": now,
        "state": "Ready",
        "agent_version": "test",
    });
    res.registry
        .put(
            osapi::registry::AgentRegistration::key(host),
            serde_json::to_vec(&entry).expect("entry").into(),
        )
        .await
        .expect("registry put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drain_is_503_not_409_when_nats_fails() {
    let nats = Nats::start();
    let (stack, res) = controller_and_buckets(&nats).await;
    register(&res, "ghost", &[]).await;
    let admin = token(&["admin"], &[]);
    // Without the state bucket, setting the drain flag fails for a reason that has nothing
    // to do with the agent already draining.
    let state_bucket = osapi::nats::Names::new(&stack.config.controller.nats.namespace)
        .infra(&stack.config.nats.state.bucket);
    res.js
        .delete_key_value(&state_bucket)
        .await
        .expect("delete state bucket");
    let (status, body) = stack.post_empty("/agent/ghost/drain", &admin).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], 503, "{body}");
    let text = body["error"].as_str().expect("error text").to_lowercase();
    for cause in ["stream", "responders", "jetstream", "timed out"] {
        assert!(
            !text.contains(cause),
            "the cause is logged, not sent: {body}"
        );
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_agent_is_read_by_its_own_registry_key() {
    let nats = Nats::start();
    let (stack, res) = controller_and_buckets(&nats).await;
    // Two names whose registry keys differ only by the sanitiser's escapes.
    register(&res, "web.01", &[("group", "web")]).await;
    register(&res, "web_01", &[]).await;
    let t = token(&["read"], &[]);
    let (status, body) = stack.get("/agent/web.01", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hostname"], "web.01");
    assert_eq!(body["status"], "Ready");
    assert_eq!(body["state"], "Ready");
    assert_eq!(body["labels"]["group"], "web");
    let (status, body) = stack.get("/agent/web_01", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hostname"], "web_01");
    assert!(body.get("labels").is_none(), "{body}");
    let (status, body) = stack.get("/agent/web-01", Some(&t)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], 404);
    stack.shutdown().await;
}
