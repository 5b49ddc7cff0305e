//! osapi as a systemd service: `READY=1` only once a unit's parts serve, `STOPPING=1` on
//! SIGTERM and a graceful stop within the unit's `TimeoutStopSec`; and the API docs page,
//! loaded by a real headless browser, that fetches nothing from anywhere but the
//! controller.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_osapi");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A unit's `TimeoutStopSec`, as shipped in `pkg/systemd/`.
fn timeout_stop(unit: &str) -> Duration {
    let text = std::fs::read_to_string(repo(&format!("pkg/systemd/{unit}"))).expect("unit file");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .unwrap_or_else(|| panic!("{unit} has no TimeoutStopSec"));
    humantime::parse_duration(value.trim()).expect("TimeoutStopSec is a duration")
}

/// The notification socket a unit's process writes to, as systemd's would be.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Self {
            socket,
            path,
            _dir: dir,
        }
    }

    /// Waits for a datagram with the line `want`; returns every line seen until then.
    fn wait_for(&self, want: &str, timeout: Duration, child: &mut Child) -> Vec<String> {
        let end = Instant::now() + timeout;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                seen.extend(text.lines().map(str::to_owned));
                if text.lines().any(|l| l == want) {
                    return seen;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("osapi exited ({status}) before {want}; saw {seen:?}");
            }
        }
        panic!("no {want} within {timeout:?}; saw {seen:?}");
    }
}

