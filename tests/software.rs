//! Scheduled scripts (cron), packages and systemd services through the real stack (issue
//! 16). Each agent's system root is a temp dir and its tools a recording runner; only
//! harmless reads (`dpkg-query`) and `systemctl --root=<temp>` run for real, so the host
//! this runs on is never changed.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use osapi::auth::Permission;
use osapi::provider::runner::{RecordingRunner, Runner, SystemRunner, ToolOutput};
use osapi::provider::system::LinuxSystem;
use osapi::provider::ProviderError;
use serde_json::{json, Value};

/// The runner of a test agent: the harmless tools run for real (`dpkg-query` reads this
/// host's package database, `systemctl --root=<temp dir>` edits only that dir), anything
/// else is recorded and never run.
struct Tools {
    recorded: Arc<RecordingRunner>,
    root: PathBuf,
}

impl Tools {
    fn runs_for_real(&self, argv: &[&str]) -> bool {
        let on_temp_root = format!("--root={}", self.root.display());
        match argv {
            ["dpkg-query", ..] => true,
            ["systemctl", root, ..] => *root == on_temp_root && self.root != Path::new("/"),
            _ => false,
        }
    }
}

impl Runner for Tools {
    fn run(&self, argv: &[&str]) -> Result<ToolOutput, ProviderError> {
        if self.runs_for_real(argv) && self.recorded.has(argv[0]) {
            return SystemRunner.run(argv);
        }
        self.recorded.run(argv)
    }

    fn run_with_input(&self, argv: &[&str], input: &[u8]) -> Result<ToolOutput, ProviderError> {
        self.recorded.run_with_input(argv, input)
    }

    fn has(&self, program: &str) -> bool {
        self.recorded.has(program)
    }
}

/// An agent's temp system root and its recording runner.
struct Host {
    root: tempfile::TempDir,
    runner: Arc<RecordingRunner>,
}

impl Host {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("root");
        Self {
            root,
            runner: RecordingRunner::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    fn system(&self) -> LinuxSystem {
        let tools = Tools {
            recorded: self.runner.clone(),
            root: self.root.path().into(),
        };
        LinuxSystem {
            root: self.root.path().into(),
            runner: Arc::new(tools),
        }
    }

    fn providers(&self, dns: &Path) -> osapi::provider::Providers {
        let mut p = linux_providers(dns);
        p.cron = Arc::new(self.system());
        p.packages = Arc::new(self.system());
        p.services = Arc::new(self.system());
        p
    }

    /// The argument vectors recorded (not run) so far, joined.
    fn recorded(&self) -> Vec<String> {
        self.runner
            .calls()
            .into_iter()
            .map(|c| c.join(" "))
            .collect()
    }
}

async fn send(stack: &Stack, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let (code, body) = stack.send(m, path, token, body).await;
    println!("{method} {path}: {code} {body}");
    (code, body)
}

/// hostname → status of each item, sorted.
fn statuses(body: &Value) -> Vec<(String, String)> {
    let mut v: Vec<_> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (s("hostname"), s("status"))
        })
        .collect();
    v.sort();
    v
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
}

/// Content, mode and owner of a file (the owner is the agent's: root in production, this
/// test's user here).
fn file(path: PathBuf) -> (String, u32, u32) {
    let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(&path).expect("text");
    (text, meta.permissions().mode() & 0o7777, meta.uid())
}

