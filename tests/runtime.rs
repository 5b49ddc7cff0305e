//! Issue 18 through the real stack (nats-server, controller, in-process agents, HTTP):
//! fact keys, file undeploy and stale deploys, processes, the journal, and the Netplan
//! interface, route and DNS drop-ins. One stack serves every check. Each agent's system
//! root is a temp dir and its tools a recording runner fed recorded output; only harmless
//! reads (the process table) touch the host, and the only signal goes to a child this
//! test started.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use osapi::auth::Permission;
use osapi::provider::log::LinuxLogs;
use osapi::provider::netplan::LinuxNetplan;
use osapi::provider::runner::{RecordingRunner, ToolOutput};
use serde_json::{json, Value};

/// Two journal entries as `journalctl --output=json --reverse` prints them (newest
/// first), then a line cut short by the output cap.
const JOURNAL: &str = concat!(
    r#"{"__REALTIME_TIMESTAMP":"1700000002000000","PRIORITY":"2","SYSLOG_IDENTIFIER":"kernel","MESSAGE":"Out of memory","_HOSTNAME":"rt-a"}"#,
    "\n",
    r#"{"__REALTIME_TIMESTAMP":"1700000000123456","PRIORITY":"3","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"error: maximum authentication attempts exceeded","_PID":"812","_HOSTNAME":"rt-a"}"#,
    "\n",
    r#"{"__REALTIME_TIMESTAMP":"17"#,
);

/// An agent's temp system root (with a journal file) and its recording runner.
struct Host {
    root: tempfile::TempDir,
    runner: Arc<RecordingRunner>,
}

impl Host {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("root");
        let journal = root.path().join("var/log/journal/0123abcd");
        std::fs::create_dir_all(&journal).expect("journal dir");
        std::fs::write(journal.join("system.journal"), "").expect("journal");
        let runner = RecordingRunner::new();
        runner.answer(
            "journalctl",
            ToolOutput {
                stdout: JOURNAL.into(),
                ..Default::default()
            },
        );
        Self { root, runner }
    }

    fn providers(&self, dns: &Path) -> osapi::provider::Providers {
        let mut p = linux_providers(dns);
        p.logs = Arc::new(LinuxLogs {
            root: self.root.path().into(),
            runner: self.runner.clone(),
        });
        p.netplan = Arc::new(LinuxNetplan {
            root: self.root.path().into(),
            runner: self.runner.clone(),
        });
        p
    }

    /// Answers `ip -j <args>` with what this machine's `ip` prints (a harmless read).
    fn record_ip(&self, args: &[&str]) -> String {
        let mut argv = vec!["ip", "-j"];
        argv.extend(args);
        let out = std::process::Command::new("ip")
            .args(&argv[1..])
            .output()
            .expect("ip (iproute2) is required");
        let stdout = stdout_of_success(&argv, &out);
        self.runner.answer_argv(
            &argv,
            ToolOutput {
                stdout: stdout.clone(),
                ..Default::default()
            },
        );
        stdout
    }

    /// The argument vectors run so far, each joined by spaces; then forgets them.
    fn take_calls(&self) -> Vec<String> {
        let calls = self.runner.calls().iter().map(|c| c.join(" ")).collect();
        self.runner.clear();
        calls
    }
}

async fn send(stack: &Stack, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let (code, body) = stack.send(m, path, token, body).await;
    println!("{method} {path}: {code} {body}");
    (code, body)
}

/// GET with the admin token, printed.
async fn get(stack: &Stack, path: &str, token: &str) -> (u16, Value) {
    let (code, body) = stack.get(path, Some(token)).await;
    let text = body.to_string();
    println!("GET {path}: {code} {}", &text[..text.len().min(600)]);
    (code, body)
}

/// A 400 whose body names `field`.
fn assert_bad(field: &str, (code, body): (u16, Value)) {
    assert_eq!(code, 400, "{body}");
    let text = body.to_string();
    assert!(text.contains(field), "400 does not name {field}: {body}");
}

