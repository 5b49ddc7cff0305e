//! The `osapi` binary as a client of a running stack (a real nats-server, the controller
//! and agents in this process, HTTP between them): the original CLI's `-j` shapes, taken
//! from real answers; both generations' spellings; and the commands that need no stack
//! (`completion`, `version`).

mod common;

use std::collections::BTreeSet;
use std::process::Output;

use common::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_osapi");

/// The binary pointed at one stack, with an empty config file of its own (so the
/// machine's `/etc/osapi/osapi.yaml`, if any, plays no part).
struct Osapi {
    url: String,
    token: String,
    dir: tempfile::TempDir,
}

impl Osapi {
    fn new(stack: &Stack) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("osapi.yaml"), "").expect("config file");
        Self {
            url: stack.base.clone(),
            token: token(&["admin"], &[]),
            dir,
        }
    }

    /// Runs `osapi -f <config> <args> --url <stack> --token <admin>`.
    async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(BIN)
            .arg("-f")
            .arg(self.dir.path().join("osapi.yaml"))
            .args(args)
            .args(["--url", &self.url, "--token", &self.token])
            .args(cli_tls_args())
            .output()
            .await
            .expect("run osapi")
    }

    /// Runs a command that must succeed; its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        stdout_of_success(args, &self.run(args).await)
    }

    /// Runs a command that must succeed and print one JSON document.
    async fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_list_and_delete_print_the_original_cli_shapes_and_raw_prints_the_body() {
    let nats = Nats::start();
    let stack = Stack::with_fake_agents(config(nats.port), &["a", "b"]).await;
    let osapi = Osapi::new(&stack);
    for _ in 0..3 {
        osapi.ok(&["client", "node", "hostname", "-T", "a"]).await;
    }

    let list = osapi
        .json(&["-j", "client", "job", "list", "--limit", "2"])
        .await;
    assert_eq!(
        keys(&list),
        set(&[
            "total_jobs",
            "displayed_jobs",
            "status_counts",
            "jobs",
            "limit_applied",
            "offset_applied",
            "filter_applied",
        ]),
        "{list}"
    );
    assert_eq!(list["displayed_jobs"], 2, "{list}");
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(list["limit_applied"], true, "{list}");
    assert_eq!(list["offset_applied"], 0, "{list}");
    assert_eq!(list["filter_applied"], false, "{list}");
    assert!(list["status_counts"].is_object(), "{list}");
    // The jobs are the API's items; the totals are its totals.
    let raw = osapi
        .json(&["client", "job", "list", "--limit", "2", "--raw"])
        .await;
    assert_eq!(
        keys(&raw),
        set(&["total_items", "status_counts", "items"]),
        "{raw}"
    );
    assert_eq!(list["total_jobs"], raw["total_items"], "{list}\n{raw}");
    assert!(list["total_jobs"].as_u64() >= Some(3), "{list}");
    assert_eq!(list["status_counts"], raw["status_counts"]);
    assert_eq!(list["jobs"], raw["items"]);
    assert_eq!(
        raw,
        osapi
            .json(&["-j", "--raw", "client", "job", "list", "--limit", "2"])
            .await
    );
    // A filter and an offset show in the flags.
    let page = osapi
        .json(&[
            "-j",
            "client",
            "job",
            "list",
            "--status",
            "completed",
            "--offset",
            "1",
            "--limit",
            "1",
        ])
        .await;
    assert_eq!(page["filter_applied"], true, "{page}");
    assert_eq!(page["offset_applied"], 1, "{page}");
    assert_eq!(page["displayed_jobs"], 1, "{page}");
    assert_eq!(page["jobs"][0]["status"], "completed", "{page}");

    // delete -j: the original's synthesised object.
    let id = list["jobs"][0]["id"].as_str().expect("a job id").to_owned();
    let before = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("time");
    let deleted = osapi
        .json(&["-j", "client", "job", "delete", "--job-id", &id])
        .await;
    assert_eq!(
        keys(&deleted),
        set(&["job_id", "status", "timestamp"]),
        "{deleted}"
    );
    assert_eq!(deleted["job_id"], id.as_str());
    assert_eq!(deleted["status"], "deleted");
    let at = time::OffsetDateTime::parse(
        deleted["timestamp"].as_str().expect("timestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("an RFC 3339 timestamp");
    assert!(at >= before, "{deleted}");
    let (status, _) = stack.get(&format!("/job/{id}"), Some(&osapi.token)).await;
    assert_eq!(status, 404, "the job is gone");
    // Deleting it again is the API's 404, printed as it came, exit 1.
    let again = osapi
        .run(&["-j", "client", "job", "delete", "--job-id", &id])
        .await;
    assert!(!again.status.success());
    let body: Value = serde_json::from_slice(&again.stdout).expect("the error body");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not found")),
        "{body}"
    );
    // delete --raw: the API's answer is 204 with no body, so nothing is printed.
    let other = list["jobs"][1]["id"].as_str().expect("a job id");
    let out = osapi
        .ok(&["client", "job", "delete", "--job-id", other, "--raw"])
        .await;
    assert_eq!(out, "", "204 has no body");
    // Without -j, the text.
    let out = osapi
        .run(&["client", "job", "delete", "--job-id", other])
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("404"), "{err}");

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_send_a_30_second_timeout_unless_told_and_every_spelling_reaches_its_target() {
    let nats = Nats::start();
    let stack = Stack::with_fake_agents(config(nats.port), &["a", "b"]).await;
    let osapi = Osapi::new(&stack);

    // The stored job data is what the CLI sent.
    let sent_timeout = |args: Vec<&'static str>| {
        let osapi = &osapi;
        async move {
            let answer = osapi.json(&args).await;
            let id = answer["job_id"].as_str().expect("job_id").to_owned();
            let job = osapi
                .json(&["-j", "client", "job", "get", "--job-id", &id])
                .await;
            job["operation"]["data"]["timeout"].clone()
        }
    };
    let shell = vec![
        "-j",
        "client",
        "node",
        "command",
        "shell",
        "--command",
        "echo hi",
        "-T",
        "a",
    ];
    assert_eq!(sent_timeout(shell.clone()).await, 30);
    let exec = vec![
        "-j",
        "client",
        "node",
        "command",
        "exec",
        "--command",
        "true",
        "-T",
        "a",
    ];
    assert_eq!(sent_timeout(exec).await, 30);
    let mut given = shell;
    given.extend(["--timeout", "7"]);
    assert_eq!(sent_timeout(given).await, 7);

    // `-T` after `client`, after `node` and after the read, with and without `get`: the
    // same target each time.
    for (target, args) in [
        ("a", vec!["-j", "client", "-T", "a", "node", "hostname"]),
        (
            "b",
            vec!["-j", "client", "node", "-T", "b", "hostname", "get"],
        ),
        (
            "a",
            vec!["-j", "client", "node", "hostname", "get", "--target", "a"],
        ),
        (
            "b",
            vec!["-j", "client", "node", "--target", "b", "disk", "get"],
        ),
        (
            "a",
            vec!["-j", "client", "node", "-T", "a", "memory", "get"],
        ),
        ("b", vec!["-j", "client", "node", "load", "get", "-T", "b"]),
        ("a", vec!["-j", "client", "node", "-T", "a", "os", "get"]),
        (
            "b",
            vec!["-j", "client", "-T", "b", "node", "uptime", "get"],
        ),
        ("a", vec!["-j", "client", "node", "-T", "a", "uptime"]),
    ] {
        let answer = osapi.json(&args).await;
        assert_eq!(Stack::hosts(&answer), [target], "{args:?}: {answer}");
    }
    stack.shutdown().await;
}