fn mtime(path: PathBuf) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cron_packages_and_services_change_only_temp_roots() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let (a, b, c) = (Host::new(), Host::new(), Host::new());
    // c cannot hold osapi's state: the directory is a file.
    std::fs::create_dir_all(c.path("var/lib/osapi")).expect("dir");
    std::fs::write(c.path("var/lib/osapi/cron"), "").expect("blocker");
    for (name, h) in [("a", &a), ("b", &b), ("c", &c)] {
        stack.add_agent(name, &[("group", "web")], h.providers(dns.path()));
    }
    stack.wait_agents(&["a", "b", "c"]).await;
    // systemd runs on a alone (its marker under the root); b and c skip services.
    std::fs::create_dir_all(a.path("run/systemd/system")).expect("systemd marker");
    let admin = token(&["admin"], &[]);

    cron(&stack, &admin, [&a, &b]).await;
    packages(&stack, &admin, [&a, &b]).await;
    services(&stack, &admin, &a).await;
    stack.shutdown().await;
}

/// Cron entries: scheduled and periodic scripts from the object store, idempotent,
/// flattened listings, per-host failures, bad input named.
async fn cron(stack: &Stack, admin: &str, [a, b]: [&Host; 2]) {
    let script = b"#!/bin/sh\necho backup\n";
    let (code, body) = stack.upload(admin, "backup.sh", "raw", script, false).await;
    assert!(code == 200 || code == 201, "{body}");
    let template = b"#!/bin/sh\necho rotate on {{ hostname }} keeping {{ vars.keep }}\n";
    stack
        .upload(admin, "rotate.tmpl", "template", template, false)
        .await;
    let nightly = json!({"name": "backup", "object": "backup.sh", "schedule": "0 2 * * *",
                         "user": "www-data"});
    let (code, body) = send(
        stack,
        "POST",
        "/api/node/_all/schedule/cron",
        admin,
        nightly.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let want = pairs(&[("a", "ok"), ("b", "ok"), ("c", "failed")]);
    assert_eq!(statuses(&body), want, "{body}");
    let item = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["hostname"] == "a")
        .expect("a");
    assert_eq!(
        (&item["name"], &item["changed"]),
        (&json!("backup"), &json!(true))
    );
    for h in [a, b] {
        let table = file(h.path("etc/cron.d/osapi-backup"));
        let line = "0 2 * * * www-data /var/lib/osapi/cron/backup\n";
        assert!(table.0.ends_with(line), "{table:?}");
        assert_eq!(
            table.0.lines().count(),
            2,
            "a comment and the line: {table:?}"
        );
        assert_eq!((table.1, table.2), (0o644, euid()));
        let installed = file(h.path("var/lib/osapi/cron/backup"));
        assert_eq!(
            installed,
            (String::from_utf8_lossy(script).into(), 0o755, euid())
        );
    }
    assert!(a.runner.calls().is_empty(), "cron needs no tool");

    // The same again writes nothing.
    let before = mtime(a.path("etc/cron.d/osapi-backup"));
    let (code, body) = send(stack, "POST", "/api/node/a/schedule/cron", admin, nightly).await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (200, &json!(false)),
        "{body}"
    );
    assert_eq!(before, mtime(a.path("etc/cron.d/osapi-backup")));

    // A periodic template, rendered per host.
    let daily = json!({"name": "rotate", "object": "rotate.tmpl", "interval": "daily",
                       "vars": {"keep": 7}});
    let (code, body) = send(stack, "POST", "/api/node/a/schedule/cron", admin, daily).await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (200, &json!(true)),
        "{body}"
    );
    assert_eq!(
        file(a.path("etc/cron.daily/osapi-rotate")),
        (
            "#!/bin/sh\necho rotate on a keeping 7\n".into(),
            0o755,
            euid()
        )
    );

    // Flattened listing: one item per entry, the failing host as its own item.
    let (code, body) = stack.get("/api/node/_all/schedule/cron", Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    let mut listed: Vec<(String, String, String)> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (s("hostname"), s("name"), s("source"))
        })
        .collect();
    listed.sort();
    let want = [
        ("a", "backup", "cron.d"),
        ("a", "rotate", "daily"),
        ("b", "backup", "cron.d"),
        ("c", "", ""),
    ]
    .map(|(h, n, s)| (h.to_owned(), n.to_owned(), s.to_owned()));
    assert_eq!(listed, want, "{body}");
    let (code, body) = stack
        .get("/api/node/a/schedule/cron/backup", Some(admin))
        .await;
    assert_eq!(code, 200, "{body}");
    let entry = &body["results"][0];
    assert_eq!(
        (
            &entry["object"],
            &entry["schedule"],
            &entry["user"],
            &entry["status"]
        ),
        (
            &json!("backup.sh"),
            &json!("0 2 * * *"),
            &json!("www-data"),
            &json!("ok")
        ),
        "{body}"
    );

    // Update: the schedule changes the line; the same update again changes nothing.
    let later = json!({"schedule": "30 3 * * 1-5"});
    let path = "/api/node/a/schedule/cron/backup";
    for changed in [true, false] {
        let (code, body) = send(stack, "PUT", path, admin, later.clone()).await;
        assert_eq!(
            (code, &body["results"][0]["changed"]),
            (200, &json!(changed)),
            "{body}"
        );
    }
    let table = file(a.path("etc/cron.d/osapi-backup")).0;
    assert!(
        table.ends_with("30 3 * * 1-5 www-data /var/lib/osapi/cron/backup\n"),
        "{table}"
    );

    // Delete removes the files, then finds nothing to do.
    for changed in [true, false] {
        let (code, body) = send(stack, "DELETE", path, admin, json!({})).await;
        assert_eq!(
            (code, &body["results"][0]["changed"]),
            (200, &json!(changed)),
            "{body}"
        );
    }
    for gone in ["etc/cron.d/osapi-backup", "var/lib/osapi/cron/backup"] {
        assert!(!a.path(gone).exists(), "{gone}");
    }
    assert!(b.path("etc/cron.d/osapi-backup").exists(), "b untouched");
    let (code, _) = stack.get(path, Some(admin)).await;
    assert_eq!(code, 502, "not managed any more");

    // Bad input names the field: nothing reaches a host.
    let bad: [(&str, &str, Value, &str); 6] = [
        (
            "POST",
            "/api/node/a/schedule/cron",
            json!({"name": "../x", "object": "backup.sh", "schedule": "0 2 * * *"}),
            "name",
        ),
        (
            "POST",
            "/api/node/a/schedule/cron",
            json!({"name": "x", "object": "backup.sh", "schedule": "0 2 * * *\n* * * * * root sh"}),
            "schedule",
        ),
        (
            "POST",
            "/api/node/a/schedule/cron",
            json!({"name": "x", "object": "backup.sh", "schedule": "0 2 * * *", "interval": "daily"}),
            "schedule",
        ),
        (
            "POST",
            "/api/node/a/schedule/cron",
            json!({"name": "x", "object": "never-uploaded", "interval": "daily"}),
            "object",
        ),
        ("PUT", "/api/node/a/schedule/cron/rotate", json!({}), "body"),
        (
            "PUT",
            "/api/node/a/schedule/cron/rotate",
            json!({"interval": "weekly"}),
            "interval",
        ),
    ];
    for (method, path, body, field) in bad {
        let (code, answer) = send(stack, method, path, admin, body).await;
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let reader = token(&["read"], &[Permission::CronRead]);
    let (code, _) = stack.get("/api/node/a/schedule/cron", Some(&reader)).await;
    assert_eq!(code, 200);
    let (code, _) = send(
        stack,
        "DELETE",
        "/api/node/a/schedule/cron/rotate",
        &reader,
        json!({}),
    )
    .await;
    assert_eq!(code, 403);
}