/// Resident memory of `pid` from /proc, bytes.
fn rss_of(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("rss pages");
    // SAFETY-free: the page size from the kernel's own auxiliary value.
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    pages * page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runtime_and_network_configuration_end_to_end() {
    let started = Instant::now();
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let a = Host::new();
    stack.add_agent("rt-a", &[("group", "rt")], a.providers(dns.path()));
    // rt-b reads the journal of this machine (a harmless read).
    stack.add_agent("rt-b", &[("group", "rt")], linux_providers(dns.path()));
    stack.wait_agents(&["rt-a", "rt-b"]).await;
    let admin = token(&["admin"], &[]);

    let host_netplan = snapshot(Path::new("/etc/netplan"));
    let host_addresses = a.record_ip(&["addr", "show"]);
    fact_keys(&stack, &admin).await;
    file_undeploy_and_stale(&stack, &admin).await;
    processes(&stack, &admin).await;
    journal(&stack, &admin, &a).await;
    interfaces(&stack, &admin, &a).await;
    routes_and_dns(&stack, &admin, &a).await;

    cli(&stack, &a).await;

    // The host's network and /etc/netplan are as they were.
    assert_eq!(snapshot(Path::new("/etc/netplan")), host_netplan);
    assert_eq!(a.record_ip(&["addr", "show"]), host_addresses);

    stack.shutdown().await;
    println!("wall: {:?}", started.elapsed());
}

async fn fact_keys(stack: &Stack, admin: &str) {
    let (code, body) = get(stack, "/api/facts/keys", admin).await;
    assert_eq!(code, 200);
    let keys: Vec<&str> = body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            assert_eq!(k["builtin"], true, "{k}");
            assert!(
                k["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{k}"
            );
            k["key"].as_str().expect("key")
        })
        .collect();
    assert_eq!(
        keys,
        [
            "interface.primary",
            "hostname",
            "arch",
            "kernel",
            "fqdn",
            "containerized"
        ]
    );
    let reader = token(&["read"], &[Permission::AgentRead]);
    assert_eq!(stack.get("/facts/keys", Some(&reader)).await.0, 200);
    let other = token(&["admin"], &[Permission::FileRead]);
    assert_eq!(stack.get("/api/facts/keys", Some(&other)).await.0, 403);
    assert_eq!(stack.get("/api/facts/keys", None).await.0, 401);
}

