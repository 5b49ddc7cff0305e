//! TLS with a CA made in the test: the API over HTTPS (SDK, CLI, refusals), NATS with
//! mutual TLS for the controller and agents, the embedded nats-server's `tls` block, and
//! bad certificate files named by their keys at start.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pki::Pki;
use common::*;
use osapi::config::Config;

/// The run's CA under `OSAPI_TEST_TLS`, else one made for this binary: either way the
/// harness's NATS and these tests' clients agree.
fn pki() -> &'static Pki {
    static OWN: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    test_tls().unwrap_or_else(|| OWN.get_or_init(|| Pki::new("osapi tls test CA")))
}

/// A config for `nats` with every `tls` block set to [`pki`].
fn tls_config(nats: &Nats) -> Config {
    let mut c = config(nats.port);
    use_tls(&mut c, pki());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_answers_https_to_clients_that_trust_its_ca_and_no_one_else() {
    let nats = Nats::start_with(Some(pki()));
    let stack = Stack::with_fake_agents(tls_config(&nats), &["t1"]).await;
    assert!(stack.base.starts_with("https://"), "{}", stack.base);
    let admin = token(&["admin"], &[]);
    let (status, body) = stack.get("/node/t1/hostname", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(Stack::hosts(&body), ["t1"]);

    // Without the CA the certificate is not trusted.
    let stranger = reqwest::Client::new();
    let err = stranger
        .get(format!("{}/health", stack.base))
        .send()
        .await
        .expect_err("an unknown CA is refused");
    assert!(err.is_connect(), "{err:?}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = stack.base.replacen("https://", "http://", 1);
    let err = stranger
        .get(format!("{plain}/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect_err("plain HTTP is not answered");
    assert!(!err.is_timeout(), "closed at once, not held: {err:?}");

    // The SDK trusts a CA given as PEM, and only then.
    let sdk = osapi::sdk::Client::with_ca_pem(&stack.base, &admin, &pki().ca_pem()).expect("sdk");
    assert_eq!(
        hosts(&sdk.get_hostname("t1").await.expect("hostname")),
        ["t1"]
    );
    let untrusting = osapi::sdk::Client::new(&stack.base, &admin).expect("sdk");
    assert!(matches!(
        untrusting.get_hostname("t1").await,
        Err(osapi::sdk::SdkError::Transport { .. })
    ));
    assert!(matches!(
        osapi::sdk::Client::with_ca_pem(&stack.base, &admin, b"not a certificate"),
        Err(osapi::sdk::SdkError::Certificate(_))
    ));
    stack.shutdown().await;
}

fn hosts<T: osapi::sdk::HostEntry>(answer: &osapi::sdk::Collection<T>) -> Vec<String> {
    answer
        .results
        .iter()
        .map(|r| r.hostname().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_trusts_the_ca_of_its_flag_or_its_config_key() {
    let nats = Nats::start_with(Some(pki()));
    let stack = Stack::controller(tls_config(&nats)).await;
    stack.wait_ready().await;
    let dir = tempfile::tempdir().expect("dir");
    let ca = Pki::path(&pki().ca);
    let cli = |config_text: &str, extra: &[&str]| {
        let path = dir.path().join("osapi.yaml");
        std::fs::write(&path, config_text).expect("config");
        std::process::Command::new(env!("CARGO_BIN_EXE_osapi"))
            .arg("-f")
            .arg(&path)
            .args(["client", "health", "liveness", "--url", &stack.base])
            .args(["--token", &token(&["admin"], &[])])
            .args(extra)
            .output()
            .expect("run osapi")
    };
    let out = cli("", &["--ca-file", &ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &format!("controller:\n  client:\n    tls:\n      ca_file: {ca}\n"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli("", &[]);
    assert!(!out.status.success(), "no CA, no trust");
    let out = cli("", &["--ca-file", "/nonexistent/ca.pem"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--ca-file"), "{err}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_round_trips_over_mutual_tls_nats_and_strangers_are_refused() {
    let nats = Nats::start_with(Some(pki()));
    let cfg = tls_config(&nats);
    let mut stack = Stack::with_fake_agents(cfg.clone(), &["m1"]).await;
    stack.add_agent("m2", &[], fake_providers(FakeNode::new("m2")));
    stack.wait_agents(&["m2"]).await;
    let (status, body) = stack
        .get("/node/_all/hostname", Some(&token(&["admin"], &[])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(Stack::hosts(&body), ["m1", "m2"]);

    let url = format!("nats://127.0.0.1:{}", nats.port);
    // Plain NATS: the server's INFO requires TLS, and the client cannot verify it.
    assert!(async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .is_err());
    // The CA alone is not enough: the server asks for a client certificate.
    let mut no_cert = cfg.controller.nats.clone();
    no_cert.tls.cert_file.clear();
    no_cert.tls.key_file.clear();
    assert!(osapi::nats::connect(&no_cert, "controller.nats", false)
        .await
        .is_err());
    // With both, the controller's settings connect.
    osapi::nats::connect(&cfg.controller.nats, "controller.nats", false)
        .await
        .expect("mutual TLS");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_server_requires_tls_and_its_setup_connection_uses_it() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut cfg = config(port);
    use_tls(&mut cfg, pki());
    cfg.nats.server.port = port;
    cfg.nats.server.store_dir = dir.path().join("js").to_string_lossy().into();
    cfg.agent.hostname = "e1".into();
    let heartbeat = tokio_util::sync::CancellationToken::new();
    // Auth `auto` and mutual TLS: the setup connection is the controller's, over TLS.
    let server = osapi::app::start_nats(&cfg, &heartbeat)
        .await
        .expect("the embedded server starts with TLS");
    osapi::security::nats_auth::use_generated(&mut cfg, None);
    let client = osapi::nats::connect(&cfg.controller.nats, "controller.nats", false)
        .await
        .expect("the controller connects over TLS");
    assert!(client.server_info().tls_required, "the server requires TLS");
    heartbeat.cancel();
    server.stop().await;
}

#[tokio::test]
async fn bad_certificate_files_stop_each_component_naming_the_key() {
    let nats = Nats::start_with(Some(pki()));
    let good = tls_config(&nats);

    let mut cfg = good.clone();
    cfg.controller.api.tls.cert_file = "/nonexistent/api.pem".into();
    let err = serve_error(cfg).await;
    assert!(err.contains("controller.api.tls.cert_file"), "{err}");
    assert!(err.contains("/nonexistent/api.pem"), "{err}");
    // A key that is not the certificate's.
    let mut cfg = good.clone();
    cfg.controller.api.tls.key_file = Pki::path(&pki().client_key);
    let err = serve_error(cfg).await;
    assert!(err.contains("controller.api.tls.key_file"), "{err}");
    // A CA file with no certificate in it.
    let mut cfg = good.clone();
    cfg.controller.nats.tls.ca_file = Pki::path(&pki().server_key);
    let err = serve_error(cfg).await;
    assert!(err.contains("controller.nats.tls.ca_file"), "{err}");
    assert!(err.contains("no PEM certificate"), "{err}");

    // An agent does not wait out a bad file as it waits for NATS.
    let mut cfg = good.clone();
    cfg.agent.hostname = "bad".into();
    cfg.agent.nats.tls.ca_file = "/nonexistent/ca.pem".into();
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = osapi::agent::run(&cfg, fake_providers(FakeNode::new("bad")), cancel);
    let err = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the agent stops at once")
        .expect_err("the agent refuses to start")
        .to_string();
    assert!(err.contains("agent.nats.tls.ca_file"), "{err}");

    // The embedded server's files are checked before nats-server is started.
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = good;
    cfg.nats.server.store_dir = dir.path().join("js").to_string_lossy().into();
    cfg.nats.server.tls.key_file = "/nonexistent/nats.key".into();
    let err = osapi::app::start_nats(&cfg, &tokio_util::sync::CancellationToken::new())
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("nats.server.tls.key_file"), "{err}");
}

/// The error `controller::serve` stops with for `cfg`.
async fn serve_error(cfg: Config) -> String {
    let listener = osapi::controller::bind(&cfg).await.expect("bind");
    let serve = osapi::controller::serve(
        Arc::new(cfg),
        listener,
        tokio_util::sync::CancellationToken::new(),
    );
    tokio::time::timeout(Duration::from_secs(10), serve)
        .await
        .expect("stops at once")
        .expect_err("refused")
        .to_string()
}