/// This host's installed packages, as `dpkg-query` itself says: name → version.
fn host_packages() -> std::collections::BTreeMap<String, String> {
    let format = "--showformat=${db:Status-Abbrev}\t${Package}\t${Version}\n";
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", format])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let installed = f.next()?.starts_with("ii");
            let (name, version) = (f.next()?, f.next()?);
            installed.then(|| (name.to_owned(), version.to_owned()))
        })
        .collect()
}

const APT: &str =
    "env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold";

/// Packages: reads from this host's real dpkg database, changes recorded (never run),
/// idempotent where the package is already as asked.
async fn packages(stack: &Stack, admin: &str, [a, b]: [&Host; 2]) {
    if !SystemRunner.has("dpkg-query") {
        assert!(
            std::env::var_os("OSAPI_REQUIRE_TOOLS").is_none(),
            "OSAPI_REQUIRE_TOOLS is set, but dpkg-query is not installed"
        );
        eprintln!("skipped packages: no dpkg-query on this host");
        return;
    }
    let truth = host_packages();
    assert!(truth.contains_key("dpkg"), "a Debian host has dpkg");
    let (code, body) = stack.get("/api/node/a/package", Some(admin)).await;
    assert_eq!(code, 200);
    let listed: std::collections::BTreeMap<String, String> = body["results"][0]["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("name"), s("version"))
        })
        .collect();
    assert_eq!(listed, truth, "the API lists what dpkg-query says");
    let (code, body) = stack.get("/api/node/a/package/dpkg", Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    let dpkg = &body["results"][0]["packages"][0];
    assert_eq!(
        (&dpkg["version"], &dpkg["status"]),
        (&json!(truth["dpkg"]), &json!("installed"))
    );
    assert!(
        dpkg["size"]
            .as_u64()
            .is_some_and(|s| s > 0 && s % 1024 == 0),
        "{body}"
    );
    let (code, body) = stack
        .get("/api/node/a/package/osapi-no-such-package", Some(admin))
        .await;
    assert_eq!(code, 502, "{body}");
    assert!(body["results"][0]["error"]
        .as_str()
        .unwrap_or("")
        .contains("not installed"));

    // An installed package is nothing to install; a missing one is nothing to remove.
    a.runner.clear();
    let installed = json!({"name": "dpkg"});
    let (code, body) = send(stack, "POST", "/api/node/a/package", admin, installed).await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (200, &json!(false)),
        "{body}"
    );
    let gone = "/api/node/a/package/osapi-no-such-package";
    let (code, body) = send(stack, "DELETE", gone, admin, json!({})).await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (200, &json!(false)),
        "{body}"
    );
    assert!(a.recorded().is_empty(), "nothing run: {:?}", a.recorded());

    // The changes themselves: recorded, never run. b has no apt-get: skipped, per host.
    b.runner.without("apt-get");
    let new = json!({"name": "osapi-no-such-package"});
    let (code, body) = send(stack, "POST", "/api/node/_all/package", admin, new).await;
    assert_eq!(code, 200, "{body}");
    let got = statuses(&body);
    assert_eq!(
        &got[..2],
        &pairs(&[("a", "ok"), ("b", "skipped")])[..],
        "{body}"
    );
    let removable = truth.keys().next().expect("a package");
    let path = format!("/api/node/a/package/{removable}");
    let (code, body) = send(stack, "DELETE", &path, admin, json!({})).await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (200, &json!(true)),
        "{body}"
    );
    let (code, body) = send(
        stack,
        "POST",
        "/api/node/a/package/update",
        admin,
        json!({}),
    )
    .await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (200, &json!(true)),
        "{body}"
    );
    assert_eq!(
        a.recorded(),
        [
            format!("{APT} install osapi-no-such-package"),
            format!("{APT} remove {removable}"),
            format!("{APT} update"),
        ]
    );

    a.runner.answer(
        "apt",
        ToolOutput {
            stdout: "Listing...\ncurl/stable 8.0 amd64 [upgradable from: 7.0]\n".into(),
            ..Default::default()
        },
    );
    let (code, body) = stack.get("/api/node/a/package/update", Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["results"][0]["updates"],
        json!([{"name": "curl", "current_version": "7.0", "new_version": "8.0"}])
    );

    for (method, path, body) in [
        (
            "POST",
            "/api/node/a/package",
            json!({"name": "nginx; rm -rf /"}),
        ),
        ("POST", "/api/node/a/package", json!({"name": "-o=APT::x"})),
        ("DELETE", "/api/node/a/package/%24(id)", json!({})),
        ("GET", "/api/node/a/package/a%20b", json!({})),
    ] {
        let (code, answer) = send(stack, method, path, admin, body).await;
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some("name")),
            "{answer}"
        );
    }
    let reader = token(&["read"], &[Permission::PackageRead]);
    let (code, _) = send(
        stack,
        "POST",
        "/api/node/a/package/update",
        &reader,
        json!({}),
    )
    .await;
    assert_eq!(code, 403);
}