async fn file_undeploy_and_stale(stack: &Stack, admin: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("app.conf");
    let path_text = path.display().to_string();
    let (code, body) = stack
        .upload(admin, "rt-app.conf", "raw", b"port=80\n", false)
        .await;
    assert_eq!(code, 201, "{body}");
    let deployed_sha = body["sha256"].as_str().expect("sha").to_owned();
    let deploy = json!({"object_name": "rt-app.conf", "path": path_text});
    let (code, body) = stack
        .post("/api/node/rt-a/file/deploy", admin, deploy)
        .await;
    assert_eq!((code, &body["changed"]), (202, &json!(true)), "{body}");

    // The object changes: the deploy is stale, in the latest original's shape.
    let (code, _) = stack
        .upload(admin, "rt-app.conf", "raw", b"port=81\n", true)
        .await;
    assert_eq!(code, 201);
    let stale_entry = |body: &Value| {
        body["stale"]
            .as_array()
            .expect("stale")
            .iter()
            .find(|s| s["path"] == path_text.as_str())
            .cloned()
    };
    let (code, stale) = get(stack, "/api/file/stale", admin).await;
    assert_eq!(code, 200);
    let entry = stale_entry(&stale).expect("stale entry");
    assert_eq!(
        (
            &entry["object_name"],
            &entry["hostname"],
            &entry["provider"],
            &entry["deployed_sha"]
        ),
        (
            &json!("rt-app.conf"),
            &json!("rt-a"),
            &json!("file"),
            &json!(deployed_sha)
        )
    );
    assert_eq!(entry["current_sha"].as_str().map(str::len), Some(64));
    assert!(entry["deployed_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        stale["total"],
        stale["stale"].as_array().map(Vec::len).unwrap_or(0)
    );

    // Undeploy: removed (202, changed), then nothing to do; the stale entry is gone.
    let undeploy = json!({"path": path_text});
    let (code, body) = send(
        stack,
        "POST",
        "/api/node/rt-a/file/undeploy",
        admin,
        undeploy.clone(),
    )
    .await;
    assert_eq!((code, &body["results"][0]["changed"]), (202, &json!(true)));
    assert_eq!(body["results"][0]["status"], "ok");
    assert!(!path.exists(), "undeploy left the file");
    let (code, body) = send(
        stack,
        "POST",
        "/api/node/rt-a/file/undeploy",
        admin,
        undeploy,
    )
    .await;
    assert_eq!((code, &body["results"][0]["changed"]), (202, &json!(false)));
    let (_, stale) = get(stack, "/api/file/stale", admin).await;
    assert!(
        stale_entry(&stale).is_none(),
        "undeployed file still stale: {stale}"
    );

    // A file osapi never deployed is not removed; bad paths are refused before any job.
    let foreign = dir.path().join("foreign.conf");
    std::fs::write(&foreign, "keep").expect("foreign");
    let body = json!({"path": foreign.display().to_string()});
    assert_bad(
        "path",
        send(stack, "POST", "/api/node/rt-a/file/undeploy", admin, body).await,
    );
    assert!(
        foreign.exists(),
        "undeploy removed a file osapi did not deploy"
    );
    for bad in ["relative/x", "/etc/../x", ""] {
        let body = json!({"path": bad});
        assert_bad(
            "path",
            send(stack, "POST", "/api/node/rt-a/file/undeploy", admin, body).await,
        );
    }
}

async fn processes(stack: &Stack, admin: &str) {
    let me = std::process::id();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("child");
    let kid = child.id();
    // Until the child has exec'd and loaded, its name and memory still change.
    for _ in 0..100 {
        let comm = std::fs::read_to_string(format!("/proc/{kid}/comm")).unwrap_or_default();
        if comm.trim() == "sleep" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (code, body) = get(stack, "/api/node/rt-a/process", admin).await;
    assert_eq!(code, 200);
    let item = &body["results"][0];
    assert_eq!(item["status"], "ok", "{item}");
    let procs = item["processes"].as_array().expect("processes");
    let find = |pid: u32| procs.iter().find(|p| p["pid"] == pid).cloned();
    let mine = find(me).expect("the test's own process is listed");
    let child_info = find(kid).expect("the child is listed");
    assert_eq!(child_info["name"], "sleep");
    assert_eq!(child_info["command"], "sleep 60");
    for field in ["user", "state", "start_time", "cpu_percent", "mem_percent"] {
        assert!(!mine[field].is_null(), "{field} missing: {mine}");
    }
    // RSS within tolerance of what /proc says now (this process allocates meanwhile).
    let listed = mine["mem_rss"].as_u64().expect("rss");
    let now = rss_of(me);
    assert!(
        listed.abs_diff(now) <= now / 5,
        "rss {listed} vs /proc {now}"
    );
    let kid_rss = child_info["mem_rss"].as_u64().expect("child rss");
    let kid_now = rss_of(kid);
    assert!(
        kid_rss.abs_diff(kid_now) <= (kid_now / 4).max(256 << 10),
        "child rss {kid_rss} vs /proc {kid_now}"
    );

    let (code, body) = get(stack, &format!("/api/node/rt-a/process/{kid}"), admin).await;
    assert_eq!(code, 200);
    assert_eq!(body["results"][0]["process"]["pid"], kid);

    // Bad input: 400 naming the field, before any job.
    for (pid, signal, field) in [
        ("1", "TERM", "pid"),
        ("-3", "TERM", "pid"),
        ("abc", "TERM", "pid"),
        (&kid.to_string()[..], "STOP", "signal"),
    ] {
        let path = format!("/api/node/rt-a/process/{pid}/signal");
        assert_bad(
            field,
            send(stack, "POST", &path, admin, json!({"signal": signal})).await,
        );
    }
    assert_bad("pid", get(stack, "/api/node/rt-a/process/-3", admin).await);
    // The agent refuses its own pid (this test process runs the agent).
    let path = format!("/api/node/rt-a/process/{me}/signal");
    assert_bad(
        "pid",
        send(stack, "POST", &path, admin, json!({"signal": "KILL"})).await,
    );

    // The child is signalled (200, changed) and dies of it; then it is not found.
    let path = format!("/api/node/rt-a/process/{kid}/signal");
    let (code, body) = send(stack, "POST", &path, admin, json!({"signal": "TERM"})).await;
    assert_eq!(code, 200);
    let item = &body["results"][0];
    assert_eq!(
        (&item["pid"], &item["signal"], &item["changed"]),
        (&json!(kid), &json!("TERM"), &json!(true))
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().expect("wait").signal(), Some(15));
    let (code, body) = send(stack, "POST", &path, admin, json!({"signal": "TERM"})).await;
    assert_eq!(code, 502, "{body}");
    assert!(body.to_string().contains("not found"), "{body}");
    // process:execute is its own permission.
    let reader = token(&["write"], &[]);
    let (code, _) = send(stack, "POST", &path, &reader, json!({"signal": "TERM"})).await;
    assert_eq!(code, 403);
}

/// Whether this machine has journal files (then rt-b reads them; else it says why not).
fn host_has_journal() -> bool {
    ["/var/log/journal", "/run/log/journal"].iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                std::fs::read_dir(e.path()).is_ok_and(|files| {
                    files
                        .flatten()
                        .any(|f| f.path().extension().is_some_and(|x| x == "journal"))
                })
            })
        })
    })
}

