//! Hostname, time zone and power through the real stack. Each agent's system root is a
//! temp dir and its tools a recording runner: the host this runs on is never changed.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use osapi::auth::Permission;
use osapi::provider::host::LinuxHost;
use osapi::provider::ntp::LinuxNtp;
use osapi::provider::runner::RecordingRunner;
use osapi::provider::runner::ToolOutput;
use osapi::provider::sysctl::LinuxSysctl;
use serde_json::{json, Value};

/// An agent's temp system root with a hostname and two zones, and its runner.
struct Host {
    root: tempfile::TempDir,
    runner: Arc<RecordingRunner>,
}

impl Host {
    fn new(container: bool) -> Self {
        let root = tempfile::tempdir().expect("root");
        let etc = root.path().join("etc");
        std::fs::create_dir_all(&etc).expect("etc");
        std::fs::write(etc.join("hostname"), "old-name\n").expect("hostname");
        for zone in ["UTC", "Europe/Berlin"] {
            let to = root.path().join("usr/share/zoneinfo").join(zone);
            std::fs::create_dir_all(to.parent().expect("dir")).expect("zoneinfo");
            std::fs::write(&to, tzif()).expect("zone");
        }
        if container {
            std::fs::write(root.path().join(".dockerenv"), "").expect("marker");
        }
        Self {
            root,
            runner: RecordingRunner::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    fn providers(&self, dns: &Path) -> osapi::provider::Providers {
        let mut p = linux_providers(dns);
        p.host = Arc::new(LinuxHost {
            root: self.root.path().into(),
            runner: self.runner.clone(),
        });
        p.sysctl = Arc::new(LinuxSysctl {
            root: self.root.path().into(),
            runner: self.runner.clone(),
        });
        p.ntp = Arc::new(LinuxNtp {
            root: self.root.path().into(),
            runner: self.runner.clone(),
        });
        p
    }
}

/// A minimal valid TZif (version 1, no transitions): UTC.
fn tzif() -> Vec<u8> {
    let mut b = b"TZif".to_vec();
    b.extend([0u8; 16]);
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    for n in [0u32, 0, 0, 0, 1, 4] {
        b.extend(n.to_be_bytes());
    }
    b.extend(0i32.to_be_bytes()); // utoff
    b.extend([0u8, 0]); // isdst, desigidx
    b.extend(b"UTC\0");
    b
}

async fn send(stack: &Stack, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    stack.send(m, path, token, body).await
}

/// [`send`], then the status and the first item's `changed` (the body is printed so a
/// failure shows it).
async fn first_changed(
    stack: &Stack,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let (code, body) = send(stack, method, path, token, body).await;
    println!("{method} {path}: {code} {body}");
    (code, body["results"][0]["changed"].clone())
}

/// hostname → (status, changed, error) of each item.
fn items(body: &Value) -> Vec<(String, String, Value, Value)> {
    let mut v: Vec<_> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["hostname"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
                r["changed"].clone(),
                r["error"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn argv(calls: &[&[&str]]) -> Vec<Vec<String>> {
    calls
        .iter()
        .map(|c| c.iter().map(|a| (*a).to_owned()).collect())
        .collect()
}

/// `GET path` until `ready` holds of the answer (a heartbeat is written just after the
/// job answers), for at most five seconds; the last answer either way.
async fn get_until(
    stack: &Stack,
    path: &str,
    token: &str,
    ready: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (code, body) = stack.get(path, Some(token)).await;
        if ready(code, &body) || std::time::Instant::now() > deadline {
            return (code, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// After `a` and `b` were both renamed `new-name`: the registry names the new name, a
/// name two hosts share is refused, and a unique new name reaches its agent (node ops and
/// `/agent`), whose identity stays.
async fn renamed_hosts_are_reached_by_their_new_names(stack: &Stack, admin: &str) {
    let renamed = |now: &'static str| {
        move |code: u16, body: &Value| code == 200 && body["current_hostname"] == now
    };
    let (_, body) = get_until(stack, "/api/agent/a", admin, renamed("new-name")).await;
    assert_eq!(body["current_hostname"], "new-name", "{body}");
    let (code, body) = stack.get("/api/node/new-name/hostname", Some(admin)).await;
    assert_eq!(code, 400, "two hosts now share the name: {body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("a, b"),
        "{body}"
    );

    let bee = json!({"hostname": "bee"});
    let (code, changed) = first_changed(stack, "PUT", "/api/node/b/hostname", admin, bee).await;
    assert_eq!((code, changed), (202, json!(true)));
    let (_, body) = get_until(stack, "/api/agent/bee", admin, renamed("bee")).await;
    assert_eq!(
        body["hostname"], "b",
        "the agent keeps its identity: {body}"
    );
    let (_, list) = stack.get("/api/agent", Some(admin)).await;
    let names: Vec<(&Value, &Value)> = list["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| (&a["hostname"], &a["current_hostname"]))
        .collect();
    assert_eq!(
        names,
        [
            (&json!("a"), &json!("new-name")),
            (&json!("b"), &json!("bee")),
            (&json!("c"), &Value::Null)
        ],
        "{list}"
    );
    // (The time zone item is named by its agent; the hostname item by the OS's name.)
    for (name, agent) in [("bee", "b"), ("new-name", "a"), ("b", "b")] {
        let (code, body) = stack
            .get(&format!("/api/node/{name}/timezone"), Some(admin))
            .await;
        assert_eq!(code, 200, "{name}: {body}");
        assert_eq!(body["results"][0]["hostname"], agent, "{name}: {body}");
    }
    let (code, _) = stack.get("/api/node/nobody/hostname", Some(admin)).await;
    assert_eq!(code, 400, "an unknown name is still refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostname_timezone_and_power_change_only_the_temp_roots() {
    let host_hostname = std::fs::read("/etc/hostname").ok();
    let host_localtime = std::fs::read_link("/etc/localtime").ok();
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let (a, b, c) = (Host::new(false), Host::new(false), Host::new(false));
    c.runner.without("hostname");
    for (name, h) in [("a", &a), ("b", &b), ("c", &c)] {
        stack.add_agent(name, &[("group", "web")], h.providers(dns.path()));
    }
    stack.wait_agents(&["a", "b", "c"]).await;
    let admin = token(&["admin"], &[]);

    // Hostname: two hosts change, the one without the tool fails; a rerun changes nothing.
    let rename = json!({"hostname": "new-name"});
    let (code, body) = send(
        &stack,
        "PUT",
        "/api/node/_all/hostname",
        &admin,
        rename.clone(),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let got = items(&body);
    assert_eq!(
        got.iter()
            .map(|i| (i.0.as_str(), i.1.as_str()))
            .collect::<Vec<_>>(),
        [("a", "ok"), ("b", "ok"), ("c", "failed")],
        "{body}"
    );
    assert_eq!(got[0].2, true, "{body}");
    assert!(
        got[2].3.as_str().unwrap_or("").contains("hostname"),
        "{body}"
    );
    for h in [&a, &b] {
        let written = std::fs::read_to_string(h.path("etc/hostname")).expect("hostname");
        assert_eq!(written, "new-name\n");
        assert_eq!(h.runner.calls(), argv(&[&["hostname", "new-name"]]));
    }
    assert_eq!(
        std::fs::read_to_string(c.path("etc/hostname")).expect("hostname"),
        "old-name\n",
        "a host whose tool failed keeps its name"
    );
    let before = std::fs::metadata(a.path("etc/hostname"))
        .and_then(|m| m.modified())
        .ok();
    let (code, body) = send(&stack, "PUT", "/api/node/a/hostname", &admin, rename).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(items(&body)[0].2, false, "{body}");
    assert_eq!(a.runner.calls().len(), 1, "no command on a rerun");
    let after = std::fs::metadata(a.path("etc/hostname"))
        .and_then(|m| m.modified())
        .ok();
    assert_eq!(before, after, "no file written on a rerun");
    renamed_hosts_are_reached_by_their_new_names(&stack, &admin).await;

    // Time zone: the link under the root, idempotent; unknown and malformed zones refused.
    let berlin = json!({"timezone": "Europe/Berlin"});
    let (code, body) = send(
        &stack,
        "PUT",
        "/api/node/b/timezone",
        &admin,
        berlin.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["results"][0]["timezone"], "Europe/Berlin", "{body}");
    assert_eq!(body["results"][0]["changed"], true, "{body}");
    let link = std::fs::read_link(b.path("etc/localtime")).expect("link");
    assert_eq!(link, Path::new("/usr/share/zoneinfo/Europe/Berlin"));
    b.runner.clear();
    let (_, body) = send(&stack, "PUT", "/api/node/b/timezone", &admin, berlin).await;
    assert_eq!(body["results"][0]["changed"], false, "{body}");
    assert!(b.runner.calls().is_empty());
    let (code, body) = send(
        &stack,
        "PUT",
        "/api/node/b/timezone",
        &admin,
        json!({"timezone": "Mars/Base"}),
    )
    .await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["results"][0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("unknown time zone"),
        "{body}"
    );
    let (code, body) = send(
        &stack,
        "PUT",
        "/api/node/b/timezone",
        &admin,
        json!({"timezone": "../../etc/shadow"}),
    )
    .await;
    assert_eq!(
        (code, body["field"].as_str()),
        (400, Some("timezone")),
        "{body}"
    );

    // Power: scheduled through `shutdown`, in whole minutes, answered at once.
    a.runner.clear();
    let later = json!({"delay": 90, "message": "maintenance"});
    let (code, body) = send(&stack, "POST", "/api/node/a/power/reboot", &admin, later).await;
    assert_eq!(code, 200, "{body}");
    let item = &body["results"][0];
    assert_eq!(
        (item["action"].as_str(), item["delay"].as_u64()),
        (Some("reboot"), Some(120)),
        "{body}"
    );
    let (code, body) = send(
        &stack,
        "POST",
        "/api/node/a/power/shutdown",
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["results"][0]["delay"], 60, "{body}");
    assert_eq!(
        a.runner.calls(),
        argv(&[
            &["shutdown", "-r", "+2", "maintenance"],
            &["shutdown", "-h", "+1"]
        ])
    );

    // Bad input names the field; other permissions are refused.
    let (code, body) = send(
        &stack,
        "PUT",
        "/api/node/a/hostname",
        &admin,
        json!({"hostname": "-bad-"}),
    )
    .await;
    assert_eq!(
        (code, body["field"].as_str()),
        (400, Some("hostname")),
        "{body}"
    );
    let (code, body) = send(
        &stack,
        "POST",
        "/api/node/a/power/reboot",
        &admin,
        json!({"delay": 999999999}),
    )
    .await;
    assert_eq!(
        (code, body["field"].as_str()),
        (400, Some("delay")),
        "{body}"
    );
    let writer = token(
        &["read"],
        &[Permission::NodeWrite, Permission::TimezoneRead],
    );
    let (code, _) = send(
        &stack,
        "POST",
        "/api/node/a/power/reboot",
        &writer,
        json!({}),
    )
    .await;
    assert_eq!(code, 403);
    let (code, _) = send(
        &stack,
        "PUT",
        "/api/node/a/timezone",
        &writer,
        json!({"timezone": "UTC"}),
    )
    .await;
    assert_eq!(code, 403);

    assert_eq!(
        std::fs::read("/etc/hostname").ok(),
        host_hostname,
        "host hostname untouched"
    );
    assert_eq!(
        std::fs::read_link("/etc/localtime").ok(),
        host_localtime,
        "host zone untouched"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_skips_host_settings() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let boxed = Host::new(true);
    stack.add_agent("box", &[], boxed.providers(dns.path()));
    stack.wait_agents(&["box"]).await;
    let admin = token(&["admin"], &[]);
    let calls: [(&str, &str, Value); 3] = [
        (
            "PUT",
            "/api/node/box/hostname",
            json!({"hostname": "other"}),
        ),
        ("PUT", "/api/node/box/timezone", json!({"timezone": "UTC"})),
        ("POST", "/api/node/box/power/reboot", json!({})),
    ];
    for (method, path, body) in calls {
        let (code, answer) = send(&stack, method, path, &admin, body).await;
        assert!(code == 200 || code == 202, "{path}: {answer}");
        let item = &answer["results"][0];
        assert_eq!(item["status"], "skipped", "{path}: {answer}");
        assert_eq!(item["changed"], false, "{path}: {answer}");
        assert!(
            item["error"].as_str().unwrap_or("").contains("container"),
            "{answer}"
        );
    }
    assert!(
        boxed.runner.calls().is_empty(),
        "nothing run in a container"
    );
    assert_eq!(
        std::fs::read_to_string(boxed.path("etc/hostname")).expect("hostname"),
        "old-name\n"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sysctl_keys_are_managed_as_drop_ins_and_listed_flat() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let (a, b, c) = (Host::new(false), Host::new(false), Host::new(false));
    // c cannot hold drop-ins: its sysctl.d is a file.
    std::fs::write(c.path("etc/sysctl.d"), "").expect("blocker");
    for (name, h) in [("a", &a), ("b", &b), ("c", &c)] {
        stack.add_agent(name, &[], h.providers(dns.path()));
    }
    stack.wait_agents(&["a", "b", "c"]).await;
    let admin = token(&["admin"], &[]);
    let set = json!({"key": "vm.swappiness", "value": "10"});

    let (code, body) = send(&stack, "POST", "/api/node/_all/sysctl", &admin, set.clone()).await;
    assert_eq!(code, 200, "{body}");
    let got: Vec<(String, String)> = items(&body).into_iter().map(|i| (i.0, i.1)).collect();
    let want = [("a", "ok"), ("b", "ok"), ("c", "failed")].map(|(h, s)| (h.into(), s.into()));
    assert_eq!(got, want, "{body}");
    let conf = a.path("etc/sysctl.d/osapi-vm.swappiness.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).expect("drop-in"),
        "vm.swappiness = 10\n"
    );
    let file = conf.display().to_string();
    assert_eq!(a.runner.calls(), argv(&[&["sysctl", "-p", &file]]));

    // The same again changes nothing and runs nothing.
    a.runner.clear();
    let (_, body) = send(&stack, "POST", "/api/node/a/sysctl", &admin, set).await;
    assert_eq!(body["results"][0]["changed"], false, "{body}");
    assert!(a.runner.calls().is_empty());

    // Flattened listing: one item per key, none for a host without keys.
    let more = json!({"key": "net.core.somaxconn", "value": "1024"});
    send(&stack, "POST", "/api/node/a/sysctl", &admin, more).await;
    let (code, body) = stack.get("/api/node/_all/sysctl", Some(&admin)).await;
    assert_eq!(code, 200, "{body}");
    let mut listed: Vec<(String, String)> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| {
            (
                r["hostname"].as_str().unwrap_or("").to_owned(),
                r["key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    listed.sort();
    let want = [
        ("a", "net.core.somaxconn"),
        ("a", "vm.swappiness"),
        ("b", "vm.swappiness"),
    ]
    .map(|(h, k)| (h.to_owned(), k.to_owned()));
    assert_eq!(listed, want, "{body}");

    let (code, body) = stack
        .get("/api/node/b/sysctl/vm.swappiness", Some(&admin))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["results"][0]["value"], "10", "{body}");
    let update = json!({"value": "20"});
    let swappiness = "/api/node/b/sysctl/vm.swappiness";
    let (code, changed) = first_changed(&stack, "PUT", swappiness, &admin, update).await;
    assert_eq!((code, changed), (200, json!(true)));
    let (code, changed) = first_changed(&stack, "DELETE", swappiness, &admin, json!({})).await;
    assert_eq!((code, changed), (200, json!(true)));
    let (_, changed) = first_changed(&stack, "DELETE", swappiness, &admin, json!({})).await;
    assert_eq!(changed, false);
    assert!(!b.path("etc/sysctl.d/osapi-vm.swappiness.conf").exists());

    // Bad input names the field; reading needs sysctl:read, writing sysctl:write.
    let (code, body) = stack.get("/api/node/a/sysctl/..%2Fetc", Some(&admin)).await;
    assert_eq!((code, body["field"].as_str()), (400, Some("key")), "{body}");
    let two_lines = json!({"key": "vm.swappiness", "value": "1\nkernel.panic = 1"});
    let (code, body) = send(&stack, "POST", "/api/node/a/sysctl", &admin, two_lines).await;
    assert_eq!(
        (code, body["field"].as_str()),
        (400, Some("value")),
        "{body}"
    );
    let reader = token(&["read"], &[Permission::SysctlRead]);
    let (code, _) = stack.get("/api/node/a/sysctl", Some(&reader)).await;
    assert_eq!(code, 200);
    let (code, _) = send(
        &stack,
        "POST",
        "/api/node/a/sysctl",
        &reader,
        json!({"key": "a", "value": "1"}),
    )
    .await;
    assert_eq!(code, 403);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ntp_sources_are_one_chrony_drop_in() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let (a, boxed) = (Host::new(false), Host::new(true));
    stack.add_agent("a", &[], a.providers(dns.path()));
    stack.add_agent("box", &[], boxed.providers(dns.path()));
    stack.wait_agents(&["a", "box"]).await;
    let admin = token(&["admin"], &[]);
    let servers = json!({"servers": ["0.pool.example", "192.0.2.123"]});

    let (code, body) = send(
        &stack,
        "POST",
        "/api/node/_all/ntp",
        &admin,
        servers.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let got: Vec<(String, String)> = items(&body).into_iter().map(|i| (i.0, i.1)).collect();
    let want = [("a", "ok"), ("box", "skipped")].map(|(h, s)| (h.into(), s.into()));
    assert_eq!(got, want, "{body}");
    let sources = a.path("etc/chrony/sources.d/osapi-ntp.sources");
    let text = std::fs::read_to_string(&sources).expect("sources");
    assert_eq!(
        text,
        "server 0.pool.example iburst\nserver 192.0.2.123 iburst\n"
    );
    assert_eq!(a.runner.calls(), argv(&[&["chronyc", "reload", "sources"]]));
    a.runner.clear();
    let (_, body) = send(&stack, "POST", "/api/node/a/ntp", &admin, servers).await;
    assert_eq!(body["results"][0]["changed"], false, "{body}");
    assert!(a.runner.calls().is_empty(), "nothing run on a rerun");

    let tracking = "Reference ID    : C0000263 (0.pool.example)\nStratum         : 2\n\
                    System time     : 0.000100000 seconds fast of NTP time\nLeap status     : Normal\n";
    a.runner.answer(
        "chronyc",
        ToolOutput {
            stdout: tracking.into(),
            ..Default::default()
        },
    );
    let (code, body) = stack.get("/api/node/a/ntp", Some(&admin)).await;
    assert_eq!(code, 200, "{body}");
    let item = &body["results"][0];
    assert_eq!(item["synchronized"], true, "{body}");
    assert_eq!(item["offset"], "+0.000100000s", "{body}");
    assert_eq!(item["current_source"], "0.pool.example", "{body}");

    let (code, body) = send(&stack, "DELETE", "/api/node/a/ntp", &admin, json!({})).await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (200, &json!(true)),
        "{body}"
    );
    assert!(!sources.exists());
    let bad = json!({"servers": ["-x"]});
    let (code, body) = send(&stack, "PUT", "/api/node/a/ntp", &admin, bad).await;
    assert_eq!(
        (code, body["field"].as_str()),
        (400, Some("servers[0]")),
        "{body}"
    );
    let reader = token(&["read"], &[Permission::NtpRead]);
    let (code, _) = send(&stack, "DELETE", "/api/node/a/ntp", &reader, json!({})).await;
    assert_eq!(code, 403);
    stack.shutdown().await;
}
