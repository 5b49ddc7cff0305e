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
use osapi::provider::certificate::LinuxCertificates;
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
            let content = link.unwrap_or_else(|_| digest(&std::fs::read(&e).unwrap_or_default()));
            out.push((e.display().to_string(), content));
        }
    }
    out
}

fn digest(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Whether the tools are installed and this runs as root (the shadow tools chroot into
/// `--root`, keys are chowned to their user); else the test is skipped, or fails when
/// `OSAPI_REQUIRE_TOOLS` is set (CI installs them all and runs as root).
fn tools_present(tools: &[&str]) -> bool {
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| osapi::provider::system::which(t).is_none())
        .map(|t| format!("{t} is not installed"))
        .collect();
    if !nix::unistd::geteuid().is_root() {
        missing.push("this does not run as root".into());
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("OSAPI_REQUIRE_TOOLS").is_none(),
        "OSAPI_REQUIRE_TOOLS is set, but {missing:?}"
    );
    eprintln!("skipped: {missing:?}");
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
        // A trust store with one system certificate.
        put(
            "usr/share/ca-certificates/test/System_Root.crt",
            SYSTEM_CA,
            0o644,
        );
        put("etc/ca-certificates.conf", "test/System_Root.crt\n", 0o644);
        for dir in ["etc/ssl/certs", "etc/ca-certificates/update.d"] {
            std::fs::create_dir_all(root.path().join(dir)).expect("dir");
        }
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
        p.users = self.accounts();
        p.ssh_keys = self.accounts();
        p.certificates = Arc::new(LinuxCertificates {
            root: self.root.path().into(),
            runner: self.runner.clone(),
        });
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

/// The same change again: `changed: false`, and no tool run.
async fn unchanged(stack: &Stack, h: &Host, method: &str, path: &str, token: &str, body: Value) {
    h.runner.clear();
    assert_eq!(changed(stack, method, path, token, body).await, false);
    assert!(
        h.programs().is_empty(),
        "no tool on a rerun of {method} {path}"
    );
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
    unchanged(stack, h, "POST", "/api/node/a/group", admin, devs).await;
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
    unchanged(stack, h, "PUT", path, admin, members).await;
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
    unchanged(stack, h, "DELETE", path, admin, json!({})).await;
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

/// The password the secrecy checks look for.
const PASSWORD: &str = "Tr0ub4dor&3-osapi-secret";
/// A key ssh-keygen made, and the fingerprint `ssh-keygen -lf` printed for it.
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4r8a6zHpx24NhR23/h/+BrGZG847D7EDPk1ybbjCf8 test@example";
const KEY_FP: &str = "SHA256:WK9JkojmPVn01RwMGumgrRQ8Nxcxf0QSBUAdqFU+uzc";

/// Whether the shadow line of `user` holds `password`'s SHA-512 crypt hash.
fn shadow_holds(h: &Host, user: &str, password: &str) -> bool {
    let shadow = h.read("etc/shadow");
    let Some(field) = shadow
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{user}:")))
        .and_then(|rest| rest.split(':').next())
    else {
        return false;
    };
    // $6$rounds=N$salt$hash
    let parts: Vec<&str> = field.split('$').collect();
    let [_, "6", rounds, salt, hash] = parts.as_slice() else {
        return false;
    };
    let rounds: usize = rounds
        .trim_start_matches("rounds=")
        .parse()
        .expect("rounds");
    let params = sha_crypt::Sha512Params::new(rounds).expect("params");
    sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params)
        .is_ok_and(|h| h == *hash)
}

fn mode_of(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).expect("metadata");
    (m.mode() & 0o7777, m.uid())
}

async fn user_domain(stack: &Stack, h: &Host, admin: &str) {
    let web = json!({"name": "web", "gid": 3000});
    assert_eq!(
        changed(stack, "POST", "/api/node/a/group", admin, web).await,
        true
    );

    // Create with a password: useradd, then chpasswd with the hash on stdin.
    let alice = json!({"name": "alice", "uid": 1500, "shell": "/bin/sh", "groups": ["web"],
        "password": PASSWORD});
    h.runner.clear();
    assert_eq!(
        changed(stack, "POST", "/api/node/a/user", admin, alice.clone()).await,
        true
    );
    assert_eq!(h.programs(), ["useradd", "chpasswd"]);
    let root = format!("{}/", h.root.path().display());
    assert_eq!(
        h.runner.calls()[0],
        [
            "useradd",
            "--root",
            &root,
            "--create-home",
            "-u",
            "1500",
            "-s",
            "/bin/sh",
            "-G",
            "web",
            "alice"
        ]
    );
    let fed = h.runner.fed();
    assert_eq!(fed.len(), 1);
    assert_eq!(fed[0].0, ["chpasswd", "--root", &root, "-e"]);
    assert!(
        shadow_holds(h, "alice", PASSWORD),
        "{}",
        h.read("etc/shadow")
    );
    assert!(h.path("home/alice").is_dir(), "home created under the root");
    unchanged(stack, h, "POST", "/api/node/a/user", admin, alice).await;

    let (code, body) = stack.get("/api/node/a/user/alice", Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    let got = &body["results"][0]["users"][0];
    assert_eq!(
        (
            got["uid"].as_u64(),
            got["shell"].as_str(),
            got["home"].as_str()
        ),
        (Some(1500), Some("/bin/sh"), Some("/home/alice")),
        "{body}"
    );
    assert_eq!(got["groups"], json!(["users", "web"]), "{body}");
    assert_eq!(got["locked"], false, "{body}");
    let (_, body) = stack.get("/api/node/a/user", Some(admin)).await;
    let names: Vec<&str> = body["results"][0]["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["root", "alice"], "{body}");

    // Password: changed; the new one is in the shadow database.
    let new_password = format!("{PASSWORD}-2");
    let path = "/api/node/a/user/alice/password";
    let pw = json!({"password": new_password});
    assert_eq!(changed(stack, "POST", path, admin, pw).await, true);
    assert!(shadow_holds(h, "alice", &new_password));

    // Update: lock, then the same again (nothing run), then shell and groups.
    let path = "/api/node/a/user/alice";
    assert_eq!(
        changed(stack, "PUT", path, admin, json!({"lock": true})).await,
        true
    );
    let (_, body) = stack.get(path, Some(admin)).await;
    assert_eq!(body["results"][0]["users"][0]["locked"], true, "{body}");
    unchanged(
        stack,
        h,
        "PUT",
        path,
        admin,
        json!({"lock": true, "shell": "/bin/sh"}),
    )
    .await;
    let change = json!({"lock": false, "shell": "/bin/bash", "groups": []});
    assert_eq!(changed(stack, "PUT", path, admin, change).await, true);
    let (_, body) = stack.get(path, Some(admin)).await;
    let got = &body["results"][0]["users"][0];
    assert_eq!(
        (got["locked"].as_bool(), got["shell"].as_str()),
        (Some(false), Some("/bin/bash"))
    );
    assert_eq!(got["groups"], json!(["users"]), "{body}");

    // Bad input names the field.
    let users = "/api/node/a/user";
    let password = "/api/node/a/user/alice/password";
    let bad: [(&str, &str, Value, &str); 6] = [
        ("POST", users, json!({"name": "Alice"}), "name"),
        ("POST", users, json!({"name": "9lives"}), "name"),
        ("POST", users, json!({"name": "eve", "uid": 0}), "uid"),
        (
            "POST",
            users,
            json!({"name": "eve", "shell": "sh"}),
            "shell",
        ),
        ("PUT", path, json!({}), "body"),
        ("POST", password, json!({"password": ""}), "password"),
    ];
    for (method, to, body, field) in bad {
        refused(stack, method, to, admin, body, field).await;
    }
    let (code, _) = stack.get("/api/node/a/user/..%2Fetc", Some(admin)).await;
    assert_eq!(code, 400);
}

async fn ssh_key_domain(stack: &Stack, h: &Host, admin: &str) {
    let keys = "/api/node/a/user/alice/ssh-key";
    let (code, body) = stack.get(keys, Some(admin)).await;
    assert_eq!(
        (code, &body["results"][0]["keys"]),
        (200, &json!([])),
        "{body}"
    );
    assert_eq!(
        changed(stack, "POST", keys, admin, json!({"key": KEY})).await,
        true
    );
    let file = h.path("home/alice/.ssh/authorized_keys");
    assert_eq!(
        std::fs::read_to_string(&file).expect("keys"),
        format!("{KEY}\n")
    );
    assert_eq!(mode_of(&file), (0o600, 1500));
    assert_eq!(mode_of(&h.path("home/alice/.ssh")), (0o700, 1500));
    assert_eq!(
        changed(stack, "POST", keys, admin, json!({"key": KEY})).await,
        false
    );

    let (_, body) = stack.get(keys, Some(admin)).await;
    let listed = &body["results"][0]["keys"];
    assert_eq!(
        listed,
        &json!([{"type": "ssh-ed25519", "fingerprint": KEY_FP, "comment": "test@example"}])
    );
    if osapi::provider::system::which("ssh-keygen").is_some() {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&file)
            .output()
            .expect("ssh-keygen");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(printed.contains(KEY_FP), "ssh-keygen -lf says {printed}");
    }

    let bad = json!({"key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4r8a6z comment"});
    refused(stack, "POST", keys, admin, bad, "key").await;
    refused(
        stack,
        "DELETE",
        &format!("{keys}/MD5:00"),
        admin,
        json!({}),
        "fingerprint",
    )
    .await;
    // Through the SDK, which encodes the fingerprint's `/` and `+` in the path.
    let sdk = sdk_client(&stack.base, admin);
    let remove = osapi::wire::ops::ssh_key::SshKeyRemove {
        name: "alice".into(),
        fingerprint: KEY_FP.into(),
    };
    let answer = sdk
        .run::<osapi::wire::ops::ssh_key::NodeSshKeyRemove>("a", &remove)
        .await
        .expect("remove");
    assert_eq!(answer.results[0].changed, Some(true), "{answer:?}");
    let one = format!("{keys}/{}", KEY_FP.replace('/', "%2F").replace('+', "%2B"));
    assert_eq!(
        changed(stack, "DELETE", &one, admin, json!({})).await,
        false
    );
    let (_, body) = stack.get(keys, Some(admin)).await;
    assert_eq!(body["results"][0]["keys"], json!([]), "{body}");

    // Deleting the user removes its home; again, nothing to do.
    let alice = "/api/node/a/user/alice";
    assert_eq!(
        changed(stack, "DELETE", alice, admin, json!({})).await,
        true
    );
    assert!(!h.path("home/alice").exists());
    assert!(!h.read("etc/passwd").contains("alice"));
    unchanged(stack, h, "DELETE", alice, admin, json!({})).await;
    let (code, body) = stack.get(alice, Some(admin)).await;
    assert_eq!(code, 502, "{body}");
    let (code, body) = send(stack, "DELETE", "/api/node/a/user/root", admin, json!({})).await;
    assert_eq!(code, 502, "root is never deleted: {body}");
    assert!(h.read("etc/passwd").starts_with("root:"));
}

/// Broadcasts and label targets reach every agent's root; `_any` one of them.
async fn every_target_form(stack: &Stack, hosts: [&Host; 2], admin: &str) {
    let fleet = json!({"name": "fleet", "gid": 4000});
    let (code, body) = send(stack, "POST", "/api/node/_all/group", admin, fleet).await;
    assert_eq!(code, 200, "{body}");
    let mut got: Vec<(String, Value)> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["hostname"].as_str().unwrap_or("").to_owned(),
                r["changed"].clone(),
            )
        })
        .collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        [("a".into(), json!(true)), ("b".into(), json!(true))],
        "{body}"
    );
    for h in hosts {
        assert!(h.read("etc/group").contains("fleet:x:4000:"));
    }
    let (code, body) = stack
        .get("/api/node/group:web/group/fleet", Some(admin))
        .await;
    assert_eq!(
        (code, Stack::hosts(&body)),
        (200, vec!["a".into(), "b".into()]),
        "{body}"
    );
    let (code, body) = stack.get("/api/node/_any/user", Some(admin)).await;
    assert_eq!((code, Stack::hosts(&body).len()), (200, 1), "{body}");
    let (code, body) = send(
        stack,
        "DELETE",
        "/api/node/_all/group/fleet",
        admin,
        json!({}),
    )
    .await;
    assert_eq!((code, Stack::hosts(&body).len()), (200, 2), "{body}");
    for h in hosts {
        assert!(!h.read("etc/group").contains("fleet"));
    }
}

