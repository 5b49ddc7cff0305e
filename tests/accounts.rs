//! Groups, users, SSH keys and CA certificates through the real stack. The agent's system
//! root is a temp dir seeded with minimal account databases; the real shadow tools
//! (`groupadd --root`, `useradd --root`, `chpasswd --root`, ...) and
//! `update-ca-certificates` (with its directories under the root) act on it through a
//! recording runner, and the results are read back through the API. The host's account
//! databases and CA store are checked byte-identical at the end.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use osapi::auth::Permission;
use osapi::provider::accounts::LinuxAccounts;
use osapi::provider::runner::{RecordingRunner, SystemRunner};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Files a test could touch on the host if a root were ignored.
const HOST_FILES: &[&str] = &["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];
/// Directories of the host's CA store.
const HOST_CA_DIRS: &[&str] = &["/etc/ssl/certs", "/usr/local/share/ca-certificates"];

/// SHA-256 of each host file and of each CA directory's listing and file contents.
fn host_fingerprint() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = HOST_FILES
        .iter()
        .map(|f| (f.to_string(), digest(&std::fs::read(f).unwrap_or_default())))
        .collect();
    for dir in HOST_CA_DIRS {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            let link = std::fs::read_link(&e).map(|l| l.display().to_string());
            let content =
                link.unwrap_or_else(|_| digest(&std::fs::read(&e).unwrap_or_default()));
            out.push((e.display().to_string(), content));
        }
    }
    out
}

fn digest(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Whether a missing tool fails the test instead of skipping it (CI installs them all).
fn tools_present(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| osapi::provider::system::which(t).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("OSAPI_REQUIRE_TOOLS").is_none(),
        "OSAPI_REQUIRE_TOOLS is set, but {missing:?} are not installed"
    );
    eprintln!("skipped: {missing:?} not installed");
    false
}

/// An agent's temp system root with minimal account databases, and its runner (which
/// records every tool run, then really runs it).
struct Host {
    root: tempfile::TempDir,
    runner: Arc<RecordingRunner>,
}

