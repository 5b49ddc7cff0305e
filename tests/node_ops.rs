//! Node, network and command operations through the real stack, checked against the
//! machine's own truth. DNS writes go to a resolv.conf in a temp dir.

mod common;

use std::time::Duration;

use common::*;
use osapi::auth::Permission;
use serde_json::{json, Value};

async fn linux_stack(nats: &Nats, dns_dir: &std::path::Path) -> Stack {
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("local", &[("role", "test")], linux_providers(dns_dir));
    stack.wait_agents(&["local"]).await;
    stack
}

fn meminfo_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("meminfo key")
}

fn first(body: &Value) -> &Value {
    &body["results"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_reads_match_the_machine() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let stack = linux_stack(&nats, dns.path()).await;
    let t = token(&["read"], &[]);

    let (status, body) = stack.get("/node/_any/hostname", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(first(&body)["hostname"], host.trim());

    let (status, body) = stack.get("/node/local/memory", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let mem = &first(&body)["memory"];
    assert_eq!(
        mem["total"].as_u64(),
        Some(meminfo_kib("MemTotal") * 1024),
        "{body}"
    );
    let avail = meminfo_kib("MemAvailable") * 1024;
    let reported = mem["available"].as_u64().expect("available");
    assert!(
        reported.abs_diff(avail) < avail / 10 + (64 << 20),
        "{reported} vs {avail}"
    );
    assert_eq!(first(&body)["changed"], false);

    let (status, body) = stack.get("/node/local/load", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let loadavg = std::fs::read_to_string("/proc/loadavg").expect("loadavg");
    let one: f64 = loadavg
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("load");
    let reported = first(&body)["load_average"]["1min"].as_f64().expect("1min");
    assert!((reported - one).abs() < 1.5, "{reported} vs {one}");

    let (status, body) = stack.get("/node/local/uptime", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let up: f64 = std::fs::read_to_string("/proc/uptime")
        .expect("uptime")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("uptime value");
    let reported = first(&body)["uptime_seconds"].as_f64().expect("seconds");
    assert!((reported - up).abs() < 5.0, "{reported} vs {up}");
    assert!(first(&body)["uptime"].as_str().unwrap_or("").ends_with('s'));

    let (status, body) = stack.get("/node/local/disk", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let disks = first(&body)["disks"].as_array().expect("disks").clone();
    assert!(!disks.is_empty(), "no disks: {body}");
    // The root filesystem is always mounted: a provider that drops mounts shows here.
    assert!(
        disks.iter().any(|d| d["name"] == "/"),
        "no root filesystem in {body}"
    );
    for d in &disks {
        let mount = d["name"].as_str().expect("mount");
        let st = nix::sys::statvfs::statvfs(mount).expect("statvfs");
        let total = st.blocks() as u64 * st.fragment_size() as u64;
        assert_eq!(d["total"].as_u64(), Some(total), "{mount}");
        let free = st.blocks_available() as u64 * st.fragment_size() as u64;
        let reported = d["free"].as_u64().expect("free");
        assert!(
            reported.abs_diff(free) < (256 << 20),
            "{mount}: {reported} vs {free}"
        );
    }

    let (status, body) = stack.get("/node/local/os", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let dist = first(&body)["os_info"]["distribution"]
        .as_str()
        .expect("distribution")
        .to_owned();
    assert!(
        !dist.is_empty() && release.to_lowercase().contains(&dist.to_lowercase()),
        "{dist}"
    );

    let (status, body) = stack.get("/node/_all", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let s = first(&body);
    for key in ["uptime", "load_average", "memory", "disks", "os_info"] {
        assert!(!s[key].is_null(), "status lacks {key}: {body}");
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dns_update_round_trips_in_a_temp_dir_and_reports_changed() {
    let before = std::fs::read("/etc/resolv.conf").ok();
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let stack = linux_stack(&nats, dns.path()).await;
    let admin = token(&["admin"], &[]);
    let put = |body: Value| {
        stack.send(
            reqwest::Method::PUT,
            "/node/local/network/dns",
            &admin,
            body,
        )
    };

    let (status, body) = stack
        .get("/node/local/network/dns/eth0", Some(&admin))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(first(&body)["servers"], json!(["192.0.2.53"]));

    let update = json!({"interface_name": "eth0", "servers": ["192.0.2.1", "2001:db8::1"], "search_domains": ["a.test"]});
    let (status, body) = put(update.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(first(&body)["status"], "ok");
    assert_eq!(first(&body)["changed"], true);
    let (status, body) = put(update).await;
    assert_eq!(
        (status, &first(&body)["changed"]),
        (202, &json!(false)),
        "{body}"
    );

    let (_, body) = stack
        .get("/node/local/network/dns/eth0", Some(&admin))
        .await;
    assert_eq!(first(&body)["servers"], json!(["192.0.2.1", "2001:db8::1"]));
    assert_eq!(first(&body)["search_domains"], json!(["a.test"]));
    let file = std::fs::read_to_string(dns.path().join("resolv.conf")).expect("file");
    assert!(file.contains("nameserver 2001:db8::1"), "{file}");
    stack.shutdown().await;
    assert_eq!(
        std::fs::read("/etc/resolv.conf").ok(),
        before,
        "the machine's resolv.conf changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ping_reaches_loopback_over_v4_and_v6() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let stack = linux_stack(&nats, dns.path()).await;
    let t = token(&["write"], &[]);
    let (status, body) = stack
        .send(
            reqwest::Method::POST,
            "/node/local/network/ping",
            &t,
            json!({"address": "127.0.0.1", "count": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = first(&body);
    assert_eq!(
        (r["packets_sent"].as_u64(), r["packets_received"].as_u64()),
        (Some(2), Some(2)),
        "{body}"
    );
    assert_eq!(r["packet_loss"].as_f64(), Some(0.0));
    assert!(r["avg_rtt"].as_str().unwrap_or("").ends_with("ms"));
    if std::net::UdpSocket::bind("[::1]:0").is_ok() {
        let (status, body) = stack
            .send(
                reqwest::Method::POST,
                "/node/local/network/ping",
                &t,
                json!({"address": "::1", "count": 1}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(first(&body)["packets_received"].as_u64(), Some(1), "{body}");
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_run_verbatim_time_out_cap_output_and_explain_failures() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let stack = linux_stack(&nats, dns.path()).await;
    let t = token(&["admin"], &[]);
    let exec =
        |body: Value| stack.send(reqwest::Method::POST, "/node/local/command/exec", &t, body);
    let shell =
        |body: Value| stack.send(reqwest::Method::POST, "/node/local/command/shell", &t, body);

    let args = ["a b", "c\"d", "e'f", "$HOME", "*"];
    let (status, body) = exec(json!({"command": "printf", "args": ["%s\\n", args[0], args[1], args[2], args[3], args[4]]})).await;
    assert_eq!(status, 202, "{body}");
    let r = first(&body);
    assert_eq!(r["stdout"], format!("{}\n", args.join("\n")), "{body}");
    assert_eq!(
        (r["exit_code"].as_i64(), &r["changed"]),
        (Some(0), &json!(true))
    );

    let (_, body) =
        shell(json!({"command": "echo out; echo err >&2; exit 3", "env": {"X": "1"}})).await;
    let r = first(&body);
    assert_eq!(
        (
            r["stdout"].as_str(),
            r["stderr"].as_str(),
            r["exit_code"].as_i64()
        ),
        (Some("out\n"), Some("err\n"), Some(3))
    );

    let (_, body) = exec(json!({"command": "sh", "args": ["-c", "echo $GREETING @fact.hostname"], "env": {"GREETING": "hi"}})).await;
    assert_eq!(first(&body)["stdout"], "hi local\n", "{body}");

    // A timeout kills the whole process group, grandchildren included.
    let pidfile = dns.path().join("grandchild.pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let (status, body) = shell(json!({"command": script, "timeout": 1})).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        first(&body)["error"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{body}"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ");
    assert!(!alive, "grandchild {pid} survived the timeout");

    // 10 MB of output is capped, not carried whole.
    let (status, body) = shell(json!({"command": "head -c 10000000 /dev/zero | tr '\\0' x"})).await;
    assert_eq!(status, 202, "{body}");
    let r = first(&body);
    let limit = r["output_limit"].as_u64().expect("limit");
    assert_eq!(r["stdout"].as_str().map(str::len), Some(limit as usize));
    assert_eq!(r["stdout_truncated"], true);

    let (status, body) = exec(json!({"command": "no-such-program-xyz"})).await;
    assert_eq!(status, 502, "{body}");
    let err = first(&body)["error"].as_str().unwrap_or("").to_owned();
    assert!(
        err.contains("no-such-program-xyz") && err.contains("not found"),
        "{err}"
    );
    stack.shutdown().await;
}

/// A body that is not JSON is 415, whatever it holds; a job too large for one NATS
/// message is 413 naming the body, and nothing is stored.
async fn not_json_is_415_and_too_large_is_413(stack: &Stack, admin: &str) {
    let post = |content_type: Option<&str>, body: String| {
        let mut req = stack
            .http
            .post(format!("{}/api/node/local/command/exec", stack.base))
            .bearer_auth(admin)
            .body(body);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        async move { status_and_json(req.send().await.expect("request")).await }
    };
    let json = r#"{"command": "true"}"#.to_owned();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let (status, body) = post(content_type, json.clone()).await;
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("application/json"),
            "{body}"
        );
    }
    let (status, body) = post(Some("application/json; charset=utf-8"), json).await;
    assert_eq!(status, 202, "{body}");
    // Between NATS's 1 MiB per message and the 2 MiB body limit.
    let big = serde_json::json!({"command": "echo", "args": ["x".repeat(1_500_000)]});
    let (status, body) = post(Some("application/json"), big.to_string()).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (413, Some("body")),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap_or("").contains("too large"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_bodies_get_400_naming_the_field_and_permissions_403() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let stack = linux_stack(&nats, dns.path()).await;
    let admin = token(&["admin"], &[]);
    use reqwest::Method;
    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (
            Method::POST,
            "/node/local/network/ping",
            json!({}),
            "address",
        ),
        (
            Method::POST,
            "/node/local/network/ping",
            json!({"address": 5}),
            "address",
        ),
        (
            Method::POST,
            "/node/local/network/ping",
            json!({"address": "example.com"}),
            "address",
        ),
        (
            Method::POST,
            "/node/local/network/ping",
            json!({"address": "1.2.3.4", "count": -1}),
            "count",
        ),
        (
            Method::POST,
            "/node/local/network/ping",
            json!({"address": "1.2.3.4", "count": 0}),
            "count",
        ),
        (
            Method::POST,
            "/node/local/network/ping",
            json!({"address": "1.2.3.4", "cnt": 2}),
            "cnt",
        ),
        (
            Method::PUT,
            "/node/local/network/dns",
            json!({"interface_name": "eth0"}),
            "servers",
        ),
        (
            Method::PUT,
            "/node/local/network/dns",
            json!({"interface_name": "eth0", "servers": ["1.2.3"]}),
            "servers[0]",
        ),
        (
            Method::PUT,
            "/node/local/network/dns",
            json!({"interface_name": "eth0", "servers": "1.2.3.4"}),
            "servers",
        ),
        (
            Method::PUT,
            "/node/local/network/dns",
            json!({"interface_name": "e t h", "servers": ["1.2.3.4"]}),
            "interface_name",
        ),
        (
            Method::PUT,
            "/node/local/network/dns",
            json!({"servers": ["1.2.3.4"]}),
            "interface_name",
        ),
        (
            Method::PUT,
            "/node/local/network/dns",
            json!({"interface_name": "eth0", "search_domains": ["bad domain"]}),
            "search_domains[0]",
        ),
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"args": ["x"]}),
            "command",
        ),
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"command": ""}),
            "command",
        ),
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"command": "ls", "timeout": 0}),
            "timeout",
        ),
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"command": "ls", "timeout": 301}),
            "timeout",
        ),
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"command": "ls", "timeout": "5"}),
            "timeout",
        ),
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"command": "ls", "cwd": "relative"}),
            "cwd",
        ),
        (
            Method::POST,
            "/node/local/command/shell",
            json!({"command": "ls", "args": ["x"]}),
            "args",
        ),
        (
            Method::POST,
            "/node/local/command/shell",
            json!({"command": "echo a\u{0}b"}),
            "command",
        ),
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"command": "echo", "args": ["ok", "a\u{0}"]}),
            "args[1]",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = stack.send(method.clone(), path, &admin, body.clone()).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert_eq!(answer["field"], field, "{method} {path} {body}: {answer}");
    }
    not_json_is_415_and_too_large_is_413(&stack, &admin).await;
    let (status, answer) = stack
        .get("/node/local/network/dns/bad%20name", Some(&admin))
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("interfaceName")),
        "{answer}"
    );

    let read = token(&["read"], &[]);
    let ops: [(Method, &str, Value); 4] = [
        (
            Method::POST,
            "/node/local/command/exec",
            json!({"command": "ls"}),
        ),
        (
            Method::POST,
            "/node/local/command/shell",
            json!({"command": "ls"}),
        ),
        (
            Method::PUT,
            "/node/local/network/dns",
            json!({"interface_name": "eth0", "servers": ["1.1.1.1"]}),
        ),
        (
            Method::POST,
            "/node/local/network/ping",
            json!({"address": "127.0.0.1"}),
        ),
    ];
    for (method, path, body) in ops {
        assert_eq!(
            stack.send(method.clone(), path, &read, body).await.0,
            403,
            "{method} {path}"
        );
    }
    let dns_reader = token(&["read"], &[Permission::NetworkRead]);
    assert_eq!(
        stack.get("/node/local/disk", Some(&dns_reader)).await.0,
        403
    );
    assert_eq!(
        stack
            .get("/node/local/network/dns/eth0", Some(&dns_reader))
            .await
            .0,
        200
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broadcast_with_one_failing_host_returns_two_results_and_one_error() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dirs: Vec<tempfile::TempDir> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    stack.add_agent("ok1", &[], linux_providers(dirs[0].path()));
    stack.add_agent("ok2", &[], linux_providers(dirs[1].path()));
    let mut broken = osapi::provider::Providers::linux();
    broken.dns = std::sync::Arc::new(osapi::provider::dns::ResolvConf {
        path: "/nonexistent-osapi-dir/resolv.conf".into(),
    });
    stack.add_agent("broken", &[], broken);
    stack.wait_agents(&["ok1", "ok2", "broken"]).await;
    let t = token(&["read"], &[]);
    let (status, body) = stack.get("/node/_all/network/dns/eth0", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "{body}");
    let errors: Vec<&Value> = results.iter().filter(|r| r["error"].is_string()).collect();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["hostname"], "broken");
    stack.shutdown().await;
}

