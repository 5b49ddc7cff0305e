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
        let documented = &doc["paths"][op.path][&method];
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
        let url = format!("{}{}", stack.base, concrete(op.path));
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
    stack.shutdown().await;
}