const SYSTEM_CA: &str = include_str!("fixtures/ca-system.pem");
const CUSTOM_CA: &str = include_str!("fixtures/ca-custom.pem");
const CUSTOM_CA_2: &str = include_str!("fixtures/ca-custom-2.pem");

/// A line of a certificate's base64, to find it in a bundle.
fn body_line(pem: &str) -> &str {
    pem.lines().nth(2).expect("a PEM body")
}

async fn certificate_domain(stack: &Stack, h: &Host, admin: &str) {
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
    for (name, bytes) in [
        ("corp.pem", CUSTOM_CA),
        ("corp-2.pem", CUSTOM_CA_2),
        ("key.pem", key),
    ] {
        let (code, body) = stack
            .upload(admin, name, "raw", bytes.as_bytes(), false)
            .await;
        assert_eq!(code, 201, "{body}");
    }
    let cas = "/api/node/a/certificate/ca";
    let (code, body) = stack.get(cas, Some(admin)).await;
    assert_eq!(code, 200, "{body}");
    let system = json!({"name": "test/System_Root", "source": "system"});
    assert_eq!(
        body["results"][0]["certificates"],
        json!([system]),
        "{body}"
    );

    // Create: the file, then the real update-ca-certificates on the root's store.
    h.runner.clear();
    let corp = json!({"name": "corp", "object": "corp.pem"});
    assert_eq!(changed(stack, "POST", cas, admin, corp.clone()).await, true);
    let file = h.path("usr/local/share/ca-certificates/osapi-corp.crt");
    assert_eq!(std::fs::read_to_string(&file).expect("crt"), CUSTOM_CA);
    assert_eq!(mode_of(&file).0, 0o644);
    assert_eq!(h.programs(), ["update-ca-certificates"]);
    let bundle = || h.read("etc/ssl/certs/ca-certificates.crt");
    assert!(
        bundle().contains(body_line(CUSTOM_CA)),
        "trusted: {}",
        bundle()
    );
    assert!(bundle().contains(body_line(SYSTEM_CA)));
    assert!(h.path("etc/ssl/certs/osapi-corp.pem").exists());
    unchanged(stack, h, "POST", cas, admin, corp).await;
    let (_, body) = stack.get(cas, Some(admin)).await;
    let custom = json!({"name": "corp", "source": "custom"});
    assert_eq!(
        body["results"][0]["certificates"],
        json!([custom, system]),
        "{body}"
    );

    // Not a certificate, no such object, a bad name: 400 naming the field, nothing written.
    let bad = json!({"name": "bad", "object": "key.pem"});
    refused(stack, "POST", cas, admin, bad, "object").await;
    assert!(!h
        .path("usr/local/share/ca-certificates/osapi-bad.crt")
        .exists());
    refused(
        stack,
        "POST",
        cas,
        admin,
        json!({"name": "bad", "object": "none.pem"}),
        "object",
    )
    .await;
    refused(
        stack,
        "POST",
        cas,
        admin,
        json!({"name": "../x", "object": "corp.pem"}),
        "name",
    )
    .await;

    // Update replaces the content; an unmanaged name is refused.
    let one = format!("{cas}/corp");
    assert_eq!(
        changed(stack, "PUT", &one, admin, json!({"object": "corp-2.pem"})).await,
        true
    );
    assert_eq!(std::fs::read_to_string(&file).expect("crt"), CUSTOM_CA_2);
    assert!(bundle().contains(body_line(CUSTOM_CA_2)) && !bundle().contains(body_line(CUSTOM_CA)));
    let (code, body) = send(
        stack,
        "PUT",
        &format!("{cas}/nope"),
        admin,
        json!({"object": "corp.pem"}),
    )
    .await;
    assert_eq!(code, 502, "{body}");

    // Delete: file, link and bundle entry go; again, nothing to do.
    assert_eq!(changed(stack, "DELETE", &one, admin, json!({})).await, true);
    assert!(!file.exists() && !h.path("etc/ssl/certs/osapi-corp.pem").exists());
    assert!(!bundle().contains(body_line(CUSTOM_CA_2)) && bundle().contains(body_line(SYSTEM_CA)));
    unchanged(stack, h, "DELETE", &one, admin, json!({})).await;
    let reader = token(&["read"], &[Permission::CertificateRead]);
    assert_eq!(stack.get(cas, Some(&reader)).await.0, 200);
    assert_eq!(send(stack, "DELETE", &one, &reader, json!({})).await.0, 403);
}