/// `osapi -f osapi.yaml.example <args>` on loopback ports of its own, in its own
/// directory, notifying `notify`; stderr kept in `dir/osapi.log`.
fn spawn(args: &[&str], dir: &Path, ports: (u16, u16), notify: &NotifySocket) -> Child {
    let (nats, api) = (ports.0.to_string(), ports.1.to_string());
    let log = std::fs::File::create(dir.join("osapi.log")).expect("log");
    Command::new(BIN)
        .arg("-f")
        .arg(repo("osapi.yaml.example"))
        .args(args)
        .current_dir(dir)
        .env("NOTIFY_SOCKET", &notify.path)
        .envs(
            [
                "OSAPI_NATS_SERVER_HOST",
                "OSAPI_CONTROLLER_NATS_HOST",
                "OSAPI_AGENT_NATS_HOST",
                "OSAPI_CONTROLLER_API_HOST",
            ]
            .map(|k| (k, "127.0.0.1")),
        )
        .envs(
            [
                "OSAPI_NATS_SERVER_PORT",
                "OSAPI_CONTROLLER_NATS_PORT",
                "OSAPI_AGENT_NATS_PORT",
            ]
            .map(|k| (k, nats.as_str())),
        )
        .env("OSAPI_CONTROLLER_API_PORT", &api)
        .env("OSAPI_CONTROLLER_API_SECURITY_SIGNING_KEY", SIGNING_KEY)
        .envs(tls_env())
        .env(
            "OSAPI_NATS_OBJECTS_MAX_BYTES",
            OBJECTS_MAX_BYTES.to_string(),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn osapi")
}

/// SIGTERM, then the time until exit (failing past `limit`) and the exit status.
fn terminate(child: &mut Child, limit: Duration) -> (Duration, std::process::ExitStatus) {
    let started = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (started.elapsed(), status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("osapi did not stop within TimeoutStopSec ({limit:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http() -> reqwest::blocking::Client {
    blocking_http(Duration::from_secs(30))
}

#[test]
fn osapi_start_is_ready_when_a_job_runs_and_stops_in_time_with_a_job_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notify = NotifySocket::new();
    let (nats, api) = (free_port(), free_port());
    let mut child = spawn(&["start"], dir.path(), (nats, api), &notify);
    let seen = notify.wait_for("READY=1", Duration::from_secs(90), &mut child);
    // Two parts said so first; READY came with the third.
    let progress = seen
        .iter()
        .filter(|l| l.starts_with("STATUS=") && l.ends_with(" ready"))
        .count();
    assert_eq!(progress, 2, "{seen:?}");

    // At READY a job already runs: the API, NATS and the agent all serve.
    let base = format!("{}://127.0.0.1:{api}", scheme());
    let token = token(&["admin"], &[]);
    let answer = http()
        .get(format!("{base}/api/node/_any/hostname"))
        .bearer_auth(&token)
        .send()
        .expect("hostname request");
    assert_eq!(answer.status(), 200, "{:?}", answer.text());

    // A job in flight at SIGTERM still finishes and answers.
    let in_flight = {
        let (base, token) = (base.clone(), token.clone());
        std::thread::spawn(move || {
            http()
                .post(format!("{base}/api/node/_any/command/exec"))
                .bearer_auth(token)
                .json(&serde_json::json!({"command": "sleep", "args": ["2"]}))
                .send()
                .and_then(|r| r.json::<serde_json::Value>())
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    let limit = timeout_stop("osapi.service");
    let (took, status) = terminate(&mut child, limit);
    let log = std::fs::read_to_string(dir.path().join("osapi.log")).unwrap_or_default();
    assert!(status.success(), "exit {status}; log:\n{log}");
    let answer = in_flight.join().expect("request thread");
    let exit_code = answer
        .as_ref()
        .ok()
        .map(|a| a["results"][0]["exit_code"].clone());
    assert_eq!(
        exit_code,
        Some(serde_json::json!(0)),
        "the in-flight job was cut off: {answer:?}; log:\n{log}"
    );
    let after: Vec<String> = drain(&notify);
    assert!(after.iter().any(|l| l == "STOPPING=1"), "{after:?}");
    eprintln!("osapi start stopped in {took:?} (TimeoutStopSec {limit:?})");
}

fn drain(notify: &NotifySocket) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = notify.socket.recv(&mut buf) {
        seen.extend(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_owned),
        );
    }
    seen
}

#[test]
fn the_controller_is_ready_once_it_reaches_nats_and_stops_in_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notify = NotifySocket::new();
    let (nats, api) = (free_port(), free_port());
    let mut child = spawn(&["controller", "start"], dir.path(), (nats, api), &notify);
    // Without NATS it answers (503 for what needs NATS) but is not ready.
    let base = format!("{}://127.0.0.1:{api}", scheme());
    wait_for_port(api);
    std::thread::sleep(Duration::from_secs(2));
    let early = drain(&notify);
    assert!(!early.iter().any(|l| l == "READY=1"), "{early:?}");
    let ready = http()
        .get(format!("{base}/health/ready"))
        .send()
        .expect("ready");
    assert_eq!(ready.status(), 503);

    let store = tempfile::tempdir().expect("store");
    let mut server = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &nats.to_string(), "-sd"])
        .arg(store.path())
        .args(nats_server_tls_args(store.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server");
    notify.wait_for("READY=1", Duration::from_secs(30), &mut child);
    let ready = http()
        .get(format!("{base}/health/ready"))
        .send()
        .expect("ready");
    assert_eq!(ready.status(), 200, "at READY the controller serves");
    let (_, status) = terminate(&mut child, timeout_stop("osapi-controller.service"));
    let _ = server.kill();
    let _ = server.wait();
    assert!(status.success(), "exit {status}");
    assert!(drain(&notify).iter().any(|l| l == "STOPPING=1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_docs_render_in_a_headless_browser_from_the_controller_alone() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("OSAPI_REQUIRE_TOOLS").is_none(),
            "OSAPI_REQUIRE_TOOLS is set but no chromium is installed"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let (_closed, nats) = closed_port();
    let mut cfg = config(nats);
    cfg.controller.metrics.enabled = true;
    cfg.controller.metrics.host = "127.0.0.1".into();
    cfg.controller.metrics.port = free_port();
    let metrics_port = cfg.controller.metrics.port;
    let stack = Stack::controller(cfg).await;
    let (trap, trapped) = egress_trap();
    let dir = tempfile::tempdir().expect("tempdir");

    for (i, mount) in ["/api/docs", "/docs"].into_iter().enumerate() {
        let page = format!("{}{mount}", stack.base);
        let netlog = dir.path().join(format!("netlog-{i}.json"));
        let out = tokio::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--virtual-time-budget=20000",
                "--dump-dom",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg(format!("--log-net-log={}", netlog.display()))
            // Loopback is never proxied; everything else goes to the trap.
            .arg(format!("--proxy-server=http://127.0.0.1:{trap}"))
            .args(browser_tls_args())
            .arg(&page)
            .output()
            .await
            .expect("run chromium");
        let dom = String::from_utf8_lossy(&out.stdout);
        // Swagger UI built the page from the document: the title and every operation.
        assert!(
            dom.contains("swagger-ui") && dom.contains(r#"class="title""#),
            "{mount}: not rendered; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let operations = dom.matches("opblock-summary-path").count();
        assert!(
            operations >= 20,
            "{mount}: {operations} operations rendered"
        );
        assert!(dom.contains("/api/node/{hostname}/hostname"), "{mount}");

        // Every request the page made went to the controller; the browser's own are not
        // the page's, and went nowhere but the trap.
        let requests = netlog_requests(&netlog, loopback_site(), &stack.base);
        let by_page: Vec<&String> = requests.iter().filter(|r| r.1).map(|r| &r.0).collect();
        let elsewhere: Vec<&&String> = by_page
            .iter()
            .filter(|u| !u.starts_with(&format!("{}/", stack.base)))
            .collect();
        assert!(
            elsewhere.is_empty(),
            "{mount}: the page requested {elsewhere:?}"
        );
        let prefix = mount.trim_end_matches("/docs");
        for want in ["/docs", "/docs/swagger-ui-bundle.js", "/openapi.json"] {
            let url = format!("{}{prefix}{want}", stack.base);
            assert!(
                by_page.contains(&&url),
                "{mount}: {url} not among {by_page:?}"
            );
        }
    }
    eprintln!(
        "the browser's own requests, caught by the trap: {:?}",
        trapped.lock().expect("lock")
    );

    // The controller's own request log: it served the page, every asset and the document.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    for mount in ["/api", ""] {
        for path in [
            "/docs",
            "/docs/swagger-ui.css",
            "/docs/swagger-ui-bundle.js",
            "/docs/osapi-docs.js",
            "/openapi.json",
        ] {
            let route = format!(r#"route="{mount}{path}""#);
            assert!(
                metrics.lines().any(|l| l.contains("http_requests_total")
                    && l.contains(&route)
                    && l.contains(r#"status="200""#)),
                "{route} was not served:\n{metrics}"
            );
        }
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn docs_pages_forbid_other_origins_and_their_assets_are_embedded() {
    let (_closed, nats) = closed_port();
    let stack = Stack::controller(config(nats)).await;
    let http = http_client();
    let page = http
        .get(format!("{}/api/docs", stack.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
    // No token needed, as for /health.
    let bundle = http
        .get(format!("{}/api/docs/swagger-ui-bundle.js", stack.base))
        .send()
        .await
        .expect("bundle");
    assert_eq!(bundle.status(), 200);
    assert_eq!(
        bundle.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let body = bundle.bytes().await.expect("body");
    let vendored = std::fs::read(repo("assets/swagger-ui/swagger-ui-bundle.js")).expect("file");
    assert!(
        body == vendored,
        "served bundle differs from the vendored one"
    );
    // With a slash the relative URLs would break: it redirects to the page.
    let slash = http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/api/docs/", stack.base))
        .send()
        .await
        .expect("slash");
    assert_eq!(slash.status(), 308);
    assert_eq!(slash.headers()["location"], "../docs");
    stack.shutdown().await;
}
