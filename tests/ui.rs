//! The dashboard in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven through WebDriver against the real stack (nats-server, the
//! controller, two agents). One stack serves every check; each page is screenshotted
//! into `target/tmp/ui-screenshots/`.
//!
//! Without chromium or chromedriver the browser test says so and passes, unless
//! `OSAPI_REQUIRE_TOOLS` is set (as in CI), where it fails.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use osapi::auth::Permission;
use serde_json::{json, Value};

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Option<Self> {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        wait_for_port(port);
        Some(Self { child, port })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The W3C WebDriver commands these tests use, over HTTP. (The `thirtyfour` crate would
/// turn on serde_json's `preserve_order` for every test build of the crate.)
struct Browser {
    http: reqwest::Client,
    session: String,
}

/// The key W3C WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn open(driver: &Driver, binary: &str, args: &[String]) -> Self {
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args},
        }}});
        let base = format!("http://127.0.0.1:{}/session", driver.port);
        let r: Value = http
            .post(&base)
            .json(&caps)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"));
        Self {
            http,
            session: format!("{base}/{id}"),
        }
    }

    /// One command: its `value`, or the WebDriver error's message.
    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r: Value = req
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match r["value"].get("error") {
            Some(error) => Err(format!("{error}: {}", r["value"]["message"])),
            None => Ok(r["value"].clone()),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url}))
            .await
            .expect("navigate");
    }

    async fn url(&self) -> String {
        let url = self
            .cmd(reqwest::Method::GET, "/url", None)
            .await
            .expect("url");
        url.as_str().unwrap_or_default().to_owned()
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await
            .unwrap_or_default();
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
            .collect()
    }

    async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The first element `css` matches, waiting up to 20 s for one.
    async fn wait(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "never found {css}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks what `css` matches; again if htmx swapped it between finding and clicking.
    async fn click(&self, css: &str) {
        for _ in 0..20 {
            let e = self.wait(css).await;
            if self
                .post(&format!("/element/{e}/click"), json!({}))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not click {css}");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(css).await;
        self.post(&format!("/element/{e}/value"), json!({"text": text}))
            .await
            .expect("type");
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find_all(css).await.into_iter().next()?;
        let v = self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{e}/attribute/{name}"),
                None,
            )
            .await
            .ok()?;
        v.as_str().map(str::to_owned)
    }

    async fn text(&self, css: &str) -> String {
        let e = self.wait(css).await;
        let v = self
            .cmd(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await
            .expect("text");
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` in the page (a returned promise is awaited).
    async fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
            .expect("script")
    }

    async fn source(&self) -> String {
        let v = self
            .cmd(reqwest::Method::GET, "/source", None)
            .await
            .expect("source");
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await
            .expect("resize");
    }

    /// Writes a screenshot to `target/tmp/ui-screenshots/<name>.png`.
    async fn shot(&self, name: &str) {
        use base64::Engine;
        let v = self
            .cmd(reqwest::Method::GET, "/screenshot", None)
            .await
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("png");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    async fn quit(&self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None).await;
    }
}

fn tools_missing(why: &str) {
    assert!(
        std::env::var_os("OSAPI_REQUIRE_TOOLS").is_none(),
        "OSAPI_REQUIRE_TOOLS is set, but {why}"
    );
    eprintln!("skipped: {why} (apt-get install chromium chromium-driver)");
}

/// Waits until `check` holds, up to 20 s.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/")).await;
    b.type_into("#token", token).await;
    b.click("#sign-in").await;
    b.wait("header.top").await;
}

async fn card_state(b: &Browser, host: &str) -> String {
    b.attr(&format!(".card[data-host='{host}']"), "data-state")
        .await
        .unwrap_or_default()
}

/// A POST of the dashboard's operation form from the signed-in page itself (its cookie,
/// its CSRF token), answering the HTTP status.
async fn post_operation(b: &Browser, form: &str) -> i64 {
    let script = r#"
        const headers = JSON.parse(document.body.getAttribute('hx-headers'));
        return fetch('/ui/ops/run', {method: 'POST', body: arguments[0],
            headers: {...headers, 'Content-Type': 'application/x-www-form-urlencoded'}})
            .then(r => r.status);"#;
    b.exec(script, json!([form]))
        .await
        .as_i64()
        .expect("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let Some(browser) = chromium() else {
        return tools_missing("no chromium is installed");
    };
    let Some(chromedriver) = Driver::start() else {
        return tools_missing("no chromedriver is installed");
    };
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    // Each agent answers its own name as hostname: one row per agent, told apart.
    for (name, group) in [("web-01", "web"), ("web-02", "db")] {
        stack.add_agent(
            name,
            &[("group", group)],
            fake_providers(FakeNode::new(name)),
        );
    }
    stack.wait_agents(&["web-01", "web-02"]).await;
    let base = stack.base.clone();
    let (trap, _) = egress_trap();
    let dir = tempfile::tempdir().expect("tempdir");
    let netlog = dir.path().join("netlog.json");
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        // Chrome's form-autofill service asks Google about forms in the page's name.
        "--disable-features=AutofillServerCommunication",
    ]
    .map(str::to_owned)
    .to_vec();
    args.push(format!("--log-net-log={}", netlog.display()));
    args.push(format!("--proxy-server=http://127.0.0.1:{trap}"));
    args.extend(browser_tls_args());
    args.push(format!(
        "--user-data-dir={}",
        dir.path().join("profile").display()
    ));
    let b = Browser::open(&chromedriver, &which(browser), &args).await;

    // Signed out, the dashboard is the sign-in page.
    b.goto(&format!("{base}/")).await;
    b.wait("#token").await;
    assert!(b.url().await.ends_with("/ui/login"));
    b.shot("sign-in").await;

    // Sign in as admin: a card per agent, with its state and labels.
    sign_in(&b, &base, &token(&["admin"], &[])).await;
    let text = b.text(".card[data-host='web-01']").await;
    assert!(
        text.contains("web-01") && text.contains("Ready") && text.contains("group:web"),
        "{text}"
    );
    b.wait(".card[data-host='web-02']").await;
    b.wait("#components table").await;
    b.shot("fleet").await;

    // Run node.hostname.get on _all: one row per agent.
    b.goto(&format!("{base}/ui/ops")).await;
    b.click("#op-name option[value='node.hostname.get']").await;
    b.wait("#matching-count[data-count='2']").await;
    b.click("#run").await;
    b.wait("#op-results tbody tr").await;
    let mut hosts = Vec::new();
    for row in 1..=b.find_all("#op-results tbody tr").await.len() {
        let css = format!("#op-results tbody tr:nth-child({row})");
        hosts.push(b.attr(&css, "data-host").await.unwrap_or_default());
    }
    hosts.sort();
    assert_eq!(hosts, ["web-01", "web-02"]);
    b.shot("operations").await;

    // A change on _all asks first.
    b.click("#op-name option[value='node.hostname.update']")
        .await;
    b.wait("#field-hostname").await;
    b.click("#run").await;
    b.wait("#confirm").await;

    // Jobs: the run is listed; its detail shows both hosts.
    b.goto(&format!("{base}/ui/jobs")).await;
    b.shot("jobs").await;
    b.click("#jobs tbody tr a").await;
    b.wait("dl.job").await;
    let detail = b.source().await;
    assert!(detail.contains("node.hostname.get") && detail.contains("web-02"));
    b.shot("job").await;
    // Retry makes a new job linked to this one; delete (confirmed) removes it.
    let first = b.url().await;
    b.click("#retry").await;
    until("the retry's page", || async { b.url().await != first }).await;
    b.wait("dl.job").await;
    assert!(b.text("dl.job").await.contains("Retry of"));
    b.click("#delete").await;
    until("the confirmation", || async {
        b.post("/alert/accept", json!({})).await.is_ok()
    })
    .await;
    until("back at the list", || async {
        b.url().await.ends_with("/ui/jobs")
    })
    .await;
    b.goto(&format!("{base}/ui/audit")).await;
    b.wait("#export").await;
    b.shot("audit").await;

    // Drain web-01: its card changes in place, the page is not reloaded.
    b.goto(&format!("{base}/")).await;
    b.wait(".card[data-host='web-01'] button.action").await;
    b.exec("window.notReloaded = true;", json!([])).await;
    b.click(".card[data-host='web-01'] button.action").await;
    until("web-01 drains", || async {
        card_state(&b, "web-01").await.starts_with("Drain")
    })
    .await;
    until("web-01 shows Drained from its heartbeat", || async {
        card_state(&b, "web-01").await == "Drained"
    })
    .await;
    let kept = b
        .exec("return window.notReloaded === true;", json!([]))
        .await;
    assert_eq!(kept, json!(true), "the page was reloaded");
    b.shot("fleet-drained").await;
    b.click(".card[data-host='web-01'] button.action").await;
    until("web-01 is ready again", || async {
        card_state(&b, "web-01").await == "Ready"
    })
    .await;

    // Phone width: cards in one column, still usable.
    b.resize(390, 844).await;
    b.shot("fleet-phone").await;
    b.resize(1280, 900).await;

    // Sign out: back at the sign-in page, and the dashboard wants a token again.
    b.click("#sign-out").await;
    b.wait("#token").await;
    b.goto(&format!("{base}/ui/jobs")).await;
    b.wait("#token").await;

    // A token that may only read agents: no operation form, and a posted one is refused.
    sign_in(&b, &base, &token(&["read"], &[Permission::AgentRead])).await;
    b.wait(".card[data-host='web-02']").await;
    assert!(!b.exists("button.action").await, "a drain button is shown");
    b.goto(&format!("{base}/ui/ops")).await;
    b.wait("main h1").await;
    assert!(!b.exists("form#op").await, "an operation form is shown");
    assert!(!b.exists("nav a[href='/ui/ops']").await);
    b.shot("operations-read-only").await;
    let status = post_operation(&b, "op=node.hostname.get&target=_all").await;
    assert_eq!(status, 403);

    b.quit().await;
    drop(chromedriver);
    // Every request the pages made went to the controller.
    let requests = netlog_requests(&netlog, loopback_site(), &base);
    let by_page: Vec<&String> = requests.iter().filter(|r| r.1).map(|r| &r.0).collect();
    let elsewhere: Vec<&&String> = by_page
        .iter()
        .filter(|u| !u.starts_with(&format!("{base}/")))
        .collect();
    assert!(elsewhere.is_empty(), "the pages requested {elsewhere:?}");
    assert!(
        by_page
            .iter()
            .any(|u| u.ends_with("/ui/assets/htmx.min.js")),
        "{by_page:?}"
    );
    stack.shutdown().await;
}

fn which(program: &str) -> String {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| program.to_owned())
}

/// The session cookie and CSRF token of `token`, from a sign-in and the page it leads to.
async fn session(stack: &Stack, token: &str) -> (String, String) {
    let http = http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .post(format!("{}/ui/login", stack.base))
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Sent only over HTTPS where the API serves it.
    assert_eq!(
        cookie.contains("; Secure"),
        stack.config.controller.api.tls.enabled(),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().expect("pair").to_owned();
    let page = http
        .get(format!("{}/", stack.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = page
        .split("X-CSRF-Token&quot;:&quot;")
        .nth(1)
        .and_then(|rest| rest.split("&quot;").next())
        .expect("csrf token in the page")
        .to_owned();
    (cookie, csrf)
}

/// Without a browser: the dashboard beside the API, sessions, CSRF and permissions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_session_its_csrf_token_and_the_permission() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("web-01", &[], fake_providers(FakeNode::new("web-01")));
    stack.wait_agents(&["web-01"]).await;

    // The API keeps its paths, at both mounts, beside the dashboard's.
    for path in ["/health", "/api/health"] {
        let (status, body) = stack.get(path, None).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("ok")),
            "{path}"
        );
    }
    let (status, _) = stack.get("/agent", None).await;
    assert_eq!(status, 401, "the API still wants its bearer token");
    let (status, body) = stack.get("/no-such-endpoint", None).await;
    assert_eq!((status, body["error"].is_string()), (404, true));
    let http = http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .get(format!("{}/", stack.base))
        .send()
        .await
        .expect("/");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/login");
    let bad = http
        .post(format!("{}/ui/login", stack.base))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(bad.status(), 401);

    let run = |cookie: String,
               csrf: Option<String>,
               origin: Option<&'static str>,
               form: &'static [(&'static str, &'static str)]| {
        let mut r = http
            .post(format!("{}/ui/ops/run", stack.base))
            .header("cookie", cookie)
            .form(form);
        if let Some(csrf) = csrf {
            r = r.header("x-csrf-token", csrf);
        }
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.send()
    };
    const GET: &[(&str, &str)] = &[("op", "node.hostname.get"), ("target", "_all")];
    const RENAME: &[(&str, &str)] = &[
        ("op", "node.hostname.update"),
        ("target", "web-01"),
        ("f.hostname", "renamed"),
    ];
    let (cookie, csrf) = session(&stack, &token(&["admin"], &[])).await;
    let ok = run(cookie.clone(), Some(csrf.clone()), None, GET)
        .await
        .expect("run");
    assert_eq!(ok.status(), 200);
    let body = ok.text().await.expect("body");
    assert!(body.contains("data-host=\"web-01\""), "{body}");
    let no_csrf = run(cookie.clone(), None, None, GET).await.expect("run");
    assert_eq!(no_csrf.status(), 403);
    let wrong = run(cookie.clone(), Some("0".repeat(32)), None, GET)
        .await
        .expect("run");
    assert_eq!(wrong.status(), 403);
    let elsewhere = run(
        cookie.clone(),
        Some(csrf.clone()),
        Some("http://evil.example"),
        GET,
    )
    .await
    .expect("run");
    assert_eq!(elsewhere.status(), 403);
    let bad_field: &'static [(&str, &str)] =
        &[("op", "node.hostname.get"), ("target", "no such host")];
    let r = run(cookie.clone(), Some(csrf.clone()), None, bad_field)
        .await
        .expect("run");
    assert_eq!(r.status(), 400);

    // The read role may read but not rename: the API's guard answers 403, no job runs.
    let (cookie, csrf) = session(&stack, &token(&["read"], &[])).await;
    let r = run(cookie.clone(), Some(csrf.clone()), None, GET)
        .await
        .expect("run");
    assert_eq!(r.status(), 200);
    let r = run(cookie.clone(), Some(csrf.clone()), None, RENAME)
        .await
        .expect("run");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("node:write"));
    let drain = http
        .post(format!("{}/ui/agent/web-01/drain", stack.base))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("drain");
    assert_eq!(drain.status(), 403);
    stack.shutdown().await;
}

/// `controller.ui.enabled: false`: no dashboard, `/` is the API's unknown path again.
#[tokio::test]
async fn a_disabled_dashboard_leaves_the_root_to_the_api() {
    let (_closed, nats) = closed_port();
    let mut cfg = config(nats);
    cfg.controller.ui.enabled = false;
    let stack = Stack::controller(cfg).await;
    for path in ["/", "/ui/login", "/ui/assets/htmx.min.js"] {
        let (status, body) = stack.get(path, None).await;
        assert_eq!((status, body["error"].is_string()), (404, true), "{path}");
    }
    let (status, _) = stack.get("/health", None).await;
    assert_eq!(status, 200);
    stack.shutdown().await;
}
