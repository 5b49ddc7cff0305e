//! Liveness and readiness (public).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing;
use axum::Json;

use crate::controller::state::AppState;
use crate::wire::health::HealthResponse;

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = HealthResponse)))]
pub async fn liveness() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
        error: None,
    })
}

/// Ready when NATS is connected and the job bucket answers.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
pub async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    match check(&state).await {
        Ok(()) => (
            StatusCode::OK,
            Json(HealthResponse {
                status: "ready".into(),
                error: None,
            }),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthResponse {
                status: "not_ready".into(),
                error: Some(e),
            }),
        ),
    }
}

async fn check(state: &AppState) -> Result<(), String> {
    let backend = state.backend().map_err(|e| e.to_string())?;
    let status = tokio::time::timeout(Duration::from_secs(2), backend.resources.jobs.status());
    match status.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("job bucket: {e}")),
        Err(_) => Err("job bucket did not answer within 2s".into()),
    }
}

/// The health routes: probes are public, the status needs `health:read`.
pub fn router(state: &AppState) -> axum::Router<AppState> {
    let status = axum::Router::new().route("/health/status", routing::get(super::status::status));
    axum::Router::new()
        .route("/health", routing::get(liveness))
        .route("/health/ready", routing::get(readiness))
        .merge(super::guarded(
            status,
            state,
            crate::auth::Permission::HealthRead,
        ))
}
