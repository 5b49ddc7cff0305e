//! Signed jobs (issue #25): agents run only job records signed by a trusted controller
//! key, refuse and report forged, altered, untrusted, copied, stale and replayed ones; the
//! controller accepts only answers signed with the key the agent publishes; a key
//! rotation keeps jobs flowing. A real nats-server, controllers and an agent, over HTTP.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use osapi::security::job_keys::JobSigner;
use serde_json::{json, Value};

const EXEC: &str = "osapi.jobs.modify.host.web-01";

/// Writes `bytes` as the record of `id` and publishes the id on `subject`, as anyone with
/// controller-level NATS access could.
async fn inject(js: &async_nats::jetstream::Context, id: &str, bytes: Vec<u8>, subject: &str) {
    let jobs = js
        .get_key_value("osapi-job-queue")
        .await
        .expect("job bucket");
    jobs.put(format!("jobs.{id}"), bytes.into())
        .await
        .expect("record");
    js.publish(subject.to_owned(), id.to_owned().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
}

/// A job record for `touch <marker>` on web-01, as the controller writes it (unsigned).
fn touch_record(id: &str, marker: &Path, expires_in: i64) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let at = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    json!({
        "id": id, "status": "unprocessed", "created": at(now), "subject": EXEC,
        "operation": {"type": "command.exec.execute",
                      "data": {"command": "touch", "args": [marker.to_string_lossy()]}},
        "target": "web-01", "kind": "modify",
        "expires": at(now + time::Duration::seconds(expires_in)),
    })
}

fn signed_by(signer: &JobSigner, record: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(record).expect("json");
    signer.sign_record(&body).expect("sign")
}

