//! `/audit`: the audit log, newest first; one entry; all of it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing;
use axum::Json;

use crate::audit::{self, AuditEntryResponse, ListAuditResponse};
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::{paging, uuid_param, Named};
use crate::controller::state::AppState;

fn bucket(state: &AppState) -> Result<&async_nats::jetstream::kv::Store, ApiError> {
    state.backend()?.resources.audit.as_ref().ok_or_else(|| {
        ApiError::NotFound("the audit log is not configured (nats.audit.bucket)".into())
    })
}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit",
    params(("limit" = Option<usize>, Query, description = "1 to 100, default 20", minimum = 1, maximum = 100),
        ("offset" = Option<usize>, Query, minimum = 0)),
    responses((status = 200, body = ListAuditResponse), (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["audit:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ListAuditResponse>, ApiError> {
    let (limit, offset) = paging(&query, 20, 100)?;
    let page = audit::list(bucket(&state)?, limit, offset)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(page))
}

/// One audit entry.
#[utoipa::path(get, path = "/audit/{id}", tag = "audit", params(("id" = String, Path, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$", format = "uuid")),
    responses((status = 200, body = AuditEntryResponse), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["audit:read"])))]
pub async fn get(Named(state, id): Named) -> Result<Json<AuditEntryResponse>, ApiError> {
    let id = uuid_param(&id)
        .ok_or_else(|| ApiError::bad_request("id", format!("{id:?} is not an audit id (UUID)")))?;
    audit::get(bucket(&state)?, &id)
        .await
        .map_err(ApiError::from)?
        .map(|entry| Json(AuditEntryResponse { entry }))
        .ok_or_else(|| ApiError::NotFound("audit entry not found".into()))
}

/// Every entry, newest first, unpaginated.
#[utoipa::path(get, path = "/audit/export", tag = "audit",
    responses((status = 200, body = ListAuditResponse)),
    security(("BearerAuth" = ["audit:read"])))]
pub async fn export(State(state): State<AppState>) -> Result<Json<ListAuditResponse>, ApiError> {
    let all = audit::export(bucket(&state)?)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(all))
}

/// The audit log routes.
pub fn router(state: &AppState) -> axum::Router<AppState> {
    let read = axum::Router::new()
        .route("/audit", routing::get(list))
        .route("/audit/export", routing::get(export))
        .route("/audit/{id}", routing::get(self::get));
    super::guarded(read, state, crate::auth::Permission::AuditRead)
}
