//! Every catalogue operation is routed, documented in `/openapi.json` and guarded by its
//! permission: walked over the catalogue, so a new operation is checked without a new test.

mod common;

use common::*;
use osapi::auth::Permission;
use osapi::wire::ops::CATALOGUE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_is_routed_documented_and_guarded() {
    let nats = Nats::start();
    let stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let (status, doc) = stack.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(CATALOGUE.len() >= 14);
    for op in CATALOGUE {
        let method = op.method.as_str().to_lowercase();
        let documented = &doc["paths"][format!("/api{}", op.path)][&method];
        assert_eq!(
            documented["operationId"], op.name,
            "{} not in /openapi.json",
            op.name
        );
        assert_eq!(
            documented["security"][0]["BearerAuth"][0],
            op.permission.as_str(),
            "{} documents the wrong permission",
            op.name
        );

        // An admin role narrowed by an explicit claim to any permission but the op's own.
        let other = Permission::ALL
            .into_iter()
            .find(|p| *p != op.permission)
            .expect("another permission");
        for mount in ["/api", ""] {
            let url = format!("{}{mount}{}", stack.base, concrete(op.path));
            let http_method = reqwest::Method::from_bytes(op.method.as_str().as_bytes()).unwrap();
            let anonymous = stack
                .http
                .request(http_method.clone(), &url)
                .send()
                .await
                .unwrap();
            assert_eq!(
                anonymous.status(),
                401,
                "{} {} unrouted or unguarded",
                op.name,
                url
            );
            let t = token(&["admin"], &[other]);
            let denied = stack
                .http
                .request(http_method, &url)
                .bearer_auth(&t)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                denied.status(),
                403,
                "{} is not guarded by {}",
                op.name,
                op.permission
            );
        }
    }
    stack.shutdown().await;
}

/// The JSON shape of a body: object keys, the shape of an array's first element, and the
/// type of each scalar. Values (ids, times) differ between two calls; shapes must not.
/// An audit entry's optional `body` comes and goes with whichever request was newest.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "body")
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => Value::Null,
    }
}

/// A documented path with its parameters filled in so that no call changes what the
/// next one sees: node targets go to the one agent, agents, jobs, audit entries and files
/// are ones that do not exist (404 at both mounts).
fn call_path(path: &str) -> String {
    let on_agent = path.starts_with("/api/agent/");
    path.replace(
        "{hostname}",
        if on_agent { "no-such-agent" } else { "_any" },
    )
    .replace("{interfaceName}", "lo")
    .replace("{id}", "00000000-0000-0000-0000-000000000000")
    .replace("{name}", "no-such-object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_alike_under_api_and_the_root() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dir = tempfile::tempdir().unwrap();
    stack.add_agent("web-01", &[], linux_providers(dir.path()));
    stack.wait_agents(&["web-01"]).await;
    let admin = token(&["admin"], &[]);

    let (status, doc) = stack.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let (_, root_doc) = stack.get("/openapi.json", None).await;
    assert_eq!(doc, root_doc, "one document at both mounts");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "{} paths", paths.len());
    let mut calls = 0;
    for (path, item) in paths {
        assert!(path.starts_with("/api/"), "{path} is not under /api");
        for method in item.as_object().expect("path item").keys() {
            let concrete = call_path(path);
            let root = concrete.trim_start_matches("/api");
            let mut answers = Vec::new();
            for url in [concrete.as_str(), root] {
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut req = stack
                    .http
                    .request(m.clone(), format!("{}{url}", stack.base));
                req = req.bearer_auth(&admin);
                if m != reqwest::Method::GET && m != reqwest::Method::DELETE {
                    req = req.json(&serde_json::json!({}));
                }
                let resp = req.send().await.expect("request");
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                answers.push((status, shape(&body)));
            }
            assert_eq!(answers[0], answers[1], "{method} {concrete} vs {root}");
            assert_ne!(answers[0].0, 405, "{method} {concrete} is not routed");
            calls += 1;
        }
    }
    assert!(calls >= 30, "{calls} calls");
    stack.shutdown().await;
}