/// A pinger without the right to open ICMP sockets, as an unprivileged agent outside
/// `net.ipv4.ping_group_range` and without CAP_NET_RAW.
struct DeniedPinger;

impl osapi::provider::ping::Pinger for DeniedPinger {
    fn ping(
        &self,
        _addr: std::net::IpAddr,
        _count: u32,
        _timeout: Duration,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        osapi::provider::ping::PingStats,
                        osapi::provider::ProviderError,
                    >,
                > + Send
                + '_,
        >,
    > {
        Box::pin(async {
            Err(osapi::provider::ProviderError::PermissionDenied(
                "cannot open an ICMP socket".into(),
            ))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_lacking_rights_reports_a_per_host_error() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dirs: Vec<tempfile::TempDir> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    stack.add_agent("privileged", &[], linux_providers(dirs[0].path()));
    let mut denied = linux_providers(dirs[1].path());
    denied.ping = std::sync::Arc::new(DeniedPinger);
    stack.add_agent("unprivileged", &[], denied);
    stack.wait_agents(&["privileged", "unprivileged"]).await;
    let t = token(&["write"], &[]);
    let ping = json!({"address": "127.0.0.1", "count": 1});

    let (status, body) = stack
        .send(
            reqwest::Method::POST,
            "/node/_all/network/ping",
            &t,
            ping.clone(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{body}");
    for r in results {
        match r["hostname"].as_str() {
            Some("privileged") => {
                assert!(r["error"].is_null(), "{body}");
                assert_eq!(r["packets_received"].as_u64(), Some(1), "{body}");
            }
            Some("unprivileged") => {
                let error = r["error"].as_str().unwrap_or_default();
                assert!(error.contains("permission denied"), "{body}");
                assert!(r["packets_received"].is_null(), "{body}");
            }
            other => panic!("unexpected host {other:?} in {body}"),
        }
    }

    // A unicast to the host without the right fails that host, not the request.
    let (status, body) = stack
        .send(
            reqwest::Method::POST,
            "/node/unprivileged/network/ping",
            &t,
            ping,
        )
        .await;
    assert_eq!(status, 502, "{body}");
    let error = first(&body)["error"].as_str().unwrap_or_default();
    assert!(error.contains("permission denied"), "{body}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timezone_matches_the_machine_and_needs_timezone_read() {
    use osapi::provider::node::NodeProvider;
    let nats = Nats::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = linux_stack(&nats, dir.path()).await;
    let expected = osapi::provider::node::LinuxNode
        .timezone()
        .expect("local zone");
    let (status, body) = stack
        .get("/node/_any/timezone", Some(&token(&["read"], &[])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["timezone"],
        expected.name.as_str(),
        "{body}"
    );
    assert_eq!(
        body["results"][0]["utc_offset"],
        expected.utc_offset.as_str()
    );
    let narrow = token(&["admin"], &[Permission::NodeRead]);
    let (status, _) = stack.get("/node/_any/timezone", Some(&narrow)).await;
    assert_eq!(status, 403);
    stack.shutdown().await;
}

/// Every per-host item says how its host fared: `ok`, `failed` (with `error`), or
/// `skipped` where the operation does not apply (DNS in a container is its runtime's).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_item_carries_its_host_status() {
    let nats = Nats::start();
    let dns = tempfile::tempdir().expect("tempdir");
    let mut stack = linux_stack(&nats, dns.path()).await;
    let container = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(container.path().join("etc")).expect("etc");
    std::fs::write(container.path().join(".dockerenv"), "").expect("marker");
    std::fs::write(
        container.path().join("etc/resolv.conf"),
        "nameserver 192.0.2.1\n",
    )
    .expect("resolv.conf");
    let mut providers = linux_providers(dns.path());
    providers.dns = osapi::provider::dns::for_root(&container.path().into());
    stack.add_agent("box", &[("role", "test")], providers);
    stack.wait_agents(&["local", "box"]).await;
    let admin = token(&["admin"], &[]);
    let status_of = |body: &Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                let s = r["status"].as_str().unwrap_or("<none>").to_owned();
                (r["hostname"].as_str().unwrap_or("").to_owned(), s)
            })
            .collect();
        v.sort();
        v
    };

    let (code, body) = stack.get("/api/node/_all/uptime", Some(&admin)).await;
    assert_eq!(code, 200, "{body}");
    let statuses: Vec<String> = status_of(&body).into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, ["ok", "ok"], "{body}");

    let update = json!({"interface_name": "eth0", "servers": ["192.0.2.7"]});
    let put = reqwest::Method::PUT;
    let (code, body) = stack
        .send(
            put.clone(),
            "/api/node/role:test/network/dns",
            &admin,
            update.clone(),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(
        status_of(&body),
        [
            ("box".into(), "skipped".into()),
            ("local".into(), "ok".into())
        ],
        "{body}"
    );
    let skipped = body["results"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["hostname"] == "box"))
        .expect("box item");
    assert!(
        skipped["error"]
            .as_str()
            .unwrap_or("")
            .contains("container"),
        "{skipped}"
    );
    assert_eq!(skipped["changed"], false, "{skipped}");
    let kept = std::fs::read_to_string(container.path().join("etc/resolv.conf")).expect("read");
    assert_eq!(
        kept, "nameserver 192.0.2.1\n",
        "a skipped host is left alone"
    );

    // A unicast skip is an answer, not an error.
    let (code, body) = stack
        .send(put, "/api/node/box/network/dns", &admin, update)
        .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(first(&body)["status"], "skipped", "{body}");
    let job_id = body["job_id"].as_str().expect("job id").to_owned();
    let (code, job) = stack.get(&format!("/api/job/{job_id}"), Some(&admin)).await;
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["status"], "completed", "a skip is not a failure: {job}");

    // A host whose run failed says so, with its error.
    let exec = json!({"command": "/nonexistent/osapi-test-tool"});
    let (code, body) = stack
        .send(
            reqwest::Method::POST,
            "/api/node/_all/command/exec",
            &admin,
            exec,
        )
        .await;
    assert_eq!(code, 202, "{body}");
    for item in body["results"].as_array().expect("results") {
        assert_eq!(item["status"], "failed", "{item}");
        assert!(
            item["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{item}"
        );
    }
    stack.shutdown().await;
}