async fn journal(stack: &Stack, admin: &str, a: &Host) {
    a.take_calls();
    let (code, body) = get(stack, "/api/node/rt-a/log?lines=5&priority=err", admin).await;
    assert_eq!(code, 200);
    let entries = body["results"][0]["entries"]
        .as_array()
        .expect("entries")
        .clone();
    assert_eq!(entries.len(), 2, "the cut line is dropped");
    assert_eq!(
        entries[0],
        json!({"timestamp": "2023-11-14T22:13:20.123456Z", "unit": "sshd", "priority": "err",
               "message": "error: maximum authentication attempts exceeded", "pid": 812,
               "hostname": "rt-a"})
    );
    assert_eq!(entries[1]["priority"], "crit");
    assert_eq!(
        a.take_calls(),
        ["journalctl --output=json --output-fields=MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_PID,_HOSTNAME --reverse --no-pager --lines=5 --priority=err"]
    );
    let (code, _) = get(
        stack,
        "/api/node/rt-a/log/unit/ssh.service?since=1%20hour%20ago",
        admin,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        a.take_calls(),
        ["journalctl --output=json --output-fields=MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_PID,_HOSTNAME --reverse --no-pager --lines=100 --since=1 hour ago --unit=ssh.service"]
    );
    a.runner.answer(
        "journalctl",
        ToolOutput {
            stdout: "sshd\nkernel\nsshd\n".into(),
            ..Default::default()
        },
    );
    let (code, body) = get(stack, "/api/node/rt-a/log/source", admin).await;
    assert_eq!(code, 200);
    assert_eq!(body["results"][0]["sources"], json!(["kernel", "sshd"]));

    // Per host: rt-b reads this machine's journal, or says there is none.
    let (code, body) = get(stack, "/api/node/group:rt/log/source", admin).await;
    assert_eq!(code, 200);
    let b = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["hostname"] == "rt-b")
        .cloned()
        .expect("rt-b");
    let reason = b["error"].as_str().unwrap_or_default();
    if osapi::provider::system::SystemRoot::default().in_container() {
        assert_eq!(b["status"], "skipped", "{b}");
        assert!(reason.contains("container"), "{b}");
    } else if !host_has_journal() {
        assert_eq!(b["status"], "skipped", "{b}");
        assert!(reason.contains("no systemd journal"), "{b}");
    } else {
        assert_eq!(b["status"], "ok", "{b}");
    }

    // The query parameters are documented.
    let (_, doc) = get(stack, "/api/openapi.json", admin).await;
    let params = &doc["paths"]["/api/node/{hostname}/log/unit/{name}"]["get"]["parameters"];
    let mut names: Vec<&str> = params
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| (p["in"] == "query").then(|| p["name"].as_str()).flatten())
        .collect();
    names.sort();
    assert_eq!(names, ["async", "lines", "priority", "since"]);

    // Bad input: 400 naming the field.
    a.take_calls();
    for (path, field) in [
        ("/api/node/rt-a/log?lines=0", "lines"),
        ("/api/node/rt-a/log?lines=many", "lines"),
        ("/api/node/rt-a/log?priority=loud", "priority"),
        ("/api/node/rt-a/log/unit/-x", "name"),
        ("/api/node/rt-a/log/unit/a%2Fb?lines=5", "name"),
    ] {
        assert_bad(field, get(stack, path, admin).await);
    }
    assert!(
        a.take_calls().is_empty(),
        "a refused request ran journalctl"
    );
}

