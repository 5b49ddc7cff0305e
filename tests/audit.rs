//! The audit log against a real stack.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_authenticated_call_is_audited_without_secrets() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[], fake_providers(FakeNode::new("a")));
    stack.wait_agents(&["a"]).await;
    let admin = token(&["admin"], &[]);
    let reader = osapi::auth::Authenticator::new(SIGNING_KEY, &Default::default())
        .unwrap()
        .issue("reader-7", &["read".into()], &[], Duration::from_secs(600))
        .unwrap();
    let (_, before) = stack.get("/audit?limit=1", Some(&admin)).await;
    let base = before["total_items"].as_u64().expect("total_items");

    const N: usize = 5;
    for _ in 0..N {
        assert_eq!(stack.get("/node/a/hostname", Some(&reader)).await.0, 200);
    }
    let denied = stack
        .http
        .post(format!("{}/node/a/command/exec", stack.base))
        .bearer_auth(&reader)
        .json(&json!({"command": "ls", "env": {"DB_PASSWORD": "hunter2"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(denied.status().as_u16(), 403);
    let exec = stack
        .http
        .post(format!("{}/node/a/command/exec", stack.base))
        .bearer_auth(&admin)
        .json(&json!({"command": "true", "env": {"API_TOKEN": "s3cr3t"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(exec.status().as_u16(), 202);
    // Unauthenticated calls are not audited.
    assert_eq!(stack.get("/node/a/hostname", None).await.0, 401);

    let mut page = Value::Null;
    // Entries are written in the background, in order: wait for the last one, the exec.
    for _ in 0..100 {
        page = stack.get("/audit?limit=100", Some(&admin)).await.1;
        let has_exec = page["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|e| e["path"] == "/node/a/command/exec" && e["response_code"] == 202)
        });
        if has_exec && page["total_items"].as_u64().unwrap_or(0) >= base + N as u64 + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = page["items"].as_array().expect("items");
    let reads: Vec<&Value> = items
        .iter()
        .filter(|e| e["user"] == "reader-7" && e["path"] == "/node/a/hostname")
        .collect();
    assert_eq!(reads.len(), N, "{page}");
    assert!(reads.iter().all(|e| e["response_code"] == 200
        && e["method"] == "GET"
        && e["roles"] == json!(["read"])));
    // The spec's required fields, with their types.
    for e in &reads {
        assert!(
            uuid::Uuid::parse_str(e["id"].as_str().unwrap_or("")).is_ok(),
            "{e}"
        );
        assert!(
            e["timestamp"].is_string() && e["source_ip"].is_string(),
            "{e}"
        );
        assert!(e["duration_ms"].is_u64(), "{e}");
        assert!(e.get("operation_id").is_none(), "{e}");
    }
    assert!(items
        .iter()
        .any(|e| e["user"] == "reader-7" && e["response_code"] == 403));
    let exec_entry = items
        .iter()
        .find(|e| e["path"] == "/node/a/command/exec" && e["response_code"] == 202)
        .expect("exec audited");
    assert_eq!(exec_entry["body"]["command"], "true");
    assert_eq!(exec_entry["body"]["env"], "********");
    // Newest first.
    let ids: Vec<&str> = items.iter().filter_map(|e| e["id"].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);

    let (status, one) = stack.get(&format!("/audit/{}", ids[0]), Some(&admin)).await;
    assert_eq!(
        (status, one["entry"]["id"].as_str()),
        (200, Some(ids[0])),
        "{one}"
    );
    assert!(one.get("id").is_none(), "entry not wrapped: {one}");
    let (status, missing) = stack
        .get("/audit/00000000-0000-7000-8000-000000000000", Some(&admin))
        .await;
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("audit entry not found"))
    );

    let (status, all) = stack.get("/audit/export", Some(&admin)).await;
    assert_eq!(status, 200, "{all}");
    let exported = all["items"].as_array().expect("export items");
    assert_eq!(all["total_items"].as_u64(), Some(exported.len() as u64));
    assert!(exported.len() >= N + 2);
    // Same order as the list: newest first.
    let export_ids: Vec<&str> = exported.iter().filter_map(|e| e["id"].as_str()).collect();
    let mut sorted = export_ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(export_ids, sorted);
    let export = all.to_string();
    let signature = |t: &str| t.rsplit('.').next().unwrap_or_default().to_owned();
    let (admin_sig, reader_sig) = (signature(&admin), signature(&reader));
    let secrets = [
        admin.as_str(),
        reader.as_str(),
        admin_sig.as_str(),
        reader_sig.as_str(),
        "Bearer",
        "hunter2",
        "s3cr3t",
    ];
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !export.contains(secret),
            "a secret leaked into the audit export"
        );
        for e in items.iter().chain(std::iter::once(&one)) {
            assert!(
                !e.to_string().contains(secret),
                "a secret leaked into audit entry {}",
                e["id"]
            );
        }
    }
    assert_eq!(stack.get("/audit", Some(&reader)).await.0, 403);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entries_made_while_nats_is_away_are_spooled_then_stored_and_a_stop_flushes() {
    let mut nats = Nats::start();
    let spool = osapi::audit::spool_path(&config(nats.port));
    let _ = std::fs::remove_file(&spool);
    let cfg = config(nats.port);
    let listener = osapi::controller::bind(&cfg).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = tokio_util::sync::CancellationToken::new();
    let served = tokio::spawn(osapi::controller::serve(
        std::sync::Arc::new(cfg.clone()),
        listener,
        stop.clone(),
    ));
    let stack = Stack {
        base: base_url(addr, &cfg),
        config: cfg,
        controller: stop.clone(),
        agents: Default::default(),
        http: http_client(),
    };
    stack.wait_ready().await;
    let admin = token(&["admin"], &[]);
    nats.kill();
    // Audited although NATS is away (they answer 503 themselves).
    for _ in 0..20 {
        let (status, _) = stack.get("/agent/away", Some(&admin)).await;
        assert_eq!(status, 503);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(spool.exists(), "spooled at {}", spool.display());
    nats.restart();
    let mut stored = 0;
    for _ in 0..100 {
        stored = audit_entries_with_path(nats.port, "/agent/away").await;
        if stored == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stored, 20, "every spooled entry stored once NATS is back");
    assert!(!spool.exists(), "the spool is emptied");

    // A burst, then an immediate stop: the writer stores what is queued first.
    let burst =
        futures::future::join_all((0..300).map(|_| stack.get("/agent/burst", Some(&admin))));
    for (status, _) in burst.await {
        assert_eq!(status, 404);
    }
    stop.cancel();
    served.await.expect("join").expect("served");
    // Nothing is written after the controller returned: NATS may stop now.
    nats.kill();
    nats.restart();
    assert_eq!(
        audit_entries_with_path(nats.port, "/agent/burst").await,
        300
    );
}