/// web-01's answer to job `id`, once written.
async fn answer(js: &async_nats::jetstream::Context, id: &str) -> Value {
    let responses = js
        .get_key_value("osapi-job-responses")
        .await
        .expect("bucket");
    for _ in 0..200 {
        if let Some(bytes) = responses.get(format!("{id}.web-01")).await.expect("get") {
            return serde_json::from_slice(&bytes).expect("answer json");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("web-01 never answered job {id}");
}

/// Injects `bytes` as a new job and checks web-01 refused it, naming `why`.
async fn refused(js: &async_nats::jetstream::Context, id: &str, bytes: Vec<u8>, why: &str) {
    inject(js, id, bytes, EXEC).await;
    let got = answer(js, id).await;
    assert_eq!(got["status"], "failed", "{got}");
    let error = got["error"].as_str().unwrap_or_default();
    assert!(error.contains(why), "{why:?} not in {got}");
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_run_only_signed_records_and_the_controller_only_signed_answers() {
    let nats = Nats::start();
    let config = config(nats.port);
    let (seed, old_key) = job_key(7);
    let (new_seed, new_key) = job_key(8);
    let mut stack = Stack::controller(config.clone()).await;
    stack.wait_ready().await;
    // web-01 trusts the current and the next controller key (a rotation under way);
    // web-02 only the current one.
    stack.add_agent_with(
        "web-01",
        &[],
        fake_providers(FakeNode::new("web-01")),
        |c| c.agent.security.controller_keys = vec![old_key.clone(), new_key.clone()],
    );
    stack.add_agent("web-02", &[], fake_providers(FakeNode::new("web-02")));
    stack.wait_agents(&["web-01", "web-02"]).await;
    let t = token(&["admin"], &[]);
    let js = async_nats::jetstream::new(nats_client(nats.port).await);
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("pwned");
    let signer = JobSigner::from_seed(&seed).expect("the controller's key");

    // A forged, unsigned record: refused, reported, never run.
    let id = new_id();
    let forged = serde_json::to_vec(&touch_record(&id, &marker, 600)).expect("json");
    refused(&js, &id, forged, "not signed").await;
    // Signed by a key nobody trusts.
    let stranger = JobSigner::from_seed(&job_key(9).0).expect("key");
    let id = new_id();
    let untrusted = signed_by(&stranger, &touch_record(&id, &marker, 600));
    refused(&js, &id, untrusted, "not trusted").await;
    // A validly signed record whose data was altered afterwards.
    let id = new_id();
    let harmless = touch_record(&id, &dir.path().join("harmless"), 600);
    let altered = String::from_utf8(signed_by(&signer, &harmless))
        .expect("utf8")
        .replace("harmless", "pwned");
    refused(&js, &id, altered.into_bytes(), "altered").await;
    // A signed record past its validity (an old record written again).
    let id = new_id();
    let stale = signed_by(&signer, &touch_record(&id, &marker, -1));
    refused(&js, &id, stale, "expired").await;

    // The refusal is on the job as web-01's failure, seen through the API.
    let (status, detail) = stack.get(&format!("/job/{id}"), Some(&t)).await;
    assert_eq!(
        (status, detail["status"].as_str()),
        (200, Some("failed")),
        "{detail}"
    );

    // A genuine record runs once; the same record notified again, or copied under
    // another id, is refused.
    let ran = dir.path().join("ran");
    let id = new_id();
    let genuine = signed_by(&signer, &touch_record(&id, &ran, 600));
    inject(&js, &id, genuine.clone(), EXEC).await;
    assert_eq!(answer(&js, &id).await["status"], "completed");
    assert!(ran.exists(), "a signed record runs");
    std::fs::remove_file(&ran).expect("rm");
    let responses = js
        .get_key_value("osapi-job-responses")
        .await
        .expect("bucket");
    responses
        .purge(format!("{id}.web-01"))
        .await
        .expect("purge answer");
    refused(&js, &id, genuine.clone(), "replayed").await;
    let copy = new_id();
    refused(&js, &copy, genuine, &format!("is job {id}, not {copy}")).await;
    assert!(!ran.exists(), "a replayed record never runs again");
    assert!(!marker.exists(), "no refused record ran");

    // Answers: the controller takes only those signed with the key the agent publishes.
    let (status, body) = stack.get("/node/web-01/hostname", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    forged_answer_is_rejected(&stack, &js, &t).await;

    // Rotation: a controller signing with the next key; web-01 trusts it, web-02 not yet.
    stack.controller.cancel();
    let mut rotated = config.clone();
    rotated.controller.api.security.job_key = new_seed;
    let next = Stack::controller(rotated).await;
    next.wait_ready().await;
    let (status, body) = next.get("/node/web-01/hostname", Some(&t)).await;
    assert_eq!(
        (status, Stack::hosts(&body)),
        (200, vec!["web-01".into()]),
        "{body}"
    );
    let (_, body) = next.get("/node/web-02/hostname", Some(&t)).await;
    assert!(body.to_string().contains("not trusted"), "{body}");
    next.controller.cancel();
    stack.shutdown().await;
}

/// An agent that is not running, "ghost", registered with an answer key: an answer signed
/// with another key, or not signed, is rejected and reported for ghost; one signed with
/// its key is taken.
async fn forged_answer_is_rejected(stack: &Stack, js: &async_nats::jetstream::Context, t: &str) {
    let key = nkeys::KeyPair::new_server();
    let now = "2030-01-01T00:00:00Z";
    let entry = json!({"hostname": "ghost", "registered_at": now, "started_at": now,
                       "answer_key": key.public_key()});
    let registry = js
        .get_key_value("osapi-agent-registry")
        .await
        .expect("registry");
    let responses = js
        .get_key_value("osapi-job-responses")
        .await
        .expect("bucket");
    let client = nats_client(stack.config.controller.nats.port).await;
    let mut jobs = client
        .subscribe("osapi.jobs.query.host.ghost")
        .await
        .expect("sub");
    client.flush().await.expect("flush");
    let wrong = nkeys::KeyPair::new_server();
    for (signer, want) in [
        (Some(&wrong), "not trusted"),
        (None, "not signed"),
        (Some(&key), ""),
    ] {
        registry
            .put(
                "agents.ghost",
                serde_json::to_vec(&entry).expect("json").into(),
            )
            .await
            .expect("register ghost");
        let call = stack.spawn_get("/node/ghost/hostname", t);
        let id = futures::StreamExt::next(&mut jobs)
            .await
            .expect("job for ghost");
        let id = osapi::wire::job::notified_job(&id.payload).0;
        let body = json!({"job_id": id, "status": "completed", "data": {"hostname": "ghost"},
                          "hostname": "ghost", "timestamp": now});
        let body = serde_json::to_vec(&body).expect("json");
        let stored = match signer {
            Some(k) => osapi::security::signed::sign(
                k,
                osapi::security::signed::Domain::JobResponse,
                &body,
            )
            .expect("sign"),
            None => body,
        };
        responses
            .put(format!("{id}.ghost"), stored.into())
            .await
            .expect("answer");
        let (status, got) = call.await.expect("request");
        let text = got.to_string();
        if want.is_empty() {
            assert_eq!(status, 200, "{got}");
            assert!(!text.contains("rejected"), "{got}");
        } else {
            assert!(
                text.contains("answer rejected") && text.contains(want),
                "{status} {got}"
            );
            let (_, detail) = stack.get(&format!("/job/{id}"), Some(t)).await;
            assert!(detail.to_string().contains("answer rejected"), "{detail}");
        }
    }
    registry.purge("agents.ghost").await.expect("unregister");
}
