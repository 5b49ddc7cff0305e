//! Authenticated NATS by default: the embedded server as `osapi start` runs it (auth
//! `auto`), what it refuses, what an agent's credentials cannot do, and a controller and
//! agents doing their whole work through the generated credentials.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use osapi::config::Config;
use osapi::nats::supervisor::SupervisorHandle;
use osapi::security::nats_auth;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The embedded NATS of `osapi start` in a temp dir, with credentials for `agents` (the
/// first is "this host's" agent).
struct Secured {
    config: Config,
    nats: SupervisorHandle,
    _dir: tempfile::TempDir,
    heartbeat: CancellationToken,
}

impl Secured {
    async fn start(agents: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut config = config(port);
        config.nats.server.port = port;
        config.nats.server.store_dir = dir.path().join("jetstream").to_string_lossy().into();
        config.agent.hostname = agents[0].into();
        config.nats.server.auth.agents = agents[1..].iter().map(|a| a.to_string()).collect();
        let heartbeat = CancellationToken::new();
        let nats = osapi::app::start_nats(&config, &heartbeat)
            .await
            .expect("the embedded NATS starts with generated credentials");
        // As `osapi start` does for its controller.
        nats_auth::use_generated(&mut config, None);
        Self {
            config,
            nats,
            _dir: dir,
            heartbeat,
        }
    }

    fn url(&self) -> String {
        self.nats.url()
    }

    async fn stop(self) {
        self.heartbeat.cancel();
        self.nats.stop().await;
    }

    /// A client with the controller's credentials.
    async fn controller(&self) -> async_nats::Client {
        osapi::nats::connect(&self.config.controller.nats, "controller.nats", false)
            .await
            .expect("the controller's credentials are accepted")
    }

    /// A client with `host`'s agent credentials, and the server errors it is sent.
    async fn agent(&self, host: &str) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
        let seed = std::fs::read_to_string(nats_auth::agent_seed(&self.config, host))
            .expect("the agent's seed was generated");
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let client = nats_options()
            .nkey(seed.trim().to_owned())
            .custom_inbox_prefix(nats_auth::inbox_prefix(host))
            .event_callback(move |event| {
                let sink = sink.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        sink.lock().expect("errors").push(e.to_string());
                    }
                }
            })
            .connect(self.url())
            .await
            .expect("the agent's credentials are accepted");
        (client, errors)
    }
}

/// A KV bucket opened by `client`.
async fn bucket(client: &async_nats::Client, name: &str) -> async_nats::jetstream::kv::Store {
    async_nats::jetstream::new(client.clone())
        .get_key_value(name)
        .await
        .expect("the bucket opens")
}

/// Waits until the server told the client it may not publish to / subscribe to `subject`.
async fn refused(errors: &Mutex<Vec<String>>, what: &str, subject: &str) {
    let want = format!("Permissions Violation for {what} to \"{subject}\"");
    for _ in 0..100 {
        if errors
            .lock()
            .expect("errors")
            .iter()
            .any(|e| e.contains(&want))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no {want:?}; the server said: {:?}",
        errors.lock().expect("errors")
    );
}

#[tokio::test]
async fn without_credentials_the_embedded_nats_refuses_connections() {
    let nats = Secured::start(&["web-01"]).await;
    let err = nats_options()
        .connect(nats.url())
        .await
        .expect_err("an anonymous client is refused");
    assert_eq!(
        err.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation
    );
    // A seed the server was not given is refused too.
    let stranger = nkeys::KeyPair::new_user().seed().expect("seed");
    let err = nats_options()
        .nkey(stranger)
        .connect(nats.url())
        .await
        .expect_err("an unknown NKey is refused");
    assert_eq!(
        err.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation
    );
    // osapi's own connection says where the credentials come from.
    let mut anonymous = nats.config.agent.nats.clone();
    anonymous.auth.nkey_file = "/nonexistent/agent.nk".into();
    let err = osapi::nats::connect(&anonymous, "agent.nats", false)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("osapi nats server start"), "{err}");
    nats.stop().await;
}

