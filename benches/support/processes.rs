//! The real deployment as processes: nats-server, `osapi controller start` and
//! `osapi agent start` from the built binary, each measurable through /proc.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{config, free_port, spawn_nats, KillOnDrop};

/// The three processes, stopped on drop.
pub struct Processes {
    /// `host:port` of the API.
    pub api: String,
    /// `nats://host:port` of the nats-server (the first of `pids`).
    pub nats_url: String,
    pub token: String,
    /// Name and pid of each process, for [`usage`].
    pub pids: Vec<(&'static str, i32)>,
    _dir: tempfile::TempDir,
    _children: Vec<KillOnDrop>,
}

impl Processes {
    /// [`usage`] of each process, in `pids` order.
    pub fn usages(&self) -> Vec<Usage> {
        self.pids.iter().map(|&(_, pid)| usage(pid)).collect()
    }
}

/// Starts nats-server, the controller (its command changed by `tweak_controller` first,
/// e.g. a file limit) and one agent, and waits until the API accepts connections.
pub fn start(tweak_controller: impl FnOnce(&mut Command)) -> Processes {
    let dir = tempfile::tempdir().expect("tempdir");
    let nats_port = free_port();
    let nats = KillOnDrop(spawn_nats(nats_port, &dir.path().join("store")));
    let mut config = config(nats_port);
    config.controller.api.port = free_port();
    let api = format!("127.0.0.1:{}", config.controller.api.port);
    let file = dir.path().join("osapi.yaml");
    std::fs::write(&file, serde_yaml::to_string(&config).expect("yaml")).expect("config");
    let osapi = |args: &[&str]| {
        let mut cmd = Command::new(osapi_binary());
        cmd.arg("-f").arg(&file).args(args).current_dir(dir.path());
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    };
    let mut controller = osapi(&["controller", "start"]);
    tweak_controller(&mut controller);
    let controller = KillOnDrop(controller.spawn().expect("controller"));
    // The controller writes the job key the agent trusts: it starts first.
    while std::net::TcpStream::connect(&api).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let agent = KillOnDrop(osapi(&["agent", "start"]).spawn().expect("agent"));
    let token = osapi::auth::Authenticator::new("bench-key", &Default::default())
        .and_then(|a| a.issue("bench", &["admin".into()], &[], Duration::from_secs(3600)))
        .expect("token");
    let pid = |c: &KillOnDrop| c.0.id() as i32;
    Processes {
        api,
        nats_url: format!("nats://127.0.0.1:{nats_port}"),
        token,
        pids: vec![
            ("nats", pid(&nats)),
            ("controller", pid(&controller)),
            ("agent", pid(&agent)),
        ],
        _dir: dir,
        _children: vec![agent, controller, nats],
    }
}

/// The `osapi` binary measured: `OSAPI_BENCH_BIN` when set (the shipped release build,
/// or an earlier build to compare with), else the one cargo built with this bench.
fn osapi_binary() -> std::ffi::OsString {
    std::env::var_os("OSAPI_BENCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_osapi").into())
}

/// CPU seconds used so far, resident and peak resident memory (bytes) of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub rss: u64,
    pub peak_rss: u64,
}

/// [`Usage`] of `pid`, from /proc.
pub fn usage(pid: i32) -> Usage {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return Usage::default();
    };
    let ticks = procfs::ticks_per_second() as f64;
    let cpu_seconds = process
        .stat()
        .map(|s| (s.utime + s.stime) as f64 / ticks)
        .unwrap_or_default();
    let status = process.status().ok();
    let kib = |v: Option<u64>| v.unwrap_or_default() * 1024;
    Usage {
        cpu_seconds,
        rss: kib(status.as_ref().and_then(|s| s.vmrss)),
        peak_rss: kib(status.as_ref().and_then(|s| s.vmhwm)),
    }
}

/// Waits until `n` hostname jobs have been answered 200 (the agent is up and serving).
pub async fn warm_up(http: &reqwest::Client, base: &str, token: &str, n: usize) {
    let mut ok = 0;
    while ok < n {
        let r = http
            .get(format!("{base}/node/_any/hostname"))
            .bearer_auth(token)
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 200 => ok += 1,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