/// The CLI prints the new domains' tables (the binary, against this stack).
async fn cli_tables(stack: &Stack, h: &Host, admin: &str) {
    let config = tempfile::NamedTempFile::new().expect("config");
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_osapi"))
            .arg("-f")
            .arg(config.path())
            .args(args)
            .args(["-T", "a", "--url", &stack.base, "--token", admin])
            .args(cli_tls_args())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run osapi");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        stdout_of_success(args, &child.wait_with_output().expect("osapi output"))
    };
    let users = run(&["client", "node", "user", "list"], "");
    assert!(
        users.contains("LOCKED") && users.contains("/root"),
        "{users}"
    );
    let groups = run(&["client", "node", "group", "get", "--name", "users"], "");
    assert!(
        groups.contains("users") && groups.contains("100"),
        "{groups}"
    );
    let cas = run(&["client", "node", "certificate", "list"], "");
    assert!(
        cas.contains("test/System_Root") && cas.contains("system"),
        "{cas}"
    );
    let made = run(&["client", "node", "group", "create", "--name", "cli"], "");
    assert!(made.contains("cli") && made.contains("true"), "{made}");
    // A password from stdin, out of the argument vector.
    let cli_password = format!("{PASSWORD}-cli");
    let set = run(
        &["client", "node", "user", "password", "--name", "root"],
        &format!("{cli_password}\n"),
    );
    assert!(set.contains("root") && set.contains("true"), "{set}");
    assert!(
        shadow_holds(h, "root", &cli_password),
        "{}",
        h.read("etc/shadow")
    );
}