/// What `systemctl` answers on a's recorded runner from now on.
fn systemctl_says(h: &Host, stdout: &str) {
    h.runner.answer(
        "systemctl",
        ToolOutput {
            stdout: stdout.into(),
            ..Default::default()
        },
    );
}

/// Sends `method path` and checks the first item's `changed`.
async fn changes(stack: &Stack, admin: &str, method: &str, path: &str, body: Value, want: bool) {
    let (code, answer) = send(stack, method, path, admin, body).await;
    assert_eq!(
        (code, &answer["results"][0]["changed"]),
        (200, &json!(want)),
        "{answer}"
    );
}

/// Services: unit files in the temp root (enable/disable by the real `systemctl --root`),
/// start/stop/restart and reloads recorded, skipped where systemd does not run.
async fn services(stack: &Stack, admin: &str, a: &Host) {
    if !SystemRunner.has("systemctl") {
        assert!(
            std::env::var_os("OSAPI_REQUIRE_TOOLS").is_none(),
            "OSAPI_REQUIRE_TOOLS is set, but systemctl is not installed"
        );
        eprintln!("skipped services: no systemctl on this host");
        return;
    }
    let unit = "[Unit]\nDescription=osapi test\n[Service]\nExecStart=/bin/true\n\
                [Install]\nWantedBy=multi-user.target\n";
    stack
        .upload(admin, "web.unit", "raw", unit.as_bytes(), false)
        .await;
    let create = json!({"name": "web", "object": "web.unit"});
    a.runner.clear();
    let (code, body) = send(
        stack,
        "POST",
        "/api/node/_all/service",
        admin,
        create.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let want = pairs(&[("a", "ok"), ("b", "skipped"), ("c", "skipped")]);
    assert_eq!(statuses(&body), want, "{body}");
    let file_path = "etc/systemd/system/osapi-web.service";
    assert_eq!(file(a.path(file_path)), (unit.to_owned(), 0o644, euid()));
    assert_eq!(a.recorded(), ["systemctl daemon-reload"]);
    a.runner.clear();
    changes(stack, admin, "POST", "/api/node/a/service", create, false).await;
    assert!(a.recorded().is_empty(), "{:?}", a.recorded());

    // Enable and disable edit the temp root for real; twice is once.
    let wants = a.path("etc/systemd/system/multi-user.target.wants/osapi-web.service");
    let enable = "/api/node/a/service/osapi-web/enable";
    changes(stack, admin, "POST", enable, json!({}), true).await;
    assert!(wants.symlink_metadata().is_ok(), "enabled: linked");
    changes(stack, admin, "POST", enable, json!({}), false).await;

    let listing = r#"[{"unit":"osapi-web.service","load":"loaded","active":"inactive",
                      "sub":"dead","description":"osapi test"}]"#;
    systemctl_says(a, listing);
    let (code, body) = stack.get("/api/node/a/service", Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    let listed = &body["results"][0]["services"][0];
    assert_eq!(
        (&listed["name"], &listed["enabled"]),
        (&json!("osapi-web.service"), &json!(true))
    );
    systemctl_says(
        a,
        "LoadState=loaded\nActiveState=active\nDescription=osapi test\nMainPID=42\n",
    );
    let (code, body) = stack
        .get("/api/node/a/service/osapi-web", Some(admin))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["results"][0]["service"],
        json!({"name": "osapi-web.service", "status": "active", "enabled": true,
               "description": "osapi test", "pid": 42})
    );

    // Start, stop, restart: recorded, idempotent on what is-active says.
    a.runner.clear();
    systemctl_says(a, "inactive\n");
    let start = "/api/node/a/service/osapi-web/start";
    changes(stack, admin, "POST", start, json!({}), true).await;
    changes(
        stack,
        admin,
        "POST",
        "/api/node/a/service/osapi-web/stop",
        json!({}),
        false,
    )
    .await;
    systemctl_says(a, "active\n");
    changes(stack, admin, "POST", start, json!({}), false).await;
    changes(
        stack,
        admin,
        "POST",
        "/api/node/a/service/osapi-web/restart",
        json!({}),
        true,
    )
    .await;
    let active = "systemctl is-active osapi-web.service";
    assert_eq!(
        a.recorded(),
        [
            active,
            "systemctl start osapi-web.service",
            active,
            active,
            "systemctl restart osapi-web.service"
        ]
    );

    let disable = "/api/node/a/service/osapi-web/disable";
    changes(stack, admin, "POST", disable, json!({}), true).await;
    assert!(wants.symlink_metadata().is_err(), "disabled: unlinked");
    changes(stack, admin, "POST", disable, json!({}), false).await;

    // Update: another object changes the file and reloads; only managed units.
    let v2 = unit.replace("/bin/true", "/bin/false");
    stack
        .upload(admin, "web2.unit", "raw", v2.as_bytes(), false)
        .await;
    a.runner.clear();
    let update = json!({"object": "web2.unit"});
    let path = "/api/node/a/service/web";
    changes(stack, admin, "PUT", path, update.clone(), true).await;
    changes(stack, admin, "PUT", path, update, false).await;
    assert_eq!(file(a.path(file_path)).0, v2);
    assert_eq!(a.recorded(), ["systemctl daemon-reload"]);
    let (code, body) = send(
        stack,
        "PUT",
        "/api/node/a/service/nginx",
        admin,
        json!({"object": "web2.unit"}),
    )
    .await;
    assert_eq!(code, 502, "{body}");
    assert!(body["results"][0]["error"]
        .as_str()
        .unwrap_or("")
        .contains("not managed"));

    // Delete: stop, disable, remove, reload; then nothing to do.
    a.runner.clear();
    changes(stack, admin, "DELETE", path, json!({}), true).await;
    assert!(!a.path(file_path).exists());
    assert_eq!(
        a.recorded(),
        [
            "systemctl stop osapi-web.service",
            "systemctl daemon-reload"
        ]
    );
    changes(stack, admin, "DELETE", path, json!({}), false).await;
    assert!(
        !Path::new("/etc/systemd/system/osapi-web.service").exists(),
        "host untouched"
    );

    for (method, path, body, field) in [
        (
            "POST",
            "/api/node/a/service",
            json!({"name": "../../etc/passwd", "object": "web.unit"}),
            "name",
        ),
        (
            "POST",
            "/api/node/a/service",
            json!({"name": "x", "object": "never-uploaded"}),
            "object",
        ),
        ("POST", "/api/node/a/service/a%2Fb/start", json!({}), "name"),
        ("GET", "/api/node/a/service/..%2Fx", json!({}), "name"),
        ("DELETE", "/api/node/a/service/x%3Bid", json!({}), "name"),
    ] {
        let (code, answer) = send(stack, method, path, admin, body).await;
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let reader = token(&["read"], &[Permission::ServiceRead]);
    let (code, _) = send(stack, "POST", start, &reader, json!({})).await;
    assert_eq!(code, 403);
}
