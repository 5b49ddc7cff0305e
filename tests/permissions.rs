//! The latest original's permissions over HTTP: a token it minted, carrying any of its 36
//! permissions, is accepted; the route of a domain osapi has not built is absent (404)
//! whatever the token, never an auth error.

mod common;

use std::collections::BTreeMap;

use common::*;
use osapi::auth::{Authenticator, Claims, Permission};
use osapi::wire::ops::CATALOGUE;
use Permission::*;

/// A token as the latest original mints one: a built-in role, narrowed by an explicit
/// `permissions` claim to the given wire strings.
fn original_token(permissions: &[&str]) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = Claims {
        roles: vec!["read".into()],
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        iss: Some("osapi".into()),
        sub: Some("head-client".into()),
        exp: Some(now + 3600),
        iat: Some(now),
        ..Claims::default()
    };
    Authenticator::new(SIGNING_KEY, &BTreeMap::new())
        .expect("auth")
        .sign_claims(&claims)
        .expect("token")
}

/// Non-job reads and the permission each is guarded by.
const GUARDED_READS: [(&str, Permission); 5] = [
    ("/job", JobRead),
    ("/agent", AgentRead),
    ("/health/status", HealthRead),
    ("/audit", AuditRead),
    ("/file", FileRead),
];

/// One or two routes of each domain of the latest original that osapi may not have built
/// (head-api.md §3), with the scope the original guards it by.
const ORIGINAL_ROUTES: &[(&str, &str, Permission)] = &[
    ("GET", "/node/{hostname}/sysctl", SysctlRead),
    ("POST", "/node/{hostname}/sysctl", SysctlWrite),
    ("GET", "/node/{hostname}/ntp", NtpRead),
    ("POST", "/node/{hostname}/ntp", NtpWrite),
    ("POST", "/node/{hostname}/power/reboot", PowerExecute),
    ("GET", "/node/{hostname}/process", ProcessRead),
    (
        "POST",
        "/node/{hostname}/process/{pid}/signal",
        ProcessExecute,
    ),
    ("GET", "/node/{hostname}/log", LogRead),
    ("GET", "/node/{hostname}/service", ServiceRead),
    (
        "POST",
        "/node/{hostname}/service/{name}/start",
        ServiceWrite,
    ),
    ("GET", "/node/{hostname}/package", PackageRead),
    ("POST", "/node/{hostname}/package", PackageWrite),
    ("GET", "/node/{hostname}/user", UserRead),
    ("POST", "/node/{hostname}/user", UserWrite),
    ("GET", "/node/{hostname}/certificate/ca", CertificateRead),
    ("POST", "/node/{hostname}/certificate/ca", CertificateWrite),
    ("GET", "/node/{hostname}/schedule/cron", CronRead),
    ("POST", "/node/{hostname}/schedule/cron", CronWrite),
    ("GET", "/node/{hostname}/container/docker", DockerRead),
    ("POST", "/node/{hostname}/container/docker", DockerWrite),
    (
        "POST",
        "/node/{hostname}/container/docker/{id}/exec",
        DockerExecute,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_originals_permissions_are_accepted_and_unbuilt_domains_are_absent() {
    let nats = Nats::start();
    let stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;

    for p in Permission::ALL {
        let t = original_token(&[p.as_str()]);
        for (path, guard) in GUARDED_READS {
            let (status, body) = stack.get(path, Some(&t)).await;
            if p == guard {
                assert_eq!(status, 200, "{p} on {path}: {body}");
            } else {
                // Authenticated (not 401), and the claim replaced the role's permissions.
                assert_eq!(status, 403, "{p} on {path}: {body}");
                let message = body["error"].as_str().unwrap_or_default();
                assert!(message.contains(guard.as_str()), "{p} on {path}: {body}");
            }
        }
    }
    // Every permission at once, as an admin-like token of the original would list them.
    let every: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    let t = original_token(&every);
    for (path, _) in GUARDED_READS {
        assert_eq!(stack.get(path, Some(&t)).await.0, 200, "{path}");
    }

    for (method, template, scope) in ORIGINAL_ROUTES {
        let routed = CATALOGUE.iter().filter(|op| op.path == *template);
        if routed.clone().any(|op| op.method.as_str() == *method) {
            // Built since: the catalogue test guards it.
            continue;
        }
        let expected = if routed.count() > 0 { 405 } else { 404 };
        let t = original_token(&[scope.as_str()]);
        let http_method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        for prefix in ["", "/api"] {
            let url = format!("{}{prefix}{}", stack.base, concrete(template));
            for token in [Some(&t), None] {
                let mut req = stack.http.request(http_method.clone(), &url);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let status = req.send().await.expect("request").status();
                assert_eq!(
                    status.as_u16(),
                    expected,
                    "{method} {url} (token: {})",
                    token.is_some()
                );
            }
        }
    }
    stack.shutdown().await;
}