/// Every message of every JetStream stream (job records, responses, events, audit), as
/// text.
async fn everything_in_nats(port: u16) -> String {
    use futures::TryStreamExt;
    let js = async_nats::jetstream::new(nats_client(port).await);
    let names: Vec<String> = js.stream_names().try_collect().await.expect("streams");
    let mut all = String::new();
    for name in names {
        let mut stream = js.get_stream(&name).await.expect("stream");
        let state = stream.info().await.expect("info").state.clone();
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(m) = stream.get_raw_message(seq).await {
                all.push_str(&format!(
                    "{} {}\n",
                    m.subject,
                    String::from_utf8_lossy(&m.payload)
                ));
            }
        }
    }
    all
}

/// The password sent above is nowhere: not in the audit log, a job record, a response or
/// a log line (nor in any other message NATS holds).
async fn password_is_nowhere(stack: &Stack, nats_port: u16, logs: &LogBuffer, admin: &str) {
    let (code, audit) = stack.get("/api/audit/export", Some(admin)).await;
    assert_eq!(code, 200, "{audit}");
    let audit = audit.to_string();
    assert!(
        audit.contains("/user/alice/password"),
        "the password change is audited"
    );
    let (_, jobs) = stack.get("/api/job?limit=100", Some(admin)).await;
    let mut job_details = String::new();
    for job in jobs["items"].as_array().expect("jobs") {
        let id = job["id"].as_str().expect("id");
        job_details.push_str(
            &stack
                .get(&format!("/api/job/{id}"), Some(admin))
                .await
                .1
                .to_string(),
        );
    }
    assert!(
        job_details.contains("node.user.password"),
        "the jobs are read back"
    );
    let nats = everything_in_nats(nats_port).await;
    assert!(nats.contains("password_hash"), "the job records are read");
    let logs = logs.text();
    assert!(
        logs.contains("node.user.password") || logs.len() > 1000,
        "logs are captured"
    );
    for (place, text) in [
        ("audit log", &audit),
        ("job records", &job_details),
        ("NATS", &nats),
        ("logs", &logs),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "the password leaked into the {place}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_and_certificates_change_only_the_temp_root() {
    let shadow_tools = [
        "update-ca-certificates",
        "groupadd",
        "gpasswd",
        "groupdel",
        "useradd",
        "usermod",
        "userdel",
        "chpasswd",
    ];
    if !tools_present(&shadow_tools) {
        return;
    }
    // Every level: at TRACE the NATS client logs each payload it moves.
    let logs = capture_logs("trace");
    let before = host_fingerprint();
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dns = tempfile::tempdir().expect("dns");
    let (a, b) = (Host::new(), Host::new());
    stack.add_agent("a", &[("group", "web")], a.providers(dns.path()));
    stack.add_agent("b", &[("group", "web")], b.providers(dns.path()));
    stack.wait_agents(&["a", "b"]).await;
    let admin = token(&["admin"], &[]);

    group_domain(&stack, &a, &admin).await;
    every_target_form(&stack, [&a, &b], &admin).await;
    user_domain(&stack, &a, &admin).await;
    ssh_key_domain(&stack, &a, &admin).await;
    certificate_domain(&stack, &a, &admin).await;
    cli_tables(&stack, &a, &admin).await;
    password_is_nowhere(&stack, nats.port, &logs, &admin).await;

    stack.shutdown().await;
    assert_eq!(
        host_fingerprint(),
        before,
        "the host's accounts and CA store are untouched"
    );
}
