//! Bearer-token authentication, per-route permission checks, and the audit record of
//! every authenticated call.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::audit::{masked_body, AuditEntry};
use crate::auth::{AuthError, Permission, Principal};
use crate::wire::job::rfc3339;

/// Rejects the request with 401 without a valid token, 403 without `permission`; records
/// every call that carried a valid token (403s included) in the audit log.
pub async fn require(
    State((state, permission)): State<(AppState, Permission)>,
    req: Request,
    next: Next,
) -> Response {
    check(state, Some(permission), req, next).await
}

/// Like [`require`] for routes open to any valid token, whose handler checks the
/// permissions of what it serves (the fleet stream, per kind of event) against the
/// request's [`Principal`].
pub async fn authenticated(State(state): State<AppState>, req: Request, next: Next) -> Response {
    check(state, None, req, next).await
}

async fn check(
    state: AppState,
    permission: Option<Permission>,
    req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let principal = match state.auth.verify_header(header) {
        Ok(p) => p,
        Err(AuthError::MissingBearer) => {
            return ApiError::Unauthorized("Bearer token required".into()).into_response()
        }
        Err(other) => return ApiError::Unauthorized(other.to_string()).into_response(),
    };
    let started = Instant::now();
    let (req, body) = capture_body(req).await;
    let method = req.method().to_string();
    // The path as the client sent it: routes mounted under `/api` see theirs stripped.
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path(), |u| u.0.path())
        .to_owned();
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let response = match permission.filter(|p| !principal.allows(*p)) {
        None => {
            let mut req = req;
            req.extensions_mut().insert(principal.clone());
            next.run(req).await
        }
        Some(missing) => {
            ApiError::Forbidden(format!("Insufficient permissions. Required: [{missing}]"))
                .into_response()
        }
    };
    audit(
        &state,
        &principal,
        method,
        path,
        source_ip,
        body,
        response.status().as_u16(),
        started,
    )
    .await;
    response
}

/// Small JSON bodies are read (to be recorded, masked) and put back.
async fn capture_body(req: Request) -> (Request, Option<serde_json::Value>) {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n <= 8 * 1024);
    if !(is_json && small) {
        return (req, None);
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, 8 * 1024).await {
        Ok(bytes) => {
            let masked = masked_body(&bytes);
            (Request::from_parts(parts, Body::from(bytes)), masked)
        }
        Err(_) => (Request::from_parts(parts, Body::empty()), None),
    }
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    state: &AppState,
    principal: &Principal,
    method: String,
    path: String,
    source_ip: String,
    body: Option<serde_json::Value>,
    response_code: u16,
    started: Instant,
) {
    let Some(log) = state.audit_log() else { return };
    log.record(AuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        timestamp: rfc3339(time::OffsetDateTime::now_utc()),
        user: principal.subject.clone(),
        roles: principal.roles.clone(),
        method,
        path,
        response_code,
        duration_ms: started.elapsed().as_millis() as u64,
        source_ip,
        operation_id: None,
        // The request span's context is current here (set around the whole request).
        trace_id: crate::telemetry::otel::current_trace_id(),
        body,
    })
    .await;
}
