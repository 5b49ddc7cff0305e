//! Job management: list with totals and pages, detail, delete, retry.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

async fn two_agents(nats: &Nats) -> Stack {
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[("group", "web")], fake_providers(FakeNode::new("a")));
    stack.add_agent("b", &[("group", "web")], fake_providers(FakeNode::new("b")));
    stack.wait_agents(&["a", "b"]).await;
    stack
}

async fn post(stack: &Stack, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = stack
        .http
        .post(format!("{}{path}", stack.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_pages_totals_get_delete_and_retry() {
    let nats = Nats::start();
    let stack = two_agents(&nats).await;
    let t = token(&["write"], &[]);
    // wait_agents ran a couple of jobs already; count from here on.
    let (_, before) = stack.get("/job?limit=1", Some(&t)).await;
    let base = before["total_items"].as_u64().expect("total") as usize;

    let mut ids = Vec::new();
    for _ in 0..200 {
        let (status, body) = stack.get("/node/_any/hostname", Some(&t)).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["job_id"].as_str().expect("id").to_owned());
    }
    // Read at once, no polling: an agent records a job's outcome before it answers, so
    // every answered job already counts as completed.
    let (status, page) = stack.get("/job?limit=100", Some(&t)).await;
    assert_eq!(status, 200, "{page}");
    let total = base + 200;
    assert_eq!(
        page["total_items"].as_u64(),
        Some(total as u64),
        "{}",
        page["status_counts"]
    );
    assert_eq!(
        page["status_counts"]["completed"].as_u64(),
        Some(total as u64)
    );
    assert!(page.get("jobs").is_none() && page.get("total_jobs").is_none());
    // List items: the spec's names; `changed` always present and null; `result` as
    // exactly one host answered; no per-host maps.
    let item = &page["items"][0];
    assert_eq!(item["operation"]["type"], "node.hostname.get", "{item}");
    assert!(item["operation"]["data"].is_object(), "{item}");
    assert!(item.as_object().expect("item").contains_key("changed"));
    assert!(item["changed"].is_null());
    assert_eq!(item["status"], "completed");
    assert!(item["result"]["hostname"].is_string(), "{item}");
    assert!(
        item["hostname"].is_string() && item["updated_at"].is_string(),
        "{item}"
    );
    for absent in ["responses", "agent_states", "timeline"] {
        assert!(
            item.get(absent).is_none(),
            "{absent} in a list item: {item}"
        );
    }

    // Pages neither overlap nor skip, newest first.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (_, page) = stack
            .get(&format!("/job?limit=7&offset={offset}"), Some(&t))
            .await;
        let jobs = page["items"].as_array().expect("items").clone();
        if jobs.is_empty() {
            break;
        }
        seen.extend(
            jobs.iter()
                .map(|j| j["id"].as_str().expect("id").to_owned()),
        );
        offset += 7;
    }
    assert_eq!(seen.len(), total);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        total,
        "pages overlap"
    );
    let listed: BTreeSet<&String> = seen.iter().collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !listed.contains(id)).collect();
    assert!(missing.is_empty(), "submitted jobs not listed: {missing:?}");
    let newest: Vec<String> = ids.iter().rev().take(5).cloned().collect();
    assert_eq!(seen[..5], newest[..]);
    let (_, failed) = stack.get("/job?status=failed", Some(&t)).await;
    assert_eq!(failed["total_items"].as_u64(), Some(0));
    assert_eq!(failed["items"], json!([]));
    let (status, bad) = stack.get("/job?status=weird", Some(&t)).await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("status")));
    let (status, bad) = stack.get("/job?limit=1000", Some(&t)).await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("limit")));

    // A broadcast's detail shows each host's response.
    let (_, body) = stack.get("/node/group:web/hostname", Some(&t)).await;
    let id = body["job_id"].as_str().expect("id").to_owned();
    // The `completed` events follow the responses the caller already has.
    let mut job = Value::Null;
    for _ in 0..100 {
        let (status, j) = stack.get(&format!("/job/{id}"), Some(&t)).await;
        assert_eq!(status, 200, "{j}");
        job = j;
        if job["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["operation"]["type"], "node.hostname.get");
    assert_eq!(job["responses"]["a"]["status"], "completed");
    assert_eq!(job["responses"]["a"]["hostname"], "a");
    assert!(job["responses"]["a"]
        .as_object()
        .expect("response")
        .contains_key("changed"));
    assert_eq!(job["responses"]["b"]["data"]["hostname"], "b");
    // Several answers: no single result; a query changed nothing, so `changed` is null.
    assert!(job.get("result").is_none(), "{job}");
    assert!(job.as_object().expect("job").contains_key("changed"));
    assert!(job["changed"].is_null(), "{job}");
    assert!(job.get("error").is_none(), "{job}");
    assert!(
        ["a", "b"].contains(&job["hostname"].as_str().unwrap_or("")),
        "{job}"
    );
    assert!(job["updated_at"].is_string(), "{job}");
    for host in ["a", "b"] {
        let state = &job["agent_states"][host];
        assert_eq!(state["status"], "completed", "{job}");
        let d = state["duration"].as_str().unwrap_or("");
        assert!(
            d.ends_with('s') && d.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "duration {d:?} is not a Go duration: {job}"
        );
    }
    let timeline = job["timeline"].as_array().expect("timeline");
    assert!(
        timeline
            .iter()
            .all(|e| e["message"].is_string() && e["timestamp"].is_string()),
        "{job}"
    );
    let stamps: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["timestamp"].as_str())
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "timeline not ascending");
    assert!(timeline
        .iter()
        .any(|e| e["event"] == "completed" && e["message"] == "Job completed successfully on a"));
    let events: Vec<&str> = job["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(
        events.contains(&"started") && events.contains(&"completed"),
        "{events:?}"
    );
    // Each host stores one `started` event; the timeline shows the acknowledgement it
    // stands for just before it.
    for host in ["a", "b"] {
        let of_host: Vec<&str> = timeline
            .iter()
            .filter(|e| e["hostname"] == host)
            .filter_map(|e| e["event"].as_str())
            .collect();
        assert_eq!(of_host, ["acknowledged", "started", "completed"], "{job}");
    }

    // Retry reruns on `_any` by default (one host) and links both ways.
    let (status, retried) = post(&stack, &format!("/job/{id}/retry"), &t, None).await;
    assert_eq!(status, 201, "{retried}");
    assert_eq!(retried["status"], "created");
    assert!(retried["timestamp"].is_string(), "{retried}");
    let new_id = retried["job_id"].as_str().expect("new id").to_owned();
    assert_eq!(retried["retry_of"], id.as_str());
    let mut done = Value::Null;
    for _ in 0..100 {
        let (_, j) = stack.get(&format!("/job/{new_id}"), Some(&t)).await;
        if j["status"] == "completed" && j["responses"].as_object().map(|m| m.len()) == Some(1) {
            done = j;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        done["retry_of"],
        id.as_str(),
        "retry never completed: {done}"
    );
    assert_eq!(done["target"], "_any", "{done}");
    assert!(done["result"]["hostname"].is_string(), "{done}");
    assert!(
        done["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .any(|e| e["event"] == "submitted" && e["hostname"] == "_api"),
        "{done}"
    );
    // An explicit target is honoured.
    let (status, all) = post(
        &stack,
        &format!("/job/{id}/retry"),
        &t,
        Some(json!({"target_hostname": "_all"})),
    )
    .await;
    assert_eq!(status, 201, "{all}");
    let all_id = all["job_id"].as_str().expect("id").to_owned();
    let (_, j) = stack.get(&format!("/job/{all_id}"), Some(&t)).await;
    assert_eq!(j["target"], "_all", "{j}");
    let (status, bad) = post(
        &stack,
        &format!("/job/{id}/retry"),
        &t,
        Some(json!({"target_hostname": ""})),
    )
    .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("target_hostname"))
    );
    let (_, original) = stack.get(&format!("/job/{id}"), Some(&t)).await;
    assert_eq!(original["retried_as"], json!([new_id, all_id]));
    let (status, _) = post(
        &stack,
        "/job/00000000-0000-7000-8000-000000000000/retry",
        &t,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Delete removes the job, its events and responses.
    let (_, listing) = stack.get("/job?limit=1", Some(&t)).await;
    let before_delete = listing["total_items"]
        .as_u64()
        .expect("total before delete");
    let del = stack
        .http
        .delete(format!("{}/job/{id}", stack.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status().as_u16(), 204);
    let (status, gone) = stack.get(&format!("/job/{id}"), Some(&t)).await;
    assert_eq!(status, 404);
    assert_eq!(gone["error"], format!("job not found: {id}"));
    let (_, listing) = stack.get("/job?limit=1", Some(&t)).await;
    assert_eq!(
        listing["total_items"].as_u64(),
        Some(before_delete - 1),
        "total after delete: {listing}"
    );
    let del = stack
        .http
        .delete(format!("{}/job/{id}", stack.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status().as_u16(), 404);
    assert_eq!(stack.get("/job/not-a-uuid", Some(&t)).await.0, 400);

    // Permissions: read can list but not delete or retry.
    let read = token(&["read"], &[]);
    assert_eq!(stack.get("/job", Some(&read)).await.0, 200);
    assert_eq!(
        post(&stack, &format!("/job/{new_id}/retry"), &read, None)
            .await
            .0,
        403
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_for_a_stopped_agent_ends_failed_with_a_reason() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    cfg.controller.api.job_timeout = Duration::from_secs(1);
    cfg.nats.registry.ttl = Duration::from_secs(30);
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    stack.add_agent("gone", &[], fake_providers(FakeNode::new("gone")));
    stack.wait_agents(&["gone"]).await;
    // The agent dies; its registry entry outlives it until the TTL, as after a crash.
    let client = nats_client(nats.port).await;
    let registry = async_nats::jetstream::new(client)
        .get_key_value("osapi-agent-registry")
        .await
        .expect("registry");
    let key = osapi::registry::AgentRegistration::key("gone");
    let entry = registry.get(&key).await.expect("get").expect("registered");
    stack.stop_agent("gone").await;
    registry.put(&key, entry).await.expect("restore entry");
    let t = token(&["read"], &[]);
    let (status, body) = stack.get("/node/gone/hostname", Some(&t)).await;
    assert_eq!(status, 504, "{body}");
    let id = body["job_id"].as_str().expect("job id");
    let (_, job) = stack.get(&format!("/job/{id}"), Some(&t)).await;
    assert_eq!(job["status"], "failed", "{job}");
    let reason = job["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .find(|e| e["event"] == "failed")
        .map(|e| e["error"].clone());
    assert_eq!(reason, Some(json!("no response within 1s")), "{job}");
    assert_eq!(job["error"], "no response within 1s", "{job}");
    assert_eq!(job["agent_states"]["gone"]["status"], "failed", "{job}");
    assert_eq!(
        job["agent_states"]["gone"]["error"], "no response within 1s",
        "{job}"
    );
    let (_, list) = stack.get("/job?status=failed", Some(&t)).await;
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|j| j["id"] == id),
        "{list}"
    );

    // The agent comes back and finds the job waiting: its caller gave up long ago, so
    // it is recorded as not started instead of running now.
    let node = FakeNode::new("gone");
    let calls = node.peak.clone();
    stack.add_agent("gone", &[], fake_providers(node));
    let mut refused = Value::Null;
    for _ in 0..100 {
        let (_, job) = stack.get(&format!("/job/{id}"), Some(&t)).await;
        if job["responses"]["gone"].is_object() {
            refused = job;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = &refused["responses"]["gone"];
    assert_eq!(response["status"], "failed", "{refused}");
    let error = response["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("not started"), "{refused}");
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the provider ran"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_killed_mid_job_hands_it_to_another_which_completes_it_once() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let mut slow = FakeNode::new("dies");
    slow.delay = Duration::from_millis(1500);
    let running = slow.running.clone();
    stack.add_agent_with("dies", &[], fake_providers(slow), |c| {
        c.agent.shutdown_grace = Duration::ZERO
    });
    stack.wait_agents(&["dies"]).await;
    let t = token(&["read"], &[]);
    let call = stack.spawn_get("/node/_any/hostname", &t);
    wait_running(&running).await;
    stack.add_agent("survivor", &[], fake_providers(FakeNode::new("survivor")));
    stack.stop_agent("dies").await; // grace 0: the job is abandoned unacknowledged
    let (status, body) = call.await.expect("join");
    assert_eq!(status, 200, "{body}");
    assert_eq!(Stack::hosts(&body), ["survivor"]);
    let id = body["job_id"].as_str().expect("id");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, job) = stack.get(&format!("/job/{id}"), Some(&t)).await;
    let responses = job["responses"].as_object().expect("responses");
    assert_eq!(responses.keys().collect::<Vec<_>>(), ["survivor"], "{job}");
    assert_eq!(job["status"], "completed");
    let timeline = job["timeline"].as_array().expect("timeline");
    let host_events = |event: &str| -> Vec<String> {
        timeline
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| e["hostname"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    assert!(
        host_events("started").iter().any(|h| h == "dies"),
        "no started event from the dying agent: {job}"
    );
    assert_eq!(
        host_events("completed"),
        ["survivor"],
        "exactly one completion, by the survivor: {job}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_past_max_deliver_is_dead_lettered_and_shown_failed() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    cfg.agent.consumer.max_deliver = 1;
    cfg.agent.consumer.back_off = vec![Duration::from_secs(1)];
    cfg.controller.api.job_timeout = Duration::from_secs(1);
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    let mut slow = FakeNode::new("flaky");
    slow.delay = Duration::from_millis(400);
    let running = slow.running.clone();
    stack.add_agent_with("flaky", &[], fake_providers(slow), |c| {
        c.agent.shutdown_grace = Duration::ZERO
    });
    stack.wait_agents(&["flaky"]).await;
    let t = token(&["read"], &[]);
    let call = stack.spawn_get("/node/_any/hostname", &t);
    wait_running(&running).await;
    stack.stop_agent("flaky").await;
    let (_, body) = call.await.expect("join");
    let id = body["job_id"]
        .as_str()
        .expect("timeout carries the job id")
        .to_owned();
    let mut reason = Value::Null;
    for _ in 0..100 {
        let (_, job) = stack.get(&format!("/job/{id}"), Some(&t)).await;
        if let Some(e) = job["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["hostname"] == "_dlq")
        {
            reason = e["error"].clone();
            assert_eq!(job["status"], "failed", "{job}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reason.as_str().unwrap_or("").contains("dead-lettered"),
        "never dead-lettered: {reason}"
    );
    let js = async_nats::jetstream::new(nats_client(nats.port).await);
    let mut dlq = js.get_stream("osapi-JOBS-DLQ").await.expect("dlq");
    assert!(dlq.info().await.expect("info").state.messages >= 1);
    let (status, list) = stack.get("/job?status=failed", Some(&t)).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|j| j["id"] == id.as_str()),
        "dead-lettered job not listed as failed: {list}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_interrupted_on_its_host_is_not_made_again_when_redelivered() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    cfg.agent.consumer.back_off = vec![Duration::from_secs(1)];
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    let dir = tempfile::tempdir().expect("dir");
    let solo = |stack: &mut Stack| {
        stack.add_agent_with("solo", &[], linux_providers(dir.path()), |c| {
            c.agent.shutdown_grace = Duration::ZERO
        })
    };
    solo(&mut stack);
    stack.wait_agents(&["solo"]).await;
    let marker = dir.path().join("ran");
    let script = format!("echo ran >> {}; sleep 3", marker.display());
    let call = stack
        .http
        .post(format!("{}/api/node/solo/command/shell", stack.base))
        .bearer_auth(token(&["admin"], &[]))
        .json(&json!({ "command": script }))
        .send();
    let call = tokio::spawn(async move { status_and_json(call.await.expect("request")).await });
    for _ in 0..200 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(marker.exists(), "the command never started");
    // The agent dies mid-run (grace 0: abandoned unacknowledged) and comes back.
    stack.stop_agent("solo").await;
    solo(&mut stack);

    let (status, body) = call.await.expect("join");
    println!("{status} {body}");
    let error = body.to_string();
    assert!(error.contains("not re-run"), "the caller hears why: {body}");
    let id = body["job_id"].as_str().expect("job id");
    let (_, job) = stack
        .get(&format!("/job/{id}"), Some(&token(&["admin"], &[])))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["responses"]["solo"]["error"],
        "agent stopped while running; not re-run: check the host",
        "{job}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        std::fs::read_to_string(&marker).expect("marker"),
        "ran\n",
        "the command ran once"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notification_whose_record_never_appears_is_reported_failed_not_dropped() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("solo", &[], fake_providers(FakeNode::new("solo")));
    stack.wait_agents(&["solo"]).await;
    let js = async_nats::jetstream::new(nats_client(nats.port).await);
    let id = uuid::Uuid::now_v7().to_string();
    js.publish("osapi.jobs.query.host.solo", id.clone().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let responses = js
        .get_key_value("osapi-job-responses")
        .await
        .expect("bucket");
    let mut answer = None;
    for _ in 0..100 {
        answer = responses.get(format!("{id}.solo")).await.expect("get");
        if answer.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer: Value = serde_json::from_slice(&answer.expect("an answer")).expect("json");
    assert_eq!(answer["status"], "failed", "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains("job record not found"), "{answer}");
    stack.shutdown().await;
}

/// Listing totals for `GET /job`, polled until they show `total` jobs (the index hears
/// writes through the feed, so a moment may pass).
async fn listed_total(stack: &Stack, token: &str, total: usize) -> Value {
    let mut page = Value::Null;
    for _ in 0..100 {
        page = stack.get("/job?limit=100", Some(token)).await.1;
        if page["total_items"] == total {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never {total} jobs listed: {page}");
}

/// The jobs waiting for the agent ran, once the listing has heard of them all.
async fn settled_total(stack: &Stack, token: &str) -> usize {
    let mut last = None;
    loop {
        let (_, page) = stack.get("/job?limit=100", Some(token)).await;
        let total = page["total_items"].as_u64().expect("a total") as usize;
        if total > 0 && last == Some(total) {
            return total;
        }
        last = Some(total);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_follow_other_writers_deletes_and_a_nats_restart() {
    let mut nats = Nats::start();
    let stack = Stack::with_fake_agents(config(nats.port), &["solo"]).await;
    let admin = token(&["admin"], &[]);
    let base = settled_total(&stack, &admin).await;
    for _ in 0..3 {
        assert_eq!(stack.get("/node/solo/hostname", Some(&admin)).await.0, 200);
    }
    // What another controller stores is listed too: a record no agent took yet.
    let js = async_nats::jetstream::new(nats_client(nats.port).await);
    let jobs = js.get_key_value("osapi-job-queue").await.expect("bucket");
    let foreign = uuid::Uuid::now_v7().to_string();
    let record = json!({"id": foreign, "status": "unprocessed", "created": "2026-12-06T00:00:00Z",
        "subject": "osapi.jobs.query._any", "operation": {"type": "node.hostname.get", "data": {}},
        "target": "_any", "kind": "query"});
    jobs.put(format!("jobs.{foreign}"), record.to_string().into())
        .await
        .expect("put");
    let page = listed_total(&stack, &admin, base + 4).await;
    assert_eq!(
        page["items"][0]["id"],
        foreign.as_str(),
        "newest first: {page}"
    );
    assert_eq!(page["status_counts"]["submitted"], 1, "{page}");
    assert_eq!(page["status_counts"]["completed"], base + 3, "{page}");
    let (_, submitted) = stack.get("/job?status=submitted", Some(&admin)).await;
    assert_eq!(submitted["total_items"], 1, "{submitted}");

    let deleted = stack
        .http
        .delete(format!("{}/job/{foreign}", stack.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    listed_total(&stack, &admin, base + 3).await;

    // A restart loses whatever the controller might have missed meanwhile; the index is
    // rebuilt from the bucket and follows new jobs again.
    nats.restart();
    let answered = stack
        .answers_within("/node/solo/hostname", &admin, Duration::from_secs(10))
        .await;
    assert!(answered, "jobs run again after the restart");
    let page = listed_total(&stack, &admin, base + 4).await;
    assert_eq!(page["status_counts"]["completed"], base + 4, "{page}");
    let (_, health) = stack.get("/health/status", Some(&admin)).await;
    assert_eq!(health["jobs"]["total"], base + 4, "{health}");
    assert_eq!(health["jobs"]["completed"], base + 4, "{health}");
    stack.shutdown().await;
}