#[tokio::test]
async fn an_agent_writes_only_as_itself_and_reads_no_other_hosts_answers() {
    let nats = Secured::start(&["web-01", "web-02"]).await;
    let controller = nats.controller().await;
    let jobs = bucket(&controller, "osapi-job-queue").await;
    let responses = bucket(&controller, "osapi-job-responses").await;
    jobs.put("jobs.j1", r#"{"id":"j1"}"#.into())
        .await
        .expect("record");
    responses
        .put("j1.web-02", "web-02's answer".into())
        .await
        .expect("answer");

    let (agent, errors) = nats.agent("web-01").await;
    // What an agent does: read the record, answer as itself.
    let agent_jobs = bucket(&agent, "osapi-job-queue").await;
    assert!(agent_jobs.get("jobs.j1").await.expect("read").is_some());
    bucket(&agent, "osapi-job-responses")
        .await
        .put("j1.web-01", "mine".into())
        .await
        .expect("its own answer");

    // No job record, no job notification, nothing under another host's name.
    for subject in [
        "$KV.osapi-job-queue.jobs.forged",
        "osapi.jobs.modify.host.web-01",
        "osapi.jobs.query._all",
        "$KV.osapi-job-responses.j1.web-02",
        "$KV.osapi-job-queue.status.j1.completed.web-02.1",
        "$KV.osapi-agent-registry.agents.web-02",
        "$KV.osapi-agent-facts.facts.web-02",
        "$KV.osapi-agent-state.drain.web-01",
        "$JS.API.STREAM.DELETE.osapi-JOBS",
    ] {
        agent
            .publish(subject, "forged".into())
            .await
            .expect("publish");
        agent.flush().await.expect("flush");
        refused(&errors, "Publish", subject).await;
    }
    // No reading of another host's answer: not by key, not by sequence, not by consumer,
    // not by listening to the bucket or to the controller's replies.
    for subject in [
        "$JS.API.DIRECT.GET.KV_osapi-job-responses.$KV.osapi-job-responses.j1.web-02",
        "$JS.API.DIRECT.GET.KV_osapi-job-responses",
        "$JS.API.STREAM.MSG.GET.KV_osapi-job-responses",
        "$JS.API.CONSUMER.CREATE.KV_osapi-job-responses",
    ] {
        agent
            .publish_with_reply(subject, agent.new_inbox(), "{}".into())
            .await
            .expect("publish");
        agent.flush().await.expect("flush");
        refused(&errors, "Publish", subject).await;
    }
    for subject in ["$KV.osapi-job-responses.>", "_INBOX.>", "osapi.jobs.>"] {
        let _sub = agent.subscribe(subject).await.expect("subscribe");
        agent.flush().await.expect("flush");
        refused(&errors, "Subscription", subject).await;
    }

    // Nothing it tried got through.
    assert!(jobs.get("jobs.forged").await.expect("get").is_none());
    assert_eq!(
        responses.get("j1.web-02").await.expect("get").as_deref(),
        Some(&b"web-02's answer"[..])
    );
    assert_eq!(
        responses.get("j1.web-01").await.expect("get").as_deref(),
        Some(&b"mine"[..])
    );
    nats.stop().await;
}

async fn wait_state(stack: &Stack, host: &str, token: &str, want: &str) {
    for _ in 0..200 {
        let (_, info) = stack.get(&format!("/agent/{host}"), Some(token)).await;
        if info["state"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{host} never became {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_and_agents_do_their_whole_work_with_the_generated_credentials() {
    let nats = Secured::start(&["web-01", "web-02"]).await;
    let mut stack = Stack::controller(nats.config.clone()).await;
    stack.wait_ready().await;
    let root = tempfile::tempdir().expect("tempdir");
    for (host, labels) in [
        ("web-01", [("group", "web.dev")]),
        ("web-02", [("group", "web.prod")]),
    ] {
        std::fs::create_dir(root.path().join(host)).expect("dir");
        stack.add_agent_with(host, &labels, fake_providers(FakeNode::new(host)), |cfg| {
            nats_auth::use_generated(cfg, Some(host));
        });
    }
    stack.wait_agents(&["web-01", "web-02"]).await;
    let t = token(&["admin"], &[]);

    // Every route: unicast, broadcast, load-balanced, by label.
    let (status, body) = stack.get("/node/_all/hostname", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(Stack::hosts(&body), ["web-01", "web-02"]);
    let (status, body) = stack.get("/node/_any/hostname", Some(&t)).await;
    assert_eq!((status, Stack::hosts(&body).len()), (200, 1), "{body}");
    let (status, body) = stack.get("/node/group:web.prod/hostname", Some(&t)).await;
    assert_eq!(
        (status, Stack::hosts(&body)),
        (200, vec!["web-02".to_owned()])
    );
    // Job detail: the agents' status events and answers are there.
    let id = body["job_id"].as_str().expect("job id");
    let (status, detail) = stack.get(&format!("/job/{id}"), Some(&t)).await;
    assert_eq!(
        (status, detail["status"].as_str()),
        (200, Some("completed")),
        "{detail}"
    );

    // Registry and facts, written by each agent under its own name.
    let (status, agents) = stack.get("/agent", Some(&t)).await;
    assert_eq!(status, 200, "{agents}");
    assert_eq!(agents["total"], 2, "{agents}");

    // Drain and undrain reach the agent through its one readable state key.
    assert_eq!(
        stack.post("/agent/web-02/drain", &t, json!({})).await.0,
        200
    );
    wait_state(&stack, "web-02", &t, "Drained").await;
    assert_eq!(
        stack.post("/agent/web-02/undrain", &t, json!({})).await.0,
        200
    );
    wait_state(&stack, "web-02", &t, "Ready").await;
    stack.wait_agents(&["web-02"]).await;

    // Files: the agents read the object store and write their deploy state.
    let (status, body) = stack
        .upload(&t, "app.conf", "raw", b"port=80\n", false)
        .await;
    assert_eq!(status, 201, "{body}");
    let path = format!("{}/@fact.hostname/app.conf", root.path().display());
    let deploy = json!({"object_name": "app.conf", "path": path});
    let (status, body) = stack.post("/node/_all/file/deploy", &t, deploy).await;
    assert_eq!(status, 202, "{body}");
    for host in ["web-01", "web-02"] {
        let file = root.path().join(host).join("app.conf");
        assert_eq!(std::fs::read(&file).expect("deployed"), b"port=80\n");
    }
    let status_req = json!({"path": format!("{}/@fact.hostname/app.conf", root.path().display())});
    let (status, body) = stack.post("/node/_all/file/status", &t, status_req).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["results"]
            .as_array()
            .is_some_and(|r| r.iter().all(|h| h["status"] == "in-sync")),
        "{body}"
    );
    stack.shutdown().await;
    nats.stop().await;
}
