//! File management on a real stack: object store uploads, deploys in temp dirs, drift.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn by_host(body: &Value) -> std::collections::BTreeMap<String, Value> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["hostname"].as_str().unwrap_or("").to_owned(), r.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_deploy_drift_and_templates() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let root = tempfile::tempdir().expect("tempdir");
    for h in ["a", "b", "c"] {
        std::fs::create_dir(root.path().join(h)).expect("dir");
        stack.add_agent(h, &[], fake_providers(FakeNode::new(h)));
    }
    stack.wait_agents(&["a", "b", "c"]).await;
    let t = token(&["admin"], &[]);

    // Upload, list, get; same content is unchanged; other content conflicts unless forced.
    let (status, body) = stack
        .upload(&t, "app.conf", "raw", b"port=80\n", false)
        .await;
    assert_eq!((status, &body["changed"]), (201, &json!(true)), "{body}");
    let sha = body["sha256"].as_str().expect("sha").to_owned();
    assert_eq!(sha.len(), 64);
    let (status, body) = stack
        .upload(&t, "app.conf", "raw", b"port=80\n", false)
        .await;
    assert_eq!((status, &body["changed"]), (201, &json!(false)), "{body}");
    let (status, body) = stack
        .upload(&t, "app.conf", "raw", b"port=81\n", false)
        .await;
    assert_eq!(status, 409, "{body}");
    // The same bytes as another content type are no conflict: the type changes.
    let (status, body) = stack
        .upload(&t, "app.conf", "template", b"port=80\n", false)
        .await;
    assert_eq!(
        (status, &body["changed"], body["content_type"].as_str()),
        (201, &json!(true), Some("template")),
        "{body}"
    );
    let (status, body) = stack
        .upload(&t, "app.conf", "raw", b"port=80\n", false)
        .await;
    assert_eq!((status, &body["changed"]), (201, &json!(true)), "{body}");
    // Parts the API does not know are ignored, as the original does.
    let form = reqwest::multipart::Form::new()
        .text("name", "extra.txt")
        .text("comment", "ignored")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("f"),
        );
    let resp = stack
        .http
        .post(format!("{}/file", stack.base))
        .bearer_auth(&t)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(stack.get("/file/extra.txt", Some(&t)).await.0, 200);
    let (status, listed) = stack.get("/file", Some(&t)).await;
    assert_eq!(
        (status, listed["total"].as_u64()),
        (200, Some(2)),
        "{listed}"
    );
    let (_, one) = stack.get("/file/app.conf", Some(&t)).await;
    assert_eq!(
        (
            one["sha256"].as_str(),
            one["size"].as_u64(),
            one["content_type"].as_str()
        ),
        (Some(sha.as_str()), Some(8), Some("raw")),
        "{one}"
    );

    // Deploy to all three (the path holds each agent's own name via @fact.hostname).
    let path = format!("{}/@fact.hostname/app.conf", root.path().display());
    let deploy = json!({"object_name": "app.conf", "path": path, "mode": "0640"});
    let (status, body) = stack
        .post("/node/_all/file/deploy", &t, deploy.clone())
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        by_host(&body).keys().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "{body}"
    );
    for (host, r) in by_host(&body) {
        assert_eq!(r["changed"], true, "{host}: {r}");
        let file = root.path().join(&host).join("app.conf");
        assert_eq!(std::fs::read(&file).expect("deployed"), b"port=80\n");
        assert_eq!(
            std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
            0o640
        );
    }
    let (status, body) = stack
        .post("/node/_all/file/deploy", &t, deploy.clone())
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        by_host(&body).keys().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "{body}"
    );
    assert!(
        by_host(&body).values().all(|r| r["changed"] == false),
        "repeat deploy changed something: {body}"
    );

    // Drift and absence.
    std::fs::write(root.path().join("b/app.conf"), "edited by hand\n").expect("edit");
    std::fs::remove_file(root.path().join("c/app.conf")).expect("rm");
    let (status, body) = stack
        .post("/node/_all/file/status", &t, json!({"path": path}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["hostname"].is_null(),
        "a broadcast has no single host: {body}"
    );
    let st = by_host(&body);
    assert_eq!(
        (
            st["a"]["status"].as_str(),
            st["b"]["status"].as_str(),
            st["c"]["status"].as_str()
        ),
        (Some("in-sync"), Some("drifted"), Some("missing"))
    );
    // Deploying again repairs the drift.
    let (_, body) = stack.post("/node/b/file/deploy", &t, deploy.clone()).await;
    assert_eq!(by_host(&body)["b"]["changed"], true);
    // A unicast answers the original's single object too: {job_id, hostname, changed}.
    assert_eq!(
        (
            &body["hostname"],
            &body["changed"],
            body["job_id"].is_string()
        ),
        (&json!("b"), &json!(true), true),
        "{body}"
    );
    let (status, one) = stack
        .post("/node/b/file/status", &t, json!({"path": path}))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (
            &one["hostname"],
            &one["status"],
            &one["changed"],
            &one["path"]
        ),
        (
            &json!("b"),
            &json!("in-sync"),
            &json!(false),
            &json!(path.replace("@fact.hostname", "b"))
        ),
        "{one}"
    );
    assert_eq!(
        std::fs::read(root.path().join("b/app.conf")).expect("repaired"),
        b"port=80\n"
    );

    // A changed object makes the deployed copies stale.
    let (status, _) = stack
        .upload(&t, "app.conf", "raw", b"port=81\n", true)
        .await;
    assert_eq!(status, 201);
    let (_, stale) = stack.get("/file/stale", Some(&t)).await;
    assert!(stale["total"].as_u64().unwrap_or(0) >= 2, "{stale}");

    // Templates render per host.
    let tpl = b"host={{ hostname }} cpus={{ facts.cpu_count }} env={{ vars.env }}\n";
    assert_eq!(
        stack.upload(&t, "motd.tpl", "template", tpl, false).await.0,
        201
    );
    let (_, tpl_info) = stack.get("/file/motd.tpl", Some(&t)).await;
    assert_eq!(tpl_info["content_type"], "template", "{tpl_info}");
    let tpath = format!("{}/@fact.hostname/motd", root.path().display());
    let body = json!({"object_name": "motd.tpl", "path": tpath, "content_type": "template", "vars": {"env": "prod"}});
    let (status, out) = stack.post("/node/_all/file/deploy", &t, body).await;
    assert_eq!(status, 202, "{out}");
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    for h in ["a", "b", "c"] {
        let text = std::fs::read_to_string(root.path().join(h).join("motd")).expect("rendered");
        assert_eq!(text, format!("host={h} cpus={cpus} env=prod\n"));
    }

    // Delete.
    let del = stack
        .http
        .delete(format!("{}/file/motd.tpl", stack.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status().as_u16(), 200);
    assert_eq!(stack.get("/file/motd.tpl", Some(&t)).await.0, 404);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_file_input_is_rejected_and_touches_nothing() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[], fake_providers(FakeNode::new("a")));
    stack.wait_agents(&["a"]).await;
    let t = token(&["admin"], &[]);
    for name in ["../etc-passwd", "a/b", ".hidden", "a..b"] {
        let (status, body) = stack.upload(&t, name, "raw", b"x", false).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("name")),
            "{name}: {body}"
        );
    }
    let (status, body) = stack.upload(&t, "ok.txt", "binary", b"x", false).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("content_type")),
        "{body}"
    );
    assert_eq!(
        stack.upload(&t, "ok.txt", "raw", b"data", false).await.0,
        201
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let good = format!("{}/out.txt", dir.path().display());
    let cases = [
        (
            json!({"object_name": "ok.txt", "path": "relative/out.txt"}),
            "path",
        ),
        (
            json!({"object_name": "ok.txt", "path": format!("{}/../escape.txt", dir.path().display())}),
            "path",
        ),
        (
            json!({"object_name": "../ok.txt", "path": good}),
            "object_name",
        ),
        (
            json!({"object_name": "ok.txt", "path": good, "mode": "0999"}),
            "mode",
        ),
        (
            json!({"object_name": "ok.txt", "path": good, "mode": "abc"}),
            "mode",
        ),
        (
            json!({"object_name": "ok.txt", "path": good, "owner": "Bad Name"}),
            "owner",
        ),
        (
            json!({"object_name": "ok.txt", "path": good, "group": "x;rm"}),
            "group",
        ),
        (
            json!({"object_name": "missing.txt", "path": good}),
            "object_name",
        ),
        (
            json!({"object_name": "ok.txt", "path": good, "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = stack.post("/node/a/file/deploy", &t, body.clone()).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
    }
    // An owner the host does not know: the host rejects that field, nothing is written.
    for (field, account) in [
        ("owner", "no-such-user-xyz"),
        ("group", "no-such-group-xyz"),
    ] {
        let (status, answer) = stack
            .post(
                "/node/a/file/deploy",
                &t,
                json!({"object_name": "ok.txt", "path": good, field: account}),
            )
            .await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
        let error = answer["error"].as_str().unwrap_or("");
        assert!(error.contains(&format!("a: unknown {field}")), "{answer}");
    }
    // Broadcast: the same rejection is that host's error in the per-host results.
    let (status, answer) = stack
        .post(
            "/node/_all/file/deploy",
            &t,
            json!({"object_name": "ok.txt", "path": good, "owner": "no-such-user-xyz"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert!(
        answer["results"][0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("unknown owner"),
        "{answer}"
    );
    // Not multipart: the API's JSON error, naming the body.
    let resp = stack
        .http
        .post(format!("{}/file", stack.base))
        .bearer_auth(&t)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let answer: serde_json::Value = resp.json().await.expect("a JSON error body");
    assert_eq!(answer["field"], "body", "{answer}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "something was written"
    );
    assert!(!dir
        .path()
        .parent()
        .expect("parent")
        .join("escape.txt")
        .exists());
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_room_for_the_object_store_everything_else_runs() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    // More than any disk: JetStream cannot reserve it.
    cfg.nats.objects.max_bytes = 1 << 50;
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    stack.add_agent("a", &[], fake_providers(FakeNode::new("a")));
    stack.wait_agents(&["a"]).await;
    let t = token(&["admin"], &[]);
    assert_eq!(stack.get("/node/a/hostname", Some(&t)).await.0, 200);
    let (status, body) = stack.get("/file", Some(&t)).await;
    assert_eq!(status, 404, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("nats.objects.max_bytes"), "{body}");
    stack.shutdown().await;
}