/// Runs the binary with no config and no stack.
fn local(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    std::process::Command::new(BIN)
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run osapi")
}

#[test]
fn completion_scripts_print_for_every_shell_and_bash_loads_its_own() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = local(&["completion", shell]);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("osapi"), "{shell}: {script}");
    }
    let err = local(&["completion", "tcsh"]);
    assert!(!err.status.success());
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(text.contains("tcsh") && text.contains("bash"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("osapi.bash");
    std::fs::write(&script, local(&["completion", "bash"]).stdout).expect("script");
    assert_bash_completion_loads(&script);
}

#[test]
fn version_prints_the_original_fields_and_ours() {
    let version = env!("CARGO_PKG_VERSION");
    let platform = format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH);
    // No config file is needed to ask for the version.
    for args in [
        &["version"][..],
        &["-j", "version"][..],
        &["version", "-j"][..],
    ] {
        let out = local(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}"));
        // The original's, as its version library prints them and in its order, then ours.
        let printed = [
            "gitVersion",
            "moduleChecksum",
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "builtBy",
            "goVersion",
            "compiler",
            "platform",
            "version",
            "rustcVersion",
            "target",
            "profile",
        ];
        assert_eq!(keys(&v), set(&printed), "{stdout}");
        let at = |k: &str| stdout.find(&format!("\"{k}\":")).expect("a printed key");
        assert!(printed.windows(2).all(|w| at(w[0]) < at(w[1])), "{stdout}");
        assert_eq!(v["gitVersion"], version, "{stdout}");
        assert_eq!(v["version"], version, "{stdout}");
        assert_eq!(v["platform"], platform.as_str(), "{stdout}");
        assert_eq!(v["compiler"], "rustc", "{stdout}");
        assert!(v["rustcVersion"]
            .as_str()
            .is_some_and(|r| r.starts_with("rustc ")));
        assert!(v["target"]
            .as_str()
            .is_some_and(|t| t.contains(std::env::consts::ARCH)));
        assert!(matches!(v["profile"].as_str(), Some("debug" | "release")));
        for key in keys(&v) {
            assert!(
                v[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key}: {stdout}"
            );
        }
    }
    let out = local(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("osapi {version}")
    );
}