impl Host {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("root");
        let put = |rel: &str, text: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let path = root.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
        };
        put("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644);
        put("etc/group", "root:x:0:\nusers:x:100:\n", 0o644);
        put("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640);
        put("etc/gshadow", "root:*::\nusers:*::\n", 0o640);
        std::fs::create_dir_all(root.path().join("home")).expect("home");
        Self {
            root,
            runner: RecordingRunner::passing_to(Arc::new(SystemRunner)),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap_or_default()
    }

    fn providers(&self, dns: &Path) -> osapi::provider::Providers {
        let mut p = linux_providers(dns);
        p.groups = self.accounts();
        p
    }

    /// Accounts under this root, through this runner.
    fn accounts(&self) -> Arc<LinuxAccounts> {
        Arc::new(LinuxAccounts {
            root: self.root.path().into(),
            runner: self.runner.clone(),
        })
    }

    /// The program names run since the last clear.
    fn programs(&self) -> Vec<String> {
        self.runner
            .calls()
            .into_iter()
            .map(|c| c[0].clone())
            .collect()
    }
}

async fn send(stack: &Stack, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let (code, body) = stack.send(m, path, token, body).await;
    println!("{method} {path}: {code} {body}");
    (code, body)
}

/// The first item's `changed` of a change that must have answered 200.
async fn changed(stack: &Stack, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (code, body) = send(stack, method, path, token, body).await;
    assert_eq!(code, 200, "{method} {path}: {body}");
    assert_eq!(body["results"][0]["status"], "ok", "{body}");
    body["results"][0]["changed"].clone()
}

/// A 400 naming `field`.
async fn refused(stack: &Stack, method: &str, path: &str, token: &str, body: Value, field: &str) {
    let (code, body) = send(stack, method, path, token, body).await;
    assert_eq!((code, body["field"].as_str()), (400, Some(field)), "{body}");
}

async fn group_domain(stack: &Stack, h: &Host, admin: &str) {
    let (code, body) = stack.get("/api/node/a/group", Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    let names: Vec<&str> = body["results"][0]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["root", "users"], "{body}");

    // Create: the real groupadd on the temp root, then nothing on a rerun.
    let devs = json!({"name": "devs", "gid": 2000});
    h.runner.clear();
    assert_eq!(
        changed(stack, "POST", "/api/node/a/group", admin, devs.clone()).await,
        true
    );
    assert!(
        h.read("etc/group").contains("devs:x:2000:"),
        "{}",
        h.read("etc/group")
    );
    assert!(h.read("etc/gshadow").contains("devs:"));
    assert_eq!(h.programs(), ["groupadd"]);
    let root = format!("{}/", h.root.path().display());
    assert_eq!(
        h.runner.calls()[0],
        ["groupadd", "--root", root.as_str(), "-g", "2000", "devs"]
    );
    h.runner.clear();
    assert_eq!(
        changed(stack, "POST", "/api/node/a/group", admin, devs).await,
        false
    );
    assert!(h.programs().is_empty(), "no tool on a rerun");
    let (code, body) = stack.get("/api/node/a/group/devs", Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["results"][0]["groups"],
        json!([{"name": "devs", "gid": 2000}])
    );

    // Members: set (root exists in the temp passwd), again (nothing), cleared.
    let members = json!({"members": ["root"]});
    let path = "/api/node/a/group/devs";
    assert_eq!(
        changed(stack, "PUT", path, admin, members.clone()).await,
        true
    );
    let (_, body) = stack.get(path, Some(admin)).await;
    assert_eq!(
        body["results"][0]["groups"][0]["members"],
        json!(["root"]),
        "{body}"
    );
    h.runner.clear();
    assert_eq!(changed(stack, "PUT", path, admin, members).await, false);
    assert!(h.programs().is_empty());
    assert_eq!(
        changed(stack, "PUT", path, admin, json!({"members": []})).await,
        true
    );
    assert!(h.read("etc/group").contains("devs:x:2000:\n"));

    // Unknown members and names fail; bad names are the caller's 400.
    let (code, body) = send(stack, "PUT", path, admin, json!({"members": ["nobody"]})).await;
    assert_eq!(code, 502, "{body}");
    assert!(body["results"][0]["error"]
        .as_str()
        .unwrap_or("")
        .contains("nobody"));
    refused(
        stack,
        "POST",
        "/api/node/a/group",
        admin,
        json!({"name": "Bad"}),
        "name",
    )
    .await;
    refused(
        stack,
        "PUT",
        path,
        admin,
        json!({"members": ["a:b"]}),
        "members[0]",
    )
    .await;
    refused(stack, "PUT", path, admin, json!({}), "members").await;
    let (code, _) = stack.get("/api/node/a/group/-rf", Some(admin)).await;
    assert_eq!(code, 400);

    // Delete, then again: nothing to do.
    assert_eq!(changed(stack, "DELETE", path, admin, json!({})).await, true);
    assert!(!h.read("etc/group").contains("devs"));
    h.runner.clear();
    assert_eq!(
        changed(stack, "DELETE", path, admin, json!({})).await,
        false
    );
    assert!(h.programs().is_empty());
    let (code, body) = stack.get(path, Some(admin)).await;
    assert_eq!(code, 502, "{body}");

    // Reading needs user:read, writing user:write.
    let reader = token(&["read"], &[Permission::UserRead]);
    assert_eq!(stack.get("/api/node/a/group", Some(&reader)).await.0, 200);
    let (code, _) = send(
        stack,
        "POST",
        "/api/node/a/group",
        &reader,
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(code, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_and_certificates_change_only_the_temp_root() {
    if !tools_present(&["groupadd", "gpasswd", "groupdel"]) {
        return;
    }
    let before = host_fingerprint();
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let a = Host::new();
    stack.add_agent("a", &[], a.providers(dns.path()));
    stack.wait_agents(&["a"]).await;
    let admin = token(&["admin"], &[]);

    group_domain(&stack, &a, &admin).await;

    stack.shutdown().await;
    assert_eq!(
        host_fingerprint(),
        before,
        "the host's accounts and CA store are untouched"
    );
}