/// Every file under `dir` with its content (empty when `dir` does not exist).
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| (e.path(), std::fs::read(e.path()).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The drop-in `name` under the agent's root, parsed back from YAML.
fn drop_in(a: &Host, name: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(a.root.path().join("etc/netplan").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml::from_str(&text).expect("the drop-in parses as YAML")
}

/// Sends a change; its status, `changed`, and the commands it ran.
async fn change(
    stack: &Stack,
    a: &Host,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value, Vec<String>) {
    a.take_calls();
    let (code, body) = send(stack, method, path, token, body).await;
    (code, body["results"][0]["changed"].clone(), a.take_calls())
}

async fn interfaces(stack: &Stack, admin: &str, a: &Host) {
    a.record_ip(&["route", "show"]);
    a.record_ip(&["-6", "route", "show"]);
    let (code, body) = get(stack, "/api/node/rt-a/network/interface", admin).await;
    assert_eq!(code, 200);
    let listed: Vec<String> = body["results"][0]["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_owned())
        .collect();
    let mut sys: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("sysfs")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "lo")
        .collect();
    sys.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, sys, "the host's interfaces");
    if let Some(first) = listed.first() {
        let (code, body) = get(
            stack,
            &format!("/api/node/rt-a/network/interface/{first}"),
            admin,
        )
        .await;
        assert_eq!(code, 200);
        let mtu = std::fs::read_to_string(format!("/sys/class/net/{first}/mtu")).expect("mtu");
        assert_eq!(
            body["results"][0]["interface"]["mtu"],
            json!(mtu.trim().parse::<u64>().ok())
        );
    }
    let (code, _) = get(stack, "/api/node/rt-a/network/interface/nosuch0", admin).await;
    assert_eq!(code, 502);

    // Create: written (0600), generated, applied once; the same again does nothing.
    let generate = format!("netplan generate --root-dir {}/", a.root.path().display());
    let apply = "netplan apply".to_owned();
    let path = "/api/node/rt-a/network/interface/eth0";
    let config = json!({"dhcp4": false, "addresses": ["192.0.2.10/24"], "gateway4": "192.0.2.1", "mtu": 1400});
    let (code, changed, ran) = change(stack, a, "POST", path, admin, config.clone()).await;
    assert_eq!((code, changed), (200, json!(true)));
    assert_eq!(ran, [generate.clone(), apply.clone()]);
    let doc = drop_in(a, "osapi-eth0.yaml");
    let dev = &doc["network"]["ethernets"]["eth0"];
    assert_eq!(doc["network"]["version"], 2);
    assert_eq!(
        (
            dev["addresses"][0].as_str(),
            dev["gateway4"].as_str(),
            dev["mtu"].as_u64()
        ),
        (Some("192.0.2.10/24"), Some("192.0.2.1"), Some(1400))
    );
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(a.root.path().join("etc/netplan/osapi-eth0.yaml")).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (code, changed, ran) = change(stack, a, "POST", path, admin, config).await;
    assert_eq!((code, changed, ran.len()), (200, json!(false), 0));

    // Update: applied once, then unchanged; an interface osapi does not manage fails.
    let update = json!({"dhcp4": true, "mtu": 9000});
    let (code, changed, ran) = change(stack, a, "PUT", path, admin, update.clone()).await;
    assert_eq!((code, changed), (200, json!(true)));
    assert_eq!(ran, [generate.clone(), apply.clone()]);
    assert_eq!(
        drop_in(a, "osapi-eth0.yaml")["network"]["ethernets"]["eth0"]["mtu"],
        9000
    );
    let (_, changed, ran) = change(stack, a, "PUT", path, admin, update.clone()).await;
    assert_eq!((changed, ran.len()), (json!(false), 0));
    let (code, _, ran) = change(
        stack,
        a,
        "PUT",
        "/api/node/rt-a/network/interface/eth9",
        admin,
        update,
    )
    .await;
    assert_eq!((code, ran.len()), (502, 0));

    // Bad input: 400 naming the field, nothing run.
    for (body, field) in [
        (json!({"mtu": 67}), "mtu"),
        (json!({"mtu": 9001}), "mtu"),
        (json!({"addresses": ["192.0.2.10"]}), "addresses[0]"),
        (json!({"gateway4": "fd00::1"}), "gateway4"),
        (json!({"mac_address": "zz:00"}), "mac_address"),
        (json!({}), "body"),
        (json!({"mtu": "big"}), "mtu"),
    ] {
        let (code, body, ran) = {
            a.take_calls();
            let (c, b) = send(stack, "POST", path, admin, body).await;
            (c, b, a.take_calls())
        };
        assert_bad(field, (code, body));
        assert!(ran.is_empty());
    }
    let slash = "/api/node/rt-a/network/interface/eth0%2F..%2F..%2Fx";
    assert_bad(
        "name",
        send(stack, "POST", slash, admin, json!({"mtu": 1500})).await,
    );
    assert_bad("name", get(stack, slash, admin).await);

    // Delete: removed and applied once; then nothing to do.
    let (code, changed, ran) = change(stack, a, "DELETE", path, admin, json!(null)).await;
    assert_eq!(
        (code, changed, ran),
        (200, json!(true), vec![apply.clone()])
    );
    assert!(!a.root.path().join("etc/netplan/osapi-eth0.yaml").exists());
    let (_, changed, ran) = change(stack, a, "DELETE", path, admin, json!(null)).await;
    assert_eq!((changed, ran.len()), (json!(false), 0));
}

async fn routes_and_dns(stack: &Stack, admin: &str, a: &Host) {
    let host_routes: Value = serde_json::from_str(&a.record_ip(&["route", "show"])).expect("json");
    a.record_ip(&["-6", "route", "show"]);
    let (code, body) = get(stack, "/api/node/rt-a/network/route", admin).await;
    assert_eq!(code, 200);
    let live = body["results"][0]["routes"]
        .as_array()
        .expect("routes")
        .clone();
    for r in host_routes.as_array().expect("rows") {
        let listed = live
            .iter()
            .any(|l| l["destination"] == r["dst"] && l["interface"] == r["dev"]);
        assert_eq!(listed, r["scope"] != "host" && r["type"].is_null(), "{r}");
    }

    let generate = format!("netplan generate --root-dir {}/", a.root.path().display());
    let apply = "netplan apply".to_owned();
    let path = "/api/node/rt-a/network/route/eth0";
    let routes = json!({"routes": [{"to": "10.0.0.0/8", "via": "192.0.2.1", "metric": 100},
                                   {"to": "2001:db8::/32", "via": "fd00::1"}]});
    let (code, changed, ran) = change(stack, a, "POST", path, admin, routes.clone()).await;
    assert_eq!(
        (code, changed, ran),
        (200, json!(true), vec![generate.clone(), apply.clone()])
    );
    let doc = drop_in(a, "osapi-eth0-routes.yaml");
    let written = &doc["network"]["ethernets"]["eth0"]["routes"];
    assert_eq!(
        (
            written[0]["to"].as_str(),
            written[0]["metric"].as_u64(),
            written[1]["via"].as_str()
        ),
        (Some("10.0.0.0/8"), Some(100), Some("fd00::1"))
    );
    let (_, changed, ran) = change(stack, a, "POST", path, admin, routes).await;
    assert_eq!((changed, ran.len()), (json!(false), 0));
    let (code, body) = get(stack, path, admin).await;
    assert_eq!(code, 200);
    assert_eq!(
        body["results"][0]["routes"][0],
        json!({"destination": "10.0.0.0/8", "gateway": "192.0.2.1", "interface": "eth0", "metric": 100})
    );
    let fewer = json!({"routes": [{"to": "10.0.0.0/8", "via": "192.0.2.1"}]});
    let (_, changed, ran) = change(stack, a, "PUT", path, admin, fewer.clone()).await;
    assert_eq!((changed, ran), (json!(true), vec![generate, apply.clone()]));
    let (_, changed, ran) = change(stack, a, "PUT", path, admin, fewer).await;
    assert_eq!((changed, ran.len()), (json!(false), 0));
    for (body, field) in [
        (json!({"routes": []}), "routes"),
        (
            json!({"routes": [{"to": "0.0.0.0/0", "via": "192.0.2.1"}]}),
            "routes[0].to",
        ),
        (
            json!({"routes": [{"to": "10.0.0.0/33", "via": "192.0.2.1"}]}),
            "routes[0].to",
        ),
        (
            json!({"routes": [{"to": "10.0.0.0/8", "via": "fd00::1"}]}),
            "routes[0].via",
        ),
        (
            json!({"routes": [{"to": "10.0.0.0/8", "via": "192.0.2.1", "metric": -1}]}),
            "metric",
        ),
    ] {
        assert_bad(field, send(stack, "PUT", path, admin, body).await);
    }
    let (code, changed, ran) = change(stack, a, "DELETE", path, admin, json!(null)).await;
    assert_eq!(
        (code, changed, ran),
        (200, json!(true), vec![apply.clone()])
    );
    let (code, _) = get(stack, path, admin).await;
    assert_eq!(code, 502, "no managed routes left");
    let (_, changed, ran) = change(stack, a, "DELETE", path, admin, json!(null)).await;
    assert_eq!((changed, ran.len()), (json!(false), 0));

    // DNS on a Netplan host: PUT writes the managed drop-in (override_dhcp as the
    // original), DELETE removes it; each applied once, never when unchanged.
    let dns = "/api/node/rt-a/network/dns";
    let dns_file = a.root.path().join("etc/netplan/osapi-dns.yaml");
    let set = json!({"interface_name": "eth0", "servers": ["192.0.2.53"],
                     "search_domains": ["example.test"], "override_dhcp": true});
    let (code, changed, ran) = change(stack, a, "PUT", dns, admin, set.clone()).await;
    assert_eq!((code, changed, ran.len()), (202, json!(true), 2), "{ran:?}");
    let doc = drop_in(a, "osapi-dns.yaml");
    let dev = &doc["network"]["ethernets"]["eth0"];
    assert_eq!(dev["nameservers"]["addresses"][0], "192.0.2.53");
    assert_eq!(dev["nameservers"]["search"][0], "example.test");
    assert_eq!(dev["dhcp4-overrides"]["use-dns"], false);
    let (_, changed, ran) = change(stack, a, "PUT", dns, admin, set).await;
    assert_eq!((changed, ran.len()), (json!(false), 0));
    let body = json!({"interface_name": "eth0"});
    let (code, changed, ran) = change(stack, a, "DELETE", dns, admin, body.clone()).await;
    assert_eq!((code, changed, ran), (200, json!(true), vec![apply]));
    assert!(!dns_file.exists());
    let (_, changed, ran) = change(stack, a, "DELETE", dns, admin, body).await;
    assert_eq!((changed, ran.len()), (json!(false), 0));
    assert_bad(
        "interface_name",
        send(stack, "DELETE", dns, admin, json!({})).await,
    );
    let bad = json!({"interface_name": "eth0/x"});
    assert_bad(
        "interface_name",
        send(stack, "DELETE", dns, admin, bad).await,
    );
}

/// Runs the osapi binary against the stack (an empty config of its own); its stdout,
/// after it succeeded.
async fn osapi(stack: &Stack, args: &[&str]) -> String {
    cli_stdout(env!("CARGO_BIN_EXE_osapi"), stack, args).await
}

/// The CLI's commands for these domains: tables, `-j` bodies, and the changes they send.
async fn cli(stack: &Stack, a: &Host) {
    let me = std::process::id().to_string();
    let table = osapi(
        stack,
        &[
            "client", "node", "process", "get", "--pid", &me, "-T", "rt-a",
        ],
    )
    .await;
    assert!(table.contains("PID") || table.contains("pid"), "{table}");
    assert!(table.contains(&me), "{table}");
    a.runner.answer(
        "journalctl",
        ToolOutput {
            stdout: JOURNAL.into(),
            ..Default::default()
        },
    );
    let body: Value = serde_json::from_str(
        &osapi(
            stack,
            &[
                "-j", "client", "node", "log", "query", "--lines", "7", "-T", "rt-a",
            ],
        )
        .await,
    )
    .expect("json");
    assert_eq!(
        body["results"][0]["entries"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(a.take_calls().iter().any(|c| c.contains("--lines=7")));

    let create = [
        "client",
        "node",
        "network",
        "interface",
        "create",
        "--name",
        "eth2",
        "--address",
        "192.0.2.20/24",
        "--mtu",
        "1500",
        "-T",
        "rt-a",
    ];
    let table = osapi(stack, &create).await;
    assert!(table.contains("eth2") && table.contains("true"), "{table}");
    let dev = &drop_in(a, "osapi-eth2.yaml")["network"]["ethernets"]["eth2"];
    assert_eq!(
        (dev["addresses"][0].as_str(), dev["mtu"].as_u64()),
        (Some("192.0.2.20/24"), Some(1500))
    );
    let route = [
        "-j",
        "client",
        "node",
        "network",
        "route",
        "create",
        "--interface",
        "eth2",
        "--route",
        "10.1.0.0/16:192.0.2.1:5",
        "--route",
        "[2001:db8::/32]:[fd00::1]",
        "-T",
        "rt-a",
    ];
    let body: Value = serde_json::from_str(&osapi(stack, &route).await).expect("json");
    assert_eq!(body["results"][0]["changed"], true);
    let got = osapi(
        stack,
        &[
            "client",
            "node",
            "network",
            "route",
            "get",
            "--interface",
            "eth2",
            "-T",
            "rt-a",
        ],
    )
    .await;
    assert!(
        got.contains("10.1.0.0/16") && got.contains("2001:db8::/32"),
        "{got}"
    );
    for args in [
        &[
            "client",
            "node",
            "network",
            "route",
            "delete",
            "--interface",
            "eth2",
            "-T",
            "rt-a",
        ][..],
        &[
            "client",
            "node",
            "network",
            "interface",
            "delete",
            "--name",
            "eth2",
            "-T",
            "rt-a",
        ][..],
        &[
            "client",
            "node",
            "network",
            "dns",
            "delete",
            "--interface-name",
            "eth2",
            "-T",
            "rt-a",
        ][..],
    ] {
        osapi(stack, args).await;
    }
    assert!(!a.root.path().join("etc/netplan/osapi-eth2.yaml").exists());
    assert!(!a
        .root
        .path()
        .join("etc/netplan/osapi-eth2-routes.yaml")
        .exists());
}
