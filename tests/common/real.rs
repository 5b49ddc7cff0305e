//! The real `osapi` binary as separate processes: a controller and agents spawned with a
//! config file over a harness nats-server, each process's stderr in a log file, every
//! process stopped when its guard drops (a failing test leaks none).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use osapi::config::Config;

use super::Nats;

pub const BIN: &str = env!("CARGO_BIN_EXE_osapi");

/// A spawned process that is stopped if a failing test leaves it running, so a panic does
/// not leak nats-server, controller or agent processes.
pub struct Proc(pub Child);

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SIGTERM first: `osapi` then stops the nats-server it supervises.
            let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
            let end = Instant::now() + Duration::from_secs(10);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends `signal` and waits (up to 30 s) for the process to exit.
pub fn stop(child: &mut Child, signal: Signal) -> std::process::ExitStatus {
    kill(Pid::from_raw(child.id() as i32), signal).expect("signal");
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < end, "osapi did not exit after {signal}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `f` every 100 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A new log file in `dir` for a spawned process's stderr.
pub fn log_file(dir: &Path) -> std::fs::File {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::fs::File::create(dir.join(format!("proc-{n}.log"))).expect("log file")
}

/// The last lines of every process log in `dir`, for a failure message.
pub fn log_tails(dir: &Path) -> String {
    let mut out = String::new();
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
    logs.sort();
    for path in logs {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        out.push_str(&format!("--- {}\n{tail}\n", path.display()));
    }
    out
}

/// A harness nats-server (its own, on a port it chose) and a working directory with an
/// `osapi.yaml` made from [`super::config`], from which controllers and agents are spawned
/// as `osapi` processes. The API listens on a fixed port so a restarted controller is
/// found where the old one was.
pub struct Deployment {
    pub nats: Nats,
    pub dir: tempfile::TempDir,
    pub config: Config,
    config_file: PathBuf,
}

impl Deployment {
    /// A deployment whose config is the harness one changed by `tweak`.
    pub fn new(tweak: impl FnOnce(&mut Config)) -> Self {
        let nats = Nats::start();
        let mut config = super::config(nats.port);
        config.controller.api.port = super::free_port();
        tweak(&mut config);
        let dir = tempfile::tempdir().expect("tempdir");
        let config_file = dir.path().join("osapi.yaml");
        let yaml = serde_yaml::to_string(&config).expect("config as YAML");
        std::fs::write(&config_file, yaml).expect("write osapi.yaml");
        Self {
            nats,
            dir,
            config,
            config_file,
        }
    }

    /// `osapi -f osapi.yaml <args>` in the deployment's directory, with `envs`.
    pub fn spawn(&self, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        Command::new(BIN)
            .arg("-f")
            .arg(&self.config_file)
            .args(args)
            .current_dir(self.dir.path())
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file(self.dir.path()))
            .spawn()
            .map(Proc)
            .expect("spawn osapi")
    }

    pub fn controller(&self) -> Proc {
        self.spawn(&["controller", "start"], &[])
    }

    /// An agent process whose identity is `host`.
    pub fn agent(&self, host: &str) -> Proc {
        self.spawn(&["agent", "start"], &[("OSAPI_AGENT_HOSTNAME", host)])
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://127.0.0.1:{}{path}",
            super::scheme(),
            self.config.controller.api.port
        )
    }

    pub fn log_tails(&self) -> String {
        log_tails(self.dir.path())
    }

    /// GET `path` with `token`: its status and JSON body, `None` when no answer came.
    pub fn get(&self, path: &str, token: &str) -> Option<(u16, serde_json::Value)> {
        let r = client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().unwrap_or(serde_json::Value::Null)))
    }

    /// Waits (up to 60 s) until `GET /node/<target>/hostname` answers 200.
    pub fn wait_hostname_ok(&self, target: &str, token: &str) {
        let path = format!("/node/{target}/hostname");
        let end = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        while Instant::now() < end {
            match self.get(&path, token) {
                Some((200, _)) => return,
                other => last = other,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "no hostname job succeeded within 60 s; last answer {last:?}\n{}",
            self.log_tails()
        );
    }

    /// Totals per job status over every job (`GET /job`'s `status_counts`).
    pub fn job_counts(&self, token: &str) -> Option<std::collections::BTreeMap<String, usize>> {
        let (status, page) = self.get("/job?limit=1", token)?;
        if status != 200 {
            return None;
        }
        serde_json::from_value(page["status_counts"].clone()).ok()
    }
}

/// One blocking HTTP client for the whole test binary (it keeps connections alive).
pub fn client() -> &'static reqwest::blocking::Client {
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| super::blocking_http(Duration::from_secs(40)))
}
